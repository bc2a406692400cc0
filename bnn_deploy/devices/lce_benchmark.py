"""Run LCE's ``lce_benchmark_model`` on a board and read what it prints.

``lce_benchmark_model`` is TFLite's ``benchmark_model`` with the LCE ops registered, so it takes
TFLite's flags and prints TFLite's lines. This module builds its command line, parses its output
(both memory-line formats: ``Peak memory footprint (MB): init=… overall=…`` from older TensorFlow
and ``Memory footprint delta from the start of the tool (MB): init=… overall=…`` from newer), and
runs it through a transport: push the graph and an input, run, pull the outputs.

Parity on the board needs two flags: ``--input_layer_value_files`` (TFLite ≥ 2.3) to feed our saved
input instead of random values, and ``--output_filepath`` (newer TFLite) to write the outputs. The
binary's ``--help`` says which it has; without them the timings are still real but the report
says ``parity_measured: false``.

Timings are in microseconds in the tool's output and in milliseconds here. ``--min_secs=0`` and
``--warmup_min_secs=0`` make the tool run exactly ``--num_runs``/``--warmup_runs`` iterations
instead of "at least N and at least one second"; the parsed ``count`` says how many really ran.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np

from bnn_deploy.core.errors import BnnDeployError, last_line
from bnn_deploy.devices.transport import RunResult

# TFLite's TensorType enum (schema.fbs) → numpy dtype.
TENSOR_TYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    6: "bool",
    7: "int16",
    9: "int8",
    10: "float64",
    11: "complex128",
    12: "uint64",
    15: "uint32",
    16: "uint16",
}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_KV = re.compile(rf"(\w+)=({_NUMBER})")
# Newer TFLite tools prefix every line with "INFO: "; older ones print bare lines.
_STAT_START = re.compile(r"^(?:[A-Z]+:\s*)?(count=\d)")
_RUNNING = re.compile(r"Running benchmark for at least (\d+) iterations")
_SUMMARY = re.compile(r"Inference timings in us:\s*(.*)")
_SUMMARY_ITEM = re.compile(rf"([A-Za-z][A-Za-z ()]*?):\s*({_NUMBER})")
_MEMORY = re.compile(
    rf"(Peak memory footprint|Memory footprint delta from the start of the tool)"
    rf" \(MB\):\s*init=({_NUMBER})\s+overall=({_NUMBER})"
)
_PERIODIC = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring:\s*({_NUMBER})")
_INIT_SESSION = re.compile(rf"Initialized session in ({_NUMBER})\s*ms")
_MODEL_SIZE = re.compile(rf"The input model file size \(MB\):\s*({_NUMBER})")


# ---------------------------------------------------------------- the graph's inputs and outputs


def tflite_io(path) -> dict:
    """Names, shapes, dtypes and quantization of a .tflite's subgraph-0 inputs and outputs.

    Read from the flatbuffer (no interpreter, so graphs with LCE custom ops work on any host).
    """
    from tensorflow.lite.python import schema_py_generated as schema

    data = Path(path).read_bytes()
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        graph = model.subgraphs[0]
    except Exception as exc:
        raise BnnDeployError(f"{path} is not a readable .tflite flatbuffer ({exc}); re-export it") from None

    def describe(index: int) -> dict:
        t = graph.tensors[index]
        q = t.quantization
        scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else None
        zero = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else None
        return {
            "name": t.name.decode(),
            "shape": [int(d) for d in t.shape],
            "dtype": TENSOR_TYPES.get(int(t.type), f"type{int(t.type)}"),
            "scale": scale,
            "zero_point": zero,
        }

    return {"inputs": [describe(int(i)) for i in graph.inputs], "outputs": [describe(int(i)) for i in graph.outputs]}


def to_tensor_bytes(array: np.ndarray, tensor: dict) -> bytes:
    """``array`` as the raw bytes the tool reads for ``tensor`` (quantized for int8/uint8 inputs)."""
    array = np.asarray(array)
    if list(array.shape) != tensor["shape"]:
        raise BnnDeployError(
            f"input of shape {list(array.shape)} does not fit tensor "
            f"{tensor['name']} {tensor['shape']}; pass an input of that shape"
        )
    dtype = np.dtype(tensor["dtype"])
    if dtype.kind in "iu" and array.dtype.kind == "f":
        if not tensor.get("scale"):
            raise BnnDeployError(
                f"tensor {tensor['name']} is {dtype} without quantization "
                "parameters; pass the input already as that integer type"
            )
        info = np.iinfo(dtype)
        array = np.clip(np.round(array / tensor["scale"] + (tensor["zero_point"] or 0)), info.min, info.max)
    return np.ascontiguousarray(array.astype(dtype)).tobytes()


def from_tensor_bytes(blob: bytes, tensors: list[dict]) -> list[np.ndarray]:
    """Split the tool's ``--output_filepath`` file into one float array per output tensor."""
    arrays, offset = [], 0
    for t in tensors:
        dtype = np.dtype(t["dtype"])
        count = int(np.prod(t["shape"])) if t["shape"] else 1
        size = count * dtype.itemsize
        if offset + size > len(blob):
            raise BnnDeployError(
                f"the output file has {len(blob)} bytes, fewer than the "
                f"{offset + size} the graph's outputs need; the run did not finish"
            )
        array = np.frombuffer(blob, dtype=dtype, count=count, offset=offset).reshape(t["shape"])
        if dtype.kind in "iu" and t.get("scale"):
            array = (array.astype(np.float32) - (t["zero_point"] or 0)) * np.float32(t["scale"])
        arrays.append(np.array(array))
        offset += size
    return arrays


