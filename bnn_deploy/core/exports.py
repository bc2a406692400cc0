"""An export directory as verified, runnable files: the manifest read, every file checked against it.

Before anything runs, :func:`read_export` checks that every file the manifest lists exists with its
recorded size and SHA-256 — a benchmark of a file that is not the exported one would be worse than
none. The PyTorch models the artifacts came from (the source checkpoint, and the float
reference's) are artifacts too (format ``pytorch``), found from the manifest's recorded path and
verified against its recorded SHA-256: they are the reference each artifact's parity is measured
against. Each file is hashed once here; later steps take the digests from the :class:`Artifact`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import sha256_file
from bnn_deploy.core.formats import FORMATS, runtime_of
from bnn_deploy.core.manifest import MANIFEST, ArtifactEntry, Manifest, SourceInfo, read_manifest


@dataclass
class Artifact:
    """One runnable file of an export (or a source checkpoint), its path absolute and verified."""

    name: str  # short unique label, e.g. "lce 320x180", "pytorch float-ref"
    file: str  # absolute path
    format: str  # a key of bnn_deploy.core.formats.FORMATS
    role: str  # "binary" (the model exported) or "float-ref" (the float reference model)
    model: str
    size_bytes: int
    sha256: str
    input_hw: tuple[int, int] | None  # fixed (height, width) or None for any size
    scale: int
    what: str = ""
    k: float | None = None  # a PyTorch BBCU source's amplification, as the export used it (not in the file)

    @property
    def runtime(self) -> str:
        return runtime_of(self.format)


@dataclass
class ExportDir:
    """A verified export: its directory, typed manifest and artifacts (files, then PyTorch sources)."""

    path: str
    manifest: Manifest
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

    def entry_for(self, artifact: Artifact) -> ArtifactEntry | None:
        """The manifest's record of ``artifact`` (None for a PyTorch source)."""
        name = Path(artifact.file).name
        return next((e for e in self.manifest.artifacts if e.file == name), None)

    def tile_overlap(self) -> int:
        """LR pixels of overlap to tile this export's fixed-shape graphs with.

        The overlap the export measured for this model (``manifest.tile_overlap``), or
        :data:`bnn_deploy.core.tiling.DEFAULT_OVERLAP` for exports that did not measure one.
        """
        from bnn_deploy.core.tiling import DEFAULT_OVERLAP

        measured = self.manifest.tile_overlap
        return DEFAULT_OVERLAP if measured is None else int(measured.pixels)

    def input_sizes(self) -> list[tuple[int, int]]:
        """The exported ``(height, width)`` sizes, smallest first."""
        sizes = {a.input_hw for a in self.artifacts if a.input_hw is not None}
        if not sizes:
            sizes = {(h, w) for w, h in self.manifest.input_sizes}
        return sorted(sizes, key=lambda hw: hw[0] * hw[1])


def verify_file(directory: Path, entry: ArtifactEntry) -> tuple[str, int, str]:
    """``(absolute path, size, sha256)`` of a manifest entry's file, after checking both against it."""
    path = directory / entry.file
    if not path.is_file():
        raise BnnDeployError(
            f"{path} is listed in {MANIFEST} but missing; re-run bnn-deploy export "
            "(do not move files out of an export directory)"
        )
    size = path.stat().st_size
    digest = sha256_file(path)
    if digest != entry.sha256 or size != entry.size_bytes:
        raise BnnDeployError(
            f"{path} does not match its sha256 in {MANIFEST} (the file changed after export); re-run bnn-deploy export"
        )
    return str(path.resolve()), size, digest


def artifact_label(fmt: str, role: str, input_hw) -> str:
    """``"lce 320x180"``, ``"tflite-float float-ref 320x180"``, ``"onnx"``."""
    size = f" {input_hw[1]}x{input_hw[0]}" if input_hw else ""
    who = " float-ref" if role == "float-ref" else ""
    return f"{fmt}{who}{size}"


