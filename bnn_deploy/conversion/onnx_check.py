"""ONNX Runtime vs PyTorch parity: does the exported file compute what the model computes?

Both run the same NCHW float32 images; the figure is :class:`bnn_deploy.core.parity.Parity`:
``-10 log10(mean((a - b)^2))`` on the raw float outputs (peak 1), plus ``max |a - b|``. ONNX Runtime
runs on the CPU provider with one thread so the numbers are reproducible.
"""

from __future__ import annotations

import os

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.parity import Parity, compare
from bnn_deploy.models.run import run_model
from bnn_deploy.runtimes.onnxrt import ort_session


def _named_nchw(images) -> list[tuple[str, np.ndarray]]:
    """Normalise images to ``[(name, [1, C, H, W] float32)]``; accepts arrays or (name, array) pairs,
    NCHW / CHW / HxWx3."""
    out = []
    for i, item in enumerate(images):
        name, img = item if isinstance(item, tuple) else (f"image{i}", item)
        arr = np.asarray(img, dtype=np.float32)
        if arr.ndim == 3 and arr.shape[-1] == 3 and arr.shape[0] != 3:
            arr = arr.transpose(2, 0, 1)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4:
            raise BnnDeployError(f"parity image {name} has shape {arr.shape}; pass NCHW float32 images")
        out.append((name, np.ascontiguousarray(arr)))
    if not out:
        raise BnnDeployError("no parity images given; pass at least one NCHW image")
    return out


def onnx_parity(model, onnx_path: str | os.PathLike, images, threshold_db: float | None = None) -> Parity:
    """Run ``onnx_path`` on ONNX Runtime and ``model`` on PyTorch over ``images`` and compare them."""
    named = _named_nchw(images)
    session = ort_session(onnx_path)
    input_name = session.get_inputs()[0].name
    outputs = [session.run(None, {input_name: img})[0] for _, img in named]
    references = [run_model(model, img) for _, img in named]
    return compare(
        outputs,
        references,
        names=[name for name, _ in named],
        threshold_db=threshold_db,
        reference="PyTorch (eval mode) vs ONNX Runtime CPUExecutionProvider, 1 thread",
    )
