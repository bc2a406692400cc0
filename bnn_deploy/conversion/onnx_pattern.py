"""The ONNX binary-convolution pattern: the one place that knows how a binary conv looks in ONNX.

ONNX has no binary convolution. A ``Conv`` node is a *binary conv* when (docs/onnx-binary-pattern.md):

1. its data input is a **sign** of a tensor ``x``, directly or through one ``Pad`` (mode constant,
   value 0, spatial axes only), in one of the forms

   * ``Where(GreaterOrEqual(x, t), +1, −1)`` — canonical (bnn-deploy writes it with ``t = 0``):
     ``+1 where x ≥ t else −1``, LCE's sign exactly. ``Greater``/``Less``/``LessOrEqual`` with the
     matching branch order are accepted too and differ only at ``x == t`` (``sign_at_threshold``).
   * ``Sign(x)`` — third-party files; ONNX ``Sign(0) = 0`` where LCE gives +1 (``sign_at_threshold``
     0.0), a difference on the measure-zero set ``x == 0`` only.
   * ``Sign(Add(Sign(x), c))`` with ``0 < c < 1`` (larq / BSRC ``sign(sign(x) + c)``): ``x ≥ 0 → +1``.

   ``t`` is a constant, a scalar or one value per channel. If ``x`` itself is ``Add(u, b)`` or
   ``Sub(u, c)`` with a constant ``b``/``c``, the match also reports the threshold on ``u``:
   ``sign switches at u ≥ t − b`` (resp. ``t + c``); that Add/Sub stays a separate op.
2. its filter ``W`` [O, I, kh, kw] is a constant (initializer or ``Constant`` node) with
   ``|W[o]|`` equal to ``α_o`` within 0.5 % relative (LCE's tolerance), ``α_o > 0``;
3. ``group = 1``, stride 1, dilation 1, and the zero padding on the signed tensor (Conv ``pads``
   plus any zero ``Pad``) is 0 ("valid") or ``k//2`` on every side ("same", LCE's same-zero).

A bias on the Conv is allowed and reported. Anything else is a float conv, with the reason.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bnn_deploy.core.errors import BnnDeployError, first_line

ALPHA_RTOL = 0.005  # LCE accepts a filter as binary when |w| is within 0.5 % of one value per channel


@dataclass
class ConvMatch:
    """One ONNX Conv node and whether it follows the binary-conv pattern.

    ``sign_input``/``sign_threshold``: the sign reads tensor ``sign_input`` and gives +1 where
    ``sign_input >= sign_threshold`` (−1 below; at equality ``sign_at_threshold``: +1 for
    ``GreaterOrEqual``, 0 for ``Sign``). ``threshold``/``threshold_input``/``threshold_node``:
    when ``sign_input`` is a constant ``Add``/``Sub`` of ``threshold_input``, the equivalent
    switch point on ``threshold_input`` (sign is +1 where ``threshold_input >= threshold``).
    Thresholds are a float (scalar) or a 1-D array (one per channel). ``pads`` are ONNX-ordered
    ``(top, left, bottom, right)`` zeros around the signed tensor (Conv ``pads`` plus any ``Pad``).
    """

    name: str
    output: str
    input: str
    weight_name: str
    is_binary: bool = False
    reason: str = ""
    sign_op: str | None = None
    sign_nodes: list[str] = field(default_factory=list)
    sign_input: str | None = None
    sign_threshold: float | np.ndarray | None = None
    sign_at_threshold: float | None = None
    threshold: float | np.ndarray | None = None
    threshold_input: str | None = None
    threshold_node: str | None = None
    alpha: np.ndarray | None = None
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    pad_node: str | None = None
    kernel_shape: tuple[int, ...] = ()
    group: int = 1
    strides: tuple[int, ...] = (1, 1)
    dilations: tuple[int, ...] = (1, 1)
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None


# ---------------------------------------------------------------- loading


def graph_inputs(onnx_model) -> list:
    """The graph's real inputs: ``graph.input`` minus those that are also initializers."""
    inits = {init.name for init in onnx_model.graph.initializer}
    return [inp for inp in onnx_model.graph.input if inp.name not in inits]


