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
from bnn_deploy.core.versions import host_info
from bnn_deploy.runtimes.base import latency_stats
from bnn_deploy.runtimes.isolated import load_outputs, run_worker, worker_spec

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
    from bnn_deploy.core.exports import read_export
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
                    choice = run_worker(dict(spec, select_kernel=True), workdir, f"select{n}")
                    use_kernel = choice.get("kernel")
            tag = f"job{n}"
            if choice is not None and "error" in choice:
                result = {"error": f"kernel selection failed: {choice['error']}"}
            else:
                say(f"{label}: measuring" + (f" (kernel {use_kernel})" if use_kernel else ""))
                result = run_worker(dict(spec, kernel=use_kernel), workdir, tag)
            row = _row(art, hw, threads, result, choice)
            results.append((row, result))
            say(
                f"{label}: "
                + (
                    f"error: {row['error']}"
                    if "error" in row
                    else f"median {row['latency_ms']['median']:.2f} ms, peak RSS {row['memory']['peak_rss_mb']:.0f} MB"
                )
            )
        say("comparing outputs (parity vs PyTorch, PSNR vs HR)")
        _add_figures(results, photos, exp.scale, overlap)
    rows = [row for row, _ in results]
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
    return write_report(report, options.plot)


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
