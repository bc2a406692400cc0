"""PyTorch eager mode: the float32 reference every deployed artifact is compared with.

The checkpoint is loaded with :func:`bnn_deploy.models.checkpoint.load_checkpoint` (eval mode,
deployment sign) and run under ``torch.inference_mode``; ``threads`` sets ``torch.set_num_threads``,
which is process-wide.
"""

from __future__ import annotations

import time

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.models.run import run_model
from bnn_deploy.runtimes.base import Runner, check_threads, elapsed_ms

KERNELS = ("default",)


def open_torch(
    checkpoint: str, *, threads: int = 1, kernel: str = "default", model=None, k: float | None = None
) -> Runner:
    """Load ``checkpoint`` (a file or bundled model name; BBCU's ``k`` applied), or wrap an already loaded ``model``."""
    threads = check_threads(threads)
    if kernel not in KERNELS:
        raise BnnDeployError(f"unknown PyTorch kernel {kernel!r}; choose default")
    import torch

    torch.set_num_threads(threads)
    start = time.perf_counter()
    if model is None:
        from bnn_deploy.models.checkpoint import load_checkpoint

        model = load_checkpoint(checkpoint, k=k).model
    model.eval()
    load_ms = elapsed_ms(start)

    def predict(x: np.ndarray) -> np.ndarray:
        nchw = np.ascontiguousarray(runner.check_input(x).transpose(0, 3, 1, 2))
        return np.ascontiguousarray(run_model(model, nchw).transpose(0, 2, 3, 1))

    runner = Runner(
        runtime="pytorch",
        kernel=kernel,
        threads=threads,
        input_shape=None,
        predict=predict,
        load_ms=load_ms,
        path=str(checkpoint),
    )
    return runner
