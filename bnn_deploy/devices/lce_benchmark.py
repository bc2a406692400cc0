"""Run LCE's ``lce_benchmark_model`` on a board and read what it prints.

``lce_benchmark_model`` is TFLite's ``benchmark_model`` with the LCE ops registered, so it takes
TFLite's flags and prints TFLite's lines. This module builds its command lines, parses its output
(both memory-line formats: ``Peak memory footprint (MB): init=… overall=…`` from older TensorFlow
and ``Memory footprint delta from the start of the tool (MB): init=… overall=…`` from newer; the op
profiler's tables), and runs it through a transport: push the graph and an input, run, pull the outputs.

Every run names its kernel with all three flags (``--use_reference_bconv``, ``--use_indirect_bgemm``,
``--use_xnnpack``): left out, the tool runs LCE's default bconv kernel plus TFLite's default XNNPACK
delegate, whatever the host chose. A graph's runs are one timed run; one separate run with
``--report_peak_memory_footprint=true`` for the peak memory (its monitoring thread stays out of
the timed run); and, when asked, ``--enable_op_profiling=true`` runs without and with XNNPACK.
``--kernel auto`` first runs each candidate kernel and compares the board's own outputs
(:meth:`LceBenchmark.choose_kernel`). The tool only warns about flags it does not know
(``WARN: Unconsumed cmdline flags``) and runs on; such flags are reported as ``ignored_flags``.

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
from dataclasses import dataclass, field
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
_SUMMARY = re.compile(r"Inference timings in us:\s*(.*)")
_SUMMARY_ITEM = re.compile(rf"([A-Za-z][A-Za-z ()]*?):\s*({_NUMBER})")
_MEMORY = re.compile(
    rf"(Peak memory footprint|Memory footprint delta from the start of the tool)"
    rf" \(MB\):\s*init=({_NUMBER})\s+overall=({_NUMBER})"
)
_PERIODIC = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring:\s*({_NUMBER})")
_INIT_SESSION = re.compile(rf"Initialized session in ({_NUMBER})\s*ms")
_MODEL_SIZE = re.compile(rf"The input model file size \(MB\):\s*({_NUMBER})")
_UNCONSUMED = re.compile(r"Unconsumed cmdline flags:\s*(.*)")
_LEVEL = re.compile(r"^(?:INFO|WARN|WARNING|ERROR|VERBOSE):\s?")
# The op profiler (--enable_op_profiling=true): an initialization section and the runs' section,
# each ending in "N nodes observed"; in each, "Run Order", "Top by ...", "Summary by node type".
_PROFILE_START = re.compile(r"Profiling Info for (?:Benchmark Initialization|Regular Benchmark Runs):")
_PROFILE_END = re.compile(r"^\s*\d+ nodes observed")
_PROFILE_RUNS = re.compile(r"Operator-wise Profiling Info for Regular Benchmark Runs:")
_TABLE_TITLE = re.compile(r"=+\s*(Run Order|Top by Computation Time|Top by Memory Use|Summary by node type)\s*=+")
_CELLS = (
    rf"(?P<first>{_NUMBER})\s+(?P<avg>{_NUMBER})\s+(?P<pct>{_NUMBER})%\s+(?P<cdf>{_NUMBER})%\s+"
    rf"(?P<mem>{_NUMBER})\s+(?P<called>\d+)\s+(?P<name>\S.*?)\s*$"
)
_OP_ROW = re.compile(rf"^\s*(?P<type>\S.*?)\s+{_CELLS}")
_OP_ROW_START = re.compile(rf"^\s*(?P<type>\S.*?)\s+(?P<start>{_NUMBER})\s+{_CELLS}")
_TYPE_ROW = re.compile(
    rf"^\s*(?P<type>\S.*?)\s+(?P<count>\d+)\s+(?P<avg>{_NUMBER})\s+(?P<pct>{_NUMBER})%\s+"
    rf"(?P<cdf>{_NUMBER})%\s+(?P<mem>{_NUMBER})\s+(?P<called>\d+)\s*$"
)


# ---------------------------------------------------------------- the graph's inputs and outputs


def tflite_io(path) -> dict:
    """Names, shapes, dtypes and quantization of a .tflite's subgraph-0 inputs and outputs.

    Read from the flatbuffer (no interpreter, so graphs with LCE custom ops work on any host).
    """
    from bnn_deploy.core.flatbuffer import load_schema

    schema = load_schema()

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

# lce_benchmark_model's kernel flags, in the order of bnn_deploy.runtimes.lce.KERNELS' tuples.
KERNEL_FLAGS = ("use_reference_bconv", "use_indirect_bgemm", "use_xnnpack")
# A graph without LCE ops runs as the host's TFLite runtime runs it: built-in kernels + XNNPACK.
TFLITE_KERNEL = "xnnpack"
# The flags every run sets itself, and the bench option that sets each (refused in --runtime-arg).
OWN_FLAGS = {
    "graph": "the export's file",
    "num_threads": "--threads",
    "warmup_runs": "--warmup",
    "num_runs": "--runs",
    "min_secs": "--runs (exactly that many runs)",
    "warmup_min_secs": "--warmup (exactly that many runs)",
    "input_layer": "the bench's input",
    "input_layer_shape": "the bench's input",
    "input_layer_value_files": "the bench's input",
    "output_filepath": "the parity check",
    "report_peak_memory_footprint": "the separate memory run",
    "enable_op_profiling": "--profile / bnn-deploy profile",
    **dict.fromkeys(KERNEL_FLAGS, "--kernel"),
}
_FLAG = re.compile(r"^--([A-Za-z][A-Za-z0-9_]*)(?:=.*)?$")


def kernel_flags(kernel: str) -> list[str]:
    """The three kernel flags of ``kernel`` (a :data:`bnn_deploy.runtimes.lce.KERNELS` name), always all
    explicit: left out, the tool runs LCE's default bconv kernel *and* TFLite's default XNNPACK delegate."""
    from bnn_deploy.runtimes.lce import KERNELS, check_kernel

    flags = KERNELS[check_kernel(kernel, tuple(KERNELS))]
    return [f"--{name}={'true' if on else 'false'}" for name, on in zip(KERNEL_FLAGS, flags)]


def check_runtime_args(args) -> tuple[str, ...]:
    """``--runtime-arg`` values, checked: each ``--flag`` or ``--flag=value``, none that the bench sets itself."""
    for arg in args:
        m = _FLAG.match(arg)
        if m is None:
            raise BnnDeployError(
                f"--runtime-arg {arg!r} is not an lce_benchmark_model flag; give one as "
                "--runtime-arg=--name=value, e.g. --runtime-arg=--max_secs=300"
            )
        if m.group(1) in OWN_FLAGS:
            raise BnnDeployError(
                f"--runtime-arg {arg}: bnn-deploy sets --{m.group(1)} on every run itself "
                f"({OWN_FLAGS[m.group(1)]}); leave it out"
            )
    return tuple(args)


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
    kernel: str,
    input_tensor: dict | None = None,
    input_file: str | None = None,
    output_file: str | None = None,
    peak_memory: bool = False,
    op_profiling: bool = False,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The ``lce_benchmark_model`` argv for one run: the kernel's three flags always explicit, the
    peak-memory monitor and the op profiler only when asked (each disturbs timing), ``extra`` last."""
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
        *kernel_flags(kernel),
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
    if peak_memory:
        argv.append("--report_peak_memory_footprint=true")
    if op_profiling:
        argv.append("--enable_op_profiling=true")
    return argv + list(extra)


