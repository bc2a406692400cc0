"""Tiled inference: border-flush tiles, interior-side crops, and ≥ 50 dB against the whole image."""

from __future__ import annotations

import numpy as np
import pytest

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.tiling import (
    DEFAULT_OVERLAP,
    OVERLAP_THRESHOLD_DB,
    choose_input_size,
    plan_axis,
    run_tiled,
    smallest_overlap,
    tile_count,
    tile_for_count,
    tiling_work,
)
from bnn_deploy.core.values import parse_memory
from support.exports import EXPORT_HW, tiny_export


@pytest.mark.parametrize(
    "length, tile, overlap",
    [(100, 32, 8), (48, 48, 16), (49, 48, 16), (7, 48, 16), (1000, 180, 16), (97, 20, 0), (64, 17, 16)],
)
def test_axis_plan_covers_the_axis_with_flush_border_tiles(length, tile, overlap):
    plan = plan_axis(length, tile, overlap)
    assert plan.starts[0] == 0
    assert plan.cuts[0] == 0 and plan.cuts[-1] == length
    if length >= tile:
        assert plan.starts[-1] == length - tile and plan.padded == 0  # flush with both borders
    else:
        assert plan.starts == (0,) and plan.padded == tile - length
    for i, start in enumerate(plan.starts):
        lo, hi = plan.cuts[i], plan.cuts[i + 1]
        assert start <= lo < hi <= start + tile  # each tile keeps a non-empty part of itself
        if i > 0:  # neighbours overlap by at least the overlap; the cut leaves context on both sides
            assert plan.starts[i - 1] + tile - start >= overlap
            assert lo - start >= overlap // 2 and plan.starts[i - 1] + tile - lo >= overlap // 2


def test_bad_overlap_is_a_clear_error():
    with pytest.raises(BnnDeployError, match="smaller than the tile"):
        plan_axis(100, 16, 16)
    with pytest.raises(BnnDeployError, match="at least 0"):
        plan_axis(100, 16, -1)


def _torch_predict(**config):
    from bnn_deploy.runtimes.torch_eager import open_torch
    from support.models import tiny_model

    return open_torch("tiny", model=tiny_model("bbcu_m", **config)).predict


def test_tiled_matches_whole_image_at_the_default_overlap(photo):
    """Worst case: the image length makes neighbours overlap by exactly the default overlap."""
    from bnn_deploy.core.parity import parity_psnr

    predict = _torch_predict(num_feat=32, num_block=4, k=65.0)
    tile = 40
    side = 3 * (tile - DEFAULT_OVERLAP) + DEFAULT_OVERLAP
    img = np.ascontiguousarray(photo[:side, :side])
    assert plan_axis(side, tile, DEFAULT_OVERLAP).starts == (0, tile - DEFAULT_OVERLAP, 2 * (tile - DEFAULT_OVERLAP))
    whole = predict(img[None])[0]
    tiled = run_tiled(predict, img, (tile, tile), 2, DEFAULT_OVERLAP)
    assert tiled.shape == whole.shape
    assert parity_psnr(tiled, whole) >= 50.0
    # Without overlap the seams show: the test would catch a stitching that ignores context.
    seams = np.ascontiguousarray(photo[:120, :120])  # 3 x 40 exactly: no overlap at all
    assert parity_psnr(run_tiled(predict, seams, (40, 40), 2, 0), predict(seams[None])[0]) < 50.0


def test_lce_artifact_tiled_over_a_photo_matches_pytorch_on_the_whole_image(tmp_path_factory, photo):
    from bnn_deploy.core.exports import read_export
    from bnn_deploy.core.parity import parity_psnr
    from bnn_deploy.runtimes.artifacts import open_artifact

    exp = read_export(tiny_export(tmp_path_factory))
    img = np.ascontiguousarray(photo[:75, :101])
    lce = open_artifact(exp.of("lce")[0])
    whole = open_artifact(exp.of("pytorch")[0]).predict(img[None])[0]
    tiled = run_tiled(lce.predict, img, EXPORT_HW, 2)
    assert tile_count(img.shape[:2], EXPORT_HW) > 4
    assert parity_psnr(tiled, whole) >= 50.0


def test_image_smaller_than_the_tile_is_padded_and_cropped_back(photo):
    predict = _torch_predict()
    img = np.ascontiguousarray(photo[:10, :13])
    seen = []

    def fixed(x):
        seen.append(x.shape)
        return predict(x)

    out = run_tiled(fixed, img, (16, 16), 2)
    assert out.shape == (20, 26, 3) and seen == [(1, 16, 16, 3)]


