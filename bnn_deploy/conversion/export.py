"""``bnn-deploy export``: a checkpoint or ONNX file → LCE / TFLite / ONNX artifacts with proven parity.

One route for every source: PyTorch checkpoints are exported to ONNX first
(:func:`bnn_deploy.conversion.onnx_export.export_onnx`), ONNX files are read as they are; then, per
requested input size (LCE's interpreter cannot resize, so each size is its own flatbuffer):

1. rebuild the ONNX graph in TF (:func:`~bnn_deploy.conversion.onnx_to_tf.rebuild_tf`) and check
   every binary conv of the source matched the binary pattern;
2. convert with LCE, read the flatbuffer back and fail unless each binary conv is an ``LceBconv2d``;
3. run the flatbuffer and the reference (PyTorch in eval mode with the deployment sign, or ONNX
   Runtime for ONNX files) on holdout photos cropped to that size; fail below ``min_parity_db``;
4. only then keep the file.

Everything is written into a staging directory next to ``out_dir`` and renamed into place at the
end together with ``manifest.json``, so a failed or interrupted export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.formats import EXPORT_FORMATS, FLOAT_REF_WHAT, FORMATS
from bnn_deploy.core.manifest import MANIFEST, MANIFEST_FORMAT
from bnn_deploy.core.fileio import DEFAULT_OUT_ROOT, sha256_bytes, sha256_file, staged_dir
from bnn_deploy.core.jsonio import jsonable
from bnn_deploy.core.photos import CALIBRATION_PHOTOS, PARITY_PHOTOS, calibration_images, parity_images
from bnn_deploy.models.zoo import resolve_model_path
from bnn_deploy.core.errors import first_line
from bnn_deploy.core.targets import lce_converter_target

# ---------------------------------------------------------------- sources


@dataclass
class Source:
    """A model to export: its ONNX graph, how to run the reference, and what it is."""

    kind: str  # "checkpoint" or "onnx"
    name: str
    path: str
    sha256: str
    onnx_model: object
    reference: Callable[[list[np.ndarray]], list[np.ndarray]]
    reference_label: str
    expected_binary: list[str] | None
    info: dict = field(default_factory=dict)
    loaded: object = None


def is_onnx_path(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(".onnx")


def load_source(path: str | os.PathLike, workdir: str, *, k: float | None = None,
                trust_pickle: bool = False) -> Source:
    """Read a checkpoint (exported to ONNX in ``workdir``), a bundled model name, or an ONNX file."""
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

    return Source(kind="onnx", name=Path(path).stem, path=path, sha256=sha256_file(path), onnx_model=model,
                  reference=reference, reference_label="ONNX Runtime (CPUExecutionProvider) on the source file",
                  # Our exporter records its binary layers; third-party files are judged by the pattern.
                  expected_binary=meta.get("binary_layers"),
                  info={"arch": meta.get("arch"), "config": meta.get("config"), "onnx_metadata": bool(meta)})


def torch_reference(model) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """Run ``model`` (eval mode, no grad) on NCHW images, in channels-last memory format.

    Channels-last is the same arithmetic on oneDNN's NHWC kernels, about 1.8× faster on CPU —
    it matters at export sizes like 320×180 ×4, where one image is ~80 GMAC.
    """
    import torch

    def run(images: list[np.ndarray]) -> list[np.ndarray]:
        model.eval()
        net = model.to(memory_format=torch.channels_last)
        with torch.inference_mode():
            return [net(torch.from_numpy(img).contiguous(memory_format=torch.channels_last)).contiguous().numpy()
                    for img in images]

    return run


def _checkpoint_source(path: str, workdir: str, *, k: float | None, trust_pickle: bool) -> Source:
    import onnx

    from bnn_deploy.conversion.onnx_export import binary_conv_modules, export_onnx
    from bnn_deploy.models.checkpoint import load_checkpoint

    loaded = load_checkpoint(path, k=k, trust_pickle=trust_pickle)
    onnx_path = os.path.join(workdir, f"{loaded.name}.onnx")
    try:
        export_onnx(loaded.model, onnx_path)
    except BnnDeployError:
        raise
    except Exception as exc:  # torch.onnx raises many types for modules it cannot trace
        raise BnnDeployError(f"{path}: the model cannot be exported to ONNX ({first_line(exc)}); "
                             "replace the unsupported layer") from exc
    model = loaded.model
    return Source(kind="checkpoint", name=loaded.name, path=path, sha256=loaded.sha256,
                  onnx_model=onnx.load(onnx_path), reference=torch_reference(model),
                  reference_label="PyTorch (eval mode, deployment sign: x >= 0 → +1)",
                  expected_binary=[name for name, _ in binary_conv_modules(model)],
                  info={"arch": loaded.arch, "config": loaded.config, "source_format": loaded.source_format},
                  loaded=loaded)


def module_for_node(node_name: str, model) -> tuple[str, str] | None:
    """The PyTorch module (path, type) behind an ONNX node named by the TorchScript exporter.

    Node names are scope paths like ``/body/body.0/body/body.0/act/Erf``: each component is a
    module name, where a ``Sequential`` child repeats its parent's name with an index
    (``body`` → ``body.0``); the last component is the op.
    """
    parts = [p for p in node_name.split("/") if p][:-1]
    path: list[str] = []
    for part in parts:
        if path and part.startswith(path[-1] + "."):
            path[-1] = part  # "body" then "body.0": the indexed child replaces its container's name
        else:
            path.append(part)
    dotted = ".".join(path)
    try:
        module = model.get_submodule(dotted) if dotted else model
    except AttributeError:
        return None
    return dotted or "(model)", type(module).__name__


def _rebuild(source: Source, input_hw: tuple[int, int]):
    """``rebuild_tf`` with unsupported-op errors naming the PyTorch module for checkpoints."""
    from bnn_deploy.conversion.onnx_to_tf import UnsupportedOnnxOp, rebuild_tf

    try:
        return rebuild_tf(source.onnx_model, input_hw, where=source.path)
    except UnsupportedOnnxOp as exc:
        if source.loaded is None:
            raise
        modules = []
        for node, op, _ in exc.nodes:
            found = module_for_node(node, source.loaded.model)
            modules.append(f"{found[0]} ({found[1]}, ONNX {op})" if found else f"{node} (ONNX {op})")
        raise BnnDeployError(f"{source.path}: unsupported layer {', '.join(modules[:6])} — the LCE route "
                             "rebuilds only standard SR ops; replace that layer or export it differently") from exc


# ---------------------------------------------------------------- images


# ---------------------------------------------------------------- output directory


@contextlib.contextmanager
def _staged_out(out: Path) -> Iterator[Path]:
    """Check ``--out``, then yield a staging directory that becomes ``out`` when the block succeeds.

    The staging directory is :func:`bnn_deploy.core.fileio.staged_dir`'s: a previous export at ``out`` is
    replaced whole. On failure it vanishes, and so do the parents of ``out`` this created.
    """
    if out.exists() and not out.is_dir():
        raise BnnDeployError(f"--out {out} is a file; give a directory path")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise BnnDeployError(f"--out {out} exists and is not a bnn-deploy export (no {MANIFEST}); "
                             "choose an empty or new directory")
    missing = []
    parent = out.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise BnnDeployError(f"cannot write --out {out}: {parent} is not a writable directory; "
                             "choose a writable location")
    created: list[Path] = []
    staging = None
    try:
        for directory in reversed(missing):
            directory.mkdir()
            created.append(directory)
        with staged_dir(out) as staging:
            yield staging
    except BaseException as exc:
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()
        if isinstance(exc, OSError) and staging is None:  # could not create the parents or staging
            raise BnnDeployError(f"cannot write --out {out}: {exc.strerror or exc}; "
                                 "choose a writable location") from exc
        raise


def _write_bytes(directory: Path, name: str, data: bytes) -> dict:
    (directory / name).write_bytes(data)
    return {"file": name, "size_bytes": len(data), "sha256": sha256_bytes(data)}


# ---------------------------------------------------------------- the export


def _check_request(formats, input_sizes, target, float_ref, min_parity_db) -> tuple[list[str], list[tuple[int, int]]]:
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
        if not (1 <= w <= 16384 and 1 <= h <= 16384):
            raise BnnDeployError(f"--input-size {w}x{h} is out of range; width and height must be 1..16384")
        sizes.append((w, h))
    if not sizes:
        raise BnnDeployError("no --input-size given; give e.g. --input-size 320x180")
    if not min_parity_db == min_parity_db:
        raise BnnDeployError("--min-parity-db is NaN; give a number of dB such as 60")
    return formats, list(dict.fromkeys(sizes))


def versions() -> dict:
    """Versions of every tool that shaped the artifacts."""
    import larq_compute_engine
    import onnx
    import onnxruntime
    import torch

    from bnn_deploy.core.version import __version__
    from bnn_deploy.core.tf import tensorflow

    return {"bnn_deploy": __version__, "torch": torch.__version__, "tensorflow": tensorflow().__version__,
            "larq_compute_engine": larq_compute_engine.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__}


def _db(value: float) -> float | str:
    return round(float(value), 2) if math.isfinite(value) else ("inf" if value > 0 else str(value))


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _json_parity(fig: dict, min_db: float | None, reference: str) -> dict:
    out = {"reference": reference, "min_parity_psnr_db": _db(fig["min_parity_psnr_db"]),
           "max_abs_error": float(fig["max_abs_error"]),
           "reference_psnr_vs_hr_db": _round(fig["reference_psnr_vs_hr_db"]),
           "psnr_vs_hr_db": _round(fig["psnr_vs_hr_db"]),
           "images": [{k: (_db(v) if k == "parity_psnr_db" else v) for k, v in row.items()} for row in fig["images"]]}
    if min_db is not None:
        out["threshold_db"] = float(min_db)
    return out


@dataclass
class _Prepared:
    """One source rebuilt at one size, with its SavedModel and the reference run on parity photos."""

    rebuilt: object
    saved_model: str
    names: list[str]
    hrs: list[np.ndarray | None]
    nhwc: list[np.ndarray]
    reference: list[np.ndarray]
    common: dict


class _Exporter:
    """One export run: sources, staging directory, artifacts and manifest."""

    def __init__(self, source: Source, staging: Path, workdir: str, target: str, min_parity_db: float,
                 progress: Callable[[str], None], parity_photos: int, num_threads: int | None):
        self.source, self.staging, self.workdir = source, staging, workdir
        self.target, self.min_db, self.say = target, min_parity_db, progress
        self.parity_photos, self.num_threads = parity_photos, num_threads
        self.artifacts: list[dict] = []
        self.notes: list[str] = []
        self.scale: int | None = None

    def prepare(self, src: Source, size: tuple[int, int], tag: str) -> _Prepared:
        """Rebuild ``src`` at ``size``, save it, and run the reference on the parity photos."""
        from bnn_deploy.conversion.lce import nchw_to_nhwc
        from bnn_deploy.conversion.onnx_to_tf import save_saved_model

        w, h = size
        self.say(f"[{w}x{h}] rebuilding {src.name} in TensorFlow")
        rebuilt = _rebuild(src, (h, w))
        saved = save_saved_model(rebuilt, os.path.join(self.workdir, f"{tag}_{w}x{h}"))
        images = parity_images((h, w), rebuilt.scale, self.parity_photos)
        self.say(f"[{w}x{h}] running the reference ({src.reference_label.split(' (')[0]}) on {len(images)} photo(s)")
        common = {"model": src.name, "input_size": [w, h], "input_shape": list(rebuilt.input_shape),
                  "output_shape": list(rebuilt.output_shape), "layout": "NHWC float32, RGB in [0, 1]",
                  "scale": rebuilt.scale}
        return _Prepared(rebuilt=rebuilt, saved_model=saved, names=[n for n, _, _ in images],
                         hrs=[hr for _, _, hr in images], nhwc=[nchw_to_nhwc(lr) for _, lr, _ in images],
                         reference=src.reference([lr for _, lr, _ in images]), common=common)

    def run(self, data: bytes, prep: _Prepared, what: str, gate: bool = True) -> tuple[dict, float]:
        """Run a flatbuffer on the parity photos; with ``gate``, fail below ``min_parity_db``."""
        from bnn_deploy.conversion import lce

        outputs, secs = lce.run_tflite(data, prep.nhwc, self.num_threads)
        fig = lce.parity_figures(prep.reference, [lce.nhwc_to_nchw(o) for o in outputs], prep.names, prep.hrs,
                                 prep.rebuilt.scale)
        self.say(f"    {what}: parity {fig['min_parity_psnr_db']:.1f} dB, max |error| {fig['max_abs_error']:.2g}"
                 + ("" if gate else " (quantization error, not gated)"))
        if gate:
            lce.check_parity(fig, self.min_db, what)
        return fig, secs

    def add(self, data: bytes, file: str, entry: dict, prep: _Prepared, fig: dict, secs: float,
            reference_label: str, gated: bool = True) -> None:
        """Write one flatbuffer into the staging directory and record it."""
        self.artifacts.append({**_write_bytes(self.staging, file, data), **entry, **prep.common,
                               "parity": _json_parity(fig, self.min_db if gated else None, reference_label),
                               "x86_seconds_per_image": round(secs, 4)})

    def binary(self, formats: list[str], size: tuple[int, int]) -> None:
        """The source's LCE (and float-kernel) flatbuffers at one size."""
        from bnn_deploy.conversion import lce

        src, (w, h), t0 = self.source, size, time.perf_counter()
        prep = self.prepare(src, size, src.name)
        rebuilt = prep.rebuilt
        self.scale = rebuilt.scale
        lce.check_binary_coverage(rebuilt, src.expected_binary, src.path)
        if not rebuilt.binary_layers:
            rebuilt.notes.append("the model has no binary convs: its LCE flatbuffer runs entirely in float")
        if not any(hr is not None for hr in prep.hrs):
            rebuilt.notes.append(f"[{w}x{h}] no PSNR vs HR: no holdout photo holds a {w * rebuilt.scale}x"
                                 f"{h * rebuilt.scale} HR crop (parity still ran on LR crops of the photos)")
        self.notes += [n for n in rebuilt.notes if n not in self.notes]
        float_bytes = None
        if "tflite-float" in formats:
            self.say(f"[{w}x{h}] converting with the stock TFLite converter (float kernels)")
            data = lce.convert_tflite_float(prep.saved_model)
            fig, secs = self.run(data, prep, "tflite-float")
            float_bytes = len(data)
            self.add(data, f"{src.name}_{w}x{h}.float.tflite",
                     {"format": "tflite-float", "what": FORMATS["tflite-float"].what,
                      "op_histogram": _histogram(data)},
                     prep, fig, secs, src.reference_label)
        if "lce" in formats:
            self.say(f"[{w}x{h}] converting with LCE (target {self.target})")
            data = lce.convert_lce(prep.saved_model, self.target)
            report = lce.check_bitpacked(data, rebuilt, src.path)
            self.say(f"[{w}x{h}] binary convs bitpacked: {report['bitpacked']}/{report['total']}")
            self.say("    ops: " + ", ".join(f"{k} {v}" for k, v in report["histogram"].items()))
            fig, secs = self.run(data, prep, "LCE flatbuffer")
            self.add(data, f"{src.name}_{w}x{h}.lce.tflite", {
                "format": "lce", "what": FORMATS["lce"].what, "target": self.target,
                "op_histogram": report["histogram"],
                "binary_convs": {"bitpacked": report["bitpacked"], "total": report["total"],
                                 "layers": sorted(rebuilt.binary_layers.values())},
                "pixel_shuffles": [{"node": p.node, "factor": p.factor, "how": p.how, "conv": p.conv,
                                    "reason": p.reason or None} for p in rebuilt.shuffles],
                "size": _size_summary(data, report, float_bytes)}, prep, fig, secs, src.reference_label)
            self.artifacts[-1]["export_seconds"] = round(time.perf_counter() - t0, 2)

    def float_ref(self, ref: Source, formats: list[str], size: tuple[int, int]) -> None:
        """The float reference model as float TFLite and/or int8 TFLite at one size."""
        from bnn_deploy.conversion import lce

        w, h = size
        prep = self.prepare(ref, size, f"ref_{ref.name}")
        if self.scale is not None and prep.rebuilt.scale != self.scale:
            raise BnnDeployError(f"--float-ref {ref.path} upscales ×{prep.rebuilt.scale} but the model "
                                 f"×{self.scale}; give a reference of the same scale")
        stem = ref.name if ref.name != self.source.name else f"ref-{ref.name}"
        entry = {"role": "float-ref", "source": {"path": ref.path, "sha256": ref.sha256, **_jsonable(ref.info)}}
        if "tflite-float" in formats:
            self.say(f"[{w}x{h}] converting the float reference to float TFLite")
            data = lce.convert_tflite_float(prep.saved_model)
            fig, secs = self.run(data, prep, "float reference TFLite")
            self.add(data, f"{stem}_{w}x{h}.float.tflite",
                     {**entry, "format": "tflite-float", "what": FLOAT_REF_WHAT,
                      "op_histogram": _histogram(data)}, prep, fig, secs, ref.reference_label)
        if "tflite-int8" in formats:
            self.say(f"[{w}x{h}] quantizing the float reference to int8 (calibrating on {CALIBRATION_PHOTOS} photos)")
            data = lce.convert_tflite_int8(prep.saved_model, calibration_images((h, w), prep.rebuilt.scale))
            fig, secs = self.run(data, prep, "int8 vs float", gate=False)
            self.add(data, f"{stem}_{w}x{h}.int8.tflite",
                     {**entry, "format": "tflite-int8", "what": FORMATS["tflite-int8"].what,
                      "op_histogram": _histogram(data)}, prep, fig, secs,
                     ref.reference_label + " (the float model)", gated=False)

    def onnx(self, size: tuple[int, int]) -> None:
        from bnn_deploy.conversion import onnx_export

        w, h = size
        images = [(n, lr) for n, lr, _ in parity_images((h, w), self.scale or 1, self.parity_photos)]
        self.say("exporting ONNX (dynamic size) and checking it on ONNX Runtime")
        info = onnx_export.export_onnx_artifact(self.source.loaded, self.staging, parity_images=images,
                                                min_parity_db=self.min_db)
        info["file"] = os.path.basename(info["file"])
        info["size_bytes"] = info.pop("size", None)  # "size" is the size summary in LCE entries
        self.artifacts.append({**info, "format": "onnx",
                               "what": "ONNX (opset %s, dynamic N/H/W) in bnn-deploy's binary-conv pattern; "
                                       "parity checked on ONNX Runtime" % info.get("opset")})


