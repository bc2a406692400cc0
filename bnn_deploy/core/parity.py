"""Parity: does a deployed artifact compute what its reference computes? One type, one comparison.

Parity is the PSNR between two *float outputs of the same input*, ``-10 log10(mean((a - b)^2))``
with a peak of :data:`PEAK` (outputs are RGB in [0, 1]), on the raw floats — no clipping, rounding
or Y conversion — plus ``max |a - b|``. It measures how closely two runtimes agree, not image
quality; ``inf`` means bit-identical. Over several images the figure is the *worst* one.

Every place that compares outputs (the export's gate, ONNX Runtime vs PyTorch, the bench, a
board's outputs, ``eval``'s tiled images) builds a :class:`Parity` with :func:`compare` and
writes it with :meth:`Parity.to_json`, so the figure always sits under the key ``psnr_db``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bnn_deploy.core.errors import BnnDeployError

PEAK = 1.0  # outputs are floats in [0, 1] units


def _float_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``a`` and ``b`` as float64 arrays of one shape, or raise."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise BnnDeployError(f"outputs differ in shape {a.shape} vs {b.shape}; compare outputs of one input")
    if a.size == 0:
        raise BnnDeployError("outputs are empty; compare outputs of a non-empty input")
    return a, b


def parity_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """``10 log10(PEAK² / MSE)`` in dB between two float outputs; ``inf`` if identical, NaN if any is NaN."""
    x, y = _float_pair(a, b)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return float("inf")
    # -10 log10(MSE) rather than 10 log10(1 / MSE): an infinite MSE then gives -inf, not an error.
    return 10.0 * math.log10(PEAK * PEAK) - 10.0 * math.log10(mse)


def max_abs_error(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a - b|`` over all elements of two float outputs of the same shape."""
    x, y = _float_pair(a, b)
    return float(np.max(np.abs(x - y)))


def _db_json(value: float | None) -> float | str | None:
    """A dB figure for JSON: 0.01 dB steps; ``"inf"``/``"-inf"``/``"nan"`` where not finite."""
    if value is None:
        return None
    value = float(value)
    if math.isfinite(value):
        return round(value, 2)
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _db_value(value) -> float | None:
    """The inverse of :func:`_db_json` (JSON strings back to floats)."""
    if value is None:
        return None
    if isinstance(value, str):
        return float(value)  # "inf", "-inf", "nan"
    return float(value)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


@dataclass
class ImageParity:
    """Parity on one image, and (where ground truth exists) both outputs' PSNR vs HR."""

    name: str
    psnr_db: float
    max_abs_error: float
    psnr_vs_hr_db: float | None = None
    reference_psnr_vs_hr_db: float | None = None

    def to_json(self) -> dict:
        out = {"name": self.name, "psnr_db": _db_json(self.psnr_db), "max_abs_error": float(self.max_abs_error)}
        if self.psnr_vs_hr_db is not None:
            out.update(
                psnr_vs_hr_db=_round(self.psnr_vs_hr_db), reference_psnr_vs_hr_db=_round(self.reference_psnr_vs_hr_db)
            )
        return out

    @classmethod
    def from_json(cls, data: dict) -> ImageParity:
        return cls(
            name=str(data.get("name", "")),
            psnr_db=_db_value(data.get("psnr_db")),
            max_abs_error=float(data.get("max_abs_error", math.nan)),
            psnr_vs_hr_db=data.get("psnr_vs_hr_db"),
            reference_psnr_vs_hr_db=data.get("reference_psnr_vs_hr_db"),
        )