def test_tiles_stitched_into_uint8_are_the_quantised_float_image(photo):
    """upscale stitches into the PNG's 8-bit pixels: the same pixels as quantising the float image."""
    from bnn_deploy.core.metrics import to_uint8

    predict = _torch_predict()
    img = np.ascontiguousarray(photo[:70, :90])
    stitched = run_tiled(predict, img, (32, 40), 2, 8)
    out = np.zeros((140, 180, 3), dtype=np.uint8)
    assert run_tiled(predict, img, (32, 40), 2, 8, out=out) is out
    np.testing.assert_array_equal(out, to_uint8(stitched))
    assert len(np.unique(out)) > 100  # a real picture, not a constant
    with pytest.raises(BnnDeployError, match="output buffer"):
        run_tiled(predict, img, (32, 40), 2, 8, out=np.zeros((70, 90, 3), dtype=np.uint8))


def test_memory_budget_picks_the_largest_size_that_fits():
    need = {(90, 160): 40 << 20, (180, 320): 150 << 20, (360, 640): 600 << 20}
    measured = []

    def measure(hw):
        measured.append(hw)
        return need[hw]

    assert choose_input_size(list(need), 256 << 20, measure) == ((180, 320), 150 << 20)
    assert measured == [(360, 640), (180, 320)]  # largest first, stop at the first fit
    assert choose_input_size(list(need), None, measure) == ((360, 640), None)
    with pytest.raises(BnnDeployError, match="smallest exported size 160x90 needs ~40 MB"):
        choose_input_size(list(need), 16 << 20, measure)


def test_measured_peak_memory_of_a_real_artifact(tmp_path_factory):
    from bnn_deploy.core.exports import read_export
    from bnn_deploy.runtimes.isolated import measure_peak_memory

    exp = read_export(tiny_export(tmp_path_factory))
    h, w = EXPORT_HW
    peak = measure_peak_memory(exp.of("lce")[0], scale=exp.scale)
    assert 4 * h * w * 3 * (1 + 4) <= peak < 200 << 20  # at least input + x2 output; a tiny model


@pytest.mark.parametrize(
    "text, value",
    [("256MB", 256 << 20), ("1GB", 1 << 30), ("1.5G", 3 << 29), ("512MiB", 512 << 20), ("2097152", 2 << 20)],
)
def test_parse_memory(text, value):
    assert parse_memory(text) == value


@pytest.mark.parametrize("text", ["lots", "-5MB", "12XB", "100KB"])
def test_parse_memory_rejects(text):
    with pytest.raises(BnnDeployError, match="memory-budget"):
        parse_memory(text)


@pytest.mark.parametrize("length, overlap", [(960, 24), (540, 12), (1000, 0), (97, 10), (30, 24)])
def test_tile_for_count_is_the_smallest_tile_for_that_many_tiles(length, overlap):
    for count in range(1, 12):
        tile = tile_for_count(length, count, overlap)
        made = len(plan_axis(length, tile, overlap).starts)
        assert made <= count
        if tile > overlap + 1 and tile > 1:  # one pixel less needs more tiles
            assert len(plan_axis(length, tile - 1, overlap).starts) > made


def test_tiling_work_counts_the_pixels_computed():
    work = tiling_work((540, 960), (282, 492), 24)
    assert work.grid == (2, 2) and work.tiles == 4 and not work.padded
    assert work.overhead == pytest.approx(4 * 282 * 492 / (540 * 960))
    assert work.least_overhead == pytest.approx((540 + 24) * (960 + 24) / (540 * 960)) == work.overhead
    default = tiling_work((540, 960), (180, 320), 24)  # the default export at 1080p x2: 4x4 tiles
    assert default.grid == (4, 4) and default.overhead == pytest.approx(16 * 180 * 320 / (540 * 960))
    assert tiling_work((100, 100), (180, 320), 24).padded


def test_smallest_overlap_search(photo):
    """The binary search returns the smallest passing overlap and records what it tried."""
    predict = _torch_predict(num_feat=16, num_block=2, k=65.0)
    crops = [np.ascontiguousarray(photo[i : i + 64, i : i + 64]) for i in (60, 200)]
    found = smallest_overlap(predict, crops, 14, exact_at_upper=False)
    tried = {t["overlap"]: t["psnr_db"] for t in found["tried"]}
    assert found["meets_threshold"] and tried[14] >= OVERLAP_THRESHOLD_DB
    assert found["psnr_db"] >= OVERLAP_THRESHOLD_DB and found["pixels"] > 0
    assert tried[found["pixels"] - 2] < OVERLAP_THRESHOLD_DB
    strict = smallest_overlap(predict, crops, 6, exact_at_upper=False, threshold_db=400.0)  # 6 < the radius
    assert not strict["meets_threshold"] and strict["pixels"] == 6 and [t["overlap"] for t in strict["tried"]] == [6]
    with pytest.raises(BnnDeployError, match="even side above"):
        smallest_overlap(predict, [crops[0][:63, :63]], 14, exact_at_upper=False)
