"""Pieces shared by the MSRResNet-layout networks (SRResNet, BBCU-L, BBCU-M).

Upscaling by ``s`` in this layout: ×2 and ×3 use one conv + PixelShuffle(s); ×4 uses two
conv + PixelShuffle(2) stages (``upconv1``, ``upconv2``).
"""

from __future__ import annotations

import torch
from torch import nn

SCALES = (2, 3, 4)


def check_scale(scale: int) -> int:
    """Return ``scale`` if supported (2, 3 or 4), else raise ValueError."""
    if int(scale) not in SCALES:
        raise ValueError(f"scale must be 2, 3 or 4, not {scale}")
    return int(scale)


def upsample_stages(scale: int) -> list[int]:
    """PixelShuffle factors of the upsampler: [2] / [3] / [2, 2]."""
    return [2, 2] if scale == 4 else [scale]


def init_float_convs(modules, scale: float = 0.1) -> None:
    """BasicSR's ``default_init_weights``: Kaiming-normal × ``scale``, zero bias (residual nets)."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                m.weight.data.mul_(scale)
                if m.bias is not None:
                    m.bias.data.zero_()


def conv3x3(in_ch: int, out_ch: int) -> nn.Conv2d:
    """3×3 float convolution with bias and zero padding 1."""
    return nn.Conv2d(in_ch, out_ch, 3, 1, 1)


def check_positive(**values: int) -> None:
    """Raise ValueError for any non-positive integer hyper-parameter."""
    for name, value in values.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive integer, not {value}")


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU with slope 0.1, the activation of the MSRResNet layout."""
    return torch.nn.functional.leaky_relu(x, 0.1)
