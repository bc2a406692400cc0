"""Checkpoint I/O: official BasicSR files, plain state dicts, and bnn-deploy's own format.

Accepted files (all read with ``torch.load(weights_only=True)``, which cannot run code):

* BasicSR releases such as BBCU's: ``{"params": state_dict}`` and/or ``{"params_ema": ...}``
  (``params_ema`` is preferred when both exist, as BasicSR's test configs do);
* a plain state dict, or one under ``"state_dict"`` / ``"model"``; ``module.`` prefixes
  (DataParallel) are stripped;
* bnn-deploy's self-describing file ``{format, version, arch, config, state_dict, meta}``.

A whole pickled ``nn.Module`` (as some challenge code saves) needs arbitrary unpickling, which can
execute code from the file; it is refused unless the caller passes ``trust_pickle=True``.
Keys are matched strictly: every missing, unexpected or mis-shaped tensor is listed in one error.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError, first_line
from bnn_deploy.core.fileio import atomic_path, sha256_file

FORMAT = "bnn-deploy"
FORMAT_VERSION = 1
_BBCU_ARCHS = ("bbcu_l", "bbcu_m")


@dataclass
class LoadedCheckpoint:
    """A model ready to run (eval mode) plus where it came from."""

    model: object
    arch: str
    config: dict
    path: str
    sha256: str
    source_format: str  # "bnn-deploy", "basicsr:params", "basicsr:params_ema", "state_dict", "pickle"
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """A file-system friendly model name (the checkpoint's stem)."""
        return Path(self.path).stem


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise BnnDeployError(f"checkpoint {path} not found; check the path")
    if os.path.isdir(path):
        raise BnnDeployError(f"{path} is a directory; give a checkpoint file (.pt/.pth)")
    if os.path.getsize(path) == 0:
        raise BnnDeployError(f"checkpoint {path} is empty; re-download or re-save it")


def read_checkpoint_file(path: str, trust_pickle: bool = False):
    """``torch.load`` with ``weights_only=True`` (or full unpickling when trusted), clear errors.

    A file that is not a PyTorch checkpoint at all (ONNX, TFLite, JSON, random bytes, ...) is named
    as what it is (:mod:`bnn_deploy.models.file_kinds`) before torch reads it: ``--trust-pickle`` is
    suggested only for a real pickle that stores Python objects.
    """
    import torch

    from bnn_deploy.models.file_kinds import not_a_checkpoint

    _check_file(path)
    foreign = not_a_checkpoint(path)
    if foreign is not None:
        raise BnnDeployError(foreign)
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as exc:
        raise _unpickling_error(path, exc) from exc
    except (ModuleNotFoundError, AttributeError) as exc:
        raise BnnDeployError(
            f"{path} is a pickled object whose class cannot be imported here "
            f"({type(exc).__name__}: {first_line(exc, 200)}); load it in its own code and save "
            "model.state_dict() instead"
        ) from exc
    except Exception as exc:  # torch raises RuntimeError/EOFError/… for truncated or foreign files
        raise BnnDeployError(
            f"{path} is not a readable PyTorch checkpoint, or it is truncated "
            f"({type(exc).__name__}: {first_line(exc, 200)}); re-download or re-save it"
        ) from exc


def _unpickling_error(path: str, exc: pickle.UnpicklingError) -> BnnDeployError:
    """A weights-only refusal of a Python object (the --trust-pickle case), of code, or a damaged pickle."""
    from bnn_deploy.models.file_kinds import describe_pickled_global

    message = str(exc)
    found = describe_pickled_global(message)
    if found is not None and found[1]:
        return BnnDeployError(
            f"{path} would call {found[0]} when unpickled: it runs code, it holds no model weights; do not load "
            "it (and do not pass --trust-pickle for it)"
        )
    if found is not None:
        return BnnDeployError(
            f"{path} stores pickled Python objects ({found[0]}, e.g. a whole nn.Module), which need full "
            "unpickling and that can run code from the file; pass --trust-pickle only if you trust its "
            "source, or save model.state_dict() in the code that made it"
        )
    lines = [ln for ln in message.splitlines() if ln.strip()]
    detail = lines[1] if len(lines) > 1 and lines[0].startswith("Weights only load failed") else message
    detail = first_line(detail.replace("WeightsUnpickler error:", ""), 200)
    return BnnDeployError(
        f"{path} is a PyTorch file whose pickle cannot be read ({detail}); it is damaged or was not written by "
        "torch.save; re-download or re-save it"
    )


def _is_state_dict(obj) -> bool:
    import torch

    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def unpack_checkpoint(obj, path: str = "checkpoint") -> tuple[dict, str | None, dict | None, str, dict]:
    """Split a loaded object into ``(state_dict, arch, config, source_format, meta)``.

    ``arch``/``config`` are None unless the file says them (bnn-deploy format).
    """
    from torch import nn

    if isinstance(obj, nn.Module):
        return obj.state_dict(), getattr(obj, "arch", None), getattr(obj, "config", None), "pickle", {}
    if not isinstance(obj, dict):
        raise BnnDeployError(
            f"{path} holds a {type(obj).__name__}, not a model state dict; save model.state_dict() with torch.save"
        )
    if obj.get("format") == FORMAT:
        if int(obj.get("version", 0)) > FORMAT_VERSION:
            raise BnnDeployError(
                f"{path} uses bnn-deploy checkpoint version {obj.get('version')}, "
                f"newer than this bnn-deploy reads ({FORMAT_VERSION}); upgrade"
            )
        missing = [k for k in ("arch", "config", "state_dict") if k not in obj]
        if missing:
            raise BnnDeployError(f"{path} is a damaged bnn-deploy checkpoint (no {', '.join(missing)}); re-save it")
        return obj["state_dict"], obj["arch"], dict(obj["config"]), FORMAT, dict(obj.get("meta", {}))
    for key in ("params_ema", "params"):
        if _is_state_dict(obj.get(key)):
            return obj[key], None, None, f"basicsr:{key}", {}
    for key in ("state_dict", "model", "net"):
        if _is_state_dict(obj.get(key)):
            return obj[key], None, None, "state_dict", {}
    if _is_state_dict(obj):
        return obj, None, None, "state_dict", {}
    shown = ", ".join(map(str, list(obj)[:6]))
    raise BnnDeployError(
        f"{path} is a dict without model weights (keys: {shown}); expected a state "
        "dict, BasicSR's {'params': ...} or a bnn-deploy checkpoint"
    )


def strip_prefix(sd: dict, prefix: str = "module.") -> dict:
    """Remove a DataParallel ``module.`` prefix when every key has it."""
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix) :]: v for k, v in sd.items()}
    return sd