def _refuse_inputs_inside(out: Path, inputs: list[str]) -> None:
    """The export replaces ``out`` as a whole, so an input file inside it would be deleted."""
    root = out.resolve()
    for path in inputs:
        if root in Path(path).resolve().parents:
            raise BnnDeployError(f"{path} is inside the output directory {out}, which the export "
                                 "replaces; choose another --out")


def _jsonable(info: dict) -> dict:
    return json.loads(json.dumps(info, default=str))


def _histogram(data: bytes) -> dict:
    from bnn_deploy.core.flatbuffer import read_flatbuffer

    return read_flatbuffer(data).histogram()


def _size_summary(data: bytes, report: dict, float_bytes: int | None) -> dict:
    """Model size vs float: binary filters bitpacked vs float32, and the whole file vs its float twin.

    ``float_equivalent_bytes`` = this file with each bitpacked filter replaced by its float32 size
    (an estimate of the float network's file); ``tflite_float_bytes`` is the real float file when
    ``tflite-float`` was exported too.
    """
    float_equiv = len(data) - report["weight_bytes"] + report["float_weight_bytes"]
    out = {"bytes": len(data),
           "binary_filter_bytes": report["weight_bytes"],
           "binary_filter_float_bytes": report["float_weight_bytes"],
           "binary_filter_ratio": (round(report["float_weight_bytes"] / report["weight_bytes"], 2)
                                   if report["weight_bytes"] else None),
           "float_equivalent_bytes": float_equiv,
           "ratio_vs_float": round(float_equiv / len(data), 2)}
    if float_bytes:
        out["tflite_float_bytes"] = float_bytes
        out["ratio_vs_tflite_float"] = round(float_bytes / len(data), 2)
    return out


