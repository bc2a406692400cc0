"""Export binary SR networks to ONNX in the canonical binary-conv pattern (see docs/onnx-binary-pattern.md).

ONNX has no binary convolution, so every ``BinaryConv2d`` is written as the pattern of
:mod:`bnn_deploy.conversion.onnx_pattern` (pattern version :data:`PATTERN_VERSION`)::

    x ──Add(move0 bias b)──GreaterOrEqual(·, 0)──Where(·, +1, −1)──Conv(W = α_o·sign(W_o), pads = k//2)──▶

i.e. ``sign(x + b)`` with ``sign(0) = +1`` (LCE's sign), the threshold ``t = −b`` carried by the
``Add`` in front, zero padding as the Conv's ``pads`` attribute on the signed tensor, and the
filter a constant initializer named ``<module>.deploy_weight`` holding exactly ``±α_o`` per output
channel (no Abs/ReduceMean/Sign weight subgraph). Everything else is exported as PyTorch's legacy
TorchScript exporter writes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import atomic_path, sha256_file

PATTERN_VERSION = "bnn_deploy.binary_conv.v1"
INPUT_NAME, OUTPUT_NAME = "lr", "sr"
MIN_OPSET, MAX_OPSET = 17, 20
DEPLOY_WEIGHT = "deploy_weight"  # buffer name, so the ONNX initializer is "<module>.deploy_weight"

# Metadata keys written into ModelProto.metadata_props (read back by onnx_pattern.read_metadata).
META_PREFIX = "bnn_deploy."
META_KEYS = ("version", "arch", "config", "scale", "k", "binary_layers", "pattern")

# Ops that may consume only constants in a correctly folded export; their presence means a weight
# computation (alpha = mean|W|, sign(W)) survived and the pattern would not be recognised.
_WEIGHT_SUBGRAPH_OPS = {"Abs", "ReduceMean", "Sign", "Mul", "Where", "GreaterOrEqual", "Neg"}


def binary_conv_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``[(qualified name, module)]`` of every binary convolution (``is_binary`` True), in module order."""
    return [(name, m) for name, m in model.named_modules() if getattr(m, "is_binary", False)]


