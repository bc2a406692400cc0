"""Real results of one tiny export for ``compare``: benches and an eval."""

from __future__ import annotations

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