def _default_out(name: str) -> Path:
    return Path(DEFAULT_OUT_ROOT) / name


def export_model(source: str | os.PathLike, *, formats=("lce",), input_sizes=((320, 180),),
                 target: str = "arm64", out_dir: str | os.PathLike | None = None,
                 min_parity_db: float = 60.0, float_ref: str | os.PathLike | None = None,
                 progress: Callable[[str], None] | None = None, k: float | None = None,
                 trust_pickle: bool = False, parity_photos: int = PARITY_PHOTOS,
                 num_threads: int | None = None) -> dict:
    """Export ``source`` (checkpoint or ``.onnx``) to ``formats`` at each ``(width, height)`` input size.

    Returns the manifest (also written as ``out_dir/manifest.json``). Any failure — unsupported
    layer, a binary conv not bitpacked, parity below ``min_parity_db`` dB, an unwritable
    ``out_dir``, Ctrl-C — leaves ``out_dir`` as it was.
    """
    say = progress or (lambda _msg: None)
    formats, sizes = _check_request(formats, input_sizes, target, float_ref, min_parity_db)
    source = resolve_model_path(os.fspath(source))
    if not os.path.isfile(source):
        raise BnnDeployError(f"{source} not found; give a checkpoint (.pt/.pth) or an .onnx file")
    if "onnx" in formats and is_onnx_path(source):
        raise BnnDeployError("--format onnx exports a checkpoint to ONNX, and the source already is ONNX; "
                             "drop onnx from --format")
    started = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else _default_out(Path(source).stem)
    _refuse_inputs_inside(out, [source] + ([resolve_model_path(os.fspath(float_ref))] if float_ref else []))
    # _staged_out checks --out before the slow work.
    with _staged_out(out) as staging, tempfile.TemporaryDirectory(prefix="bnn-deploy-export-") as workdir:
        say(f"loading {source}")
        src = load_source(source, workdir, k=k, trust_pickle=trust_pickle)
        ref = None
        if float_ref is not None:
            say(f"loading the float reference {float_ref}")
            refdir = os.path.join(workdir, "ref")  # its ONNX may share the model's file name
            os.makedirs(refdir)
            ref = load_source(float_ref, refdir, trust_pickle=trust_pickle)
        ex = _Exporter(src, staging, workdir, target, min_parity_db, say, parity_photos, num_threads)
        for size in sizes:
            if {"lce", "tflite-float"} & set(formats):
                ex.binary(formats, size)
            if ref is not None and {"tflite-float", "tflite-int8"} & set(formats):
                ex.float_ref(ref, formats, size)
        if "onnx" in formats:
            ex.onnx(sizes[0])
        manifest = _manifest(src, ex, formats, sizes, target, min_parity_db, out, started)
        (staging / MANIFEST).write_text(json.dumps(jsonable(manifest), indent=2, allow_nan=False) + "\n")
    return manifest


