"""``bnn-deploy bench EXPORT_DIR --device host``: every artifact, same input, own process, honest figures.

For each exported input size and each thread count, every artifact of the export — LCE, float
TFLite (the binary net on float kernels, and the float reference), int8 TFLite, ONNX Runtime — and
the PyTorch models they came from runs in a fresh worker process (:mod:`bnn_deploy.bench.worker`)
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

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bnn_deploy import fileio
from bnn_deploy.errors import BnnDeployError
from bnn_deploy.jsonable import jsonable as _jsonable
from bnn_deploy.runtimes.base import check_threads, latency_stats

DEVICES = ("host",)
WORKER_TIMEOUT_S = 3600
SELECT_RUNS = 3
# Print order: the binary model, its float-kernel twin, the float reference's deployments, then sources.
_ORDER = {("lce", "binary"): 0, ("tflite-float", "binary"): 1, ("onnx", "binary"): 2, ("pytorch", "binary"): 3,
          ("tflite-float", "float-ref"): 4, ("tflite-int8", "float-ref"): 5, ("pytorch", "float-ref"): 6}


def print_order(fmt: str, role: str) -> int:
    """Where an artifact's row goes in a report (see ``_ORDER``)."""
    return _ORDER.get((fmt, role), 9)


def parse_threads(text: str) -> list[int]:
    """``"1,2"`` → ``[1, 2]``; zero, negatives and non-numbers are a clear error."""
    values = []
    for part in str(text).split(","):
        part = part.strip()
        if not part.lstrip("-").isdigit():
            raise BnnDeployError(f"--threads {text!r} is not a list of thread counts; give e.g. --threads 1,2")
        if int(part) < 1:
            raise BnnDeployError(f"--threads {text!r}: thread counts must be 1 or more; give e.g. --threads 1,2")
        values.append(int(part))
    return list(dict.fromkeys(values))


def host_info() -> dict:
    """CPU model, logical cores, OS, Python and the versions of every runtime library (no heavy imports)."""
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for dist in ("bnn-deploy", "larq-compute-engine", "tensorflow-cpu", "tensorflow", "onnxruntime", "onnx", "torch",
                 "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "machine": platform.machine(),
            "os": platform.platform(), "python": platform.python_version(), "versions": versions}