def shell_line(argv: list[str]) -> str:
    """``argv`` quoted for a POSIX shell."""
    return " ".join(shlex.quote(a) for a in argv)


# ---------------------------------------------------------------- output parser


def _num(text: str) -> float:
    return float(text)


def parse_stat_line(line: str) -> dict | None:
    """``count=50 first=… curr=… min=… max=… avg=… std=…`` → dict of floats (``count`` int).

    Also takes ``count=0``; ``count=N curr=X(all same)`` (every run took the same time: spread 0);
    and ``count=1 curr=X`` (one run: min = max = mean = X, and no spread, so no ``std``).
    """
    m = _STAT_START.search(line)
    if m is None:
        return None
    line = line[m.start(1) :]
    values = {k: _num(v) for k, v in _KV.findall(line)}
    if "count" not in values:
        return None
    values["count"] = int(values["count"])
    if "curr" in values and ("(all same)" in line or values["count"] == 1):
        for key in ("first", "min", "max", "avg"):
            values.setdefault(key, values["curr"])
        if values["count"] > 1:
            values.setdefault("std", 0.0)
    return values


def _strip_level(line: str) -> str:
    return _LEVEL.sub("", line, count=1)


def parse_output(text: str) -> dict:
    """Timings (ms), memory (MB), ignored flags and the op profile from ``lce_benchmark_model``'s output.

    Returns ``{warmup, inference, summary, init_ms, first_ms, warmup_avg_ms, avg_ms, min_ms, max_ms,
    std_ms, count, memory: {kind, init_mb, overall_mb, peak_mb}, model_size_mb, ignored_flags,
    op_profile}``. What the run did not measure is ``None``, not 0: the first run and the warm-up
    average without warm-up runs (the tool prints ``First inference: 0, Warmup (avg): 0``), the spread
    of a single run, the periodic peak without ``--report_peak_memory_footprint=true``, the op
    profile without ``--enable_op_profiling=true``. Raises :class:`BnnDeployError` if the output
    holds no inference timing at all.
    """
    stats: list[dict] = []
    summary: dict[str, float] = {}
    memory = {"kind": None, "init_mb": None, "overall_mb": None, "peak_mb": None}
    init_ms = model_size = None
    ignored: list[str] = []
    lines, profile_lines, in_profile = text.splitlines(), [], False
    for raw in lines:
        line = _strip_level(raw)
        if _PROFILE_START.search(line):
            in_profile = True
        if in_profile:  # the profiler's tables hold their own "count=" and "Timings" lines
            profile_lines.append(line)
            in_profile = not _PROFILE_END.search(line)
            continue
        if (stat := parse_stat_line(line)) is not None:
            stats.append(stat)
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
        elif m := _UNCONSUMED.search(line):
            ignored += m.group(1).split()
    # TFLite prints the warm-up stats first and the measured runs second.
    warmup = stats[0] if len(stats) >= 2 else None
    inference = stats[-1] if stats else None
    if inference is None and "Inference (avg)" not in summary:
        raise BnnDeployError(
            "lce_benchmark_model printed no timings (last line: "
            f"{last_line(text) or 'no output'}); see its output above"
        )
    no_warmup = (warmup is not None and warmup["count"] == 0) or (
        summary.get("First inference") == 0 and summary.get("Warmup (avg)") == 0
    )

    def ms(value):
        return None if value is None else value / 1000.0

    inf = inference or {}
    return {
        "warmup": warmup,
        "inference": inference,
        "summary": summary,
        "init_ms": ms(summary.get("Init")) if "Init" in summary else init_ms,
        "first_ms": None if no_warmup else ms(summary.get("First inference")),
        "warmup_avg_ms": None if no_warmup else ms(summary.get("Warmup (avg)", (warmup or {}).get("avg"))),
        "avg_ms": ms(summary.get("Inference (avg)", inf.get("avg"))),
        "min_ms": ms(inf.get("min")),
        "max_ms": ms(inf.get("max")),
        "std_ms": ms(inf.get("std")),
        "count": inf.get("count"),
        "memory": memory,
        "model_size_mb": model_size,
        "ignored_flags": ignored,
        "op_profile": parse_op_profile("\n".join(profile_lines)),
    }


