"""Exact folds of the float glue around binary convs, on the constant-folded ONNX graph.

A binary SR unit keeps float ops around its ``LceBconv2d``. In BBCU's unit
``y = pr_bias1(PReLU(pr_bias0(conv_b(sign(x + move0))))) + x`` LCE 0.16 already fuses ``pr_bias0``
into the bconv's post-activation bias (``FuseAddOrSubWithBConv2D`` in its
``optimize_patterns_common.td``), but three float ``ADD``\\ s stay per unit: ``move0`` before the
sign (LceQuantize takes no threshold: ``x >= t`` becomes ``SUB`` + ``LceQuantize``), ``pr_bias1``
after the PReLU (a constant cannot move through a PReLU) and the residual.

This module rewrites the ONNX graph *before* the TF rebuild so that LCE sees fewer float ops. Every
rewrite is exact in real arithmetic (only float rounding differs, which can flip a sign whose input
is within rounding of its threshold); nothing is matched by layer name, so an architecture whose
units do not fit a rule is simply left as it was.

**Scales** (:func:`_fold_scales`). A ``Mul``/``Div`` by a positive scalar constant is removed when the
scale can be carried instead: every tensor gets a factor σ (the graph holds σ·value) with
``σ = 1`` at graph inputs/outputs and at inputs of non-homogeneous ops (sigmoid, ...). Sums,
resizes, pixel shuffles, poolings, ReLU/LeakyReLU/PReLU (positively homogeneous) and signs (a
threshold scales, a ±1 output does not) carry σ; a conv absorbs any σ into its weights and bias
(zero padding commutes with scaling). Removal is kept only when the factors are consistent. This
takes BBCU's input amplification ``x·k … /k`` out of the graph, and the attention unit's learnable
``a1``/``a2`` (into the bconv multiplier and the stream's scale).

**Offsets** (:func:`_fold_offsets`). Chains of ``Add``/``Sub`` with per-channel constants become
*sum groups* ``t1 + … + tn + c`` (one ``ADD`` per extra term, one for a non-zero ``c``). A group
``T + c`` — such as ``move0`` before a sign or ``pr_bias0`` before a PReLU — is removed by adding ``c``
to ``T`` where ``T`` is made — a conv's bias, or the constant of the sum group producing ``T`` (the
residual stream is then carried shifted by the next unit's ``move0``) — and subtracting it again
at ``T``'s other readers, which must absorb a constant exactly: sum groups, pads-free convs (bias),
and resizes, poolings and constant scalings on the way to those. A float conv that zero-pads
never absorbs a shift, so the stream reaching it is exact (the last unit's constant un-shifts it).
A sum group's constant moves into a term made by a conv or by another group with a constant when
that term has no other reader (BBCU-M's upsampling unit: the constant after the pixel shuffle goes
into ``pr_bias1`` before it). A move is made only when it lowers the op count.

**Conv chains** (:func:`_fold_conv_chains`). A pads-free 1×1 conv that alone reads a float conv's
output merges into it (EDSR's ``add_mean``).

:func:`onnx_unit_glue` counts the float glue per binary unit of an ONNX graph as LCE will see it
(:func:`bnn_deploy.core.glue.glue_profile` counts it in a produced flatbuffer), and
:func:`model_unit_glue` does so for a PyTorch model before and after folding (``bnn-deploy inspect``).

In the export this is the pipeline's ``fold glue`` step (:data:`bnn_deploy.conversion.pipeline.PREPARE`),
run by :func:`bnn_deploy.conversion.onnx_to_tf.rebuild_tf` between constant folding and lowering.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from bnn_deploy.core.manifest import FoldSummary

# Ops that carry a scale factor unchanged from input 0 to the output (positively homogeneous for a
# positive scalar; channel-preserving or channel-moving). Pad only with value 0 (checked).
_SCALE_PASS = {
    "Identity",
    "Dropout",
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Resize",
    "DepthToSpace",
    "SpaceToDepth",
    "ReduceMean",
    "ReduceMax",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "MaxPool",
    "AveragePool",
    "Pad",
}
_COMPARE = {"GreaterOrEqual", "Greater", "LessOrEqual", "Less"}
_BOUNDED = {"Sigmoid", "Tanh", "Where", "Sign", "HardSigmoid"}  # outputs that cannot carry a scale
# Ops that pass a per-channel constant offset unchanged (a constant image stays that constant).
_OFFSET_PASS = {"Identity", "Dropout", "ReduceMean", "ReduceMax", "GlobalAveragePool", "GlobalMaxPool", "MaxPool"}


@dataclass
class FoldReport:
    """What :func:`fold_glue` did: ``moves`` (one line each), ONNX op counts before/after, notes."""

    moves: list[str] = field(default_factory=list)
    ops_before: dict[str, int] = field(default_factory=dict)
    ops_after: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unit_glue_before: list[int] = field(default_factory=list)  # per binary unit, :func:`onnx_unit_glue`
    unit_glue_after: list[int] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return sum(self.ops_before.values()) - sum(self.ops_after.values())

    def summary(self) -> FoldSummary:
        """The manifest's record of this fold."""
        return FoldSummary(
            moves=len(self.moves),
            removed_onnx_ops=self.removed,
            unit_glue_before=list(self.unit_glue_before),
            unit_glue_after=list(self.unit_glue_after),
            onnx_ops_before=dict(self.ops_before),
            onnx_ops_after=dict(self.ops_after),
            notes=list(self.notes),
        )

    def text(self) -> str:
        """One line for the export's progress output."""
        from bnn_deploy.core.glue import spread

        def ops(op):
            return f"{op} {self.ops_before.get(op, 0)}→{self.ops_after.get(op, 0)}"

        return (
            f"fold: float glue per binary unit {spread(self.unit_glue_before)} → {spread(self.unit_glue_after)}; "
            f"{len(self.moves)} exact moves, {self.removed} ONNX ops fewer ({ops('Add')}, {ops('Mul')}, {ops('Div')})"
        )


