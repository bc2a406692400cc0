"""``bnn-deploy bench EXPORT_DIR --device pi4 --host pi@raspberrypi.local``: the host bench's report, from a board.

:func:`bench_export_on_device` runs :func:`bnn_deploy.devices.remote_bench.bench_on_device` (preflight,
push, run, pull, clean up; ``cooldown`` seconds between artifacts), then, on this machine:

* **parity**: the PyTorch model each artifact was exported from runs on the very input the board ran
  (the host bench's input), and :func:`~bnn_deploy.devices.remote_bench.compare_outputs` compares
  the board's outputs with it — the same reference as the host bench's parity;
* **quality**: a board run covers one input, so PSNR/SSIM vs HR on the held-out photos come from the
  same file run by this machine's runtimes (``quality.measured_on`` says so);

and shapes each board result as a host bench row (:mod:`bnn_deploy.benchmarking.host`): latency statistics,
init and first run, memory with the board runner's method, file size, parity, quality — plus the
runner, command, temperature and the ``device`` facts and ``preflight`` of the run. Figures a board
runner does not give are ``null`` (``lce_benchmark_model`` prints no per-run times, hence no
median/p90/p99). An emulated board's timings are kept under ``emulated_timings_ms``; its
``latency_ms``, ``init_ms`` and ``first_run_ms`` are ``null``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bnn_deploy.benchmarking.host import bench_export
from bnn_deploy.benchmarking.options import BenchOptions
from bnn_deploy.benchmarking.profile import board_profiles, profiled_artifacts
from bnn_deploy.benchmarking.report import bicubic_quality, quality_figures, speedups, write_report
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import sha256_file
from bnn_deploy.core.formats import print_order
from bnn_deploy.core.parity import Parity
from bnn_deploy.core.photos import quality_photos
from bnn_deploy.core.versions import host_info
from bnn_deploy.devices.transport import Unreachable
from bnn_deploy.runtimes.base import latency_stats
from bnn_deploy.runtimes.isolated import load_outputs, run_worker, worker_spec

BOARD_PYTHON_MEMORY = (
    "board Python runner, one process per artifact on the board: VmRSS (/proc/self/statm) "
    "at start (Python + numpy), after importing the runtime and loading the model, and after "
    "the runs; peak_rss_mb is getrusage's ru_maxrss after the runs. The runtime import is not "
    "measured apart from loading, so peak_over_import_mb is null; peak_over_start_mb is given"
)
LCE_MEMORY_RUN = (
    ", from a separate single run with --report_peak_memory_footprint=true (its monitoring thread "
    "stays out of the timed run; the command is memory.board.command)"
)
LCE_MEMORY = {
    "peak": (
        "lce_benchmark_model's own report 'Peak memory footprint (MB): init=… overall=…' (older TFLite): "
        "the process's peak resident memory after loading (peak_rss_after_load_mb) and overall "
        "(peak_rss_mb); the tool is one executable with the runtime linked in, so there is no separate runtime import"
        + LCE_MEMORY_RUN
    ),
    "delta": (
        "lce_benchmark_model's own report 'Memory footprint delta from the start of the tool (MB): "
        "init=… overall=…' (newer TFLite): growth of the peak resident memory since the tool started, "
        "its runtime already loaded (peak_over_import_mb = overall); peak_rss_mb is the tool's "
        "'Overall peak memory footprint (MB) via periodic monitoring'" + LCE_MEMORY_RUN
    ),
}
QUALITY_WHERE = (
    "this machine: the same file run by the host runtimes on the held-out photos (a board run "
    "covers one input; its parity figure says whether the board computes the same)"
)


def bench(export_dir, options: BenchOptions, progress=None) -> dict:
    """``bnn-deploy bench``: every option checked, then the host bench or :func:`bench_export_on_device`."""
    options.check()
    if options.on_host:
        return bench_export(export_dir, options, progress=progress)
    return bench_export_on_device(export_dir, options, progress=progress)


def print_commands(export_dir, options: BenchOptions) -> dict:
    """``bench --device BOARD --print-commands``: every command the bench would run, nothing connected."""
    from bnn_deploy.core.exports import read_export
    from bnn_deploy.devices.remote_bench import board_commands

    options.check()
    exp = read_export(export_dir)
    return board_commands(exp, options.device, options.board_run(), options.board_access())


def bench_export_on_device(
    export_dir, options: BenchOptions, *, progress=None, out_dir=None, formats: list[str] | None = None, transport=None
) -> dict:
    """Benchmark ``export_dir`` on ``options.device`` (see the module docstring); returns the bench report.

    ``out_dir`` receives the board's inputs, outputs and its own ``report.json``; ``formats`` keeps
    only those artifact formats; ``transport``: an open transport to use (tests, emulated boards).
    Every user-fixable problem is a one-line :class:`BnnDeployError`, raised before connecting where
    it can be known without the board.
    """
    from bnn_deploy.core.exports import check_tile_overlap, read_export
    from bnn_deploy.devices.remote_bench import bench_on_device

    say = progress or (lambda _m: None)
    options.check()
    exp = read_export(export_dir)  # verified once; the board run takes this object
    overlap = exp.tile_overlap() if options.overlap is None else options.overlap  # measured for the model
    check_tile_overlap(exp, overlap, explicit=options.overlap is not None)  # quality tiles, before connecting
    if options.profile:
        profiled_artifacts(exp)  # an export without an LCE artifact is refused before connecting
    started = time.perf_counter()
    run = options.board_run(formats)
    try:
        board = bench_on_device(
            exp, options.device, run, options.board_access(), progress=say, out_dir=out_dir, transport=transport
        )
    except Unreachable as exc:
        raise Unreachable(f"{exc}{_predict_hint(exp, options.device)}") from exc
    say("on this machine: PyTorch reference on the board's input (parity), each file on the photos (quality)")
    rows, inputs, photos = _host_figures(exp, board, run.threads, overlap)
    report = {
        "export_dir": exp.path,
        "device": board["device"],
        "host": host_info(),
        "export_versions": exp.manifest.versions,
        "model_source": exp.manifest.source.identity(),
        "settings": {
            **options.settings(),
            "max_secs": None,
            "tile_overlap": overlap,
            "cooldown": run.cooldown,
            "timeout": run.timeout,
            "runtime_args": list(run.runtime_args),
        },
        "inputs": inputs,
        "quality_photos": [name for name, _, _ in photos],
        "bicubic": bicubic_quality(photos, exp.scale),
        "results": rows,
        "speedups": speedups(rows),
        "notes": exp.notes + _runtime_args_note(run.runtime_args),
        "preflight": board["preflight"],
        "board_python": board["board_python"],
        "emulated": board["emulated"],
        "latency_is_device_latency": board["latency_is_device_latency"],
        "runtime_bin": board["runtime_bin"],
        "cleanup": board["cleanup"],
        "board_out_dir": board["out_dir"],
        "started": board["started"],
        "wall_seconds": time.perf_counter() - started,
    }
    if options.profile:
        report["profile"] = board_profiles(exp, board, run.threads)
        report["notes"] = report["notes"] + report["profile"]["notes"]
    return write_report(report, options.plot, options.trace)


def _runtime_args_note(args) -> list[str]:
    """What ``--runtime-arg`` flags mean for the figures: the tool takes them as given, unknown ones too."""
    if not args:
        return []
    return [
        f"every lce_benchmark_model run also got {' '.join(args)} (--runtime-arg); the tool only warns about "
        "flags it does not know and runs on: those are listed as ignored_flags per artifact"
    ]


def _predict_hint(exp, device: str) -> str:
    """Where the board is away, what can still be had without it: a labelled prediction."""
    from bnn_deploy.devices.inventory import resolve_device
    from bnn_deploy.prediction.boards import BOARDS

    try:
        profile = resolve_device(device).profile.get("name", device)
    except BnnDeployError:
        profile = device
    if profile not in BOARDS:
        return ""
    return f" — or get a PREDICTED latency without the board: bnn-deploy predict {exp.path} --device {profile}"


def _host_figures(exp, board: dict, threads: int, overlap: int):
    """``(rows, inputs, photos)``: the board's results as host bench rows, with parity and quality added."""
    import tempfile

    from bnn_deploy.devices.remote_bench import compare_outputs

    by_file = {a.file: a for a in exp.artifacts}
    ran = [r for r in board["artifacts"] if not r.get("skipped")]
    with tempfile.TemporaryDirectory(prefix="bnn-deploy-bench-") as tmp:
        workdir = Path(tmp)
        photos = quality_photos(exp.scale)
        np.savez(workdir / "photos.npz", **{str(i): lr for i, (_, lr, _) in enumerate(photos)})
        inputs = _nhwc_inputs(ran, workdir)
        refs, ref_errors = _reference_outputs(exp, by_file, ran, inputs, threads, workdir)
        quality = {}
        for n, r in enumerate(ran):
            kernel = host_kernel(by_file[r["file"]], r.get("kernel"))
            spec = worker_spec(
                by_file[r["file"]],
                threads=threads,
                input_path=inputs[r["input_size"]],
                photos=workdir / "photos.npz",
                scale=exp.scale,
                overlap=overlap,
                kernel=kernel,
            )
            quality[r["file"]] = _quality(
                run_worker(spec, workdir, f"quality{n}"),
                by_file[r["file"]].format,
                r["input_size"],
                photos,
                exp.scale,
                overlap,
            )
            quality[r["file"]]["kernel"] = kernel or "the host runtime's default"
        parity = compare_outputs(board, refs)
        described = {
            size: {
                "what": "the host bench's input: the export's first parity crop of the held-out photos "
                "at this LR size (NHWC float32 RGB in [0, 1]; ONNX got it as NCHW)",
                "sha256": sha256_file(path),
            }
            for size, path in inputs.items()
        }
    rows = [
        _row(
            by_file[r["file"]],
            r,
            threads,
            board["emulated"],
            quality.get(r["file"]),
            _parity(r, parity.get(r["name"]), exp.reference_for(by_file[r["file"]]), ref_errors.get(r["file"])),
        )
        for r in board["artifacts"]
    ]
    return sorted(rows, key=lambda row: print_order(row["format"], row["role"])), described, photos


