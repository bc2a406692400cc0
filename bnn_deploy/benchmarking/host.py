"""``bnn-deploy bench EXPORT_DIR --device host``: every artifact, same input, own process, honest figures.

For each exported input size and each thread count, every artifact of the export — LCE, float
TFLite (the binary net on float kernels, and the float reference), int8 TFLite, ONNX Runtime — and
the PyTorch models they came from runs in a fresh worker process (:mod:`bnn_deploy.runtimes.worker`)
on one saved ``.npy`` input (a held-out photo crop of that size). Per artifact the result holds

* latency over the timed runs: ``min, median, mean, p90, p99, max, std`` ms, the first run and the
  init (load) time;
* memory: the worker's resident-set high-water mark after loading and after running (the method
  is spelled out in ``memory.method``);
* file size; parity PSNR of its output against PyTorch running the same model on the same input
  (``-10 log10 MSE``, raw floats); quality PSNR/SSIM against HR on the held-out photos (BasicSR
  protocol), whole images tiled through fixed-shape graphs.

``kernel="auto"`` first times LCE's kernel options in a separate process and keeps the fastest
with output identical to LCE's default kernel (:func:`bnn_deploy.runtimes.lce.choose_kernel`).
The speed-up table divides each baseline's median latency by the LCE artifact's, per size and
thread count.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from bnn_deploy.benchmarking.options import BenchOptions
from bnn_deploy.benchmarking.report import bicubic_quality, quality_figures, speedups, write_report
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.formats import print_order
from bnn_deploy.core.parity import Parity, compare
from bnn_deploy.core.photos import bench_input, quality_photos
from bnn_deploy.core.progress import bar
from bnn_deploy.core.versions import host_info
from bnn_deploy.runtimes.base import latency_stats
from bnn_deploy.runtimes.isolated import load_outputs, run_worker, worker_spec

SELECT_MIN_TIMEOUT_S = 120  # the kernel choice's process limit: at least this, or 10x --max-secs

# ---------------------------------------------------------------- inputs


# ---------------------------------------------------------------- workers


def _jobs(exp, sizes, threads_list):
    """``[(size, threads, artifact)]`` in print order: fixed-size artifacts at their size, the others at each."""
    jobs = []
    for hw in sizes:
        for threads in threads_list:
            arts = [a for a in exp.artifacts if a.input_hw is None or tuple(a.input_hw) == hw]
            arts.sort(key=lambda a: print_order(a.format, a.role))
            jobs += [(hw, threads, a) for a in arts]
    return jobs


def bench_export(export_dir: str, options: BenchOptions, *, progress=None) -> dict:
    """Benchmark every artifact of ``export_dir`` on this machine (see module docstring); returns the report.

    ``options.json_out`` / ``options.plot``: where to write the JSON report and the latency-vs-PSNR PNG.
    """
    from bnn_deploy.core.exports import check_tile_overlap, read_export
    from bnn_deploy.core.fileio import sha256_file

    say = progress or (lambda _m: None)
    if not options.on_host:
        raise BnnDeployError(
            f"--device {options.device!r}: this function measures this machine only; a board is "
            "benchmarked by bnn_deploy.benchmarking.board.bench_export_on_device"
        )
    options.check()
    threads_list, warmup, runs, max_secs, kernel = (
        options.threads,
        options.warmup,
        options.runs,
        options.max_secs,
        options.kernel,
    )
    exp = read_export(export_dir)
    overlap = exp.tile_overlap() if options.overlap is None else options.overlap  # measured for the model
    check_tile_overlap(exp, overlap, explicit=options.overlap is not None)  # quality tiles, before any run
    if options.profile:
        from bnn_deploy.benchmarking.profile import profiled_artifacts

        profiled_artifacts(exp)  # an export without an LCE artifact is refused before any work
    sizes = exp.input_sizes()
    geometry = None
    if options.frame is not None:  # every tile must fit the frame: checked before any work
        from bnn_deploy.runtimes.frames import check_frame, frame_geometry

        geometry = frame_geometry(options.frame, exp.scale)
        for art in exp.artifacts:
            if art.input_hw is not None:
                check_frame(geometry, art.input_hw, art.name)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bnn-deploy-bench-") as tmp:
        workdir = Path(tmp)
        photos = quality_photos(exp.scale)
        np.savez(workdir / "photos.npz", **{str(i): lr for i, (_, lr, _) in enumerate(photos)})
        inputs, digests = {}, {}
        for hw in sizes:
            inputs[hw] = str(workdir / f"input_{hw[1]}x{hw[0]}.npy")
            np.save(inputs[hw], bench_input(hw, exp.scale))
            digests[hw] = sha256_file(inputs[hw])
        jobs = _jobs(exp, sizes, threads_list)
        results = []
        with bar("benchmarking", total=len(jobs), unit="artifact") as shown:
            for n, (hw, threads, art) in enumerate(jobs, 1):
                label = f"[{n}/{len(jobs)}] {art.name} at {hw[1]}x{hw[0]}, {threads} thread{'s' if threads > 1 else ''}"
                spec = worker_spec(
                    art,
                    threads=threads,
                    input_path=inputs[hw],
                    photos=workdir / "photos.npz",
                    scale=exp.scale,
                    overlap=overlap,
                    warmup=warmup,
                    runs=runs,
                    max_secs=max_secs,
                )
                choice = None
                use_kernel = None
                if art.runtime == "lce":
                    use_kernel = kernel
                    if kernel == "auto":
                        say(f"{label}: choosing the LCE kernel")
                        # the choice stops loading candidates after --max-secs; the process gets some slack
                        limit = max(SELECT_MIN_TIMEOUT_S, 10 * options.max_secs)
                        choice = run_worker(dict(spec, select_kernel=True), workdir, f"select{n}", timeout=limit)
                        use_kernel = choice.get("kernel")
                tag = f"job{n}"
                if choice is not None and "error" in choice:
                    result = {"error": f"kernel selection failed: {choice['error']}"}
                else:
                    say(f"{label}: measuring" + (f" (kernel {use_kernel})" if use_kernel else ""))
                    result = run_worker(dict(spec, kernel=use_kernel), workdir, tag)
                row = _row(art, hw, threads, result, choice)
                results.append((row, result))
                say(f"{label}: {_summary(row)}")
                shown.update()
        say("comparing outputs (parity vs PyTorch, PSNR vs HR)")
        _add_figures(results, photos, exp.scale, overlap)
    rows = [row for row, _ in results]
    profile = _profile(exp, rows, options, say) if options.profile else None
    frames = None
    if geometry is not None:
        from bnn_deploy.runtimes.frames import time_frames

        by_file = {a.file: a for a in exp.artifacts}
        jobs = [(by_file[r["file"]], r["threads"], r.get("kernel")) for r in rows if "error" not in r]
        frames = time_frames(jobs, geometry, overlap=overlap, runs=runs, warmup=warmup, max_secs=max_secs, progress=say)
    report = {
        "export_dir": exp.path,
        "device": options.device,
        "host": host_info(),
        "export_versions": exp.manifest.versions,
        "model_source": exp.manifest.source.identity(),
        "settings": {**options.settings(), "tile_overlap": overlap},
        "inputs": {
            f"{hw[1]}x{hw[0]}": {
                "what": "the export's first parity crop of the held-out photos at this LR "
                "size, saved as .npy (NHWC float32, RGB in [0, 1])",
                "sha256": digests[hw],
            }
            for hw in sizes
        },
        "quality_photos": [name for name, _, _ in photos],
        "bicubic": bicubic_quality(photos, exp.scale),
        "results": rows,
        "speedups": speedups(rows),
        **({"frames": frames} if frames is not None else {}),
        "notes": exp.notes,
        "wall_seconds": time.perf_counter() - started,
    }
    if profile is not None:
        report["profile"] = profile
    if options.predict:
        say(f"predicting {', '.join(options.predict)} (a latency model, not a measurement)")
        report["predicted"] = predicted_rows(exp, rows, options)
    return write_report(report, options.plot, options.trace)


def _summary(row: dict) -> str:
    """One status line for a measured row."""
    if "error" in row:
        return f"error: {row['error']}"
    return f"median {row['latency_ms']['median']:.2f} ms, peak RSS {row['memory']['peak_rss_mb']:.0f} MB"


def predicted_rows(exp, rows: list[dict], options: BenchOptions) -> list[dict]:
    """PREDICTED board latency of each flatbuffer (``bench --predict``), never mixed with the measured rows.

    Quality is the artifact's own (the board computes the same output; its PSNR was measured here).
    """
    from bnn_deploy.core.formats import FORMATS
    from bnn_deploy.prediction import predict

    measured = {(r["file"], r["input_size"]): r for r in rows}
    out = []
    for art in exp.artifacts:
        if not FORMATS[art.format].fixed_shape:
            continue
        size = f"{art.input_hw[1]}x{art.input_hw[0]}"
        quality = (measured.get((art.file, size)) or {}).get("quality") or {}
        result = predict(art.file, devices=list(options.predict), threads=list(options.predict_threads))
        for p in result["predictions"]:
            out.append(
                {
                    "name": art.name,
                    "format": art.format,
                    "role": art.role,
                    "file": art.file,
                    "input_size": size,
                    "device": p["device"],
                    "threads": p["threads"],
                    "kernel": p["kernel"],
                    "label": "predicted",
                    "predicted_ms": p["predicted_ms"],
                    "low_ms": p["low_ms"],
                    "high_ms": p["high_ms"],
                    "binary_share": p["binary_share"],
                    "calibrated": p["calibrated"],
                    "quality": {"psnr_db": quality.get("psnr_db"), "measured_on": "this machine (same output)"},
                }
            )
    return out


def _profile(exp, rows: list[dict], options: BenchOptions, say) -> dict:
    """``bench --profile`` on this machine: the host profile of every LCE/TFLite artifact, with the kernel
    the bench measured the LCE artifact with (its first thread count)."""
    from bnn_deploy.benchmarking.profile import profile_on_host, profiled_artifacts

    threads = options.threads[0]
    kernel = next(
        (r["kernel"] for r in rows if r["format"] == "lce" and r["threads"] == threads and "kernel" in r), None
    )
    say(f"profiling each op alone ({threads} thread{'s' if threads > 1 else ''})")
    arts = profiled_artifacts(exp)
    notes = [] if len(options.threads) == 1 else [f"the op profile ran with {threads} thread(s), the first count"]
    return {"artifacts": profile_on_host(exp, arts, options, say=say, kernel=kernel), "notes": notes}


def _row(art, hw, threads, result: dict, choice: dict | None) -> dict:
    """The report row of one artifact run (timings summarised; figures added by :func:`_add_figures`)."""
    row = {
        "name": art.name,
        "format": art.format,
        "runtime": art.runtime,
        "role": art.role,
        "model": art.model,
        "file": art.file,
        "file_size_bytes": art.size_bytes,
        "sha256": art.sha256,
        "input_size": f"{hw[1]}x{hw[0]}",
        "threads": threads,
    }
    if "error" in result:
        row["error"] = result["error"]
        return row
    stats = latency_stats(result["runs_ms"])
    row.update(
        {
            "kernel": result["kernel"],
            "kernel_choice": choice,
            "input_shape": result["input_shape"],
            "latency_ms": stats,
            "init_ms": result["init_ms"],
            "first_run_ms": result["first_run_ms"],
            "stopped_by": result["stopped_by"],
            "memory": result["memory"],
        }
    )
    return row


def _add_figures(results, photos, scale: int, overlap: int) -> None:
    """Parity vs the same model's PyTorch run (same size and threads) and quality vs HR, per row."""
    outputs = {id(row): load_outputs(result) for row, result in results if "error" not in row}
    refs = {
        (row["role"], row["input_size"], row["threads"]): outputs.get(id(row))
        for row, _ in results
        if row["format"] == "pytorch"
    }
    for row, _ in results:
        out = outputs.get(id(row))
        if out is None:
            continue
        ref = refs.get((row["role"], row["input_size"], row["threads"]))
        if row["format"] == "pytorch":
            parity = Parity(psnr_db=float("inf"), max_abs_error=0.0, reference="itself (the reference)")
        elif ref is None:
            parity = Parity.not_measured("the PyTorch model of this artifact was not found")
        else:
            parity = compare([out["bench"]], [ref["bench"]], reference="PyTorch eager, same model and input")
        row["parity"] = parity.to_json()
        row["quality"] = quality_figures(
            row["format"], row["input_shape"], row["input_size"], out, photos, scale, overlap
        )


# ---------------------------------------------------------------- text