def jsonable(value):
    """Floats to 6 significant digits; ``inf``/NaN as strings (JSON has no infinities)."""
    return _jsonable(value, digits=6)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`bnn_deploy.fileio.atomic_write_text`, with a one-line error for a missing directory."""
    path = Path(path)
    if not path.parent.is_dir():
        raise BnnDeployError(f"cannot write {path}: directory {path.parent} does not exist; create it first")
    fileio.atomic_write_text(path, text)


# ---------------------------------------------------------------- inputs


def bench_input(input_hw: tuple[int, int], scale: int) -> np.ndarray:
    """NHWC ``[1, h, w, 3]``: the first held-out photo at this LR size (the export's parity crop)."""
    from bnn_deploy.exporters.export import parity_images

    _, lr_nchw, _ = parity_images(input_hw, scale, 1)[0]
    return np.ascontiguousarray(lr_nchw.transpose(0, 2, 3, 1))


def quality_photos(scale: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``[(name, lr, hr)]`` for every held-out photo (LR = bicubic downscale of the mod-cropped HR)."""
    from bnn_deploy.eval.photos import holdout_photos, lr_hr_pair

    return [(name, *lr_hr_pair(hr, scale)) for name, hr in holdout_photos()]


# ---------------------------------------------------------------- workers


def run_worker(spec: dict, workdir: Path, tag: str) -> dict:
    """Write ``spec``, run the worker in a fresh interpreter, return its result (or ``{"error"}``)."""
    spec = dict(spec, result=str(workdir / f"{tag}.result.json"), outputs=str(workdir / f"{tag}.npz"))
    spec_path = workdir / f"{tag}.spec.json"
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run([sys.executable, "-m", "bnn_deploy.bench.worker", str(spec_path)],
                              capture_output=True, text=True, env=env, timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"worker timed out after {WORKER_TIMEOUT_S} s"}
    if os.path.exists(spec["result"]):
        with open(spec["result"]) as fh:
            result = json.load(fh)
    else:
        tail = [ln for ln in (proc.stderr or "").splitlines() if ln.strip()][-1:] or ["no output"]
        result = {"error": f"worker exited with code {proc.returncode}: {tail[0][:300]}"}
    result["outputs_file"] = spec["outputs"]
    return result


def measure_peak_memory(artifact, *, scale: int, kernel: str | None = None, threads: int = 1) -> int:
    """Bytes of resident memory ``artifact`` needs beyond its runtime library: a fresh worker loads it,
    runs the bench input twice (the second run can peak higher: kernels allocate transiently) and
    reports ``peak_over_import_mb``."""
    with tempfile.TemporaryDirectory(prefix="bnn-deploy-mem-") as tmp:
        workdir = Path(tmp)
        x_path = workdir / "input.npy"
        np.save(x_path, bench_input(tuple(artifact.input_hw), scale))
        spec = worker_spec(artifact, threads=threads, input_path=x_path, kernel=kernel, scale=scale)
        result = run_worker(spec, workdir, "memory")
    if "error" in result:
        raise BnnDeployError(f"cannot measure the memory of {artifact.file}: {result['error']}")
    return int(result["memory"]["peak_over_import_mb"] * 2**20)


def worker_spec(artifact, *, threads: int, input_path, scale: int, photos=None, overlap: int = 0, warmup: int = 0,
                runs: int = 1, max_secs: float | None = None, kernel: str | None = None) -> dict:
    """The spec :mod:`bnn_deploy.bench.worker` runs: ``artifact`` on the ``.npy`` at ``input_path`` (NHWC), then on
    the LR photos in the ``.npz`` at ``photos`` (if given) for quality. Defaults: no warm-up, one timed run."""
    from dataclasses import asdict

    return {"artifact": asdict(artifact), "runtime": artifact.runtime, "threads": threads, "kernel": kernel,
            "input": str(input_path), "photos": None if photos is None else str(photos), "scale": scale,
            "overlap": overlap, "warmup": warmup, "runs": runs, "max_secs": max_secs, "select_runs": SELECT_RUNS}


def _jobs(exp, sizes, threads_list):
    """``[(size, threads, artifact)]`` in print order: fixed-size artifacts at their size, the others at each."""
    jobs = []
    for hw in sizes:
        for threads in threads_list:
            arts = [a for a in exp.artifacts if a.input_hw is None or tuple(a.input_hw) == hw]
            arts.sort(key=lambda a: print_order(a.format, a.role))
            jobs += [(hw, threads, a) for a in arts]
    return jobs


def bench_export(export_dir: str, *, device: str = "host", threads=(1,), warmup: int = 2, runs: int = 20,
                 max_secs: float = 20.0, kernel: str = "auto", json_path: str | None = None,
                 plot_path: str | None = None, overlap: int | None = None, progress=None) -> dict:
    """Benchmark every artifact of ``export_dir`` (see module docstring); returns the report dict.

    ``json_path`` / ``plot_path``: where to write the JSON report and the latency-vs-PSNR PNG.
    """
    from bnn_deploy.eval.tiling import DEFAULT_OVERLAP
    from bnn_deploy.runtimes.artifacts import read_export, sha256_file
    from bnn_deploy.runtimes.lce import check_kernel

    say = progress or (lambda _m: None)
    if device not in DEVICES:
        raise BnnDeployError(f"--device {device!r}: this function measures this machine only; a board is "
                             "benchmarked by bnn_deploy.bench.device.bench_export_on_device")
    threads_list = [check_threads(t) for t in threads]
    if not threads_list:
        raise BnnDeployError("no --threads given; give e.g. --threads 1,2")
    if warmup < 0 or runs < 1:
        raise BnnDeployError(f"--warmup {warmup} / --runs {runs}: give warmup >= 0 and runs >= 1")
    if not max_secs > 0:
        raise BnnDeployError(f"--max-secs {max_secs} must be positive; give e.g. --max-secs 20")
    check_kernel(kernel)
    overlap = DEFAULT_OVERLAP if overlap is None else int(overlap)
    check_report_paths(json_path, plot_path)
    exp = read_export(export_dir)
    sizes = sorted({tuple(a.input_hw) for a in exp.artifacts if a.input_hw is not None}, key=lambda hw: hw[0] * hw[1])
    if not sizes:
        sizes = [tuple(reversed(s)) for s in exp.manifest.get("input_sizes", [[320, 180]])]
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
            spec = worker_spec(art, threads=threads, input_path=inputs[hw], photos=workdir / "photos.npz",
                               scale=exp.scale, overlap=overlap, warmup=warmup, runs=runs, max_secs=max_secs)
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
            results.append((row, result.get("outputs_file")))
            say(f"{label}: " + (f"error: {row['error']}" if "error" in row else
                                f"median {row['latency_ms']['median']:.2f} ms, peak RSS "
                                f"{row['memory']['peak_rss_mb']:.0f} MB"))
        say("comparing outputs (parity vs PyTorch, PSNR vs HR)")
        _add_figures(results, photos, exp.scale, overlap)
    rows = [row for row, _ in results]
    report = {
        "export_dir": exp.path, "device": device, "host": host_info(),
        "export_versions": exp.manifest.get("versions", {}),
        "settings": {"threads": threads_list, "warmup": warmup, "runs": runs, "max_secs": max_secs,
                     "kernel": kernel, "tile_overlap": overlap},
        "inputs": {f"{hw[1]}x{hw[0]}": {"what": "the export's first parity crop of the held-out photos at this LR "
                                                "size, saved as .npy (NHWC float32, RGB in [0, 1])",
                                        "sha256": digests[hw]} for hw in sizes},
        "quality_photos": [name for name, _, _ in photos],
        "bicubic": bicubic_quality(photos, exp.scale),
        "results": rows,
        "speedups": speedups(rows),
        "notes": exp.notes,
        "wall_seconds": time.perf_counter() - started,
    }
    return write_report(report, json_path, plot_path)


def check_report_paths(json_path, plot_path) -> None:
    """Refuse, before anything runs, a ``--json``/``--plot`` path that cannot be written at the end."""
    for path in (json_path, plot_path):
        if path is not None and not Path(path).resolve().parent.is_dir():
            raise BnnDeployError(f"cannot write {path}: its directory does not exist; create it first")
    if plot_path is not None and Path(plot_path).suffix.lower() != ".png":
        raise BnnDeployError(f"--plot {plot_path}: the plot is a PNG; give a path ending in .png")


def write_report(report: dict, json_path, plot_path) -> dict:
    """``report`` made JSON-ready, with the plot drawn and the JSON written where asked (both atomic).

    A report without any latency (an emulated board) gets no plot, and a note saying why.
    """
    report = jsonable(report)
    if plot_path is not None:
        from bnn_deploy.bench.plot import plot_latency_psnr

        if any(r.get("latency_ms") for r in report["results"]):
            plot_latency_psnr(report, plot_path)
            report["plot"] = str(plot_path)
        else:
            report["notes"] = report.get("notes", []) + [f"no plot written to {plot_path}: no artifact has a "
                                                         "measured latency"]
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
        report["json"] = str(json_path)
    return report


def _row(art, hw, threads, result: dict, choice: dict | None) -> dict:
    """The report row of one artifact run (timings summarised; figures added by :func:`_add_figures`)."""
    row = {"name": art.name, "format": art.format, "runtime": art.runtime, "role": art.role, "model": art.model,
           "file": art.file, "file_size_bytes": art.size_bytes, "sha256": art.sha256,
           "input_size": f"{hw[1]}x{hw[0]}", "threads": threads}
    if "error" in result:
        row["error"] = result["error"]
        return row
    stats = latency_stats(result["runs_ms"])
    row.update({"kernel": result["kernel"], "kernel_choice": choice, "input_shape": result["input_shape"],
                "latency_ms": stats, "init_ms": result["init_ms"], "first_run_ms": result["first_run_ms"],
                "stopped_by": result["stopped_by"], "memory": result["memory"]})
    return row


def _add_figures(results, photos, scale: int, overlap: int) -> None:
    """Parity vs the same model's PyTorch run (same size and threads) and quality vs HR, per row."""
    from bnn_deploy.eval.metrics import max_abs_error, parity_psnr

    def load(path):
        with np.load(path) as z:
            return {k: z[k] for k in z.files}

    outputs = {id(row): load(path) for row, path in results if "error" not in row and path and os.path.exists(path)}
    refs = {(row["role"], row["input_size"], row["threads"]): outputs.get(id(row))
            for row, _ in results if row["format"] == "pytorch"}
    for row, _ in results:
        out = outputs.get(id(row))
        if out is None:
            continue
        ref = refs.get((row["role"], row["input_size"], row["threads"]))
        if row["format"] == "pytorch":
            row["parity"] = {"psnr_db": float("inf"), "max_abs_error": 0.0, "reference": "itself (the reference)"}
        elif ref is None:
            row["parity"] = {"psnr_db": None, "max_abs_error": None,
                             "reference": "none: the PyTorch model of this artifact was not found"}
        else:
            row["parity"] = {"psnr_db": parity_psnr(out["bench"], ref["bench"]),
                             "max_abs_error": max_abs_error(out["bench"], ref["bench"]),
                             "reference": "PyTorch eager, same model and input"}
        row["quality"] = quality_figures(row["format"], row["input_shape"], row["input_size"], out, photos, scale,
                                         overlap)


def quality_figures(fmt: str, shape_nhwc, input_size: str, outputs: dict, photos, scale: int, overlap: int) -> dict:
    """Mean PSNR/SSIM vs HR of a worker's ``photo:i`` outputs (the report's ``quality`` entry)."""
    from bnn_deploy.eval.metrics import sr_metrics
    from bnn_deploy.eval.quality import protocol

    per = [dict(image=name, **sr_metrics(outputs[f"photo:{i}"], hr, scale)) for i, (name, _, hr) in enumerate(photos)]
    whole = fmt in ("onnx", "pytorch")  # any input size: no tiling
    padded = [name for name, lr, _ in photos
              if not whole and (lr.shape[0] < shape_nhwc[1] or lr.shape[1] < shape_nhwc[2])]
    return {"psnr_db": float(np.mean([p["psnr"] for p in per])), "ssim": float(np.mean([p["ssim"] for p in per])),
            "images": per, "how": "whole image" if whole else f"tiled at {input_size}, overlap {overlap} LR px",
            # smaller than the graph's input along an axis: edge-padded, approximate there
            "padded_images": padded, "protocol": "held-out photos; " + protocol(scale)}


def bicubic_quality(photos, scale: int) -> dict:
    """PSNR/SSIM vs HR of plain bicubic upscaling on the quality photos: the score to beat."""
    from bnn_deploy.eval.images import bicubic_upscale
    from bnn_deploy.eval.metrics import sr_metrics

    per = [dict(image=name, **sr_metrics(bicubic_upscale(lr, scale), hr, scale)) for name, lr, hr in photos]
    return {"psnr_db": float(np.mean([p["psnr"] for p in per])), "ssim": float(np.mean([p["ssim"] for p in per])),
            "images": per}


def typical_ms(latency: dict) -> tuple[float, str]:
    """``(value, "median")``, or ``(mean, "mean")`` for a runner that reports no per-run times (e.g.
    ``lce_benchmark_model``, which prints only count/min/max/avg/std)."""
    if latency.get("median") is not None:
        return latency["median"], "median"
    return latency["mean"], "mean"


def speedups(rows: list[dict]) -> list[dict]:
    """Per input size and thread count: each baseline's median latency / the LCE artifact's.

    Means are compared instead when either side has no median, so a ratio never mixes the two.
    """
    out = []
    for lce in (r for r in rows if r["format"] == "lce" and r.get("latency_ms")):
        for base in rows:
            if base is lce or not base.get("latency_ms"):
                continue
            if (base["input_size"], base["threads"]) != (lce["input_size"], lce["threads"]):
                continue
            stat = "median" if typical_ms(lce["latency_ms"])[1] == typical_ms(base["latency_ms"])[1] == "median" \
                else "mean"
            out.append({"input_size": lce["input_size"], "threads": lce["threads"], "binary": lce["name"],
                        "kernel": lce.get("kernel"), "baseline": base["name"], "statistic": stat,
                        "speedup": base["latency_ms"][stat] / lce["latency_ms"][stat]})
    return out


# ---------------------------------------------------------------- text


def render_bench(report: dict) -> str:
    """The text report: one line per artifact run, the speed-up table, where files went.

    The same for a board (``report["device"]`` is then its facts): the header names the board, and
    figures a board runner does not give show as ``-``.
    """
    nw = max([len(r["name"]) for r in report["results"]] + [8]) + 1
    lines = _header(report) + [
        f"{'artifact':<{nw}} {'size':>9} {'thr':>3} {'kernel':<22} {'median':>9} {'p90':>9} {'min':>9} "
        f"{'first':>9} {'init':>8} {'peak RSS':>9} {'file':>9} {'parity':>8} {'PSNR':>6}",
        f"{'':<{nw}} {'':>9} {'':>3} {'':<22} {'ms':>9} {'ms':>9} {'ms':>9} {'ms':>9} {'ms':>8} {'MB':>9} "
        f"{'KB':>9} {'dB':>8} {'dB':>6}"]

    def num(value, width: int, digits: int = 2) -> str:
        text = "-" if value is None else (value if isinstance(value, str) else f"{value:.{digits}f}")
        return f"{text:>{width}}"

    means = False
    for r in report["results"]:
        problem = r.get("error") or (f"skipped: {r['skipped']}" if r.get("skipped") else None)
        if problem:
            lines.append(f"{r['name']:<{nw}} {r['input_size']:>9} {r['threads']:>3} {problem}")
            continue
        lat = r["latency_ms"]
        if lat:
            value, stat = typical_ms(lat)
            means = means or stat == "mean"
            timing = (f"{num(value, 8 if stat == 'mean' else 9)}{'*' if stat == 'mean' else ''} {num(lat['p90'], 9)} "
                      f"{num(lat['min'], 9)} {num(r['first_run_ms'], 9)} {num(r['init_ms'], 8, 1)}")
        else:
            timing = f"{'emulated board: no device latency':<48}"
        lines.append(f"{r['name']:<{nw}} {r['input_size']:>9} {r['threads']:>3} {r['kernel']:<22} {timing} "
                     f"{num(r['memory'].get('peak_rss_mb'), 9, 1)} {r['file_size_bytes'] / 1024:>9.1f} "
                     f"{num((r.get('parity') or {}).get('psnr_db'), 8, 1)} "
                     f"{num((r.get('quality') or {}).get('psnr_db'), 6)}")
    if means:
        lines.append("*: mean, not median: lce_benchmark_model reports no per-run times (so no median or p90 either)")
    lines.append(f"bicubic PSNR on the same photos: {report['bicubic']['psnr_db']:.2f} dB")
    padded = sorted({(r["input_size"], img) for r in report["results"]
                     for img in (r.get("quality") or {}).get("padded_images", [])})
    if padded:
        lines.append("note: photos smaller than a fixed-shape graph's input were edge-padded for PSNR (approximate "
                     "near that border): " + ", ".join(f"{img} < {size}" for size, img in padded))
    if report["speedups"]:
        lines.append("speed-up of the binary model (LCE) over each baseline (median latency ratio):")
        for s in report["speedups"]:
            lines.append(f"  {s['input_size']:>9} {s['threads']} thr  {s['binary']} [{s['kernel']}] vs "
                         f"{s['baseline']:<{nw}} {s['speedup']:6.2f}x"
                         f"{' (means)' if s.get('statistic') == 'mean' else ''}")
    for r in report["results"]:
        if r.get("kernel_choice"):
            cands = ", ".join(f"{c['kernel']} min {c['min_ms']:.1f} ms{'' if c['identical'] else ' (differs)'}"
                              for c in r["kernel_choice"]["candidates"])
            lines.append(f"kernel auto for {r['name']} ({r['threads']} thr): chose {r['kernel']} — {cands}")
    for method in dict.fromkeys(r["memory"]["method"] for r in report["results"] if r.get("memory")) or ["n/a"]:
        lines.append("memory: " + method)
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    if report.get("json"):
        lines.append(f"wrote {report['json']}")
    if report.get("plot"):
        lines.append(f"wrote {report['plot']}")
    return "\n".join(lines)


def _header(report: dict) -> list[str]:
    """Where the bench ran: this machine, or the board with its preflight warnings."""
    host = report["host"]
    if not isinstance(report.get("device"), dict):
        return [f"bench {report['export_dir']} on {host['cpu']} ({host['logical_cores']} logical cores, {host['os']})"]
    from bnn_deploy.devices.preflight import render_preflight

    dev = report["device"]
    lines = [f"bench {report['export_dir']} on {dev['name']} ({dev['profile']}, {dev['address']}); parity reference "
             f"and quality computed on this machine ({host['cpu']})"]
    lines += render_preflight(report["preflight"]).splitlines()
    if report.get("emulated"):
        lines.append("EMULATED board: its timings are kept as emulated_timings_ms in the JSON, never as latency")
    return lines
