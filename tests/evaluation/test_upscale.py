"""``bnn-deploy upscale``: any image through a checkpoint or an artifact, in tiles, under a memory budget,
with parity against PyTorch tile by tile; every argument checked before any model loads."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from support.cli import run_cli
from support.exports import EXPORT_HW, tiny_export
from support.terminal import read_terminal


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return tiny_export(tmp_path_factory)


@pytest.fixture(scope="module")
def picture(tmp_path_factory, photo):
    """A real photo crop larger than the tiny export's 48x32 tile, as a PNG."""
    from bnn_deploy.core.images import save_image

    path = tmp_path_factory.mktemp("pictures") / "photo.png"
    save_image(path, photo[100:175, 150:251])  # 101x75
    return path


def _lr(path):
    from bnn_deploy.core.images import load_image

    return load_image(path)


# ---------------------------------------------------------------- checked before any model loads

_CHECKS = r"""
import json, sys
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.evaluation.upscale import upscale

messages = []
for target, image, output, options in json.loads(sys.argv[1]):
    try:
        upscale(target, image, output, **options)
        messages.append("no error")
    except BnnDeployError as exc:
        messages.append(str(exc))
loaded = [m for m in ("torch", "tensorflow", "onnxruntime", "larq_compute_engine") if m in sys.modules]
print(json.dumps({"messages": messages, "loaded": loaded}))
"""


def test_every_argument_is_checked_before_any_model_loads(export_dir, picture, tmp_path, photo):
    from bnn_deploy.core.images import save_image

    root = export_dir.parent
    ckpt = str(root / "tiny_bbcu.pt")
    lce = next(export_dir.glob("*.lce.tflite"))
    small = tmp_path / "small.png"
    save_image(small, photo[:20, :40])  # smaller than the 48x32 tile
    big = tmp_path / "big.png"
    save_image(big, photo[:400, :400])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    (tmp_path / "taken.png").mkdir()
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(lce, lone / lce.name)
    only_lce = tmp_path / "only_lce"
    only_lce.mkdir()
    shutil.copy(lce, only_lce / lce.name)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["format"] == "lce"]
    (only_lce / "manifest.json").write_text(json.dumps(manifest))
    out, img, exp = str(tmp_path / "out.png"), str(picture), str(export_dir)
    cases = [
        ((exp, img, str(tmp_path / "out.jpg"), {}), "give a path ending in .png"),
        ((exp, img, str(tmp_path / "missing" / "o.png"), {}), "does not exist; create it first"),
        ((exp, img, str(tmp_path / "taken.png"), {}), "is a folder"),
        ((exp, img, img, {}), "is the input image"),
        ((exp, str(text), out, {}), "cannot read image"),
        ((exp, str(tmp_path / "nope.png"), out, {}), "cannot read image"),
        ((exp, img, out, {"artifact": "keras"}), "unknown --artifact 'keras'"),
        ((exp, img, out, {"overlap": -1}), "--overlap -1"),
        ((exp, img, out, {"overlap": 40}), "--overlap 40 does not fit the lce artifact's tiles (short side at most 32"),
        ((exp, img, out, {"threads": 100000}), "--threads 100000 is more than"),
        ((exp, img, out, {"memory_budget": "lots"}), "is not a memory size"),
        ((exp, str(small), out, {}), "is 40x20, smaller than one 48x32 tile of the lce artifact"),
        ((exp, str(big), out, {"memory_budget": "2MB"}), "over the 2 MB budget (--memory-budget)"),
        ((str(only_lce), img, out, {"artifact": "onnx"}), "has no onnx artifact (it has: lce, pytorch)"),
        ((str(lce), img, out, {"artifact": "onnx"}), "does not match"),
        ((str(lone / lce.name), img, out, {}), "is not inside an export folder"),
        ((ckpt, img, out, {"artifact": "lce"}), "a checkpoint runs in PyTorch only"),
        ((str(tmp_path / "nothing.pt"), img, out, {}), "not found"),
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        [sys.executable, "-c", _CHECKS, json.dumps([c for c, _ in cases])],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for (case, expected), message in zip(cases, result["messages"]):
        assert expected in message, (case, message)
        assert "\n" not in message
    assert result["loaded"] == []  # no runtime was even imported
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "big.png",
        "lone",
        "notes.png",
        "only_lce",
        "small.png",
        "taken.png",
    ]  # nothing written


