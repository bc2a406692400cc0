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

The checks here read the produced flatbuffer back (:mod:`bnn_deploy.core.flatbuffer`), so they see
exactly what a board would load.
"""

from __future__ import annotations

import numpy as np

from bnn_deploy.core.errors import BnnDeployError, first_line
from bnn_deploy.core.flatbuffer import bitpacked_report, lce_op_count
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
        return bytes(tf.lite.TFLiteConverter.from_saved_model(saved_model_dir).convert())
    except Exception as exc:
        raise BnnDeployError(f"TFLite float conversion failed: {first_line(exc)}; rerun with --debug") from exc


def check_no_lce_ops(fb) -> None:
    """A stock-converter flatbuffer must hold no LCE op (it would not run on stock TFLite)."""
    if lce_op_count(fb):
        raise RuntimeError("stock TFLite converter produced LCE ops")  # a bug, not a user error


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
        raise BnnDeployError(
            f"{where}: {len(broken)} conv(s) read a sign but are not binary, so LCE "
            f"would run them in float: {'; '.join(broken[:4])}; fix the export of "
            "those layers (±alpha weights, zero padding k//2, stride 1)"
        )
    if expected is not None and len(expected) != len(rebuilt.binary_layers):
        raise BnnDeployError(
            f"{where}: the model has {len(expected)} binary convs but "
            f"{len(rebuilt.binary_layers)} match the binary pattern in its ONNX graph; "
            "re-export the model (bnn-deploy's exporter writes the canonical pattern)"
        )


def check_bitpacked(fb, rebuilt, where: str) -> dict:
    """Fail naming every binary conv of the parsed LCE flatbuffer ``fb`` that is not an ``LceBconv2d``.

    Returns ``{bitpacked, total, missing, fallback, weight_bytes, float_weight_bytes}``.
    """
    report = bitpacked_report(fb, rebuilt.binary_layers)
    lost = list(dict.fromkeys(report["fallback"] + report["missing"]))
    if lost or report["bitpacked"] != report["total"]:
        named = "; ".join(lost[:6]) or "unnamed layers"
        raise BnnDeployError(
            f"{where}: only {report['bitpacked']}/{report['total']} binary convs became bitpacked "
            f"LceBconv2d; fell back to float: {named}; check what sits between their sign and conv "
            "(see the op histogram with --debug) — nothing was written"
        )
    return report