# ---------------------------------------------------------------- a small mutable graph


class _Net:
    """Nodes (copies, topological order), constants and static shapes of one folded ONNX graph."""

    def __init__(self, model):
        from onnx import numpy_helper

        from bnn_deploy.conversion.onnx_to_tf import _static_shapes

        self.model = model
        self.nodes = [_copy(n) for n in model.graph.node]
        self.consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.shapes = _static_shapes(model)
        self.outputs = {o.name for o in model.graph.output}
        self.inputs = {i.name for i in model.graph.input if i.name not in self.consts}
        self._names = {n.name for n in self.nodes} | set(self.consts) | {o for n in self.nodes for o in n.output}
        self.reindex()

    def reindex(self) -> None:
        self.producer = {o: n for n in self.nodes for o in n.output if o}
        self.consumers: dict[str, list] = {}
        for n in self.nodes:
            for i, name in enumerate(n.input):
                if name:
                    self.consumers.setdefault(name, []).append((n, i))

    def const(self, name: str) -> np.ndarray | None:
        return self.consts.get(name)

    def is_const(self, name: str) -> bool:
        return name in self.consts

    def fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self._names:
            name, i = f"{base}_{i}", i + 1
        self._names.add(name)
        return name

    def set_input_const(self, node, index: int, value: np.ndarray, tag: str) -> None:
        """Give ``node`` its own copy of a constant input (exporters share equal initializers)."""
        name = self.fresh(f"{node.name or node.op_type}/{tag}")
        self.consts[name] = np.asarray(value, dtype=np.float32)
        while len(node.input) <= index:
            node.input.append("")
        node.input[index] = name

    def channels(self, tensor: str) -> int | None:
        shape = self.shapes.get(tensor)
        return int(shape[1]) if shape is not None and len(shape) == 4 else None

    def rewire(self, old: str, new: str) -> None:
        """Every reader of ``old`` reads ``new`` (``old`` must not be a graph output)."""
        for n in self.nodes:
            for i, name in enumerate(n.input):
                if name == old:
                    n.input[i] = new

    def to_model(self):
        from bnn_deploy.conversion.onnx_to_tf import _with_nodes

        return _with_nodes(self.model, self.nodes, self.consts)


def _copy(node):
    from onnx import NodeProto

    out = NodeProto()
    out.CopyFrom(node)
    return out


def _attr(node, name: str, default=None):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            value = helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _positive_scalar(value: np.ndarray | None) -> float | None:
    if value is None or np.size(value) != 1 or not np.issubdtype(np.asarray(value).dtype, np.floating):
        return None
    v = float(np.asarray(value).reshape(()))
    return v if v > 0 and np.isfinite(v) else None


def _scaling_node(net: _Net, node) -> tuple[str, float] | None:
    """``(tensor input, factor)`` for ``Mul`` by / ``Div`` by a positive scalar constant, else None."""
    if node.op_type not in ("Mul", "Div") or len(node.input) != 2:
        return None
    a, b = node.input
    if node.op_type == "Mul":
        for tensor, const in ((a, b), (b, a)):
            value = _positive_scalar(net.const(const))
            if value is not None and not net.is_const(tensor):
                return tensor, value
        return None
    value = _positive_scalar(net.const(b))
    if value is None or net.is_const(a):
        return None
    return a, 1.0 / value


def _is_conv_with_const_weights(net: _Net, node) -> bool:
    return (
        node.op_type == "Conv"
        and len(node.input) >= 2
        and net.is_const(node.input[1])
        and np.asarray(net.const(node.input[1])).ndim == 4
        and (len(node.input) < 3 or not node.input[2] or net.is_const(node.input[2]))
    )


# ---------------------------------------------------------------- scales


