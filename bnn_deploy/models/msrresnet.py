"""MSRResNet (BasicSR's modified SRResNet): the float reference of the BBCU layout.

Same layout as BBCU-L with each binary unit pair replaced by a float residual block
``x + conv2(relu(conv1(x)))`` and no input amplification::

    out = conv_last(lrelu(conv_hr(lrelu(PS(upconv(body(lrelu(conv_first(x))))))))) + bilinear_s(x)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bnn_deploy.models.layout import check_positive, check_scale, conv3x3, init_float_convs, lrelu, upsample_stages
from bnn_deploy.models.registry import register


class ResidualBlockNoBN(nn.Module):
    """``x + conv2(relu(conv1(x)))`` (BasicSR's ResidualBlockNoBN, res_scale 1)."""

    def __init__(self, num_feat: int):
        super().__init__()
        self.conv1 = conv3x3(num_feat, num_feat)
        self.conv2 = conv3x3(num_feat, num_feat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    """Float SRResNet without BatchNorm (BasicSR ``MSRResNet``), for ×2, ×3, ×4."""

    def __init__(
        self, scale: int = 4, num_feat: int = 64, num_block: int = 16, num_in_ch: int = 3, num_out_ch: int = 3
    ):
        super().__init__()
        scale = check_scale(scale)
        check_positive(num_feat=num_feat, num_block=num_block, num_in_ch=num_in_ch, num_out_ch=num_out_ch)
        self.arch = "msrresnet"
        self.config = {
            "scale": scale,
            "num_feat": num_feat,
            "num_block": num_block,
            "num_in_ch": num_in_ch,
            "num_out_ch": num_out_ch,
        }
        self.scale = scale
        self.stages = upsample_stages(scale)
        self.conv_first = conv3x3(num_in_ch, num_feat)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        for i, factor in enumerate(self.stages, start=1):
            setattr(self, f"upconv{i}", conv3x3(num_feat, num_feat * factor * factor))
        self.conv_hr = conv3x3(num_feat, num_feat)
        self.conv_last = conv3x3(num_feat, num_out_ch)
        init_float_convs([self])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(lrelu(self.conv_first(x)))
        for i, factor in enumerate(self.stages, start=1):
            out = lrelu(F.pixel_shuffle(getattr(self, f"upconv{i}")(out), factor))
        out = self.conv_last(lrelu(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


@register("msrresnet", "MSRResNet: float SRResNet without BN, the reference for BBCU models")
def msrresnet(**config) -> MSRResNet:
    return MSRResNet(**config)
