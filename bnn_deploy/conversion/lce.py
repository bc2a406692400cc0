"""Larq Compute Engine conversion, the bitpacking check, TFLite baselines and parity runs.

Every flatbuffer comes from the same SavedModel of :func:`bnn_deploy.conversion.onnx_to_tf.rebuild_tf`:

* ``lce`` — ``larq_compute_engine.convert_saved_model(target="arm")``: signs become
  ``LceQuantize``, binary convs ``LceBconv2d``. One flatbuffer serves every ARM board
  (:data:`bnn_deploy.core.targets.TARGETS`); LCE's ``"xcore"`` target is a different chip family.
* ``tflite-float`` — the stock ``tf.lite.TFLiteConverter`` on the same graph: the identical ±α
  network run by float kernels (the sign stays a float ``SELECT``), so comparing it with ``lce``
  isolates what the binary kernels buy. It must hold no LCE op (checked).
* ``tflite-int8`` — stock converter, post-training full-integer quantization of a *float*
  reference model, calibrated on bundled training photos.

Flatbuffers run in LCE's Python interpreter (a full TFLite runtime with the LCE ops registered),
with the indirect BGEMM kernel (about 3× faster than the default on x86, same results) and XNNPACK
for the float ops.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.flatbuffer import bitpacked_report, lce_op_count, read_flatbuffer
from bnn_deploy.core.errors import first_line
from bnn_deploy.core.targets import lce_converter_target

def convert_lce(saved_model_dir: str, target: str = "arm64") -> bytes:
    """SavedModel → LCE flatbuffer for ``target`` (bytes)."""
    import larq_compute_engine as lce

    from bnn_deploy.core.tf import tensorflow

    tensorflow()
    try:
        return bytes(lce.convert_saved_model(saved_model_dir, target=lce_converter_target(target)))
    except BnnDeployError:
        raise
    except Exception as exc:  # the MLIR converter raises RuntimeError/ConverterError with long logs
        raise BnnDeployError(f"LCE conversion failed: {first_line(exc)}; rerun with --debug and report it") from exc


def convert_tflite_float(saved_model_dir: str) -> bytes:
    """SavedModel → plain float TFLite flatbuffer (stock converter: no LCE op can appear)."""
    from bnn_deploy.core.tf import tensorflow

    tf = tensorflow()
    try:
        data = bytes(tf.lite.TFLiteConverter.from_saved_model(saved_model_dir).convert())
    except Exception as exc:
        raise BnnDeployError(f"TFLite float conversion failed: {first_line(exc)}; rerun with --debug") from exc
    if lce_op_count(read_flatbuffer(data)):
        raise RuntimeError("stock TFLite converter produced LCE ops")  # a bug, not a user error
    return data


def convert_tflite_int8(saved_model_dir: str, calibration: list[np.ndarray]) -> bytes:
    """SavedModel → full-integer TFLite (int8 weights and activations, float32 input/output).

    ``calibration``: NHWC float32 ``[1, H, W, C]`` images at the model's input size; the converter
    runs them to choose each activation's int8 range.
    """
    from bnn_deploy.core.tf import tensorflow

    tf = tensorflow()
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([img] for img in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    try:
        return bytes(converter.convert())
    except Exception as exc:
        raise BnnDeployError(f"TFLite int8 conversion failed: {first_line(exc)}; rerun with --debug") from exc


def check_binary_coverage(rebuilt, expected: list[str] | None, where: str) -> None:
    """Fail unless every binary conv of the source matched the pattern in the rebuilt graph.

    ``expected``: the source's binary layers (PyTorch module names) or None for ONNX files, where
    every conv that reads a sign must be binary. Runs before conversion so a broken pattern is named
    by its ONNX reason ("weights not ±alpha ...") rather than found later as a float conv.
    """
    broken = [f"{name} ({reason})" for name, reason in rebuilt.sign_fed_float.items()]
    if broken:
        raise BnnDeployError(f"{where}: {len(broken)} conv(s) read a sign but are not binary, so LCE "
                             f"would run them in float: {'; '.join(broken[:4])}; fix the export of "
                             "those layers (±alpha weights, zero padding k//2, stride 1)")
    if expected is not None and len(expected) != len(rebuilt.binary_layers):
        raise BnnDeployError(f"{where}: the model has {len(expected)} binary convs but "
                             f"{len(rebuilt.binary_layers)} match the binary pattern in its ONNX graph; "
                             "re-export the model (bnn-deploy's exporter writes the canonical pattern)")


def check_bitpacked(fb_bytes: bytes, rebuilt, where: str) -> dict:
    """Read the LCE flatbuffer; fail naming every binary conv that is not an ``LceBconv2d``.

    Returns ``{bitpacked, total, missing, fallback, weight_bytes, float_weight_bytes, histogram}``.
    """
    fb = read_flatbuffer(fb_bytes)
    report = bitpacked_report(fb, rebuilt.binary_layers)
    report["histogram"] = fb.histogram()
    lost = list(dict.fromkeys(report["fallback"] + report["missing"]))
    if lost or report["bitpacked"] != report["total"]:
        named = "; ".join(lost[:6]) or "unnamed layers"
        raise BnnDeployError(
            f"{where}: only {report['bitpacked']}/{report['total']} binary convs became bitpacked "
            f"LceBconv2d; fell back to float: {named}; check what sits between their sign and conv "
            "(see the op histogram with --debug) — nothing was written")
    return report


def run_tflite(fb_bytes: bytes, nhwc_images: list[np.ndarray],
               num_threads: int | None = None) -> tuple[list[np.ndarray], float]:
    """Run a flatbuffer on NHWC ``[1, H, W, C]`` images: ``(outputs, seconds per image)``."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    threads = num_threads or os.cpu_count() or 1
    # XNNPACK runs the float ops by indirect convolution; TFLite's default float conv builds an
    # im2col buffer (2 GB for a 64-channel 3x3 conv at 1280x720) and is several times slower.
    # LCE ops stay on LCE's kernels either way.
    interpreter = Interpreter(fb_bytes, num_threads=threads, use_indirect_bgemm=True, use_xnnpack=True)
    outputs, start = [], time.perf_counter()
    for img in nhwc_images:
        outputs.append(np.asarray(interpreter.predict(np.ascontiguousarray(img, dtype=np.float32))))
    seconds = (time.perf_counter() - start) / max(len(nhwc_images), 1)
    return outputs, seconds