class _Ratios:
    """Weighted union-find over tensors: ``σ[a] = r · σ[b]``; ``_ONE`` is the pinned factor 1."""

    ONE = "\x00one"

    def __init__(self):
        self.parent: dict[str, str] = {}
        self.ratio: dict[str, float] = {}  # σ[x] = ratio[x] · σ[parent[x]]
        self.ok = True

    def find(self, x: str) -> tuple[str, float]:
        if x not in self.parent:
            self.parent[x], self.ratio[x] = x, 1.0
            return x, 1.0
        path = []
        while self.parent[x] != x:
            path.append(x)
            x = self.parent[x]
        root = x
        # path compression
        acc = 1.0
        for node in reversed(path):
            acc *= self.ratio[node]
            self.ratio[node] = acc
            self.parent[node] = root
        return root, self.ratio[path[0]] if path else 1.0

    def link(self, a: str, b: str, r: float = 1.0) -> None:
        """Require ``σ[a] = r · σ[b]``."""
        ra, fa = self.find(a)
        rb, fb = self.find(b)
        if ra == rb:
            if not np.isclose(fa, r * fb, rtol=1e-9, atol=0.0):
                self.ok = False
            return
        if ra == self.ONE:  # keep ONE a root
            ra, rb, fa, fb, r = rb, ra, fb, fa, 1.0 / r
        # σ[ra] = σ[a]/fa = r·σ[b]/fa = r·fb·σ[rb]/fa
        self.parent[ra] = rb
        self.ratio[ra] = r * fb / fa

    def pin(self, a: str) -> None:
        self.link(a, self.ONE, 1.0)

    def sigma(self, x: str) -> tuple[str, float]:
        return self.find(x)


def _scale_constraints(net: _Net, removed: set[str]) -> _Ratios:
    """The scale relations of the graph with the scaling nodes named in ``removed`` taken out."""
    rel = _Ratios()
    for name in net.inputs | net.outputs:
        rel.pin(name)
    for node in net.nodes:
        op = node.op_type
        ins = [n for n in node.input if n and not net.is_const(n)]
        outs = [o for o in node.output if o]
        scaling = _scaling_node(net, node)
        if scaling is not None and node.name in removed:
            tensor, factor = scaling
            rel.link(outs[0], tensor, 1.0 / factor)  # out = factor·in, stored as in
        elif scaling is not None:
            rel.link(outs[0], scaling[0])
        elif (
            op in ("Add", "Sub", "Concat", "Max", "Min")
            or (op == "Mul" and len(ins) == 1)
            or (op == "Div" and len(ins) == 1 and not net.is_const(node.input[0]))
        ):
            if op in ("Max", "Min", "Concat") and len(ins) != len([n for n in node.input if n]):
                for t in ins + outs:  # max(x, c) is not homogeneous unless c == 0
                    rel.pin(t)
                continue
            for t in ins:
                rel.link(outs[0], t)
        elif op == "Mul" and len(ins) == 2:
            bounded = [t for t in ins if t in net.producer and net.producer[t].op_type in _BOUNDED]
            if bounded:  # x · sigmoid(·): the gate keeps factor 1, the product carries x's
                other = [t for t in ins if t != bounded[0]] or [bounded[0]]
                rel.pin(bounded[0])
                rel.link(outs[0], other[0])
            else:
                for t in ins + outs:
                    rel.pin(t)
        elif op in _SCALE_PASS and node.input and not net.is_const(node.input[0]):
            if op == "Pad" and _pad_value(net, node) != 0.0:
                for t in ins + outs:
                    rel.pin(t)
                continue
            if op == "PRelu" and not net.is_const(node.input[1]):
                for t in ins + outs:
                    rel.pin(t)
                continue
            rel.link(outs[0], node.input[0])
            for t in ins[1:]:
                rel.pin(t)
        elif _is_conv_with_const_weights(net, node):
            pass  # a cut: the weights absorb σ_out / σ_in
        elif op in _COMPARE and len(ins) == 1 and len(node.input) == 2:
            pass  # the threshold scales with the compared tensor; the bool output has no scale
        elif op == "Sign":
            rel.pin(outs[0])
        elif op == "Where" and len(ins) == 1 and ins[0] == node.input[0]:
            rel.pin(outs[0])  # values from constants
        else:
            for t in ins + outs:
                rel.pin(t)
    return rel


def _pad_value(net: _Net, node) -> float:
    if _attr(node, "mode", "constant") != "constant":
        return 0.0
    if len(node.input) > 2 and node.input[2]:
        value = net.const(node.input[2])
        return float(np.asarray(value).reshape(())) if value is not None else float("nan")
    return float(_attr(node, "value", 0.0))


def _fold_scales(net: _Net, report: FoldReport) -> None:
    """Remove every Mul/Div by a positive scalar whose factor can be carried (see the module doc)."""
    candidates = [n.name for n in net.nodes if _scaling_node(net, n) is not None]
    if not candidates:
        return
    removed: set[str] = set()
    for name in candidates:
        if _scale_constraints(net, removed | {name}).ok:
            removed.add(name)
    rest = [c for c in candidates if c not in removed]
    for a, b in itertools.combinations(rest, 2):  # e.g. BBCU's x·k at the input and ·/k at the output
        if a in removed or b in removed:
            continue
        if _scale_constraints(net, removed | {a, b}).ok:
            removed |= {a, b}
    if not removed:
        return
    rel = _scale_constraints(net, removed)
    _apply_scales(net, rel, removed, report)


