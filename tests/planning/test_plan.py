"""``bnn-deploy plan``: candidates, real exports and real frames on this host, predictions for a board, errors."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.tiling import OVERLAP_THRESHOLD_DB, plan_axis, tiling_work
from bnn_deploy.planning import plan, render_plan
from bnn_deploy.planning.candidates import MIN_TILE, enumerate_candidates
from bnn_deploy.planning.plan import TIE
from support.cli import run_cli
from support.exports import tiny_export

FRAME = (400, 256)  # output; LR 200x128 at x2: a few candidates, each a tiny export


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from bnn_deploy.models.checkpoint import save_checkpoint
    from support.models import tiny_model

    path = tmp_path_factory.mktemp("plan") / "tiny_plan.pt"
    save_checkpoint(path, tiny_model("bbcu_m", num_feat=16, num_block=2, k=65.0))
    return path


def test_the_issue_figures_and_the_front():
    """The default 320x180 export computes 1.78x a 1080p frame's pixels and 2.25x a 720p one's (24 px overlap)."""
    assert tiling_work((540, 960), (180, 320), 24).overhead == pytest.approx(1.778, abs=1e-3)
    assert tiling_work((360, 640), (180, 320), 24).overhead == pytest.approx(2.25)
    assert tiling_work((540, 960), (294, 504), 24).overhead == pytest.approx(1.143, abs=1e-3)
    front = enumerate_candidates((540, 960), 24)
    assert front[-1].label == "960x540" and front[-1].work.overhead == 1.0
    assert "492x282" in {c.label for c in front}  # 2x2 tiles: only the overlap is computed twice
    for smaller, larger in zip(front, front[1:]):  # more memory only ever buys less work
        assert smaller.pixels < larger.pixels and smaller.work.overhead > larger.work.overhead
    for c in front:
        th, tw = c.tile_hw
        assert min(th, tw) >= MIN_TILE and c.work.overhead <= 2.0
        # each tile is the smallest for its tile counts: one pixel less needs another tile
        assert len(plan_axis(540, th - 1, 24).starts) > c.work.grid[0] or th == 540
        assert len(plan_axis(960, tw - 1, 24).starts) > c.work.grid[1] or tw == 960


@pytest.mark.slow
def test_host_plan_measures_chooses_and_exports(ckpt, tmp_path):
    free = plan(str(ckpt), frame=FRAME, max_measured=3)
    rows = free["candidates"]
    assert len(rows) == 3 and free["enumerated"] >= len(rows) and free["label"] == "measured"
    assert free["comparison"] is None and any("320x180" in n for n in free["notes"])  # the default does not fit
    for r in rows:
        assert r["latency_label"] == r["memory_label"] == r["status"] == "measured"
        assert r["tiles_sum_ms"] <= r["frame_ms"] and r["fps"] == pytest.approx(1e3 / r["frame_ms"])
        assert r["parity"]["psnr_db"] == "inf" or r["parity"]["psnr_db"] >= OVERLAP_THRESHOLD_DB
        assert r["memory_mb"] >= r["tile_memory_mb"] > 0
    chosen = next(r for r in rows if r["chosen"])
    assert free["chosen"] == chosen["tile"] and chosen["frame_ms"] <= min(r["frame_ms"] for r in rows) * (1 + TIE)
    assert all(r["status"] == "not measured" for r in free["not_measured"])
    assert "chosen:" in render_plan(free)
    # A budget below the chosen tile's peak moves the choice to a tile that fits, and --export writes it.
    peaks = sorted(r["memory_mb"] for r in rows)
    budget = int((peaks[0] + peaks[-1]) / 2 * 2**20)
    out = tmp_path / "chosen"
    tight = plan(str(ckpt), frame=FRAME, memory_budget=budget, max_measured=3, export=str(out))
    pick = next(r for r in tight["candidates"] if r["chosen"])
    assert pick["memory_mb"] * 2**20 <= budget and pick["fits_budget"]
    big = max(rows, key=lambda r: r["memory_mb"])["tile"]  # over the budget: not chosen (nor measured, if foreseen)
    tight_rows = {r["tile"]: r for r in tight["candidates"]}
    assert tight["chosen"] != big and (big not in tight_rows or tight_rows[big]["fits_budget"] is False)
    from bnn_deploy.core.exports import read_export

    exported = read_export(out)
    assert [f"{w}x{h}" for w, h in exported.manifest.input_sizes] == [pick["tile"]]
    assert exported.tile_overlap() == tight["overlap"]["pixels"] == free["overlap"]["pixels"]


@pytest.mark.slow
def test_board_plan_is_predicted_and_labelled(ckpt, tmp_path):
    proc = run_cli("plan", ckpt, "--frame", "400x256", "--device", "pi5", "--threads", "4", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)  # --json: nothing else on stdout (progress and converter logs on stderr)
    assert report["label"] == "predicted latency, estimated memory"
    for r in report["candidates"]:
        assert r["latency_label"] == "predicted" and r["memory_label"] == "estimated"
        assert r["frame_ms"] == pytest.approx(r["tile_ms"] * r["tiles"], rel=1e-4)  # JSON: 6 digits
        assert r["frame_ms_range"][0] < r["frame_ms"] < r["frame_ms_range"][1]
        assert "ESTIMATED for pi5" in r["memory_what"]
    chosen = next(r for r in report["candidates"] if r["chosen"])
    # the chosen board plan's stitched frame is still checked, on this host, against PyTorch
    assert chosen["parity"]["psnr_db"] == "inf" or chosen["parity"]["psnr_db"] >= OVERLAP_THRESHOLD_DB
    assert "[1]" in proc.stderr and "estimating its memory" in proc.stderr
    text = render_plan(report)
    line = next(ln for ln in text.splitlines() if ln.startswith("chosen:"))
    assert "PREDICTED" in line and "ESTIMATED" in line and "measured" not in line


@pytest.mark.slow
def test_budget_below_the_smallest_candidate_fails_after_one_measurement(ckpt):
    start = time.perf_counter()
    with pytest.raises(BnnDeployError, match=r"below the smallest candidate's peak: \d+x\d+ LR tiles need .*give at"):
        plan(str(ckpt), frame=FRAME, memory_budget=2 << 20)
    assert time.perf_counter() - start < 120


def test_bad_input_is_refused_before_any_work(ckpt, tmp_path, tmp_path_factory):
    def refused(match, *args, **kwargs):
        start = time.perf_counter()
        with pytest.raises(BnnDeployError, match=match):
            plan(*args, **kwargs)
        assert time.perf_counter() - start < 10  # no export, no worker

    refused(r"unknown --device 'pi9'; choose host .* \(pi4, pi5", str(ckpt), frame=FRAME, device="pi9")
    refused("--threads 99 is more than", str(ckpt), frame=FRAME, threads=99)
    refused(
        r"below what any plan for 1920x1080 frames needs.*\d+ MB", str(ckpt), frame=(1920, 1080), memory_budget=1 << 20
    )
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    refused("not empty and is not a bnn-deploy export", str(ckpt), frame=FRAME, export=str(tmp_path / "mine"))
    refused("is ONNX: export it first", str(tmp_path / "m.onnx"), frame=FRAME)
    # An export whose checkpoint is gone can only use its own sizes: a frame smaller than them is refused.
    orphan = tmp_path / "orphan"
    shutil.copytree(tiny_export(tmp_path_factory), orphan, ignore=shutil.ignore_patterns("eval"))
    manifest = json.loads((orphan / "manifest.json").read_text())
    manifest["source"]["path"] = str(tmp_path / "gone.pt")
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["role"] == "binary"]
    (orphan / "manifest.json").write_text(json.dumps(manifest))
    refused(r"--frame 60x40 at ×2 is a 30x20 LR frame, smaller than the 48x32 tile", str(orphan), frame=(60, 40))
    proc = run_cli("plan", ckpt, "--frame", "big", "--device", "pi9")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "--frame 'big' is not WIDTHxHEIGHT" in proc.stderr


@pytest.mark.slow
def test_a_size_that_fails_the_export_gate_is_skipped_not_fatal(tmp_path, tmp_path_factory):
    """New sizes of an export pass the gate it was exported with; one that fails is reported and skipped."""
    strict = tmp_path / "strict"
    shutil.copytree(tiny_export(tmp_path_factory), strict, ignore=shutil.ignore_patterns("eval"))
    manifest = json.loads((strict / "manifest.json").read_text())
    manifest["min_parity_db"] = 400.0  # no new graph can pass this; the exported 48x32 one is kept as it is
    (strict / "manifest.json").write_text(json.dumps(manifest))
    report = plan(str(strict), frame=(160, 96), max_measured=1)
    assert report["chosen"] == "48x32" and [r["tile"] for r in report["candidates"]] == ["48x32"]
    failed = [r for r in report["not_measured"] if r["status"].startswith("export failed")]
    assert failed and "below --min-parity-db 400" in failed[0]["status"]
