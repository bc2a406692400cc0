"""An export directory as runnable artifacts: read and verify ``manifest.json``, open each file.

``bnn-deploy export`` writes the files and a manifest listing each one's ``file``, ``format``
(``lce``, ``tflite-float``, ``tflite-int8``, ``onnx``), ``sha256``, ``size_bytes``, fixed input
size, and whether it is the binary model or the float reference (``role: float-ref``). Before
anything runs, :func:`read_export` checks that every listed file exists with that size and SHA-256
— a benchmark of a file that is not the exported one would be worse than none.

The PyTorch models the artifacts came from (the source checkpoint, and the float reference's) are
artifacts too (format ``pytorch``), found from the manifest's recorded path and verified against
its recorded SHA-256; they are the reference each artifact's parity is measured against.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.formats import FORMATS, runtime_of
from bnn_deploy.core.manifest import MANIFEST, MANIFEST_FORMAT
from bnn_deploy.core.fileio import sha256_file
from bnn_deploy.runtimes.base import Runner



@dataclass
class Artifact:
    """One runnable file of an export (or a source checkpoint)."""

    name: str  # short unique label, e.g. "lce 320x180", "pytorch float-ref"
    file: str  # absolute path
    format: str  # lce | tflite-float | tflite-int8 | onnx | pytorch
    role: str  # "binary" (the model exported) or "float-ref" (the float reference model)
    model: str
    size_bytes: int
    sha256: str
    input_hw: tuple[int, int] | None  # fixed (height, width) or None for any size
    scale: int
    what: str = ""

    @property
    def runtime(self) -> str:
        return runtime_of(self.format)


@dataclass
class ExportDir:
    """A verified export: its directory, manifest and artifacts (files, then PyTorch sources)."""

    path: str
    manifest: dict
    artifacts: list[Artifact]
    scale: int
    notes: list[str] = field(default_factory=list)

    def of(self, fmt: str, role: str = "binary") -> list[Artifact]:
        """Artifacts of one format and role."""
        return [a for a in self.artifacts if a.format == fmt and a.role == role]

    def reference_for(self, artifact: Artifact) -> Artifact | None:
        """The PyTorch model ``artifact`` was exported from (its parity reference), if found."""
        refs = self.of("pytorch", artifact.role)
        return refs[0] if refs else None


def _read_manifest(directory: Path) -> dict:
    if not directory.exists():
        raise BnnDeployError(f"export directory {directory} not found; run bnn-deploy export first or check the path")
    if not directory.is_dir():
        raise BnnDeployError(f"{directory} is a file, not an export directory; give the directory "
                             "bnn-deploy export wrote")
    path = directory / MANIFEST
    if not path.is_file():
        raise BnnDeployError(f"{directory} has no {MANIFEST}, so it is not a bnn-deploy export; "
                             "run bnn-deploy export and pass its output directory")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BnnDeployError(f"{path} is not readable JSON ({exc}); re-run bnn-deploy export") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise BnnDeployError(f"{path} is not a bnn-deploy export manifest (format is not {MANIFEST_FORMAT!r}); "
                             "re-run bnn-deploy export")
    if int(manifest.get("version", 0)) > 1:
        raise BnnDeployError(f"{path} is export manifest version {manifest.get('version')}, newer than this "
                             "bnn-deploy reads (1); upgrade bnn-deploy")
    if not isinstance(manifest.get("artifacts"), list) or not manifest["artifacts"]:
        raise BnnDeployError(f"{path} lists no artifacts; re-run bnn-deploy export")
    return manifest


def _verify_file(directory: Path, entry: dict) -> tuple[str, int, str]:
    """``(absolute path, size, sha256)`` of a manifest entry's file, after checking both against it."""
    name = entry.get("file")
    if not isinstance(name, str) or not name:
        raise BnnDeployError(f"{directory / MANIFEST} has an artifact without a file name; re-run bnn-deploy export")
    path = directory / name
    if not path.is_file():
        raise BnnDeployError(f"{path} is listed in {MANIFEST} but missing; re-run bnn-deploy export "
                             "(do not move files out of an export directory)")
    size = path.stat().st_size
    want_size = entry.get("size_bytes")
    digest = sha256_file(path)
    if digest != entry.get("sha256") or (want_size is not None and size != int(want_size)):
        raise BnnDeployError(f"{path} does not match its sha256 in {MANIFEST} (the file changed after export); "
                             "re-run bnn-deploy export")
    return str(path.resolve()), size, digest


