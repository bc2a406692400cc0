"""The runner interface every runtime implements: load an artifact, run NHWC images, time runs.

A :class:`Runner` is what ``open_*`` functions of this package return. It holds

* ``predict(x)``: ``[1, H, W, C]`` float32 NHWC in, ``[1, sH, sW, C]`` float32 NHWC out — the one
  layout all runtimes share (PyTorch and ONNX transpose inside their ``predict``);
* ``input_shape``: the fixed NHWC input shape of a fixed-shape graph (TFLite / LCE), or ``None``
  when any size runs (PyTorch, ONNX Runtime);
* what ran: ``runtime``, ``kernel``, ``threads``, and ``load_ms`` (wall time to build it).

:func:`time_runs` is the host timing loop; a runner may bring its own ``benchmark`` (an on-device
runner reads ``lce_benchmark_model``'s timings and memory instead of timing ``predict``), and
:func:`benchmark` uses it when present. Timings are lists of per-run milliseconds; statistics are
:func:`latency_stats`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bnn_deploy.core.errors import BnnDeployError


@dataclass
class Runner:
    """A loaded artifact ready to run (see the module docstring for the contract)."""

    runtime: str  # "pytorch", "onnxruntime", "tflite", "lce" (on-device runners add their own)
    kernel: str
    threads: int
    input_shape: tuple[int, int, int, int] | None
    predict: Callable[[np.ndarray], np.ndarray]
    load_ms: float
    path: str = ""

    def check_input(self, x: np.ndarray) -> np.ndarray:
        """``x`` as contiguous float32 ``[1, H, W, C]``; a fixed-shape graph needs its exact shape."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[0] != 1:
            raise BnnDeployError(f"runner input has shape {x.shape}; pass one NHWC image [1, H, W, C]")
        if self.input_shape is not None and tuple(x.shape) != tuple(self.input_shape):
            raise BnnDeployError(
                f"{self.path or self.runtime} takes input {list(self.input_shape)}, not "
                f"{list(x.shape)}; tile the image (bnn_deploy.core.tiling) or export that size"
            )
        return x


def check_threads(threads: int) -> int:
    """``threads`` if it is a positive integer, else a clear error."""
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise BnnDeployError(f"threads must be a positive integer, not {threads!r}; give e.g. --threads 1,2")
    return int(threads)


def load_extension(name: str, path: str):
    """Import the compiled module at ``path`` under its full dotted ``name``, without its parent package.

    LCE's and TensorFlow's interpreter wrappers are self-contained shared objects, but their
    packages' ``__init__`` import all of TensorFlow (~0.5 GB resident, seconds of start-up) that a
    board's TFLite runtime does not carry. Loading the ``.so`` alone keeps that out of the
    memory and start-up figures. The module is registered in ``sys.modules`` under its real name:
    a pybind11 module must not be initialised twice in one process, so a later ``import
    tensorflow`` reuses it — and if TensorFlow already loaded it, that copy is returned.
    """
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:
        raise BnnDeployError(f"cannot load {path}; reinstall the package that provides it")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules[name] = module
    return module


def time_runs(
    predict: Callable[[np.ndarray], object],
    x: np.ndarray,
    *,
    warmup: int,
    runs: int,
    max_secs: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict:
    """Run ``predict(x)`` once (first run), ``warmup`` more times, then up to ``runs`` timed times.

    Each timed run is one ``clock`` pair around one call (wall time by default; ``time.thread_time``
    counts only this thread's CPU time); nothing else happens inside the loop. Timing stops after
    ``runs`` runs or once ``max_secs`` of that clock (counted from the first timed run) have passed,
    whichever is first, but at least one timed run is made. Returns
    ``{"first_run_ms", "runs_ms": [...], "stopped_by": "runs" | "max-secs"}``.
    """
    t0 = clock()
    predict(x)
    first_ms = (clock() - t0) * 1e3
    for _ in range(max(0, int(warmup))):
        predict(x)
    samples: list[float] = []
    deadline = None if max_secs is None else clock() + float(max_secs)
    stopped_by = "runs"
    for _ in range(max(1, int(runs))):
        start = clock()
        predict(x)
        end = clock()
        samples.append((end - start) * 1e3)
        if deadline is not None and end >= deadline and len(samples) < runs:
            stopped_by = "max-secs"
            break
    return {"first_run_ms": first_ms, "runs_ms": samples, "stopped_by": stopped_by}


def benchmark(runner: Runner, x: np.ndarray, *, warmup: int, runs: int, max_secs: float | None = None) -> dict:
    """:func:`time_runs` over the runner's ``predict`` on ``x`` checked against its input shape.

    A board's runs are measured by its own tool (:mod:`bnn_deploy.devices`), not through a Runner."""
    return time_runs(runner.predict, runner.check_input(x), warmup=warmup, runs=runs, max_secs=max_secs)


def latency_stats(samples_ms: list[float]) -> dict:
    """``min, median, mean, p90, p99, max, std`` (population) of per-run milliseconds, and ``runs``.

    Percentiles interpolate linearly between order statistics (numpy's default), so with few runs
    p99 lies between the two slowest runs.
    """
    if not samples_ms:
        raise ValueError("no timing samples")
    a = np.asarray(samples_ms, dtype=np.float64)
    return {
        "min": float(a.min()),
        "median": float(np.median(a)),
        "mean": float(a.mean()),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "max": float(a.max()),
        "std": float(a.std()),
        "runs": int(a.size),
    }


def elapsed_ms(start: float) -> float:
    """Milliseconds since ``start`` (a ``time.perf_counter()`` value)."""
    return (time.perf_counter() - start) * 1e3