def parse_op_profile(text: str) -> dict | None:
    """The op profiler's "Operator-wise Profiling Info for Regular Benchmark Runs" (None if absent).

    Returns ``{"rows": [...], "by_type": [...], "timings": stat line (µs) or None}``. ``rows`` is the
    "Run Order" table: ``{type, first_ms, avg_ms, percent, cdf_percent, mem_kb, times_called, name,
    tensor_names, node, delegate}`` — a TFLite node is named ``[output tensor names]:node index``;
    XNNPACK names the operators it runs ``Delegate/<its operator>:<its index>`` (or one
    ``TfLiteXNNPackDelegate`` node for all of them), so a delegated row names no tensor. ``by_type``
    is "Summary by node type": ``{type, count, avg_ms, percent, cdf_percent, mem_kb, times_called}``.
    Both table layouts are read: with a ``[start]`` column (older TFLite) and without (TF 2.16).
    """
    start = _PROFILE_RUNS.search(text)
    if start is None:
        return None
    rows, by_type, timings, table, with_start = [], [], None, None, False
    for line in text[start.end() :].splitlines():
        if m := _TABLE_TITLE.search(line):
            table = m.group(1)
            continue
        if "[node type]" in line.lower():
            with_start = "[start]" in line
            continue
        if line.startswith("Timings (microseconds):"):
            timings = parse_stat_line(line.partition(":")[2].strip())
            continue
        if table == "Run Order" and (m := (_OP_ROW_START if with_start else _OP_ROW).match(line)):
            rows.append(_op_row(m))
        elif table == "Summary by node type" and (m := _TYPE_ROW.match(line)):
            by_type.append(
                {
                    "type": m["type"].strip(),
                    "count": int(m["count"]),
                    "avg_ms": _num(m["avg"]),
                    "percent": _num(m["pct"]),
                    "cdf_percent": _num(m["cdf"]),
                    "mem_kb": _num(m["mem"]),
                    "times_called": int(m["called"]),
                }
            )
    return {"rows": rows, "by_type": by_type, "timings": timings}


