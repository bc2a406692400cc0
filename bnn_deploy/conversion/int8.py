"""``lce-int8``: the LCE flatbuffer with the float convs of head and tail in int8.

What was measured (``benchmarks/int8_glue.py``, ``docs/int8-glue.md``): of the int8 routes LCE 0.16
offers, only this one kept PSNR vs HR within 0.1 dB of ``lce`` while running clearly faster, and only
where the float head/tail convs are a large share (BBCU-L's upsampler conv and ``conv_hr``). Putting
the residual stream and the glue around each bconv in int8 loses more than 0.1 dB (the stream's
range is set by the amplified input, the binary branch adds small increments), and an int8 bconv
output with zero padding does not run on LCE's optimized kernels.

How: the rebuild puts an 8-bit fake-quant node (``tf.quantization.fake_quant_with_min_max_args``) on
every input and output of the *head* convs (float convs with no binary conv upstream) and the *tail*
convs (no binary conv downstream), and on the pixel shuffles and (Leaky)ReLUs chaining them;
attention convs (reading a pooled map or feeding a sigmoid gate) are not head or tail. LCE's
converter, which always runs TFLite's quantization passes, turns those tensors into int8: the convs
become int8 ``CONV_2D`` (per-channel weights), with one ``QUANTIZE`` where the region starts and a
``DEQUANTIZE`` where it ends. Convs inside binary units (attention) stay float, and so does every
binary unit. Ranges are the min/max of each tensor over bundled *training* photos (never the
held-out ones), bicubically downscaled by the model's scale, run through the deployed ONNX graph in
ONNX Runtime. Input and output stay float32.
"""

from __future__ import annotations

import math
import os

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import scratch_dir
from bnn_deploy.core.manifest import Int8Calibration
from bnn_deploy.core.photos import CALIBRATION_PHOTOS

MIN_CALIBRATION_PHOTOS = 3
_PROBE = 24  # LR side of the graph the preflight check folds (the structure does not depend on it)
_NO_HEAD_TAIL = (
    "{where}: --format lce-int8 quantizes the float convs before the first and after the last binary layer, "
    "and this model has none; drop lce-int8"
)
_CHAIN_OPS = ("DepthToSpace", "LeakyRelu", "Relu")
_POOLS = ("ReduceMean", "ReduceMax", "GlobalAveragePool", "GlobalMaxPool")


def head_tail_tensors(graph) -> set[str]:
    """Tensors of a deployed ONNX graph that ``lce-int8`` quantizes (see the module docstring)."""
    from bnn_deploy.conversion.onnx_pattern import find_convs

    nodes = list(graph.graph.node)
    binary = {m.output for m in find_convs(graph) if m.is_binary}
    readers: dict[str, list] = {}
    for n in nodes:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    below: set[str] = set()  # tensors computed from some binary conv's output
    for n in nodes:
        if any(i in below or i in binary for i in n.input if i):
            below.update(o for o in n.output if o)
    below |= binary
    above: set[str] = set()  # tensors some binary conv is computed from
    for n in reversed(nodes):
        if any(o in above or o in binary for o in n.output if o):
            above.update(i for i in n.input if i)
    consts = {i.name for i in graph.graph.initializer}
    producer = {o: n for n in nodes for o in n.output}

    def gate(conv) -> bool:
        """An attention conv: it reads a pooled map or feeds a sigmoid (through ReLU/conv)."""
        src = producer.get(conv.input[0])
        if src is not None and src.op_type in _POOLS:
            return True
        todo, seen = [conv.output[0]], set()
        while todo:
            t = todo.pop()
            for r in readers.get(t, []):
                if r.op_type in ("Sigmoid", "HardSigmoid"):
                    return True
                if r.op_type in ("Relu", "Conv") and r.output[0] not in seen:
                    seen.add(r.output[0])
                    todo.append(r.output[0])
        return False

    chosen: set[str] = set()
    convs = []
    for n in nodes:
        if n.op_type != "Conv" or n.output[0] in binary or gate(n):
            continue
        out = n.output[0]
        if out not in below or out not in above:  # a head or a tail conv
            chosen |= {n.input[0], out}
            convs.append(n)
    changed = True
    while changed:  # pixel shuffles and activations between two quantized convs
        changed = False
        for n in nodes:
            if (
                n.op_type in _CHAIN_OPS
                and n.input[0] in chosen
                and n.output[0] not in chosen
                and any(r.op_type in _CHAIN_OPS or any(r is c for c in convs) for r in readers.get(n.output[0], []))
            ):
                chosen.add(n.output[0])
                changed = True
    return {t for t in chosen if t not in consts}


