"""``bnn-deploy export``: a checkpoint or ONNX file → LCE / TFLite / ONNX artifacts with proven parity.

One route for every source (:mod:`bnn_deploy.conversion.sources`): a checkpoint is traced to ONNX
once, an ONNX file is read as it is. Then, per requested input size (LCE's interpreter cannot
resize, so each size is its own flatbuffer), the pipeline of :mod:`bnn_deploy.conversion.pipeline`
runs — rebuild in TF, convert, read the flatbuffer back, check bitpacking, check parity on photos —
and only a file that passed every stage is kept. ``--format onnx`` ships the traced ONNX file,
checked on ONNX Runtime.

Everything is built in a staging folder and committed by :mod:`bnn_deploy.conversion.export_folder`:
a failed or interrupted export changes nothing; a re-export replaces exactly the previous export's
files and writes ``manifest.json`` last (its schema: ``docs/manifest.md``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bnn_deploy.conversion import pipeline
from bnn_deploy.conversion.export_folder import Changes, commit, export_folder
from bnn_deploy.conversion.memory_check import check_fits
from bnn_deploy.conversion.sources import Source, is_onnx_path, load_source
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import DEFAULT_OUT_ROOT, scratch_dir
from bnn_deploy.core.formats import EXPORT_FORMATS, FLOAT_REF_WHAT, FORMATS
from bnn_deploy.core.manifest import ArtifactEntry, Manifest, TileOverlap, now_utc
from bnn_deploy.core.photos import PARITY_PHOTOS, parity_images
from bnn_deploy.core.progress import step
from bnn_deploy.core.targets import lce_converter_target
from bnn_deploy.core.values import MAX_SIDE
from bnn_deploy.core.versions import tool_versions
from bnn_deploy.models.zoo import resolve_model_path

PARITY_PHOTOS_WHAT = "holdout photos bundled with scikit-image, centre-cropped to each input size"
LAYOUT = "NHWC float32, RGB in [0, 1]"


@dataclass
class ExportResult:
    """What ``export`` returns: the manifest it wrote and what it did to the folder."""

    manifest: Manifest
    out_dir: str
    changes: Changes = field(default_factory=Changes)

    def to_json(self) -> dict:
        return {**self.manifest.to_json(), "changes": vars(self.changes)}


def check_request(formats, input_sizes, target, float_ref, min_parity_db) -> tuple[list[str], list[tuple[int, int]]]:
    """Every option checked before any work; returns the formats and ``(width, height)`` sizes, deduplicated."""
    formats = list(dict.fromkeys(formats))
    bad = [f for f in formats if f not in EXPORT_FORMATS]
    if bad or not formats:
        raise BnnDeployError(f"unknown --format {', '.join(bad) or '(none)'}; choose from {', '.join(EXPORT_FORMATS)}")
    if "tflite-int8" in formats and float_ref is None:
        raise BnnDeployError("--format tflite-int8 quantizes a float reference model; pass --float-ref CKPT")
    lce_converter_target(target)
    sizes = []
    for size in input_sizes:
        try:
            w, h = (int(v) for v in size)
        except (TypeError, ValueError) as exc:
            raise BnnDeployError(f"--input-size {size!r} is not WIDTHxHEIGHT; give e.g. 320x180") from exc
        if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
            raise BnnDeployError(f"--input-size {w}x{h} is out of range; width and height must be 1..{MAX_SIDE}")
        sizes.append((w, h))
    if not sizes:
        raise BnnDeployError("no --input-size given; give e.g. --input-size 320x180")
    if not math.isfinite(min_parity_db):
        raise BnnDeployError(f"--min-parity-db is {min_parity_db}; give a finite number of dB such as 60")
    return formats, list(dict.fromkeys(sizes))


class _Exporter:
    """One export run: runs the pipeline per source, size and format, and collects manifest entries."""

    def __init__(self, staging: Path, settings: pipeline.Settings):
        self.staging, self.settings = staging, settings
        self.artifacts: list[ArtifactEntry] = []
        self.notes: list[str] = []
        self.scale: int | None = None

    def _keep(self, job: pipeline.Job, file: str, **fields) -> ArtifactEntry:
        """Write a job's flatbuffer into the staging folder and record it."""
        from bnn_deploy.core.fileio import sha256_bytes

        (self.staging / file).write_bytes(job.data)
        rebuilt = job.prep.rebuilt
        entry = ArtifactEntry(
            file=file,
            format=job.fmt,
            role=job.role,
            sha256=sha256_bytes(job.data),
            size_bytes=len(job.data),
            model=job.prep.source.name,
            scale=rebuilt.scale,
            input_size=list(job.prep.size),
            input_shape=list(rebuilt.input_shape),
            output_shape=list(rebuilt.output_shape),
            layout=LAYOUT,
            parity=job.parity,
            x86_seconds_per_image=round(job.seconds_per_image, 4),
            **job.extra,
            **fields,
        )
        self.artifacts.append(entry)
        return entry

    def binary(self, source: Source, formats: list[str], size: tuple[int, int]) -> None:
        """The source's float-kernel and LCE flatbuffers at one size."""
        t0 = time.perf_counter()
        prep = pipeline.prepare(source, size, source.name, self.settings, fold=self.settings.fold)
        self.scale = prep.rebuilt.scale
        self._note(prep)
        w, h = size
        float_bytes = None
        if "tflite-float" in formats:
            job = pipeline.run_stages(pipeline.Job("tflite-float", "binary", prep, self.settings))
            float_bytes = len(job.data)
            self._keep(job, f"{source.name}_{w}x{h}{FORMATS['tflite-float'].suffix}", what=FORMATS["tflite-float"].what)
        if "lce" in formats:
            job = pipeline.run_stages(pipeline.Job("lce", "binary", prep, self.settings))
            if float_bytes:
                job.extra["size"].update(
                    tflite_float_bytes=float_bytes, ratio_vs_tflite_float=round(float_bytes / len(job.data), 2)
                )
            self._keep(
                job,
                f"{source.name}_{w}x{h}{FORMATS['lce'].suffix}",
                what=FORMATS["lce"].what,
                export_seconds=round(time.perf_counter() - t0, 2),
            )
        if "lce-int8" in formats:
            t0 = time.perf_counter()
            job = pipeline.run_stages(pipeline.Job("lce-int8", "binary", prep, self.settings))
            self._keep(
                job,
                f"{source.name}_{w}x{h}{FORMATS['lce-int8'].suffix}",
                what=FORMATS["lce-int8"].what,
                export_seconds=round(time.perf_counter() - t0, 2),
            )

    def float_ref(self, source: Source, ref: Source, formats: list[str], size: tuple[int, int]) -> None:
        """The float reference model as float and/or int8 TFLite at one size."""
        prep = pipeline.prepare(ref, size, f"ref_{ref.name}", self.settings)
        if self.scale is not None and prep.rebuilt.scale != self.scale:
            raise BnnDeployError(
                f"--float-ref {ref.path} upscales ×{prep.rebuilt.scale} but the model "
                f"×{self.scale}; give a reference of the same scale"
            )
        stem = ref.name if ref.name != source.name else f"ref-{ref.name}"
        w, h = size
        for fmt, what in (("tflite-float", FLOAT_REF_WHAT), ("tflite-int8", FORMATS["tflite-int8"].what)):
            if fmt in formats:
                job = pipeline.run_stages(pipeline.Job(fmt, "float-ref", prep, self.settings))
                self._keep(
                    job, f"{stem}_{w}x{h}{FORMATS[fmt].suffix}", what=what, source=ref.source_info(prep.rebuilt.scale)
                )

    def onnx(self, source: Source, size: tuple[int, int]) -> None:
        """The traced ONNX file, copied and checked on ONNX Runtime against PyTorch."""
        from bnn_deploy.conversion import onnx_export

        w, h = size
        images = [(n, lr) for n, lr, _ in parity_images((h, w), self.scale or 1, self.settings.parity_photos)]
        with step("checking the ONNX file (dynamic size) on ONNX Runtime", self.settings.say):
            info = onnx_export.export_onnx_artifact(
                source.loaded,
                self.staging,
                parity_images=images,
                min_parity_db=self.settings.min_parity_db,
                traced=source.onnx_path,
            )
        self.artifacts.append(
            ArtifactEntry(
                file=os.path.basename(info["file"]),
                format="onnx",
                sha256=info["sha256"],
                size_bytes=info["size_bytes"],
                model=source.name,
                scale=self.scale,
                layout="NCHW float32, RGB in [0, 1]; any batch, height and width",
                parity=info["parity"],
                opset=info["opset"],
                coverage=info["coverage"],
                what=f"ONNX (opset {info['opset']}, dynamic N/H/W) in bnn-deploy's binary-conv pattern; parity "
                "checked on ONNX Runtime",
            )
        )

    def _note(self, prep: pipeline.Prepared) -> None:
        rebuilt, (w, h) = prep.rebuilt, prep.size
        notes = list(rebuilt.notes)
        if not rebuilt.binary_layers:
            notes.append("the model has no binary convs: its LCE flatbuffer runs entirely in float")
        if not any(hr is not None for hr in prep.hrs):
            notes.append(
                f"[{w}x{h}] no PSNR vs HR: no holdout photo holds a {w * rebuilt.scale}x"
                f"{h * rebuilt.scale} HR crop (parity still ran on LR crops of the photos)"
            )
        self.notes += [n for n in notes if n not in self.notes]


