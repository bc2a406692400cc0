"""``bnn-deploy profile``: where the time of each LCE / TFLite artifact goes, op by op, on the host or a board.

A binary SR network is a few bitpacked ``LceBconv2d`` convs wrapped in float glue (``LceQuantize``,
PReLU, bias and residual ADDs, the float first and last convs, resizes). Which side dominates
decides what to optimise, and the answer differs between x86 (LCE's portable bconv kernels are
slow, the glue is cheap) and ARM (the bconv kernels are NEON assembly and the glue can dominate).
Every profile gives one row per op — its type, the PyTorch module it came from
(:func:`bnn_deploy.core.flatbuffer.module_path`), binary or float, ms, % and cumulative % — a
summary by op type, and the binary vs float-glue split.

**On the host** LCE's Python interpreter has no op profiler, so each op is measured alone
(:func:`measure_ops`): a flatbuffer holding only that op is cut from the export
(:class:`bnn_deploy.core.flatbuffer.OpCutter`) and run in LCE's interpreter with the profile's
bconv kernel and *without* XNNPACK (with it, an isolated float op measures nearly nothing: the
delegate drops copies nobody reads), in order, on the values the model really computes (run one
after the other, the cut ops give the whole graph's output: ``cut_check``). The same graph without
the op — same inputs, same outputs — measures the per-invoke overhead (copying the inputs in and
the outputs out), which is subtracted. The sum of the ops (``ops_sum_ms``) is reported next to the
whole graph (``whole_ms``, its own copies subtracted the same way); they agree within 25 %.
XNNPACK's effect is one lump: the whole graph with and without it. Times are minima over the runs
of the running thread's CPU time (one thread; wall time for more): on a busy machine other jobs
only ever add wall time, and a long graph rarely runs uninterrupted while a short op does.

**On a board** ``lce_benchmark_model --enable_op_profiling=true`` prints TFLite's per-op table,
parsed by :func:`bnn_deploy.devices.lce_benchmark.parse_op_profile`; it runs once without XNNPACK
(one row per op of the flatbuffer) and once with it (XNNPACK folds the float ops it takes into its
own delegate rows, which name no PyTorch module). ``ms`` is the tool's average per run.

``--trace FILE`` writes the rows as Chrome trace events (``ph: "X"``, µs; one process per
artifact, laid end to end), which Perfetto and ``chrome://tracing`` open.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bnn_deploy.benchmarking.options import BenchOptions
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.flatbuffer import OpCutter, module_path, op_class, read_flatbuffer, tensor_type_names
from bnn_deploy.core.formats import FLATBUFFER_FORMATS
from bnn_deploy.core.jsonio import REPORT_DIGITS, jsonable, write_json
from bnn_deploy.core.versions import host_info

PROFILED_FORMATS = FLATBUFFER_FORMATS
AGREEMENT = 0.25  # |ops_sum / whole - 1| a quiet machine stays within
OP_MIN_SECS = 0.05  # each single-op graph runs at least this long in all (and at least --runs times)
WHOLE_MIN_SECS = 1.0  # the whole graph likewise
MAX_RUNS = 1000
HOST_METHOD = (
    "each op alone: a single-op flatbuffer cut from the export, run in LCE's interpreter with the bconv "
    "kernel op_kernel and without XNNPACK, in order, on the values the model computes from the bench "
    "input (cut_check: run one after the other they give the whole graph's output); the same graph "
    "without the op (its inputs and outputs only) measures the per-invoke overhead (input and output "
    "copies), which is subtracted. ms is the least time over at least --runs runs (and at least 0.05 s "
    "of runs), on the clock named in clock: CPU time of the running thread with one thread, so that "
    "other jobs on the machine do not count. whole_ms is the whole graph the same way (at least 1 s of "
    "runs), its own copies subtracted"
)
BOARD_METHOD = (
    "lce_benchmark_model --enable_op_profiling=true on the board: TFLite's per-op table (average ms per "
    "run), once with the bconv kernel op_kernel without XNNPACK (one row per op of the flatbuffer) and "
    "once with XNNPACK (xnnpack.ops: XNNPACK folds the float ops it takes into its own delegate rows, "
    "which name no PyTorch module). whole_ms is the profiled run's average, profiler overhead included"
)
READING = (
    "binary = bitpacked LceBconv2d; float = the glue around it (LceQuantize, PReLU, bias and residual "
    "ADDs, the float first/last convs, resizes). On x86 LCE's bconv kernels are portable C++ and the "
    "binary share is high; on ARM they are NEON assembly, ~10x faster, and the glue's share grows."
)


# ---------------------------------------------------------------- measuring on the host


def op_clock(threads: int):
    """CPU time of this thread for one thread (the interpreter runs there; other jobs on a busy machine
    cannot add to it), wall time for several (their CPU times would add up)."""
    return time.thread_time if threads == 1 else time.perf_counter


def _least_ms(data: bytes, inputs: list, *, kernel: str, threads: int, runs: int, min_secs: float):
    """``(least ms, outputs)`` of invoking ``data`` on ``inputs``: over at least ``runs`` runs and, for a
    quick graph, at least ``min_secs`` of runs (at most :data:`MAX_RUNS`)."""
    from bnn_deploy.runtimes.base import time_runs
    from bnn_deploy.runtimes.lce import open_lce_graph

    interpreter, _ = open_lce_graph(data, threads=threads, kernel=kernel)
    outputs = interpreter.predict(inputs)
    clock = op_clock(threads)
    samples = time_runs(interpreter.predict, inputs, warmup=0, runs=runs, clock=clock)["runs_ms"]
    left = min_secs - sum(samples) / 1000.0
    if left > 0:
        samples += time_runs(interpreter.predict, inputs, warmup=0, runs=MAX_RUNS, max_secs=left, clock=clock)[
            "runs_ms"
        ]
    return min(samples), outputs


def measure_ops(
    data: bytes,
    x: np.ndarray,
    *,
    kernel: str,
    threads: int = 1,
    runs: int = 3,
    min_secs: float = OP_MIN_SECS,
    progress=None,
) -> tuple[list[dict], list[np.ndarray]]:
    """Every op of ``data`` timed alone, in order, on the values the model really computes from ``x``.

    Op 0's graph gets ``x``; every op's outputs feed the ops that read them (each value is dropped
    after its last reader). Returns ``([{index, ms, raw_ms, overhead_ms}], the graph's outputs)``:
    ``raw_ms`` is the single-op graph's time, ``overhead_ms`` the same graph without its op, ``ms =
    max(0, raw_ms - overhead_ms)``; the outputs, computed op by op, should be the whole graph's.
    ``kernel`` should be one without XNNPACK.
    """
    say = progress or (lambda _m: None)
    cutter = OpCutter(data)
    graph = cutter.graph
    values = {int(graph.inputs[0]): np.ascontiguousarray(x, dtype=np.float32)}
    last, keep = cutter.last_reads(), {int(t) for t in graph.outputs}
    options = {"kernel": kernel, "threads": threads, "runs": runs, "min_secs": min_secs}
    rows = []
    for i in range(len(cutter)):
        if i % 25 == 0:
            say(f"    op {i + 1}/{len(cutter)}")
        reads = cutter.data_inputs(i)
        inputs = [values[t] for t in reads]
        raw, outputs = _least_ms(cutter.cut(i), inputs, **options)
        overhead, _ = _least_ms(cutter.cut(i, keep_op=False), inputs, **options)
        rows.append({"index": i, "ms": max(0.0, raw - overhead), "raw_ms": raw, "overhead_ms": overhead})
        values.update(zip((int(t) for t in graph.operators[i].outputs), outputs))
        for t in reads:
            if last.get(t) == i and t not in keep:
                del values[t]
    return rows, [values[int(t)] for t in graph.outputs]


def measure_whole(data: bytes, x: np.ndarray, *, kernel: str, threads: int, runs: int) -> dict:
    """The whole graph on ``x``: ``{raw_ms, overhead_ms, ms, outputs}`` (its input/output copies subtracted)."""
    options = {"kernel": kernel, "threads": threads, "runs": runs, "min_secs": WHOLE_MIN_SECS}
    x = [np.ascontiguousarray(x, dtype=np.float32)]
    raw, outputs = _least_ms(data, x, **options)
    overhead, _ = _least_ms(OpCutter(data).bare(), x, **options)
    return {"raw_ms": raw, "overhead_ms": overhead, "ms": max(0.0, raw - overhead), "outputs": outputs}


def host_kernel(art, kernel: str, x: np.ndarray, *, threads: int, runs: int, max_secs, say) -> tuple[str, dict | None]:
    """``(kernel, choice)`` for ``art``: ``auto`` is :func:`bnn_deploy.runtimes.lce.choose_kernel`, as the host
    bench does; a graph without LCE ops runs as TFLite runs it (built-in kernels + XNNPACK)."""
    from bnn_deploy.devices.lce_benchmark import TFLITE_KERNEL
    from bnn_deploy.runtimes.lce import choose_kernel

    if art.format != "lce":
        return TFLITE_KERNEL, None
    if kernel != "auto":
        return kernel, None
    say(f"{art.name}: choosing the LCE kernel")
    choice = choose_kernel(art.file, x, threads=threads, runs=runs, max_secs=max_secs, progress=say)
    return choice["kernel"], choice


def profile_artifact_on_host(art, scale: int, *, kernel: str, threads: int, runs: int, max_secs, say) -> dict:
    """One artifact's host profile (the module docstring's method)."""
    from bnn_deploy.core.photos import bench_input
    from bnn_deploy.runtimes.lce import max_abs_diff, read_model_bytes, with_xnnpack, without_xnnpack

    data = read_model_bytes(art.file)
    x = bench_input(tuple(art.input_hw), scale)
    kernel, choice = host_kernel(art, kernel, x, threads=threads, runs=runs, max_secs=max_secs, say=say)
    plain, fused = without_xnnpack(kernel), with_xnnpack(without_xnnpack(kernel))
    say(f"{art.name}: each op alone with kernel {plain}")
    measured, chained = measure_ops(data, x, kernel=plain, threads=threads, runs=runs, progress=say)
    say(f"{art.name}: the whole graph with {plain}" + (f" and with {fused}" if fused else ""))
    timing = {"kernel": plain, "threads": threads, "runs": runs}
    whole = measure_whole(data, x, **timing)
    xnn = measure_whole(data, x, **{**timing, "kernel": fused}) if fused else None
    diff = max(max_abs_diff(a, b) for a, b in zip(chained, whole["outputs"]))
    fb, types = read_flatbuffer(data), tensor_type_names(data)
    entries = [
        _entry(op.index, op.kind, module_path(op), op_class(op, types), m["ms"], overhead_ms=m["overhead_ms"])
        for op, m in zip(fb.ops, measured)
    ]
    result = _artifact_fields(art, kernel, plain, threads) | {"kernel_choice": choice}
    result |= summarize(entries, whole["ms"]) | {"whole_overhead_ms": whole["overhead_ms"], "method": HOST_METHOD}
    result["clock"] = "CPU time of the running thread" if threads == 1 else "wall time"
    result["cut_check"] = {
        "max_abs_diff": diff,
        "what": "the single-op graphs run one after the other on each other's outputs, against the whole graph",
    }
    result["xnnpack"] = _xnnpack_lump(whole["ms"], xnn["ms"] if xnn else None, fused)
    result["notes"] = _agreement_notes(result)
    return result


def _agreement_notes(result: dict) -> list[str]:
    """Say so when the ops do not add up to the whole graph (a busy machine, or an op that does not
    run alone as it runs in the graph)."""
    if result["agreement"] is None or abs(result["agreement"] - 1) <= AGREEMENT:
        return []
    return [
        f"the ops add up to {100 * result['agreement']:.0f} % of the whole graph, beyond the "
        f"{100 * AGREEMENT:.0f} % a quiet machine stays within: rerun when the machine is idle"
    ]


# ---------------------------------------------------------------- shaping rows (host and board)


def _entry(index, op: str, module, cls: str, ms: float, **extra) -> dict:
    return {"index": index, "op": op, "module": module, "class": cls, "ms": ms, **extra}


def summarize(entries: list[dict], whole_ms: float | None) -> dict:
    """``ops`` with % and cumulative % (run order), ``by_type``, the binary/glue ``split``,
    ``ops_sum_ms``, ``whole_ms`` and their ``agreement`` (ops_sum / whole)."""
    total = sum(e["ms"] for e in entries)
    share = (lambda ms: 100.0 * ms / total) if total > 0 else (lambda ms: 0.0)
    ops, cum = [], 0.0
    for e in entries:
        cum += e["ms"]
        ops.append({**e, "percent": share(e["ms"]), "cum_percent": share(cum)})
    types: dict[str, dict] = {}
    for e in entries:
        t = types.setdefault(e["op"], {"op": e["op"], "class": e["class"], "count": 0, "ms": 0.0})
        t["count"] += 1
        t["ms"] += e["ms"]
    by_type = sorted(types.values(), key=lambda t: -t["ms"])
    for t in by_type:
        t["percent"] = share(t["ms"])
    binary = sum(e["ms"] for e in entries if e["class"] == "binary")
    return {
        "ops": ops,
        "by_type": by_type,
        "split": {
            "binary_ms": binary,
            "glue_ms": total - binary,
            "binary_percent": share(binary),
            "glue_percent": share(total - binary),
        },
        "ops_sum_ms": total,
        "whole_ms": whole_ms,
        "agreement": total / whole_ms if whole_ms else None,
    }


def _xnnpack_lump(without_ms, with_ms, kernel) -> dict | None:
    if with_ms is None:
        return None
    return {
        "kernel": kernel,
        "without_ms": without_ms,
        "with_ms": with_ms,
        "saved_ms": without_ms - with_ms,
        "saved_percent": 100.0 * (without_ms - with_ms) / without_ms if without_ms else None,
    }


def _artifact_fields(art, kernel: str, op_kernel: str, threads: int) -> dict:
    h, w = art.input_hw
    return {
        "name": art.name,
        "format": art.format,
        "role": art.role,
        "file": art.file,
        "input_size": f"{w}x{h}",
        "threads": threads,
        "kernel": kernel,
        "op_kernel": op_kernel,
    }


def board_artifact_profile(art, rec: dict, threads: int) -> dict:
    """One artifact's board profile from ``lce_benchmark_model``'s op tables (``rec["op_profiles"]``)."""
    data = Path(art.file).read_bytes()
    fb, types = read_flatbuffer(data), tensor_type_names(data)
    plain = rec["op_profiles"]["profile"]
    entries = [_board_entry(row, fb, types) for row in plain.get("rows", [])]
    result = _artifact_fields(art, rec["kernel"], plain["kernel"], threads) | {
        "kernel_choice": rec.get("kernel_choice")
    }
    result |= summarize(entries, plain.get("avg_ms")) | {"method": BOARD_METHOD, "command": plain["command"]}
    fused = rec["op_profiles"].get("profile-xnnpack")
    result["xnnpack"] = _xnnpack_lump(
        plain.get("avg_ms"), fused.get("avg_ms") if fused else None, (fused or {}).get("kernel")
    )
    if fused:
        rows = [_board_entry(row, fb, types) for row in fused.get("rows", [])]
        result["xnnpack"] |= {"ops": summarize(rows, fused.get("avg_ms"))["ops"], "command": fused["command"]}
    missing = len(fb.ops) - len(entries)
    result["notes"] = [f"the tool's table has {len(entries)} rows for {len(fb.ops)} ops"] if missing else []
    return result


def _board_entry(row: dict, fb, types) -> dict:
    """A row of the tool's table as a profile entry: a TFLite node is the flatbuffer op of that index;
    an XNNPACK delegate row is float work whose module is unknown."""
    node = row["node"]
    op = fb.ops[node] if node is not None and not row["delegate"] and node < len(fb.ops) else None
    if op is not None and op.kind == row["type"]:
        return _entry(node, op.kind, module_path(op), op_class(op, types), row["avg_ms"])
    return _entry(node, row["type"], None, "float" if row["delegate"] else "unknown", row["avg_ms"], name=row["name"])


# ---------------------------------------------------------------- the command


def profile(export_dir, options: BenchOptions, *, progress=None) -> dict:
    """``bnn-deploy profile``: every LCE / TFLite artifact of ``export_dir``, on ``options.device``."""
    from bnn_deploy.core.exports import read_export

    say = progress or (lambda _m: None)
    options.check()
    _check_profile_options(options)
    exp = read_export(export_dir)
    arts = profiled_artifacts(exp)
    started = time.perf_counter()
    if options.on_host:
        report = {
            "device": options.device,
            "artifacts": profile_on_host(exp, arts, options, say=say),
        }
    else:
        report = profile_on_board(exp, arts, options, say=say)
    report = {
        "export_dir": exp.path,
        **report,
        "host": host_info(),
        "settings": {**options.settings(), "runtime_args": list(options.runtime_args)},
        "reading": READING,
        "wall_seconds": time.perf_counter() - started,
    }
    return finish(report, options.trace)


def _check_profile_options(options: BenchOptions) -> None:
    if len(options.threads) != 1:
        raise BnnDeployError(
            f"--threads {','.join(map(str, options.threads))}: a profile measures one thread count; "
            "give one, e.g. --threads 1"
        )


def profiled_artifacts(exp) -> list:
    """The export's LCE and TFLite artifacts; an export without an LCE artifact (lce, lce-int8) is refused."""
    if not any(a.runtime == "lce" and a.format in PROFILED_FORMATS for a in exp.artifacts):
        raise BnnDeployError(
            f"{exp.path} has no LCE artifact to profile; export with --format lce (bnn-deploy export CKPT --format lce)"
        )
    return [a for a in exp.artifacts if a.format in PROFILED_FORMATS]