def calibrate(graph, images: list[np.ndarray], tensors: set[str]) -> dict[str, tuple[float, float]]:
    """``{tensor: (min, max)}`` over ``images`` (NCHW) in ONNX Runtime; 0 always inside the range."""
    import onnx

    from bnn_deploy.runtimes.onnxrt import ort_session

    model = onnx.ModelProto()
    model.CopyFrom(graph)
    input_name = model.graph.input[0].name
    present = {o.name for o in model.graph.output}
    produced = {o for n in model.graph.node for o in n.output}
    for name in sorted(tensors):
        if name in produced and name not in present:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    with scratch_dir("bnn-deploy-calib-") as d:
        path = os.path.join(d, "calib.onnx")
        onnx.save(model, path)
        session = ort_session(path)
        names = [o.name for o in session.get_outputs()]
        lo = {t: math.inf for t in tensors}
        hi = {t: -math.inf for t in tensors}
        for img in images:
            values = dict(zip(names, session.run(None, {input_name: img})))
            values[input_name] = img
            for t in tensors:
                if t in values:
                    lo[t] = min(lo[t], float(np.min(values[t])))
                    hi[t] = max(hi[t], float(np.max(values[t])))
    out = {}
    for t in tensors:
        if math.isfinite(lo[t]):
            a, b = min(lo[t], 0.0), max(hi[t], 0.0)
            out[t] = (a, b if b > a else a + 1e-6)
    return out


def calibration_crops(
    lr_hw: tuple[int, int], scale: int, count: int
) -> tuple[tuple[int, int], list[np.ndarray], list[str]]:
    """``(lr size, NCHW LR crops, photo names)``: bundled training photos, each a bicubic ×``scale``
    downscale of a real HR crop, at ``lr_hw`` or, where too few photos hold ``scale·lr_hw``
    pixels, at the largest size of the same aspect ratio that at least
    :data:`MIN_CALIBRATION_PHOTOS` of them hold (activation ranges do not depend on the size)."""
    from bnn_deploy.core.photos import TRAIN_PHOTOS, load_photo, photo_crops

    photos = [(name, load_photo(name)) for name in TRAIN_PHOTOS[:count]]
    h, w = lr_hw
    fit = 1.0
    for _ in range(64):
        hh, ww = max(1, int(h * fit)), max(1, int(w * fit))
        usable = [(n, p) for n, p in photos if p.shape[0] >= hh * scale and p.shape[1] >= ww * scale]
        if len(usable) >= MIN_CALIBRATION_PHOTOS:
            crops = photo_crops(usable, (hh, ww), scale)
            return (hh, ww), [lr for _, lr, _ in crops], [n for n, _ in usable]
        fit *= 0.85
        if min(hh, ww) < 8:
            break
    raise BnnDeployError(
        f"--format lce-int8 calibrates on at least {MIN_CALIBRATION_PHOTOS} bundled training photos of at least "
        f"{8 * scale}x{8 * scale} pixels (to downscale by ×{scale}), and fewer are installed; "
        "reinstall scikit-image (pip install --force-reinstall scikit-image) or drop lce-int8"
    )


def _graph_scale(graph) -> int:
    """Output height / input height of a constant-folded graph (1 when the shapes are not static)."""
    from bnn_deploy.conversion.onnx_to_tf import _static_shapes

    shapes = _static_shapes(graph)
    inp, out = shapes.get(graph.graph.input[0].name), shapes.get(graph.graph.output[0].name)
    if not inp or not out or len(inp) != 4 or len(out) != 4 or not inp[2]:
        return 1
    return max(1, out[2] // inp[2])


def check_int8(onnx_model, *, fold: bool, where: str = "model") -> None:
    """Before any long work: the model has float head/tail convs to quantize, and photos to calibrate
    them on at its scale; else one line saying what is missing."""
    from bnn_deploy.conversion.onnx_to_tf import deploy_onnx

    graph, _ = deploy_onnx(onnx_model, (_PROBE, _PROBE), where=where, fold=fold)
    if not head_tail_tensors(graph):
        raise BnnDeployError(_NO_HEAD_TAIL.format(where=where))
    calibration_crops((_PROBE, _PROBE), _graph_scale(graph), CALIBRATION_PHOTOS)


def int8_ranges(
    onnx_model, lr_hw: tuple[int, int], scale: int, *, fold: bool, count: int = 0, where: str = "model"
) -> tuple[dict, Int8Calibration]:
    """Calibrated ranges of :func:`head_tail_tensors` for ``rebuild_tf(fake_quant=...)``, and what they came from.

    Raises a one-line error when the graph has no float head or tail conv (nothing to quantize).
    """
    from bnn_deploy.conversion.onnx_to_tf import deploy_onnx

    size, images, names = calibration_crops(lr_hw, scale, count or CALIBRATION_PHOTOS)
    graph, _ = deploy_onnx(onnx_model, size, where=where, fold=fold)
    tensors = head_tail_tensors(graph)
    if not tensors:
        raise BnnDeployError(_NO_HEAD_TAIL.format(where=where))
    ranges = calibrate(graph, images, tensors)
    return ranges, Int8Calibration(
        calibration_photos=names, calibration_lr_size=[size[1], size[0]], int8_tensors=len(ranges)
    )
