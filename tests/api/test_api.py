"""``import bnn_deploy``: the documented functions, loaded lazily, returning the CLI's typed results."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bnn_deploy
from bnn_deploy.core.errors import BnnDeployError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HEAVY = ("torch", "tensorflow", "onnx", "onnxruntime", "larq_compute_engine", "tqdm")


def _fresh(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_all_names_documented_functions():
    api = [n for n in bnn_deploy.__all__ if n != "__version__"]
    assert api == ["export", "evaluate", "bench", "profile", "predict", "upscale", "load_checkpoint", "create_model"]
    text = DOCS.read_text()
    for name in api:
        function = getattr(bnn_deploy, name)
        assert callable(function) and function.__doc__ and function.__module__ == "bnn_deploy.api"
        assert f"`{name}(" in text, name  # in the docs' table
    assert set(bnn_deploy.__all__) <= set(dir(bnn_deploy))
    with pytest.raises(AttributeError, match="no attribute 'exprot'"):
        bnn_deploy.exprot  # noqa: B018


def test_import_and_attribute_access_load_no_framework():
    code = (
        "import sys, bnn_deploy\n"
        "functions = [getattr(bnn_deploy, n) for n in bnn_deploy.__all__]\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert _fresh(code) == "[]"


def test_help_stays_light():
    code = (
        "import sys\nfrom bnn_deploy.cli import main\nrc = main(['--help'])\n"
        f"print(rc, sorted(m for m in {HEAVY + ('bnn_deploy.api',)!r} if m in sys.modules))"
    )
    assert _fresh(code) == "0 []"


def test_typed_results_and_models():
    from bnn_deploy.models.checkpoint import LoadedCheckpoint

    loaded = bnn_deploy.load_checkpoint("bbcu_m_x2_small")
    assert isinstance(loaded, LoadedCheckpoint) and loaded.arch == "bbcu_m" and loaded.config["scale"] == 2
    model = bnn_deploy.create_model("bbcu_m", scale=2, num_feat=8, num_block=1)
    assert model.config["num_feat"] == 8
    with pytest.raises(BnnDeployError, match="unknown architecture"):
        bnn_deploy.create_model("resnet50")


def test_arguments_are_checked_before_any_work(tmp_path):
    with pytest.raises(BnnDeployError, match="not WIDTHxHEIGHT"):
        bnn_deploy.export("bbcu_m_x2_small", input_sizes=["big"], out_dir=tmp_path / "x")
    with pytest.raises(BnnDeployError, match="unknown --format keras"):
        bnn_deploy.export("bbcu_m_x2_small", formats="lce,keras", out_dir=tmp_path / "x")
    with pytest.raises(BnnDeployError, match="memory_budget 'lots' is not a memory size"):
        bnn_deploy.evaluate("bbcu_m_x2_small", memory_budget="lots")
    with pytest.raises(BnnDeployError, match="bench has no option thread; the options are"):
        bnn_deploy.bench(tmp_path, thread=1)
    from bnn_deploy.benchmarking.options import BenchOptions

    with pytest.raises(BnnDeployError, match="both a BenchOptions and the keywords runs"):
        bnn_deploy.bench(tmp_path, BenchOptions(), runs=3)
    with pytest.raises(BnnDeployError, match="thread counts must be 1 or more"):
        bnn_deploy.bench(tmp_path, threads="0")
    with pytest.raises(BnnDeployError, match="is not a list of thread counts"):
        bnn_deploy.predict(tmp_path, threads="many")
    assert not (tmp_path / "x").exists() and list(tmp_path.iterdir()) == []


def test_profile_checks_its_options_like_bench():
    with pytest.raises(BnnDeployError, match="profile has no option nope"):
        bnn_deploy.profile("/nonexistent/export", nope=1)
    with pytest.raises(BnnDeployError, match="not found"):
        bnn_deploy.profile("/nonexistent/export", threads=1)


def test_parse_python_blocks_of_the_docs():
    blocks = python_blocks()
    assert len(blocks) == 1 and "bnn_deploy.export(" in blocks[0] and "bnn_deploy.upscale(" in blocks[0]


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", DOCS.read_text(), flags=re.M | re.S)


@pytest.mark.slow
def test_the_worked_example_runs(tmp_path):
    """docs/api.md's example, run as it is written, in a fresh interpreter in an empty folder."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        [sys.executable, "-c", python_blocks()[0]], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=1800
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "bbcu_m x 2" in out and "lce parity" in out and "onnx parity" in out
    assert "[400, 300] " in out and "tiles; parity vs PyTorch" in out
    assert "pi4 4 threads:" in out and "(predicted)" in out and "ms median" in out
    assert (tmp_path / "astronaut_x2.png").is_file() and (tmp_path / "out" / "bbcu" / "manifest.json").is_file()


def test_export_passes_every_cli_option(monkeypatch, tmp_path):
    """The API's export takes what ``bnn-deploy export`` takes, ``--no-fold`` included."""
    import inspect

    from bnn_deploy.conversion import export as conversion_export

    model_options = set(inspect.signature(conversion_export.export_model).parameters) - {"source"}
    api_options = set(inspect.signature(bnn_deploy.export).parameters) - {"source"}
    seen = {}
    monkeypatch.setattr(conversion_export, "export_model", lambda source, **kw: seen.update(kw))
    bnn_deploy.export("bbcu_m_x2_small", out_dir=tmp_path / "x", fold=False)
    assert seen["fold"] is False
    # test and benchmark knobs, and the overlap plan hands on to its candidate exports (measured once per model)
    assert model_options - api_options <= {"parity_photos", "num_threads", "tile_overlap"}