def _apply_scales(net: _Net, rel: _Ratios, removed: set[str], report: FoldReport) -> None:
    # A free component (not tied to a graph input/output) may take any factor: normalise it so that
    # its first tensor (in graph order) keeps factor 1.
    norm: dict[str, float] = {}
    for node in net.nodes:
        for t in list(node.input) + list(node.output):
            if t and not net.is_const(t):
                root, f = rel.sigma(t)
                if root != _Ratios.ONE and root not in norm:
                    norm[root] = f

    def sigma(t: str) -> float:
        root, f = rel.sigma(t)
        return f if root == _Ratios.ONE else f / norm.get(root, f)

    changed = 0
    for node in net.nodes:
        op = node.op_type
        if node.name in removed:
            tensor, factor = _scaling_node(net, node)
            node.op_type = "Identity"
            del node.input[:]
            node.input.append(tensor)
            del node.attribute[:]
            report.moves.append(
                f"scale: removed {op} by {factor if op == 'Mul' else 1 / factor:g} at {node.name!r} "
                "(carried as a factor)"
            )
            continue
        if _is_conv_with_const_weights(net, node):
            s_in, s_out = sigma(node.input[0]), sigma(node.output[0])
            if s_in == 1.0 and s_out == 1.0:
                continue
            w = np.asarray(net.const(node.input[1]), dtype=np.float64) * (s_out / s_in)
            net.set_input_const(node, 1, w, "weight_scaled")
            if len(node.input) > 2 and node.input[2]:
                net.set_input_const(node, 2, np.asarray(net.const(node.input[2]), np.float64) * s_out, "bias_scaled")
            changed += 1
        elif op in ("Add", "Sub", "Max", "Min") or (op == "Pad"):
            s = sigma(node.output[0])
            if s == 1.0:
                continue
            for i, name in enumerate(node.input):
                if name and net.is_const(name) and not (op == "Pad" and i != 2):
                    net.set_input_const(node, i, np.asarray(net.const(name), np.float64) * s, "const_scaled")
        elif op in _COMPARE and len(node.input) == 2:
            for i, name in enumerate(node.input):
                other = node.input[1 - i]
                if net.is_const(name) and not net.is_const(other):
                    s = sigma(other)
                    if s != 1.0 and np.any(np.asarray(net.const(name)) != 0):
                        net.set_input_const(node, i, np.asarray(net.const(name), np.float64) * s, "threshold_scaled")
    _drop_identities(net)


def _drop_identities(net: _Net) -> None:
    kept = []
    for node in net.nodes:
        if (
            node.op_type in ("Identity", "Dropout")
            and node.output[0] not in net.outputs
            and node.input
            and node.input[0]
        ):
            net.rewire(node.output[0], node.input[0])
            continue
        kept.append(node)
    net.nodes = kept
    net.reindex()


# ---------------------------------------------------------------- conv chains


def _fold_conv_chains(net: _Net, report: FoldReport) -> None:
    """A pads-free 1×1 conv right after a float conv (nothing else reading between) merges into it.

    ``B(A(x)) = (W_B·W_A) * x + (W_B·b_A + b_B)``: exact whatever ``A``'s padding, since ``B`` mixes
    channels pixel by pixel (EDSR's ``add_mean`` after its last conv). Binary convs (fed by a sign)
    are left alone: the product would no longer be a ±α filter.
    """
    changed = True
    while changed:
        changed = False
        for b in net.nodes:
            if not _is_conv_with_const_weights(net, b) or b.input[0] in net.outputs:
                continue
            wb = np.asarray(net.const(b.input[1]), np.float64)
            if (
                wb.shape[2:] != (1, 1)
                or any(int(p) for p in _attr(b, "pads", [0, 0, 0, 0]))
                or _attr(b, "auto_pad", "NOTSET") not in ("NOTSET", "VALID")
                or int(_attr(b, "group", 1)) != 1
                or any(int(v) != 1 for v in _attr(b, "strides", [1, 1]))
            ):
                continue
            a = net.producer.get(b.input[0])
            if (
                a is None
                or not _is_conv_with_const_weights(net, a)
                or int(_attr(a, "group", 1)) != 1
                or len(net.consumers.get(a.output[0], [])) != 1
            ):
                continue
            src = net.producer.get(a.input[0])
            if src is not None and src.op_type in ("Where", "Sign"):
                continue
            wa = np.asarray(net.const(a.input[1]), np.float64)
            ba = (
                np.zeros(wa.shape[0])
                if len(a.input) < 3 or not a.input[2]
                else np.asarray(net.const(a.input[2]), np.float64)
            )
            bb = (
                np.zeros(wb.shape[0])
                if len(b.input) < 3 or not b.input[2]
                else np.asarray(net.const(b.input[2]), np.float64)
            )
            m = wb[:, :, 0, 0]
            net.set_input_const(a, 1, np.einsum("om,mikl->oikl", m, wa), "weight_merged")
            net.set_input_const(a, 2, m @ ba + bb, "bias_merged")
            a.output[0] = b.output[0]
            net.nodes = [n for n in net.nodes if n is not b]
            net.reindex()
            report.moves.append(f"conv: merged the 1x1 conv {b.name!r} into {a.name!r}")
            changed = True
            break


