"""ONNX Runtime vs PyTorch parity: does the exported file compute what the model computes?

Both run the same NCHW float32 images; the figure is :func:`bnn_deploy.core.metrics.parity_psnr`,
``-10 log10(mean((a - b)^2))`` on the raw float outputs (peak 1), plus ``max |a - b|``. ONNX Runtime
runs on the CPU provider with one thread so the numbers are reproducible.
"""

from __future__ import annotations

import os

import numpy as np

from bnn_deploy.core.errors import BnnDeployError


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


def torch_outputs(model, images: list[np.ndarray]) -> list[np.ndarray]:
    """PyTorch eval-mode outputs (no grad) for each NCHW image; the model's mode is restored."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return [model(torch.from_numpy(img)).numpy() for img in images]
    finally:
        model.train(was_training)


def onnx_parity(model, onnx_path: str | os.PathLike, images) -> dict:
    """Run ``onnx_path`` on ONNX Runtime and ``model`` on PyTorch over ``images`` and compare.

    Returns ``{"images": [{name, shape, psnr_db, max_abs_error}], "min_psnr_db", "max_abs_error"}``;
    ``psnr_db`` is ``inf`` for bit-identical outputs.
    """
    from bnn_deploy.core.metrics import max_abs_error, parity_psnr

    named = _named_nchw(images)
    session = ort_session(onnx_path)
    input_name = session.get_inputs()[0].name
    reference = torch_outputs(model, [img for _, img in named])
    rows = []
    for (name, img), ref in zip(named, reference):
        got = session.run(None, {input_name: img})[0]
        rows.append({"name": name, "shape": list(img.shape), "psnr_db": parity_psnr(got, ref),
                     "max_abs_error": max_abs_error(got, ref)})
    return {"images": rows, "min_psnr_db": min(r["psnr_db"] for r in rows),
            "max_abs_error": max(r["max_abs_error"] for r in rows)}
