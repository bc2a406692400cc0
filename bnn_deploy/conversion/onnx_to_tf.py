"""Rebuild an ONNX SR graph as a TensorFlow function in NHWC at one fixed input size.

ONNX is the single intermediate form: our PyTorch models (exported by
:mod:`bnn_deploy.conversion.onnx_export`) and third-party ONNX files take this same route to LCE.

Why plain TF ops in a ``tf.Module`` (not Keras/larq layers): the LCE converter works on TF *ops*
and pattern-matches them — ``tf.where(x >= t, 1, -1)`` becomes ``LceQuantize`` and a ``Conv2D``
reading it with a constant ±α filter becomes ``LceBconv2d``. Emitting exactly those ops, with every
weight a graph constant, makes what LCE sees explicit and checkable; a ``tf.Module`` whose
``tf.function`` has a fixed-shape signature saves as a SavedModel that both
``larq_compute_engine.convert_saved_model`` and the stock ``tf.lite.TFLiteConverter`` (the
``tflite-float`` baseline, no LCE ops) convert, from one and the same graph.

The steps, each one function:

1. :func:`fold_onnx` — fix the input to ``[1, C, H, W]`` and fold everything computable from
   constants (shape arithmetic, ``Identity``-shared initializers, weight subgraphs) with numpy /
   ONNX's reference evaluator, so only activation ops remain.
2. :func:`plan_pixel_shuffles` — ONNX ``DepthToSpace`` in CRD order (PyTorch's ``PixelShuffle``) is
   TF's ``depth_to_space`` after a channel permutation (:mod:`bnn_deploy.conversion.pixel_shuffle`);
   the permutation is moved into the producing conv's output channels and every per-channel
   constant on the way (e.g. BBCU-M's RPReLU between the binary conv and the shuffle). Where a
   tensor on the way cannot be reordered, that shuffle falls back to an exact reshape/transpose.
3. :func:`rebuild_tf` — emit TF ops node by node, each by the lowering registered for its op type in
   :mod:`bnn_deploy.conversion.onnx_ops` (one registry: :func:`check_supported` refuses exactly the
   ops that have none, before tracing). Activations are NHWC; a constant combined with an
   activation is right-aligned to rank 4 (ONNX broadcasting) and transposed to NHWC, so
   ``[1, C, 1, 1] → [1, 1, 1, C]``. Binary convs (``find_convs``) become
   ``tf.where(x >= t, 1., -1.)`` feeding ``tf.nn.conv2d`` with the ±α HWIO constant and
   ``padding="SAME"`` for zero pads of k//2 (LCE's same-zero, exact on the arm target) — never an
   explicit ``tf.pad``, which LCE would leave as a float op between sign and conv.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from bnn_deploy.conversion.onnx_ops import UnsupportedOnnxOp, supported_ops
from bnn_deploy.conversion.onnx_ops.context import LoweringContext
from bnn_deploy.conversion.onnx_ops.layout import align4, is_per_channel, onnx_attrs, onnx_opset
from bnn_deploy.conversion.onnx_ops.naming import node_label
from bnn_deploy.conversion.pixel_shuffle import crd_to_dcr_permutation, permute_channels

__all__ = [
    "OUTPUT_KEY",
    "RebuiltGraph",
    "ShufflePlan",
    "UnsupportedOnnxOp",
    "check_supported",
    "deploy_onnx",
    "fold_onnx",
    "node_label",
    "plan_pixel_shuffles",
    "rebuild_tf",
    "run_tf",
    "save_saved_model",
]

OUTPUT_KEY = "sr"
_NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial"}

# ---------------------------------------------------------------- graph view


def _constant_value(node) -> np.ndarray | None:
    from onnx import helper, numpy_helper

    for a in node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name in ("value_float", "value_int"):
            return np.array(helper.get_attribute_value(a), dtype=np.float32 if a.name == "value_float" else np.int64)
        if a.name in ("value_floats", "value_ints"):
            dtype = np.float32 if a.name == "value_floats" else np.int64
            return np.array(list(helper.get_attribute_value(a)), dtype=dtype)
    return None


# ---------------------------------------------------------------- 1. constant folding


def _fix_input_shape(model, input_hw: tuple[int, int]) -> tuple[str, int]:
    """Set the single image input to ``[1, C, H, W]``; return its name and channel count."""
    from bnn_deploy.conversion.onnx_pattern import graph_inputs

    inp = graph_inputs(model)[0]
    dims = inp.type.tensor_type.shape.dim
    channels = dims[1].dim_value if dims[1].HasField("dim_value") else 3
    for dim, value in zip(dims, (1, channels, *input_hw), strict=False):
        dim.Clear()
        dim.dim_value = int(value)
    return inp.name, channels


def _static_shapes(model) -> dict[str, list[int]]:
    """Fully static shapes of the graph's tensors by ONNX shape inference (with data propagation)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # inference is a helper here; unknown shapes simply stay unfolded
        return {}
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if vi.type.HasField("tensor_type") and all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = [int(d.dim_value) for d in dims]
    return shapes


