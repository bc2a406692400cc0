"""The one table of artifact formats: what each file is, which host runtime runs it, where it sorts.

Adding a format means adding one :class:`Format` row here, one converter stage in
:mod:`bnn_deploy.conversion.pipeline` and, if a new engine runs it, one opener in
:mod:`bnn_deploy.runtimes`. Everything else (``--format`` choices, the manifest check, the bench's
row order, what a board can run) reads this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """One kind of artifact file."""

    name: str  # the --format / manifest name
    runtime: str  # the host runtime that runs it: lce | tflite | onnxruntime | pytorch
    suffix: str  # file name ending written by export
    fixed_shape: bool  # a flatbuffer takes one input size; ONNX and PyTorch take any
    exported: bool  # an ``export --format`` choice (pytorch is the source, never exported)
    on_board: bool  # a board can run it (lce_benchmark_model or the board Python runner)
    what: str  # one sentence for the manifest
    int8: bool = False  # holds int8 ops (kernels may round them differently: runtimes.lce.kernel_tolerance)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "lce",
            "lce",
            ".lce.tflite",
            True,
            True,
            True,
            "the binary network for Larq Compute Engine: signs are LceQuantize, binary convs bitpacked "
            "LceBconv2d, the other layers float TFLite ops; needs an LCE-enabled TFLite runtime",
        ),
        Format(
            "lce-int8",
            "lce",
            ".lce-int8.tflite",
            True,
            True,
            True,
            "the lce flatbuffer with the float convs of head and tail (and the pixel shuffles and activations "
            "between them) in int8, activation ranges calibrated on bundled training photos; binary units as "
            "in lce; float32 input/output. Its parity vs the reference is quantization error (not gated)",
            int8=True,
        ),
        Format(
            "tflite-float",
            "tflite",
            ".float.tflite",
            True,
            True,
            True,
            "the same binary network (same ±alpha weights, sign as a float select) run by stock float "
            "TFLite kernels; no LCE ops — the baseline that isolates what bitpacking buys",
        ),
        Format(
            "tflite-int8",
            "tflite",
            ".int8.tflite",
            True,
            True,
            True,
            "the float reference model (--float-ref) post-training quantized to int8 weights and "
            "activations (float32 input/output), calibrated on bundled training photos",
            int8=True,
        ),
        Format(
            "onnx",
            "onnxruntime",
            ".onnx",
            False,
            True,
            True,
            "ONNX (dynamic N/H/W) in bnn-deploy's binary-conv pattern; parity checked on ONNX Runtime",
        ),
        Format("pytorch", "pytorch", ".pt", False, False, False, "PyTorch eager, float32 (the reference)"),
    )
}
EXPORT_FORMATS: tuple[str, ...] = tuple(name for name, f in FORMATS.items() if f.exported)
# The TFLite flatbuffers (LCE's or stock): what lce_benchmark_model runs and profiles, what the
# host profile cuts into single ops, what the latency model reads.
FLATBUFFER_FORMATS: tuple[str, ...] = tuple(name for name, f in FORMATS.items() if f.suffix.endswith(".tflite"))
FLOAT_REF_WHAT = "the float reference model (--float-ref) as stock float32 TFLite"
ROLES = ("binary", "float-ref")

# Report order: the binary model, its float-kernel twin, the float reference's deployments, then sources.
_ORDER = (
    ("lce", "binary"),
    ("lce-int8", "binary"),
    ("tflite-float", "binary"),
    ("onnx", "binary"),
    ("pytorch", "binary"),
    ("tflite-float", "float-ref"),
    ("tflite-int8", "float-ref"),
    ("pytorch", "float-ref"),
)


def runtime_of(fmt: str) -> str:
    """The host runtime that runs format ``fmt``."""
    return FORMATS[fmt].runtime


def print_order(fmt: str, role: str) -> int:
    """Where an artifact's row goes in a report (unknown pairs last)."""
    try:
        return _ORDER.index((fmt, role))
    except ValueError:
        return len(_ORDER)
