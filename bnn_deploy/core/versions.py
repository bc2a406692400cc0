"""Which versions of which tools made or measured something: one record for manifests and reports.

Read from the installed distributions' metadata, so nothing heavy (torch, TensorFlow) is imported
just to name its version.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

from bnn_deploy.core.version import __version__

# tool (as manifests name it) -> the distributions that provide it, preferred first
_DISTRIBUTIONS = {
    "torch": ("torch",),
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
    "larq_compute_engine": ("larq-compute-engine",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime",),
    "numpy": ("numpy",),
}


def tool_versions() -> dict[str, str]:
    """``{"bnn_deploy": ..., "torch": ..., "tensorflow": ..., ...}`` for the tools that are installed."""
    out = {"bnn_deploy": __version__}
    for tool, dists in _DISTRIBUTIONS.items():
        for dist in dists:
            try:
                out[tool] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


def host_info() -> dict:
    """CPU model, logical cores, OS, Python and the tool versions of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": tool_versions(),
    }
