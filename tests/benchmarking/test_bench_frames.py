"""``bench --frame WxH``: whole tiled frames timed on this host next to the sum of their tiles."""

from __future__ import annotations

import json

import pytest

from support.cli import run_cli
from support.exports import tiny_export


@pytest.mark.slow
def test_bench_times_whole_frames_of_every_artifact(tmp_path_factory, tmp_path):
    from bnn_deploy.core.exports import read_export

    export_dir = tiny_export(tmp_path_factory)
    proc = run_cli(
        *("bench", export_dir, "--frame", "161x97", "--runs", "2", "--warmup", "0", "--max-secs", "2"),
        *("--kernel", "indirect_bgemm", "--json-out", tmp_path / "bench.json"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["settings"]["frame"] == "161x97"
    overlap = read_export(export_dir).tile_overlap()
    assert report["settings"]["tile_overlap"] == overlap  # the overlap the export measured for the model
    frames = {f["artifact"]: f for f in report["frames"]}
    assert set(frames) == {r["name"] for r in report["results"]}  # one frame row per artifact run
    for f in frames.values():
        assert f["label"] == "measured" and f["frame"] == "161x97" and f["lr_frame"] == "81x49"
        assert f["frame_ms"]["runs"] >= 1 and f["fps"] == pytest.approx(1e3 / f["frame_ms"]["median"], rel=1e-4)
        assert f["tiles_sum_ms"]["median"] <= f["frame_ms"]["median"]
        fixed = f["tile"] is not None
        assert f["tiles"] == (4 if fixed else 1) and (f["overlap"] == overlap if fixed else f["overlap"] is None)
    lce = frames["lce 48x32"]
    assert lce["parity"]["psnr_db"] == "inf" or lce["parity"]["psnr_db"] >= 50.0  # stitched vs PyTorch whole
    assert "whole frames, measured on this host" in proc.stdout and "lce 48x32" in proc.stdout


def test_frame_errors_come_before_any_work(tmp_path_factory):
    from bnn_deploy.benchmarking.host import bench_export
    from bnn_deploy.benchmarking.options import BenchOptions
    from bnn_deploy.core.errors import BnnDeployError

    export_dir = tiny_export(tmp_path_factory)
    with pytest.raises(BnnDeployError, match="--frame times whole tiled frames on this machine only"):
        BenchOptions(device="pi4", frame=(640, 360)).check()
    said = []
    with pytest.raises(BnnDeployError, match="--frame 80x50 at ×2 is a 40x25 LR frame, smaller than the 48x32 tile"):
        bench_export(str(export_dir), BenchOptions(frame=(80, 50)), progress=said.append)
    assert said == []  # nothing ran
    proc = run_cli("bench", export_dir, "--frame", "wide")
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert proc.returncode == 1 and len(errors) == 1 and "--frame 'wide' is not WIDTHxHEIGHT" in errors[0]
