"""Whole frames through real artifacts in a fresh worker: timing, stitching, memory, odd frame sizes."""

from __future__ import annotations

import numpy as np
import pytest

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.runtimes.frames import check_frame, frame_geometry, time_frame, time_frames
from support.exports import EXPORT_HW, tiny_export


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    from bnn_deploy.core.exports import read_export

    return read_export(tiny_export(tmp_path_factory))


def test_frame_geometry_of_odd_frames():
    even = frame_geometry((1920, 1080), 2)
    assert even.lr_hw == (540, 960) and "cropped" not in even.describe()
    odd = frame_geometry((1921, 1081), 2)
    assert odd.lr_hw == (541, 961)
    assert "LR frame 961x541, output 1922x1082 cropped by 1 column(s) and 1 row(s)" in odd.describe()
    with pytest.raises(BnnDeployError, match="smaller than the 320x180 tile of x; give a frame of at least 640x360"):
        check_frame(frame_geometry((600, 400), 2), (180, 320), "x")


def test_tiled_frame_is_timed_whole_and_matches_the_in_process_tiling(exp, tmp_path):
    """The worker's frame is what tiling the same LR frame in this process gives; its timing adds up."""
    from bnn_deploy.core.photos import bench_input
    from bnn_deploy.core.tiling import run_tiled
    from bnn_deploy.runtimes.artifacts import open_artifact

    lce = exp.of("lce")[0]
    geometry = frame_geometry((161, 97), exp.scale)  # odd: LR 81x49, output cropped by one column and row
    row = time_frame(lce, geometry, overlap=exp.tile_overlap(), runs=3, keep_output=True, workdir=tmp_path)
    assert "error" not in row, row.get("error")
    out = row.pop("output")
    assert out.shape == (97, 161, 3)
    runner = open_artifact(lce, kernel=row["kernel"])
    lr = bench_input(geometry.lr_hw, exp.scale)[0]
    expected = run_tiled(runner.predict, lr, EXPORT_HW, exp.scale, exp.tile_overlap())[:97, :161]
    assert np.array_equal(out, expected)
    assert row["tiles"] == 4 and row["grid"] == [2, 2] and row["tile"] == "48x32" and row["label"] == "measured"
    frame, tiles = row["frame_ms"], row["tiles_sum_ms"]
    assert frame["runs"] == 3 and row["tile_ms"]["runs"] == 12
    assert 0 < tiles["median"] <= frame["median"] and row["stitching_ms"] >= 0
    assert row["fps"] == pytest.approx(1e3 / frame["median"])
    mem = row["memory"]
    # input + x2 output of a tile at least; the frame run adds its frames on top
    assert 4 * 3 * 32 * 48 * 5 <= mem["tile_peak_over_import_mb"] * 2**20 <= mem["frame_peak_over_import_mb"] * 2**20


@pytest.mark.slow
def test_memory_only_run_and_whole_frame_runtimes(exp, tmp_path):
    geometry = frame_geometry((128, 80), exp.scale)
    lce = time_frame(exp.of("lce")[0], geometry, overlap=4, runs=0, workdir=tmp_path)
    assert lce["frame_ms"] is None and lce["memory"]["tile_peak_over_import_mb"] > 0
    rows = time_frames(
        [(exp.of("pytorch")[0], 1, None), (exp.of("onnx")[0], 1, None), (exp.of("lce")[0], 1, None)],
        geometry,
        overlap=exp.tile_overlap(),
        runs=1,
    )
    torch, onnx, lce = rows
    assert torch["tiles"] == onnx["tiles"] == 1 and torch["tile"] is None  # any size: the frame runs whole
    assert torch["parity"]["psnr_db"] == "inf"
    assert onnx["parity"]["psnr_db"] == "inf" or onnx["parity"]["psnr_db"] > 60
    assert lce["tiles"] > 1 and lce["parity"]["psnr_db"] >= 50.0  # stitched vs PyTorch on the whole frame