def _manifest(src: Source, ex: _Exporter, formats, sizes, target, min_db, out: Path, started: float) -> dict:
    return {
        "format": MANIFEST_FORMAT, "version": 1,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "out_dir": str(out),
        "source": {"path": src.path, "kind": src.kind, "sha256": src.sha256, **_jsonable(src.info),
                   "scale": ex.scale,
                   "binary_layers": None if src.expected_binary is None else len(src.expected_binary)},
        "target": target, "lce_converter_target": lce_converter_target(target),
        "formats": formats, "input_sizes": [[w, h] for w, h in sizes],
        "min_parity_db": float(min_db),
        "parity_photos": "holdout photos bundled with scikit-image, centre-cropped to each input size",
        "versions": versions(),
        "artifacts": ex.artifacts,
        "notes": ex.notes,
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


def render_export(manifest: dict) -> str:
    """Text summary: per artifact size, bitpacked n/N, op histogram and parity."""
    src = manifest["source"]
    lines = [f"exported {src['path']} ({src.get('arch') or src['kind']}, ×{src.get('scale')}) for "
             f"{manifest['target']} → {manifest['out_dir']}  ({manifest['wall_seconds']:.1f} s)"]
    for art in manifest["artifacts"]:
        lines.append(f"  {art['file']}  {_kb(art.get('size_bytes'))}  [{art['format']}"
                     f"{' float-ref' if art.get('role') == 'float-ref' else ''}]")
        if "binary_convs" in art:
            convs = art["binary_convs"]
            lines.append(f"    binary convs bitpacked: {convs['bitpacked']}/{convs['total']}")
        if "op_histogram" in art:
            lines.append("    ops: " + ", ".join(f"{k} {v}" for k, v in art["op_histogram"].items()))
        par = art.get("parity") or {}
        if "min_parity_psnr_db" in par:
            hr = ""
            if par.get("psnr_vs_hr_db") is not None:
                hr = (f"; PSNR vs HR: reference {par['reference_psnr_vs_hr_db']:.2f} dB, "
                      f"this {par['psnr_vs_hr_db']:.2f} dB")
            lines.append(f"    parity vs reference: {par['min_parity_psnr_db']} dB (max |error| "
                         f"{par['max_abs_error']:.2g}){hr}")
        elif "min_psnr_db" in par:
            lines.append(f"    parity vs PyTorch (ONNX Runtime): {par['min_psnr_db']} dB")
        if "size" in art:
            s = art["size"]
            extra = (f", {s['ratio_vs_tflite_float']}× smaller than the float TFLite"
                     if "ratio_vs_tflite_float" in s else "")
            lines.append(f"    size: {_kb(s['bytes'])} vs ~{_kb(s['float_equivalent_bytes'])} float "
                         f"({s['ratio_vs_float']}×){extra}; binary filters {s['binary_filter_ratio']}× smaller")
    for note in manifest.get("notes", []):
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def _kb(n) -> str:
    if n is None:
        return "?"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB"