def profile_on_host(exp, arts, options: BenchOptions, *, say, kernel: str | None = None) -> list[dict]:
    """Host profiles of ``arts`` (``kernel`` overrides ``options.kernel``, e.g. the bench's choice)."""
    return [
        profile_artifact_on_host(
            art,
            exp.scale,
            kernel=kernel or options.kernel,
            threads=options.threads[0],
            runs=options.runs,
            max_secs=options.max_secs,
            say=say,
        )
        for art in arts
    ]


def profile_on_board(exp, arts, options: BenchOptions, *, say) -> dict:
    """Board profiles: ``lce_benchmark_model`` with the op profiler, nothing else, on every artifact."""
    from bnn_deploy.devices.remote_bench import bench_on_device

    run = options.board_run([a.format for a in arts], measure=False, profile=True)
    board = bench_on_device(exp, options.device, run, options.board_access(), progress=say)
    return {
        "device": board["device"],
        **board_profiles(exp, board, options.threads[0]),
        "preflight": board["preflight"],
        "emulated": board["emulated"],
        "runtime_bin": board["runtime_bin"],
        "cleanup": board["cleanup"],
    }


def board_profiles(exp, board: dict, threads: int) -> dict:
    """``{artifacts, profiles, notes}``: the op profiles a board run brought back (``bench_on_device``'s
    report). ``profiles`` are the runs with XNNPACK in the shape
    :func:`bnn_deploy.prediction.predict.compare_against` reads, kernels named as the latency model
    names them (its kernels always have XNNPACK): a measurement to hold a prediction against."""
    from bnn_deploy.runtimes.lce import with_xnnpack

    by_file = {a.file: a for a in exp.artifacts}
    arts = [board_artifact_profile(by_file[r["file"]], r, threads) for r in board["artifacts"] if r.get("op_profiles")]
    notes = ["emulated board: its op times are the emulator's, not the board's"] if board["emulated"] else []
    profiles = [
        {
            "device": board["device"]["profile"],
            "board": board["device"]["name"],
            "artifact": art["name"],
            "file": Path(art["file"]).name,  # the flatbuffer: what a prediction is matched on
            "threads": threads,
            # the run with XNNPACK, named as runtimes.lce (and the latency model) name it
            "kernel": with_xnnpack(art["op_kernel"]) or art["op_kernel"],
            "command": art["xnnpack"]["command"],
            "ops": [{"op": op["op"], "ms": op["ms"]} for op in art["xnnpack"]["ops"]],
            "total_ms": art["xnnpack"]["with_ms"],
        }
        for art in arts
        if (art.get("xnnpack") or {}).get("ops") and not board["emulated"]
    ]
    return {"artifacts": arts, "profiles": profiles, "notes": notes}


