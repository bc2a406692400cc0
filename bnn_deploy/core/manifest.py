"""The export manifest: ``manifest.json``, the typed record of what ``bnn-deploy export`` wrote.

Its schema is documented in ``docs/manifest.md`` and versioned by :data:`SCHEMA_VERSION`: the
writer is :mod:`bnn_deploy.conversion.export`, every reader goes through :func:`read_manifest`,
which checks each field's type (a hand-edited file fails with one line naming the field) and
reads version-1 files (bnn-deploy 0.1) by renaming their parity keys. Unknown keys are ignored,
so a reader stays able to read what a newer writer adds.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.formats import FORMATS, ROLES
from bnn_deploy.core.glue import FloatGlue
from bnn_deploy.core.jsonio import dumps
from bnn_deploy.core.parity import Parity
from bnn_deploy.core.schema import SchemaError, from_json

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "bnn-deploy-export"
SCHEMA_VERSION = 2
_FIX = "re-run bnn-deploy export (do not edit manifest.json by hand)"


@dataclass
class SourceInfo:
    """The model an export (or a float reference) came from."""

    path: str
    sha256: str
    kind: str = "checkpoint"  # "checkpoint" or "onnx"
    arch: str | None = None
    config: dict | None = None
    scale: int | None = None
    binary_layers: int | None = None  # binary convs the source declares (None: not known)
    source_format: str | None = None  # checkpoint layout: basicsr, state_dict, bnn-deploy, pickle
    onnx_metadata: bool | None = None  # an ONNX source carried bnn-deploy's metadata

    def identity(self) -> dict:
        """What results (bench, eval) record as ``model_source``: the model they measured, by SHA-256."""
        return {"path": self.path, "sha256": self.sha256, "kind": self.kind, "arch": self.arch, "scale": self.scale}


@dataclass
class BinaryConvs:
    """How many of the source's binary convs became bitpacked ``LceBconv2d`` ops."""

    bitpacked: int
    total: int
    layers: list[str] = field(default_factory=list)


@dataclass
class FoldSummary:
    """What the fold of the float glue did to the ONNX graph before the rebuild (``conversion/fold.py``).

    ``unit_glue_before``/``unit_glue_after``: float elementwise ops per binary unit as LCE will see
    them (every unit but the last), on the graph before and after the fold.
    """

    moves: int
    removed_onnx_ops: int
    unit_glue_before: list[int] = field(default_factory=list)
    unit_glue_after: list[int] = field(default_factory=list)
    onnx_ops_before: dict[str, int] = field(default_factory=dict)
    onnx_ops_after: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Int8Calibration:
    """How the int8 ranges of an ``lce-int8`` flatbuffer were calibrated."""

    calibration_photos: list[str]
    calibration_lr_size: list[int]  # [width, height] the ranges were measured at
    int8_tensors: int  # tensors given an int8 range


@dataclass
class ArtifactEntry:
    """One file of an export, as the manifest lists it (the file's name is relative to the export)."""

    file: str
    format: str
    sha256: str
    size_bytes: int
    role: str = "binary"  # "binary" (the exported model) or "float-ref" (the --float-ref model)
    model: str = ""
    scale: int | None = None
    what: str = ""
    input_size: list[int] | None = None  # [width, height] of a fixed-shape graph; None: any size
    input_shape: list[int] | None = None  # NHWC
    output_shape: list[int] | None = None
    layout: str | None = None
    parity: Parity | None = None
    target: str | None = None
    op_histogram: dict[str, int] | None = None
    binary_convs: BinaryConvs | None = None
    pixel_shuffles: list[dict] | None = None
    size: dict | None = None  # size summary of an LCE file vs its float twin
    float_glue: FloatGlue | None = None  # LCE files: float glue per binary unit in this file
    fold: FoldSummary | None = None  # LCE files of a folded graph: glue per unit before/after the fold
    int8: Int8Calibration | None = None  # lce-int8: its calibration
    x86_seconds_per_image: float | None = None
    export_seconds: float | None = None
    opset: int | None = None  # ONNX
    coverage: dict | None = None  # ONNX: binary-conv pattern coverage
    source: SourceInfo | None = None  # the float reference's own source (role float-ref)

    @property
    def input_hw(self) -> tuple[int, int] | None:
        """``(height, width)`` of a fixed-shape graph, None for a graph that takes any size."""
        if self.input_shape and len(self.input_shape) == 4:
            return int(self.input_shape[1]), int(self.input_shape[2])
        if self.input_size and len(self.input_size) == 2:
            return int(self.input_size[1]), int(self.input_size[0])
        return None


@dataclass
class TileOverlap:
    """The overlap between neighbouring tiles this model needs, measured by the export (see ``docs/manifest.md``)."""

    pixels: int  # LR pixels of overlap to tile with
    threshold_db: float  # the bar: tiled vs whole-image PSNR
    psnr_db: float | None  # the worst photo's tiled-vs-whole PSNR at ``pixels`` ("inf": bit-exact; None: not
    # run, because ``pixels`` is twice the receptive-field radius, where tiles compute what the whole image does)
    meets_threshold: bool  # false: even the upper bound stays below the bar (``pixels`` is the bound)
    upper_bound: int  # the largest overlap searched: 2 × the receptive-field radius, rounded up
    receptive_radius: float | None = None  # LR pixels; None when the graph gives no finite bound
    bound_note: str = ""  # where the bound came from, or why there is none
    method: str = ""
    tried: list[dict] = field(default_factory=list)  # [{"overlap", "psnr_db"}] in the order of overlap
    seconds: float | None = None  # what measuring it cost the export