# ---------------------------------------------------------------- offsets


@dataclass
class _Group:
    """``out = Σ terms + const`` (per-channel ``const``, float64 ``[C]``)."""

    out: str
    terms: list[str]
    const: np.ndarray
    pos: float  # where it is emitted in the node list (index of its last original node)
    name: str

    def nonzero(self) -> bool:
        return bool(np.any(self.const != 0))


def _per_channel_vector(value: np.ndarray, channels: int) -> np.ndarray | None:
    v = np.asarray(value, dtype=np.float64)
    if v.ndim > 4:
        return None
    v = v.reshape((1,) * (4 - v.ndim) + v.shape)
    if v.shape[0] != 1 or v.shape[2] != 1 or v.shape[3] != 1 or v.shape[1] not in (1, channels):
        return None
    return np.broadcast_to(v.reshape(-1), (channels,)).copy()


def _sum_parts(net: _Net, node) -> tuple[list[str], np.ndarray] | None:
    """``(tensor terms, constant)`` of an Add/Sub of tensors (+1 coefficients) and per-channel constants."""
    if node.op_type not in ("Add", "Sub") or len(node.input) != 2 or not node.output[0]:
        return None
    channels = net.channels(node.output[0])
    out_shape = net.shapes.get(node.output[0])
    if channels is None:
        return None
    terms, const = [], np.zeros(channels)
    for i, name in enumerate(node.input):
        sign = -1.0 if (node.op_type == "Sub" and i == 1) else 1.0
        if net.is_const(name):
            vec = _per_channel_vector(net.const(name), channels)
            if vec is None:
                return None
            const += sign * vec
        else:
            if sign < 0 or net.shapes.get(name) != out_shape:
                return None
            terms.append(name)
    return (terms, const) if terms else None