def _op_row(m: re.Match) -> dict:
    name = m["name"].strip()
    node = re.match(r"^(.*):(\d+)$", name)
    label, index = (node.group(1), int(node.group(2))) if node else (name, None)
    listed = label.startswith("[") and label.endswith("]")
    return {
        "type": m["type"].strip(),
        "first_ms": _num(m["first"]),
        "avg_ms": _num(m["avg"]),
        "percent": _num(m["pct"]),
        "cdf_percent": _num(m["cdf"]),
        "mem_kb": _num(m["mem"]),
        "times_called": int(m["called"]),
        "name": name,
        "tensor_names": label[1:-1].split(", ") if listed and len(label) > 2 else [],
        "node": index,
        "delegate": label.startswith("Delegate/") or "Delegate" in m["type"],
    }


# ---------------------------------------------------------------- running it on a board


def binary_flags(transport, binary: str, *, timeout: float = 60) -> set[str]:
    """The flag names ``binary --help`` lists (TFLite prints its usage and exits)."""
    result = transport.run(help_command(binary), timeout=timeout)
    text = result.stdout + "\n" + result.stderr
    flags = set(re.findall(r"--([a-z][a-z0-9_]+)", text))
    if not {"graph", "num_runs", "num_threads"} <= flags:
        raise BnnDeployError(
            f"{binary} on {transport.description} does not run or is not "
            f"lce_benchmark_model ({last_line(text) or 'no output'}); check the "
            "binary (bnn-deploy runtimes) and the board's architecture"
        )
    return flags


def help_command(binary: str) -> str:
    """The command that asks the board's binary which flags it has."""
    return f"{shlex.quote(binary)} --help"


@dataclass
class Staged:
    """One graph on the board: its local file, tensors, remote paths, and what its runs can do."""

    local: Path
    io: dict
    graph: str  # remote path
    input: str | None = None  # remote raw input (None: the tool feeds random values)
    output: str | None = None  # where the tool writes the outputs (None: it cannot)
    notes: list[str] = field(default_factory=list)


def remote_paths(work_dir: str, graph: Path) -> dict[str, str]:
    """Where a graph, its raw input and its raw outputs live in the board's work directory."""
    return {
        "graph": f"{work_dir}/{graph.name}",
        "input": f"{work_dir}/{graph.stem}.input.raw",
        "output": f"{work_dir}/{graph.stem}.output.raw",
    }