def _input_hw(entry: dict) -> tuple[int, int] | None:
    shape = entry.get("input_shape")
    if isinstance(shape, list) and len(shape) == 4:
        return int(shape[1]), int(shape[2])
    size = entry.get("input_size")
    if isinstance(size, list) and len(size) == 2:
        return int(size[1]), int(size[0])
    return None


def _format_label(fmt: str, role: str, input_hw) -> str:
    size = f" {input_hw[1]}x{input_hw[0]}" if input_hw else ""
    who = " float-ref" if role == "float-ref" else ""
    return f"{fmt}{who}{size}"


def _find_source(directory: Path, source: dict) -> str | None:
    """The checkpoint a manifest ``source`` names, if a file with its SHA-256 is found.

    Looked for at its recorded path (absolute, or relative to the current directory), then by file
    name inside the export directory.
    """
    recorded = source.get("path")
    if not recorded or source.get("kind", "checkpoint") != "checkpoint":
        return None
    for candidate in (Path(recorded), directory / Path(recorded).name):
        if candidate.is_file() and sha256_file(candidate) == source.get("sha256"):
            return str(candidate.resolve())
    return None


def read_export(directory: str | os.PathLike) -> ExportDir:
    """Read ``directory/manifest.json`` and verify every file it lists; clear errors otherwise."""
    directory = Path(directory)
    manifest = _read_manifest(directory)
    source = manifest.get("source") or {}
    scale = int(source.get("scale") or 0) or None
    artifacts: list[Artifact] = []
    notes: list[str] = []
    for entry in manifest["artifacts"]:
        fmt = entry.get("format")
        if fmt not in FORMATS or not FORMATS[fmt].exported:
            notes.append(f"skipped {entry.get('file')}: unknown format {fmt!r}")
            continue
        path, size, digest = _verify_file(directory, entry)
        role = "float-ref" if entry.get("role") == "float-ref" else "binary"
        hw = None if fmt == "onnx" else _input_hw(entry)
        art_scale = int(entry.get("scale") or 0) or scale
        if hw is None and fmt != "onnx":
            raise BnnDeployError(f"{MANIFEST} gives no input shape for {entry['file']}; re-run bnn-deploy export")
        artifacts.append(Artifact(name=_format_label(fmt, role, hw), file=path, format=fmt, role=role,
                                  model=str(entry.get("model") or source.get("arch") or ""), size_bytes=size,
                                  sha256=digest, input_hw=hw, scale=art_scale or 0, what=entry.get("what", "")))
    if scale is None:
        scale = next((a.scale for a in artifacts if a.scale), None)
    if not scale:
        raise BnnDeployError(f"{directory / MANIFEST} does not say the model's scale; re-run bnn-deploy export")
    for a in artifacts:
        a.scale = a.scale or scale
    artifacts += _pytorch_sources(directory, manifest, scale, notes)
    return ExportDir(path=str(directory.resolve()), manifest=manifest, artifacts=artifacts, scale=scale, notes=notes)


def _pytorch_sources(directory: Path, manifest: dict, scale: int, notes: list[str]) -> list[Artifact]:
    """The source checkpoint and the float reference's, as ``pytorch`` artifacts (when found)."""
    out = []
    sources = [("binary", manifest.get("source") or {})]
    ref_entry = next((a for a in manifest["artifacts"] if a.get("role") == "float-ref" and a.get("source")), None)
    if ref_entry is not None:
        sources.append(("float-ref", ref_entry["source"]))
    for role, source in sources:
        path = _find_source(directory, source)
        if path is None:
            if source.get("path"):
                notes.append(f"PyTorch {role} model {source.get('path')} not found (or changed since export); "
                             "PyTorch runs and parity against it are skipped")
            continue
        out.append(Artifact(name=f"pytorch{' float-ref' if role == 'float-ref' else ''}", file=path,
                            format="pytorch", role=role, model=Path(path).stem, size_bytes=os.path.getsize(path),
                            sha256=source["sha256"], input_hw=None, scale=scale,
                            what="PyTorch eager, float32 (the reference)"))
    return out


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

    return open_torch(artifact.file, threads=threads, kernel=kernel or "default")


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
