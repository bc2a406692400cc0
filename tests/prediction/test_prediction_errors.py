"""Bad input gets one clear line (BnnDeployError) saying what is wrong and what to do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tflite_builder import build_tflite

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.prediction import predict

ZOO = Path(__file__).resolve().parents[2] / "tests" / "data" / "lce-zoo"


def _one_line_error(match: str, *args, **kwargs) -> str:
    with pytest.raises(BnnDeployError, match=match) as info:
        predict(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    return message


@pytest.mark.parametrize(
    "content", [b"", b"hello, not a model\n", b"\x89PNG\r\n\x1a\n" + bytes(64), b'{"artifacts": []}']
)
def test_not_a_flatbuffer(tmp_path, content):
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    _one_line_error("not a TFLite flatbuffer", path, devices=["pi4"])


def test_damaged_flatbuffer(tmp_path):
    path = tmp_path / "cut.tflite"
    path.write_bytes((ZOO / "QuickNetSmall.tflite").read_bytes()[:4096])
    _one_line_error("damaged TFLite flatbuffer", path, devices=["pi4"])


def test_missing_file_and_directories(tmp_path):
    _one_line_error("does not exist", tmp_path / "nope.tflite", devices=["pi4"])
    _one_line_error("no manifest.json", tmp_path, devices=["pi4"])
    # a hand-made manifest is validated like every manifest (core/manifest.py) before anything is predicted
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": [{"file": "a.onnx", "format": "onnx"}]}))
    _one_line_error("is not a bnn-deploy export manifest", tmp_path, devices=["pi4"])
    (tmp_path / "manifest.json").write_text("{not json")
    _one_line_error("is not readable JSON", tmp_path, devices=["pi4"])


def test_unknown_device():
    message = _one_line_error("no latency model for device 'pi9'", ZOO / "QuickNet.tflite", devices=["pi9"])
    assert "pi4" in message and "pixel1" in message


@pytest.mark.parametrize("threads", [0, -1, [1, 0], "4", [True]])
def test_bad_threads(threads):
    _one_line_error("threads must be positive integers", ZOO / "QuickNet.tflite", devices=["pi4"], threads=threads)


def test_unknown_kernel():
    _one_line_error("unknown bconv kernel 'fast'", ZOO / "QuickNet.tflite", devices=["pi4"], kernel="fast")


def test_unknown_ops_refused_then_listed_with_allow_unknown(tmp_path):
    path = tmp_path / "unknown_ops.tflite"
    path.write_bytes(build_tflite(["ADD", "CUMSUM", "custom:MyCustomOp", "LEAKY_RELU"]))
    message = _one_line_error("does not know: CUMSUM, MyCustomOp", path, devices=["pi4"])
    assert "--allow-unknown" in message
    result = predict(path, devices=["pi4"], threads=[1], allow_unknown=True)
    (entry,) = result["predictions"]
    assert entry["unknown_ops"] == ["CUMSUM", "MyCustomOp"]
    unknown = [r for r in entry["ops"] if r["op"] in ("CUMSUM", "MyCustomOp")]
    assert all(r["ms"] is None and r["label"] == "unknown" for r in unknown)
    known = [r for r in entry["ops"] if r["ms"] is not None]
    assert entry["predicted_ms"] == pytest.approx(sum(r["ms"] for r in known))
    assert any("excluded from the total" in n for n in entry["notes"])
    assert any("excluded" in n for n in result["notes"])


def test_predict_does_not_import_tensorflow():
    """The schema is loaded by path: predicting must not pull in TensorFlow (seconds, ~0.5 GB)."""
    code = (
        "import sys; from bnn_deploy.prediction import predict; "
        f"predict({str(ZOO / 'QuickNet.tflite')!r}, devices=['pi4']); "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


def test_kernel_help_names_the_kernels_the_model_predicts():
    from click.testing import CliRunner

    from bnn_deploy.cli import cli
    from bnn_deploy.prediction.boards import DEFAULT_KERNEL, KERNELS, NOT_PREDICTED

    text = " ".join(CliRunner().invoke(cli, ["predict", "--help"]).output.split())
    kernel_help = text[text.index("--kernel") : text.index("--format")]
    assert all(k in kernel_help for k in KERNELS) and f"{DEFAULT_KERNEL} (" in kernel_help
    assert not any(f" {k} (" in kernel_help or f" {k}," in kernel_help for k in NOT_PREDICTED)  # refused kernels
