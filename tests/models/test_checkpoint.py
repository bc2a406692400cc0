"""Checkpoint loading: official BBCU files, strict keys, pickles, damaged files, inference."""

from __future__ import annotations

import os
import pickle
import re

import pytest
import torch

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.models.checkpoint import load_checkpoint, read_checkpoint_file, save_checkpoint
from bnn_deploy.models.registry import create_model
from support.models import randomize_


@pytest.mark.parametrize("arch", ["bbcu_l", "bbcu_m"])
@pytest.mark.parametrize("scale", [2, 4])
def test_official_bbcu_release_layout_loads_strictly_and_runs(tmp_path, arch, scale):
    # Full-size release configuration: 64 features, 16 blocks, saved as BasicSR does.
    model = randomize_(create_model(arch, scale=scale), seed=scale)
    path = tmp_path / f"BBCU{arch[-1].upper()}x{scale}.pth"
    torch.save({"params": model.state_dict()}, path)
    loaded = load_checkpoint(path)
    assert loaded.arch == arch and loaded.source_format == "basicsr:params"
    assert loaded.config["scale"] == scale and loaded.config["num_feat"] == 64
    assert loaded.config["num_block"] == 16 and loaded.config["k"] == 130.0
    x = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model(x))
    assert len(loaded.sha256) == 64


def test_params_ema_preferred_and_module_prefix_stripped(tmp_path):
    a = randomize_(create_model("bbcu_m", scale=2, num_feat=8, num_block=1), seed=1)
    b = randomize_(create_model("bbcu_m", scale=2, num_feat=8, num_block=1), seed=2)
    path = tmp_path / "both.pth"
    torch.save({"params": a.state_dict(), "params_ema": {f"module.{k}": v for k, v in b.state_dict().items()}}, path)
    loaded = load_checkpoint(path)
    assert loaded.source_format == "basicsr:params_ema"
    assert torch.equal(loaded.model.conv_first.weight, b.conv_first.weight)


def test_k_override_and_k_only_for_bbcu(tmp_path):
    path = tmp_path / "m.pth"
    torch.save(create_model("bbcu_l", scale=2, num_feat=8, num_block=1).state_dict(), path)
    assert load_checkpoint(path, k=64).config["k"] == 64.0
    ref = tmp_path / "ref.pth"
    torch.save(create_model("msrresnet", scale=2, num_feat=8, num_block=1).state_dict(), ref)
    with pytest.raises(BnnDeployError, match="--k applies only to BBCU"):
        load_checkpoint(ref, k=64)
    for bad in (float("inf"), float("nan"), 0.0, -1.0):  # inf used to load, then give NaN images
        with pytest.raises(BnnDeployError, match="must be a finite number above 0"):
            load_checkpoint(path, k=bad)


@pytest.mark.parametrize(
    "arch,config",
    [
        ("msrresnet", {"scale": 3, "num_feat": 16, "num_block": 2}),
        ("edsr", {"scale": 4, "n_feats": 16, "n_resblocks": 2}),
        ("binary_edsr", {"scale": 2, "n_feats": 16, "n_resblocks": 3}),
        (
            "bbcu_m",
            {
                "scale": 2,
                "num_feat": 16,
                "num_block": 1,
                "k": 130.0,
                "unit": {"kind": "attention", "binary_attn": "pixel", "residual_attn": "se", "reduction": 4},
            },
        ),
        (
            "bbcu_l",
            {
                "scale": 3,
                "num_feat": 16,
                "num_block": 1,
                "k": 130.0,
                "unit": {"kind": "attention", "binary_attn": "spatial", "residual_attn": "none", "reduction": 4},
            },
        ),
    ],
)
def test_architecture_inferred_from_plain_state_dict(tmp_path, arch, config):
    model = create_model(arch, **config)
    path = tmp_path / "sd.pt"
    torch.save(model.state_dict(), path)
    loaded = load_checkpoint(path)
    assert loaded.arch == arch
    assert {k: loaded.config[k] for k in config} == config


