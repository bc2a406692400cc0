"""Real results of one tiny export for ``compare`` and ``report``: benches, an eval, a prediction, a profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import run_cli
from support.exports import tiny_export

BENCH_RUNS = {"a": 100, "b": 100, "c": 20}  # two runs with a tail worth a p99, one without


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory) -> Path:
    return tiny_export(tmp_path_factory)


@pytest.fixture(scope="session")
def benches(tmp_path_factory, export_dir) -> dict[str, Path]:
    """Three real host benches of the tiny export: ``a`` and ``b`` with 100 timed runs, ``c`` with 20."""
    out = tmp_path_factory.mktemp("benches")
    paths = {}
    for name, runs in BENCH_RUNS.items():
        paths[name] = out / f"{name}.json"
        proc = run_cli(
            "bench",
            export_dir,
            "--threads",
            "1",
            "--warmup",
            "1",
            "--runs",
            runs,
            "--max-secs",
            "120",
            "--json-out",
            paths[name],
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    return paths


@pytest.fixture(scope="session")
def eval_json(tmp_path_factory, export_dir, photo) -> Path:
    """A real ``eval`` of the tiny export on two small photo crops (its eval.json and crops)."""
    from bnn_deploy.core.images import save_image

    images = tmp_path_factory.mktemp("eval-images")
    save_image(images / "a.png", photo[:90, :121])
    save_image(images / "b.png", photo[200:271, 300:401])
    out = tmp_path_factory.mktemp("eval")
    proc = run_cli("eval", export_dir, "--images", images, "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "eval.json"


@pytest.fixture(scope="session")
def predict_json(tmp_path_factory, export_dir) -> Path:
    """The latency model's prediction for the export's LCE flatbuffer on a Pi 4 and a Pi 5."""
    from bnn_deploy.core.jsonio import write_json
    from bnn_deploy.prediction.predict import predict

    path = tmp_path_factory.mktemp("predict") / "predict.json"
    write_json(path, predict(export_dir, devices=("pi4", "pi5"), threads=(1,)))
    return path


@pytest.fixture(scope="session")
def profile_json(tmp_path_factory, export_dir) -> Path:
    """A per-op profile of the export's LCE flatbuffer in the ``profiles`` shape another writer may use.

    The ops, their order, types and PyTorch modules are read from the real flatbuffer; the times are
    made up (1.0 ms per binary conv, 0.1 ms per other op). Device, threads and kernel match the Pi 4
    prediction, so the page puts the two side by side. ``bnn-deploy profile``'s own JSON is read in
    ``test_report_profile.py``.
    """
    from bnn_deploy.core.flatbuffer import module_path, read_flatbuffer

    manifest = json.loads((export_dir / "manifest.json").read_text())
    lce = next(a["file"] for a in manifest["artifacts"] if a["format"] == "lce")
    fb = read_flatbuffer((export_dir / lce).read_bytes())
    ops = [
        {"op": op.kind, "module": module_path(op), "binary": op.kind == "LceBconv2d"}
        | {"ms": 1.0 if op.kind == "LceBconv2d" else 0.1}
        for op in fb.ops
    ]
    total = sum(op["ms"] for op in ops)
    profile = {
        "profiles": [
            {
                "artifact": lce,
                "device": "pi4",
                "threads": 1,
                "kernel": "xnnpack",
                "whole_ms": total * 1.05,
                "ops_sum_ms": total,
                "ops": ops,
            }
        ]
    }
    path = tmp_path_factory.mktemp("profile") / "profile.json"
    path.write_text(json.dumps(profile))
    return path


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium from Debian (``apt-get install chromium``; .ci/apt-packages-report.txt lists it)."""
    from support.chromium import Browser, find_chromium

    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/apt-packages-report.txt lists it)")
    browser = Browser(exe)
    yield browser
    browser.close()
