"""bnn-deploy: deploy binary image super-resolution networks to Larq Compute Engine and ONNX.

The main operations are functions of this package — ``export``, ``evaluate``, ``bench``,
``profile``, ``predict``, ``upscale``, ``load_checkpoint``, ``create_model`` (:mod:`bnn_deploy.api`,
``docs/api.md``). They are loaded on first use, so ``import bnn_deploy`` (and ``bnn-deploy --help``)
imports neither PyTorch nor TensorFlow.
"""

from bnn_deploy.core.version import __version__

__all__ = [
    "__version__",
    "export",
    "evaluate",
    "bench",
    "profile",
    "predict",
    "upscale",
    "load_checkpoint",
    "create_model",
]


def __getattr__(name: str):
    """The API functions, imported from :mod:`bnn_deploy.api` when first asked for."""
    if name in __all__:
        from bnn_deploy import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bnn_deploy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