def _check_image_input(onnx_model, path: str) -> None:
    """Raise unless the model has exactly one float32 NCHW input with 3 channels (if static)."""
    from onnx import TensorProto

    inputs = graph_inputs(onnx_model)
    if len(inputs) != 1:
        names = ", ".join(repr(i.name) for i in inputs) or "none"
        raise BnnDeployError(
            f"{path} has {len(inputs)} inputs ({names}); bnn-deploy expects one NCHW "
            "image input, re-export the model with a single input"
        )
    inp = inputs[0]
    if not inp.type.HasField("tensor_type"):
        raise BnnDeployError(f"{path} input {inp.name!r} is not a tensor; expects an NCHW image input")
    ttype = inp.type.tensor_type
    if ttype.elem_type != TensorProto.FLOAT:
        raise BnnDeployError(
            f"{path} input {inp.name!r} is {TensorProto.DataType.Name(ttype.elem_type)}, "
            "not float32; re-export the model with a float32 input"
        )
    if not ttype.HasField("shape"):
        raise BnnDeployError(
            f"{path} input {inp.name!r} has no shape; expects an NCHW image input "
            "[N, 3, H, W], re-export with a rank-4 input"
        )
    dims = ttype.shape.dim
    if len(dims) != 4:
        raise BnnDeployError(
            f"{path} input {inp.name!r} has rank {len(dims)}; expects an NCHW image "
            "input [N, 3, H, W], re-export with a rank-4 input"
        )
    if dims[1].HasField("dim_value") and dims[1].dim_value != 3:
        raise BnnDeployError(
            f"{path} input {inp.name!r} has {dims[1].dim_value} channels; expects RGB "
            "[N, 3, H, W], re-export with a 3-channel input"
        )
    outputs = onnx_model.graph.output
    if len(outputs) != 1:
        raise BnnDeployError(
            f"{path} has {len(outputs)} outputs; bnn-deploy expects one SR image "
            "output, re-export the model with a single output"
        )


