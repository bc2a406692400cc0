"""Every per-format choice reads the one formats table (core/formats.py): a format added there, such as
lce-int8, is offered wherever its kind of file is (upscale, profile, predict)."""

from __future__ import annotations

import pytest

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.exports import Artifact, ExportDir
from bnn_deploy.core.formats import FLATBUFFER_FORMATS, FORMATS


def export_of(*formats: str) -> ExportDir:
    """An export (no files: nothing here reads them) holding one artifact of each format."""
    arts = [
        Artifact(
            name=fmt,
            file=f"/e/model{FORMATS[fmt].suffix}",
            format=fmt,
            role="binary",
            model="m",
            size_bytes=1,
            sha256="0",
            input_hw=(32, 48) if FORMATS[fmt].fixed_shape else None,
            scale=2,
        )
        for fmt in formats
    ]
    return ExportDir(path="/e", manifest=None, artifacts=arts, scale=2)


def test_flatbuffer_formats_are_the_tflite_files():
    assert FLATBUFFER_FORMATS == ("lce", "lce-int8", "tflite-float", "tflite-int8")


def test_upscale_offers_every_format_and_runs_an_exported_lce_int8_by_default():
    from bnn_deploy.evaluation.upscale import ARTIFACT_CHOICES, _export_candidates

    assert set(ARTIFACT_CHOICES) == set(FORMATS)
    only_int8 = export_of("lce-int8", "pytorch")
    assert [a.format for a in _export_candidates(only_int8, "/e", None)] == ["lce-int8"]  # not the checkpoint
    assert [a.format for a in _export_candidates(only_int8, "/e", "lce-int8")] == ["lce-int8"]
    assert [a.format for a in _export_candidates(export_of("lce", "lce-int8"), "/e", None)] == ["lce"]


def test_upscale_cli_accepts_lce_int8(tmp_path):
    from support.cli import run_cli

    out = tmp_path / "o.png"
    proc = run_cli("upscale", tmp_path / "nope", tmp_path / "in.png", "-o", out, "--artifact", "lce-int8")
    assert "Invalid value for '--artifact'" not in proc.stderr and proc.returncode == 1, proc.stderr


def test_profile_takes_an_lce_int8_export():
    from bnn_deploy.benchmarking.profile import profiled_artifacts

    assert [a.format for a in profiled_artifacts(export_of("lce-int8", "onnx", "pytorch"))] == ["lce-int8"]
    with pytest.raises(BnnDeployError, match="has no LCE artifact to profile"):
        profiled_artifacts(export_of("tflite-float", "onnx"))


@pytest.mark.parametrize("formats", [("onnx",), ("lce", "keras"), ()])
def test_predict_refuses_what_is_not_a_flatbuffer_in_one_line(formats):
    from bnn_deploy.prediction import predict

    with pytest.raises(BnnDeployError, match="predict reads LCE/TFLite flatbuffers; choose among lce, lce-int8"):
        predict("/nonexistent/export", devices=["pi4"], formats=formats)
