"""Runtimes: every runner returns what PyTorch returns, on real interpreters; export dirs are verified."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bnn_deploy.core.errors import BnnDeployError
from support.exports import EXPORT_HW, tiny_export


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory):
    return tiny_export(tmp_path_factory)


@pytest.fixture(scope="session")
def exp(export_dir):
    from bnn_deploy.core.exports import read_export

    return read_export(export_dir)


@pytest.fixture(scope="session")
def lr_input(photo):
    """A real photo crop at the export size, NHWC."""
    from bnn_deploy.core.photos import crop_center

    return np.ascontiguousarray(crop_center(photo, *EXPORT_HW)[None], dtype=np.float32)


def _reference(exp, role, x):
    from bnn_deploy.runtimes.artifacts import open_artifact

    return open_artifact(exp.of("pytorch", role)[0]).predict(x)


@pytest.mark.parametrize(
    "fmt, role, kernel, min_db",
    [
        ("lce", "binary", "default", 60.0),
        ("lce", "binary", "indirect_bgemm", 60.0),
        ("lce", "binary", "xnnpack", 60.0),
        ("lce", "binary", "indirect_bgemm+xnnpack", 60.0),
        ("lce", "binary", "reference", 60.0),
        ("tflite-float", "binary", "xnnpack", 60.0),
        ("tflite-float", "binary", "builtin", 60.0),
        ("onnx", "binary", None, 60.0),
        ("tflite-float", "float-ref", None, 60.0),
        # int8 is a different (quantized) computation: its "parity" is quantization error.
        ("tflite-int8", "float-ref", None, 30.0),
    ],
)
def test_runner_matches_pytorch(exp, lr_input, fmt, role, kernel, min_db):
    from bnn_deploy.core.parity import parity_psnr
    from bnn_deploy.runtimes.artifacts import open_artifact

    art = exp.of(fmt, role)[0]
    runner = open_artifact(art, kernel=kernel)
    out = runner.predict(lr_input)
    assert out.shape == (1, EXPORT_HW[0] * 2, EXPORT_HW[1] * 2, 3) and out.dtype == np.float32
    assert parity_psnr(out, _reference(exp, role, lr_input)) >= min_db
    assert runner.kernel == (kernel or {"lce": "indirect_bgemm", "onnx": "default"}.get(fmt, "xnnpack"))
    assert runner.load_ms > 0


def test_dynamic_runners_take_any_size_and_fixed_ones_refuse(exp, photo):
    from bnn_deploy.runtimes.artifacts import open_artifact

    x = np.ascontiguousarray(photo[:20, :27][None])
    onnx_out = open_artifact(exp.of("onnx")[0]).predict(x)
    torch_out = open_artifact(exp.of("pytorch")[0]).predict(x)
    assert onnx_out.shape == torch_out.shape == (1, 40, 54, 3)
    for fmt in ("lce", "tflite-float"):
        runner = open_artifact(exp.of(fmt)[0])
        assert runner.input_shape == (1, *EXPORT_HW, 3)
        with pytest.raises(BnnDeployError, match="tile the image"):
            runner.predict(x)


def test_auto_kernel_picks_the_fastest_identical_and_says_which(exp, lr_input):
    from bnn_deploy.runtimes.lce import AUTO_CANDIDATES, IDENTICAL_TOLERANCE, choose_kernel

    choice = choose_kernel(exp.of("lce")[0].file, lr_input, runs=2)
    kernels = [c["kernel"] for c in choice["candidates"]]
    assert sorted(kernels) == sorted(AUTO_CANDIDATES)
    chosen = next(c for c in choice["candidates"] if c["kernel"] == choice["kernel"])
    assert chosen["identical"] and chosen["max_abs_diff"] <= IDENTICAL_TOLERANCE
    assert all(chosen["min_ms"] <= c["min_ms"] for c in choice["candidates"] if c["identical"])
    assert all(c["runs"] == 2 and c["min_ms"] <= c["median_ms"] for c in choice["candidates"])
    assert choice["skipped"] == []
    default = next(c for c in choice["candidates"] if c["kernel"] == "default")
    assert default["bit_identical"] and default["max_abs_diff"] == 0.0


def test_auto_kernel_choice_is_bounded_by_max_secs(exp, lr_input):
    """Loading and checking counted too: out of time, only the reference kernel is tried (once)."""
    import time

    from bnn_deploy.runtimes.lce import AUTO_CANDIDATES, choose_kernel

    lines = []
    start = time.perf_counter()
    choice = choose_kernel(exp.of("lce")[0].file, lr_input, runs=50, max_secs=1e-9, progress=lines.append)
    assert time.perf_counter() - start < 30
    assert choice["kernel"] == "default" and [c["runs"] for c in choice["candidates"]] == [1]
    assert sorted(choice["skipped"]) == sorted(k for k in AUTO_CANDIDATES if k != "default")
    assert any("not tried within --max-secs" in line for line in lines)


def test_threads_must_be_positive(exp):
    from bnn_deploy.runtimes.artifacts import open_artifact

    for art in (exp.of("lce")[0], exp.of("tflite-float")[0], exp.of("onnx")[0]):
        with pytest.raises(BnnDeployError, match="threads must be a positive integer"):
            open_artifact(art, threads=0)


def test_unknown_kernel_and_lce_file_in_stock_tflite_are_clear(exp):
    from bnn_deploy.runtimes.lce import open_lce
    from bnn_deploy.runtimes.tflite import open_tflite

    with pytest.raises(BnnDeployError, match="unknown LCE kernel"):
        open_lce(exp.of("lce")[0].file, kernel="fast")
    with pytest.raises(BnnDeployError, match="LCE ops"):
        open_tflite(exp.of("lce")[0].file)


def test_interpreters_load_without_importing_tensorflow(exp, lr_input, tmp_path):
    """The memory and start-up figures must not include the TensorFlow Python package."""
    np.save(tmp_path / "x.npy", lr_input)
    code = f"""