def finish(report: dict, trace_path) -> dict:
    """``report`` JSON-ready, with the trace written where asked."""
    write_trace(report, trace_path)
    return jsonable(report, REPORT_DIGITS)


def write_trace(profile: dict, path) -> None:
    """Write ``profile``'s trace events to ``path`` (atomically) and note it in ``profile["trace"]``."""
    if path is not None:
        write_json(path, trace_events(profile))
        profile["trace"] = str(path)


# ---------------------------------------------------------------- trace and text


def trace_events(report: dict) -> dict:
    """Chrome trace-event JSON: per artifact one process, its ops as complete events (``ph: "X"``, µs)
    laid end to end in run order; a board's run with XNNPACK is a second thread."""
    events = []
    for pid, art in enumerate(report["artifacts"], 1):
        events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": art["name"]}})
        lanes = [(1, f"ops, kernel {art['op_kernel']}", art["ops"])]
        if (art.get("xnnpack") or {}).get("ops"):
            lanes.append((2, f"with XNNPACK ({art['xnnpack']['kernel']})", art["xnnpack"]["ops"]))
        for tid, title, ops in lanes:
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": title}})
            ts = 0.0
            for op in ops:
                dur = op["ms"] * 1000.0
                label = f"{op['op']} {op['module']}" if op.get("module") else op["op"]
                args = {"index": op["index"], "module": op.get("module"), "class": op["class"], "ms": op["ms"]}
                events.append(
                    {
                        "name": label,
                        "cat": op["class"],
                        "ph": "X",
                        "ts": ts,
                        "dur": dur,
                        "pid": pid,
                        "tid": tid,
                        "args": args,
                    }
                )
                ts += dur
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def render_profile(report: dict) -> str:
    """The text report: per artifact its op table, the summary by type, the split and the cross-checks."""
    where = report["device"] if isinstance(report["device"], str) else report["device"]["name"]
    lines = [f"profile {report['export_dir']} on {where}"]
    for art in report["artifacts"]:
        lines += [""] + render_artifact_profile(art)
    lines += ["", "how to read it: " + READING]
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    if report.get("trace"):
        lines.append(f"wrote {report['trace']} (open it in https://ui.perfetto.dev or chrome://tracing)")
    return "\n".join(lines)


