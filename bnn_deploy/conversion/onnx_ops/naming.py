"""TF names for the rebuild's ops: every op carries the PyTorch module (or ONNX node) it came from.

Each node's ops are emitted in one absolute TF name scope, ``<where>/<what>/``; the converter
carries TF op names into the flatbuffer's tensor names, where
:func:`bnn_deploy.core.flatbuffer.module_path` reads ``<where>`` back:

* ``<where>`` is ``.`` + the dotted PyTorch module path of a TorchScript node name
  (:func:`scope_module_path`; ``.`` alone is the model itself), else the node's name made TF-safe,
  with ``/`` as ``.`` and never a leading ``.``. It comes first and as the dotted path (not the
  scope path, which repeats every ``Sequential``'s name) because LCE cuts a fused op's joined names
  at 50 characters.
* ``<what>`` is the node's last name component (``Conv``, ``Add_1``) or, for other names, its op type.

One exception, so that a fused op is named after its conv: TFLite and LCE fold the per-channel ops
that follow a conv (bias Add/Sub, scale Mul/Div, BatchNormalization, ReLU, Clip) into the conv, and
the fused op's first name is the *last* op folded in — so those ops are emitted in their conv's
``<where>``. Were such an op left unfused, its row would name the conv's module.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from bnn_deploy.conversion.onnx_ops.layout import is_per_channel

# Ops the converters fold into the conv before them when they read only that conv and constants.
_FOLDED_INTO_CONV = {"Add", "Sub", "Mul", "Div", "BatchNormalization", "Relu", "Clip"}
_AFFINE = {"Add", "Sub", "Mul", "Div"}
_TF_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def scope_module_path(node_name: str) -> str | None:
    """The dotted PyTorch module path in a TorchScript ONNX node name; None for other names.

    TorchScript names are scope paths like ``/body/body.0/body/body.1/binary_conv/Conv``: each
    component but the last (the op) is a module name, and a ``Sequential``'s child repeats its
    parent's name with an index (``body`` → ``body.0``), so the path is ``body.0.body.1.binary_conv``.
    ``""`` is the model itself (``/Mul``), as in ``named_modules()``.
    """
    if not node_name.startswith("/"):
        return None
    path: list[str] = []
    for part in [p for p in node_name.split("/") if p][:-1]:
        if path and part.startswith(path[-1] + "."):
            path[-1] = part  # "body" then "body.0": the indexed child replaces its container's name
        else:
            path.append(part)
    return ".".join(path)


def node_where(node_name: str) -> str:
    """The ``<where>`` of a node's scope: ``.`` + its module path, or its name made TF-safe."""
    path = scope_module_path(node_name)
    if path is not None:
        return "." + _TF_UNSAFE.sub("_", path)
    where = _TF_UNSAFE.sub("_", node_name.replace("/", ".")).lstrip(".") or "node"
    return where if where[0].isalnum() else "n" + where


def node_scope(where: str, node_name: str, op_type: str) -> str:
    """The absolute TF name scope ``<where>/<what>/`` of a node's ops."""
    what = node_name.rstrip("/").rsplit("/", 1)[-1] if node_name.startswith("/") else op_type
    return f"{where}/{_TF_UNSAFE.sub('_', what) or op_type}/"


def node_label(node, index: int) -> str:
    """A node's name, or ``<OpType>_<index>`` for unnamed nodes (common in third-party files)."""
    return node.name or f"{node.op_type}_{index}"


@dataclass
class Scopes:
    """``scopes[i]``: the TF name scope of node ``i``; ``conv_tail[conv output]``: the last tensor of
    the ops folded into that conv (the conv's own output when none is)."""

    scopes: list[str]
    conv_tail: dict[str, str]


def node_scopes(graph, consts: dict) -> Scopes:
    """Every node's TF name scope, with the ops a converter folds into a conv in that conv's scope."""
    consumers = Counter(name for node in graph.node for name in node.input if name)
    consumers.update(out.name for out in graph.output)  # a graph output is read outside the graph
    conv_where: dict[str, str] = {}  # tensor ending a conv's folded chain → the conv's <where>
    conv_of: dict[str, str] = {}  # that tensor → the conv's output tensor
    scopes, tails = [], {}
    for index, node in enumerate(graph.node):
        label = node_label(node, index)
        where = node_where(label)
        if node.op_type == "Conv":
            conv_where[node.output[0]] = where
            conv_of[node.output[0]] = tails[node.output[0]] = node.output[0]
        else:
            extends = _folded_into(node, consts, consumers, conv_where)
            if extends is not None:
                where = conv_where[extends]
                conv_where[node.output[0]] = where
                conv_of[node.output[0]] = conv_of[extends]
                tails[conv_of[extends]] = node.output[0]
        scopes.append(node_scope(where, label, node.op_type))
    return Scopes(scopes, tails)


def _folded_into(node, consts: dict, consumers: Counter, conv_where: dict) -> str | None:
    """The conv-chain tensor ``node`` extends if a converter would fold it into that conv, else None.

    Foldable: one live input, read by nothing else, ending a conv's chain; any constants scalars
    or per channel; for Sub and Div the live input first (``x − b``, ``x / s``).
    """
    if node.op_type not in _FOLDED_INTO_CONV:
        return None
    live = [(k, name) for k, name in enumerate(node.input) if name and name not in consts]
    if len(live) != 1:
        return None
    k, tensor = live[0]
    if tensor not in conv_where or consumers[tensor] != 1:
        return None
    if node.op_type in ("Sub", "Div") and k != 0:
        return None
    if node.op_type in _AFFINE and not all(is_per_channel(consts[n]) for n in node.input if n in consts):
        return None
    return tensor