def _evaluate(node, values: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
    """Run one node on constant inputs with ONNX's reference evaluator (the spec's semantics)."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    if node.op_type == "Identity":
        return [values[0]]
    names = [n for n in node.input if n]
    inputs = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
        for n, v in zip(node.input, values, strict=False)
        if n
    ]
    outputs = [helper.make_empty_tensor_value_info(o) for o in node.output if o]
    graph = helper.make_graph([node], "fold", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    feeds = {n: v for n, v in zip(node.input, values, strict=False) if n}
    result = ReferenceEvaluator(model).run(None, {n: feeds[n] for n in names})
    return [np.asarray(r) for r in result]


def fold_onnx(onnx_model, input_hw: tuple[int, int]):
    """A copy of ``onnx_model`` at input ``[1, C, H, W]`` with every constant-computable node folded.

    Folded: ``Constant`` nodes, ``Identity`` of initializers, any node whose inputs are all
    constants (evaluated by ONNX's reference implementation) and ``Shape`` of a tensor whose shape
    is static at this input size — then whatever that makes constant, until nothing changes.
    Folded values become initializers; unused initializers are dropped.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(onnx_model)
    _fix_input_shape(model, input_hw)
    graph = model.graph
    del graph.value_info[:]
    for out in graph.output:  # declared symbolic output dims could contradict the fixed input
        out.type.tensor_type.ClearField("shape")
    opset = onnx_opset(model)
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    nodes = list(graph.node)
    while True:
        needs_shapes = any(n.op_type in ("Shape", "Size") for n in nodes)
        shapes = _static_shapes(_with_nodes(model, nodes, consts)) if needs_shapes else {}
        kept, changed = [], False
        for node in nodes:
            values = _fold_node(node, consts, shapes, opset)
            if values is None:
                kept.append(node)
                continue
            consts.update({name: value for name, value in zip(node.output, values, strict=False) if name})
            changed = True
        nodes = kept
        if not changed:
            break
    return _with_nodes(model, nodes, consts)


def _fold_node(node, consts: dict, shapes: dict, opset: int) -> list[np.ndarray] | None:
    """The node's output values if it can be folded now, else None."""
    if node.domain not in ("", "ai.onnx") or node.op_type in _NO_FOLD:
        return None
    if node.op_type == "Constant":
        value = _constant_value(node)
        return None if value is None else [value]
    if node.op_type == "Shape" and node.input[0] in shapes:
        attrs = onnx_attrs(node)
        shape = shapes[node.input[0]]
        start, end = attrs.get("start", 0), attrs.get("end", len(shape))
        return [np.array(shape[start:end], dtype=np.int64)]
    if node.op_type == "Size" and node.input[0] in shapes:
        return [np.array(int(np.prod(shapes[node.input[0]])), dtype=np.int64)]
    real_inputs = [n for n in node.input if n]
    if not real_inputs or not all(n in consts for n in real_inputs):
        return None
    values = [consts[n] if n else None for n in node.input]
    return _evaluate(node, values, opset)


def _with_nodes(model, nodes, consts: dict):
    """``model`` with graph nodes ``nodes`` and the constants they (or outputs) still read."""
    import onnx
    from onnx import numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input if name} | {o.name for o in graph.output}
    # Old exports list initializers as graph inputs too; those are constants, not inputs.
    real_inputs = [inp for inp in graph.input if inp.name not in consts]
    del graph.input[:]
    graph.input.extend(real_inputs)
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(np.asarray(v), name) for name, v in consts.items() if name in used)
    return out


