"""The conversion pipeline as one visible list of stages, each with the check it guarantees.

An export runs, per source model and input size, :data:`PREPARE` once (rebuild the ONNX graph in
TensorFlow, save it, run the reference on the parity photos), then for each requested format the
stages of :data:`STAGES` in order. A stage reads and fills one :class:`Job`; when it returns, what
its ``ensures`` says holds — otherwise it raised a one-line :class:`BnnDeployError` and nothing was
written. Adding a format is one row of :mod:`bnn_deploy.core.formats` and one list here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bnn_deploy.conversion.sources import Source, rebuild
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.images import nchw_to_nhwc, nhwc_to_nchw
from bnn_deploy.core.manifest import BinaryConvs
from bnn_deploy.core.parity import Parity, compare
from bnn_deploy.core.photos import CALIBRATION_PHOTOS, calibration_images, parity_images
from bnn_deploy.core.progress import bar, step

PARITY_KERNEL = "indirect_bgemm+xnnpack"  # identical output to LCE's default kernel (checked by bench), fastest


@dataclass
class Settings:
    """What every stage of one export needs to know."""

    target: str
    min_parity_db: float
    workdir: str
    say: Callable[[str], None]
    parity_photos: int
    threads: int | None = None
    fold: bool = True  # fold the float glue of the exported model (export --fold/--no-fold)


@dataclass
class Prepared:
    """One source rebuilt at one size: its TF graph, SavedModel, and the reference on the parity photos."""

    source: Source
    size: tuple[int, int]  # (width, height)
    rebuilt: object = None
    saved_model: str = ""
    names: list[str] = field(default_factory=list)
    hrs: list[np.ndarray | None] = field(default_factory=list)
    inputs: list[np.ndarray] = field(default_factory=list)  # NCHW
    reference: list[np.ndarray] = field(default_factory=list)  # NCHW

    @property
    def tag(self) -> str:
        return f"[{self.size[0]}x{self.size[1]}]"


@dataclass
class Job:
    """One artifact in the making: what it is made from, and what each stage adds."""

    fmt: str
    role: str  # "binary" or "float-ref"
    prep: Prepared
    settings: Settings
    data: bytes | None = None
    flatbuffer: object = None  # the parsed flatbuffer (bnn_deploy.core.flatbuffer.Flatbuffer)
    parity: Parity | None = None
    seconds_per_image: float | None = None
    extra: dict = field(default_factory=dict)  # format-specific manifest fields
    # A format that rebuilds the graph its own way (lce-int8: with fake-quant nodes) keeps it here;
    # stages read ``graph``/``saved`` (this job's, else the prepared one).
    rebuilt: object = None
    saved_model: str = ""
    fake_quant: dict = field(default_factory=dict)  # tensor -> (min, max) int8 range (lce-int8)

    @property
    def graph(self):
        return self.rebuilt if self.rebuilt is not None else self.prep.rebuilt

    @property
    def saved(self) -> str:
        return self.saved_model or self.prep.saved_model


@dataclass(frozen=True)
class Stage:
    """One step: its name, what it does, and what holds once it returned."""

    name: str
    run: Callable[[Job], None]
    ensures: str


# ---------------------------------------------------------------- preparation (per source and size)


def prepare(source: Source, size: tuple[int, int], tag: str, settings: Settings, *, fold: bool = False) -> Prepared:
    """Fold the float glue (with ``fold``), rebuild ``source`` at ``size``, check its binary convs
    matched, save it, run the reference."""
    from bnn_deploy.conversion.lce import check_binary_coverage
    from bnn_deploy.conversion.onnx_to_tf import save_saved_model

    w, h = size
    prep = Prepared(source=source, size=size)
    folding = ", folding the float glue" if fold else ""
    with step(f"{prep.tag} rebuilding {source.name} in TensorFlow{folding}", settings.say):
        prep.rebuilt = rebuild(source, (h, w), fold=fold)
    if prep.rebuilt.fold is not None:
        settings.say(f"    {prep.rebuilt.fold.text()}")
    check_binary_coverage(prep.rebuilt, source.expected_binary, source.path)
    prep.saved_model = save_saved_model(prep.rebuilt, os.path.join(settings.workdir, f"{tag}_{w}x{h}"))
    images = parity_images((h, w), prep.rebuilt.scale, settings.parity_photos)
    prep.names = [n for n, _, _ in images]
    prep.hrs = [hr for _, _, hr in images]
    prep.inputs = [lr for _, lr, _ in images]
    label = source.reference_label.split(" (")[0]
    with step(f"{prep.tag} running the reference ({label}) on {len(images)} photo(s)", settings.say):
        prep.reference = source.reference(prep.inputs)
    return prep


TILE_OVERLAP = (
    "the smallest tile overlap keeping tiled outputs >= 50 dB from the whole image on the held-out photos, "
    "searched below twice the receptive-field radius (conversion/overlap.py; manifest tile_overlap)"
)
PREPARE = (
    (
        "fold glue",
        "the float glue around every binary conv folded exactly on the ONNX graph before it is lowered "
        "(scales into conv weights, constants into conv biases and a shifted residual stream, never across a "
        "zero-padding float conv); float ops per binary unit counted before and after; units no rule fits are "
        "left as they were, with a note (the exported model only; skipped with --no-fold)",
    ),
    ("rebuild", "every binary conv of the source matched the binary-conv pattern in the rebuilt TF graph"),
    ("reference", "the reference's outputs on the parity photos, to compare every artifact with"),
)


# ---------------------------------------------------------------- stages


def convert_lce(job: Job) -> None:
    from bnn_deploy.conversion import lce

    what = "" if job.fmt == "lce" else job.fmt + " "
    with step(f"{job.prep.tag} converting {what}with LCE (target {job.settings.target})", job.settings.say):
        job.data = lce.convert_lce(job.saved, job.settings.target)


def calibrate_int8(job: Job) -> None:
    from bnn_deploy.conversion.int8 import int8_ranges

    prep, (w, h) = job.prep, job.prep.size
    job.settings.say(f"{prep.tag} calibrating int8 ranges of the float head/tail convs on training photos")
    job.fake_quant, job.extra["int8"] = int8_ranges(
        prep.source.onnx_model, (h, w), prep.rebuilt.scale, fold=prep.rebuilt.fold is not None, where=prep.source.path
    )


def rebuild_int8(job: Job) -> None:
    from bnn_deploy.conversion.onnx_to_tf import save_saved_model

    prep, (w, h), facts = job.prep, job.prep.size, job.extra["int8"]
    job.settings.say(
        f"{prep.tag} rebuilding with int8 head/tail ({facts.int8_tensors} tensors, calibrated at "
        f"{facts.calibration_lr_size[0]}x{facts.calibration_lr_size[1]} on {len(facts.calibration_photos)} photos)"
    )
    job.rebuilt = rebuild(prep.source, (h, w), fold=prep.rebuilt.fold is not None, fake_quant=job.fake_quant)
    job.saved_model = save_saved_model(job.rebuilt, f"{prep.saved_model}_int8")


def convert_float(job: Job) -> None:
    from bnn_deploy.conversion import lce

    who = "the float reference" if job.role == "float-ref" else "with the stock TFLite converter (float kernels)"
    with step(f"{job.prep.tag} converting {who}", job.settings.say):
        job.data = lce.convert_tflite_float(job.prep.saved_model)


def convert_int8(job: Job) -> None:
    from bnn_deploy.conversion import lce

    w, h = job.prep.size
    with step(
        f"{job.prep.tag} quantizing the float reference to int8 (calibrating on {CALIBRATION_PHOTOS} photos)",
        job.settings.say,
    ):
        job.data = lce.convert_tflite_int8(job.prep.saved_model, calibration_images((h, w), job.prep.rebuilt.scale))


def read_back(job: Job) -> None:
    """Parse the flatbuffer once; later stages and the manifest read this parse."""
    from bnn_deploy.core.flatbuffer import read_flatbuffer

    job.flatbuffer = read_flatbuffer(job.data)
    job.extra["op_histogram"] = job.flatbuffer.histogram()


def check_stock(job: Job) -> None:
    from bnn_deploy.conversion.lce import check_no_lce_ops

    check_no_lce_ops(job.flatbuffer)


def check_bitpacked(job: Job) -> None:
    from bnn_deploy.conversion import lce

    rebuilt, say = job.graph, job.settings.say
    report = lce.check_bitpacked(job.flatbuffer, rebuilt, job.prep.source.path)
    say(f"{job.prep.tag} binary convs bitpacked: {report['bitpacked']}/{report['total']}")
    say("    ops: " + ", ".join(f"{k} {v}" for k, v in job.extra["op_histogram"].items()))
    job.extra.update(
        target=job.settings.target,
        binary_convs=BinaryConvs(
            bitpacked=report["bitpacked"], total=report["total"], layers=sorted(rebuilt.binary_layers.values())
        ),
        pixel_shuffles=[
            {"node": p.node, "factor": p.factor, "how": p.how, "conv": p.conv, "reason": p.reason or None}
            for p in rebuilt.shuffles
        ],
        size=_size_summary(len(job.data), report),
    )


def count_glue(job: Job) -> None:
    """Float glue per binary unit of the flatbuffer, and what the fold did (manifest ``float_glue``, ``fold``)."""
    from bnn_deploy.core.glue import glue_profile, glue_text

    glue = glue_profile(job.flatbuffer)
    job.settings.say(f"    float glue per binary unit: {glue_text(glue)}")
    job.extra["float_glue"] = glue
    job.extra["fold"] = job.graph.fold.summary() if job.graph.fold is not None else None


def _parity(job: Job, gated: bool) -> None:
    from bnn_deploy.runtimes.lce import open_lce_data

    prep = job.prep
    runner = open_lce_data(
        job.data,
        label=f"the new {job.fmt} flatbuffer",
        threads=job.settings.threads or os.cpu_count() or 1,
        kernel=PARITY_KERNEL,
    )
    start = time.perf_counter()
    outputs = []
    with bar(f"{prep.tag} parity of the {job.fmt} flatbuffer", total=len(prep.inputs), unit="photo") as shown:
        for x in prep.inputs:
            outputs.append(nhwc_to_nchw(runner.predict(nchw_to_nhwc(x))))
            shown.update()
    job.seconds_per_image = (time.perf_counter() - start) / max(len(outputs), 1)
    label = prep.source.reference_label + (" (the float model)" if job.role == "float-ref" and not gated else "")
    job.parity = compare(
        outputs,
        prep.reference,
        reference=label,
        names=prep.names,
        hrs=prep.hrs,
        scale=prep.rebuilt.scale,
        threshold_db=job.settings.min_parity_db if gated else None,
    )
    what = {
        "lce": "LCE flatbuffer",
        "lce-int8": "lce-int8 vs reference",
        "tflite-float": "tflite-float",
        "tflite-int8": "int8 vs float",
    }[job.fmt]
    if job.role == "float-ref" and job.fmt == "tflite-float":
        what = "float reference TFLite"
    job.settings.say(
        f"    {what}: parity {job.parity.psnr_db:.1f} dB, max |error| {job.parity.max_abs_error:.2g}"
        + ("" if gated else " (quantization error, not gated)")
    )
    job.parity.check(what)


def gated_parity(job: Job) -> None:
    _parity(job, gated=True)


def quantization_error(job: Job) -> None:
    _parity(job, gated=False)


def _size_summary(size: int, report: dict) -> dict:
    """Model size vs float: binary filters bitpacked vs float32, and the whole file vs its float twin.

    ``float_equivalent_bytes`` = this file with each bitpacked filter replaced by its float32 size
    (an estimate of the float network's file).
    """
    float_equiv = size - report["weight_bytes"] + report["float_weight_bytes"]
    return {
        "bytes": size,
        "binary_filter_bytes": report["weight_bytes"],
        "binary_filter_float_bytes": report["float_weight_bytes"],
        "binary_filter_ratio": (
            round(report["float_weight_bytes"] / report["weight_bytes"], 2) if report["weight_bytes"] else None
        ),
        "float_equivalent_bytes": float_equiv,
        "ratio_vs_float": round(float_equiv / size, 2),
    }


STAGES: dict[str, tuple[Stage, ...]] = {
    "lce": (
        Stage("convert", convert_lce, "an LCE flatbuffer for the ARM target"),
        Stage("read back", read_back, "the flatbuffer parses; its op histogram is known"),
        Stage("bitpacking", check_bitpacked, "every binary conv is a bitpacked LceBconv2d; no sign feeds a float conv"),
        Stage("float glue", count_glue, "float elementwise ops per binary unit counted (manifest float_glue, fold)"),
        Stage("parity", gated_parity, "output within --min-parity-db of the reference on the parity photos"),
    ),
    "lce-int8": (
        Stage(
            "calibrate",
            calibrate_int8,
            "int8 ranges (min/max) of the float head/tail convs' tensors over bundled training photos "
            "downscaled by the model's scale; a model without such convs is refused",
        ),
        Stage(
            "rebuild int8", rebuild_int8, "the lce graph (folded alike) with an 8-bit fake-quant node on those tensors"
        ),
        Stage("convert", convert_lce, "an LCE flatbuffer for the ARM target, those convs int8, float32 input/output"),
        Stage("read back", read_back, "the flatbuffer parses; its op histogram is known"),
        Stage("bitpacking", check_bitpacked, "every binary conv is a bitpacked LceBconv2d; no sign feeds a float conv"),
        Stage("float glue", count_glue, "float elementwise ops per binary unit counted (manifest float_glue, fold)"),
        Stage("quantization error", quantization_error, "its PSNR vs the reference is measured (not gated)"),
    ),
    "tflite-float": (
        Stage("convert", convert_float, "a stock float TFLite flatbuffer of the same graph"),
        Stage("read back", read_back, "the flatbuffer parses; its op histogram is known"),
        Stage("stock ops", check_stock, "no LCE op: it runs on any TFLite runtime"),
        Stage("parity", gated_parity, "output within --min-parity-db of the reference on the parity photos"),
    ),
    "tflite-int8": (
        Stage("convert", convert_int8, "full-integer TFLite with float32 input/output, calibrated on training photos"),
        Stage("read back", read_back, "the flatbuffer parses; its op histogram is known"),
        Stage("stock ops", check_stock, "no LCE op: it runs on any TFLite runtime"),
        Stage("quantization error", quantization_error, "its PSNR vs the float model is measured (not gated)"),
    ),
}


def run_stages(job: Job) -> Job:
    """Run the stages of ``job.fmt`` in order (see :data:`STAGES`)."""
    if job.fmt not in STAGES:
        raise BnnDeployError(f"no conversion stages for format {job.fmt!r}")
    for stage in STAGES[job.fmt]:
        stage.run(job)
    return job


def describe() -> str:
    """The pipeline as text: the preparation steps, then each format's stages with what they ensure."""
    lines = ["per source:", f"  tile overlap: {TILE_OVERLAP}"]
    lines += ["per source and input size:"] + [f"  {name}: {ensures}" for name, ensures in PREPARE]
    for fmt, stages in STAGES.items():
        lines.append(f"{fmt}:")
        lines += [f"  {s.name}: {s.ensures}" for s in stages]
    lines.append("onnx: the traced ONNX file (dynamic size), checked on ONNX Runtime against PyTorch")
    return "\n".join(lines)
