"""``bnn-deploy eval EXPORT_DIR|CKPT``: PSNR/SSIM of every deployment, tiled, and the comparison PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support.cli import run_cli
from support.exports import tiny_export


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory, photo):
    """Two small real photo crops (odd sizes) as PNG files: HR images for the evaluation."""
    from bnn_deploy.core.images import save_image

    folder = tmp_path_factory.mktemp("images")
    save_image(folder / "a.png", photo[:90, :121])
    save_image(folder / "b.png", photo[200:271, 300:401])
    return folder


@pytest.fixture(scope="module")
def export_eval(tmp_path_factory, images_dir):
    export_dir = tiny_export(tmp_path_factory)
    out = tmp_path_factory.mktemp("eval")
    proc = run_cli("eval", export_dir, "--images", images_dir, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), out


def test_export_eval_scores_every_deployment(export_eval, tmp_path_factory):
    from bnn_deploy.core.exports import read_export

    report, out = export_eval
    names = [m["name"] for m in report["models"]]
    assert names[0] == "bicubic" and "pytorch" in names and "pytorch float-ref" in names
    by = {m["name"]: m for m in report["models"]}
    formats = {(m.get("format"), m.get("role")) for m in report["models"]}
    assert {
        ("lce", "binary"),
        ("tflite-float", "binary"),
        ("onnx", "binary"),
        ("tflite-float", "float-ref"),
        ("tflite-int8", "float-ref"),
    } <= formats
    for m in report["models"]:
        assert len(m["images"]) == 2 and report["images"] == ["a.png", "b.png"]
        assert 10 < m["mean"]["psnr"] < 60 and 0 < m["mean"]["ssim"] <= 1
    lce = next(m for m in report["models"] if m.get("format") == "lce")
    # the fixed-shape graph ran tiled over whole images, and still matches PyTorch on the whole image
    assert lce["tile"]["input_size"] == "48x32" and all(r["tiles"] > 1 for r in lce["images"])
    assert lce["padded_images"] == []
    # tiled with the overlap the export measured for this model, not the 24 px default
    measured = read_export(tiny_export(tmp_path_factory)).manifest.tile_overlap.pixels
    assert report["tile_overlap"] == lce["tile"]["overlap"] == measured < 24
    assert lce["parity"]["psnr_db"] == "inf" or lce["parity"]["psnr_db"] >= 50.0
    # eval checked that its fast LCE kernel gives the default kernel's output before using it
    assert lce["kernel_check"]["identical"] and lce["kernel"] == lce["kernel_check"]["requested"]
    assert lce["mean"]["psnr"] == pytest.approx(by["pytorch"]["mean"]["psnr"], abs=0.05)
    assert Path(out / "eval.json").is_file()


def test_export_eval_writes_the_crops(export_eval):
    report, out = export_eval
    assert report["crops_dir"] == str(out / "crops")
    assert [Path(c["file"]).name for c in report["crops"]] == ["a.png", "b.png"]
    for crop in report["crops"]:
        assert crop["panels"][:2] == ["HR", "bicubic"] and crop["panels"][-1].startswith("|")
        assert any(p.startswith("binary: lce") for p in crop["panels"])
        assert any(p.startswith("float ref: pytorch float-ref") for p in crop["panels"])
        with Image.open(crop["file"]) as img:
            assert img.format == "PNG" and img.mode == "RGB"
            w, h = crop["window_hr"][2:]
            assert img.size[0] > 5 * w and img.size[1] > h  # five panels side by side, zoomed


def test_checkpoint_eval_text_output(tmp_path_factory, images_dir, tmp_path):
    root = tiny_export(tmp_path_factory).parent
    proc = run_cli("eval", root / "tiny_bbcu.pt", "--images", images_dir, "--out", tmp_path / "ev")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bicubic" in proc.stdout and "pytorch" in proc.stdout
    assert str(tmp_path / "ev" / "crops") in proc.stdout
    assert sorted(p.name for p in (tmp_path / "ev" / "crops").iterdir()) == ["a.png", "b.png"]


def test_bad_input_gives_one_line_errors(tmp_path_factory, tmp_path, photo):
    from bnn_deploy.core.images import save_image

    export_dir = tiny_export(tmp_path_factory)
    small = tmp_path / "small"
    small.mkdir()
    save_image(small / "tiny.png", photo[:12, :40])
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, message in [
        (("eval", export_dir, "--images", small), "too small to evaluate at x2"),
        (("eval", export_dir, "--images", empty), "holds no image files"),
        (("eval", tmp_path), "has no manifest.json"),
        (("eval", export_dir, "--memory-budget", "1MB"), "over --memory-budget"),
        (("eval", export_dir, "--memory-budget", "lots"), "is not a memory size"),
    ]:
        proc = run_cli(*args, "--out", tmp_path / "out")
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and message in lines[0], (args, proc.stderr)


def test_heat_map_amplifies_and_saturates():
    from bnn_deploy.evaluation.evaluate import DIFF_GAIN, heat_map

    diff = np.array([[0.0, 0.5 / DIFF_GAIN, 10.0]])
    rgb = heat_map(diff)
    assert rgb.shape == (1, 3, 3)
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 2].tolist() == [1, 1, 1]
    assert rgb[0, 1, 0] == 1.0 and 0 < rgb[0, 1, 1] < 1 and rgb[0, 1, 2] == 0


def test_crop_names_keep_the_source_suffix(tmp_path):
    from PIL import Image

    from bnn_deploy.evaluation.evaluate import evaluate
    from bnn_deploy.models.checkpoint import save_checkpoint
    from support.models import tiny_model

    images = tmp_path / "images"
    images.mkdir()
    pixels = (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(images / "a.png")
    Image.fromarray(pixels).save(images / "a.jpg")
    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, tiny_model("bbcu_m", scale=2))
    report = evaluate(str(ckpt), images_dir=str(images), out_dir=str(tmp_path / "out"))
    assert sorted(p.name for p in (tmp_path / "out" / "crops").iterdir()) == ["a.jpg.png", "a.png"]
    assert len(report["crops"]) == 2


def test_paths_are_checked_before_anything_loads(tmp_path_factory, tmp_path, images_dir):
    """A bad --out, --images or target is reported before the model or export is read: a pickled
    module (its own error comes from loading it) must not be what the user hears about first."""
    import torch

    from bnn_deploy.models.registry import create_model

    pickled = tmp_path / "module.pt"
    torch.save(create_model("bbcu_m", scale=2, num_feat=8, num_block=1), pickled)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    export_dir = tiny_export(tmp_path_factory)
    for args, message in [
        (("eval", pickled, "--out", blocker / "ev"), "a-file is a file, not a folder"),
        (("eval", pickled, "--images", tmp_path / "nope"), "is not a directory; give a folder"),
        (("eval", tmp_path / "nope.pt"), "not found; give an export folder, a checkpoint"),
        (("eval", export_dir, "--k", "64"), "--k applies to a checkpoint"),
    ]:
        proc = run_cli(*args)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert message in proc.stderr and "--trust-pickle" not in proc.stderr, (args, proc.stderr)
    assert blocker.read_text() == "x" and not (tmp_path / "bnn-deploy-out").exists()


def test_an_interrupted_eval_leaves_its_output_folder_as_it_was(tmp_path_factory, tmp_path, images_dir):
    """Crops are written only once every image was scored: Ctrl-C after the first image leaves no
    folder behind, and a previous evaluation's crops are not half replaced."""
    from bnn_deploy.evaluation.evaluate import evaluate

    export_dir = tiny_export(tmp_path_factory)

    def interrupt(message: str) -> None:
        if message.startswith("[2/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(str(export_dir), images_dir=str(images_dir), out_dir=str(tmp_path / "ev"), progress=interrupt)
    assert not (tmp_path / "ev").exists()
    previous = tmp_path / "prev"
    (previous / "crops").mkdir(parents=True)
    (previous / "crops" / "a.png").write_bytes(b"earlier crop")
    with pytest.raises(KeyboardInterrupt):
        evaluate(str(export_dir), images_dir=str(images_dir), out_dir=str(previous), progress=interrupt)
    assert (previous / "crops" / "a.png").read_bytes() == b"earlier crop"


def test_an_overlap_the_exported_sizes_cannot_tile_with_is_refused_first(tmp_path_factory, tmp_path):
    export_dir = tiny_export(tmp_path_factory)
    proc = run_cli("eval", export_dir, "--overlap", "40", "--out", tmp_path / "ev")
    assert (
        proc.returncode == 1
        and "--overlap 40 does not fit the tflite-float artifact's largest input size 48x32" in proc.stderr
    )
    assert "pass --overlap 16" in proc.stderr and not (tmp_path / "ev").exists()
