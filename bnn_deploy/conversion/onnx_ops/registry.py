"""The one table from ONNX op type to the function that rebuilds it in TensorFlow.

Every supported op is a function registered with ``@lower("Conv")`` (or ``@lower("Add", "Sub", ...)``
for a family sharing one body) in this package's family files. :func:`supported_ops` is the
registry's keys, so the list the pre-flight check prints and the ops the emitter can rebuild are
one and the same: adding an op is adding one decorated function.

A lowering is called as ``fn(ctx, node, ins)`` inside the TF trace: ``ctx`` is the
:class:`~bnn_deploy.conversion.onnx_ops.context.LoweringContext` (TensorFlow itself as ``ctx.tf``,
the opset, layout helpers, the binary-conv and pixel-shuffle plans), ``node`` an :class:`OnnxNode`,
``ins`` the node's inputs (numpy constants, TF tensors, or None for empty inputs). It returns the
node's one output. This module imports neither TensorFlow nor ONNX, so the supported list is
cheap to read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bnn_deploy.core.errors import BnnDeployError


class UnsupportedOnnxOp(BnnDeployError):
    """An ONNX node the LCE route cannot rebuild; ``nodes`` lists ``(node name, op type, detail)``."""

    def __init__(self, message: str, nodes: list[tuple[str, str, str]]):
        super().__init__(message)
        self.nodes = nodes


@dataclass(frozen=True)
class OnnxNode:
    """One node as its lowering sees it: the proto, its position, a printable label and its attributes."""

    proto: Any
    index: int
    label: str
    attrs: dict

    @property
    def op(self) -> str:
        return self.proto.op_type


Lowering = Callable[[Any, OnnxNode, list], Any]
_LOWERINGS: dict[str, Lowering] = {}


def lower(*op_types: str) -> Callable[[Lowering], Lowering]:
    """Register the decorated function as the TF lowering of each of ``op_types``.

    An op registered twice is a programming error (two files would silently disagree about it),
    so it raises at import time.
    """

    def register(fn: Lowering) -> Lowering:
        for op in op_types:
            if op in _LOWERINGS:
                raise ValueError(f"ONNX {op} is lowered twice: {_LOWERINGS[op].__qualname__} and {fn.__qualname__}")
            _LOWERINGS[op] = fn
        return fn

    return register


def lookup(op_type: str) -> Lowering | None:
    """The lowering registered for ``op_type`` (default ONNX domain), or None."""
    return _LOWERINGS.get(op_type)


def supported_ops() -> tuple[str, ...]:
    """Every ONNX op type the rebuild handles, sorted."""
    return tuple(sorted(_LOWERINGS))