class _Offsets:
    """The graph as plain nodes plus sum groups, and the moves on it."""

    def __init__(self, net: _Net):
        self.net = net
        self.groups: dict[str, _Group] = {}
        sums = {n.output[0]: _sum_parts(net, n) for n in net.nodes}
        sums = {k: v for k, v in sums.items() if v is not None}
        absorbed: set[str] = set()
        kept = []
        for index, node in enumerate(net.nodes):
            out = node.output[0] if node.output else None
            if out not in sums:
                kept.append((index, node))
                continue
            terms, const = sums[out]
            flat, total = [], const.copy()
            for t in terms:
                inner = self.groups.get(t)
                if inner is not None and len(net.consumers.get(t, [])) == 1 and t not in net.outputs:
                    flat += inner.terms
                    total += inner.const
                    absorbed.add(t)
                else:
                    flat.append(t)
            self.groups[out] = _Group(out, flat, total, float(index), node.name or f"sum_{index}")
        for t in absorbed:
            del self.groups[t]
        self.plain = kept  # (index, node) of every non-sum node
        self.reindex()

    # -- indexes

    def reindex(self) -> None:
        self.producer_node = {o: n for _, n in self.plain for o in n.output if o}
        self.readers: dict[str, list] = {}
        for _, n in self.plain:
            for i, name in enumerate(n.input):
                if name:
                    self.readers.setdefault(name, []).append(("node", n, i))
        for g in self.groups.values():
            for t in g.terms:
                self.readers.setdefault(t, []).append(("group", g, None))

    def channels(self, t: str) -> int | None:
        return self.net.channels(t)

    # -- costs

    def group_cost(self, g: _Group, const: np.ndarray | None = None) -> int:
        const = g.const if const is None else const
        extra = int(bool(np.any(const != 0))) if not self.pushable(g) else 0
        return max(len(g.terms) - 1, 0) + extra

    def pushable(self, g: _Group) -> bool:
        return self.push_target(g) is not None

    def push_target(self, g: _Group):
        """A term of ``g`` read by ``g`` alone whose maker absorbs a constant for free, with the map."""
        for t in g.terms:
            if g.terms.count(t) != 1:
                continue
            found = self._maker(t, exclusive=True)
            if found is None:
                continue
            kind, obj, chain = found
            if kind == "group" and not obj.nonzero():
                continue  # a zero constant there would become one more op
            return t, kind, obj, chain
        return None

    def _maker(self, t: str, exclusive: bool):
        """Follow ``t`` back through single-reader pass-through ops to a conv or a sum group.

        Returns ``(kind, object, chain)`` where ``chain`` lists the pass-through nodes (last first).
        """
        chain = []
        while True:
            if t in self.net.outputs or (exclusive and len(self.readers.get(t, [])) != 1):
                return None
            if t in self.groups:
                return "group", self.groups[t], chain
            node = self.producer_node.get(t)
            if node is None:
                return None
            if _is_conv_with_const_weights(self.net, node):
                return "conv", node, chain
            if not exclusive or not self._reverse_passable(node):
                return None
            chain.append(node)
            t = node.input[0]

    def _reverse_passable(self, node) -> bool:
        op = node.op_type
        if op in ("Identity", "Dropout", "DepthToSpace"):
            return True
        if op == "Resize":
            return _attr(node, "mode", "nearest") in ("nearest", "linear")
        if op in ("Mul", "Div") and len(node.input) == 2:
            consts = [n for n in node.input if self.net.is_const(n)]
            if len(consts) != 1 or (op == "Div" and consts[0] != node.input[1]):
                return False
            value = self.net.const(consts[0])
            channels = self.channels(node.output[0]) or 0
            return _per_channel_vector(value, channels) is not None and bool(np.all(np.asarray(value) != 0))
        return False

    # -- constant maps through pass-through ops

    def map_back(self, node, const: np.ndarray) -> np.ndarray:
        """A constant added after ``node`` as the constant added before it."""
        op = node.op_type
        if op in ("Identity", "Dropout", "Resize"):
            return const
        if op == "DepthToSpace":
            r = int(_attr(node, "blocksize"))
            if _attr(node, "mode", "DCR") == "CRD":
                return np.repeat(const, r * r)  # input channel c·r² + k → output channel c
            return np.tile(const, r * r)  # DCR: input channel k·C + c → output channel c
        value = _per_channel_vector(self.net.const(next(n for n in node.input if self.net.is_const(n))), const.shape[0])
        return const / value if op == "Mul" else const * value

    def map_forward(self, node, index: int, const: np.ndarray) -> np.ndarray | None:
        """A constant added to input ``index`` of ``node`` as the constant it adds to the output, or
        None when the node does not pass constants."""
        op = node.op_type
        if index != 0 and op not in ("Mul",):
            return None
        if op in _OFFSET_PASS:
            return const
        if op == "Resize":
            return const if _attr(node, "mode", "nearest") in ("nearest", "linear") else None
        if op in ("Mul", "Div") and len(node.input) == 2:
            c = [n for n in node.input if self.net.is_const(n)]
            if len(c) != 1 or (op == "Div" and c[0] != node.input[1]):
                return None
            value = _per_channel_vector(self.net.const(c[0]), const.shape[0])
            if value is None:
                return None
            return const * value if op == "Mul" else const / value
        return None

    def absorb(self, t: str, delta: np.ndarray, exclude) -> list | None:
        """Effects that cancel ``+delta`` on tensor ``t`` at all its readers but ``exclude``, or None."""
        effects = []
        if t in self.net.outputs:
            return None
        for kind, obj, index in self.readers.get(t, []):
            if obj is exclude:
                continue
            if kind == "group":
                effects.append(("group", obj, -delta))
                continue
            node = obj
            if _is_conv_with_const_weights(self.net, node) and index == 0:
                pads = _attr(node, "pads", [0, 0, 0, 0])
                if (
                    any(int(p) != 0 for p in pads)
                    or _attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID")
                    or int(_attr(node, "group", 1)) != 1
                ):
                    return None  # zero padding: a shifted input is not exact at the border
                w = np.asarray(self.net.const(node.input[1]), np.float64)
                effects.append(("conv", node, -np.einsum("oikl,i->o", w, delta)))
                continue
            out = self.map_forward(node, index, delta)
            if out is None:
                return None
            more = self.absorb(node.output[0], out, exclude=None)
            if more is None:
                return None
            effects += more
        return effects

    def effects_cost(self, effects) -> int:
        deltas: dict[str, np.ndarray] = {}
        for kind, obj, d in effects:
            if kind == "group":
                deltas[obj.out] = deltas.get(obj.out, 0) + d
        return sum(
            self.group_cost(self.groups[k], self.groups[k].const + d) - self.group_cost(self.groups[k])
            for k, d in deltas.items()
        )

    def apply(self, effects) -> None:
        for kind, obj, d in effects:
            if kind == "group":
                obj.const = obj.const + d
            else:
                self.add_bias(obj, d)

    def add_bias(self, node, delta: np.ndarray) -> None:
        out_ch = int(np.asarray(self.net.const(node.input[1])).shape[0])
        bias = (
            np.zeros(out_ch)
            if len(node.input) < 3 or not node.input[2]
            else np.asarray(self.net.const(node.input[2]), np.float64).reshape(-1)
        )
        self.net.set_input_const(node, 2, bias + delta, "bias_folded")

    # -- moves

    def fold_single(self, report: FoldReport) -> bool:
        """One pass of: remove ``G = T + c`` by shifting ``T`` where it is made (see the module doc)."""
        changed = False
        for g in sorted(self.groups.values(), key=lambda g: g.pos):
            if len(g.terms) != 1 or not g.nonzero() or g.out in self.net.outputs or g.out not in self.groups:
                continue
            t, c = g.terms[0], g.const
            if self.channels(t) != c.shape[0]:
                continue
            found = self._maker(t, exclusive=False)
            if found is None:
                continue
            kind, target, _ = found
            if target is g:
                continue
            effects = self.absorb(t, c, exclude=g)
            if effects is None:
                continue
            gain = -self.group_cost(g)
            if kind == "group":
                gain += self.group_cost(target, target.const + c) - self.group_cost(target)
            gain += self.effects_cost(effects)
            if gain >= 0:
                continue
            if kind == "group":
                target.const = target.const + c
            else:
                self.add_bias(target, c)
            self.apply(effects)
            self.remove_group(g, t)
            report.moves.append(
                f"offset: folded the constant of {g.name!r} into "
                f"{'the bias of ' if kind == 'conv' else ''}{target.name!r}"
                f"{f' and {len(effects)} reader(s)' if effects else ''}"
            )
            changed = True
        return changed

    def remove_group(self, g: _Group, replacement: str) -> None:
        del self.groups[g.out]
        for h in self.groups.values():
            h.terms = [replacement if x == g.out else x for x in h.terms]
        for _, n in self.plain:
            for i, name in enumerate(n.input):
                if name == g.out:
                    n.input[i] = replacement
        self.reindex()

    def push_constants(self, report: FoldReport) -> None:
        """Move each remaining group constant into an exclusive term's maker, where that is free."""
        for g in sorted(self.groups.values(), key=lambda g: -g.pos):
            if not g.nonzero():
                continue
            found = self.push_target(g)
            if found is None:
                continue
            _, kind, obj, chain = found
            const = g.const
            for node in chain:
                const = self.map_back(node, const)
            if kind == "group":
                obj.const = obj.const + const
            else:
                self.add_bias(obj, const)
            g.const = np.zeros_like(g.const)
            report.moves.append(
                f"offset: moved the constant of {g.name!r} into {'the bias of ' if kind == 'conv' else ''}{obj.name!r}"
            )

    # -- back to nodes

    def emit(self) -> None:
        from onnx import helper

        net = self.net
        items = [(float(i), 0, n) for i, n in self.plain]
        for g in self.groups.values():
            items.append((g.pos, 1, g))
        items.sort(key=lambda x: (x[0], x[1]))
        nodes = []
        renames: dict[str, str] = {}
        for _, kind, item in items:
            if kind == 0:
                nodes.append(item)
                continue
            g = item
            terms = [renames.get(t, t) for t in g.terms]
            ops = len(terms) - 1 + int(g.nonzero())
            if ops == 0:
                if g.out in net.outputs:
                    nodes.append(helper.make_node("Identity", [terms[0]], [g.out], name=net.fresh(g.name)))
                else:
                    renames[g.out] = terms[0]
                continue
            # The op writing the group's output keeps the name of the node that wrote it before.
            acc = terms[0]
            for i, t in enumerate(terms[1:]):
                last = i == len(terms) - 2 and not g.nonzero()
                out = g.out if last else net.fresh(f"{g.out}_sum{i}")
                # a suffix on the last name component keeps a TorchScript name's module path
                name = g.name if last else net.fresh(f"{g.name}_sum{i}")
                nodes.append(helper.make_node("Add", [acc, t], [out], name=name))
                acc = out
            if g.nonzero():
                cname = net.fresh(f"{g.name}_const")
                net.consts[cname] = g.const.astype(np.float32).reshape(1, -1, 1, 1)
                nodes.append(helper.make_node("Add", [acc, cname], [g.out], name=g.name))
        for n in nodes:
            for i, name in enumerate(n.input):
                while name in renames:
                    name = renames[name]
                n.input[i] = name
        net.nodes = nodes
        net.reindex()