def host_kernel(art, board_kernel: str | None) -> str | None:
    """The kernel this machine runs ``art`` with for quality: the board's LCE kernel where the host has
    it (the board runs what the host runs, and back), else the host runtime's default (None)."""
    from bnn_deploy.runtimes.lce import KERNELS

    return board_kernel if art.runtime == "lce" and board_kernel in KERNELS else None


def _nhwc_inputs(ran: list[dict], workdir: Path) -> dict[str, Path]:
    """``{input size: .npy}``: the input the board ran at each size, in NHWC as the host worker takes it."""
    inputs = {}
    for r in ran:
        if r["input_size"] not in inputs:
            x = np.load(r["input"])
            inputs[r["input_size"]] = path = workdir / f"input_{r['input_size']}.npy"
            np.save(path, np.ascontiguousarray(x.transpose(0, 2, 3, 1) if r["layout"] == "NCHW" else x))
    return inputs


def _reference_outputs(exp, by_file: dict, ran: list[dict], inputs: dict, threads: int, workdir: Path):
    """``({artifact file: PyTorch output in its layout}, {artifact file: why not})`` for the runs whose
    outputs came back; each PyTorch model runs once per input size, in its own process."""
    outputs, errors, runs = {}, {}, {}
    for r in ran:
        ref_art = exp.reference_for(by_file[r["file"]])
        if not r["parity_measured"] or ref_art is None:
            continue
        key = (ref_art.file, r["input_size"])
        if key not in runs:
            spec = worker_spec(ref_art, threads=threads, input_path=inputs[r["input_size"]], scale=exp.scale)
            runs[key] = run_worker(spec, workdir, f"reference{len(runs)}")
        got = load_outputs(runs[key])
        if got is None:
            errors[r["file"]] = runs[key].get("error", "no output")
        else:
            outputs[r["file"]] = got["bench"].transpose(0, 3, 1, 2) if r["layout"] == "NCHW" else got["bench"]
    return outputs, errors


