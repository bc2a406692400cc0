"""TensorFlow's TFLite interpreter for stock float and int8 ``.tflite`` files.

This is the interpreter behind ``tf.lite.Interpreter``, driven through its compiled wrapper
(``_pywrap_tensorflow_interpreter_wrapper``) loaded on its own, so the TensorFlow Python package is
never imported (see :func:`~bnn_deploy.runtimes.base.load_extension`). Kernel options:

* ``xnnpack`` — TFLite's built-in op resolver with its default delegate, XNNPACK (what
  ``tf.lite.Interpreter`` does by default; float and int8 ops run in XNNPACK where it supports them);
* ``builtin`` — the built-in kernels only, no delegate.

int8 files here take and return float32 (the converter adds QUANTIZE/DEQUANTIZE), so their
``predict`` is the same as a float file's.
"""

from __future__ import annotations

import functools
import os
import sysconfig
import time

import numpy as np

from bnn_deploy.core.errors import BnnDeployError, first_line
from bnn_deploy.runtimes.base import Runner, check_threads, elapsed_ms, load_extension
from bnn_deploy.runtimes.lce import read_model_bytes

# kernel name -> the wrapper's op-resolver id (tf.lite.experimental.OpResolverType: BUILTIN = 1,
# BUILTIN_WITHOUT_DEFAULT_DELEGATES = 3).
KERNELS = {"xnnpack": 1, "builtin": 3}
DEFAULT_KERNEL = "xnnpack"


@functools.lru_cache(maxsize=1)
def _wrapper_module():
    """TensorFlow's TFLite interpreter extension, loaded without importing ``tensorflow``."""
    path = os.path.join(
        sysconfig.get_paths()["platlib"],
        "tensorflow",
        "lite",
        "python",
        "interpreter_wrapper",
        "_pywrap_tensorflow_interpreter_wrapper.so",
    )
    if not os.path.isfile(path):
        raise BnnDeployError("TensorFlow's TFLite interpreter is not installed; pip install tensorflow-cpu==2.16.2")
    return load_extension("tensorflow.lite.python.interpreter_wrapper._pywrap_tensorflow_interpreter_wrapper", path)


def open_tflite(path: str, *, threads: int = 1, kernel: str = DEFAULT_KERNEL) -> Runner:
    """Load a stock ``.tflite`` (float or int8 with float I/O) into TensorFlow's interpreter."""
    threads = check_threads(threads)
    if kernel not in KERNELS:
        raise BnnDeployError(f"unknown TFLite kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    wrapper = _wrapper_module()
    data = read_model_bytes(path)
    start = time.perf_counter()
    try:
        interp = wrapper.CreateWrapperFromBuffer(data, KERNELS[kernel], [], [], False, False)
        interp.SetNumThreads(threads)
        interp.AllocateTensors()
    except (RuntimeError, ValueError) as exc:
        first = first_line(exc)
        hint = " (it holds LCE ops: run it with the lce runtime)" if b"Lce" in data else ""
        raise BnnDeployError(
            f"TensorFlow's TFLite interpreter cannot load {path}{hint}: {first}; re-export it"
        ) from exc
    load_ms = elapsed_ms(start)
    inp, out = interp.InputIndices()[0], interp.OutputIndices()[0]
    if interp.TensorType(inp, 0) is not np.float32:
        raise BnnDeployError(
            f"{path} takes {interp.TensorType(inp, 0).__name__} input; bnn-deploy runs "
            "models with float32 input and output (export with float I/O)"
        )
    shape = tuple(int(d) for d in interp.TensorSize(inp, 0))

    def predict(x: np.ndarray, _keep=data) -> np.ndarray:  # _keep: the interpreter reads the buffer
        interp.SetTensor(inp, runner.check_input(x))
        interp.Invoke()
        return interp.GetTensor(out)

    runner = Runner(
        runtime="tflite",
        kernel=kernel,
        threads=threads,
        input_shape=shape,
        predict=predict,
        load_ms=load_ms,
        path=str(path),
    )
    return runner