def _frozen_forward(module: nn.Module):
    """A forward computing ``conv2d(x, deploy_weight, padding=module.padding)`` (no bias, stride 1)."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, getattr(module, DEPLOY_WEIGHT), None, stride=1, padding=module.padding)

    return forward


@contextlib.contextmanager
def deployed_binary_convs(model: nn.Module):
    """Temporarily make each binary conv use its deployed filter ``α·sign(W)`` as a constant buffer.

    Inside the block the model is in eval mode and every ``BinaryConv2d`` convolves with a buffer
    ``deploy_weight = binary_weight().detach()``, so a traced export sees a plain Conv with a
    constant ±α filter. On exit (also on error) buffers and forwards are removed and the training
    mode restored: the caller's model is left as it was.
    """
    convs = binary_conv_modules(model)
    was_training = model.training
    patched: list[nn.Module] = []
    try:
        model.eval()
        for _, module in convs:
            if DEPLOY_WEIGHT in module._buffers or "forward" in module.__dict__:
                raise RuntimeError(f"{module!r} is already patched for export")
            with torch.no_grad():
                weight = module.binary_weight().detach().clone()
            module.register_buffer(DEPLOY_WEIGHT, weight, persistent=True)
            module.forward = _frozen_forward(module)
            patched.append(module)
        yield convs
    finally:
        for module in patched:
            del module._buffers[DEPLOY_WEIGHT]
            del module.__dict__["forward"]
        model.train(was_training)


def _metadata(model: nn.Module, binary_names: list[str]) -> dict[str, str]:
    """The ``bnn_deploy.*`` metadata props: version, arch, config JSON, scale, k, binary layers, pattern."""
    from bnn_deploy.core.version import __version__

    config = dict(getattr(model, "config", {}) or {})
    k = config.get("k", getattr(model, "k", None))
    values = {
        "version": __version__,
        "arch": str(getattr(model, "arch", type(model).__name__)),
        "config": json.dumps(config, sort_keys=True, default=str),
        "scale": str(config.get("scale", getattr(model, "scale", ""))),
        "k": "" if k is None else repr(float(k)),
        "binary_layers": json.dumps(binary_names),
        "pattern": PATTERN_VERSION,
    }
    return {META_PREFIX + key: value for key, value in values.items()}


def _constant_only_nodes(graph) -> list[str]:
    """Names of weight-computation nodes left after folding: ops of that kind fed only by constants."""
    constants = {init.name for init in graph.initializer}
    constants |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    return [
        f"{node.op_type} {node.name}"
        for node in graph.node
        if node.op_type in _WEIGHT_SUBGRAPH_OPS and node.input and all(name in constants for name in node.input if name)
    ]


def _check_export(onnx_model, binary_names: list[str]) -> None:
    """Raise RuntimeError (a bug, not a user error) unless the export is valid and fully canonical."""
    import onnx

    onnx.checker.check_model(onnx_model, full_check=True)
    onnx.shape_inference.infer_shapes(onnx_model, check_type=True, strict_mode=True)
    leftovers = _constant_only_nodes(onnx_model.graph)
    if leftovers:
        raise RuntimeError(f"ONNX export left weight subgraphs unfolded: {leftovers[:5]}")
    from bnn_deploy.conversion.onnx_pattern import find_convs

    matched = sum(m.is_binary for m in find_convs(onnx_model))
    if matched != len(binary_names):
        raise RuntimeError(f"{len(binary_names)} binary convs exported but {matched} match the pattern")


def _dynamic_axes(dynamic: bool) -> dict | None:
    """Batch, height and width of ``lr`` and ``sr`` symbolic when ``dynamic``."""
    if not dynamic:
        return None
    return {
        INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
        OUTPUT_NAME: {0: "batch", 2: "out_height", 3: "out_width"},
    }


def _sample_input(model: nn.Module, sample_hw: tuple[int, int]) -> torch.Tensor:
    """A deterministic [1, C, H, W] tracing input in [0, 1] (C = the model's input channels)."""
    h, w = (int(v) for v in sample_hw)
    if h < 1 or w < 1:
        raise BnnDeployError(f"sample size {h}x{w} is empty; pass sample_hw as two positive integers")
    channels = int(getattr(model, "config", {}).get("num_in_ch", 3))
    gen = torch.Generator().manual_seed(0)
    return torch.rand(1, channels, h, w, generator=gen)


def _trace_to_file(model: nn.Module, sample: torch.Tensor, path: str, opset: int, dynamic: bool) -> None:
    """Run the legacy TorchScript exporter (``dynamo=False``) with constant folding."""
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        # The legacy exporter warns about its own deprecation and about traced shape arithmetic;
        # correctness is checked after export instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (sample,),
            path,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes=_dynamic_axes(dynamic),
            do_constant_folding=True,
            export_params=True,
            keep_initializers_as_inputs=False,
        )


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    opset: int = 17,
    dynamic: bool = True,
    sample_hw: tuple[int, int] = (32, 32),
) -> dict:
    """Write ``model`` to ``path`` as ONNX (input ``lr`` NCHW, output ``sr``) in the canonical pattern.

    ``dynamic``: batch, height and width are symbolic; otherwise the graph is fixed at
    ``[1, C, *sample_hw]``. The file is checked (``onnx.checker`` full check, strict shape inference,
    no weight subgraphs, every binary conv matching the pattern), gets ``bnn_deploy.*`` metadata, and
    is written atomically. Returns ``{path, opset, input, output, dynamic, binary_layers, sha256, size}``.
    """
    import onnx

    if not MIN_OPSET <= int(opset) <= MAX_OPSET:
        raise BnnDeployError(f"opset {opset} is not supported; choose an opset from {MIN_OPSET} to {MAX_OPSET}")
    path = Path(path)
    if not path.parent.is_dir():
        raise BnnDeployError(f"output directory {path.parent} does not exist; create it first")
    sample = _sample_input(model, sample_hw)
    with atomic_path(path) as tmp:
        with deployed_binary_convs(model) as convs:
            binary_names = [name for name, _ in convs]
            _trace_to_file(model, sample, str(tmp), int(opset), dynamic)
        onnx_model = onnx.load(tmp)
        for key, value in _metadata(model, binary_names).items():
            onnx_model.metadata_props.add(key=key, value=value)
        onnx_model.doc_string = f"bnn-deploy export of {getattr(model, 'arch', type(model).__name__)}"
        _check_export(onnx_model, binary_names)
        onnx.save(onnx_model, tmp)
        info = {
            "path": str(path),
            "opset": int(opset),
            "input": INPUT_NAME,
            "output": OUTPUT_NAME,
            "dynamic": bool(dynamic),
            "binary_layers": binary_names,
            "sha256": sha256_file(tmp),
            "size": os.path.getsize(tmp),
        }
    return info


