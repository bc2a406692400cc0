"""Larq Compute Engine's interpreter (a TFLite runtime with the LCE ops) and its kernel options.

LCE's Python wheel carries one self-contained interpreter (``interpreter_wrapper_lite``); on x86 its
binary-conv kernels are portable C++, not the ARM assembly of a board. The options are

=========================  ==========================================================================
``default``                LCE's optimized BGEMM bconv kernel (the reference output for ``auto``)
``indirect_bgemm``         the indirect BGEMM bconv kernel (no im2col buffer): ~4× faster on x86
``xnnpack``                default bconv + TFLite's XNNPACK delegate for the float ops
``indirect_bgemm+xnnpack`` both
``reference``              LCE's reference bconv (slow; for checking only, never chosen by ``auto``)
=========================  ==========================================================================

``auto`` (:func:`choose_kernel`) runs every candidate on the same input and keeps the fastest
whose output is identical to ``default``'s up to float32 rounding: ``max |Δ| <=``
:data:`IDENTICAL_TOLERANCE`. Bit-identity is too strict a test — XNNPACK's float kernels and even
LCE's own reference bconv differ from ``default`` in the last bit (1.2e-7 on a [0, 1] image) — while
a real difference, one sign flipped in one binary layer, moves outputs by ~1e-3 and more. A
flatbuffer with int8 ops (``lce-int8``) is judged with :data:`QUANTIZED_TOLERANCE` instead
(:func:`kernel_tolerance`): XNNPACK's int8 kernels round differently from TFLite's built-in ones.
"""

from __future__ import annotations

import functools
import os
import sysconfig
import time

import numpy as np

from bnn_deploy.core.errors import BnnDeployError, first_line
from bnn_deploy.core.formats import FORMATS
from bnn_deploy.runtimes.base import Runner, check_threads, elapsed_ms, latency_stats, load_extension, time_runs

# kernel name -> (use_reference_bconv, use_indirect_bgemm, use_xnnpack), LiteInterpreter's flags.
KERNELS = {
    "default": (False, False, False),
    "indirect_bgemm": (False, True, False),
    "xnnpack": (False, False, True),
    "indirect_bgemm+xnnpack": (False, True, True),
    "reference": (True, False, False),
}
AUTO_CANDIDATES = ("indirect_bgemm+xnnpack", "indirect_bgemm", "xnnpack", "default")
AUTO_REFERENCE = "default"
DEFAULT_KERNEL = "indirect_bgemm"  # identical output to "default", and the fastest without XNNPACK
IDENTICAL_TOLERANCE = 1e-5  # 1/400 of an 8-bit step; ~100 float32 ulps at 1.0
# Flatbuffers with int8 ops (lce-int8): XNNPACK's int8 kernels requantize differently from TFLite's
# built-in ones, both valid int8, and a one-step difference in an int8 head can flip signs in the
# binary units after it. Measured on the bundled models' lce-int8 files (48x32 and 160x90, held-out
# photo and noise): up to 0.034 on a [0, 1] output, 52-57 dB apart — the order of the file's own
# quantization error vs the float model. At this tolerance the check catches a kernel computing
# another model, not a rounding difference.
QUANTIZED_TOLERANCE = 0.05


@functools.lru_cache(maxsize=1)
def _wrapper_module():
    """LCE's ``interpreter_wrapper_lite`` extension, loaded without importing TensorFlow."""
    path = os.path.join(
        sysconfig.get_paths()["platlib"], "larq_compute_engine", "tflite", "python", "interpreter_wrapper_lite.so"
    )
    if not os.path.isfile(path):
        try:  # a non-standard install layout: find it through the package (this imports TensorFlow)
            from larq_compute_engine.tflite.python import interpreter_wrapper_lite
        except ImportError as exc:
            raise BnnDeployError(
                "larq-compute-engine's interpreter is not installed; pip install larq-compute-engine==0.16.0"
            ) from exc
        return interpreter_wrapper_lite
    return load_extension("larq_compute_engine.tflite.python.interpreter_wrapper_lite", path)


def check_kernel(kernel: str, allowed=tuple(KERNELS) + ("auto",)) -> str:
    """``kernel`` if LCE has it, else a clear error listing the choices."""
    if kernel not in allowed:
        raise BnnDeployError(f"unknown LCE kernel {kernel!r}; choose one of {', '.join(allowed)}")
    return kernel


