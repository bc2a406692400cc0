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
3. :func:`rebuild_tf` — emit TF ops node by node. Activations are NHWC; a constant combined with an
   activation is right-aligned to rank 4 (ONNX broadcasting) and transposed to NHWC, so
   ``[1, C, 1, 1] → [1, 1, 1, C]``. Binary convs (``find_convs``) become
   ``tf.where(x >= t, 1., -1.)`` feeding ``tf.nn.conv2d`` with the ±α HWIO constant and
   ``padding="SAME"`` for zero pads of k//2 (LCE's same-zero, exact on the arm target) — never an
   explicit ``tf.pad``, which LCE would leave as a float op between sign and conv.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.conversion.pixel_shuffle import (crd_to_dcr_permutation, depth_to_space_crd_exact,
                                                permute_channels)

OUTPUT_KEY = "sr"
_NCHW_TO_NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}
_NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial"}


class UnsupportedOnnxOp(BnnDeployError):
    """An ONNX node the LCE route cannot rebuild; ``nodes`` lists ``(node name, op type, detail)``."""

    def __init__(self, message: str, nodes: list[tuple[str, str, str]]):
        super().__init__(message)
        self.nodes = nodes


# ---------------------------------------------------------------- graph view


def node_label(node, index: int) -> str:
    """A node's name, or ``<OpType>_<index>`` for unnamed nodes (common in third-party files)."""
    return node.name or f"{node.op_type}_{index}"


def _attrs(node) -> dict:
    from onnx import helper

    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out


