"""One artifact in one fresh process: the spec the worker runs, running it, and measuring its memory.

Benchmarks and the evaluation's memory budget both need a model loaded and run in a process of its
own (no other model's memory, threads or caches): :func:`run_worker` starts
``python -m bnn_deploy.runtimes.worker SPEC.json`` and reads back its result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.photos import bench_input

WORKER_TIMEOUT_S = 3600


SELECT_RUNS = 3


def run_worker(spec: dict, workdir: Path, tag: str, timeout: float = WORKER_TIMEOUT_S) -> dict:
    """Write ``spec``, run the worker in a fresh interpreter, return its result (or ``{"error"}``).

    ``timeout`` (seconds) bounds the whole process: a worker past it is killed and reported.
    """
    spec = dict(spec, result=str(workdir / f"{tag}.result.json"), outputs=str(workdir / f"{tag}.npz"))
    spec_path = workdir / f"{tag}.spec.json"
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bnn_deploy.runtimes.worker", str(spec_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"worker timed out after {timeout:g} s"}
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


def worker_spec(
    artifact,
    *,
    threads: int,
    input_path,
    scale: int,
    photos=None,
    overlap: int = 0,
    warmup: int = 0,
    runs: int = 1,
    max_secs: float | None = None,
    kernel: str | None = None,
) -> dict:
    """The spec :mod:`bnn_deploy.runtimes.worker` runs: ``artifact`` on the ``.npy`` at ``input_path`` (NHWC), then on
    the LR photos in the ``.npz`` at ``photos`` (if given) for quality. Defaults: no warm-up, one timed run."""
    from dataclasses import asdict

    return {
        "artifact": asdict(artifact),
        "runtime": artifact.runtime,
        "threads": threads,
        "kernel": kernel,
        "input": str(input_path),
        "photos": None if photos is None else str(photos),
        "scale": scale,
        "overlap": overlap,
        "warmup": warmup,
        "runs": runs,
        "max_secs": max_secs,
        "select_runs": SELECT_RUNS,
    }


def load_outputs(result: dict) -> dict | None:
    """A worker's saved outputs (``{"bench": ..., "photo:0": ...}``), or None when it failed."""
    path = result.get("outputs_file")
    if "error" in result or not path or not Path(path).is_file():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}