import sys, numpy as np
from bnn_deploy.runtimes.lce import open_lce
from bnn_deploy.runtimes.tflite import open_tflite
x = np.load({str(tmp_path / "x.npy")!r})
open_lce({exp.of("lce")[0].file!r}).predict(x)
open_tflite({exp.of("tflite-float")[0].file!r}).predict(x)
assert 'tensorflow' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_time_runs_stops_at_runs_or_max_secs():
    import time

    from bnn_deploy.runtimes.base import latency_stats, time_runs

    calls = []
    result = time_runs(lambda x: calls.append(x), 0, warmup=2, runs=5)
    assert len(calls) == 1 + 2 + 5 and len(result["runs_ms"]) == 5 and result["stopped_by"] == "runs"
    slow = time_runs(lambda x: time.sleep(0.02), 0, warmup=0, runs=1000, max_secs=0.1)
    assert 1 <= len(slow["runs_ms"]) < 20 and slow["stopped_by"] == "max-secs"
    stats = latency_stats([3.0, 1.0, 2.0, 10.0])
    assert stats["min"] <= stats["median"] <= stats["p90"] <= stats["p99"] <= stats["max"]
    assert stats["runs"] == 4 and stats["median"] == 2.5


# ---------------------------------------------------------------- export directories


def _copy(export_dir, tmp_path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(export_dir, dest)
    return dest


def test_read_export_lists_files_and_sources(exp):
    formats = sorted((a.format, a.role) for a in exp.artifacts)
    assert formats == sorted(
        [
            ("lce", "binary"),
            ("tflite-float", "binary"),
            ("onnx", "binary"),
            ("tflite-float", "float-ref"),
            ("tflite-int8", "float-ref"),
            ("pytorch", "binary"),
            ("pytorch", "float-ref"),
        ]
    )
    assert exp.scale == 2
    for a in exp.artifacts:
        assert Path(a.file).stat().st_size == a.size_bytes
        assert a.input_hw == (EXPORT_HW if a.format not in ("onnx", "pytorch") else None)


def test_export_without_manifest_is_refused(tmp_path):
    from bnn_deploy.core.exports import read_export

    (tmp_path / "model.tflite").write_bytes(b"x")
    with pytest.raises(BnnDeployError, match="has no manifest.json"):
        read_export(tmp_path)
    with pytest.raises(BnnDeployError, match="not found"):
        read_export(tmp_path / "nope")


def test_missing_or_changed_files_are_refused(export_dir, tmp_path):
    from bnn_deploy.core.exports import read_export

    copy = _copy(export_dir, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    lce_file = next(a["file"] for a in manifest["artifacts"] if a["format"] == "lce")
    data = bytearray((copy / lce_file).read_bytes())
    data[-1] ^= 0xFF
    (copy / lce_file).write_bytes(bytes(data))
    with pytest.raises(BnnDeployError, match="does not match its sha256"):
        read_export(copy)
    (copy / lce_file).unlink()
    with pytest.raises(BnnDeployError, match="listed in manifest.json but missing"):
        read_export(copy)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(BnnDeployError, match="not readable JSON"):
        read_export(copy)


def test_pytorch_source_is_reloaded_with_the_k_the_export_used(tmp_path, photo):
    """Official BBCU checkpoints do not store k: an export made with --k 20 must be measured against
    PyTorch at k=20, not at the default 130 (eval, bench and upscale all reload the source)."""
    import torch

    from bnn_deploy.conversion.export import export_model
    from bnn_deploy.core.exports import read_export
    from bnn_deploy.core.parity import parity_psnr
    from bnn_deploy.core.photos import crop_center
    from bnn_deploy.runtimes.artifacts import open_artifact
    from support.models import tiny_model

    model = tiny_model("bbcu_m", num_feat=8, num_block=1, k=20.0)
    ckpt = tmp_path / "official.pth"
    torch.save({"params": model.state_dict()}, ckpt)  # BasicSR layout: no k in the file
    export_model(ckpt, formats=["lce"], input_sizes=[(24, 16)], out_dir=tmp_path / "e", k=20.0, parity_photos=1)
    exp = read_export(tmp_path / "e")
    (src,) = exp.of("pytorch")
    assert src.k == 20.0
    x = np.ascontiguousarray(crop_center(photo, 16, 24)[None], dtype=np.float32)
    lce = open_artifact(exp.of("lce")[0]).predict(x)
    assert parity_psnr(open_artifact(src).predict(x), lce) >= 60.0  # 25.5 dB when reloaded at k=130
