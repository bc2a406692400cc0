"""The tile overlap from the model: the receptive-field bound read from ONNX, and the measured overlap.

Real models, real ONNX export, real ONNX Runtime and PyTorch: the bound must be exact (tiles at twice
the radius compute what the whole image computes, one pixel less does not) and the measured overlap
must be the smallest that keeps tiled ≥ 50 dB from whole.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnn_deploy.conversion.overlap import measure_tile_overlap, overlap_crops, receptive_radius
from bnn_deploy.conversion.sources import load_source
from bnn_deploy.core.parity import parity_psnr
from bnn_deploy.core.tiling import DEFAULT_OVERLAP, OVERLAP_THRESHOLD_DB, run_tiled, seam_tiles
from bnn_deploy.models.checkpoint import save_checkpoint
from support.models import tiny_model


def _source(tmp_path, arch: str, **config):
    path = tmp_path / f"{arch}.pt"
    save_checkpoint(path, tiny_model(arch, **config))
    return load_source(path, str(tmp_path))


def _onnx_predict(source):
    from bnn_deploy.runtimes.onnxrt import open_onnx

    return open_onnx(source.onnx_path).predict


@pytest.mark.parametrize(
    "arch, config, radius",
    [
        # conv_first 1 + 2 binary units per block + upconv 1 at LR, conv_hr and conv_last 1/s each at HR
        ("bbcu_m", {"num_block": 1}, 1 + 2 + 1 + 0.5 + 0.5),
        ("bbcu_m", {"num_block": 3, "scale": 4}, 1 + 6 + 1 + 0.5 + 0.25 + 0.25),
        ("msrresnet", {"num_block": 2}, 1 + 4 + 1 + 0.5 + 0.5),
    ],
)
def test_receptive_radius_is_read_from_the_graph(tmp_path, arch, config, radius):
    source = _source(tmp_path, arch, **config)
    assert receptive_radius(source.onnx_model) == (radius, "receptive field of the graph")


@pytest.mark.parametrize("arch", ["msrresnet", "bbcu_m"])
def test_the_bound_is_exact_and_tight(tmp_path, photo, arch):
    """Tiles overlapping by twice the radius match the whole image; with less context a float model's do not.

    (A binary model's signs can absorb the last pixels' difference, so there only the bound is checked.)
    """
    source = _source(tmp_path, arch, num_block=1, **({"k": 65.0} if arch == "bbcu_m" else {}))
    radius, _ = receptive_radius(source.onnx_model)
    bound = 2 * math.ceil(radius)
    predict = _onnx_predict(source)
    side = 40
    crop = np.ascontiguousarray(photo[100 : 100 + side, 100 : 100 + side])
    whole = predict(crop[None])[0]
    assert parity_psnr(run_tiled(predict, crop, seam_tiles(side, bound), 2, bound), whole) > 100.0  # rounding only
    less = bound - 2 if arch == "msrresnet" else 0
    assert np.abs(run_tiled(predict, crop, seam_tiles(side, less), 2, less) - whole).max() > 1e-4


def test_global_pooling_and_unknown_ops_have_no_bound(tmp_path):
    attn = _source(tmp_path, "bbcu_m", unit={"kind": "attention", "binary_attn": "se"})
    radius, why = receptive_radius(attn.onnx_model)
    assert radius is None and "pools over the whole image" in why

    import onnx
    from onnx import helper

    graph = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["y"], perm=[0, 1, 3, 2])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    radius, why = receptive_radius(helper.make_model(graph))
    assert radius is None and "Transpose" in why


def test_measured_overlap_is_the_smallest_that_keeps_50_db(tmp_path):
    source = _source(tmp_path, "bbcu_m", num_feat=16, num_block=2, k=65.0)
    found = measure_tile_overlap(source)
    bound = 2 * math.ceil(receptive_radius(source.onnx_model)[0])
    assert found.meets_threshold and found.upper_bound == bound and 0 < found.pixels < bound
    assert found.psnr_db >= OVERLAP_THRESHOLD_DB
    tried = {t["overlap"]: t["psnr_db"] for t in found.tried}
    assert tried[found.pixels - 2] < OVERLAP_THRESHOLD_DB  # one step less fails
    # Re-check the claim independently: every crop, tiled at the measured overlap and one step below.
    predict = _onnx_predict(source)
    crops, side = overlap_crops(bound)
    worst = {
        o: min(parity_psnr(run_tiled(predict, c, seam_tiles(side, o), 2, o), predict(c[None])[0]) for c in crops)
        for o in (found.pixels - 2, found.pixels)
    }
    assert worst[found.pixels] >= OVERLAP_THRESHOLD_DB > worst[found.pixels - 2]
    assert found.seconds is not None and found.seconds < 30


def test_export_records_the_overlap_and_exports_read_it(tmp_path_factory):
    from bnn_deploy.conversion.export import render_overlap
    from bnn_deploy.core.exports import read_export
    from bnn_deploy.core.manifest import manifest_text, read_manifest
    from support.exports import tiny_export

    out = tiny_export(tmp_path_factory)
    manifest = read_manifest(out)
    assert manifest.tile_overlap is not None and manifest.tile_overlap.meets_threshold
    assert read_export(out).tile_overlap() == manifest.tile_overlap.pixels < DEFAULT_OVERLAP
    assert "tile overlap:" in render_overlap(manifest.tile_overlap)
    # An export that measured nothing (older bnn-deploy) tiles with the default.
    manifest.tile_overlap = None
    (out.parent / "old").mkdir(exist_ok=True)
    for f in out.iterdir():
        if f.is_file() and f.name != "manifest.json":
            (out.parent / "old" / f.name).write_bytes(f.read_bytes())
    (out.parent / "old" / "manifest.json").write_text(manifest_text(manifest))
    assert read_export(out.parent / "old").tile_overlap() == DEFAULT_OVERLAP