def run_steps(kernel: str, *, warmup: int, runs: int, measure: bool = True, profile: bool = False) -> list[tuple]:
    """``[(what, run options)]``: every run of one graph with a chosen ``kernel``, in order.

    * ``timed``: the latency run (and the outputs for parity); nothing else is switched on;
    * ``memory``: a separate single run with ``--report_peak_memory_footprint=true``, whose
      monitoring thread would otherwise share the CPU with the timed runs;
    * ``profile`` / ``profile-xnnpack``: ``--enable_op_profiling=true`` with the same bconv kernel
      without and with XNNPACK (XNNPACK folds the float ops it takes into its own delegate rows).
    """
    from bnn_deploy.runtimes.lce import with_xnnpack, without_xnnpack

    steps = []
    if measure:
        steps.append(("timed", {"kernel": kernel, "warmup": warmup, "runs": runs, "outputs": True}))
        steps.append(("memory", {"kernel": kernel, "warmup": 0, "runs": 1, "peak_memory": True}))
    if profile:
        plain, fused = without_xnnpack(kernel), with_xnnpack(kernel)
        steps.append(("profile", {"kernel": plain, "warmup": warmup, "runs": runs, "op_profiling": True}))
        if fused is not None:
            steps.append(("profile-xnnpack", {"kernel": fused, "warmup": warmup, "runs": runs, "op_profiling": True}))
    return steps


def candidate_steps() -> list[tuple]:
    """``--kernel auto`` on a board: one run per candidate, outputs kept, LCE's default kernel first
    (the reference), as :func:`bnn_deploy.runtimes.lce.choose_kernel` does on the host."""
    from bnn_deploy.runtimes.isolated import SELECT_RUNS
    from bnn_deploy.runtimes.lce import AUTO_CANDIDATES, AUTO_REFERENCE

    kernels = (AUTO_REFERENCE,) + tuple(k for k in AUTO_CANDIDATES if k != AUTO_REFERENCE)
    return [(f"kernel {k}", {"kernel": k, "warmup": 1, "runs": SELECT_RUNS, "outputs": True}) for k in kernels]


