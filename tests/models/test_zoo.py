"""The bundled models: present, loadable with weights_only, and better than bicubic on held-out photos."""

from __future__ import annotations

import pytest
import torch

from bnn_deploy.core.photos import HOLDOUT_PHOTOS, TRAIN_PHOTOS
from bnn_deploy.models.checkpoint import load_checkpoint
from bnn_deploy.models.quality import evaluate_quality
from bnn_deploy.models.zoo import BUNDLED, DEFAULT_MODEL, bundled_path


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_model_loads_as_declared(name):
    path = bundled_path(name)
    assert path.exists(), f"{path} missing: run scripts/train_zoo.py"
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "bnn-deploy"
    arch, config, _ = BUNDLED[name]
    loaded = load_checkpoint(name)  # bundled names resolve to the packaged file
    assert loaded.arch == arch
    assert {k: loaded.config[k] for k in config} == config
    assert raw["meta"]["trained_with"] == "scripts/train_zoo.py"


@pytest.mark.parametrize("name", ["bbcu_m_x2_small", "attn_bbcu_m_x2_small"])
def test_binary_bundled_models_beat_bicubic_on_heldout_photos(name):
    assert not set(TRAIN_PHOTOS) & set(HOLDOUT_PHOTOS)
    loaded = load_checkpoint(name)
    quality = evaluate_quality(loaded.model, loaded.config["scale"])
    assert [row["image"] for row in quality["images"]] == list(HOLDOUT_PHOTOS)
    assert quality["mean"]["model"]["psnr"] > quality["mean"]["bicubic"]["psnr"]
    assert quality["mean"]["model"]["ssim"] > quality["mean"]["bicubic"]["ssim"]


def test_default_model_is_binary():
    assert DEFAULT_MODEL in BUNDLED and BUNDLED[DEFAULT_MODEL][0].startswith("bbcu")
