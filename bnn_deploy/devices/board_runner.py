"""The script that runs on a board: ``python3 board_runner.py probe | run ...``.

This file is pushed to the board as it is and run there with the board's ``python3``. It imports
only the standard library, numpy and whichever runtime it finds (never ``bnn_deploy``: the board
does not have it; a test checks this), and stays compatible with Python 3.7 (Raspberry Pi OS
Buster). The host side that ships and runs it is :mod:`bnn_deploy.devices.board_python`. It

* ``probe``: prints which runtimes the board's Python has (found with ``importlib``, not imported:
  importing TensorFlow on a Pi takes a minute);
* ``run``: loads a ``.tflite`` with ai_edge_litert, tflite_runtime or tensorflow (whichever is
  installed, in that order; graphs with LCE ops need larq_compute_engine) or an ``.onnx`` with
  onnxruntime, runs warm-up and timed runs on a saved ``.npy`` input, saves the output ``.npy`` and
  prints one JSON line (prefixed with :data:`RESULT_MARKER`, since runtimes print to stdout too).

int8 graphs with integer inputs are fed quantized inputs and their outputs dequantized, so every
runner returns float outputs comparable with the host's.
"""

from __future__ import annotations

import json
import os
import sys
import time

RESULT_MARKER = "BNN_DEPLOY_RESULT "
TFLITE_RUNTIMES = ("ai_edge_litert", "tflite_runtime", "tensorflow", "larq_compute_engine")
ALL_RUNTIMES = TFLITE_RUNTIMES + ("onnxruntime", "numpy")
LCE_OP_MARKERS = (b"LceBconv2d", b"LceQuantize", b"LceDequantize")
EXIT_USER_ERROR = 3


class BoardError(Exception):
    """A problem the user can fix on the board (missing runtime, bad file): exit 3, one line."""


def _version(module: str):
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return None
    dist = {
        "ai_edge_litert": "ai-edge-litert",
        "tflite_runtime": "tflite-runtime",
        "larq_compute_engine": "larq-compute-engine",
    }.get(module, module)
    try:
        from importlib import metadata

        return metadata.version(dist)
    except Exception:  # Python 3.7 or a source install: present, version unknown
        return "unknown"


def probe() -> dict:
    """Python version, machine and the runtimes that are installed."""
    import platform

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "executable": sys.executable,
        "runtimes": {name: _version(name) for name in ALL_RUNTIMES},
    }


