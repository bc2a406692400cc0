"""Attention modules for the attention-augmented binary unit (Ovcharenko & Zharikov).

Each module maps a feature map ``x`` [N, C, H, W] to ``x * m`` where the mask ``m`` in (0, 1) is:

* ``se`` — squeeze-and-excitation, one weight per channel:
  ``m = sigmoid(W2 · relu(W1 · avgpool(x) + b1) + b2)``, W1: C→C/r, W2: C/r→C (1×1 convs on the
  pooled 1×1 map, i.e. fully connected layers).
* ``spatial`` — one weight per pixel (a 2-D map): ``m = sigmoid(conv1x1_{C→1}(x))``.
* ``pixel`` — one weight per pixel and channel (a 3-D map): ``m = sigmoid(conv1x1_{C→C}(x))``.
* ``none`` — identity.

All are float operations; only the unit's 3×3 convolution is binary.
"""

from __future__ import annotations

import torch
from torch import nn

ATTENTION_KINDS = ("none", "se", "spatial", "pixel")


class SEAttention(nn.Module):
    """Squeeze-and-excitation: a per-channel gate from global average pooling."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(pooled))))


class SpatialAttention(nn.Module):
    """A per-pixel gate shared by all channels (1×1 conv to one channel, sigmoid)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class PixelAttention(nn.Module):
    """A per-pixel, per-channel gate (1×1 conv to C channels, sigmoid; as in PAN)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


def make_attention(kind: str, channels: int, reduction: int = 4) -> nn.Module:
    """Build the attention module named ``kind`` (one of :data:`ATTENTION_KINDS`)."""
    if kind == "none":
        return nn.Identity()
    if kind == "se":
        return SEAttention(channels, reduction)
    if kind == "spatial":
        return SpatialAttention(channels)
    if kind == "pixel":
        return PixelAttention(channels)
    raise ValueError(f"unknown attention {kind!r}; choose one of {', '.join(ATTENTION_KINDS)}")