def load_state_strict(model, sd: dict, path: str = "checkpoint") -> None:
    """Load ``sd`` into ``model``; any missing, unexpected or mis-shaped key is one clear error."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    shapes = [
        f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in sd and tuple(sd[k].shape) != tuple(v.shape)
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if items:
            more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
            problems.append(f"{label}: {', '.join(items[:5])}{more}")
    if problems:
        raise BnnDeployError(
            f"{path} does not match {getattr(model, 'arch', 'the model')} "
            f"{getattr(model, 'config', '')}: {'; '.join(problems)}; "
            "check the architecture or re-save the checkpoint"
        )
    model.load_state_dict(sd, strict=True)


def _apply_k(arch: str, config: dict, k: float | None) -> dict:
    config = dict(config)
    if arch in _BBCU_ARCHS:
        from bnn_deploy.core.values import check_k
        from bnn_deploy.models.bbcu import DEFAULT_K

        config["k"] = check_k(k) if k is not None else check_k(config.get("k", DEFAULT_K), "the checkpoint's k")
    elif k is not None:
        raise BnnDeployError(f"--k applies only to BBCU models, and this is {arch}; drop --k")
    return config


def load_checkpoint(path: str | os.PathLike, *, k: float | None = None, trust_pickle: bool = False) -> LoadedCheckpoint:
    """Read a checkpoint file, recognise or read its architecture, and build the model (eval mode).

    ``path`` may also name a bundled model (``bnn-deploy models`` lists them). ``k`` overrides
    BBCU's amplification (not stored in official checkpoints; default 130).
    """
    from bnn_deploy.models.infer import infer_architecture
    from bnn_deploy.models.registry import create_model
    from bnn_deploy.models.zoo import resolve_model_path

    path = resolve_model_path(os.fspath(path))
    obj = read_checkpoint_file(path, trust_pickle=trust_pickle)
    sd, arch, config, source_format, meta = unpack_checkpoint(obj, path)
    sd = strip_prefix(sd)
    if arch is None or config is None:
        arch, config = infer_architecture(sd)
    config = _apply_k(arch, config, k)
    model = create_model(arch, **config)
    load_state_strict(model, sd, path)
    model.eval()
    return LoadedCheckpoint(
        model=model,
        arch=arch,
        config=model.config,
        path=path,
        sha256=sha256_file(path),
        source_format=source_format,
        meta=meta,
    )


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically (:func:`bnn_deploy.core.fileio.atomic_path`): never a half file.

    Missing parent directories are created; the file gets the umask's permissions, not 0600.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def plain_json(value):
    """``value`` as plain JSON types (numpy scalars become floats, inf stays a float).

    ``torch.load(weights_only=True)`` refuses numpy objects, so metadata is stored as plain data.
    """
    import json

    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def save_checkpoint(path: str | os.PathLike, model, *, meta: dict | None = None) -> None:
    """Save ``model`` in bnn-deploy's self-describing format (loadable with weights_only=True)."""
    atomic_torch_save(
        {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "arch": model.arch,
            "config": plain_json(model.config),
            "state_dict": model.state_dict(),
            "meta": plain_json(dict(meta or {})),
        },
        path,
    )
