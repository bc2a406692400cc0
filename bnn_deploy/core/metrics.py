"""Super-resolution metrics, computed exactly as BasicSR computes them.

Published SR numbers (PSNR/SSIM on Set5, Urban100, ...) come from BasicSR's
``calculate_psnr`` / ``calculate_ssim`` with ``test_y_channel=True`` and ``crop_border=scale``
on 8-bit images. Reproducing that protocol step by step is what makes our numbers comparable:

1. the network output (float RGB in [0, 1]) becomes 8-bit with ``round(clip(x, 0, 1) * 255)``
   (BasicSR's ``tensor2img``), see :func:`to_uint8`;
2. ``crop_border`` pixels are removed from every side;
3. the luma channel ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (R, G, B in [0, 1]; ITU-R BT.601,
   MATLAB ``rgb2ycbcr``) is taken *without* rounding, see :func:`rgb_to_y`;
4. PSNR / SSIM are computed on that float64 Y channel with peak value 255.

Parity (:mod:`bnn_deploy.core.parity`) is different: it compares two *runtimes'* float outputs of
the same model, so it skips rounding and colour conversion entirely.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from bnn_deploy.core.errors import BnnDeployError

# BT.601 luma weights for R, G, B in [0, 1], giving Y in [16, 235] (studio swing).
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)
_Y_OFFSET = 16.0

_SSIM_C1 = (0.01 * 255.0) ** 2
_SSIM_C2 = (0.03 * 255.0) ** 2
_SSIM_RADIUS = 5  # 11x11 window
_SSIM_SIGMA = 1.5


def _gaussian_kernel_1d(radius: int, sigma: float) -> np.ndarray:
    """``g[i] = exp(-i^2 / (2 sigma^2)) / sum``, ``i = -radius..radius`` (OpenCV's getGaussianKernel)."""
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(offsets**2) / (2.0 * sigma**2))
    return kernel / kernel.sum()


