"""One artifact, one process: ``python -m bnn_deploy.runtimes.worker SPEC.json``.

The parent (:mod:`bnn_deploy.benchmarking.host`) writes a spec and reads back ``spec["result"]`` (JSON) and
``spec["outputs"]`` (``.npz``). In order, this process

1. records its memory after Python + numpy start-up, and again after importing only the runtime's
   library (no TensorFlow package, no torch unless it is the PyTorch runner);
2. loads the artifact (``init_ms``) and records memory;
3. runs the saved input once (``first_run_ms``), ``warmup`` times, then the timed runs, and records
   memory — ``VmHWM`` now is the peak of loading and running, reported as ``peak_rss_mb``;
4. only then runs the held-out photos (tiled for a fixed-shape graph) for quality, which can need
   more memory than the benchmark input and so happens after the peak was read.

With ``select_kernel`` it instead times LCE's kernel options (``bnn_deploy.runtimes.lce.choose_kernel``)
and reports the choice; the parent then measures that kernel in a fresh process. With ``frame`` it
times whole tiled frames (:func:`bnn_deploy.runtimes.frames.measure_frame`).
"""

from __future__ import annotations

import json
import os
import resource
import sys

import numpy as np

from bnn_deploy.core.errors import first_line
from bnn_deploy.core.fileio import atomic_path, atomic_write_text

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's native library logs on load

MEMORY_METHOD = (
    "one fresh process per artifact and thread count; VmRSS/VmHWM from /proc/self/status "
    "(resident-set size and its high-water mark) read after importing the runtime library, "
    "after loading the model, and after the warm-up and timed runs; peak_rss_mb is VmHWM after "
    "the runs (includes the Python interpreter and numpy, ~30 MB); peak_over_import_mb subtracts "
    "the resident size after the runtime import. (getrusage's ru_maxrss is not used on Linux: it survives "
    "exec and can report the parent's size; it is the fallback where /proc is missing)"
)


def read_memory() -> dict:
    """``{"rss_mb", "hwm_mb", "ru_maxrss_mb"}`` of this process (rss/hwm None off Linux)."""
    out = {"rss_mb": None, "hwm_mb": None}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key = "rss_mb" if line.startswith("VmRSS") else "hwm_mb"
                    out[key] = int(line.split()[1]) / 1024.0
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    out["ru_maxrss_mb"] = kb / 1024.0
    return out


def measure(spec: dict) -> dict:
    """Steps 1–4 of the module docstring; returns the result dict, writes outputs to ``spec["outputs"]``."""
    from bnn_deploy.runtimes.artifacts import import_runtime
    from bnn_deploy.runtimes.base import benchmark

    mem_start = read_memory()
    import_runtime(spec["runtime"])
    mem_import = read_memory()
    runner = _open(spec, spec["kernel"])
    mem_load = read_memory()
    x = np.load(spec["input"])
    timing = benchmark(runner, x, warmup=spec["warmup"], runs=spec["runs"], max_secs=spec["max_secs"])
    mem_run = read_memory()
    outputs = {"bench": runner.predict(x)}
    outputs.update(_photos(runner, spec))
    _save_npz(spec["outputs"], outputs)
    memory = {
        "method": MEMORY_METHOD,
        "rss_at_start_mb": mem_start["rss_mb"],
        "rss_after_import_mb": mem_import["rss_mb"],
        "rss_after_load_mb": mem_load["rss_mb"],
        "peak_rss_after_load_mb": mem_load["hwm_mb"],
        "rss_after_runs_mb": mem_run["rss_mb"],
        "peak_rss_mb": mem_run["hwm_mb"] if mem_run["hwm_mb"] is not None else mem_run["ru_maxrss_mb"],
    }
    base = memory["rss_after_import_mb"] or 0.0
    memory["peak_over_import_mb"] = memory["peak_rss_mb"] - base
    # A runner that measures itself elsewhere (on a device) reports that process's memory instead.
    memory = timing.pop("memory", None) or memory
    return {
        "runtime": runner.runtime,
        "kernel": runner.kernel,
        "threads": runner.threads,
        "input_shape": list(x.shape),
        "init_ms": runner.load_ms,
        **timing,
        "memory": memory,
    }


def _open(spec: dict, kernel: str | None):
    from bnn_deploy.core.exports import Artifact
    from bnn_deploy.runtimes.artifacts import open_artifact

    art = Artifact(**spec["artifact"])
    if art.input_hw is not None:
        art.input_hw = tuple(art.input_hw)
    return open_artifact(art, threads=spec["threads"], kernel=kernel)


def _photos(runner, spec: dict) -> dict:
    """SR outputs (HxWx3) of the LR photos in ``spec["photos"]``: tiled for fixed-shape graphs."""
    if not spec.get("photos"):
        return {}
    from bnn_deploy.core.tiling import predict_image

    with np.load(spec["photos"]) as photos:
        return {
            f"photo:{key}": predict_image(
                runner.predict, runner.input_shape, photos[key], spec["scale"], spec["overlap"]
            )[0]
            for key in photos.files
        }


def _save_npz(path: str, arrays: dict) -> None:
    # The temporary name ends in .npz, or np.savez would append it and write another file.
    with atomic_path(path, suffix=".tmp.npz") as tmp:
        np.savez(tmp, **arrays)


def select_kernel(spec: dict) -> dict:
    """Time LCE's kernel options on the saved input; returns ``choose_kernel``'s dict."""
    from bnn_deploy.runtimes.lce import choose_kernel, kernel_tolerance

    x = np.load(spec["input"])
    return choose_kernel(
        spec["artifact"]["file"],
        x,
        threads=spec["threads"],
        runs=spec["select_runs"],
        max_secs=spec["max_secs"],
        progress=lambda m: print(m, file=sys.stderr, flush=True),
        tolerance=kernel_tolerance(spec["artifact"].get("format")),
    )


def main(argv: list[str]) -> int:
    """Run the spec at ``argv[0]``; the result (or ``{"error": ...}``) goes to ``spec["result"]``."""
    with open(argv[0]) as fh:
        spec = json.load(fh)
    try:
        if spec.get("frame"):  # whole tiled frames (bnn_deploy.runtimes.frames)
            from bnn_deploy.runtimes.frames import measure_frame

            result = measure_frame(spec)
        else:
            result = select_kernel(spec) if spec.get("select_kernel") else measure(spec)
        code = 0
    except Exception as exc:  # reported by the parent against this artifact, as one line
        result = {"error": f"{type(exc).__name__}: {first_line(exc, 400)}"}
        code = 1
    atomic_write_text(spec["result"], json.dumps(result))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
