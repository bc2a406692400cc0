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


@dataclass(frozen=True)
class Stage:
    """One step: its name, what it does, and what holds once it returned."""

    name: str
    run: Callable[[Job], None]
    ensures: str


# ---------------------------------------------------------------- preparation (per source and size)


def prepare(source: Source, size: tuple[int, int], tag: str, settings: Settings) -> Prepared:
    """Rebuild ``source`` at ``size``, check its binary convs matched, save it, run the reference."""
    from bnn_deploy.conversion.lce import check_binary_coverage
    from bnn_deploy.conversion.onnx_to_tf import save_saved_model

    w, h = size
    prep = Prepared(source=source, size=size)
    settings.say(f"{prep.tag} rebuilding {source.name} in TensorFlow")
    prep.rebuilt = rebuild(source, (h, w))
    check_binary_coverage(prep.rebuilt, source.expected_binary, source.path)
    prep.saved_model = save_saved_model(prep.rebuilt, os.path.join(settings.workdir, f"{tag}_{w}x{h}"))
    images = parity_images((h, w), prep.rebuilt.scale, settings.parity_photos)
    settings.say(
        f"{prep.tag} running the reference ({source.reference_label.split(' (')[0]}) on {len(images)} photo(s)"
    )
    prep.names = [n for n, _, _ in images]
    prep.hrs = [hr for _, _, hr in images]
    prep.inputs = [lr for _, lr, _ in images]
    prep.reference = source.reference(prep.inputs)
    return prep


TILE_OVERLAP = (
    "the smallest tile overlap keeping tiled outputs >= 50 dB from the whole image on the held-out photos, "
    "searched below twice the receptive-field radius (conversion/overlap.py; manifest tile_overlap)"
)
PREPARE = (
    ("rebuild", "every binary conv of the source matched the binary-conv pattern in the rebuilt TF graph"),
    ("reference", "the reference's outputs on the parity photos, to compare every artifact with"),
)


# ---------------------------------------------------------------- stages


def convert_lce(job: Job) -> None:
    from bnn_deploy.conversion import lce

    job.settings.say(f"{job.prep.tag} converting with LCE (target {job.settings.target})")
    job.data = lce.convert_lce(job.prep.saved_model, job.settings.target)


def convert_float(job: Job) -> None:
    from bnn_deploy.conversion import lce

    who = "the float reference" if job.role == "float-ref" else "with the stock TFLite converter (float kernels)"
    job.settings.say(f"{job.prep.tag} converting {who}")
    job.data = lce.convert_tflite_float(job.prep.saved_model)


def convert_int8(job: Job) -> None:
    from bnn_deploy.conversion import lce

    w, h = job.prep.size
    job.settings.say(
        f"{job.prep.tag} quantizing the float reference to int8 (calibrating on {CALIBRATION_PHOTOS} photos)"
    )
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

    rebuilt, say = job.prep.rebuilt, job.settings.say
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
    outputs = [nhwc_to_nchw(runner.predict(nchw_to_nhwc(x))) for x in prep.inputs]
    job.seconds_per_image = (time.perf_counter() - start) / max(len(outputs), 1)
    label = prep.source.reference_label + (" (the float model)" if not gated else "")
    job.parity = compare(
        outputs,
        prep.reference,
        reference=label,
        names=prep.names,
        hrs=prep.hrs,
        scale=prep.rebuilt.scale,
        threshold_db=job.settings.min_parity_db if gated else None,
    )
    what = {"lce": "LCE flatbuffer", "tflite-float": "tflite-float", "tflite-int8": "int8 vs float"}[job.fmt]
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
        Stage("parity", gated_parity, "output within --min-parity-db of the reference on the parity photos"),
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
