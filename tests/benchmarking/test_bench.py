"""``bnn-deploy bench``: every figure for every artifact, consistent, from real isolated runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from bnn_deploy.core.errors import BnnDeployError
from support.cli import run_cli
from support.exports import LATENCY_KEYS, MEMORY_KEYS, tiny_export

pytestmark = pytest.mark.slow  # end-to-end benches of real exports in worker processes


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    export_dir = tiny_export(tmp_path_factory)
    out = tmp_path_factory.mktemp("bench")
    proc = run_cli(
        "bench",
        export_dir,
        "--device",
        "host",
        "--threads",
        "1",
        "--warmup",
        "1",
        "--runs",
        "4",
        "--max-secs",
        "3",
        "--json-out",
        out / "bench.json",
        "--plot",
        out / "bench.png",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads((out / "bench.json").read_text()), out


def test_every_artifact_has_every_field(bench):
    _, report, _ = bench
    formats = sorted((r["format"], r["role"]) for r in report["results"])
    assert formats == sorted(
        [
            ("lce", "binary"),
            ("tflite-float", "binary"),
            ("onnx", "binary"),
            ("pytorch", "binary"),
            ("tflite-float", "float-ref"),
            ("tflite-int8", "float-ref"),
            ("pytorch", "float-ref"),
        ]
    )
    for r in report["results"]:
        assert "error" not in r, r
        for key in (
            "name",
            "runtime",
            "kernel",
            "threads",
            "input_shape",
            "file",
            "file_size_bytes",
            "sha256",
            "init_ms",
            "first_run_ms",
            "latency_ms",
            "memory",
            "parity",
            "quality",
        ):
            assert key in r, (r["name"], key)
        assert all(k in r["latency_ms"] for k in LATENCY_KEYS)
        assert all(r["memory"].get(k) is not None for k in MEMORY_KEYS), r["memory"]
        assert "psnr_db" in r["parity"] and "psnr_db" in r["quality"] and "ssim" in r["quality"]


def test_numbers_are_consistent(bench):
    _, report, _ = bench
    for r in report["results"]:
        lat = r["latency_ms"]
        assert 0 < lat["min"] <= lat["median"] <= lat["max"]
        assert lat["min"] <= lat["mean"] <= lat["max"] and lat["p90"] <= lat["p99"] <= lat["max"]
        assert 1 <= lat["runs"] <= 4 and lat["std"] >= 0 and r["first_run_ms"] > 0 and r["init_ms"] > 0
        assert Path(r["file"]).stat().st_size == r["file_size_bytes"]
        mem = r["memory"]
        assert 0 < mem["rss_after_import_mb"] <= mem["peak_rss_after_load_mb"] <= mem["peak_rss_mb"]
        assert mem["rss_after_load_mb"] <= mem["peak_rss_after_load_mb"]
        assert mem["peak_over_import_mb"] == pytest.approx(mem["peak_rss_mb"] - mem["rss_after_import_mb"], abs=1e-3)
        assert r["threads"] == 1 and r["input_shape"] == [1, 32, 48, 3]
    by = {(r["format"], r["role"]): r for r in report["results"]}
    for key in (("lce", "binary"), ("tflite-float", "binary"), ("onnx", "binary"), ("tflite-float", "float-ref")):
        assert by[key]["parity"]["psnr_db"] >= 60.0, key
    assert by[("pytorch", "binary")]["parity"]["psnr_db"] == "inf"
    # Every deployment of the binary net scores what PyTorch scores on the photos.
    for key in (("lce", "binary"), ("tflite-float", "binary"), ("onnx", "binary")):
        assert by[key]["quality"]["psnr_db"] == pytest.approx(by[("pytorch", "binary")]["quality"]["psnr_db"], abs=0.05)
    lce = by[("lce", "binary")]
    assert lce["kernel_choice"]["kernel"] == lce["kernel"]
    assert any(c["identical"] for c in lce["kernel_choice"]["candidates"])


def test_speedups_host_and_settings(bench):
    _, report, _ = bench
    lce = next(r for r in report["results"] if r["format"] == "lce")
    assert len(report["speedups"]) == len(report["results"]) - 1
    for s in report["speedups"]:
        base = next(r for r in report["results"] if r["name"] == s["baseline"])
        assert s["speedup"] == pytest.approx(base["latency_ms"]["median"] / lce["latency_ms"]["median"], rel=1e-3)
    host = report["host"]
    assert host["cpu"] and host["os"] and host["logical_cores"] >= 1
    assert {"larq_compute_engine", "onnxruntime", "torch", "numpy"} <= set(host["versions"])
    assert report["settings"] == {
        "threads": [1],
        "warmup": 1,
        "runs": 4,
        "max_secs": 3.0,
        "kernel": "auto",
        "tile_overlap": report["settings"]["tile_overlap"],
    }
    assert report["bicubic"]["psnr_db"] > 20


def test_text_report_and_plot(bench):
    proc, report, out = bench
    assert "speed-up of the binary model (LCE)" in proc.stdout and "kernel auto" in proc.stdout
    assert str(out / "bench.png") in proc.stdout and f"wrote {out / 'bench.json'}" in proc.stderr
    assert "[7/7]" in proc.stderr  # progress on stderr
    with Image.open(out / "bench.png") as img:
        assert img.format == "PNG" and img.size[0] >= 600


def test_bad_input_gives_one_line_errors(tmp_path_factory, tmp_path):
    export_dir = tiny_export(tmp_path_factory)
    cases = [
        (("bench", export_dir, "--threads", "0"), "thread counts must be 1 or more"),
        (("bench", export_dir, "--threads", "1,x"), "is not a list of thread counts"),
        (("bench", tmp_path, "--threads", "1"), "has no manifest.json"),
        (("bench", export_dir, "--device", "pi4"), "has no address; pass --host"),
        (("bench", export_dir, "--kernel", "turbo"), "unknown LCE kernel"),
        (("bench", export_dir, "--predict", "pi9"), "no latency model for device 'pi9'"),
        (("bench", export_dir, "--predict", "pi4", "--predict-threads", "0"), "error: --predict-threads '0'"),
        (
            ("bench", export_dir, "--device", "pi4", "--host", "pi@127.0.0.1:9", "--predict", "pi4"),
            "--predict adds predicted boards",
        ),
    ]
    broken = tmp_path / "broken"
    shutil.copytree(export_dir, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    victim = next(a["file"] for a in manifest["artifacts"] if a["format"] == "tflite-float")
    (broken / victim).write_bytes(b"not the exported file")
    cases.append((("bench", broken), "does not match its sha256"))
    missing = tmp_path / "missing"
    shutil.copytree(export_dir, missing)
    (missing / victim).unlink()
    cases.append((("bench", missing), "listed in manifest.json but missing"))
    for args, message in cases:
        proc = run_cli(*args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and message in lines[0], (args, proc.stderr)


def test_parse_threads():
    from bnn_deploy.core.values import parse_threads

    assert parse_threads("1,2") == [1, 2] and parse_threads(" 2 , 2 ,1") == [2, 1]
    for bad in ("0", "-1", "", "one"):
        with pytest.raises(BnnDeployError, match=r"^--threads "):
            parse_threads(bad)
    with pytest.raises(BnnDeployError, match=r"^--predict-threads '0'.* give e.g. --predict-threads 1,2"):
        parse_threads("0", "--predict-threads")


def test_predict_adds_labelled_board_rows_next_to_the_measured_ones(tmp_path_factory, tmp_path):
    """bench --predict: PREDICTED rows in their own key and block, hollow points on the plot."""
    export_dir = tiny_export(tmp_path_factory)
    proc = run_cli(
        "bench",
        export_dir,
        "--threads",
        "1",
        "--warmup",
        "0",
        "--runs",
        "1",
        "--max-secs",
        "2",
        "--predict",
        "pi4,pixel1",
        "--predict-threads",
        "1,4",
        "--json-out",
        tmp_path / "b.json",
        "--plot",
        tmp_path / "b.png",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "b.json").read_text())
    flatbuffers = [r for r in report["results"] if r["format"] not in ("onnx", "pytorch")]
    predicted = report["predicted"]
    assert len(predicted) == len(flatbuffers) * 2 * 2  # two boards, two thread counts
    assert all(r["label"] == "predicted" and r["low_ms"] <= r["predicted_ms"] <= r["high_ms"] for r in predicted)
    assert {r["device"] for r in predicted} == {"pi4", "pixel1"} and {r["threads"] for r in predicted} == {1, 4}
    assert not any("predicted_ms" in r for r in report["results"])  # never mixed with measurements
    lce = next(r for r in predicted if r["format"] == "lce")
    assert lce["quality"]["psnr_db"] == next(r for r in report["results"] if r["format"] == "lce")["quality"]["psnr_db"]
    assert "PREDICTED on boards" in proc.stdout and Image.open(tmp_path / "b.png").size == (960, 600)


def test_an_unreachable_board_offers_a_prediction(tmp_path_factory, tmp_path):
    from support.devices import free_port
    from support.fake_benchmark import write_fake_benchmark

    export_dir = tiny_export(tmp_path_factory)
    (tmp_path / "empty.toml").write_text("")  # no inventory board named pi4: the profile it is
    proc = run_cli(
        "bench",
        export_dir,
        "--device",
        "pi4",
        "--host",
        f"pi@127.0.0.1:{free_port()}",
        "--runtime-bin",
        write_fake_benchmark(tmp_path),
        env={"BNN_DEPLOY_DEVICES": str(tmp_path / "empty.toml")},
    )
    assert proc.returncode == 1
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert f"bnn-deploy predict {export_dir}" in line and "--device pi4" in line, line
