"""Read, write and bicubically resize images held as float32 HxWx3 RGB arrays in [0, 1].

Resizing is Pillow's ``BICUBIC`` filter (Keys cubic, ``a = -0.5``) run on 32-bit float planes, so
no 8-bit rounding happens inside a resize. It is not MATLAB's ``imresize``, which made the LR files
of the public SR benchmarks: Pillow also stretches the kernel by the factor when downscaling
(antialiasing), but it handles the border differently (renormalised kernel, not mirrored pixels),
so our LR images are close to, not bit-identical with, MATLAB's. Both LR creation
(:func:`bicubic_downscale`) and the bicubic baseline (:func:`bicubic_upscale`) use this same
filter, so comparisons between them are consistent.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import atomic_path
from bnn_deploy.core.metrics import to_uint8

# Pillow signals unreadable files with many exception types: OSError (missing, truncated,
# unidentified), SyntaxError (corrupt PNG chunks), ValueError/EOFError/struct.error (bad headers).
_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError)
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_READ_HINT = "give a PNG, JPEG, BMP, TIFF or WebP image file"


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Return the image at ``path`` as float32 HxWx3 RGB in [0, 1].

    8-bit values are divided by 255; 16-bit greyscale (modes ``I;16*`` and ``I``) is clipped to
    0..65535 and divided by 65535. Greyscale and 1-bit images are replicated to three channels;
    palette, CMYK and other colour modes go through Pillow's RGB conversion. An alpha channel is
    dropped, not composited onto any background. EXIF orientation is applied; of a multi-frame
    file (GIF, TIFF) only the first frame is read.
    """
    try:
        with Image.open(path) as opened:
            opened.load()  # decode now, so truncated and corrupt files fail inside this try
            img = ImageOps.exif_transpose(opened)
            pixels = _rgb_float(img, path)
    except _READ_ERRORS as err:
        raise BnnDeployError(f"cannot read image {path}: {_reason(err)}; {_READ_HINT}") from err
    if min(pixels.shape[:2]) < 1:
        height, width = pixels.shape[:2]
        raise BnnDeployError(f"image {path} has size {width}x{height}; give a non-empty image")
    return pixels


def _reason(err: BaseException) -> str:
    """One-line description of ``err`` (exception messages may span lines or be empty)."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror  # str(err) would repeat the path
    return " ".join(str(err).split()) or type(err).__name__


def _rgb_float(img: Image.Image, path: str | os.PathLike) -> np.ndarray:
    """Convert a loaded Pillow image to float32 HxWx3 in [0, 1] (see :func:`load_image`)."""
    if img.mode in _SIXTEEN_BIT_MODES:
        grey = np.clip(np.asarray(img).astype(np.float32), 0.0, 65535.0) / np.float32(65535.0)
        return np.repeat(grey[..., None], 3, axis=2)
    if img.mode == "F":
        # Float pixels have no agreed range (0..1? 0..255?); guessing would silently skew results.
        raise BnnDeployError(
            f"cannot read image {path}: 32-bit float pixels have no known range; save it as 8- or 16-bit PNG"
        )
    if img.mode in ("1", "L", "LA", "La"):
        grey = np.asarray(img.convert("L"), dtype=np.float32) / np.float32(255.0)
        return np.repeat(grey[..., None], 3, axis=2)
    rgb = img if img.mode == "RGB" else img.convert("RGB")  # RGBA -> RGB drops alpha
    return np.asarray(rgb, dtype=np.float32) / np.float32(255.0)


def save_image(path: str | os.PathLike, img_float: np.ndarray) -> None:
    """Write float RGB HxWx3 in [0, 1] (or uint8 RGB, as it is) to ``path`` as an 8-bit RGB PNG, atomically.

    Float pixels are quantised with :func:`~bnn_deploy.core.metrics.to_uint8`. The PNG is written to a
    temporary file in the same directory and moved over ``path`` with ``os.replace``
    (:func:`bnn_deploy.core.fileio.atomic_path`), so readers never see a half-written file; the
    temporary file is removed if anything fails. The file gets the umask's permissions.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise BnnDeployError(f"cannot write {path}: images are saved as PNG; give a path ending in .png")
    img_float = np.asarray(img_float)
    if img_float.ndim != 3 or img_float.shape[2] != 3:
        raise BnnDeployError(
            f"cannot write {path}: expected an HxWx3 RGB image, got {img_float.shape}; pass an RGB image"
        )
    pixels = img_float if img_float.dtype == np.uint8 else to_uint8(img_float)
    encoded = Image.fromarray(pixels)  # uint8 HxWx3 -> mode "RGB"
    try:
        with atomic_path(path) as tmp:  # removes the temp file on any failure, Ctrl-C included
            encoded.save(tmp, format="PNG")
    except OSError as err:
        raise BnnDeployError(f"cannot write {path}: {_reason(err)}; choose a writable path") from err


def _check_scale(scale: int) -> int:
    """Return ``scale`` if it is a positive integer, else raise."""
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise BnnDeployError(f"scale {scale!r} is not a positive integer; give e.g. 2, 3 or 4")
    return int(scale)


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Return ``img[:H - H % scale, :W - W % scale]`` so both sides are divisible by ``scale`` (BasicSR)."""
    scale = _check_scale(scale)
    height, width = img.shape[:2]
    cropped = img[: height - height % scale, : width - width % scale]
    if min(cropped.shape[:2]) < 1:
        raise BnnDeployError(f"image {width}x{height} is smaller than scale {scale}; use a larger image")
    return cropped


def _resize_bicubic(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize each channel of float HxWxC ``img`` to ``height x width`` with Pillow BICUBIC in mode F.

    The result is clipped to [0, 1]: the cubic kernel overshoots at edges, and every consumer of
    these arrays treats them as images in [0, 1].
    """
    planes = []
    for c in range(img.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(img[..., c], dtype=np.float32))  # float32 -> mode "F"
        planes.append(np.asarray(plane.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32))
    return np.clip(np.stack(planes, axis=2), 0.0, 1.0)


def bicubic_downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """Return the LR image: ``mod_crop(hr, scale)`` shrunk by ``scale`` with Pillow bicubic.

    Output is float32 (H // scale) x (W // scale) x C in [0, 1].
    """
    hr = mod_crop(hr, scale)
    height, width = hr.shape[:2]
    return _resize_bicubic(hr, width // scale, height // scale)


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """Return ``lr`` enlarged by ``scale`` with Pillow bicubic: float32 (H*scale) x (W*scale) x C, [0, 1]."""
    scale = _check_scale(scale)
    height, width = lr.shape[:2]
    if min(height, width) < 1:
        raise BnnDeployError(f"image {width}x{height} is empty; give a non-empty image")
    return _resize_bicubic(lr, width * scale, height * scale)


def nchw_to_nhwc(x: np.ndarray) -> np.ndarray:
    """``[N, C, H, W]`` → contiguous float32 ``[N, H, W, C]`` (PyTorch/ONNX layout to TFLite's)."""
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32).transpose(0, 2, 3, 1))


def nhwc_to_nchw(x: np.ndarray) -> np.ndarray:
    """``[N, H, W, C]`` → contiguous ``[N, C, H, W]`` (TFLite layout to PyTorch/ONNX's)."""
    return np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))
