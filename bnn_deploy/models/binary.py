"""Binary building blocks with deployment semantics.

Conventions (the ones Larq Compute Engine implements, so PyTorch and the deployed graph agree):

* **Activation sign**: ``sign(x) = +1 if x >= 0 else -1``. Training code often uses ``torch.sign``,
  which maps 0 to 0; LCE has no zero, so we use the deployment sign everywhere, also while training.
  For real-valued inputs the two differ only on the measure-zero set ``x == 0``.
* **Weights**: ``W_b = alpha * sign(W)`` with ``sign(0) = +1`` and one ``alpha`` per output channel,
  either ``alpha_o = mean |W_o|`` over (in, kh, kw) (BBCU, XNOR-Net) or a learnable parameter.
  LCE recognises exactly this form (a constant ±alpha per output channel) as a binary filter.
* **Padding**: convolutions pad the *signed* tensor with zeros (``padding = k // 2``), as BBCU does.
  A zero is neither +1 nor -1; LCE reproduces it exactly with its "same-zero" edge correction.
* **Gradients** (training only): Bi-Real's piecewise-quadratic ``approx_sign`` for activations,
  clipped straight-through for weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def deploy_sign(x: torch.Tensor) -> torch.Tensor:
    """``+1 where x >= 0, -1 elsewhere`` (float tensor of the same dtype)."""
    one = torch.ones((), dtype=x.dtype, device=x.device)
    return torch.where(x >= 0, one, -one)


def approx_sign_surrogate(x: torch.Tensor) -> torch.Tensor:
    """Bi-Real approx-sign: -1 (x<-1), x²+2x (-1≤x<0), -x²+2x (0≤x<1), +1 (x≥1).

    Its derivative ``2 - 2|x|`` on (-1, 1) is the activation gradient used in training.
    """
    return torch.where(
        x < -1,
        -torch.ones_like(x),
        torch.where(x < 0, x * x + 2 * x, torch.where(x < 1, -x * x + 2 * x, torch.ones_like(x))),
    )


def binary_activation(x: torch.Tensor) -> torch.Tensor:
    """Deployment sign in the forward pass; Bi-Real gradient in the backward pass when training."""
    if not torch.is_grad_enabled() or not x.requires_grad:
        return deploy_sign(x)
    surrogate = approx_sign_surrogate(x)
    return deploy_sign(x).detach() - surrogate.detach() + surrogate


def mean_abs_alpha(weight: torch.Tensor) -> torch.Tensor:
    """``alpha_o = mean |W[o, :, :, :]|``, shaped [O, 1, 1, 1] (BBCU / XNOR-Net scaling)."""
    return weight.abs().mean(dim=(1, 2, 3), keepdim=True)


class LearnableBias(nn.Module):
    """``x + b`` with ``b`` shaped [1, C, 1, 1] (BBCU's ``move0`` / RPReLU biases; state key ``bias``).

    In front of a sign it is a learnable per-channel threshold (RSign): ``sign(x + b)`` switches
    at ``x = -b``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


class RPReLU(nn.Module):
    """ReActNet's RPReLU: ``pr_bias1(PReLU(pr_bias0(x)))`` with per-channel biases and slopes."""

    def __init__(self, channels: int):
        super().__init__()
        self.pr_bias0 = LearnableBias(channels)
        self.pr_prelu = nn.PReLU(channels)
        self.pr_bias1 = LearnableBias(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pr_bias1(self.pr_prelu(self.pr_bias0(x)))


class BinaryConv2d(nn.Module):
    """Convolution with binary weights ``alpha * sign(W)``, applied to an already-signed input.

    ``alpha="mean"``: ``alpha_o = mean|W_o|``, not a parameter (BBCU's ``HardBinaryConv``; the state
    dict holds only ``weight``). ``alpha="learned"``: a parameter ``alpha`` [O, 1, 1, 1], initialised
    to mean|W_o|. No bias (a bias after a binary conv folds into what follows). Zero padding of
    ``kernel_size // 2``, stride 1.
    """

    is_binary = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, alpha: str = "mean"):
        super().__init__()
        if alpha not in ("mean", "learned"):
            raise ValueError(f"alpha must be 'mean' or 'learned', not {alpha!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.padding = kernel_size, kernel_size // 2
        self.alpha_mode = alpha
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.weight.data.mul_(0.1)
        if alpha == "learned":
            self.alpha = nn.Parameter(mean_abs_alpha(self.weight.data).clone())

    def scale(self) -> torch.Tensor:
        """Per-output-channel scale alpha, shaped [O, 1, 1, 1]."""
        if self.alpha_mode == "learned":
            return self.alpha
        return mean_abs_alpha(self.weight).detach()

    def binary_weight(self) -> torch.Tensor:
        """The deployed filter ``alpha_o * sign(W)`` with ``sign(0) = +1`` (no gradient tricks)."""
        return self.scale() * deploy_sign(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and torch.is_grad_enabled():
            # Clipped straight-through estimator: forward alpha*sign(W), gradient of clip(W, -1, 1).
            clipped = self.weight.clamp(-1.0, 1.0)
            signs = deploy_sign(self.weight).detach() - clipped.detach() + clipped
            weight = self.scale() * signs
        else:
            weight = self.binary_weight()
        return F.conv2d(x, weight, None, stride=1, padding=self.padding)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, alpha={self.alpha_mode}"