class LceBenchmark:
    """``lce_benchmark_model`` on one board, in one work directory, for every run of one bench.

    ``flags`` (from :func:`binary_flags`) saves one ``--help`` round trip; ``extra`` (``--runtime-arg``)
    goes at the end of every command line.
    """

    def __init__(
        self, transport, binary: str, *, work_dir: str, threads: int, timeout: float = 600, flags=None, extra=()
    ):
        self.transport, self.binary, self.work_dir = transport, binary, work_dir
        self.threads, self.timeout, self.extra = threads, timeout, tuple(extra)
        self.flags = flags if flags is not None else binary_flags(transport, binary)

    def require(self, *, profiling: bool = False) -> None:
        """Refuse a binary that would silently run something else than asked (it ignores unknown flags)."""
        missing = [f"--{name}" for name in KERNEL_FLAGS if name not in self.flags]
        if missing:
            raise BnnDeployError(
                f"{self.binary} on {self.transport.description} has no {', '.join(missing)}: it would ignore "
                "the kernel bnn-deploy asks for; use an LCE 0.16 build (bnn-deploy build-runtime)"
            )
        if profiling and "enable_op_profiling" not in self.flags:
            raise BnnDeployError(
                f"{self.binary} on {self.transport.description} has no --enable_op_profiling, so it cannot "
                "profile ops; use an LCE 0.16 build (bnn-deploy build-runtime) or leave out the profile"
            )

    def stage(self, graph, input_path=None, scratch=None) -> Staged:
        """Push ``graph`` and (as raw tensor bytes) ``input_path`` once, for all of the graph's runs."""
        graph = Path(graph)
        io = tflite_io(graph)
        paths = remote_paths(self.work_dir, graph)
        staged = Staged(local=graph, io=io, graph=paths["graph"])
        self.transport.put(graph, staged.graph)
        feed = input_path is not None and "input_layer_value_files" in self.flags and len(io["inputs"]) == 1
        if input_path is not None and not feed:
            staged.notes.append(
                "the binary cannot read input files (no --input_layer_value_files): it ran "
                "on random inputs, parity not measured on the board"
            )
        elif feed and "output_filepath" not in self.flags:
            staged.notes.append(
                "the binary cannot write outputs (no --output_filepath, older TFLite): parity not measured on the board"
            )
        if feed:
            raw = _raw_input(Path(input_path), io["inputs"][0], Path(scratch or graph.parent), graph.stem)
            try:
                self.transport.put(raw, paths["input"])
            finally:
                if raw != Path(input_path):
                    raw.unlink(missing_ok=True)
            staged.input = paths["input"]
            if "output_filepath" in self.flags:
                staged.output = paths["output"]
        return staged

    def argv(self, staged: Staged, *, kernel, warmup, runs, outputs=False, peak_memory=False, op_profiling=False):
        """The command line of one run of ``staged``."""
        return build_command(
            self.binary,
            staged.graph,
            threads=self.threads,
            warmup=warmup,
            runs=runs,
            kernel=kernel,
            input_tensor=staged.io["inputs"][0] if staged.input else None,
            input_file=staged.input,
            output_file=staged.output if outputs else None,
            peak_memory=peak_memory,
            op_profiling=op_profiling,
            extra=self.extra,
        )

    def run(self, staged: Staged, **options) -> dict:
        """One run: its parsed output plus ``command`` and ``seconds``; a failed run is a one-line error."""
        command = shell_line(self.argv(staged, **options))
        result: RunResult = self.transport.run(command, timeout=self.timeout)
        text = result.stdout + "\n" + result.stderr
        if result.exit_code != 0:
            raise BnnDeployError(
                f"lce_benchmark_model failed on {self.transport.description} for "
                f"{staged.local.name} (exit {result.exit_code}): "
                f"{_failure_line(text)}; see its output with --debug"
            )
        return {
            **parse_output(text),
            "command": command,
            "seconds": round(result.seconds, 3),
            "log_tail": text.strip().splitlines()[-12:],
        }

    def fetch(self, staged: Staged, out_dir, name: str) -> list[np.ndarray]:
        """The outputs the last run wrote, as arrays (the raw file goes through ``out_dir``)."""
        raw_out = Path(out_dir) / f".{name}.output.raw"
        self.transport.get(staged.output, raw_out)
        try:
            return from_tensor_bytes(raw_out.read_bytes(), staged.io["outputs"])
        finally:
            raw_out.unlink(missing_ok=True)

    def choose_kernel(self, staged: Staged, out_dir) -> dict:
        """``--kernel auto`` on the board, by the host's rule (:func:`bnn_deploy.runtimes.lce.fastest_identical`):
        each candidate's output, from the board itself, against LCE's default kernel's, and the
        fastest identical one by its minimum time over the runs."""
        from bnn_deploy.runtimes.lce import AUTO_REFERENCE, IDENTICAL_TOLERANCE, fastest_identical, max_abs_diff

        if staged.output is None:
            raise BnnDeployError(
                f"--kernel auto compares each kernel's outputs on the board, but {self.binary} cannot "
                "read inputs or write outputs (no --input_layer_value_files / --output_filepath); "
                "name the kernel, e.g. --kernel indirect_bgemm"
            )
        rows, reference = [], None
        for _what, options in candidate_steps():
            rec = self.run(staged, **options)
            out = self.fetch(staged, out_dir, f"{staged.local.stem}.{options['kernel']}")[0]
            reference = out if reference is None else reference
            diff = max_abs_diff(out, reference)
            rows.append(
                {
                    "kernel": options["kernel"],
                    "min_ms": rec["min_ms"] if rec["min_ms"] is not None else rec["avg_ms"],
                    "avg_ms": rec["avg_ms"],
                    "runs": rec["count"],
                    "identical": bool(diff <= IDENTICAL_TOLERANCE),
                    "bit_identical": bool(np.array_equal(out, reference)),
                    "max_abs_diff": diff,
                    "command": rec["command"],
                }
            )
        return {
            "kernel": fastest_identical(rows),
            "reference": AUTO_REFERENCE,
            "tolerance": IDENTICAL_TOLERANCE,
            "measured_on": "the board, on its own outputs",
            "candidates": rows,
        }

    def measure(self, graph, *, kernel, warmup, runs, input_path=None, out_dir=None, measure=True, profile=False):
        """Every run of one graph (see :func:`run_steps`; ``kernel="auto"`` first runs :func:`candidate_steps`).

        Returns the timed run's figures, ``memory`` from the memory run, ``op_profiles`` ``{step:
        parsed table}``, ``kernel``/``kernel_flags``/``kernel_choice``, ``parity_measured`` and
        ``outputs`` (``.npy`` paths in ``out_dir``), every ``commands`` in order, ``ignored_flags``.
        """
        out_dir = Path(out_dir or Path(graph).parent)
        staged = self.stage(graph, input_path, out_dir)
        choice = self.choose_kernel(staged, out_dir) if kernel == "auto" else None
        kernel = choice["kernel"] if choice else kernel
        record = {"commands": [c["command"] for c in (choice or {}).get("candidates", [])], "op_profiles": {}}
        ignored: list[str] = []
        for what, options in run_steps(kernel, warmup=warmup, runs=runs, measure=measure, profile=profile):
            rec = self.run(staged, **options)
            record["commands"].append(rec["command"])
            ignored += [f for f in rec["ignored_flags"] if f not in ignored]
            if what == "timed":
                record.update({k: v for k, v in rec.items() if k not in ("memory", "op_profile", "seconds")})
                record["wall_seconds"] = rec["seconds"]
                record["outputs"] = self._save_outputs(staged, out_dir) if staged.output else []
            elif what == "memory":
                record["memory"] = {**rec["memory"], "command": rec["command"]}
            else:
                record["op_profiles"][what] = {**(rec["op_profile"] or {}), "kernel": options["kernel"]}
                record["op_profiles"][what]["command"] = rec["command"]
                record["op_profiles"][what]["avg_ms"] = rec["avg_ms"]
        notes = list(staged.notes)
        if ignored:
            notes.append(
                f"lce_benchmark_model ignored {' '.join(ignored)}: it only warns about flags it does "
                "not know (WARN: Unconsumed cmdline flags) and runs on; check the spelling"
            )
        return {
            **record,
            "runner": "lce_benchmark_model",
            "kernel": kernel,
            "kernel_flags": kernel_flags(kernel),
            "kernel_choice": choice,
            "parity_measured": bool(record.get("outputs")),
            "ignored_flags": ignored,
            "notes": notes,
        }

    def _save_outputs(self, staged: Staged, out_dir: Path) -> list[str]:
        paths = []
        for i, array in enumerate(self.fetch(staged, out_dir, staged.local.stem)):
            path = out_dir / (f"{staged.local.stem}.output.npy" if i == 0 else f"{staged.local.stem}.output{i}.npy")
            np.save(path, array)
            paths.append(str(path))
        return paths