@dataclass
class Parity:
    """How closely an artifact's outputs match its reference's (see the module docstring).

    ``psnr_db`` and ``max_abs_error`` are None when parity was not measured; ``reference`` then
    says why. ``threshold_db`` is the gate the artifact had to pass (None: not gated, e.g. the
    quantization error of an int8 model).
    """

    psnr_db: float | None
    max_abs_error: float | None
    reference: str
    images: list[ImageParity] = field(default_factory=list)
    threshold_db: float | None = None
    psnr_vs_hr_db: float | None = None
    reference_psnr_vs_hr_db: float | None = None
    peak: float = PEAK

    @classmethod
    def not_measured(cls, why: str) -> Parity:
        """A parity that could not be measured, saying why."""
        return cls(psnr_db=None, max_abs_error=None, reference=f"none: {why}")

    @classmethod
    def of_images(cls, rows: list[ImageParity], *, reference: str, threshold_db: float | None = None) -> Parity:
        """The parity over images (or tiles) compared one at a time: the worst PSNR (NaN counts as worst),
        the largest error, and the mean PSNR vs HR where ground truth was known."""
        if not rows:
            raise BnnDeployError("parity needs at least one compared image; compare the outputs of some inputs")
        with_hr = [r for r in rows if r.psnr_vs_hr_db is not None]
        return cls(
            psnr_db=min((r.psnr_db for r in rows), key=lambda v: -math.inf if math.isnan(v) else v),
            max_abs_error=max(r.max_abs_error for r in rows),
            reference=reference,
            images=list(rows),
            threshold_db=threshold_db,
            psnr_vs_hr_db=float(np.mean([r.psnr_vs_hr_db for r in with_hr])) if with_hr else None,
            reference_psnr_vs_hr_db=float(np.mean([r.reference_psnr_vs_hr_db for r in with_hr])) if with_hr else None,
        )

    @property
    def measured(self) -> bool:
        return self.psnr_db is not None

    def worst_image(self) -> ImageParity | None:
        """The image with the lowest parity (NaN counts as lowest)."""
        if not self.images:
            return None
        return min(self.images, key=lambda r: -math.inf if math.isnan(r.psnr_db) else r.psnr_db)

    def check(self, what: str) -> None:
        """Fail when gated and the worst image's parity is below ``threshold_db`` (NaN fails too)."""
        if self.threshold_db is None or (self.psnr_db is not None and self.psnr_db >= self.threshold_db):
            return
        worst = self.worst_image()
        where = f" on {worst.name} (max |error| {worst.max_abs_error:.3g})" if worst else ""
        raise BnnDeployError(
            f"{what} differs from the reference: parity {self.psnr_db:.1f} dB{where} is below --min-parity-db "
            f"{self.threshold_db:g}; nothing was written — report this model, or lower --min-parity-db only if "
            "you accept the difference"
        )

    def to_json(self) -> dict:
        """The JSON form every report uses (``psnr_db`` in 0.01 dB steps, ``"inf"`` when identical)."""
        out = {
            "psnr_db": _db_json(self.psnr_db),
            "max_abs_error": None if self.max_abs_error is None else float(self.max_abs_error),
            "reference": self.reference,
            "peak": self.peak,
        }
        if self.threshold_db is not None:
            out["threshold_db"] = float(self.threshold_db)
        if self.psnr_vs_hr_db is not None:
            out.update(
                psnr_vs_hr_db=_round(self.psnr_vs_hr_db), reference_psnr_vs_hr_db=_round(self.reference_psnr_vs_hr_db)
            )
        if self.images:
            out["images"] = [img.to_json() for img in self.images]
        return out

    @classmethod
    def from_json(cls, data: dict) -> Parity:
        """Read :meth:`to_json`'s form back (strings ``"inf"``/``"nan"`` become floats)."""
        return cls(
            psnr_db=_db_value(data.get("psnr_db")),
            max_abs_error=None if data.get("max_abs_error") is None else float(data["max_abs_error"]),
            reference=str(data.get("reference", "")),
            images=[ImageParity.from_json(r) for r in data.get("images") or []],
            threshold_db=data.get("threshold_db"),
            psnr_vs_hr_db=data.get("psnr_vs_hr_db"),
            reference_psnr_vs_hr_db=data.get("reference_psnr_vs_hr_db"),
            peak=float(data.get("peak", PEAK)),
        )


def compare(
    outputs: list[np.ndarray],
    references: list[np.ndarray],
    *,
    reference: str,
    names: list[str] | None = None,
    threshold_db: float | None = None,
    hrs: list[np.ndarray | None] | None = None,
    scale: int | None = None,
) -> Parity:
    """Parity of ``outputs`` against ``references`` (same inputs, same layout, image by image).

    Where ``hrs`` holds a ground-truth HR image (HxWx3) for an image, both outputs are also scored
    against it (BasicSR's Y-channel PSNR at ``scale``); outputs may then be NCHW ``[1, 3, H, W]``,
    NHWC ``[1, H, W, 3]`` or HxWx3.
    """
    if len(outputs) != len(references) or not outputs:
        raise BnnDeployError(
            f"parity needs one reference per output (got {len(outputs)} and {len(references)}); "
            "compare the outputs of the same inputs"
        )
    names = names or [f"image{i}" for i in range(len(outputs))]
    hrs = hrs or [None] * len(outputs)
    rows = []
    for name, got, ref, hr in zip(names, outputs, references, hrs):
        row = ImageParity(name=name, psnr_db=parity_psnr(got, ref), max_abs_error=max_abs_error(got, ref))
        if hr is not None:
            from bnn_deploy.core.metrics import sr_metrics

            row.psnr_vs_hr_db = sr_metrics(_hwc(got), hr, scale)["psnr"]
            row.reference_psnr_vs_hr_db = sr_metrics(_hwc(ref), hr, scale)["psnr"]
        rows.append(row)
    return Parity.of_images(rows, reference=reference, threshold_db=threshold_db)


def _hwc(x: np.ndarray) -> np.ndarray:
    """One image as HxWx3 from NCHW ``[1, 3, H, W]``, NHWC ``[1, H, W, 3]`` or HxWx3."""
    x = np.asarray(x)
    if x.ndim == 4:
        x = x[0]
    return x.transpose(1, 2, 0) if x.shape[0] == 3 and x.shape[-1] != 3 else x