# ---------------------------------------------------------------- CLI artifact


def default_parity_images() -> list[tuple[str, np.ndarray]]:
    """Two holdout-photo crops as NCHW float32: 32×32 (astronaut) and an odd 27×31 (chelsea)."""
    from bnn_deploy.core.photos import crop_center, load_photo

    crops = [("astronaut.png", 32, 32), ("chelsea.png", 27, 31)]
    return [(f"{name}[{h}x{w}]", _to_nchw(crop_center(load_photo(name), h, w))) for name, h, w in crops]


def _to_nchw(img: np.ndarray) -> np.ndarray:
    """HxWx3 float image → [1, 3, H, W] float32, contiguous."""
    return np.ascontiguousarray(np.asarray(img, dtype=np.float32).transpose(2, 0, 1)[None])


def export_onnx_artifact(
    loaded_checkpoint,
    out_dir: str | os.PathLike,
    *,
    parity_images=None,
    min_parity_db: float = 60.0,
    opset: int = 17,
    traced: str | os.PathLike | None = None,
) -> dict:
    """Write ``<out_dir>/<checkpoint stem>.onnx`` and prove it on ONNX Runtime against PyTorch.

    ``traced``: an ONNX file :func:`export_onnx` already wrote for this model (the export's
    intermediate form), copied instead of tracing the model a second time. Parity (ONNX Runtime
    vs PyTorch, :func:`~bnn_deploy.conversion.onnx_check.onnx_parity`) runs on ``parity_images``
    (default :func:`default_parity_images`) while the file is still a temporary; below
    ``min_parity_db`` it is deleted and a BnnDeployError raised. Returns ``{file, sha256,
    size_bytes, opset, parity (a Parity), coverage}``.
    """
    from bnn_deploy.conversion.onnx_check import onnx_parity
    from bnn_deploy.conversion.onnx_pattern import coverage_report, find_convs, load_onnx

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = loaded_checkpoint.model
    final = out_dir / f"{Path(loaded_checkpoint.path).stem}.onnx"
    with atomic_path(final, suffix=".partial.onnx") as tmp:
        if traced is None:
            export_onnx(model, tmp, opset=opset)
        else:
            shutil.copyfile(traced, tmp)
        images = default_parity_images() if parity_images is None else parity_images
        parity = onnx_parity(model, tmp, images, threshold_db=min_parity_db)
        if not parity.psnr_db >= min_parity_db:
            worst = parity.worst_image()
            raise BnnDeployError(
                f"ONNX Runtime output differs from PyTorch: {parity.psnr_db:.1f} dB on "
                f"{worst.name} (< {min_parity_db:g} dB); report this model, nothing was written"
            )
        onnx_model = load_onnx(tmp)
        coverage = coverage_report(find_convs(onnx_model))
        opset_used = next((o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx")), opset)
        digest, size = sha256_file(tmp), os.path.getsize(tmp)
    return {
        "file": str(final),
        "sha256": digest,
        "size_bytes": size,
        "opset": int(opset_used),
        "parity": parity,
        "coverage": coverage,
    }
