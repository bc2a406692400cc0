"""Will an export at this input size fit in memory? Checked after loading the model, before converting.

LCE flatbuffers have fixed shapes, so ``--input-size 16384x16384`` builds a graph whose every
activation is that large: the export then ran out of memory deep inside TensorFlow ("internal
error"). The need is estimated from the model's **widest activation** — the most floats any one
tensor holds per LR pixel, read from the ONNX graph by ONNX shape inference at a small probe size —
times the number of such tensors an export keeps alive at once (the TF rebuild, the converter, the
LCE interpreter and the parity references), plus the libraries themselves.

:data:`LIVE_COPIES` and :data:`BASE_BYTES` were measured on this project's default model
(``bbcu_m_x2_small``, 128 floats per LR pixel at its widest): peak resident memory of
``bnn-deploy export`` was 2.2 GB at 512×512 and 6.1 GB at 1024×1024, i.e. ~5.2 KB per LR pixel
(~10× its widest activation) over ~0.85 GB.
"""

from __future__ import annotations

import math

from bnn_deploy.core.errors import BnnDeployError

PROBE = 16  # LR pixels per side of the shape-inference probe
FLOAT_BYTES = 4
LIVE_COPIES = 10  # widest-activation-sized tensors alive at once during an export (measured, above)
BASE_BYTES = 1 << 30  # PyTorch, TensorFlow and LCE themselves


def widest_floats_per_pixel(onnx_model) -> int | None:
    """The most floats one tensor of ``onnx_model`` holds per LR input pixel; None if shapes cannot be inferred."""
    import onnx
    from onnx import shape_inference

    model = onnx.ModelProto()
    model.CopyFrom(onnx_model)
    model.graph.ClearField("value_info")
    inputs = {init.name for init in model.graph.initializer}
    image = next(i for i in model.graph.input if i.name not in inputs)
    for index, value in enumerate((1, None, PROBE, PROBE)):
        if value is not None:
            image.type.tensor_type.shape.dim[index].dim_value = value
    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True)
    except (onnx.shape_inference.InferenceError, ValueError, RuntimeError):
        return None
    sizes = [
        math.prod(d.dim_value for d in info.type.tensor_type.shape.dim)
        for info in [*inferred.graph.value_info, *inferred.graph.output]
        if info.type.tensor_type.shape.dim and all(d.HasField("dim_value") for d in info.type.tensor_type.shape.dim)
    ]
    return math.ceil(max(sizes) / PROBE**2) if sizes else None


def export_bytes(floats_per_pixel: int, size: tuple[int, int]) -> int:
    """Estimated peak memory of an export at ``size`` (width, height) for a model this wide."""
    w, h = size
    return BASE_BYTES + LIVE_COPIES * FLOAT_BYTES * floats_per_pixel * w * h


def available_bytes() -> int | None:
    """Memory this process may still use: ``MemAvailable``, lowered by a cgroup (container) limit."""
    found = []
    try:
        with open("/proc/meminfo") as fh:
            found += [int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as fh, open("/sys/fs/cgroup/memory.current") as cur:
            limit = fh.read().strip()
            if limit.isdigit():
                found.append(int(limit) - int(cur.read().strip()))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def check_fits(onnx_models: list, sizes: list[tuple[int, int]], available: int | None = None) -> None:
    """Refuse, naming a size that fits, an input size whose export would not fit in memory."""
    available = available_bytes() if available is None else available
    widths = [w for w in (widest_floats_per_pixel(m) for m in onnx_models) if w]
    if available is None or not widths:
        return  # nothing to go by: the export goes ahead as before
    floats = max(widths)
    for size in sizes:
        need = export_bytes(floats, size)
        if need > available:
            raise BnnDeployError(
                f"--input-size {size[0]}x{size[1]} needs about {_gb(need)} to export this model (its widest "
                f"activation holds {floats} floats per LR pixel, {_gb(FLOAT_BYTES * floats * size[0] * size[1])} "
                f"at that size, and an export keeps ~{LIVE_COPIES} such tensors alive), but {_gb(available)} is "
                f"available here; {_fitting(floats, size, available)} (LCE files have fixed shapes: eval and "
                "bench tile larger images with them)"
            )


def _fitting(floats: int, size: tuple[int, int], available: int) -> str:
    """ "use at most about WxH" with ``size``'s aspect ratio, or why nothing fits."""
    pixels = (available - BASE_BYTES) // (LIVE_COPIES * FLOAT_BYTES * floats)
    w, h = size
    ratio = math.sqrt(pixels / (w * h)) if pixels > 0 else 0.0
    fw, fh = int(w * ratio) // 8 * 8, int(h * ratio) // 8 * 8
    if fw < 8 or fh < 8:
        return "not even a small size fits: free some memory first"
    return f"use at most about --input-size {fw}x{fh}"


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n < 2**40 else f"{n / 2**40:.1f} TB"
