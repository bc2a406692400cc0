"""Open an export's artifact in the host runtime that runs it (the export itself is read by
:func:`bnn_deploy.core.exports.read_export`)."""

from __future__ import annotations

from bnn_deploy.core.exports import Artifact
from bnn_deploy.runtimes.base import Runner


def open_artifact(artifact: Artifact, *, threads: int = 1, kernel: str | None = None) -> Runner:
    """A :class:`~bnn_deploy.runtimes.base.Runner` for ``artifact`` (``kernel`` None: the runtime's default)."""
    if artifact.runtime == "lce":
        from bnn_deploy.runtimes.lce import DEFAULT_KERNEL, open_lce

        return open_lce(artifact.file, threads=threads, kernel=kernel or DEFAULT_KERNEL)
    if artifact.runtime == "tflite":
        from bnn_deploy.runtimes.tflite import DEFAULT_KERNEL, open_tflite

        return open_tflite(artifact.file, threads=threads, kernel=kernel or DEFAULT_KERNEL)
    if artifact.runtime == "onnxruntime":
        from bnn_deploy.runtimes.onnxrt import open_onnx

        return open_onnx(artifact.file, threads=threads, kernel=kernel or "default")
    from bnn_deploy.runtimes.torch_eager import open_torch

    return open_torch(artifact.file, threads=threads, kernel=kernel or "default", k=artifact.k)


def import_runtime(runtime: str) -> None:
    """Import (load) a runtime's library without loading a model, so its memory can be measured alone."""
    if runtime == "lce":
        from bnn_deploy.runtimes.lce import _wrapper_module

        _wrapper_module()
    elif runtime == "tflite":
        from bnn_deploy.runtimes.tflite import _wrapper_module

        _wrapper_module()
    elif runtime == "onnxruntime":
        import onnxruntime  # noqa: F401
    else:
        import torch  # noqa: F401

        from bnn_deploy.models import checkpoint  # noqa: F401