def test_cli_errors_are_one_line(export_dir, tmp_path, photo):
    from bnn_deploy.core.images import save_image

    small = tmp_path / "small.png"
    save_image(small, photo[:20, :40])
    for args, fragment in [
        ((export_dir, small, "-o", tmp_path / "o.png"), "smaller than one 48x32 tile"),
        ((export_dir, small, "-o", tmp_path / "o.tif"), "ending in .png"),
        ((export_dir, small, "-o", tmp_path / "o.png", "--memory-budget", "x"), "not a memory size"),
    ]:
        proc = run_cli("upscale", *args)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and fragment in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.png").exists()


# ---------------------------------------------------------------- runs


def test_lce_artifact_tiles_and_parity_against_pytorch_tile_by_tile(export_dir, picture, tmp_path):
    from bnn_deploy.core.exports import read_export
    from bnn_deploy.core.metrics import to_uint8
    from bnn_deploy.core.tiling import run_tiled, tile_count
    from bnn_deploy.evaluation.evaluate import LCE_KERNEL
    from bnn_deploy.runtimes.artifacts import open_artifact

    out = tmp_path / "up.png"
    proc = run_cli("upscale", export_dir, picture, "-o", out, "--threads", "1", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    lr = _lr(picture)
    overlap = read_export(export_dir).tile_overlap()  # measured for this model by its export
    tiles = tile_count(lr.shape[:2], EXPORT_HW, overlap)
    assert result["format"] == "lce" and result["kernel"] == LCE_KERNEL and result["tile"]["overlap"] == overlap
    assert result["tile"]["size"] == "48x32" and result["tile"]["count"] == tiles > 1
    assert result["input_size"] == [101, 75] and result["output_size"] == [202, 150]
    # parity: PyTorch ran each tile the artifact ran, never the whole image
    parity = result["parity"]
    assert parity["reference"].startswith("PyTorch on the same tiles (tiny_bbcu.pt)")
    assert len(parity["images"]) == tiles and parity["images"][1]["name"].startswith("tile 1 at x=")
    assert parity["psnr_db"] == "inf" or parity["psnr_db"] >= 60
    # the PNG holds exactly the LCE tiles, stitched
    lce = open_artifact(read_export(export_dir).of("lce")[0], kernel=LCE_KERNEL)
    with Image.open(out) as written:
        np.testing.assert_array_equal(np.asarray(written), to_uint8(run_tiled(lce.predict, lr, EXPORT_HW, 2, overlap)))
    memory = result["memory"]
    assert memory["budget_from"].startswith("default")
    assert 0 < memory["tile_need_bytes"] <= memory["tile_share_bytes"]
    assert memory["fixed_bytes"] + memory["tile_share_bytes"] == memory["budget_bytes"]
    assert memory["within_budget"] and memory["peak_rss_bytes"] <= memory["budget_bytes"]
    # status lines on stderr, JSON alone on stdout
    assert f"tile(s) of 48x32 (overlap {overlap}) through lce" in proc.stderr
    assert result["seconds"] >= result["run_seconds"]["tiles"] > 0


@pytest.mark.slow
def test_pytorch_checkpoint_tiles_under_a_small_budget(export_dir, tmp_path, photo):
    """A budget too small for the whole image makes PyTorch tile; tiled matches the whole image."""
    from bnn_deploy.core.images import save_image
    from bnn_deploy.core.parity import parity_psnr
    from bnn_deploy.models.checkpoint import load_checkpoint
    from bnn_deploy.models.run import run_image

    image = tmp_path / "in.png"
    save_image(image, photo[:300, :400])
    out = tmp_path / "out.png"
    proc = run_cli("upscale", "bbcu_m_x2_small", image, "-o", out, "--memory-budget", "620MB", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["format"] == "pytorch" and result["tile"]["count"] > 1 and not result["tile"]["whole_image"]
    assert result["parity"]["psnr_db"] is None and "PyTorch's own" in result["parity"]["reference"]
    assert result["memory"]["peak_rss_bytes"] <= 620 << 20
    whole = run_image(load_checkpoint("bbcu_m_x2_small").model, _lr(image))
    assert parity_psnr(_lr(out), np.clip(whole, 0, 1)) >= 45  # 8-bit PNGs of tiled vs whole


@pytest.mark.slow
def test_onnx_and_int8_artifacts(export_dir, picture, tmp_path):
    int8 = next(export_dir.glob("*.int8.tflite"))
    proc = run_cli("upscale", int8, picture, "-o", tmp_path / "int8.png", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["format"] == "tflite-int8" and result["runtime"] == "tflite"
    assert "tiny_float.pt" in result["parity"]["reference"]  # compared with the float model it quantizes
    assert 20 < result["parity"]["psnr_db"] < 80  # quantization error: measured, not identical
    proc = run_cli("upscale", export_dir, picture, "-o", tmp_path / "onnx.png", "--artifact", "onnx", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["format"] == "onnx" and result["tile"]["whole_image"]  # any size: one tile fits
    assert result["parity"]["psnr_db"] == "inf" or result["parity"]["psnr_db"] >= 60
    text = run_cli("upscale", export_dir, picture, "-o", tmp_path / "t.png", "--artifact", "tflite-float")
    assert text.returncode == 0 and "tflite-float" in text.stdout and "parity vs PyTorch, tile by tile" in text.stdout


@pytest.mark.slow
def test_budget_too_small_for_a_tile_says_what_it_needs_and_keeps_the_old_output(export_dir, picture, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"the user's file")
    proc = run_cli("upscale", export_dir, picture, "-o", out, "--memory-budget", "300MB")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    # what does not fit (a tile, or already the libraries and buffers: that depends on this machine's
    # imports) and the budget that would do, in one line
    assert error.startswith("error: ") and re.search(r"raise --memory-budget to (at least|more than) \d+", error), (
        proc.stderr
    )
    assert out.read_bytes() == b"the user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


@pytest.mark.slow
def test_tile_bar_shows_on_a_terminal_but_not_with_json(export_dir, picture, tmp_path):
    args = [sys.executable, "-m", "bnn_deploy.cli", "upscale", str(export_dir), str(picture), "--threads", "1"]
    shown = read_terminal(args + ["-o", str(tmp_path / "a.png")])
    assert "upscaling: " in shown and "tiles |" in shown and "elapsed" in shown
    assert "tile(s) of 48x32" in shown  # the status lines too
    quiet = read_terminal(args + ["-o", str(tmp_path / "b.png"), "--json"])
    assert "upscaling: " not in quiet and "\r" not in quiet.replace("\r\n", "\n")
    assert "tile(s) of 48x32" in quiet


def test_help_says_how_the_default_budget_and_tiles_are_chosen():
    from bnn_deploy.evaluation.upscale import DEFAULT_BUDGET, MAX_TILE, NEED_MARGIN

    text = " ".join(run_cli("upscale", "--help", check=True).stdout.split())
    assert f"default: {DEFAULT_BUDGET / 2**30:g} GiB, or 3/4 of the memory available now" in text
    assert f"(x{NEED_MARGIN:g})" in text and f"at most {MAX_TILE}x{MAX_TILE} for PyTorch/ONNX" in text