def export_model(
    source: str | os.PathLike,
    *,
    formats=("lce",),
    input_sizes=((320, 180),),
    target: str = "arm64",
    out_dir: str | os.PathLike | None = None,
    min_parity_db: float = 60.0,
    float_ref: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
    k: float | None = None,
    trust_pickle: bool = False,
    parity_photos: int = PARITY_PHOTOS,
    num_threads: int | None = None,
    fold: bool = True,
    tile_overlap: TileOverlap | None = None,
) -> ExportResult:
    """Export ``source`` (checkpoint or ``.onnx``) to ``formats`` at each ``(width, height)`` input size.

    Returns the manifest (also written as ``out_dir/manifest.json``) and what changed in the
    folder. The tile overlap the model needs is measured once (:mod:`bnn_deploy.conversion.overlap`)
    unless ``tile_overlap`` brings one measured on the same source. ``fold`` folds the float glue around
    the binary convs first (:mod:`bnn_deploy.conversion.fold`). Any failure — unsupported layer, a binary
    conv not bitpacked, parity below ``min_parity_db`` dB, an unwritable ``out_dir``, Ctrl-C — leaves
    ``out_dir`` as it was.
    """
    say = progress or (lambda _msg: None)
    formats, sizes = check_request(formats, input_sizes, target, float_ref, min_parity_db)
    source = resolve_model_path(os.fspath(source))
    if not os.path.isfile(source):
        raise BnnDeployError(f"{source} not found; give a checkpoint (.pt/.pth) or an .onnx file")
    if "onnx" in formats and is_onnx_path(source):
        raise BnnDeployError(
            "--format onnx exports a checkpoint to ONNX, and the source already is ONNX; drop onnx from --format"
        )
    ref_path = resolve_model_path(os.fspath(float_ref)) if float_ref is not None else None
    if ref_path is not None and not os.path.isfile(ref_path):
        raise BnnDeployError(
            f"--float-ref {float_ref} not found; give a float model's checkpoint or .onnx file, or a bundled "
            "model name (bnn-deploy models lists them)"
        )
    started = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else Path(DEFAULT_OUT_ROOT) / Path(source).stem
    with (
        export_folder(out, [source] + ([ref_path] if ref_path else [])) as staging,
        scratch_dir("bnn-deploy-export-") as workdir,
    ):
        settings = pipeline.Settings(
            target=target,
            min_parity_db=min_parity_db,
            workdir=str(workdir),
            say=say,
            parity_photos=parity_photos,
            threads=num_threads,
            fold=fold,
        )
        with step(f"loading {source}", say):
            src = load_source(source, str(workdir), k=k, trust_pickle=trust_pickle)
        if "lce-int8" in formats:
            from bnn_deploy.conversion.int8 import check_int8

            check_int8(src.onnx_model, fold=fold, where=src.path)
        ref = None
        if ref_path is not None:
            os.makedirs(workdir / "ref")  # its ONNX may share the model's file name
            with step(f"loading the float reference {float_ref}", say):
                ref = load_source(ref_path, str(workdir / "ref"), trust_pickle=trust_pickle)
        check_fits([s.onnx_model for s in (src, ref) if s is not None], sizes)
        overlap = tile_overlap or _tile_overlap(src, say)
        ex = _Exporter(staging, settings)
        for size in sizes:
            if {"lce", "lce-int8", "tflite-float"} & set(formats):
                ex.binary(src, formats, size)
            if ref is not None and {"tflite-float", "tflite-int8"} & set(formats):
                ex.float_ref(src, ref, formats, size)
        if "onnx" in formats:
            ex.onnx(src, sizes[0])
        manifest = Manifest(
            source=src.source_info(ex.scale),
            artifacts=ex.artifacts,
            target=target,
            lce_converter_target=lce_converter_target(target),
            formats=formats,
            input_sizes=[[w, h] for w, h in sizes],
            min_parity_db=float(min_parity_db),
            versions=tool_versions(),
            created=now_utc(),
            out_dir=str(out),
            parity_photos=PARITY_PHOTOS_WHAT,
            notes=ex.notes,
            wall_seconds=round(time.perf_counter() - started, 2),
            fold=fold,
            tile_overlap=overlap,
        )
        changes = commit(out, staging, manifest)
    return ExportResult(manifest=manifest, out_dir=str(out), changes=changes)


