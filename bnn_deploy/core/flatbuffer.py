"""Read any ``.tflite`` / LCE flatbuffer, once: ops, tensors (shapes, dtypes, constants), options.

:func:`parse_flatbuffer` is the one parser (:class:`Graph` of :class:`OpInfo` and :class:`TensorInfo`,
what the latency model reads); :func:`read_flatbuffer` is the export checks' view of the same parse
(ops by tensor index): which ops a produced file holds and whether every binary conv is bitpacked.

The file is parsed with the TFLite schema that TensorFlow ships (``schema_py_generated.py``, loaded by
path without importing TensorFlow: :func:`load_schema`), not by running it, so the check sees exactly what a
board would load. LCE ops are custom ops (``LceQuantize``, ``LceBconv2d``, ``LceDequantize``) whose
options are flexbuffers; builtin ops are named by TFLite's ``BuiltinOperator`` enum.

A binary conv *fell back to float* when a float ``CONV_2D``/``DEPTHWISE_CONV_2D`` reads a sign: a
tensor produced by ``LceDequantize`` (LCE quantized the sign but could not fuse the conv) or by a
float ``SELECT``/``SELECT_V2``/``SIGN``. Tensor names in the flatbuffer are the TF op locations the
converter fused, joined by ``;`` — the rebuild names every op after its ONNX node, so a fallback is
reported by layer name, and :func:`module_path` tells which PyTorch module each op came from.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError

_SCHEMA_MODULE = "_bnn_deploy_tflite_schema"
BITPACKED_CONV = "LceBconv2d"
_FLOAT_CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")
_SIGN_PRODUCERS = ("LceDequantize", "SELECT", "SELECT_V2", "SIGN")
_FLOAT32_BYTES = 4


@dataclass
class Op:
    """One operator of the main subgraph: type name, input/output tensor indices, output names."""

    index: int
    kind: str
    inputs: list[int]
    outputs: list[int]
    output_names: list[str]
    options: dict = field(default_factory=dict)

    def name_tokens(self) -> set[str]:
        """The TF op locations fused into this op's outputs (``a;b;;c`` → {a, b, c})."""
        return {tok for name in self.output_names for tok in name.split(";") if tok}