def _opset(model) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return 1


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
    for dim, value in zip(dims, (1, channels, *input_hw)):
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
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for n, v in zip(node.input, values) if n]
    outputs = [helper.make_empty_tensor_value_info(o) for o in node.output if o]
    graph = helper.make_graph([node], "fold", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    feeds = {n: v for n, v in zip(node.input, values) if n}
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
    opset = _opset(model)
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
            consts.update({name: value for name, value in zip(node.output, values) if name})
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
        attrs = _attrs(node)
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
    graph.initializer.extend(numpy_helper.from_array(np.asarray(v), name) for name, v in consts.items()
                             if name in used)
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


def _align4(value: np.ndarray) -> np.ndarray:
    """A constant right-aligned to rank 4 (ONNX broadcasting against an NCHW tensor)."""
    value = np.asarray(value)
    if value.ndim > 4:
        raise ValueError(f"constant of rank {value.ndim}")
    return value.reshape((1,) * (4 - value.ndim) + value.shape)


def _is_per_channel(value: np.ndarray) -> bool:
    """True for scalars and constants varying only along NCHW axis 1."""
    if np.ndim(value) > 4:
        return False
    shape = _align4(value).shape
    return shape[0] == 1 and shape[2] == 1 and shape[3] == 1


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
        if node.op_type != "DepthToSpace" or _attrs(node).get("mode", "DCR") != "CRD":
            continue
        factor = int(_attrs(node)["blocksize"])
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
            overrides[(node_index, input_index)] = permute_channels(_align4(value), perm, axis=1) \
                if value.ndim != 1 else permute_channels(value, perm, axis=0)
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
            attrs = _attrs(node)
            if int(attrs.get("group", 1)) != 1 or node.input[1] not in consts:
                return f"conv {node.name!r} is grouped or has non-constant weights"
            if len(node.input) > 2 and node.input[2] and node.input[2] not in consts:
                return f"conv {node.name!r} has a non-constant bias"
            return index, steps
        if op == "PRelu" and node.input[1] in consts and _is_per_channel(consts[node.input[1]]):
            steps.append((index, 1, consts[node.input[1]]))
            tensor = node.input[0]
        elif op in _CHANNELWISE_BINARY:
            live = [i for i, name in enumerate(node.input) if name not in consts]
            const = [i for i, name in enumerate(node.input) if name in consts]
            if len(live) != 1 or not all(_is_per_channel(consts[node.input[i]]) for i in const):
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

    ``module.serve(lr)`` maps NHWC ``[1, H, W, C]`` to ``{"sr": NHWC}``. ``binary_layers`` maps the TF
    op name of every binary conv to its ONNX node name; ``sign_fed_float`` lists convs that read a
    sign but are not binary (name → reason); ``shuffles`` how each pixel shuffle was rebuilt.
    """

    module: object
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]
    binary_layers: dict[str, str]
    sign_fed_float: dict[str, str]
    shuffles: list[ShufflePlan]
    conv_count: int
    notes: list[str] = field(default_factory=list)

    @property
    def scale(self) -> int:
        """Output height / input height."""
        return self.output_shape[1] // self.input_shape[1]


# Every op type the emitter handles; anything else is reported by name before tracing.
SUPPORTED_OPS = (
    "Add", "Sub", "Mul", "Div", "Max", "Min", "Where", "GreaterOrEqual", "Greater", "LessOrEqual", "Less",
    "Equal", "Sign", "PRelu", "LeakyRelu", "Relu", "Sigmoid", "Tanh", "Neg", "Abs", "Clip", "Conv",
    "BatchNormalization", "DepthToSpace", "SpaceToDepth", "Resize", "ReduceMean", "ReduceMax",
    "GlobalAveragePool", "GlobalMaxPool", "Concat", "Pad", "Identity", "Dropout", "Cast",
)


def check_supported(onnx_model, where: str = "model") -> None:
    """Raise :class:`UnsupportedOnnxOp` naming every node whose op the rebuild does not handle."""
    bad = [(node_label(n, i), n.op_type, n.domain) for i, n in enumerate(onnx_model.graph.node)
           if n.op_type not in SUPPORTED_OPS or n.domain not in ("", "ai.onnx")]
    if not bad:
        return
    shown = ", ".join(f"{op}{f' ({dom})' if dom else ''} at {name!r}" for name, op, dom in bad[:6])
    more = f" and {len(bad) - 6} more" if len(bad) > 6 else ""
    raise UnsupportedOnnxOp(
        f"{where}: unsupported ONNX op {shown}{more} (after constant folding); the LCE route supports "
        f"{', '.join(sorted(SUPPORTED_OPS))} — replace those layers or export them with supported ops",
        [(name, op, dom) for name, op, dom in bad])


def _tf_name(label: str, used: set[str]) -> str:
    """A valid, unique TF op name for an ONNX node (TF allows [A-Za-z0-9_.\\-/], no leading '/')."""
    name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", label).strip("/") or "node"
    name = re.sub(r"/+", "/", name)
    if not re.match(r"[A-Za-z0-9.]", name):
        name = "n" + name
    base, i = name, 1
    while name in used:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name


class _Emitter:
    """Walks the folded graph inside a TF trace; one method per ONNX op family."""

    def __init__(self, tf, onnx_model, matches, overrides, plans, where: str):
        from onnx import numpy_helper

        self.tf, self.where = tf, where
        self.graph = onnx_model.graph
        self.opset = _opset(onnx_model)
        self.consts = {init.name: numpy_helper.to_array(init) for init in self.graph.initializer}
        self.overrides, self.plans = overrides, plans
        self.binary = {m.output: m for m in matches if m.is_binary}  # keyed by the conv's output tensor
        # The tensor each binary conv reads (before any zero Pad) → its match: emitted as LCE's sign.
        self.sign_outputs = {}
        producers = {out: node for node in self.graph.node for out in node.output}
        for m in self.binary.values():
            signed = producers[m.input].input[0] if m.pad_node else m.input
            self.sign_outputs[signed] = m
        self.used_names: set[str] = set()
        self.binary_layers: dict[str, str] = {}

    # -- values

    def value(self, name: str, node_index: int, input_index: int, values: dict):
        """Input ``input_index`` of a node: its permuted override, a constant, or a TF tensor."""
        if (node_index, input_index) in self.overrides:
            return self.overrides[(node_index, input_index)]
        if name in self.consts:
            return self.consts[name]
        return values[name]

    def nhwc(self, value):
        """A TF operand in NHWC: tensors pass through, constants are aligned and transposed."""
        if isinstance(value, np.ndarray) or np.isscalar(value):
            arr = np.asarray(value)
            if arr.ndim == 0:
                return self.tf.constant(arr.astype(np.float32) if arr.dtype == np.float64 else arr)
            arr = _align4(arr).transpose(0, 2, 3, 1)
            # Drop leading 1s ([1, 1, 1, C] → [C]; broadcasting is unchanged): LCE fuses an add after
            # a bconv as its post-activation bias, and its kernel rejects a bias that is not 1-D.
            while arr.ndim > 1 and arr.shape[0] == 1:
                arr = arr[0]
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            return self.tf.constant(np.ascontiguousarray(arr))
        return value

    def fail(self, label: str, op: str, detail: str):
        raise UnsupportedOnnxOp(f"{self.where}: ONNX {op} at {label!r} is not supported here: {detail}; "
                                "export that layer differently", [(label, op, detail)])

    # -- the walk

    def run(self, x, input_name: str):
        # Names restart with every trace, so the saved graph carries the names recorded here.
        self.used_names, self.binary_layers = set(), {}
        values = {input_name: x}
        for index, node in enumerate(self.graph.node):
            label = node_label(node, index)
            ins = [self.value(n, index, i, values) if n else None for i, n in enumerate(node.input)]
            outs = self.emit(node, index, label, ins, values)
            for name, out in zip(node.output, outs):
                if name:
                    if not isinstance(out, np.ndarray) and out.shape.rank != 4:
                        self.fail(label, node.op_type, f"it yields a rank-{out.shape.rank} activation; "
                                  "only 4-D NCHW activations are supported")
                    values[name] = out
        return values[self.graph.output[0].name]

    def emit(self, node, index: int, label: str, ins: list, values: dict) -> list:
        tf, op, attrs = self.tf, node.op_type, _attrs(node)
        if node.output[0] in self.sign_outputs:
            return [self.binary_sign(self.sign_outputs[node.output[0]], values)]
        if op in ("Identity", "Dropout"):
            return [ins[0]]
        if op == "Cast":
            return [tf.cast(ins[0], tf.float32)] if attrs.get("to") == 1 else self.fail(
                label, op, "only casts to float32 of activations are supported")
        if op in _ELEMENTWISE:
            return [_ELEMENTWISE[op](tf)(self.nhwc(ins[0]), self.nhwc(ins[1]))]
        if op == "Where":
            return [tf.where(self.nhwc(ins[0]), self.nhwc(ins[1]), self.nhwc(ins[2]))]
        if op == "Sign":
            return [tf.sign(ins[0])]  # a float sign (0 → 0), not feeding a binary conv
        if op in _UNARY:
            return [_UNARY[op](tf)(ins[0])]
        if op == "LeakyRelu":
            return [tf.nn.leaky_relu(ins[0], alpha=float(attrs.get("alpha", 0.01)))]
        if op == "PRelu":
            return [self.prelu(ins[0], np.asarray(ins[1]))]
        if op == "Clip":
            return [self.clip(ins, attrs)]
        if op == "Conv":
            return [self.conv(node, index, label, ins, attrs, values)]
        if op == "BatchNormalization":
            return [self.batch_norm(ins, attrs)]
        if op == "DepthToSpace":
            return [self.depth_to_space(index, label, ins[0], attrs)]
        if op == "SpaceToDepth":
            return [tf.nn.space_to_depth(ins[0], int(attrs["blocksize"]))]
        if op == "Resize":
            return [self.resize(label, ins, attrs)]
        if op in ("ReduceMean", "ReduceMax"):
            return [self.reduce(label, op, ins, attrs)]
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            fn = tf.reduce_mean if op == "GlobalAveragePool" else tf.reduce_max
            return [fn(ins[0], axis=[1, 2], keepdims=True)]
        if op == "Concat":
            axis = _NCHW_TO_NHWC_AXIS[int(attrs["axis"]) % 4]
            return [tf.concat([self.nhwc(v) for v in ins], axis=axis)]
        if op == "Pad":
            return [self.pad(label, ins, attrs)]
        self.fail(label, op, "no TF rebuild for this op")

    # -- op families

    def binary_sign(self, match, values: dict):
        """LCE's sign: ``+1 where x >= t else -1`` as ``tf.where`` (LceQuantize; x >= t → SUB first)."""
        tf = self.tf
        x = values[match.sign_input] if match.sign_input in values else self.nhwc(self.consts[match.sign_input])
        t = np.asarray(match.sign_threshold, dtype=np.float32)
        threshold = tf.constant(t) if t.ndim == 0 or t.size == 1 else tf.constant(t.reshape(-1))
        return tf.where(tf.greater_equal(x, threshold), tf.constant(1.0), tf.constant(-1.0))

    def prelu(self, x, slope: np.ndarray):
        """``x >= 0 ? x : a·x``. One slope → LEAKY_RELU; per-channel slopes in the form TFLite fuses
        into PRELU: ``relu(x) + relu(-x)·(-a)`` with ``a`` shaped [1, 1, C] (exact: both terms are
        exact products/zeros)."""
        tf = self.tf
        if slope.size == 1:
            return tf.nn.leaky_relu(x, alpha=float(slope.reshape(())))
        if _is_per_channel(slope):
            neg = tf.constant((-slope.reshape(-1)).astype(np.float32).reshape(1, 1, -1))
        else:
            neg = -self.nhwc(slope)
        return tf.nn.relu(x) + tf.nn.relu(-x) * neg

    def clip(self, ins, attrs):
        if self.opset >= 11:
            lo = None if len(ins) < 2 or ins[1] is None else float(np.asarray(ins[1]).reshape(()))
            hi = None if len(ins) < 3 or ins[2] is None else float(np.asarray(ins[2]).reshape(()))
        else:
            lo, hi = attrs.get("min"), attrs.get("max")
        x = ins[0]
        if lo is not None:
            x = self.tf.maximum(x, lo)
        if hi is not None:
            x = self.tf.minimum(x, hi)
        return x

    def conv(self, node, index: int, label: str, ins, attrs, values: dict):
        """ONNX Conv → ``tf.nn.conv2d``/depthwise/grouped with HWIO constants, named after the node."""
        tf = self.tf
        weight = ins[1]
        if not isinstance(weight, np.ndarray) or weight.ndim != 4:
            self.fail(label, "Conv", "only 2-D convolutions with constant weights are supported")
        bias = ins[2] if len(ins) > 2 else None
        match = self.binary.get(node.output[0])
        x = ins[0]
        if match is not None:
            pads = match.pads  # sign → (zero Pad) → Conv: all zeros around the signed tensor
            if match.pad_node:
                x = values[self.sign_output_of(match)]
        else:
            pads = self.conv_pads(attrs, weight.shape[2:], x.shape[1:3])
        strides = [int(s) for s in attrs.get("strides", (1, 1))]
        dilations = [int(d) for d in attrs.get("dilations", (1, 1))]
        padding = self.tf_padding(pads, weight.shape[2:], x.shape[1:3], strides, dilations)
        group = int(attrs.get("group", 1))
        # Short op names: the converter joins the names of fused ops and cuts them at ~50
        # characters, so long ONNX paths would not survive into the flatbuffer.
        if match is not None:
            name = _tf_name(f"bconv{len(self.binary_layers)}", self.used_names)
            self.binary_layers[name] = match.name
        else:
            name = _tf_name(f"conv{len(self.used_names) - len(self.binary_layers)}", self.used_names)
        y = self.grouped_conv(x, weight, group, strides, dilations, padding, name)
        if bias is not None:
            y = tf.nn.bias_add(y, tf.constant(np.asarray(bias, dtype=np.float32)))
        return y

    def sign_output_of(self, match) -> str:
        for tensor, m in self.sign_outputs.items():
            if m is match:
                return tensor
        raise KeyError(match.name)

    def grouped_conv(self, x, weight, group, strides, dilations, padding, name):
        tf = self.tf
        out_ch, in_per_group = weight.shape[:2]
        in_ch = int(x.shape[-1])
        hwio = np.ascontiguousarray(weight.transpose(2, 3, 1, 0).astype(np.float32))
        if group == 1:
            return tf.nn.conv2d(x, tf.constant(hwio), strides=strides, padding=padding,
                                dilations=dilations, name=name)
        if group == in_ch and in_per_group == 1:
            # Depthwise: ONNX output o = c·m + j reads input c; TF depthwise filter [kh, kw, C, m].
            mult = out_ch // in_ch
            dw = weight.reshape(in_ch, mult, *weight.shape[2:]).transpose(2, 3, 0, 1).astype(np.float32)
            return tf.nn.depthwise_conv2d(x, tf.constant(np.ascontiguousarray(dw)), strides=[1, *strides, 1],
                                          padding=padding, dilations=dilations, name=name)
        xs = tf.split(x, group, axis=-1)
        ws = np.split(hwio, group, axis=-1)
        return tf.concat([tf.nn.conv2d(xi, tf.constant(np.ascontiguousarray(wi)), strides=strides,
                                       padding=padding, dilations=dilations)
                          for xi, wi in zip(xs, ws)], axis=-1, name=name)

    @staticmethod
    def conv_pads(attrs, kernel, in_hw) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)`` from ``pads``/``auto_pad``."""
        auto = attrs.get("auto_pad", "NOTSET")
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            strides = attrs.get("strides", (1, 1))
            dil = attrs.get("dilations", (1, 1))
            split = []
            for size, k, s, d in zip(in_hw, kernel, strides, dil):
                out = -(-int(size) // s)
                total = max((out - 1) * s + (k - 1) * d + 1 - int(size), 0)
                small = total // 2
                split.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
            return (split[0][0], split[1][0], split[0][1], split[1][1])
        if auto == "VALID":
            return (0, 0, 0, 0)
        p = [int(v) for v in attrs.get("pads", (0, 0, 0, 0))]
        return (p[0], p[1], p[2], p[3])

    @staticmethod
    def tf_padding(pads, kernel, in_hw, strides, dilations):
        """``"VALID"``/``"SAME"`` when the pads equal TF's, else explicit NHWC pads.

        Binary convs must come out as SAME/VALID: LCE fuses those (same-zero on arm) but not
        explicit padding.
        """
        if tuple(pads) == (0, 0, 0, 0):
            return "VALID"
        same = []
        for size, k, s, d in zip(in_hw, kernel, strides, dilations):
            out = -(-int(size) // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - int(size), 0)
            same.append((total // 2, total - total // 2))
        if tuple(pads) == (same[0][0], same[1][0], same[0][1], same[1][1]):
            return "SAME"
        top, left, bottom, right = pads
        return [[0, 0], [top, bottom], [left, right], [0, 0]]

    def batch_norm(self, ins, attrs):
        """Inference BN as ``x·m + (B − mean·m)``, ``m = scale / sqrt(var + eps)``."""
        scale, bias, mean, var = (np.asarray(v, dtype=np.float64) for v in ins[1:5])
        m = scale / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
        shift = bias - mean * m
        return ins[0] * self.nhwc(m.reshape(1, -1, 1, 1)) + self.nhwc(shift.reshape(1, -1, 1, 1))

    def depth_to_space(self, index: int, label: str, x, attrs):
        tf = self.tf
        factor, mode = int(attrs["blocksize"]), attrs.get("mode", "DCR")
        if mode == "DCR":
            return tf.nn.depth_to_space(x, factor)
        plan = self.plans[index]
        if plan.how == "permuted":  # the channels were reordered upstream (plan_pixel_shuffles)
            return tf.nn.depth_to_space(x, factor)
        return depth_to_space_crd_exact(tf, x, factor)

    def resize(self, label: str, ins, attrs):
        """ONNX Resize → TF resize ops with the same sampling grid (see the mode table below)."""
        tf = self.tf
        x = ins[0]
        n, h, w, c = (int(d) for d in x.shape)
        sizes = ins[3] if len(ins) > 3 and ins[3] is not None and np.size(ins[3]) else None
        scales = ins[2] if len(ins) > 2 and ins[2] is not None and np.size(ins[2]) else None
        if self.opset < 11 and len(ins) == 2:
            scales = ins[1]
        if sizes is not None:
            out_h, out_w = (int(v) for v in np.asarray(sizes)[2:4])
            if [int(v) for v in np.asarray(sizes)[:2]] != [n, c]:
                self.fail(label, "Resize", "resizing batch or channels")
        elif scales is not None:
            sc = [float(v) for v in np.asarray(scales)]
            if sc[:2] != [1.0, 1.0]:
                self.fail(label, "Resize", "resizing batch or channels")
            out_h, out_w = int(np.floor(h * sc[2])), int(np.floor(w * sc[3]))
        else:
            self.fail(label, "Resize", "neither constant scales nor sizes")
        mode = attrs.get("mode", "nearest")
        # Opset 10's Resize had no coordinate mode: it sampled asymmetrically.
        coord = attrs.get("coordinate_transformation_mode", "half_pixel" if self.opset >= 11 else "asymmetric")
        size = [out_h, out_w]
        if mode == "linear":
            # half_pixel (PyTorch align_corners=False) ⇔ TF2 resize bilinear without antialias.
            if coord in ("half_pixel", "pytorch_half_pixel") and min(out_h, out_w) > 1:
                return tf.image.resize(x, size, method="bilinear", antialias=False)
            if coord == "align_corners":
                return tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=True)
            if coord == "asymmetric":
                return tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=False,
                                                 half_pixel_centers=False)
        if mode == "nearest":
            nearest = attrs.get("nearest_mode", "round_prefer_floor")
            # PyTorch's nearest: src = floor(dst · in/out) = asymmetric + floor.
            if coord == "asymmetric" and nearest == "floor":
                return tf.raw_ops.ResizeNearestNeighbor(images=x, size=size, align_corners=False,
                                                        half_pixel_centers=False)
        rounding = f" and nearest_mode {attrs.get('nearest_mode', 'round_prefer_floor')!r}" if mode == "nearest" else ""
        self.fail(label, "Resize", f"mode {mode!r} with coordinate_transformation_mode {coord!r}{rounding} "
                  "(supported: linear half_pixel/align_corners/asymmetric, nearest asymmetric+floor)")

    def reduce(self, label: str, op: str, ins, attrs):
        tf = self.tf
        if self.opset >= 18 and len(ins) > 1 and ins[1] is not None:
            axes = [int(a) for a in np.asarray(ins[1]).reshape(-1)]
        else:
            axes = [int(a) for a in attrs.get("axes", [0, 1, 2, 3])]
        if not int(attrs.get("keepdims", 1)):
            self.fail(label, op, "keepdims=0 (the result is not a 4-D activation)")
        tf_axes = sorted(_NCHW_TO_NHWC_AXIS[a % 4] for a in axes)
        fn = tf.reduce_mean if op == "ReduceMean" else tf.reduce_max
        return fn(ins[0], axis=tf_axes, keepdims=True)

    def pad(self, label: str, ins, attrs):
        tf = self.tf
        mode = attrs.get("mode", "constant")
        if self.opset >= 11:
            pads = [int(p) for p in np.asarray(ins[1]).reshape(-1)]
            value = 0.0 if len(ins) < 3 or ins[2] is None else float(np.asarray(ins[2]).reshape(()))
            axes = None if len(ins) < 4 or ins[3] is None else [int(a) % 4 for a in np.asarray(ins[3]).reshape(-1)]
        else:
            pads, value, axes = list(attrs["pads"]), float(attrs.get("value", 0.0)), None
        axes = axes or [0, 1, 2, 3]
        begin = dict(zip(axes, pads[:len(axes)]))
        end = dict(zip(axes, pads[len(axes):]))
        if min(pads) < 0:
            self.fail(label, "Pad", "negative pads (cropping)")
        nhwc = [[begin.get(a, 0), end.get(a, 0)] for a in (0, 2, 3, 1)]
        if mode == "constant":
            return tf.pad(ins[0], nhwc, mode="CONSTANT", constant_values=value)
        if mode == "reflect":
            return tf.pad(ins[0], nhwc, mode="REFLECT")
        if mode == "edge" and max(pads) <= 1:
            return tf.pad(ins[0], nhwc, mode="SYMMETRIC")  # one mirrored pixel is the edge pixel
        self.fail(label, "Pad", f"mode {mode!r} with pads {pads}")


_ELEMENTWISE = {
    "Add": lambda tf: tf.add, "Sub": lambda tf: tf.subtract, "Mul": lambda tf: tf.multiply,
    "Div": lambda tf: tf.divide, "Max": lambda tf: tf.maximum, "Min": lambda tf: tf.minimum,
    "GreaterOrEqual": lambda tf: tf.greater_equal, "Greater": lambda tf: tf.greater,
    "LessOrEqual": lambda tf: tf.less_equal, "Less": lambda tf: tf.less, "Equal": lambda tf: tf.equal,
}
_UNARY = {
    "Relu": lambda tf: tf.nn.relu, "Sigmoid": lambda tf: tf.sigmoid, "Tanh": lambda tf: tf.tanh,
    "Neg": lambda tf: tf.negative, "Abs": lambda tf: tf.abs,
}


def rebuild_tf(onnx_model, input_hw: tuple[int, int], *, where: str = "model") -> RebuiltGraph:
    """Rebuild ``onnx_model`` (any batch/size) as a TF module at input ``[1, C, *input_hw]`` (NCHW).

    ``where`` names the source in error messages. Raises :class:`UnsupportedOnnxOp` naming every
    op that cannot be rebuilt.
    """
    from bnn_deploy.core.tf import tensorflow
    from bnn_deploy.conversion.onnx_pattern import find_convs

    tf = tensorflow()
    folded = fold_onnx(onnx_model, input_hw)
    check_supported(folded, where)
    matches = find_convs(folded)
    overrides, plans = plan_pixel_shuffles(folded)
    input_name, channels = _input_info(folded)
    emitter = _Emitter(tf, folded, matches, overrides, plans, where)
    input_shape = (1, int(input_hw[0]), int(input_hw[1]), int(channels))

    class SRModule(tf.Module):
        # autograph off: the emitter is plain Python over a fixed graph, nothing to convert.
        @tf.function(input_signature=[tf.TensorSpec(input_shape, tf.float32, name="lr")], autograph=False)
        def serve(self, lr):
            return {OUTPUT_KEY: tf.identity(emitter.run(lr, input_name), name=OUTPUT_KEY)}

    module = SRModule()
    concrete = module.serve.get_concrete_function()  # trace once: fixes shapes, surfaces errors now
    output_shape = tuple(int(d) for d in concrete.structured_outputs[OUTPUT_KEY].shape)
    sign_fed_float = {m.name: m.reason for m in matches if not m.is_binary and m.sign_op}
    notes = [f"pixel shuffle {p.node}: exact reshape/transpose because {p.reason}"
             for p in plans.values() if p.how == "exact"]
    return RebuiltGraph(module=module, input_shape=input_shape, output_shape=output_shape,
                        binary_layers=dict(emitter.binary_layers), sign_fed_float=sign_fed_float,
                        shuffles=list(plans.values()), conv_count=len(matches), notes=notes)


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
