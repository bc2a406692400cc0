"""The photos bundled inside scikit-image's wheel (``skimage/data``), split into train and holdout.

They are read straight from the installed package; nothing is ever downloaded. The two lists
are fixed and disjoint, so a model trained on :data:`TRAIN_PHOTOS` can be scored honestly on
:data:`HOLDOUT_PHOTOS`. Synthetic images (charts, logos, phantoms, text) are left out.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.images import bicubic_downscale, bicubic_upscale, load_image, mod_crop

# Colour photos plus greyscale textures (replicated to RGB): more texture variety helps training.
# motorcycle_left/right are a stereo pair (near duplicates), so they stay together here.
TRAIN_PHOTOS: tuple[str, ...] = (
    "rocket.jpg",  # 640x427 RGB
    "motorcycle_left.png",  # 741x500 RGB
    "motorcycle_right.png",  # 741x500 RGB
    "hubble_deep_field.jpg",  # 1000x872 RGB
    "retina.jpg",  # 1411x1411 RGB
    "ihc.png",  # 512x512 RGB
    "camera.png",  # 512x512 grey
    "moon.png",  # 512x512 grey
    "brick.png",  # 512x512 grey
    "gravel.png",  # 512x512 grey
    "grass.png",  # 512x512 grey
    "coins.png",  # 384x303 grey
)

# Classic natural colour photos (face, fur, food), never used for training.
HOLDOUT_PHOTOS: tuple[str, ...] = (
    "astronaut.png",  # 512x512 RGB
    "chelsea.png",  # 451x300 RGB
    "coffee.png",  # 600x400 RGB
)

_MISSING = "scikit-image's bundled photos not found; reinstall with `pip install scikit-image`"


def _data_dir() -> Path:
    """Return ``skimage/data`` of the installed scikit-image, found without importing it."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise BnnDeployError(_MISSING)
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def photo_path(name: str) -> Path:
    """Return the path of bundled photo ``name`` (one of the train or holdout photos)."""
    if name not in TRAIN_PHOTOS and name not in HOLDOUT_PHOTOS:
        known = ", ".join(TRAIN_PHOTOS + HOLDOUT_PHOTOS)
        raise BnnDeployError(f"unknown photo {name!r}; choose one of {known}")
    path = _data_dir() / name
    if not path.is_file():
        raise BnnDeployError(f"{_MISSING} (missing {path})")
    return path


def load_photo(name: str) -> np.ndarray:
    """Return bundled photo ``name`` as float32 HxWx3 RGB in [0, 1] (grey photos replicated)."""
    return load_image(photo_path(name))


def train_photos() -> list[tuple[str, np.ndarray]]:
    """Return ``[(name, image), ...]`` for every photo in :data:`TRAIN_PHOTOS`."""
    return [(name, load_photo(name)) for name in TRAIN_PHOTOS]


def holdout_photos() -> list[tuple[str, np.ndarray]]:
    """Return ``[(name, image), ...]`` for every photo in :data:`HOLDOUT_PHOTOS`."""
    return [(name, load_photo(name)) for name in HOLDOUT_PHOTOS]


def crop_center(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Return the ``h x w`` window of ``img`` starting at ``((H - h) // 2, (W - w) // 2)``."""
    height, width = img.shape[:2]
    if not (1 <= h <= height and 1 <= w <= width):
        raise BnnDeployError(f"cannot crop {w}x{h} from a {width}x{height} image; give a crop inside it")
    top, left = (height - h) // 2, (width - w) // 2
    return img[top : top + h, left : left + w]


def lr_hr_pair(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(lr, hr_cropped)``: ``hr`` mod-cropped to a multiple of ``scale`` and its bicubic LR.

    ``hr_cropped`` is ``(H - H % scale) x (W - W % scale)`` and ``lr`` is ``(H // scale) x (W // scale)``.
    """
    return bicubic_downscale(hr, scale), mod_crop(hr, scale)


PARITY_PHOTOS = 3
PARITY_LR_PIXELS = 100_000  # input pixels per export size beyond which fewer photos are run
CALIBRATION_PHOTOS = 6


def photo_crops(photos: list[tuple[str, np.ndarray]], lr_hw: tuple[int, int], scale: int):
    """``[(name, lr NCHW, hr HxWx3 or None)]``: each photo cropped to the export size.

    Where the photo holds an HR crop of ``scale·lr_hw``, LR is its bicubic downscale (a real SR
    test pair); otherwise LR is a centre crop of the photo itself (bicubically enlarged first if
    even that does not fit) and there is no ground truth.
    """
    h, w = lr_hw
    out = []
    for name, photo in photos:
        ph, pw = photo.shape[:2]
        if ph >= h * scale and pw >= w * scale:
            hr = crop_center(photo, h * scale, w * scale)
            lr = bicubic_downscale(hr, scale)
        else:
            grow = max(1, math.ceil(max(h / ph, w / pw)))
            lr, hr = crop_center(bicubic_upscale(photo, grow) if grow > 1 else photo, h, w), None
        out.append((f"{name}[{w}x{h}]", np.ascontiguousarray(lr.transpose(2, 0, 1)[None], dtype=np.float32), hr))
    return out


def parity_photo_count(lr_hw: tuple[int, int], most: int = PARITY_PHOTOS) -> int:
    """How many photos the parity check runs: ``⌊PARITY_LR_PIXELS / (h·w)⌋`` clamped to ``1..most``.

    Running both the reference and the flatbuffer costs seconds per 320×180 image for a 16-block
    network on 2 cores (a BBCU-L ×4 image is ~80 GMAC), so a 320×180 export checks one photo —
    which already compares 57,600 input pixels (×s² at the output) per channel.
    """
    h, w = lr_hw
    return max(1, min(most, PARITY_LR_PIXELS // max(1, h * w)))


def parity_images(lr_hw: tuple[int, int], scale: int, most: int = PARITY_PHOTOS):
    """Holdout photos (never trained on) cropped to ``lr_hw`` — see :func:`photo_crops`."""
    return photo_crops(holdout_photos()[: parity_photo_count(lr_hw, most)], lr_hw, scale)


def calibration_images(lr_hw: tuple[int, int], scale: int, count: int = CALIBRATION_PHOTOS) -> list[np.ndarray]:
    """NHWC LR crops of bundled *training* photos for int8 calibration (disjoint from parity photos)."""
    photos = [(name, load_photo(name)) for name in TRAIN_PHOTOS[:count]]
    return [np.ascontiguousarray(lr.transpose(0, 2, 3, 1)) for _, lr, _ in photo_crops(photos, lr_hw, scale)]


def bench_input(input_hw: tuple[int, int], scale: int) -> np.ndarray:
    """NHWC ``[1, h, w, 3]``: the first held-out photo at this LR size (the export's parity crop)."""
    _, lr_nchw, _ = parity_images(input_hw, scale, 1)[0]
    return np.ascontiguousarray(lr_nchw.transpose(0, 2, 3, 1))


def quality_photos(scale: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``[(name, lr, hr)]`` for every held-out photo (LR = bicubic downscale of the mod-cropped HR)."""
    return [(name, *lr_hr_pair(hr, scale)) for name, hr in holdout_photos()]