# ---------------------------------------------------------------- 2. pixel-shuffle planning


@dataclass
class ShufflePlan:
    """How one CRD ``DepthToSpace`` is rebuilt: ``permuted`` into ``conv`` or ``exact`` (with why)."""

    node: str
    factor: int
    how: str
    conv: str | None = None
    reason: str = ""


_CHANNELWISE_UNARY = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Identity", "Neg", "Abs", "Dropout", "Clip"}
_CHANNELWISE_BINARY = {"Add", "Sub", "Mul", "Div"}


def plan_pixel_shuffles(onnx_model) -> tuple[dict, dict[int, ShufflePlan]]:
    """Plan every CRD DepthToSpace: ``(overrides, plans)``.

    ``overrides[(node index, input index)]`` is a permuted copy of a constant input (the conv's
    weight/bias along O, per-channel constants along C) — copies, because exporters share equal
    initializers between layers. ``plans[node index]`` says how each CRD shuffle is emitted.
    """
    from onnx import numpy_helper

    graph = onnx_model.graph
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    producers = {out: (i, node) for i, node in enumerate(graph.node) for out in node.output}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    graph_outputs = {o.name for o in graph.output}
    overrides: dict[tuple[int, int], np.ndarray] = {}
    plans: dict[int, ShufflePlan] = {}
    for index, node in enumerate(graph.node):
        if node.op_type != "DepthToSpace" or onnx_attrs(node).get("mode", "DCR") != "CRD":
            continue
        factor = int(onnx_attrs(node)["blocksize"])
        label = node_label(node, index)
        found = _walk_to_conv(node.input[0], producers, consumers, consts, graph_outputs)
        if isinstance(found, str):
            plans[index] = ShufflePlan(label, factor, "exact", reason=found)
            continue
        conv_index, steps = found
        conv = graph.node[conv_index]
        out_channels = consts[conv.input[1]].shape[0]
        perm = crd_to_dcr_permutation(out_channels // (factor * factor), factor)
        overrides[(conv_index, 1)] = permute_channels(consts[conv.input[1]], perm, axis=0)
        if len(conv.input) > 2 and conv.input[2]:
            overrides[(conv_index, 2)] = permute_channels(consts[conv.input[2]], perm, axis=0)
        for node_index, input_index, value in steps:
            overrides[(node_index, input_index)] = (
                permute_channels(align4(value), perm, axis=1)
                if value.ndim != 1
                else permute_channels(value, perm, axis=0)
            )
        plans[index] = ShufflePlan(label, factor, "permuted", conv=node_label(conv, conv_index))
    return overrides, plans


def _walk_to_conv(tensor: str, producers, consumers, consts, graph_outputs):
    """Follow channel-wise ops back from a shuffle to its conv: ``(conv index, constant steps)`` or why not.

    Every tensor on the way must have this one consumer (else the reordering would leak to another
    reader) and every constant must be a scalar or per-channel.
    """
    steps = []
    while True:
        if consumers.get(tensor, 0) != 1 or tensor in graph_outputs:
            return f"tensor {tensor!r} before the shuffle is also read elsewhere"
        if tensor not in producers:
            return "the shuffle reads the graph input"
        index, node = producers[tensor]
        op = node.op_type
        if op == "Conv":
            attrs = onnx_attrs(node)
            if int(attrs.get("group", 1)) != 1 or node.input[1] not in consts:
                return f"conv {node.name!r} is grouped or has non-constant weights"
            if len(node.input) > 2 and node.input[2] and node.input[2] not in consts:
                return f"conv {node.name!r} has a non-constant bias"
            return index, steps
        if op == "PRelu" and node.input[1] in consts and is_per_channel(consts[node.input[1]]):
            steps.append((index, 1, consts[node.input[1]]))
            tensor = node.input[0]
        elif op in _CHANNELWISE_BINARY:
            live = [i for i, name in enumerate(node.input) if name not in consts]
            const = [i for i, name in enumerate(node.input) if name in consts]
            if len(live) != 1 or not all(is_per_channel(consts[node.input[i]]) for i in const):
                return f"{op} {node.name!r} between the conv and the shuffle mixes channels or activations"
            steps += [(index, i, consts[node.input[i]]) for i in const]
            tensor = node.input[live[0]]
        elif op in _CHANNELWISE_UNARY and all(n in consts for n in node.input[1:] if n):
            tensor = node.input[0]
        else:
            return f"{op} {node.name!r} between the conv and the shuffle cannot be reordered"


# ---------------------------------------------------------------- 3. emission


@dataclass
class RebuiltGraph:
    """The TF rebuild of one ONNX graph at one input size.

    ``module.serve(lr)`` maps NHWC ``[1, H, W, C]`` to ``{"sr": NHWC}``; every TF op in it is named
    ``<where>/<what>/...`` after the ONNX node it rebuilds (:mod:`bnn_deploy.conversion.onnx_ops.naming`).
    ``binary_layers`` maps, per binary conv, the TF op that ends it (its last folded per-channel op,
    e.g. the bias Add, else the conv: the name LCE puts first on the ``LceBconv2d``) to its ONNX node
    name; ``sign_fed_float`` lists convs that read a sign but are not binary (name → reason);
    ``shuffles`` how each pixel shuffle was rebuilt.
    """

    module: object
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]
    binary_layers: dict[str, str]
    sign_fed_float: dict[str, str]
    shuffles: list[ShufflePlan]
    conv_count: int
    notes: list[str] = field(default_factory=list)
    fold: object = None  # the FoldReport when the float glue was folded (bnn_deploy.conversion.fold)

    @property
    def scale(self) -> int:
        """Output height / input height."""
        return self.output_shape[1] // self.input_shape[1]


