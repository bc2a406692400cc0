"""BBCU-L and BBCU-M (Xia et al., "Basic Binary Convolution Unit for Binarized Image Restoration
Network", ICLR 2023, arXiv 2210.00405), built as the official BasicSR release builds them.

Forward pass (input RGB in [0, 1], amplification ``k``, scale ``s``)::

    x   = k · input
    f   = lrelu(conv_first(x))                      # float
    f   = body(f)                                   # num_block × 2 binary units
    f   = upsampler(f)                              # -L: lrelu(PS(upconv(f)))  (float conv)
                                                    # -M: PS(RPReLU(bconv(sign(f+b)))) + nearest(f)
    f   = lrelu(conv_hr(f))                         # -L float conv, -M binary unit
    out = (conv_last(f) + bilinear_s(x)) / k        # bilinear with align_corners=False

``k`` is not stored in checkpoints; the released models use 130.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bnn_deploy.models.layout import check_positive, check_scale, conv3x3, init_float_convs, lrelu, upsample_stages
from bnn_deploy.models.registry import register
from bnn_deploy.models.units import BinaryBlock, BinaryUpUnit, make_unit, normalize_unit

DEFAULT_K = 130.0


class BBCU(nn.Module):
    """BBCU-L (``variant="L"``: float upsampler and ``conv_hr``) or BBCU-M (``"M"``: binary ones)."""

    def __init__(
        self,
        variant: str = "L",
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 16,
        k: float = DEFAULT_K,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        unit: dict | None = None,
    ):
        super().__init__()
        if variant not in ("L", "M"):
            raise ValueError(f"variant must be 'L' or 'M', not {variant!r}")
        scale = check_scale(scale)
        check_positive(num_feat=num_feat, num_block=num_block, num_in_ch=num_in_ch, num_out_ch=num_out_ch)
        if not float(k) > 0:
            raise ValueError(f"k must be positive, not {k}")
        unit = normalize_unit(unit)
        self.arch = f"bbcu_{variant.lower()}"
        self.config = {
            "scale": scale,
            "num_feat": num_feat,
            "num_block": num_block,
            "k": float(k),
            "num_in_ch": num_in_ch,
            "num_out_ch": num_out_ch,
            "unit": unit,
        }
        self.variant, self.scale, self.k = variant, scale, float(k)
        self.stages = upsample_stages(scale)

        self.conv_first = conv3x3(num_in_ch, num_feat)
        self.body = nn.Sequential(*[BinaryBlock(num_feat, unit) for _ in range(num_block)])
        for i, factor in enumerate(self.stages, start=1):
            if variant == "L":
                up = conv3x3(num_feat, num_feat * factor * factor)
            else:
                up = BinaryUpUnit(num_feat, factor)
            setattr(self, f"upconv{i}", up)
        self.conv_hr = conv3x3(num_feat, num_feat) if variant == "L" else make_unit(unit, num_feat)
        self.conv_last = conv3x3(num_feat, num_out_ch)
        init_float_convs(
            [self.conv_first, self.conv_last] + ([self.conv_hr] + self.upconvs() if variant == "L" else [])
        )

    def upconvs(self) -> list[nn.Module]:
        """The upsampling stages in order (``upconv1`` [, ``upconv2``])."""
        return [getattr(self, f"upconv{i}") for i in range(1, len(self.stages) + 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.k
        out = self.body(lrelu(self.conv_first(x)))
        for factor, up in zip(self.stages, self.upconvs()):
            out = lrelu(F.pixel_shuffle(up(out), factor)) if self.variant == "L" else up(out)
        out = self.conv_last(lrelu(self.conv_hr(out)))
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return (out + base) / self.k


@register("bbcu_l", "BBCU-L: binary body, float upsampler and conv_hr (MSRResNet layout)")
def bbcu_l(**config) -> BBCU:
    return BBCU(variant="L", **config)


@register("bbcu_m", "BBCU-M: binary body, binary upsampler and conv_hr (MSRResNet layout)")
def bbcu_m(**config) -> BBCU:
    return BBCU(variant="M", **config)