def test_missing_and_extra_keys_are_one_error_listing_them(tmp_path):
    sd = create_model("bbcu_m", scale=2, num_feat=8, num_block=2).state_dict()
    del sd["body.1.body.0.relu.pr_prelu.weight"]
    sd["body.1.body.0.extra.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pth"
    torch.save({"params": sd}, path)
    with pytest.raises(BnnDeployError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert "missing: body.1.body.0.relu.pr_prelu.weight" in msg
    assert "unexpected: body.1.body.0.extra.weight" in msg
    assert "\n" not in msg


def test_wrong_shape_is_reported(tmp_path):
    model = create_model("bbcu_m", scale=2, num_feat=8, num_block=1)
    save_checkpoint(tmp_path / "own.pt", model)
    obj = torch.load(tmp_path / "own.pt", weights_only=True)
    obj["config"]["num_feat"] = 16  # the stored config no longer matches the weights
    torch.save(obj, tmp_path / "mismatch.pt")
    with pytest.raises(BnnDeployError, match="wrong shape: conv_first.weight"):
        load_checkpoint(tmp_path / "mismatch.pt")


def test_pickled_module_refused_unless_trusted(tmp_path):
    model = create_model("bbcu_m", scale=2, num_feat=8, num_block=1)
    path = tmp_path / "whole_module.pt"
    torch.save(model, path)
    with pytest.raises(BnnDeployError, match="--trust-pickle"):
        load_checkpoint(path)
    loaded = load_checkpoint(path, trust_pickle=True)
    assert loaded.source_format == "pickle" and loaded.arch == "bbcu_m"


def test_own_format_round_trip_is_weights_only_safe(tmp_path):
    model = randomize_(create_model("bbcu_m", scale=4, num_feat=8, num_block=1, k=40.0))
    save_checkpoint(tmp_path / "own.pt", model, meta={"note": "x"})
    raw = torch.load(tmp_path / "own.pt", weights_only=True)
    assert raw["format"] == "bnn-deploy" and raw["arch"] == "bbcu_m"
    loaded = load_checkpoint(tmp_path / "own.pt")
    assert loaded.config == model.config and loaded.meta == {"note": "x"}
    assert not list(tmp_path.glob(".*tmp"))
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "own.pt").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


@pytest.mark.parametrize(
    "content,match",
    [
        (None, "not found"),
        (b"", "empty"),
        (b"this is a text file, not a checkpoint\n", "not a"),
        (b"PK\x03\x04 truncated zip", "truncated"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, content, match):
    path = tmp_path / "x.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BnnDeployError, match=match) as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)


def test_truncated_real_checkpoint(tmp_path):
    path = tmp_path / "full.pth"
    torch.save({"params": create_model("bbcu_m", scale=2).state_dict()}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BnnDeployError, match="truncated"):
        load_checkpoint(path)


def test_directory_and_unrecognised_architecture(tmp_path):
    with pytest.raises(BnnDeployError, match="is a directory"):
        read_checkpoint_file(str(tmp_path))
    path = tmp_path / "resnet.pt"
    torch.save({"fc.weight": torch.zeros(2, 2), "conv1.weight": torch.zeros(1, 1, 3, 3)}, path)
    with pytest.raises(BnnDeployError, match="cannot recognise the architecture"):
        load_checkpoint(path)
    torch.save({"epoch": 3, "optimizer": {"lr": 1}}, path)
    with pytest.raises(BnnDeployError, match="without model weights"):
        load_checkpoint(path)
    with open(path, "wb") as fh:
        pickle.dump([1, 2, 3], fh)
    with pytest.raises(BnnDeployError):
        load_checkpoint(path)


def _tiny_onnx(path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, None, None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, None, None])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph), path)


def _write_kind(path, kind: str):
    from pathlib import Path

    import numpy as np

    if kind == "onnx":
        _tiny_onnx(path)
    elif kind == "tflite":
        path.write_bytes((Path(__file__).parents[1] / "data" / "lce-zoo" / "QuickNetSmall.tflite").read_bytes())
    elif kind == "json":
        path.write_text('{"params": {"conv_first.weight": [1, 2]}}')
    elif kind == "random":
        path.write_bytes(bytes([0xA1]) + os.urandom(4095))
    elif kind == "npy":
        with open(path, "wb") as fh:
            np.save(fh, np.zeros(3))
    elif kind == "plain pickle":
        path.write_bytes(pickle.dumps({"conv_first.weight": [1.0]}, protocol=4))
    elif kind == "lfs pointer":
        path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9\n")


@pytest.mark.parametrize(
    "kind,says",
    [
        ("onnx", r"is an ONNX model, not a PyTorch checkpoint; deploy it with `bnn-deploy export MODEL\.onnx"),
        ("tflite", r"is a TFLite flatbuffer \(an exported artifact\), not a PyTorch checkpoint; pass the export"),
        ("json", r"is a JSON file, not a PyTorch checkpoint"),
        ("random", r"is not a PyTorch checkpoint: torch\.save writes a zip archive .* starts with bytes a1"),
        ("npy", r"is a NumPy \.npy array"),
        ("plain pickle", r"is a Python pickle that torch\.save did not write"),
        ("lfs pointer", r"is a Git LFS pointer .*`git lfs pull`"),
    ],
)
def test_files_that_are_not_checkpoints_are_named_and_never_sent_to_trust_pickle(tmp_path, kind, says):
    """Only a real pickled object may suggest --trust-pickle (it runs code from the file)."""
    path = tmp_path / "model.pth"
    _write_kind(path, kind)
    for trust in (False, True):
        with pytest.raises(BnnDeployError, match=says) as err:
            load_checkpoint(path, trust_pickle=trust)
        assert "trust-pickle" not in str(err.value) and "\n" not in str(err.value)


def test_trust_pickle_is_suggested_for_a_real_pickled_module_naming_its_class(tmp_path):
    path = tmp_path / "whole.pth"
    torch.save(create_model("bbcu_m", scale=2, num_feat=8, num_block=1), path)
    with pytest.raises(
        BnnDeployError, match=r"stores pickled Python objects \(bnn_deploy\.models\.bbcu\.\w+.*--trust-pickle"
    ):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "arch,key",
    [
        ("bbcu_l", "body.0.body.0.binary_conv.weight"),
        ("bbcu_m", "upconv1.binary_conv.weight"),
        ("bbcu_l", "upconv1.weight"),
        ("msrresnet", "body.0.conv1.weight"),
        ("edsr", "tail.0.0.weight"),
        ("bbcu_m", "conv_first.weight"),
    ],
)
def test_a_missing_weight_is_named_not_an_unknown_architecture(tmp_path, arch, key):
    sd = create_model(arch, scale=2, **({} if arch == "edsr" else {"num_feat": 8, "num_block": 2})).state_dict()
    del sd[key]
    torch.save(sd, tmp_path / "m.pth")
    with pytest.raises(BnnDeployError, match=rf"the checkpoint has no {re.escape(key)}\b") as err:
        load_checkpoint(tmp_path / "m.pth")
    assert "cannot recognise" not in str(err.value)