def _quality(result: dict, fmt: str, size: str, photos, scale: int, overlap: int) -> dict:
    """The row's ``quality`` from a host worker's photo outputs (or why there is none)."""
    outputs = load_outputs(result)
    if outputs is None:
        return {
            "psnr_db": None,
            "ssim": None,
            "measured_on": QUALITY_WHERE,
            "how": f"not measured: {result.get('error', 'no output')}",
        }
    return {
        **quality_figures(fmt, result["input_shape"], size, outputs, photos, scale, overlap),
        "measured_on": QUALITY_WHERE,
    }


def _row(art, r: dict, threads: int, emulated: bool, quality: dict | None, parity: dict) -> dict:
    """One board result as a host bench row (:func:`bnn_deploy.benchmarking.host._row`'s fields) plus the board's."""
    row = {
        "name": art.name,
        "format": art.format,
        "runtime": r.get("runtime") or r["runner"],
        "role": art.role,
        "model": art.model,
        "file": art.file,
        "file_size_bytes": art.size_bytes,
        "sha256": art.sha256,
        "input_size": r["input_size"],
        "threads": threads,
        "runner": r["runner"],
    }
    if r.get("skipped"):
        return {**row, "skipped": r["skipped"]}
    timings = r["latency_ms"] or r.get("emulated_timings_ms") or {}
    figures = {
        "latency_ms": _latency(timings),
        "init_ms": timings.get("init_ms", timings.get("load_ms")),
        "first_run_ms": timings.get("first_ms"),
    }
    row.update(
        {
            "kernel": r.get("kernel"),
            "kernel_flags": r.get("kernel_flags"),
            "kernel_choice": r.get("kernel_choice"),
            "kernel_ran_on": "the board",
            "ignored_flags": r.get("ignored_flags", []),
            "input_shape": r["input_shape"],
            "layout": r["layout"],
            **({"latency_ms": None, "init_ms": None, "first_run_ms": None} if emulated else figures),
            "stopped_by": "runs",
            "memory": _memory(r["runner"], r.get("memory") or {}),
            "parity": parity,
            "quality": quality,
            "command": r.get("command"),
            "commands": r.get("commands", []),
            "temperature_c_before": r.get("temperature_c_before"),
            "notes": r.get("notes", []),
            "input": r.get("input"),
            "outputs": r.get("outputs", []),
        }
    )
    if emulated:  # qemu-user on an x86 CPU: never device latency
        row["emulated_timings_ms"] = figures
    return row


