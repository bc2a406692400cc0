"""The tile overlap a model needs, measured once per export (an export stage; ``docs/manifest.md``).

A tile computes what the whole image computes at pixels farther from its interior edges than the
model's receptive-field radius ``R``, so an overlap of ``2·ceil(R)`` (half kept on each side of a
cut) is always exact. :func:`receptive_radius` reads ``R`` from the ONNX graph every artifact is
rebuilt from; :func:`measure_tile_overlap` then searches below that bound for the smallest overlap
whose tiled output stays ≥ 50 dB from the whole-image output of the export's reference (PyTorch for
a checkpoint, ONNX Runtime for an ONNX file) on crops of the held-out photos
(:func:`bnn_deploy.core.tiling.smallest_overlap`).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from bnn_deploy.core.manifest import TileOverlap
from bnn_deploy.core.photos import crop_center, holdout_photos
from bnn_deploy.core.tiling import OVERLAP_CROP, OVERLAP_THRESHOLD_DB, smallest_overlap

# Ops that compute each output pixel from the same pixel of their inputs (or from constants).
_POINTWISE = {
    "Abs", "Add", "And", "BatchNormalization", "Cast", "Ceil", "Clip", "Div", "Elu", "Equal", "Erf", "Exp",
    "Floor", "Gelu", "Greater", "GreaterOrEqual", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "Less",
    "LessOrEqual", "Log", "Max", "Min", "Mish", "Mul", "Neg", "Not", "Or", "Pow", "PRelu", "Reciprocal",
    "Relu", "Round", "Selu", "Sigmoid", "Sign", "Softplus", "Softsign", "Sqrt", "Sub", "Sum", "Tanh", "Where",
    "Pad", "Dropout",
}  # fmt: skip
_WINDOWED = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool"}
_GLOBAL = {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}
_REDUCE = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceL2", "ReduceProd", "ReduceLogSumExp"}
_ALONG_AXIS = {"Concat", "Split", "Slice", "Softmax", "LogSoftmax"}  # pointwise when along channels
MAX_SEARCHED = 298  # LR px: a crop of this side + 2 fits in the smallest held-out photo (451x300)


def receptive_radius(onnx_model) -> tuple[float | None, str]:
    """``(R, why)``: how many input pixels away an output pixel can see, read from the graph.

    Walks the nodes in order, tracking per tensor the radius (input pixels) and the resolution
    relative to the input: a k×k conv with dilation d adds ``d·(k - 1) / 2`` pixels *at its own
    resolution*, a stride divides the resolution, ``DepthToSpace`` and ``Resize`` multiply it (a
    linear resize also reads one neighbour), pointwise ops keep the largest radius of their inputs.
    ``R`` is None when no finite bound follows from the graph — a global pooling (squeeze-and-excite
    attention) sees the whole image — or an op is not understood; ``why`` says which.
    """
    from onnx import helper, numpy_helper

    graph = onnx_model.graph
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    state = {inp.name: (0.0, 1.0) for inp in graph.input if inp.name not in consts}
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Constant" and "value" in attrs:
            consts[node.output[0]] = numpy_helper.to_array(attrs["value"])
            continue
        spatial = [state[name] for name in node.input if name in state]
        if not spatial:
            continue  # computes on constants only
        radius, factor = max(r for r, _ in spatial), max(f for _, f in spatial)
        op, where = node.op_type, f"{node.op_type} {node.name or node.output[0]}"
        if op in _WINDOWED:
            weight = consts.get(node.input[1]) if op.startswith("Conv") and len(node.input) > 1 else None
            kernel = attrs.get("kernel_shape") or (list(weight.shape[2:]) if weight is not None else None)
            if not kernel:
                return None, f"{where} has no known kernel size"
            dilations = attrs.get("dilations") or [1] * len(kernel)
            strides = attrs.get("strides") or [1] * len(kernel)
            radius += max(d * (k - 1) / 2 for k, d in zip(kernel, dilations)) / factor
            factor = factor * max(strides) if op == "ConvTranspose" else factor / max(strides)
        elif op == "DepthToSpace":
            factor *= attrs.get("blocksize", 1)
        elif op == "SpaceToDepth":
            factor /= attrs.get("blocksize", 1)
        elif op in ("Resize", "Upsample"):
            scales = consts.get(node.input[2] if op == "Resize" and len(node.input) > 2 else node.input[-1])
            if scales is None or np.asarray(scales).size < 4:
                return None, f"{where} resizes to sizes not known from the graph"
            mode = attrs.get("mode", b"nearest")
            mode = mode.decode() if isinstance(mode, bytes) else str(mode)
            radius += {"nearest": 0.0, "linear": 1.0, "cubic": 2.0}.get(mode, math.inf) / factor
            factor *= float(max(np.asarray(scales).reshape(-1)[2:]))
        elif op in _GLOBAL or (op in _REDUCE and _spatial(_axes(attrs, node, consts, 1))):
            return None, f"{where} pools over the whole image (attention): no tile sees what the whole image sees"
        elif op in _ALONG_AXIS and _spatial(_axes(attrs, node, consts, 3 if op == "Slice" else None)):
            return None, f"{where} works along a spatial axis"
        elif op not in _POINTWISE and op not in _ALONG_AXIS:
            return None, f"{where}: op not understood by the receptive-field walk"
        if not math.isfinite(radius):
            return None, f"{where}: resize mode not understood"
        for out in node.output:
            state[out] = (radius, factor)
    output = graph.output[0].name
    if output not in state:
        return None, "the output does not depend on the input"
    return state[output][0], "receptive field of the graph"


_DEFAULT_AXIS = {"Concat": 1, "Split": 0, "Softmax": -1, "LogSoftmax": -1}


def _axes(attrs: dict, node, consts: dict, input_index: int | None):
    """The axes a node works along: its ``axis``/``axes`` attribute or constant input; None for all axes."""
    if "axis" in attrs or node.op_type in _DEFAULT_AXIS:
        return [attrs.get("axis", _DEFAULT_AXIS.get(node.op_type))]
    axes = attrs.get("axes")
    if axes is None and input_index is not None and len(node.input) > input_index and node.input[input_index]:
        axes = consts.get(node.input[input_index])
    return None if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]


def _spatial(axes) -> bool:
    """Axes that include height or width (NCHW 2, 3 or -1, -2); all axes (None) do."""
    return axes is None or bool(set(axes) & {2, 3, -1, -2})


def overlap_crops(upper: int) -> tuple[list[np.ndarray], int]:
    """One square centre crop per held-out photo (its own pixels as the LR input), and the crops' side.

    The side is :data:`~bnn_deploy.core.tiling.OVERLAP_CROP` (seams as dense as in a grid of
    ~64 px tiles, the smallest the planner proposes), or ``upper + 2`` when the bound needs more.
    """
    side = max(OVERLAP_CROP, upper + 2)
    side += side % 2
    return [np.ascontiguousarray(crop_center(photo, side, side)) for _, photo in holdout_photos()], side


def measure_tile_overlap(source, say=None) -> TileOverlap:
    """The export stage: the smallest overlap keeping tiled ≥ 50 dB from whole on the held-out photos.

    ``source`` is a :class:`bnn_deploy.conversion.sources.Source`; its ONNX graph (traced once from a
    checkpoint) runs on ONNX Runtime, any input size, for both the tiles and the whole crops.
    """
    from bnn_deploy.runtimes.onnxrt import open_onnx

    say = say or (lambda _m: None)
    start = time.perf_counter()
    radius, why = receptive_radius(source.onnx_model)
    # No bound: search what tiles of the smallest planned size can hold.
    upper = OVERLAP_CROP - 2 if radius is None else min(MAX_SEARCHED, 2 * math.ceil(radius - 1e-9))
    crops, side = overlap_crops(upper)
    say(
        f"measuring the tile overlap: {len(crops)} held-out photos, {side}x{side} LR px crops in 2x2 tiles, "
        f"overlaps 0..{upper} px "
        f"(receptive-field bound: {'none, ' + why if radius is None else f'{radius:g} px'})"
    )
    runner = open_onnx(source.onnx_path, threads=os.cpu_count() or 1)
    found = smallest_overlap(runner.predict, crops, upper, exact_at_upper=radius is not None, progress=say)
    return TileOverlap(
        pixels=found["pixels"],
        threshold_db=OVERLAP_THRESHOLD_DB,
        psnr_db=found["psnr_db"],
        meets_threshold=found["meets_threshold"],
        upper_bound=upper,
        receptive_radius=radius,
        bound_note=why,
        method=(
            f"the model's ONNX graph on ONNX Runtime: a {side}x{side} px centre crop of each of {len(crops)} "
            "held-out photos (the photo's pixels as LR input) cut into 2x2 tiles whose neighbours overlap by "
            "exactly the overlap tried vs the whole crop; the worst photo's PSNR (peak 1); even overlaps "
            "binary-searched up to twice the receptive-field radius"
        ),
        tried=found["tried"],
        seconds=round(time.perf_counter() - start, 2),
    )