def _fold_offsets(net: _Net, report: FoldReport) -> None:
    off = _Offsets(net)
    while off.fold_single(report):
        pass
    off.push_constants(report)
    off.emit()


# ---------------------------------------------------------------- entry points


def op_counts(onnx_model) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in onnx_model.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return dict(sorted(counts.items()))


def onnx_unit_glue(graph) -> list[tuple[str, int]]:
    """``[(binary conv, float glue ops)]`` per binary unit of an ONNX graph, as LCE will see them.

    Units are cut as in :func:`glue_profile` (from one binary conv's sign to the next, in node
    order; the last unit also holds the tail, so it is left out). Counted: ``Add``/``Sub``/``Mul``/
    ``Div`` on activations, except a constant one right after a binary conv (LCE fuses it) and
    ``x + 0``/``x · 1`` (the converter drops them), plus one ``SUB`` per sign with a non-zero threshold.
    """
    from onnx import numpy_helper

    from bnn_deploy.conversion.onnx_pattern import find_convs

    values = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer}
    consts = set(values)
    binary = [m for m in find_convs(graph) if m.is_binary]
    starts = {m.sign_nodes[0]: m for m in binary if m.sign_nodes}
    outputs = {m.output for m in binary}
    readers: dict[str, int] = {}
    for n in graph.graph.node:
        for i in n.input:
            readers[i] = readers.get(i, 0) + 1
    units: list[list] = []
    for node in graph.graph.node:
        if node.name in starts:
            m = starts[node.name]
            units.append([m.name, int(bool(np.any(np.asarray(m.sign_threshold) != 0)))])
            continue
        if not units or node.op_type not in ("Add", "Sub", "Mul", "Div"):
            continue
        live = [i for i in node.input if i and i not in consts]
        fused = len(live) == 1 and live[0] in outputs and readers.get(live[0]) == 1
        neutral = 0.0 if node.op_type in ("Add", "Sub") else 1.0
        no_op = len(live) == 1 and all(np.all(values[i] == neutral) for i in node.input if i in values)
        if live and not fused and not no_op:  # x + 0 and x · 1 the converter drops by itself
            units[-1][1] += 1
    return [(name, count) for name, count in units[:-1]]