def read_model_bytes(path: str) -> bytes:
    """A model file's bytes; missing or unreadable files are a clear error."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise BnnDeployError(f"cannot read {path}: {exc.strerror or exc}; check the export directory") from exc


def open_lce(path: str, *, threads: int = 1, kernel: str = DEFAULT_KERNEL) -> Runner:
    """Load an LCE (or any TFLite) flatbuffer file into LCE's interpreter with one kernel option."""
    return open_lce_data(read_model_bytes(path), label=str(path), threads=threads, kernel=kernel)


def open_lce_graph(data: bytes, *, label: str = "flatbuffer", threads: int = 1, kernel: str = DEFAULT_KERNEL):
    """``(interpreter, load_ms)``: LCE's own interpreter object on flatbuffer bytes, every input and output exposed.

    Its ``predict(list)`` takes one array per graph input and returns one per output, of any dtype
    and rank (``input_shapes``/``input_types`` say which): what a cut single-op graph needs (two
    inputs, a bitpacked int32 input). The caller keeps ``data`` alive as long as the interpreter.
    """
    threads = check_threads(threads)
    flags = KERNELS[check_kernel(kernel, tuple(KERNELS))]
    wrapper = _wrapper_module()
    start = time.perf_counter()
    try:
        interpreter = wrapper.LiteInterpreter(data, threads, *flags)
    except RuntimeError as exc:
        raise BnnDeployError(f"LCE's interpreter cannot load {label} ({first_line(exc)}); re-export it") from exc
    return interpreter, elapsed_ms(start)


def open_lce_data(data: bytes, *, label: str = "flatbuffer", threads: int = 1, kernel: str = DEFAULT_KERNEL) -> Runner:
    """Load flatbuffer bytes (e.g. fresh from the converter) into LCE's interpreter; ``label`` names it."""
    interpreter, load_ms = open_lce_graph(data, label=label, threads=threads, kernel=kernel)
    shape = tuple(int(d) for d in interpreter.input_shapes[0])

    def predict(x: np.ndarray, _keep=data) -> np.ndarray:  # _keep: the interpreter reads the buffer
        return interpreter.predict([runner.check_input(x)])[0]

    runner = Runner(
        runtime="lce",
        kernel=kernel,
        threads=check_threads(threads),
        input_shape=shape,
        predict=predict,
        load_ms=load_ms,
        path=label,
    )
    return runner


def max_abs_diff(out: np.ndarray, reference: np.ndarray) -> float:
    """``max |out - reference|`` in float64; ``inf`` when the shapes differ."""
    if out.shape != reference.shape:
        return float("inf")
    return float(np.max(np.abs(out.astype(np.float64) - reference)))


def kernel_tolerance(fmt: str | None) -> float:
    """The largest output difference that still counts as "identical" for an artifact of format ``fmt``."""
    return QUANTIZED_TOLERANCE if fmt in FORMATS and FORMATS[fmt].int8 else IDENTICAL_TOLERANCE


def verify_kernel(
    path: str, x: np.ndarray, kernel: str, *, threads: int = 1, tolerance: float = IDENTICAL_TOLERANCE
) -> dict:
    """Check that ``kernel`` gives LCE's default kernel's output on ``x`` (the rule of :func:`choose_kernel`).

    Returns ``{"kernel": kernel if identical else "default", "requested", "max_abs_diff", "identical"}``:
    a caller that wants the faster kernel never gets an output the default kernel would not give.
    """
    if kernel == AUTO_REFERENCE:
        return {"kernel": kernel, "requested": kernel, "max_abs_diff": 0.0, "identical": True}
    reference = open_lce(path, threads=threads, kernel=AUTO_REFERENCE).predict(x)
    diff = max_abs_diff(open_lce(path, threads=threads, kernel=kernel).predict(x), reference)
    identical = diff <= tolerance
    return {
        "kernel": kernel if identical else AUTO_REFERENCE,
        "requested": kernel,
        "max_abs_diff": diff,
        "identical": bool(identical),
    }


