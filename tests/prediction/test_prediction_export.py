"""Predicting a real bnn-deploy export: the bundled BBCU-M model exported to LCE at 64x48.

The export runs through the CLI (as a user would, and independent of the exporter's module layout);
the prediction reads it through manifest.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bnn_deploy.prediction import predict, render_prediction


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("predict") / "export"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bnn_deploy.cli",
            "export",
            "bbcu_m_x2_small",
            "--format",
            "lce",
            "--input-size",
            "64x48",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def test_lce_export_predicts_with_every_bconv_binary(export_dir):
    manifest = json.loads((export_dir / "manifest.json").read_text())
    (lce,) = [a for a in manifest["artifacts"] if a["format"] == "lce"]
    result = predict(export_dir, devices=["pi4", "pixel1", "pi5"], threads=[1, 4])
    assert len(result["predictions"]) == 6
    (art,) = result["model"]["artifacts"]
    assert art["file"] == lce["file"]
    assert art["op_histogram"]["LceBconv2d"] == lce["binary_convs"]["bitpacked"] == 10
    for p in result["predictions"]:
        bconvs = [r for r in p["ops"] if r["op"] == "LceBconv2d"]
        assert len(bconvs) == 10 and all(r["binary"] and r["category"] == "binary" for r in bconvs)
        # every binary conv names the PyTorch module it came from (carried through the rebuild's op names)
        assert all(r["module"] and r["module"].endswith("binary_conv") for r in bconvs), [r["module"] for r in bconvs]
        assert all(not r["binary"] for r in p["ops"] if r["op"] != "LceBconv2d")
        assert not p["unknown_ops"] and all(r["ms"] > 0 for r in p["ops"])
        assert 0 < p["binary_share"] < 1 and p["label"] == "predicted"
        assert p["by_type"]["LceBconv2d"]["binary"] is True
    text = render_prediction(result)
    assert "LceBconv2d" in text and "PREDICTED" in text


def test_export_formats_can_be_chosen(export_dir):
    from bnn_deploy.core.errors import BnnDeployError

    with pytest.raises(BnnDeployError, match="lists no tflite-int8 artifact"):
        predict(export_dir, devices=["pi4"], formats=("tflite-int8",))