def planned_commands(
    binary: str, graph, *, work_dir: str, threads: int, kernel: str, warmup: int, runs: int, **what
) -> list[tuple[str, str]]:
    """``[(what, command)]``: the runs :meth:`LceBenchmark.measure` makes for ``graph``, without a board.

    Assumes a binary with every flag (input files, outputs, profiling). For ``kernel="auto"`` the
    runs after the candidates are shown with the first candidate; on the board, the one auto chose.
    ``what``: ``measure``/``profile`` as for :func:`run_steps`; ``extra``: the ``--runtime-arg`` flags.
    """
    from bnn_deploy.runtimes.lce import AUTO_CANDIDATES

    extra = what.pop("extra", ())
    bench = LceBenchmark(None, binary, work_dir=work_dir, threads=threads, flags=set(OWN_FLAGS), extra=extra)
    paths = remote_paths(work_dir, Path(graph))
    staged = Staged(Path(graph), tflite_io(graph), paths["graph"], paths["input"], paths["output"])
    steps = candidate_steps() if kernel == "auto" else []
    chosen = AUTO_CANDIDATES[0] if kernel == "auto" else kernel
    steps += [
        (f"{name} (kernel auto's choice; shown: {chosen})" if kernel == "auto" else name, options)
        for name, options in run_steps(chosen, warmup=warmup, runs=runs, **what)
    ]
    return [(name, shell_line(bench.argv(staged, **options))) for name, options in steps]


def run_lce_benchmark(
    transport,
    binary: str,
    graph,
    *,
    work_dir: str,
    threads: int,
    warmup: int,
    runs: int,
    kernel: str = "default",
    input_path=None,
    out_dir=None,
    timeout: float = 600,
    flags: set[str] | None = None,
    extra: tuple[str, ...] = (),
) -> dict:
    """Measure ``graph`` (a local .tflite) with ``binary`` (a path on the board): the timed run and the
    memory run with ``kernel``; see :meth:`LceBenchmark.measure`."""
    bench = LceBenchmark(
        transport, binary, work_dir=work_dir, threads=threads, timeout=timeout, flags=flags, extra=extra
    )
    bench.require()
    return bench.measure(graph, kernel=kernel, warmup=warmup, runs=runs, input_path=input_path, out_dir=out_dir)


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
