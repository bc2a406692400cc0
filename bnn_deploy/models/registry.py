"""A timm-style registry: architectures by name, built from a plain config dict.

``create_model("bbcu_m", scale=2, num_feat=32)`` builds a network; ``model.arch`` and
``model.config`` (the full, normalised config) are what a self-describing checkpoint stores, so
``create_model(model.arch, **model.config)`` rebuilds the same network.
"""

from __future__ import annotations

from collections.abc import Callable

from bnn_deploy.core.errors import BnnDeployError

_BUILDERS: dict[str, Callable] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register(name: str, description: str):
    """Decorator: register an architecture builder ``fn(**config) -> nn.Module`` under ``name``."""

    def wrap(fn):
        _BUILDERS[name] = fn
        _DESCRIPTIONS[name] = description
        return fn

    return wrap


def _ensure_loaded() -> None:
    # Importing the architecture modules runs their @register decorators.
    from bnn_deploy.models import bbcu, edsr, msrresnet  # noqa: F401


def list_archs() -> list[str]:
    """Names of all registered architectures."""
    _ensure_loaded()
    return sorted(_BUILDERS)


def create_model(arch: str, **config):
    """Build architecture ``arch`` with ``config``; unknown names or bad values raise clearly."""
    _ensure_loaded()
    if arch not in _BUILDERS:
        raise BnnDeployError(f"unknown architecture {arch!r}; choose one of {', '.join(list_archs())}")
    try:
        model = _BUILDERS[arch](**config)
    except (TypeError, ValueError) as exc:
        raise BnnDeployError(f"cannot build {arch} with config {config}: {exc}") from exc
    return model


def describe_zoo() -> dict:
    """Architectures and bundled models, for ``bnn-deploy models``."""
    _ensure_loaded()
    from bnn_deploy.models.zoo import bundled_models

    return {
        "architectures": [{"name": n, "description": _DESCRIPTIONS[n]} for n in list_archs()],
        "bundled": bundled_models(),
    }


def render_zoo(info: dict) -> str:
    """Text table for :func:`describe_zoo`."""
    lines = ["architectures:"]
    lines += [f"  {a['name']:<12} {a['description']}" for a in info["architectures"]]
    lines.append("bundled models:")
    for m in info["bundled"]:
        state = "" if m["present"] else "  (missing: run scripts/train_zoo.py)"
        lines.append(f"  {m['name']:<22} {m['description']}{state}")
        lines.append(f"  {'':<22} {m['path']}")
    return "\n".join(lines)
