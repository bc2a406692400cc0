"""The CLI: fast help, JSON output, one-line errors without tracebacks, --debug."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from bnn_deploy.models.checkpoint import save_checkpoint
from support.cli import run_cli
from support.models import tiny_model


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, tiny_model("bbcu_m", scale=2, num_feat=8, num_block=1))
    return path


def test_help_imports_neither_torch_nor_tensorflow():
    code = (
        "import sys; from bnn_deploy.cli import main; rc = main(['--help']); "
        "print(rc, 'torch' in sys.modules, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 False False"
    assert "inspect" in out.stdout and "upscale" in out.stdout


def test_inspect_json_and_text(ckpt):
    proc = run_cli("inspect", ckpt, "--lr-size", "64x48", "--json", check=True)
    info = json.loads(proc.stdout)
    assert info["arch"] == "bbcu_m" and info["scale"] == 2 and info["binary_convs"] == 4
    assert info["lr_size"] == {"height": 48, "width": 64}
    assert info["cost"]["ops"] == info["cost"]["float_macs"] + info["cost"]["binary_macs"] / 64
    text = run_cli("inspect", ckpt, check=True).stdout
    assert "binary" in text and "OPs" in text and "upconv1.binary_conv" in text


def test_upscale_writes_png_of_the_right_size(ckpt, tmp_path, photo):
    src = tmp_path / "in.png"
    Image.fromarray((photo[:30, :41] * 255).round().astype(np.uint8)).save(src)
    out = tmp_path / "out.png"
    proc = run_cli("upscale", ckpt, src, "-o", out, "--json", check=True)
    assert json.loads(proc.stdout)["output_size"] == [82, 60]
    assert Image.open(out).size == (82, 60)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["inspect", "missing.pt"], "not found"),
        (["inspect", "{ckpt}", "--lr-size", "big"], "not WIDTHxHEIGHT"),
        (["inspect", "{notckpt}"], "not a"),
        (["upscale", "{ckpt}", "{notimage}", "-o", "{tmp}/o.png"], "cannot read image"),
        (["upscale", "{ckpt}", "{tmp}/nope.png", "-o", "{tmp}/o.png"], "cannot read image"),
        (["inspect", "{pickled}"], "--trust-pickle"),
        (["inspect", "{ckpt}", "--k", "inf"], "--k inf must be a finite number above 0"),
        (["inspect", "{ckpt}", "--k", "nan"], "--k nan must be a finite number above 0"),
        (["inspect", "{ckpt}", "--k", "0"], "--k 0.0 must be a finite number above 0"),
        (["export", "{ckpt}", "--k", "-inf", "--out", "{tmp}/e"], "--k -inf must be a finite number above 0"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path, ckpt, args, fragment):
    notckpt = tmp_path / "notes.txt"
    notckpt.write_text("hello")
    notimage = tmp_path / "fake.png"
    notimage.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    pickled = tmp_path / "module.pt"
    torch.save(tiny_model("bbcu_l"), pickled)
    subs = {"ckpt": ckpt, "notckpt": notckpt, "notimage": notimage, "tmp": tmp_path, "pickled": pickled}
    proc = run_cli(*[a.format(**subs) for a in args])
    assert proc.returncode != 0
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "o.png").exists()


def test_debug_shows_the_traceback():
    proc = run_cli("--debug", "inspect", "missing.pt")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_models_lists_bundled(tmp_path):
    info = json.loads(run_cli("models", "--json", check=True).stdout)
    names = {m["name"] for m in info["bundled"]}
    assert {"bbcu_m_x2_small", "attn_bbcu_m_x2_small", "msrresnet_x2_small"} <= names
    assert {"bbcu_l", "bbcu_m", "msrresnet", "edsr", "binary_edsr"} <= {a["name"] for a in info["architectures"]}


def test_every_command_is_in_the_readme_table():
    from pathlib import Path

    from bnn_deploy.cli import cli

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("## Commands") : readme.index("### Upscaling large images")]
    missing = [name for name in cli.commands if f"| `bnn-deploy {name}" not in table]
    assert missing == []