# ---------------------------------------------------------------- command line


def escape_layer_name(name: str) -> str:
    """Escape ``:`` as ``::`` for ``--input_layer_value_files`` (TFLite's own escaping)."""
    if "," in name:
        raise BnnDeployError(
            f"input tensor name {name!r} contains a comma, which "
            "lce_benchmark_model cannot take; rename the input when exporting"
        )
    return name.replace(":", "::")


def build_command(
    binary: str,
    graph: str,
    *,
    threads: int,
    warmup: int,
    runs: int,
    input_tensor: dict | None = None,
    input_file: str | None = None,
    output_file: str | None = None,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The ``lce_benchmark_model`` argv for one measurement."""
    if threads < 1 or runs < 1 or warmup < 0:
        raise BnnDeployError(f"need --threads >= 1, --runs >= 1, --warmup >= 0 (got {threads}, {runs}, {warmup})")
    argv = [
        binary,
        f"--graph={graph}",
        f"--num_threads={threads}",
        f"--warmup_runs={warmup}",
        f"--num_runs={runs}",
        "--min_secs=0",
        "--warmup_min_secs=0",
    ]
    if input_file is not None:
        if input_tensor is None:
            raise ValueError("input_file needs input_tensor (name and shape)")
        argv += [
            f"--input_layer={input_tensor['name']}",
            f"--input_layer_shape={','.join(str(d) for d in input_tensor['shape'])}",
            f"--input_layer_value_files={escape_layer_name(input_tensor['name'])}:{input_file}",
        ]
    if output_file is not None:
        argv.append(f"--output_filepath={output_file}")
    return argv + list(extra)


# ---------------------------------------------------------------- output parser


def _num(text: str) -> float:
    return float(text)


def parse_stat_line(line: str) -> dict | None:
    """``count=50 first=… curr=… min=… max=… avg=… std=…`` → dict of floats (``count`` int).

    Also takes ``count=0`` and the ``count=N curr=X(all same)`` form TFLite prints when every run
    took the same time.
    """
    m = _STAT_START.search(line)
    if m is None:
        return None
    line = line[m.start(1) :]
    values = {k: _num(v) for k, v in _KV.findall(line)}
    if "count" not in values:
        return None
    values["count"] = int(values["count"])
    if "(all same)" in line and "curr" in values:
        for key in ("first", "min", "max", "avg"):
            values.setdefault(key, values["curr"])
        values.setdefault("std", 0.0)
    return values


def parse_output(text: str) -> dict:
    """Timings (ms) and memory (MB) from ``lce_benchmark_model``'s output.

    Returns ``{warmup, inference, summary, init_ms, first_ms, warmup_avg_ms, avg_ms, min_ms, max_ms,
    std_ms, count, memory: {kind, init_mb, overall_mb, peak_mb}, model_size_mb}``; missing values
    are ``None``. Raises :class:`BnnDeployError` if the output holds no inference timing at all.
    """
    stats: list[tuple[int | None, dict]] = []
    expected: int | None = None
    summary: dict[str, float] = {}
    memory = {"kind": None, "init_mb": None, "overall_mb": None, "peak_mb": None}
    init_ms = model_size = None
    for line in text.splitlines():
        if m := _RUNNING.search(line):
            expected = int(m.group(1))
        elif (stat := parse_stat_line(line)) is not None:
            stats.append((expected, stat))
        elif m := _SUMMARY.search(line):
            summary = {k.strip(): _num(v) for k, v in _SUMMARY_ITEM.findall(m.group(1))}
        elif m := _MEMORY.search(line):
            memory.update(
                kind="peak" if m.group(1).startswith("Peak") else "delta",
                init_mb=_num(m.group(2)),
                overall_mb=_num(m.group(3)),
            )
        elif m := _PERIODIC.search(line):
            memory["peak_mb"] = _num(m.group(1))
        elif m := _INIT_SESSION.search(line):
            init_ms = _num(m.group(1))
        elif m := _MODEL_SIZE.search(line):
            model_size = _num(m.group(1))
    # TFLite prints the warm-up stats first and the measured runs second.
    warmup = stats[0][1] if len(stats) >= 2 else None
    inference = stats[-1][1] if stats else None
    if inference is None and "Inference (avg)" not in summary:
        raise BnnDeployError(
            "lce_benchmark_model printed no timings (last line: "
            f"{last_line(text) or 'no output'}); see its output above"
        )

    def ms(value):
        return None if value is None else value / 1000.0

    inf = inference or {}
    return {
        "warmup": warmup,
        "inference": inference,
        "summary": summary,
        "init_ms": ms(summary.get("Init")) if "Init" in summary else init_ms,
        "first_ms": ms(summary.get("First inference")),
        "warmup_avg_ms": ms(summary.get("Warmup (avg)", (warmup or {}).get("avg"))),
        "avg_ms": ms(summary.get("Inference (avg)", inf.get("avg"))),
        "min_ms": ms(inf.get("min")),
        "max_ms": ms(inf.get("max")),
        "std_ms": ms(inf.get("std")),
        "count": inf.get("count"),
        "memory": memory,
        "model_size_mb": model_size,
    }


# ---------------------------------------------------------------- running it on a board


def binary_flags(transport, binary: str, *, timeout: float = 60) -> set[str]:
    """The flag names ``binary --help`` lists (TFLite prints its usage and exits)."""
    result = transport.run(f"{shlex.quote(binary)} --help", timeout=timeout)
    text = result.stdout + "\n" + result.stderr
    flags = set(re.findall(r"--([a-z][a-z0-9_]+)", text))
    if not {"graph", "num_runs", "num_threads"} <= flags:
        raise BnnDeployError(
            f"{binary} on {transport.description} does not run or is not "
            f"lce_benchmark_model ({last_line(text) or 'no output'}); check the "
            "binary (bnn-deploy runtimes) and the board's architecture"
        )
    return flags


def run_lce_benchmark(
    transport,
    binary: str,
    graph,
    *,
    work_dir: str,
    threads: int,
    warmup: int,
    runs: int,
    input_path=None,
    out_dir=None,
    timeout: float = 600,
    flags: set[str] | None = None,
) -> dict:
    """Measure ``graph`` (a local .tflite) with ``binary`` (a path on the board).

    ``input_path``: a local ``.npy`` (converted to the input tensor's raw bytes) or raw file fed
    with ``--input_layer_value_files``; ``out_dir``: where the outputs land as ``.npy`` when the
    binary can write them. ``flags`` (from :func:`binary_flags`) saves one ``--help`` round trip.
    Returns the parsed timings plus ``parity_measured``, ``outputs`` (local paths) and the command.
    """
    graph = Path(graph)
    flags = flags if flags is not None else binary_flags(transport, binary)
    io = tflite_io(graph)
    remote_graph = f"{work_dir}/{graph.name}"
    transport.put(graph, remote_graph)

    feed = input_path is not None and "input_layer_value_files" in flags and len(io["inputs"]) == 1
    fetch = feed and out_dir is not None and "output_filepath" in flags
    remote_in = remote_out = None
    notes = []
    if input_path is not None and not feed:
        notes.append(
            "the binary cannot read input files (no --input_layer_value_files): it ran "
            "on random inputs, parity not measured on the board"
        )
    elif feed and not fetch:
        notes.append(
            "the binary cannot write outputs (no --output_filepath, older TFLite): parity not measured on the board"
        )
    if feed:
        raw = _raw_input(Path(input_path), io["inputs"][0], Path(out_dir or graph.parent), graph.stem)
        remote_in = f"{work_dir}/{graph.stem}.input.raw"
        try:
            transport.put(raw, remote_in)
        finally:
            if raw != Path(input_path):
                raw.unlink(missing_ok=True)
    if fetch:
        remote_out = f"{work_dir}/{graph.stem}.output.raw"

    argv = build_command(
        binary,
        remote_graph,
        threads=threads,
        warmup=warmup,
        runs=runs,
        input_tensor=io["inputs"][0] if feed else None,
        input_file=remote_in,
        output_file=remote_out,
    )
    command = " ".join(shlex.quote(a) for a in argv)
    result: RunResult = transport.run(command, timeout=timeout)
    text = result.stdout + "\n" + result.stderr
    if result.exit_code != 0:
        raise BnnDeployError(
            f"lce_benchmark_model failed on {transport.description} for "
            f"{graph.name} (exit {result.exit_code}): "
            f"{_failure_line(text)}; see its output with --debug"
        )
    parsed = parse_output(text)

    outputs = []
    if fetch:
        out_dir = Path(out_dir)
        raw_out = out_dir / f".{graph.stem}.output.raw"
        transport.get(remote_out, raw_out)
        try:
            arrays = from_tensor_bytes(raw_out.read_bytes(), io["outputs"])
        finally:
            raw_out.unlink(missing_ok=True)
        for i, array in enumerate(arrays):
            path = out_dir / (f"{graph.stem}.output.npy" if i == 0 else f"{graph.stem}.output{i}.npy")
            np.save(path, array)
            outputs.append(str(path))
    return {
        **parsed,
        "runner": "lce_benchmark_model",
        "command": command,
        "parity_measured": bool(outputs),
        "outputs": outputs,
        "notes": notes,
        "wall_seconds": round(result.seconds, 3),
        "log_tail": text.strip().splitlines()[-12:],
    }


def _raw_input(path: Path, tensor: dict, scratch: Path, stem: str) -> Path:
    """The raw input file for the tool: ``path`` itself, or a ``.npy`` converted next to ``scratch``."""
    if not path.is_file():
        raise BnnDeployError(f"input file {path} does not exist; pass a .npy or raw input file")
    if path.suffix != ".npy":
        return path
    raw = scratch / f".{stem}.input.raw"
    raw.write_bytes(to_tensor_bytes(np.load(path), tensor))
    return raw


def _failure_line(text: str) -> str:
    """The most telling line of a failed run (TFLite's ERROR lines beat the last line)."""
    for line in text.splitlines():
        if "ERROR" in line or "Error" in line or "error while loading" in line:
            return line.strip()[:300]
    return last_line(text) or "no output"