def _rss_mb() -> float:
    """Current resident set size in MB (from /proc/self/statm)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KB on Linux


def _tflite_interpreter(model: str, threads: int, preferred):
    """(interpreter, runtime label) for a .tflite, trying the runtimes in order."""
    with open(model, "rb") as fh:
        data = fh.read()
    has_lce = any(marker in data for marker in LCE_OP_MARKERS)
    order = ["larq_compute_engine"] if has_lce else list(preferred or TFLITE_RUNTIMES)
    for name in order:
        if _version(name) is None:
            continue
        if name == "larq_compute_engine":
            from larq_compute_engine.tflite.python.interpreter import Interpreter as Lce

            label = "larq_compute_engine " + _version(name)
            return Lce(data, num_threads=threads, use_indirect_bgemm=True), label
        if name == "ai_edge_litert":
            from ai_edge_litert.interpreter import Interpreter
        elif name == "tflite_runtime":
            from tflite_runtime.interpreter import Interpreter
        else:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
        interp = Interpreter(model_path=model, num_threads=threads)
        interp.allocate_tensors()
        return interp, name + " " + _version(name)
    if has_lce:
        raise BoardError(
            "this graph has LCE ops: run it with lce_benchmark_model "
            "(--runtime-bin), the board's Python has no larq_compute_engine"
        )
    raise BoardError(
        "no TFLite runtime in the board's Python; install one: pip install ai-edge-litert (or tflite-runtime)"
    )


def _quantize(x, detail):
    import numpy as np

    dtype = np.dtype(detail["dtype"])
    if dtype.kind not in "iu":
        return x.astype(dtype)
    scale, zero = detail.get("quantization", (0.0, 0))
    if not scale:
        raise BoardError("integer input tensor without quantization parameters")
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def _dequantize(y, detail):
    import numpy as np

    scale, zero = detail.get("quantization", (0.0, 0))
    if np.dtype(detail["dtype"]).kind in "iu" and scale:
        return (y.astype(np.float32) - zero) * np.float32(scale)
    return y


def _runner(model: str, threads: int, preferred):
    """(callable x -> list of outputs, runtime label) for ``model``."""
    import numpy as np

    if model.endswith(".onnx"):
        if _version("onnxruntime") is None:
            raise BoardError("no onnxruntime in the board's Python; pip install onnxruntime")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return (lambda x: session.run(None, {name: x})), "onnxruntime " + ort.__version__
    interp, label = _tflite_interpreter(model, threads, preferred)
    if label.startswith("larq_compute_engine"):

        def run_lce(x):
            out = interp.predict(x)
            return list(out) if isinstance(out, (list, tuple)) else [np.asarray(out)]

        return run_lce, label
    inp = interp.get_input_details()[0]
    outs = interp.get_output_details()

    def run_tflite(x):
        interp.set_tensor(inp["index"], _quantize(x, inp))
        interp.invoke()
        return [_dequantize(interp.get_tensor(o["index"]), o) for o in outs]

    return run_tflite, label


def run(model: str, input_npy: str, output_npy: str, threads: int, warmup: int, runs: int, preferred=None) -> dict:
    """Load, warm up, time ``runs`` runs, save the first output; return the result record."""
    import numpy as np

    x = np.load(input_npy)
    rss_start = _rss_mb()
    t0 = time.perf_counter()
    infer, label = _runner(model, threads, preferred)
    load_ms = (time.perf_counter() - t0) * 1000
    rss_loaded = _rss_mb()
    t0 = time.perf_counter()
    outputs = infer(x)
    first_ms = (time.perf_counter() - t0) * 1000
    for _ in range(max(warmup - 1, 0)):
        infer(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        outputs = infer(x)
        times.append((time.perf_counter() - t0) * 1000)
    out = np.asarray(outputs[0], dtype=np.float32)
    tmp = output_npy + ".part.npy"
    np.save(tmp, out)
    os.replace(tmp, output_npy)
    arr = np.asarray(times)
    return {
        "runtime": label,
        "threads": threads,
        "warmup": warmup,
        "count": len(times),
        "load_ms": load_ms,
        "first_ms": first_ms,
        "avg_ms": float(arr.mean()),
        "median_ms": float(np.median(arr)),
        "min_ms": float(arr.min()),
        "max_ms": float(arr.max()),
        "std_ms": float(arr.std()),
        "times_ms": times,
        "memory": {
            "rss_start_mb": rss_start,
            "rss_loaded_mb": rss_loaded,
            "rss_end_mb": _rss_mb(),
            "peak_rss_mb": _peak_rss_mb(),
        },
        "input_shape": list(x.shape),
        "output_shape": list(out.shape),
        "outputs": len(outputs),
    }


def main(argv=None) -> int:
    """``probe`` or ``run MODEL INPUT OUTPUT THREADS WARMUP RUNS [RUNTIME]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["probe"]:
            result = probe()
        elif args[:1] == ["run"] and len(args) in (7, 8):
            model, inp, out, threads, warmup, runs = args[1:7]
            preferred = [args[7]] if len(args) == 8 else None
            result = run(model, inp, out, int(threads), int(warmup), int(runs), preferred)
        else:
            raise BoardError("usage: board_runner.py probe | run MODEL INPUT OUTPUT THREADS WARMUP RUNS [RUNTIME]")
    except BoardError as exc:
        print(RESULT_MARKER + json.dumps({"error": str(exc)}))
        return EXIT_USER_ERROR
    print(RESULT_MARKER + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