def load_onnx(path: str | os.PathLike):
    """Load and validate an ONNX SR model; every user-fixable problem is a one-line BnnDeployError.

    Checks: the file exists and parses, tensors kept in external data files name files inside the
    model's folder (:func:`_load_external_data`), ``onnx.checker`` accepts it, it has exactly one input
    (initializers listed as inputs are ignored) of type float32, rank 4 (NCHW) and 3 channels
    when static, and one output.
    """
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise BnnDeployError(f"{path} not found; give the path of an existing .onnx file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise BnnDeployError(f"{path} is not a valid ONNX file: {first_line(exc)}; re-export it") from exc
    if model.ir_version == 0 or not model.graph.node:
        # Protobuf parses many byte strings as a (nearly) empty message instead of failing.
        raise BnnDeployError(f"{path} is not a valid ONNX file: no IR version or no graph nodes; re-export it")
    _load_external_data(model, path)
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as exc:
        raise BnnDeployError(f"{path} is not a valid ONNX file: {first_line(exc)}; re-export it") from exc
    _check_image_input(model, str(path))
    return model


def _tensors(graph):
    """Every TensorProto of ``graph``: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _tensors(sub)


def _load_external_data(model, path: Path) -> None:
    """Read the tensors kept in external files, after checking each file is inside the model's folder.

    A model file must not make bnn-deploy read other files: a location that is absolute, climbs
    out with ``..`` or is a symlink leading out of the folder is refused, as is a missing file.
    """
    from onnx.external_data_helper import ExternalDataInfo, load_external_data_for_model, uses_external_data

    folder = path.resolve().parent
    external = [t for t in _tensors(model.graph) if uses_external_data(t)]
    for tensor in external:
        location = ExternalDataInfo(tensor).location
        target = (folder / location).resolve()
        if not location or Path(location).is_absolute() or folder not in target.parents:
            raise BnnDeployError(
                f"{path}: tensor {tensor.name!r} keeps its data in {location!r}, outside the model's folder "
                f"{folder}; refusing to read it — keep the external data file next to the .onnx and re-save the model"
            )
        if not target.is_file():
            raise BnnDeployError(
                f"{path}: tensor {tensor.name!r} keeps its data in {location!r}, which is missing; copy it "
                "next to the .onnx (external data travels with the model file)"
            )
    if external:
        try:
            load_external_data_for_model(model, str(folder))
        except (OSError, ValueError, RuntimeError) as exc:
            raise BnnDeployError(
                f"{path}: cannot read its external data ({first_line(exc)}); re-export the model"
            ) from exc


def read_metadata(onnx_model) -> dict:
    """The ``bnn_deploy.*`` metadata of an exported model (empty for third-party files).

    Keys without the prefix; ``config`` and ``binary_layers`` parsed from JSON, ``scale`` an int,
    ``k`` a float or None.
    """
    from bnn_deploy.conversion.onnx_export import META_PREFIX

    meta = {p.key[len(META_PREFIX) :]: p.value for p in onnx_model.metadata_props if p.key.startswith(META_PREFIX)}
    for key in ("config", "binary_layers"):
        if key in meta:
            meta[key] = json.loads(meta[key])
    if meta.get("scale"):
        meta["scale"] = int(meta["scale"])
    if "k" in meta:
        meta["k"] = float(meta["k"]) if meta["k"] else None
    return meta


# ---------------------------------------------------------------- graph helpers


class _Graph:
    """Producer/constant lookup over one ONNX graph."""

    def __init__(self, onnx_model):
        from onnx import numpy_helper

        graph = onnx_model.graph
        self.constants: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.producer: dict[str, object] = {}
        for node in graph.node:
            for out in node.output:
                self.producer[out] = node
            if node.op_type == "Constant":
                value = _constant_node_value(node)
                if value is not None:
                    self.constants[node.output[0]] = value
            elif node.op_type == "Identity" and node.input[0] in self.constants:
                # PyTorch's exporter shares equal initializers between layers through Identity.
                self.constants[node.output[0]] = self.constants[node.input[0]]
        self.inputs = {i.name for i in graph_inputs(onnx_model)}

    def const(self, name: str) -> np.ndarray | None:
        """The value of tensor ``name`` if it is an initializer or a Constant node's output."""
        return self.constants.get(name)

    def origin(self, name: str) -> str:
        """Where a tensor comes from, for reasons: ``Relu``, ``the graph input 'lr'``, ..."""
        if name in self.inputs:
            return f"the graph input {name!r}"
        node = self.producer.get(name)
        return node.op_type if node is not None else f"unknown tensor {name!r}"


def _constant_node_value(node) -> np.ndarray | None:
    """Value of a Constant node (``value`` tensor or scalar/list attributes), else None."""
    from onnx import helper, numpy_helper

    for attr in node.attribute:
        if attr.name == "value":
            return numpy_helper.to_array(attr.t)
        if attr.name in ("value_float", "value_int"):
            return np.array(helper.get_attribute_value(attr))
        if attr.name in ("value_floats", "value_ints"):
            return np.array(list(helper.get_attribute_value(attr)))
    return None


def _attrs(node) -> dict:
    """A node's attributes as Python values."""
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _is_const_value(value: np.ndarray | None, target: float) -> bool:
    """True if ``value`` is a constant whose elements all equal ``target``."""
    return value is not None and value.size > 0 and bool(np.all(np.asarray(value, np.float64) == target))


def _per_channel(value: np.ndarray) -> float | np.ndarray | None:
    """A scalar → float; a tensor varying only along axis 1 of NCHW (shapes [C], [1,C,1,1], [C,1,1]) →
    1-D float array; anything else (varies over space or batch) → None."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 1:
        return float(arr.reshape(()))
    shape = list(arr.shape)
    # Right-align to rank 4 as ONNX broadcasting does, then only dim 1 may exceed 1.
    if len(shape) > 4:
        return None
    shape = [1] * (4 - len(shape)) + shape
    if shape[0] != 1 or shape[2] != 1 or shape[3] != 1:
        return None
    return arr.reshape(-1).copy()


# ---------------------------------------------------------------- sign recognition


_COMPARE_ABOVE_TRUE = {
    "GreaterOrEqual": (True, 1.0),
    "Greater": (True, -1.0),
    "Less": (False, 1.0),
    "LessOrEqual": (False, -1.0),
}


def _match_where_sign(g: _Graph, where) -> dict | str:
    """``Where(cmp(x, t), a, b)`` → sign info dict, or the reason it is not a ±1 sign."""
    cond = g.producer.get(where.input[0])
    if cond is None or cond.op_type not in _COMPARE_ABOVE_TRUE:
        return f"input comes from Where whose condition is {g.origin(where.input[0])}, not a comparison with a constant"
    t = g.const(cond.input[1])
    if t is None:
        return f"input comes from Where({cond.op_type}(x, t)) with a non-constant threshold t"
    threshold = _per_channel(t)
    if threshold is None:
        return f"sign threshold has shape {list(np.shape(t))}, not a scalar or one value per channel"
    above_is_true, at_threshold = _COMPARE_ABOVE_TRUE[cond.op_type]
    hi, lo = (where.input[1], where.input[2]) if above_is_true else (where.input[2], where.input[1])
    if not (_is_const_value(g.const(hi), 1.0) and _is_const_value(g.const(lo), -1.0)):
        return (
            f"input comes from Where({cond.op_type}) whose branches are not the constants +1 above / -1 below "
            "the threshold"
        )
    return {
        "sign_op": "Where",
        "sign_nodes": [cond.name, where.name],
        "sign_input": cond.input[0],
        "sign_threshold": threshold,
        "sign_at_threshold": at_threshold,
    }


def _match_sign_node(g: _Graph, sign) -> dict:
    """``Sign(x)`` (0 → 0) or the larq form ``Sign(Add(Sign(x), c))``, 0 < c < 1 (x ≥ 0 → +1)."""
    add = g.producer.get(sign.input[0])
    if add is not None and add.op_type == "Add":
        for inner_name, c_name in ((add.input[0], add.input[1]), (add.input[1], add.input[0])):
            inner, c = g.producer.get(inner_name), g.const(c_name)
            if (
                inner is not None
                and inner.op_type == "Sign"
                and c is not None
                and c.size == 1
                and 0.0 < float(c.reshape(())) < 1.0
            ):
                return {
                    "sign_op": "Sign(Sign(x)+c)",
                    "sign_nodes": [inner.name, add.name, sign.name],
                    "sign_input": inner.input[0],
                    "sign_threshold": 0.0,
                    "sign_at_threshold": 1.0,
                }
    return {
        "sign_op": "Sign",
        "sign_nodes": [sign.name],
        "sign_input": sign.input[0],
        "sign_threshold": 0.0,
        "sign_at_threshold": 0.0,
    }


def _match_sign(g: _Graph, tensor: str) -> dict | str:
    """Sign info for the producer of ``tensor``, or the reason it is not a sign."""
    node = g.producer.get(tensor)
    if node is None:
        return f"input is not a sign (it is {g.origin(tensor)})"
    if node.op_type == "Where":
        return _match_where_sign(g, node)
    if node.op_type == "Sign":
        return _match_sign_node(g, node)
    return f"input is not a sign (comes from {node.op_type})"


def _upstream_threshold(g: _Graph, sign_input: str, sign_threshold) -> dict:
    """If ``sign_input = Add(u, b)`` or ``Sub(u, c)`` with constant per-channel b/c: the switch point on u."""
    node = g.producer.get(sign_input)
    if node is None or node.op_type not in ("Add", "Sub"):
        return {}
    pairs = [(node.input[0], node.input[1])]
    if node.op_type == "Add":
        pairs.append((node.input[1], node.input[0]))
    for u, const_name in pairs:
        value = g.const(const_name)
        if value is None or g.const(u) is not None:
            continue
        shift = _per_channel(value)
        if shift is None:
            return {}
        # u + b >= t  <=>  u >= t - b ;  u - c >= t  <=>  u >= t + c  (exact in IEEE arithmetic).
        threshold = sign_threshold - shift if node.op_type == "Add" else sign_threshold + shift
        return {"threshold": threshold, "threshold_input": u, "threshold_node": node.name}
    return {}


# ---------------------------------------------------------------- padding and weights


def _zero_pad(g: _Graph, tensor: str) -> tuple[str, tuple[int, int, int, int], str | None] | str:
    """Skip one ``Pad`` (constant mode, value 0, H/W only) in front of the conv.

    Returns ``(tensor before the pad, (top, left, bottom, right), pad node name)``, or a reason string.
    Without a Pad returns ``(tensor, zeros, None)``.
    """
    node = g.producer.get(tensor)
    if node is None or node.op_type != "Pad":
        return tensor, (0, 0, 0, 0), None
    attrs = _attrs(node)
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        return f"a Pad in {mode} mode sits between the sign and the conv (only zero padding is binary)"
    pads = g.const(node.input[1]) if len(node.input) > 1 else None
    if pads is None:
        return "a Pad with non-constant pads sits between the sign and the conv"
    value = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros(1)
    if value is None or not _is_const_value(value, 0.0):
        return "a Pad with a non-zero value sits between the sign and the conv (only zero padding is binary)"
    axes = g.const(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    rank = 4
    axes = list(range(rank)) if axes is None else [int(a) % rank for a in np.asarray(axes).reshape(-1)]
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    begin, end = dict(zip(axes, pads[: len(axes)])), dict(zip(axes, pads[len(axes) :]))
    if any(begin.get(a, 0) or end.get(a, 0) for a in (0, 1)) or min(pads) < 0:
        return "a Pad that pads batch/channels or crops sits between the sign and the conv"
    return node.input[0], (begin.get(2, 0), begin.get(3, 0), end.get(2, 0), end.get(3, 0)), node.name


def _conv_pads(attrs: dict, kernel: tuple[int, ...]) -> tuple[int, int, int, int] | str:
    """The Conv's own zero padding as ``(top, left, bottom, right)`` for stride 1, or a reason."""
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("NOTSET", ""):
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        return (pads[0], pads[1], pads[2], pads[3])
    if auto_pad == "VALID":
        return (0, 0, 0, 0)
    # SAME_UPPER / SAME_LOWER at stride 1: total k-1 per axis, the odd one at the end / the start.
    (kh, kw), upper = kernel, auto_pad == "SAME_UPPER"
    split = [((k - 1) // 2, k - 1 - (k - 1) // 2) if upper else (k - 1 - (k - 1) // 2, (k - 1) // 2) for k in (kh, kw)]
    return (split[0][0], split[1][0], split[0][1], split[1][1])


def _binary_alpha(weight: np.ndarray) -> tuple[np.ndarray | None, str]:
    """``α_o`` if every ``|W[o]|`` is within 0.5 % of its mean (and > 0), else ``(None, reason)``."""
    mags = np.abs(weight.reshape(weight.shape[0], -1).astype(np.float64))
    alpha = mags.mean(axis=1)
    for o, (row, a) in enumerate(zip(mags, alpha)):
        if a == 0.0:
            return None, f"weights not ±alpha per output channel (channel {o} is all zeros)"
        if np.max(np.abs(row - a)) > ALPHA_RTOL * a:
            distinct = len(np.unique(row))
            return None, (
                f"weights not ±alpha per output channel (channel {o} has {distinct} distinct "
                f"magnitudes, spread {(row.max() - row.min()) / a:.1%} of the mean)"
            )
    return alpha.astype(np.float32), ""


# ---------------------------------------------------------------- conv matching


def _match_conv(g: _Graph, node) -> ConvMatch:
    """Classify one Conv node (see the module docstring for the rules, in the order checked)."""
    attrs = _attrs(node)
    match = ConvMatch(
        name=node.name or node.output[0],
        output=node.output[0],
        input=node.input[0],
        weight_name=node.input[1],
        group=int(attrs.get("group", 1)),
    )
    weight = g.const(node.input[1])
    if weight is None:
        match.reason = f"weights not constant (computed by {g.origin(node.input[1])})"
        return match
    match.weight = weight
    if weight.ndim != 4:
        match.reason = f"not a 2-D convolution (weight rank {weight.ndim})"
        return match
    match.kernel_shape = tuple(int(k) for k in attrs.get("kernel_shape", weight.shape[2:]))
    match.strides = tuple(int(s) for s in attrs.get("strides", (1, 1)))
    match.dilations = tuple(int(d) for d in attrs.get("dilations", (1, 1)))
    if len(node.input) > 2 and node.input[2]:
        match.bias = g.const(node.input[2])
        if match.bias is None:
            match.reason = f"bias not constant (computed by {g.origin(node.input[2])})"
            return match

    sign_tensor = node.input[0]
    padded = _zero_pad(g, sign_tensor)
    if isinstance(padded, str):
        match.reason = padded
        return match
    sign_tensor, extra_pads, match.pad_node = padded
    sign = _match_sign(g, sign_tensor)
    if isinstance(sign, str):
        match.reason = sign
        return match
    for key, value in sign.items():
        setattr(match, key, value)
    for key, value in _upstream_threshold(g, match.sign_input, match.sign_threshold).items():
        setattr(match, key, value)

    if match.group != 1:
        match.reason = f"group conv (group={match.group})"
        return match
    if any(s != 1 for s in match.strides):
        match.reason = f"stride {'x'.join(map(str, match.strides))} (binary convs must have stride 1)"
        return match
    if any(d != 1 for d in match.dilations):
        match.reason = f"dilation {'x'.join(map(str, match.dilations))} (binary convs must have dilation 1)"
        return match
    conv_pads = _conv_pads(attrs, match.kernel_shape)
    match.pads = tuple(int(a) + int(b) for a, b in zip(conv_pads, extra_pads))
    kh, kw = match.kernel_shape
    same = (kh // 2, kw // 2, kh // 2, kw // 2)
    if match.pads != (0, 0, 0, 0) and not (kh % 2 == 1 and kw % 2 == 1 and match.pads == same):
        match.reason = (
            f"zero padding {list(match.pads)} is neither none nor kernel//2 on every side "
            "(LCE binary convs are valid or same)"
        )
        return match
    alpha, reason = _binary_alpha(weight)
    if alpha is None:
        match.reason = reason
        return match
    match.alpha, match.is_binary = alpha, True
    return match


def find_convs(onnx_model) -> list[ConvMatch]:
    """Classify every ``Conv`` node of the main graph, in graph order (binary or float, with the reason)."""
    g = _Graph(onnx_model)
    return [_match_conv(g, node) for node in onnx_model.graph.node if node.op_type == "Conv"]


def coverage_report(matches: list[ConvMatch]) -> dict:
    """JSON-ready pattern coverage: counts and, per conv, ``name``, ``binary``, ``reason``, ``sign_op``."""
    layers = [
        {
            "name": m.name,
            "binary": m.is_binary,
            "reason": m.reason or None,
            "sign_op": m.sign_op if m.is_binary else None,
            "weight": m.weight_name,
            "shape": None if m.weight is None else list(m.weight.shape),
        }
        for m in matches
    ]
    binary = sum(m.is_binary for m in matches)
    return {"convs": len(matches), "binary": binary, "float": len(matches) - binary, "layers": layers}


def render_coverage(report: dict) -> str:
    """Text table of :func:`coverage_report` (one line per conv)."""
    lines = [f"convs: {report['convs']} ({report['binary']} binary, {report['float']} float)"]
    for layer in report["layers"]:
        state = f"binary ({layer['sign_op']})" if layer["binary"] else f"float: {layer['reason']}"
        lines.append(f"  {layer['name']:<48} {state}")
    return "\n".join(lines)