_SSIM_KERNEL = _gaussian_kernel_1d(_SSIM_RADIUS, _SSIM_SIGMA)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Return ``round(clip(img, 0, 1) * 255)`` as uint8, BasicSR's ``tensor2img`` quantisation.

    ``np.round`` rounds halves to even, as ``torch.round`` does in BasicSR.
    """
    img = np.asarray(img)
    if not np.all(np.isfinite(img)):
        raise BnnDeployError("image has NaN or infinite values; check the model output before using it")
    return np.round(np.clip(img.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Return BT.601 luma ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` as float64 HxW in [16, 235].

    ``img`` is HxWx3 RGB, either uint8 (divided by 255 first) or float in [0, 1]. Matches BasicSR's
    ``bgr2ycbcr(img, y_only=True)`` on the same pixels (BasicSR holds BGR, we hold RGB) and
    MATLAB's ``rgb2ycbcr``, without rounding the result.
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise BnnDeployError(f"expected an HxWx3 RGB image, got shape {img.shape}; pass a colour image")
    rgb = img.astype(np.float64)
    if img.dtype == np.uint8:
        rgb /= 255.0
    return rgb @ _Y_WEIGHTS + _Y_OFFSET


def _prepare(a: np.ndarray, b: np.ndarray, crop_border: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Check two uint8 images, crop ``crop_border`` from each side, optionally take Y; return HxWxC float64.

    A 2-D (or single-channel) image is already luma, so ``y_channel`` leaves it alone, as BasicSR's
    ``to_y_channel`` does.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise BnnDeployError(f"images differ in shape {a.shape} vs {b.shape}; compare same-size images")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise BnnDeployError(f"expected uint8 images, got {a.dtype} and {b.dtype}; convert with to_uint8")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise BnnDeployError(f"expected an HxW or HxWx3 image, got shape {a.shape}; pass a grey or RGB image")
    if crop_border < 0:
        raise BnnDeployError(f"crop_border is {crop_border}; give 0 or more pixels")
    height, width = a.shape[:2]
    if min(height, width) <= 2 * crop_border:
        raise BnnDeployError(
            f"image {width}x{height} is empty after cropping {crop_border} pixels per side; use larger images"
        )
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel and a.shape[2] == 3:
        return rgb_to_y(a)[..., None], rgb_to_y(b)[..., None]
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """Return ``10 log10(255^2 / MSE)`` in dB over all kept pixels and channels; ``inf`` if equal.

    ``a`` and ``b`` are uint8 HxWx3 (or HxW). ``crop_border`` pixels are dropped from every side;
    with ``y_channel`` the MSE is taken on the float Y channel of :func:`rgb_to_y`.
    """
    x, y = _prepare(a, b, crop_border, y_channel)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * math.log10(255.0 * 255.0 / mse)


def _gaussian_valid(channel: np.ndarray) -> np.ndarray:
    """11x11 Gaussian (sigma 1.5) filter of a 2-D float64 array, keeping only 'valid' positions.

    The kernel is separable, so two 1-D passes are used; cropping the 5-pixel margin afterwards
    discards every value the border mode touched, which equals BasicSR's
    ``cv2.filter2D(...)[5:-5, 5:-5]``.
    """
    rows = ndimage.correlate1d(channel, _SSIM_KERNEL, axis=0, mode="reflect")
    both = ndimage.correlate1d(rows, _SSIM_KERNEL, axis=1, mode="reflect")
    r = _SSIM_RADIUS
    return both[r:-r, r:-r]


def _ssim_channel(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM map of two 2-D float64 arrays (BasicSR's ``_ssim``).

    ``SSIM = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))``
    with Gaussian-weighted local means/variances (population, not sample, covariance),
    ``C1 = (0.01 * 255)^2`` and ``C2 = (0.03 * 255)^2``.
    """
    mu_x, mu_y = _gaussian_valid(x), _gaussian_valid(y)
    mu_xx, mu_yy, mu_xy = mu_x**2, mu_y**2, mu_x * mu_y
    var_x = _gaussian_valid(x * x) - mu_xx
    var_y = _gaussian_valid(y * y) - mu_yy
    cov_xy = _gaussian_valid(x * y) - mu_xy
    numerator = (2.0 * mu_xy + _SSIM_C1) * (2.0 * cov_xy + _SSIM_C2)
    denominator = (mu_xx + mu_yy + _SSIM_C1) * (var_x + var_y + _SSIM_C2)
    return float(np.mean(numerator / denominator))


def ssim(a: np.ndarray, b: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """Return SSIM of two uint8 images, averaged over channels (one channel with ``y_channel``).

    Same cropping and Y conversion as :func:`psnr`; the per-channel value is BasicSR's ``_ssim``
    (see :func:`_ssim_channel`). The 11x11 window needs at least 11x11 pixels after cropping.
    """
    x, y = _prepare(a, b, crop_border, y_channel)
    height, width = x.shape[:2]
    window = 2 * _SSIM_RADIUS + 1
    if min(height, width) < window:
        raise BnnDeployError(
            f"SSIM needs {window}x{window} pixels after cropping, got {width}x{height}; use larger images"
        )
    return float(np.mean([_ssim_channel(x[..., c], y[..., c]) for c in range(x.shape[2])]))


def sr_metrics(sr_float: np.ndarray, hr_float: np.ndarray, scale: int) -> dict[str, float]:
    """Return ``{"psnr": dB, "ssim": value}`` of an SR output against its HR image, BasicSR-style.

    Both float RGB images in [0, 1] are quantised with :func:`to_uint8`, ``scale`` pixels are
    cropped from each side, and PSNR/SSIM are measured on the Y channel.
    """
    sr, hr = to_uint8(sr_float), to_uint8(hr_float)
    return {
        "psnr": psnr(sr, hr, crop_border=scale, y_channel=True),
        "ssim": ssim(sr, hr, crop_border=scale, y_channel=True),
    }


def protocol(scale: int) -> str:
    """One line naming the scoring protocol, for reports."""
    return f"Y channel, border crop {scale}, uint8-rounded; LR = Pillow bicubic"