def nchw_to_nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32).transpose(0, 2, 3, 1))


def nhwc_to_nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))


def parity_figures(reference: list[np.ndarray], outputs: list[np.ndarray], names: list[str],
                   hr_images: list[np.ndarray | None], scale: int) -> dict:
    """Compare a runtime's NCHW outputs with the reference's, and both with ground truth.

    Per image: parity PSNR (dB, raw floats, peak 1) and max |Δ|; and where an HR crop exists,
    BasicSR-style Y-channel PSNR of reference and runtime vs HR. Summary: the *minimum* parity
    PSNR, the max error, and mean PSNRs vs HR.
    """
    from bnn_deploy.core.metrics import max_abs_error, parity_psnr, sr_metrics

    rows = []
    for name, ref, got, hr in zip(names, reference, outputs, hr_images):
        row = {"name": name, "parity_psnr_db": parity_psnr(got, ref), "max_abs_error": max_abs_error(got, ref)}
        if hr is not None:
            row["reference_psnr_vs_hr_db"] = sr_metrics(ref[0].transpose(1, 2, 0), hr, scale)["psnr"]
            row["psnr_vs_hr_db"] = sr_metrics(got[0].transpose(1, 2, 0), hr, scale)["psnr"]
        rows.append(row)
    with_hr = [r for r in rows if "psnr_vs_hr_db" in r]
    return {
        "min_parity_psnr_db": min(r["parity_psnr_db"] for r in rows),
        "max_abs_error": max(r["max_abs_error"] for r in rows),
        "reference_psnr_vs_hr_db": float(np.mean([r["reference_psnr_vs_hr_db"] for r in with_hr])) if with_hr else None,
        "psnr_vs_hr_db": float(np.mean([r["psnr_vs_hr_db"] for r in with_hr])) if with_hr else None,
        "images": rows,
    }


def check_parity(figures: dict, min_db: float, what: str) -> None:
    """Fail when the worst image's parity PSNR is below ``min_db`` (NaN fails too)."""
    worst = figures["min_parity_psnr_db"]
    if not worst >= min_db:
        row = min(figures["images"],
                  key=lambda r: -math.inf if math.isnan(r["parity_psnr_db"]) else r["parity_psnr_db"])
        raise BnnDeployError(
            f"{what} differs from the reference: parity {worst:.1f} dB on {row['name']} (max |error| "
            f"{row['max_abs_error']:.3g}) is below --min-parity-db {min_db:g}; nothing was written — "
            "report this model, or lower --min-parity-db only if you accept the difference")