def _tile_overlap(src: Source, say) -> TileOverlap | None:
    """The tile-overlap stage; a reference that cannot run the crops leaves it unmeasured (a note says so)."""
    from bnn_deploy.conversion.overlap import measure_tile_overlap
    from bnn_deploy.core.errors import first_line

    try:
        return measure_tile_overlap(src, say)
    except Exception as exc:  # e.g. an ONNX file with a fixed input size
        say(f"tile overlap not measured ({first_line(exc)}); tiling will use the default")
        return None


def render_overlap(overlap: TileOverlap | None) -> str:
    """One line: the measured tile overlap, how close tiles come to the whole image, and what it cost."""
    from bnn_deploy.core.tiling import DEFAULT_OVERLAP

    if overlap is None:
        return f"tile overlap: not measured; tiling uses the default {DEFAULT_OVERLAP} LR px"
    if overlap.psnr_db is None:
        psnr = "exact (twice the receptive-field radius)"
    else:
        psnr = "bit-exact" if overlap.psnr_db == float("inf") else f"{overlap.psnr_db:.1f} dB"
    bound = (
        f"{overlap.upper_bound} px (2 × receptive field)"
        if overlap.receptive_radius is not None
        else (f"{overlap.upper_bound} px (searched up to; {overlap.bound_note})")
    )
    verdict = (
        f"tiled vs whole {psnr} (≥ {overlap.threshold_db:g} dB)"
        if overlap.meets_threshold
        else f"BELOW {overlap.threshold_db:g} dB even at the bound: tiled vs whole {psnr}"
    )
    return (
        f"tile overlap: {overlap.pixels} LR px — {verdict} on the held-out photos; bound {bound}; "
        f"measured in {overlap.seconds:.1f} s"
    )


