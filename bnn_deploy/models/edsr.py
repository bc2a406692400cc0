"""EDSR (Lim et al. 2017) and the binary EDSR of the binary-SR challenge baselines.

bnn-deploy models all take RGB in [0, 1]. EDSR works in [0, ``rgb_range``] (255) with the dataset
mean subtracted, so the forward pass is::

    x   = sub_mean(rgb_range · input)               # MeanShift: 1×1 conv, x - rgb_range·mean
    h   = head(x)                                   # float 3×3 conv
    out = add_mean(tail(body(h) + h)) / rgb_range   # tail: conv+PixelShuffle stages, final conv

EDSR's body is ``n_resblocks`` float blocks ``x + res_scale · conv(relu(conv(x)))`` and one conv.
The binary EDSR replaces every body conv by a binary residual unit (a pair per block, plus one);
head and tail stay float. State-dict keys follow the EDSR-PyTorch release (``head.0``,
``body.{i}.body.{0,2}``, ``tail.0.{0,2}``, ``tail.1``, ``sub_mean``, ``add_mean``).
"""

from __future__ import annotations

import torch
from torch import nn

from bnn_deploy.models.layout import check_positive, check_scale, conv3x3, upsample_stages
from bnn_deploy.models.registry import register
from bnn_deploy.models.units import BinaryBlock, make_unit, normalize_unit

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class MeanShift(nn.Conv2d):
    """``y = x + sign · rgb_range · mean`` as a fixed 1×1 conv (std 1), EDSR's MeanShift."""

    def __init__(self, rgb_range: float, sign: int, rgb_mean=DIV2K_RGB_MEAN):
        super().__init__(3, 3, kernel_size=1)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.bias.data = sign * rgb_range * torch.tensor(rgb_mean)
        for p in self.parameters():
            p.requires_grad = False


class ResBlock(nn.Module):
    """EDSR's float residual block: ``x + res_scale · conv(relu(conv(x)))`` (keys body.0, body.2)."""

    def __init__(self, n_feats: int, res_scale: float = 1.0):
        super().__init__()
        self.body = nn.Sequential(conv3x3(n_feats, n_feats), nn.ReLU(), conv3x3(n_feats, n_feats))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


def make_upsampler(scale: int, n_feats: int) -> nn.Sequential:
    """EDSR's Upsampler: [conv(n, n·r²), PixelShuffle(r)] per stage (indices 0,1[,2,3])."""
    layers: list[nn.Module] = []
    for factor in upsample_stages(scale):
        layers += [conv3x3(n_feats, n_feats * factor * factor), nn.PixelShuffle(factor)]
    return nn.Sequential(*layers)


class EDSR(nn.Module):
    """EDSR with a float (``binary=False``) or binary-unit (``binary=True``) body."""

    def __init__(
        self,
        scale: int = 2,
        n_feats: int = 64,
        n_resblocks: int = 16,
        res_scale: float = 1.0,
        rgb_range: float = 255.0,
        binary: bool = False,
        unit: dict | None = None,
    ):
        super().__init__()
        scale = check_scale(scale)
        check_positive(n_feats=n_feats, n_resblocks=n_resblocks)
        self.arch = "binary_edsr" if binary else "edsr"
        self.config = {"scale": scale, "n_feats": n_feats, "n_resblocks": n_resblocks, "rgb_range": float(rgb_range)}
        if binary:
            unit = normalize_unit(unit)
            self.config["unit"] = unit
            body = [BinaryBlock(n_feats, unit) for _ in range(n_resblocks)]
            body.append(make_unit(unit, n_feats))
        else:
            self.config["res_scale"] = float(res_scale)
            body = [ResBlock(n_feats, res_scale) for _ in range(n_resblocks)]
            body.append(conv3x3(n_feats, n_feats))
        self.scale, self.rgb_range = scale, float(rgb_range)
        self.sub_mean = MeanShift(rgb_range, -1)
        self.head = nn.Sequential(conv3x3(3, n_feats))
        self.body = nn.Sequential(*body)
        self.tail = nn.Sequential(make_upsampler(scale, n_feats), conv3x3(n_feats, 3))
        self.add_mean = MeanShift(rgb_range, +1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x * self.rgb_range))
        out = self.tail(self.body(x) + x)
        return self.add_mean(out) / self.rgb_range


@register("edsr", "EDSR: float baseline with MeanShift, 0-255 internally")
def edsr(**config) -> EDSR:
    return EDSR(binary=False, **config)


@register("binary_edsr", "Binary EDSR: EDSR whose body convs are binary residual units")
def binary_edsr(**config) -> EDSR:
    return EDSR(binary=True, **config)
