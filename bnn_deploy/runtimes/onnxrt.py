"""ONNX Runtime (CPUExecutionProvider) for exported ``.onnx`` files, any input size.

The graph is NCHW; ``predict`` transposes NHWC in and out so every runner shares one layout. The
transposes are two memory copies of the image, timed with the run (a deployment feeding ONNX
Runtime from HWC pixels pays them too).
"""

from __future__ import annotations

import os
import time

import numpy as np

from bnn_deploy.core.errors import BnnDeployError, first_line
from bnn_deploy.runtimes.base import Runner, check_threads, elapsed_ms

KERNELS = ("default",)


def open_onnx(path: str, *, threads: int = 1, kernel: str = "default") -> Runner:
    """Load ``path`` in an ONNX Runtime session with ``threads`` intra-op threads (one inter-op)."""
    threads = check_threads(threads)
    if kernel not in KERNELS:
        raise BnnDeployError(f"unknown ONNX Runtime kernel {kernel!r}; choose default")
    start = time.perf_counter()
    session = ort_session(path, threads)
    load_ms = elapsed_ms(start)
    name = session.get_inputs()[0].name
    dims = session.get_inputs()[0].shape
    fixed = all(isinstance(d, int) for d in dims)
    shape = (int(dims[0]), int(dims[2]), int(dims[3]), int(dims[1])) if fixed else None

    def predict(x: np.ndarray) -> np.ndarray:
        nchw = np.ascontiguousarray(runner.check_input(x).transpose(0, 3, 1, 2))
        return np.ascontiguousarray(session.run(None, {name: nchw})[0].transpose(0, 2, 3, 1))

    runner = Runner(
        runtime="onnxruntime",
        kernel=kernel,
        threads=threads,
        input_shape=shape,
        predict=predict,
        load_ms=load_ms,
        path=str(path),
    )
    return runner


def ort_session(onnx_path: str | os.PathLike, threads: int = 1):
    """A CPUExecutionProvider session with ``threads`` intra-op threads (one inter-op; one by
    default, for deterministic parity); unreadable files become a BnnDeployError."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
        first = first_line(exc)
        raise BnnDeployError(f"ONNX Runtime cannot load {onnx_path}: {first}; re-export the model") from exc