@dataclass
class Manifest:
    """``manifest.json`` (see ``docs/manifest.md``)."""

    source: SourceInfo
    artifacts: list[ArtifactEntry]
    target: str
    formats: list[str]
    input_sizes: list[list[int]]  # [[width, height], ...]
    min_parity_db: float
    versions: dict[str, str]
    format: str = MANIFEST_FORMAT
    schema_version: int = SCHEMA_VERSION
    created: str = ""
    out_dir: str = ""
    lce_converter_target: str | None = None
    parity_photos: str = ""
    notes: list[str] = field(default_factory=list)
    wall_seconds: float | None = None
    fold: bool | None = None  # the float glue was folded (export --fold, the default); None: older export
    tile_overlap: TileOverlap | None = None  # measured by the export; None: not measured (older exports)

    @property
    def scale(self) -> int | None:
        """The model's scale factor (from the source, else from any artifact)."""
        return self.source.scale or next((a.scale for a in self.artifacts if a.scale), None)

    def to_json(self) -> dict:
        """The JSON document (dataclasses as objects, parity in its JSON form, ``None`` fields dropped)."""
        return _drop_none(_as_dict(self))


def now_utc() -> str:
    """The ``created`` stamp: UTC, seconds."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _as_dict(value):
    if isinstance(value, Parity):
        return value.to_json()
    if hasattr(value, "__dataclass_fields__"):
        return {name: _as_dict(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, list):
        return [_as_dict(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_dict(v) for k, v in value.items()}
    return value


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _upgrade_v1(data: dict) -> dict:
    """A version-1 manifest (bnn-deploy 0.1) in version 2's shape: parity keys renamed."""
    data = dict(data, schema_version=1)
    arts = []
    for art in data.get("artifacts") or []:
        if isinstance(art, dict) and isinstance(art.get("parity"), dict):
            par = dict(art["parity"])
            old = par.pop("min_parity_psnr_db", par.pop("min_psnr_db", None))
            par.setdefault("psnr_db", old)
            par["images"] = [
                dict(img, psnr_db=img.get("parity_psnr_db", img.get("psnr_db")))
                for img in par.get("images") or []
                if isinstance(img, dict)
            ]
            par.setdefault("reference", par.pop("runtime", ""))
            art = dict(art, parity=par)
        arts.append(art)
    return dict(data, artifacts=arts)


def manifest_from_json(data, where: str = MANIFEST) -> Manifest:
    """Validate a parsed manifest and build the typed :class:`Manifest` (one-line errors)."""
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise BnnDeployError(
            f"{where} is not a bnn-deploy export manifest (format is not {MANIFEST_FORMAT!r}); re-run bnn-deploy export"
        )
    version = data.get("schema_version", data.get("version", 1))
    if not isinstance(version, int) or isinstance(version, bool):
        raise BnnDeployError(f"{where}: schema_version {version!r} is not an integer; {_FIX}")
    if version > SCHEMA_VERSION:
        raise BnnDeployError(
            f"{where} is export manifest version {version}, newer than this bnn-deploy reads "
            f"({SCHEMA_VERSION}); upgrade bnn-deploy"
        )
    if version < SCHEMA_VERSION:
        data = _upgrade_v1(data)
    manifest = from_json(Manifest, data, where, _FIX)
    if not manifest.artifacts:
        raise BnnDeployError(f"{where} lists no artifacts; re-run bnn-deploy export")
    for i, art in enumerate(manifest.artifacts):
        _check_artifact(art, f"{where}: artifacts[{i}]")
    return manifest


def _check_artifact(art: ArtifactEntry, where: str) -> None:
    if art.format not in FORMATS or not FORMATS[art.format].exported:
        raise SchemaError(f"{where}.format {art.format!r} is not one of {', '.join(FORMATS)}; {_FIX}")
    if art.role not in ROLES:
        raise SchemaError(f"{where}.role {art.role!r} is not one of {', '.join(ROLES)}; {_FIX}")
    if not art.file or Path(art.file).name != art.file:
        raise SchemaError(f"{where}.file {art.file!r} is not a file name inside the export; {_FIX}")
    if FORMATS[art.format].fixed_shape and art.input_hw is None:
        raise SchemaError(f"{where} ({art.file}) gives no input shape; {_FIX}")


def read_manifest(directory: str | Path) -> Manifest:
    """``directory/manifest.json`` as a typed :class:`Manifest`; clear one-line errors otherwise."""
    directory = Path(directory)
    if not directory.exists():
        raise BnnDeployError(f"export directory {directory} not found; run bnn-deploy export first or check the path")
    if not directory.is_dir():
        raise BnnDeployError(
            f"{directory} is a file, not an export directory; give the directory bnn-deploy export wrote"
        )
    path = directory / MANIFEST
    if not path.is_file():
        raise BnnDeployError(
            f"{directory} has no {MANIFEST}, so it is not a bnn-deploy export; "
            "run bnn-deploy export and pass its output directory"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BnnDeployError(f"{path} is not readable JSON ({exc}); re-run bnn-deploy export") from exc
    return manifest_from_json(data, str(path))


def manifest_text(manifest: Manifest) -> str:
    """The file's text: standard JSON (no NaN/Infinity tokens), indented."""
    return dumps(manifest.to_json())