def check_supported(onnx_model, where: str = "model") -> None:
    """Raise :class:`UnsupportedOnnxOp` naming every node whose op has no registered lowering.

    Runs before tracing, so one message lists every unsupported op at once; the list of supported
    ops it prints is the registry's (:func:`bnn_deploy.conversion.onnx_ops.supported_ops`).
    """
    supported = supported_ops()
    bad = [
        (node_label(n, i), n.op_type, n.domain)
        for i, n in enumerate(onnx_model.graph.node)
        if n.op_type not in supported or n.domain not in ("", "ai.onnx")
    ]
    if not bad:
        return
    shown = ", ".join(f"{op}{f' ({dom})' if dom else ''} at {name!r}" for name, op, dom in bad[:6])
    more = f" and {len(bad) - 6} more" if len(bad) > 6 else ""
    raise UnsupportedOnnxOp(
        f"{where}: unsupported ONNX op {shown}{more} (after constant folding); the LCE route supports "
        f"{', '.join(supported)} — replace those layers or export them with supported ops",
        [(name, op, dom) for name, op, dom in bad],
    )


def deploy_onnx(onnx_model, input_hw: tuple[int, int], *, where: str = "model", fold: bool = False):
    """The ONNX graph :func:`rebuild_tf` lowers: constants folded at ``input_hw``, every op supported,
    and with ``fold`` the float glue around the binary convs folded (:func:`bnn_deploy.conversion.fold.fold_glue`).

    Returns ``(graph, FoldReport or None)``.
    """
    folded = fold_onnx(onnx_model, input_hw)
    check_supported(folded, where)
    if not fold:
        return folded, None
    from bnn_deploy.conversion.fold import fold_glue

    return fold_glue(folded)