def _latency(timings: dict) -> dict:
    """The host bench's latency statistics from a board runner's timings (``null`` what it does not give)."""
    if timings.get("times_ms"):
        return latency_stats(timings["times_ms"])
    return {
        "min": timings.get("min_ms"),
        "median": timings.get("median_ms"),
        "mean": timings.get("avg_ms"),
        "p90": None,
        "p99": None,
        "max": timings.get("max_ms"),
        "std": timings.get("std_ms"),
        "runs": timings.get("count"),
    }


def _memory(runner: str, mem: dict) -> dict:
    """The host bench's memory fields from what the board runner measured (its raw figures under ``board``)."""
    out = dict.fromkeys(
        (
            "rss_at_start_mb",
            "rss_after_import_mb",
            "rss_after_load_mb",
            "peak_rss_after_load_mb",
            "rss_after_runs_mb",
            "peak_rss_mb",
            "peak_over_import_mb",
        )
    )
    if runner == "lce_benchmark_model":
        kind = mem.get("kind")
        if kind == "peak":
            out.update(peak_rss_after_load_mb=mem.get("init_mb"), peak_rss_mb=mem.get("overall_mb"))
        elif kind == "delta":
            out.update(peak_over_import_mb=mem.get("overall_mb"), peak_rss_mb=mem.get("peak_mb"))
        method = LCE_MEMORY.get(kind, "lce_benchmark_model printed no memory figures")
    else:
        start, peak = mem.get("rss_start_mb"), mem.get("peak_rss_mb")
        out.update(
            rss_at_start_mb=start,
            rss_after_load_mb=mem.get("rss_loaded_mb"),
            rss_after_runs_mb=mem.get("rss_end_mb"),
            peak_rss_mb=peak,
            peak_over_start_mb=None if start is None or peak is None else peak - start,
        )
        method = BOARD_PYTHON_MEMORY
    return {"method": method, **out, "board": mem}


def _parity(r: dict, fig: Parity | None, ref_art, ref_error: str | None) -> dict:
    """The board's output against the PyTorch reference, as the report's ``parity``."""
    if fig is not None:
        return fig.to_json()
    if r.get("skipped"):
        why = "not run on the board"
    elif ref_art is None:
        why = "the PyTorch model of this artifact was not found"
    elif not r["parity_measured"]:
        why = "the board's outputs did not come back: " + ("; ".join(r.get("notes", [])) or "see notes")
    else:
        why = f"the PyTorch reference failed on this machine: {ref_error}"
    return Parity.not_measured(why).to_json()
