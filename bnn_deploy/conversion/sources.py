"""What an export starts from: a checkpoint (traced to ONNX once) or an ONNX file, and its reference.

A :class:`Source` holds the ONNX graph every artifact is rebuilt from, the reference its parity is
measured against (PyTorch in eval mode with the deployment sign for checkpoints, ONNX Runtime on
the file itself for ONNX sources), and what the manifest records about it. A checkpoint is traced
to ONNX exactly once; ``--format onnx`` ships that same traced file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bnn_deploy.core.errors import BnnDeployError, first_line
from bnn_deploy.core.fileio import sha256_file
from bnn_deploy.core.manifest import SourceInfo
from bnn_deploy.models.zoo import resolve_model_path

TORCH_REFERENCE = "PyTorch (eval mode, deployment sign: x >= 0 → +1)"
ONNX_REFERENCE = "ONNX Runtime (CPUExecutionProvider) on the source file"


@dataclass
class Source:
    """A model to export: its ONNX graph (and file), how to run the reference, and what it is."""

    kind: str  # "checkpoint" or "onnx"
    name: str
    path: str
    sha256: str
    onnx_model: object
    onnx_path: str  # the ONNX file the graph was read from (traced once for a checkpoint)
    reference: Callable[[list[np.ndarray]], list[np.ndarray]]  # NCHW images -> NCHW outputs
    reference_label: str
    expected_binary: list[str] | None  # PyTorch module names of the binary convs (None: judge by pattern)
    info: dict = field(default_factory=dict)
    loaded: object = None  # the LoadedCheckpoint (checkpoints only)

    def source_info(self, scale: int | None) -> SourceInfo:
        """What the manifest records about this source."""
        return SourceInfo(
            path=self.path,
            sha256=self.sha256,
            kind=self.kind,
            arch=self.info.get("arch"),
            config=self.info.get("config"),
            scale=scale,
            binary_layers=None if self.expected_binary is None else len(self.expected_binary),
            source_format=self.info.get("source_format"),
            onnx_metadata=self.info.get("onnx_metadata"),
        )


def is_onnx_path(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(".onnx")


def load_source(path: str | os.PathLike, workdir: str, *, k: float | None = None, trust_pickle: bool = False) -> Source:
    """Read a checkpoint (traced to ONNX in ``workdir``), a bundled model name, or an ONNX file."""
    # Absolute, so the manifest still finds the source when read from another directory.
    path = os.path.abspath(resolve_model_path(os.fspath(path)))
    if is_onnx_path(path):
        if k is not None:
            raise BnnDeployError("--k applies to checkpoints, not ONNX files (k is inside the graph); drop --k")
        return _onnx_source(path)
    return _checkpoint_source(path, workdir, k=k, trust_pickle=trust_pickle)


def _onnx_source(path: str) -> Source:
    from bnn_deploy.conversion.onnx_pattern import load_onnx, read_metadata
    from bnn_deploy.runtimes.onnxrt import ort_session

    model = load_onnx(path)
    meta = read_metadata(model)
    session = ort_session(path)
    input_name = session.get_inputs()[0].name

    def reference(images):
        return [session.run(None, {input_name: img})[0] for img in images]

    return Source(
        kind="onnx",
        name=Path(path).stem,
        path=path,
        sha256=sha256_file(path),
        onnx_model=model,
        onnx_path=path,
        reference=reference,
        reference_label=ONNX_REFERENCE,
        # Our exporter records its binary layers; third-party files are judged by the pattern.
        expected_binary=meta.get("binary_layers"),
        info={"arch": meta.get("arch"), "config": meta.get("config"), "onnx_metadata": bool(meta)},
    )


def _checkpoint_source(path: str, workdir: str, *, k: float | None, trust_pickle: bool) -> Source:
    import onnx

    from bnn_deploy.conversion.onnx_export import binary_conv_modules, export_onnx
    from bnn_deploy.models.checkpoint import load_checkpoint
    from bnn_deploy.models.run import run_model

    loaded = load_checkpoint(path, k=k, trust_pickle=trust_pickle)
    onnx_path = os.path.join(workdir, f"{loaded.name}.onnx")
    try:
        export_onnx(loaded.model, onnx_path)
    except BnnDeployError:
        raise
    except Exception as exc:  # torch.onnx raises many types for modules it cannot trace
        raise BnnDeployError(
            f"{path}: the model cannot be exported to ONNX ({first_line(exc)}); replace the unsupported layer"
        ) from exc
    model = loaded.model
    return Source(
        kind="checkpoint",
        name=loaded.name,
        path=path,
        sha256=loaded.sha256,
        onnx_model=onnx.load(onnx_path),
        onnx_path=onnx_path,
        reference=lambda images: [run_model(model, img) for img in images],
        reference_label=TORCH_REFERENCE,
        expected_binary=[name for name, _ in binary_conv_modules(model)],
        info={"arch": loaded.arch, "config": loaded.config, "source_format": loaded.source_format},
        loaded=loaded,
    )


def module_for_node(node_name: str, model) -> tuple[str, str] | None:
    """The PyTorch module (path, type) behind an ONNX node named by the TorchScript exporter.

    The path is :func:`~bnn_deploy.conversion.onnx_ops.naming.scope_module_path`'s (the same rule
    names the TF ops, and so the flatbuffer's ops); None when the name is not a scope path or the
    model has no such module.
    """
    from bnn_deploy.conversion.onnx_ops.naming import scope_module_path

    dotted = scope_module_path(node_name)
    if dotted is None:
        dotted = ""
    try:
        module = model.get_submodule(dotted) if dotted else model
    except AttributeError:
        return None
    return dotted or "(model)", type(module).__name__


def rebuild(source: Source, input_hw: tuple[int, int], *, fold: bool = False, fake_quant: dict | None = None):
    """``rebuild_tf`` with unsupported-op errors naming the PyTorch module for checkpoints."""
    from bnn_deploy.conversion.onnx_to_tf import UnsupportedOnnxOp, rebuild_tf

    try:
        return rebuild_tf(source.onnx_model, input_hw, where=source.path, fold=fold, fake_quant=fake_quant)
    except UnsupportedOnnxOp as exc:
        if source.loaded is None:
            raise
        modules = []
        for node, op, _ in exc.nodes:
            found = module_for_node(node, source.loaded.model)
            modules.append(f"{found[0]} ({found[1]}, ONNX {op})" if found else f"{node} (ONNX {op})")
        raise BnnDeployError(
            f"{source.path}: unsupported layer {', '.join(modules[:6])} — the LCE route "
            "rebuilds only standard SR ops; replace that layer or export it differently"
        ) from exc