def rebuild_tf(
    onnx_model, input_hw: tuple[int, int], *, where: str = "model", fold: bool = False, fake_quant: dict | None = None
) -> RebuiltGraph:
    """Rebuild ``onnx_model`` (any batch/size) as a TF module at input ``[1, C, *input_hw]`` (NCHW).

    ``where`` names the source in error messages. With ``fold``, the float glue around the binary
    convs is folded first (exact up to float rounding; :func:`deploy_onnx`). ``fake_quant``:
    ``{tensor of the deployed graph: (min, max)}`` puts an 8-bit fake-quant node on each of those
    tensors, which the LCE converter turns into int8 tensors (``lce-int8``,
    :mod:`bnn_deploy.conversion.int8`). Raises :class:`UnsupportedOnnxOp` naming every op that
    cannot be rebuilt.
    """
    from bnn_deploy.conversion.onnx_pattern import find_convs
    from bnn_deploy.core.tf import tensorflow

    tf = tensorflow()
    folded, fold_report = deploy_onnx(onnx_model, input_hw, where=where, fold=fold)
    matches = find_convs(folded)
    overrides, plans = plan_pixel_shuffles(folded)
    input_name, channels = _input_info(folded)
    ctx = LoweringContext(tf, folded, matches, overrides, plans, where, fake_quant)
    input_shape = (1, int(input_hw[0]), int(input_hw[1]), int(channels))

    class SRModule(tf.Module):
        # autograph off: the lowerings are plain Python over a fixed graph, nothing to convert.
        @tf.function(input_signature=[tf.TensorSpec(input_shape, tf.float32, name="lr")], autograph=False)
        def serve(self, lr):
            return {OUTPUT_KEY: tf.identity(ctx.run(lr, input_name), name=OUTPUT_KEY)}

    module = SRModule()
    concrete = module.serve.get_concrete_function()  # trace once: fixes shapes, surfaces errors now
    output_shape = tuple(int(d) for d in concrete.structured_outputs[OUTPUT_KEY].shape)
    sign_fed_float = {m.name: m.reason for m in matches if not m.is_binary and m.sign_op}
    notes = [
        f"pixel shuffle {p.node}: exact reshape/transpose because {p.reason}"
        for p in plans.values()
        if p.how == "exact"
    ]
    if fold_report is not None:
        notes += fold_report.notes
    return RebuiltGraph(
        module=module,
        input_shape=input_shape,
        output_shape=output_shape,
        binary_layers=dict(ctx.binary_layers),
        sign_fed_float=sign_fed_float,
        shuffles=list(plans.values()),
        conv_count=len(matches),
        notes=notes,
        fold=fold_report,
    )


def _input_info(folded) -> tuple[str, int]:
    from bnn_deploy.conversion.onnx_pattern import graph_inputs

    inp = graph_inputs(folded)[0]
    return inp.name, int(inp.type.tensor_type.shape.dim[1].dim_value)


def save_saved_model(rebuilt: RebuiltGraph, directory: str | os.PathLike) -> str:
    """Write the module as a SavedModel with its one fixed-shape ``serving_default`` signature."""
    from bnn_deploy.core.tf import tensorflow

    tf = tensorflow()
    directory = os.fspath(directory)
    tf.saved_model.save(rebuilt.module, directory, signatures={"serving_default": rebuilt.module.serve})
    return directory


def run_tf(rebuilt: RebuiltGraph, nchw: np.ndarray) -> np.ndarray:
    """Run the TF rebuild itself on an NCHW image (a debugging view between ONNX and TFLite)."""
    out = rebuilt.module.serve(np.ascontiguousarray(nchw.transpose(0, 2, 3, 1), dtype=np.float32))
    return out[OUTPUT_KEY].numpy().transpose(0, 3, 1, 2)