@dataclass
class Flatbuffer:
    """A parsed TFLite model: operators of subgraph 0 and per-tensor metadata."""

    ops: list[Op]
    tensor_shapes: list[list[int]]
    tensor_bytes: list[int]
    size: int

    def histogram(self) -> dict[str, int]:
        """``{op type: count}``, most frequent first (ties by name)."""
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op.kind] = counts.get(op.kind, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def producers(self) -> dict[int, Op]:
        """Tensor index → the op writing it."""
        return {t: op for op in self.ops for t in op.outputs}


def load_schema():
    """TFLite's generated schema module, loaded from its file without importing TensorFlow.

    ``importlib.util.find_spec("tensorflow")`` locates the package without executing its
    ``__init__``; the schema file itself only needs ``flatbuffers``. If TensorFlow is already
    imported, or the file is not where TF 2.x keeps it, the normal import is used.
    """
    if _SCHEMA_MODULE in sys.modules:
        return sys.modules[_SCHEMA_MODULE]
    if "tensorflow" not in sys.modules:
        try:
            spec = importlib.util.find_spec("tensorflow")
        except (ImportError, ValueError):
            spec = None
        for root in (spec.submodule_search_locations or []) if spec else []:
            path = os.path.join(root, "lite", "python", "schema_py_generated.py")
            if os.path.isfile(path):
                file_spec = importlib.util.spec_from_file_location(_SCHEMA_MODULE, path)
                module = importlib.util.module_from_spec(file_spec)
                file_spec.loader.exec_module(module)
                sys.modules[_SCHEMA_MODULE] = module
                return module
    try:
        from tensorflow.lite.python import schema_py_generated as module
    except ImportError as err:
        raise BnnDeployError(
            f"cannot read .tflite files: TensorFlow's TFLite schema is missing ({err}); "
            "install bnn-deploy's dependencies (pip install -e .)"
        ) from None
    sys.modules[_SCHEMA_MODULE] = module
    return module


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
    data_bytes: int = 0  # bytes stored in the file for it (weights); 0 for activations

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
    tensors: list[TensorInfo] = field(default_factory=list)  # every tensor of subgraph 0, by index

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
        # Buffers past 2 GB are stored outside the table (offset/size); small models inline ``data``.
        stored = 0 if buf is None else len(buf.data) if buf.data is not None else int(buf.size or 0)
        constant = stored > 0
        shape = tuple(int(d) for d in t.shape) if t.shape is not None else ()
        name = t.name.decode(errors="replace") if isinstance(t.name, bytes) else str(t.name or "")
        infos.append(TensorInfo(i, name, shape, dtypes.get(t.type, f"TYPE_{t.type}"), constant, stored))
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
    return Graph(path, len(data), ops, inputs, outputs, len(model.subgraphs), tensors)


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


def read_flatbuffer(data: bytes) -> Flatbuffer:
    """The checks' view of :func:`parse_flatbuffer` (one parse): ops by tensor index, tensor shapes and bytes."""
    graph = parse_flatbuffer(data)
    ops = [
        Op(
            op.index,
            op.kind,
            [t.index if t is not None else -1 for t in op.inputs],
            [t.index for t in op.outputs],
            op.names,
            op.options if op.custom else {},
        )
        for op in graph.ops
    ]
    return Flatbuffer(
        ops=ops,
        tensor_shapes=[list(t.shape) for t in graph.tensors],
        tensor_bytes=[t.data_bytes for t in graph.tensors],
        size=graph.size_bytes,
    )


def float_fallback_convs(fb: Flatbuffer) -> list[Op]:
    """Float convs that read a sign (``LceDequantize`` / float select / ``SIGN`` output): lost binary convs."""
    producers = fb.producers()
    fallen = []
    for op in fb.ops:
        if op.kind in _FLOAT_CONVS and op.inputs:
            src = producers.get(op.inputs[0])
            if src is not None and src.kind in _SIGN_PRODUCERS:
                fallen.append(op)
    return fallen


def _layers_in(op: Op, layer_names: dict[str, str]) -> list[str]:
    """Layer names (values of ``layer_names``, keyed by TF op name) whose TF op fused into ``op``."""
    tokens = op.name_tokens()
    return [layer for tf_name, layer in layer_names.items() if tf_name in tokens]


def bitpacked_report(fb: Flatbuffer, binary_layers: dict[str, str]) -> dict:
    """How many of the model's binary convs became ``LceBconv2d``, and which did not.

    ``binary_layers`` maps the TF op name that ends each binary conv in the rebuilt graph to its layer name
    (ONNX node / PyTorch module). Returns ``{bitpacked, total, missing: [layer], fallback: [layer or
    op description], weight_bytes, float_weight_bytes}``; the byte figures compare the bitpacked
    filters with the float32 filters they replace (``O·kh·kw·C_in·4`` bytes each).
    """
    bconvs = [op for op in fb.ops if op.kind == BITPACKED_CONV]
    found: set[str] = set()
    for op in bconvs:
        found.update(_layers_in(op, binary_layers))
    fallback = []
    for op in float_fallback_convs(fb):
        named = _layers_in(op, binary_layers)
        fallback += named or [f"{op.kind} #{op.index} ({'; '.join(op.output_names)})"]
    filters = [bconv_filter(fb, op) for op in bconvs]
    packed_bytes = sum(f["bitpacked_bytes"] for f in filters)
    float_bytes = sum(f["float_bytes"] for f in filters)
    # Names are for the message only: the converter may cut long fused names, so a binary conv
    # counts as missing only when the count itself falls short.
    missing = (
        [] if len(bconvs) >= len(binary_layers) else [layer for layer in binary_layers.values() if layer not in found]
    )
    return {
        "bitpacked": len(bconvs),
        "total": len(binary_layers),
        "missing": missing,
        "fallback": fallback,
        "weight_bytes": packed_bytes,
        "float_weight_bytes": float_bytes,
    }


def bconv_filter(fb: Flatbuffer, op: Op) -> dict:
    """The filter of one ``LceBconv2d``: ``{shape: [O, kh, kw, C_in], bitpacked_bytes, float_bytes}``.

    ``float_bytes`` is what the float32 filter it replaces would take (``O·kh·kw·C_in·4``).
    """
    out_ch, kh, kw = fb.tensor_shapes[op.inputs[1]][:3]
    cin = int(op.options.get("channels_in", 0))
    return {
        "shape": [out_ch, kh, kw, cin],
        "bitpacked_bytes": fb.tensor_bytes[op.inputs[1]],
        "float_bytes": out_ch * kh * kw * cin * _FLOAT32_BYTES,
    }


def lce_op_count(fb: Flatbuffer) -> int:
    """Number of LCE custom ops (``Lce*``); 0 proves a flatbuffer runs on stock TFLite."""
    return sum(op.kind.startswith("Lce") for op in fb.ops)


# ---------------------------------------------------------------- which PyTorch module an op came from
#
# The TF rebuild emits the ops of every ONNX node in one name scope ``<where>/<what>/``
# (:mod:`bnn_deploy.conversion.onnx_ops.naming`), and the converter carries TF op names into the
# flatbuffer's tensor names. ``<where>`` is ``.`` + the dotted PyTorch module path for TorchScript
# node names (``.`` alone: the model itself), else the node's cleaned name; it comes first, and
# short, because LCE cuts a fused op's joined names at 50 characters.


def module_path(op: Op | list[str]) -> str | None:
    """The PyTorch module path an op of a bnn-deploy flatbuffer came from, e.g. ``body.3.body.1``.

    Read from the first name the converter gave the op's output (the op that ends a fusion, which
    the rebuild names after the conv it was fused into). ``""`` is the model itself; for ONNX files
    whose names are not TorchScript scopes, the node's cleaned name. None when the name carries no
    scope: the graph's output tensor (named after the signature, e.g. ``PartitionedCall:0``) or a
    ``<where>`` longer than LCE's 50-character cut. Flatbuffers whose names do not follow this
    scheme (other tools, bnn-deploy before it) give None or a meaningless TF name. ``op`` may also
    be the list of an op's output tensor names.
    """
    names = op if isinstance(op, list) else op.output_names
    first = next((tok for name in names[:1] for tok in name.split(";") if tok), "")
    where, sep, _ = first.partition("/")
    if not sep or not where:
        return None
    return where[1:] if where.startswith(".") else where


# ---------------------------------------------------------------- single-op flatbuffers (host profiling)
#
# LCE's Python interpreter has no per-op profiler, so the host profile runs every op alone: a
# flatbuffer holding just that op, its weights, and its activations as the graph's inputs and
# outputs. The same graph without the op (inputs and outputs only) costs exactly the interpreter's
# per-invoke overhead — copying the inputs in and the outputs out — which is then subtracted.

_INT8_TYPES = {"INT8", "UINT8", "INT16"}


def op_class(op: Op, tensor_types: list[str]) -> str:
    """``binary`` (a bitpacked ``LceBconv2d``), ``int8`` (a quantized op) or ``float`` (the float glue).

    ``LceQuantize``/``LceDequantize`` count as glue: they are float work around the binary conv.
    ``tensor_types`` are the TFLite type names of the graph's tensors (:func:`tensor_type_names`).
    """
    if op.kind == BITPACKED_CONV:
        return "binary"
    if not op.kind.startswith("Lce") and any(tensor_types[t] in _INT8_TYPES for t in op.outputs if t >= 0):
        return "int8"
    return "float"


def tensor_type_names(data: bytes) -> list[str]:
    """The TFLite type name (``FLOAT32``, ``INT32``, ...) of every tensor of subgraph 0."""
    schema = load_schema()

    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = schema.ModelT.InitFromPackedBuf(bytearray(data), 0).subgraphs[0]
    return [names.get(int(t.type), str(t.type)) for t in graph.tensors or []]


class OpCutter:
    """Cuts single-op flatbuffers out of one model, parsed once (see the section comment above)."""

    def __init__(self, data: bytes):
        schema = load_schema()

        self._schema = schema
        self.model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        self.graph = self.model.subgraphs[0]

    def __len__(self) -> int:
        return len(self.graph.operators or [])

    def is_constant(self, tensor: int) -> bool:
        """A tensor with data in the file (a weight, a bias, a shape): it stays inside the cut op."""
        buffers = self.model.buffers or []
        index = self.graph.tensors[tensor].buffer
        buf = buffers[index] if index < len(buffers) else None
        return buf is not None and ((buf.data is not None and len(buf.data) > 0) or bool(buf.size))

    def cut(self, index: int, *, keep_op: bool = True) -> bytes:
        """Op ``index`` alone: its non-constant inputs are the graph's inputs, its outputs the graph's outputs.

        ``keep_op=False``: the same inputs and outputs with no op in between (nothing computes the
        outputs; the interpreter still allocates and copies them), to measure the per-invoke overhead.
        """
        op = self.graph.operators[index]
        ops = [op] if keep_op else []
        return self._subset(list(op.inputs) + list(op.outputs), self.data_inputs(index), list(op.outputs), ops)

    def data_inputs(self, index: int) -> list[int]:
        """The tensors op ``index`` reads that are not constants: the inputs of its cut graph, in order."""
        op = self.graph.operators[index]
        return list(dict.fromkeys(int(t) for t in op.inputs if t >= 0 and not self.is_constant(t)))

    def last_reads(self) -> dict[int, int]:
        """Tensor → the index of the last op that reads it (when its value can be dropped)."""
        last = {}
        for i, op in enumerate(self.graph.operators):
            for t in op.inputs:
                last[int(t)] = i
        return last

    def bare(self) -> bytes:
        """The model's own inputs and outputs with no op between them: the whole graph's per-invoke overhead."""
        g = self.graph
        return self._subset(list(g.inputs) + list(g.outputs), list(g.inputs), list(g.outputs), [])

    def _subset(self, tensor_ids: list[int], inputs: list[int], outputs: list[int], ops: list) -> bytes:
        """A model of ``ops`` over ``tensor_ids`` (constants keep their data), renumbered from 0."""
        import copy

        used = list(dict.fromkeys(t for t in tensor_ids if t >= 0))
        remap = {t: n for n, t in enumerate(used)}
        buffers = [self._schema.BufferT()]  # buffer 0: the empty buffer every tensor without data points at
        tensors = []
        for t in used:
            tensor = copy.copy(self.graph.tensors[t])
            tensor.buffer = 0
            if self.is_constant(t):
                tensor.buffer = len(buffers)
                buffers.append(self.model.buffers[self.graph.tensors[t].buffer])
            tensors.append(tensor)
        codes = list(dict.fromkeys(op.opcodeIndex for op in ops))
        new_ops = []
        for op in ops:
            new_op = copy.copy(op)
            new_op.inputs = [remap[t] if t >= 0 else -1 for t in op.inputs]
            new_op.outputs = [remap[t] for t in op.outputs]
            new_op.opcodeIndex = codes.index(op.opcodeIndex)
            new_ops.append(new_op)
        graph = self._schema.SubGraphT()
        graph.name = self.graph.name
        graph.tensors = tensors
        graph.inputs = [remap[t] for t in dict.fromkeys(inputs)]
        graph.outputs = [remap[t] for t in outputs]
        graph.operators = new_ops
        model = self._schema.ModelT()
        model.version = self.model.version
        model.description = b"bnn-deploy subset"
        model.operatorCodes = [self.model.operatorCodes[c] for c in codes]
        model.subgraphs = [graph]
        model.buffers = buffers
        return self._pack(model)

    def _pack(self, model) -> bytes:
        import flatbuffers

        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())
