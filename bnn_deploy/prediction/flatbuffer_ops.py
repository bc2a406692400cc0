"""Read any ``.tflite`` / LCE flatbuffer into a flat list of ops with shapes, dtypes and options.

The latency model needs, per op: its kind (``CONV_2D``, ``LceBconv2d``, ...), the shapes and dtypes
of its input and output tensors, which inputs are constants (weights), its options (conv stride and
padding; LCE's flexbuffer options: ``channels_in``, ``padding``, ``pad_values``, ...) and the
tensor names (the TF op locations the converter fused, from which a PyTorch module path can
sometimes be recovered).

The file is parsed with the TFLite schema module TensorFlow ships
(``tensorflow/lite/python/schema_py_generated.py``), loaded *by path* so that ``import tensorflow``
(seconds, ~0.5 GB resident) is not needed to predict; the normal import is the fallback. The PyTorch
module path of an op is read from its tensor names by :func:`bnn_deploy.core.flatbuffer.module_path`.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.flatbuffer import load_schema

_TFLITE_IDENTIFIER = b"TFL3"
# Bytes per element of TFLite's TensorType names (see the schema's ``TensorType``).
DTYPE_BYTES = {
    "FLOAT32": 4,
    "FLOAT16": 2,
    "INT32": 4,
    "UINT8": 1,
    "INT64": 8,
    "BOOL": 1,
    "INT16": 2,
    "INT8": 1,
    "FLOAT64": 8,
    "UINT32": 4,
    "UINT16": 2,
    "INT4": 1,
    "BFLOAT16": 2,
}
# TFLite's Padding and ActivationFunctionType enums, used by builtin and LCE options alike.
PADDING = {0: "SAME", 1: "VALID"}
ACTIVATION = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor: shape, dtype name (``FLOAT32``, ``INT8``, ``INT32`` for bitpacked words), constant?"""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    constant: bool = False

    @property
    def elements(self) -> int:
        """Number of elements (1 for a scalar)."""
        n = 1
        for d in self.shape:
            n *= max(int(d), 1)
        return n

    @property
    def nbytes(self) -> int:
        """Size in bytes as the runtime allocates it."""
        return self.elements * DTYPE_BYTES.get(self.dtype, 4)


@dataclass
class OpInfo:
    """One operator of the main subgraph, in execution order."""

    index: int
    kind: str
    inputs: list[TensorInfo | None]
    outputs: list[TensorInfo]
    options: dict = field(default_factory=dict)
    custom: bool = False

    @property
    def names(self) -> list[str]:
        """Output tensor names (the converter joins fused TF op locations with ``;``)."""
        return [t.name for t in self.outputs]

    def data_inputs(self) -> list[TensorInfo]:
        """Inputs that are activations (not constants, not absent optional inputs)."""
        return [t for t in self.inputs if t is not None and not t.constant]


@dataclass
class Graph:
    """A parsed flatbuffer: ops of subgraph 0, graph inputs/outputs, file facts."""

    path: str
    size_bytes: int
    ops: list[OpInfo]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    subgraphs: int = 1

    def histogram(self) -> dict[str, int]:
        """``{op kind: count}``, most frequent first (ties by name)."""
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op.kind] = counts.get(op.kind, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _enum_names(enum_class) -> dict[int, str]:
    """Value → name of a generated flatbuffers enum class."""
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_") and isinstance(v, int)}


def _flexbuffer_options(raw) -> dict:
    """Decode a custom op's flexbuffer options (LceBconv2d: channels_in, padding, pad_values, ...)."""
    if raw is None or len(raw) == 0:
        return {}
    from flatbuffers import flexbuffers

    try:
        value = flexbuffers.Loads(bytes(bytearray(raw)))
    except (ValueError, IndexError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def _builtin_options(op) -> dict:
    """A builtin op's options table as a plain dict with snake_case-free keys as the schema names them."""
    opts = op.builtinOptions
    if opts is None:
        return {}
    return {k: v for k, v in vars(opts).items() if isinstance(v, (int, float, bool))}


def _tensor_infos(schema, model, graph) -> list[TensorInfo]:
    """All tensors of ``graph`` as :class:`TensorInfo` (constant = backed by a non-empty buffer)."""
    dtypes = _enum_names(schema.TensorType)
    buffers = model.buffers or []
    infos = []
    for i, t in enumerate(graph.tensors or []):
        buf = buffers[t.buffer] if 0 < t.buffer < len(buffers) else None
        constant = buf is not None and ((buf.data is not None and len(buf.data) > 0) or bool(buf.size))
        shape = tuple(int(d) for d in t.shape) if t.shape is not None else ()
        name = t.name.decode(errors="replace") if isinstance(t.name, bytes) else str(t.name or "")
        infos.append(TensorInfo(i, name, shape, dtypes.get(t.type, f"TYPE_{t.type}"), constant))
    return infos


def _op_kind(code, builtin_names: dict[int, str]) -> tuple[str, bool]:
    """``(kind, custom)`` of an operator code; codes above 127 live only in ``builtinCode``."""
    if code.customCode:
        raw = code.customCode
        return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)), True
    value = max(code.builtinCode, code.deprecatedBuiltinCode)
    return builtin_names.get(value, f"BUILTIN_{value}"), False


def parse_flatbuffer(data: bytes, path: str = "<bytes>") -> Graph:
    """Parse the bytes of a ``.tflite`` file; only subgraph 0 (the main graph) is read."""
    if len(data) < 8 or data[4:8] != _TFLITE_IDENTIFIER:
        raise BnnDeployError(
            f"{path} is not a TFLite flatbuffer (no 'TFL3' identifier); "
            "give a .tflite/LCE file or an export directory with manifest.json"
        )
    schema = load_schema()
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        graph = model.subgraphs[0]
    except (struct.error, IndexError, TypeError, ValueError, AttributeError, UnicodeDecodeError) as err:
        raise BnnDeployError(
            f"{path} is a damaged TFLite flatbuffer ({type(err).__name__}); re-export or re-download it"
        ) from None
    tensors = _tensor_infos(schema, model, graph)
    builtin_names = _enum_names(schema.BuiltinOperator)
    ops = []
    for i, op in enumerate(graph.operators or []):
        kind, custom = _op_kind(model.operatorCodes[op.opcodeIndex], builtin_names)
        ins = [tensors[t] if t >= 0 else None for t in (op.inputs if op.inputs is not None else [])]
        outs = [tensors[t] for t in (op.outputs if op.outputs is not None else []) if t >= 0]
        options = _flexbuffer_options(op.customOptions) if custom else _builtin_options(op)
        ops.append(OpInfo(i, kind, list(ins), outs, options, custom))
    inputs = [tensors[t] for t in (graph.inputs if graph.inputs is not None else [])]
    outputs = [tensors[t] for t in (graph.outputs if graph.outputs is not None else [])]
    return Graph(path, len(data), ops, inputs, outputs, len(model.subgraphs))


def read_graph(path: str | os.PathLike) -> Graph:
    """Read and parse a ``.tflite`` file; a missing or non-flatbuffer file is a one-line error."""
    p = Path(path)
    if not p.is_file():
        raise BnnDeployError(f"{p} does not exist or is not a file; give a .tflite file or an export directory")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise BnnDeployError(f"cannot read {p}: {err.strerror}; check the path and its permissions") from None
    return parse_flatbuffer(data, str(p))