def find_source(directory: Path, source: SourceInfo) -> str | None:
    """The checkpoint a manifest source names, if a file with its SHA-256 is found.

    Looked for at its recorded path (absolute, or relative to the current directory), then by file
    name inside the export directory.
    """
    if not source.path or source.kind != "checkpoint":
        return None
    for candidate in (Path(source.path), directory / Path(source.path).name):
        if candidate.is_file() and sha256_file(candidate) == source.sha256:
            return str(candidate.resolve())
    return None


def read_export(directory: str | os.PathLike) -> ExportDir:
    """Read ``directory/manifest.json`` and verify every file it lists; clear errors otherwise."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    scale = manifest.scale
    if not scale:
        raise BnnDeployError(f"{directory / MANIFEST} does not say the model's scale; re-run bnn-deploy export")
    artifacts: list[Artifact] = []
    for entry in manifest.artifacts:
        path, size, digest = verify_file(directory, entry)
        hw = entry.input_hw if FORMATS[entry.format].fixed_shape else None
        artifacts.append(
            Artifact(
                name=artifact_label(entry.format, entry.role, hw),
                file=path,
                format=entry.format,
                role=entry.role,
                model=entry.model or manifest.source.arch or "",
                size_bytes=size,
                sha256=digest,
                input_hw=hw,
                scale=entry.scale or scale,
                what=entry.what,
            )
        )
    notes: list[str] = []
    artifacts += _pytorch_sources(directory, manifest, scale, notes)
    return ExportDir(path=str(directory.resolve()), manifest=manifest, artifacts=artifacts, scale=scale, notes=notes)


def _pytorch_sources(directory: Path, manifest: Manifest, scale: int, notes: list[str]) -> list[Artifact]:
    """The source checkpoint and the float reference's, as ``pytorch`` artifacts (when found)."""
    out = []
    sources = [("binary", manifest.source)]
    ref_entry = next((a for a in manifest.artifacts if a.role == "float-ref" and a.source), None)
    if ref_entry is not None:
        sources.append(("float-ref", ref_entry.source))
    for role, source in sources:
        path = find_source(directory, source)
        if path is None:
            if source.path and source.kind == "checkpoint":
                notes.append(
                    f"PyTorch {role} model {source.path} not found (or changed since export); "
                    "PyTorch runs and parity against it are skipped"
                )
            continue
        out.append(
            Artifact(
                name=f"pytorch{' float-ref' if role == 'float-ref' else ''}",
                file=path,
                format="pytorch",
                role=role,
                model=Path(path).stem,
                size_bytes=os.path.getsize(path),
                sha256=source.sha256,
                input_hw=None,
                scale=scale,
                what=FORMATS["pytorch"].what,
                # BBCU's k is not stored in official checkpoints: reload with the k the export used
                k=(source.config or {}).get("k") if source.arch in ("bbcu_l", "bbcu_m") else None,
            )
        )
    return out


def check_tile_overlap(exp: ExportDir, overlap: int, *, explicit: bool) -> None:
    """Refuse, before loading any model, an overlap no exported size of some format can tile with."""
    largest: dict[tuple[str, str], tuple[int, int]] = {}
    for art in exp.artifacts:
        if art.input_hw is not None:
            key = (art.format, art.role)
            largest[key] = max(largest.get(key, (0, 0)), tuple(art.input_hw), key=lambda hw: hw[0] * hw[1])
    for (fmt, _), hw in largest.items():
        side = min(hw)
        if overlap >= side:
            what = f"--overlap {overlap}" if explicit else f"the default tile overlap ({overlap} LR px)"
            raise BnnDeployError(
                f"{what} does not fit the {fmt} artifact's largest input size {hw[1]}x{hw[0]}: tiles must overlap "
                f"by less than {side} px; pass --overlap {side // 2} (or export a larger --input-size)"
            )
