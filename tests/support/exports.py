"""A tiny real export shared by the runtime, tiling, eval and bench tests, and the report keys they check."""

from __future__ import annotations

from pathlib import Path

EXPORT_HW = (32, 48)  # (height, width) of the tiny export's fixed-shape graphs


def tiny_export(tmp_path_factory) -> Path:
    """An export dir (all formats, 48x32) of a tiny random BBCU-M with a tiny MSRResNet float reference.

    Built once per test session (several test modules share it through the session's base temp).
    """
    from bnn_deploy.conversion.export import export_model
    from bnn_deploy.models.checkpoint import save_checkpoint
    from support.models import tiny_model

    root = tmp_path_factory.getbasetemp() / "tiny-export"
    out = root / "export"
    if (out / "manifest.json").is_file():
        return out
    root.mkdir(exist_ok=True)
    save_checkpoint(root / "tiny_bbcu.pt", tiny_model("bbcu_m", num_feat=16, num_block=2, k=65.0))
    save_checkpoint(root / "tiny_float.pt", tiny_model("msrresnet", num_feat=8, num_block=1))
    export_model(
        root / "tiny_bbcu.pt",
        formats=("lce", "tflite-float", "tflite-int8", "onnx"),
        input_sizes=((EXPORT_HW[1], EXPORT_HW[0]),),
        out_dir=out,
        float_ref=root / "tiny_float.pt",
        parity_photos=1,
        num_threads=1,
    )
    return out


LATENCY_KEYS = ("min", "median", "mean", "p90", "p99", "max", "std", "runs")


MEMORY_KEYS = (
    "method",
    "rss_after_import_mb",
    "rss_after_load_mb",
    "peak_rss_after_load_mb",
    "rss_after_runs_mb",
    "peak_rss_mb",
    "peak_over_import_mb",
)