def render_artifact_profile(art: dict) -> list[str]:
    """One artifact's part of :func:`render_profile` (the bench report prints it too)."""
    width = max([len(op["module"] or "-") for op in art["ops"]] + [6])
    lines = [
        f"{art['name']} ({art['format']}, {art['input_size']}, {art['threads']} thread"
        f"{'s' if art['threads'] > 1 else ''}): kernel {art['kernel']}, ops with {art['op_kernel']}",
        "  " + art["method"],
        f"  {'#':>4} {'op':<24} {'module':<{width}} {'class':<7} {'ms':>10} {'%':>6} {'cum %':>6}",
    ]
    for op in art["ops"]:
        index = "-" if op["index"] is None else op["index"]
        lines.append(
            f"  {index:>4} {op['op']:<24} {_module(op):<{width}} {op['class']:<7} {op['ms']:>10.3f} "
            f"{op['percent']:>6.1f} {op['cum_percent']:>6.1f}"
        )
    lines.append(
        "  by op type: "
        + "; ".join(f"{t['op']} x{t['count']} {t['ms']:.3f} ms {t['percent']:.1f} %" for t in art["by_type"])
    )
    s = art["split"]
    lines.append(
        f"  binary (LceBconv2d) {s['binary_percent']:.1f} % ({s['binary_ms']:.3f} ms) | float glue "
        f"{s['glue_percent']:.1f} % ({s['glue_ms']:.3f} ms)"
    )
    if art.get("whole_ms"):
        lines.append(
            f"  sum of ops {art['ops_sum_ms']:.3f} ms vs whole graph {art['whole_ms']:.3f} ms "
            f"({100 * art['agreement']:.0f} %)"
        )
    x = art.get("xnnpack")
    if x:
        lines.append(
            f"  XNNPACK, whole graph: {x['without_ms']:.3f} ms without, {x['with_ms']:.3f} ms with {x['kernel']} "
            f"({x['saved_percent']:+.1f} % saved)"
            + ("; its table folds float ops into delegate rows (module -)" if x.get("ops") else "")
        )
    lines += [f"  note: {n}" for n in art.get("notes", [])]
    return lines


def _module(op: dict) -> str:
    if op["module"] is None:
        return "-"
    return op["module"] or "(model)"
