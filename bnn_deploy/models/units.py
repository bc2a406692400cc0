"""Binary residual units: the repeated pieces of every binary SR network here.

State-dict names follow the official BBCU release (``move0``, ``binary_conv``, ``relu.pr_*``) so its
checkpoints load key for key.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bnn_deploy.models.attention import ATTENTION_KINDS, make_attention
from bnn_deploy.models.binary import BinaryConv2d, LearnableBias, RPReLU, binary_activation


class BinaryUnit(nn.Module):
    """BBCU's residual binary unit: ``y = RPReLU(conv_b(sign(x + move0))) + x``.

    The identity path carries full-precision information past the 1-bit convolution; BBCU
    amplifies the network input by ``k`` so that this path dominates the binary branch.
    """

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.move0 = LearnableBias(channels)
        self.binary_conv = BinaryConv2d(channels, channels, kernel_size, alpha="mean")
        self.relu = RPReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.binary_conv(binary_activation(self.move0(x)))) + x


class AttentionBinaryUnit(nn.Module):
    """Attention-augmented binary unit: ``y = a1 · A_b(RPReLU(conv_b(sign(x + t)))) + a2 · A_r(x)``.

    ``t`` is a learnable per-channel threshold (RSign, stored as ``move0``), ``conv_b`` has a
    learnable per-output-channel scale, ``A_b`` / ``A_r`` are attention modules on the binary and
    residual branches (see :mod:`bnn_deploy.models.attention`), and the learnable scalars ``a1``,
    ``a2`` balance the branches in place of BBCU's fixed input amplification.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        binary_attn: str = "se",
        residual_attn: str = "none",
        reduction: int = 4,
    ):
        super().__init__()
        self.move0 = LearnableBias(channels)
        self.binary_conv = BinaryConv2d(channels, channels, kernel_size, alpha="learned")
        self.relu = RPReLU(channels)
        self.attn_b = make_attention(binary_attn, channels, reduction)
        self.attn_r = make_attention(residual_attn, channels, reduction)
        self.a1 = nn.Parameter(torch.ones(1))
        self.a2 = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        binary = self.relu(self.binary_conv(binary_activation(self.move0(x))))
        return self.a1 * self.attn_b(binary) + self.a2 * self.attn_r(x)


class BinaryUpUnit(nn.Module):
    """BBCU-M's binary upsampling unit.

    ``y = PixelShuffle_s(RPReLU(conv_b(sign(x + move0)))) + nearest_s(x)`` with ``conv_b``: C → C·s².
    RPReLU acts on the C·s² channels *before* the shuffle.
    """

    def __init__(self, channels: int, factor: int, kernel_size: int = 3):
        super().__init__()
        self.factor = factor
        self.move0 = LearnableBias(channels)
        self.binary_conv = BinaryConv2d(channels, channels * factor * factor, kernel_size)
        self.relu = RPReLU(channels * factor * factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.binary_conv(binary_activation(self.move0(x))))
        out = F.pixel_shuffle(out, self.factor)
        return out + F.interpolate(x, scale_factor=self.factor, mode="nearest")


class BinaryBlock(nn.Module):
    """Two binary units in a row (``body.0``, ``body.1``); BBCU's ``BinaryBlock`` (no outer skip)."""

    def __init__(self, channels: int, unit: dict | None = None):
        super().__init__()
        self.body = nn.Sequential(make_unit(unit, channels), make_unit(unit, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def default_unit() -> dict:
    """The plain BBCU unit configuration."""
    return {"kind": "bbcu"}


def normalize_unit(unit: dict | None) -> dict:
    """Validate a unit config and fill in defaults; raise ValueError naming the bad field."""
    unit = dict(unit or default_unit())
    kind = unit.get("kind", "bbcu")
    if kind == "bbcu":
        return {"kind": "bbcu"}
    if kind != "attention":
        raise ValueError(f"unit kind must be 'bbcu' or 'attention', not {kind!r}")
    out = {
        "kind": "attention",
        "binary_attn": unit.get("binary_attn", "se"),
        "residual_attn": unit.get("residual_attn", "none"),
        "reduction": int(unit.get("reduction", 4)),
    }
    for field in ("binary_attn", "residual_attn"):
        if out[field] not in ATTENTION_KINDS:
            raise ValueError(f"{field} must be one of {', '.join(ATTENTION_KINDS)}, not {out[field]!r}")
    return out


def make_unit(unit: dict | None, channels: int) -> nn.Module:
    """Build one binary residual unit from its config (see :func:`normalize_unit`)."""
    unit = normalize_unit(unit)
    if unit["kind"] == "bbcu":
        return BinaryUnit(channels)
    return AttentionBinaryUnit(
        channels, binary_attn=unit["binary_attn"], residual_attn=unit["residual_attn"], reduction=unit["reduction"]
    )