def fold_glue(folded_model):
    """Exact folds on a constant-folded ONNX graph (:func:`~bnn_deploy.conversion.onnx_to_tf.fold_onnx`).

    Returns ``(model, report)``; ``model`` computes the same function up to float rounding. The
    report notes binary units whose glue could not be reduced (they are exported as they were).
    """
    report = FoldReport(ops_before=op_counts(folded_model))
    before = onnx_unit_glue(folded_model)
    net = _Net(folded_model)
    _fold_conv_chains(net, report)
    _fold_scales(net, report)
    _fold_offsets(net, report)
    model = net.to_model()
    report.ops_after = op_counts(model)
    after = onnx_unit_glue(model)
    report.unit_glue_before = [c for _, c in before]
    report.unit_glue_after = [c for _, c in after]
    if len(before) == len(after):
        # Units at two glue ops or fewer are at the floor (the residual and one constant) already.
        kept = [name for (name, b), (_, a) in zip(before, after, strict=True) if b > 2 and a >= b]
        if kept and len(kept) == len(before):
            # Nothing this module knows fits these units: the graph goes on exactly as it came.
            report.notes.append(
                "fold: no exact fold applies to the float glue of this graph's binary units; it is exported as it was"
            )
            report.moves.clear()
            report.ops_after = dict(report.ops_before)
            report.unit_glue_after = list(report.unit_glue_before)
            return folded_model, report
        if kept:
            report.notes.append(
                f"fold: no exact fold reduces the float glue of {len(kept)} of {len(before)} "
                f"binary units (first: {kept[0]})"
            )
    return model, report


def model_unit_glue(model, lr_hw: tuple[int, int]) -> dict:
    """Float glue per binary unit of a PyTorch model, as LCE will see it, unfolded and folded.

    The model is traced to ONNX (in a scratch folder), constant-folded at ``lr_hw`` and folded as
    ``export`` does. Returns ``{"binary_units", "unit_glue_before", "unit_glue_after", "notes",
    "counted"}`` (every unit but the last, which also holds the tail); a model that cannot be traced
    gives ``{"error": why}`` instead of failing the caller.
    """
    import onnx

    from bnn_deploy.conversion.onnx_export import export_onnx
    from bnn_deploy.conversion.onnx_to_tf import fold_onnx
    from bnn_deploy.core.errors import BnnDeployError, first_line
    from bnn_deploy.core.fileio import scratch_dir
    from bnn_deploy.core.glue import GLUE_WHAT

    try:
        with scratch_dir("bnn-deploy-glue-") as workdir:
            path = workdir / "model.onnx"
            export_onnx(model, path)
            graph = fold_onnx(onnx.load(path), lr_hw)
    except BnnDeployError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # torch.onnx raises many types for modules it cannot trace
        return {"error": f"the model cannot be traced to ONNX ({first_line(exc)})"}
    from bnn_deploy.conversion.onnx_pattern import find_convs

    _, report = fold_glue(graph)
    return {
        "binary_units": sum(m.is_binary for m in find_convs(graph)),
        "unit_glue_before": report.unit_glue_before,
        "unit_glue_after": report.unit_glue_after,
        "counted": f"{GLUE_WHAT}, in the graph LCE converts",
        "notes": report.notes,
    }


def render_unit_glue(glue: dict) -> str:
    """The ``inspect`` lines for :func:`model_unit_glue`."""
    from bnn_deploy.core.glue import spread

    if "error" in glue:
        return f"float glue per binary unit: not counted ({glue['error']})"
    before, after = glue["unit_glue_before"], glue["unit_glue_after"]
    if not before:
        return f"float glue per binary unit: nothing to count ({glue['binary_units']} binary convs)"
    lines = [
        f"float glue per binary unit: {spread(before)} → {spread(after)} after export's fold "
        f"(--no-fold keeps {spread(before)})",
        f"  counted on {len(before)} of {glue['binary_units']} binary units (the last holds the tail): "
        f"{glue['counted']}",
    ]
    lines += [f"  note: {n}" for n in glue["notes"]]
    return "\n".join(lines)