def choose_kernel(
    path: str,
    x: np.ndarray,
    *,
    threads: int = 1,
    runs: int = 3,
    max_secs: float | None = None,
    progress=None,
    tolerance: float = IDENTICAL_TOLERANCE,
) -> dict:
    """Time each of :data:`AUTO_CANDIDATES` on ``x`` and pick the fastest with identical output.

    Every candidate's first output is compared with the ``default`` kernel's: ``max_abs_diff``,
    ``bit_identical``, and ``identical`` (``max_abs_diff <= tolerance``: :data:`IDENTICAL_TOLERANCE`, or
    :func:`kernel_tolerance` of the artifact's format). Then
    up to ``runs`` rounds each run every candidate once, interleaved, so a change in the machine's
    load hits all of them alike. "Fastest" is the lowest *minimum* time: other load on the machine
    only ever adds time, so the minimum is the least disturbed estimate.

    ``max_secs`` bounds the whole choice, loading and checking included (a huge input or thread
    count once made it run for many minutes): once it has passed, no further candidate is loaded
    (``default``, the reference, always is; the rest are listed under ``skipped``) and the rounds
    stop after the first. So it ends within ``max_secs`` plus one load, one check and one round.
    Returns ``{"kernel", "reference", "tolerance", "candidates": [{kernel, min_ms, median_ms, runs,
    identical, bit_identical, max_abs_diff}], "skipped"}``.
    """
    say = progress or (lambda _m: None)
    deadline = None if max_secs is None else time.perf_counter() + max_secs

    def out_of_time() -> bool:
        return deadline is not None and time.perf_counter() >= deadline

    kernels = (AUTO_REFERENCE,) + tuple(k for k in AUTO_CANDIDATES if k != AUTO_REFERENCE)
    runners, rows, skipped = {}, {}, []
    reference = None
    for kernel in kernels:
        if kernel != AUTO_REFERENCE and out_of_time():
            skipped.append(kernel)
            continue
        runners[kernel] = runner = open_lce(path, threads=threads, kernel=kernel)
        out = runner.predict(x)
        if reference is None:
            reference = out
        diff = max_abs_diff(out, reference)
        rows[kernel] = {
            "kernel": kernel,
            "identical": bool(diff <= tolerance),
            "bit_identical": bool(np.array_equal(out, reference)),
            "max_abs_diff": diff,
            "samples": [],
        }
    xin = runners[AUTO_REFERENCE].check_input(x)
    for _ in range(max(1, runs)):
        for kernel in rows:
            rows[kernel]["samples"] += time_runs(runners[kernel].predict, xin, warmup=0, runs=1)["runs_ms"]
        if out_of_time():
            break
    for row in rows.values():
        stats = latency_stats(row.pop("samples"))
        row.update(min_ms=stats["min"], median_ms=stats["median"], runs=stats["runs"])
        verdict = "identical" if row["identical"] else f"differs (max |Δ| {row['max_abs_diff']:.2g})"
        say(f"    kernel {row['kernel']}: min {row['min_ms']:.1f} ms, {verdict}")
    if skipped:
        say(f"    not tried within --max-secs {max_secs:g}: {', '.join(skipped)}")
    return {
        "kernel": fastest_identical(list(rows.values())),
        "reference": AUTO_REFERENCE,
        "tolerance": tolerance,
        "candidates": [rows[k] for k in AUTO_CANDIDATES if k in rows],
        "skipped": skipped,
    }


def fastest_identical(candidates: list[dict]) -> str:
    """The rule of ``auto``, wherever the candidates ran: the kernel with the lowest ``min_ms`` among
    those whose output is ``identical`` to the reference kernel's (the reference always is)."""
    return min((c for c in candidates if c["identical"]), key=lambda c: c["min_ms"])["kernel"]


def kernel_named(reference_bconv: bool, indirect_bgemm: bool, xnnpack: bool) -> str | None:
    """The :data:`KERNELS` name of a flag combination (None: LCE's reference bconv with XNNPACK has none)."""
    return next((name for name, flags in KERNELS.items() if flags == (reference_bconv, indirect_bgemm, xnnpack)), None)


def without_xnnpack(kernel: str) -> str:
    """The same bconv kernel with TFLite's built-in float kernels instead of XNNPACK."""
    reference, indirect, _ = KERNELS[kernel]
    return kernel_named(reference, indirect, False)


def with_xnnpack(kernel: str) -> str | None:
    """The same bconv kernel with XNNPACK for the float ops (None for ``reference``: LCE names no such kernel)."""
    reference, indirect, _ = KERNELS[kernel]
    return kernel_named(reference, indirect, True)