def render_export(result: ExportResult) -> str:
    """Text summary: per artifact size, bitpacked n/N, op histogram and parity; what changed in the folder."""
    m = result.manifest
    src = m.source
    lines = [
        f"exported {src.path} ({src.arch or src.kind}, ×{src.scale}) for "
        f"{m.target} → {m.out_dir}  ({m.wall_seconds:.1f} s)"
    ]
    for art in m.artifacts:
        lines.append(
            f"  {art.file}  {_kb(art.size_bytes)}  [{art.format}{' float-ref' if art.role == 'float-ref' else ''}]"
        )
        if art.binary_convs:
            lines.append(f"    binary convs bitpacked: {art.binary_convs.bitpacked}/{art.binary_convs.total}")
        if art.op_histogram:
            lines.append("    ops: " + ", ".join(f"{k} {v}" for k, v in art.op_histogram.items()))
        if art.float_glue:
            lines.append("    " + _render_glue(art))
        if art.parity is not None:
            lines.append("    " + _render_parity(art))
        if art.size:
            s = art.size
            extra = (
                f", {s['ratio_vs_tflite_float']}× smaller than the float TFLite" if "ratio_vs_tflite_float" in s else ""
            )
            lines.append(
                f"    size: {_kb(s['bytes'])} vs ~{_kb(s['float_equivalent_bytes'])} float "
                f"({s['ratio_vs_float']}×){extra}; binary filters {s['binary_filter_ratio']}× smaller"
            )
    lines.append("  " + render_overlap(m.tile_overlap))
    lines += [f"  note: {note}" for note in m.notes]
    ch = result.changes
    if ch.replaced or ch.removed:
        lines.append(
            f"  replaced {len(ch.replaced)} file(s) of the previous export"
            + (f"; removed {', '.join(ch.removed)}" if ch.removed else "")
        )
    if ch.kept:
        lines.append(f"  left alone (not written by bnn-deploy): {', '.join(ch.kept)}")
    return "\n".join(lines)


def _render_glue(art: ArtifactEntry) -> str:
    from bnn_deploy.core.glue import glue_text, spread

    done = f", folded (unfolded: {spread(art.fold.unit_glue_before)})" if art.fold else ""
    return f"float glue per binary unit{done}: {glue_text(art.float_glue)}"


def _render_parity(art: ArtifactEntry) -> str:
    par = art.parity
    who = "parity vs PyTorch (ONNX Runtime)" if art.format == "onnx" else "parity vs reference"
    hr = ""
    if par.psnr_vs_hr_db is not None:
        hr = f"; PSNR vs HR: reference {par.reference_psnr_vs_hr_db:.2f} dB, this {par.psnr_vs_hr_db:.2f} dB"
    gate = "" if par.threshold_db is not None else " (quantization error, not gated)"
    return f"{who}: {par.psnr_db:.2f} dB (max |error| {par.max_abs_error:.2g}){hr}{gate}"


def _kb(n) -> str:
    if n is None:
        return "?"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB"
