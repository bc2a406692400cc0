"""``bnn-deploy profile`` and ``bench --profile / --kernel / --runtime-arg / --print-commands`` on boards.

Host profiles are measured for real (each op cut out and run alone in LCE's interpreter) on the
bundled default model and on an official-layout BBCU-M ×2 (64 features, 16 blocks, random non-zero
biases), at small input sizes to stay quick (the 320×180 figures come from
``benchmarks/profile_bbcu.py``). Board runs use a board that is this machine (an inventory entry
with ``transport = "local"``) running the ``lce_benchmark_model`` stand-in, which prints the real
tool's tables.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from bnn_deploy.benchmarking.options import BenchOptions
from bnn_deploy.core.flatbuffer import read_flatbuffer
from bnn_deploy.devices.lce_benchmark import kernel_flags
from bnn_deploy.runtimes.lce import IDENTICAL_TOLERANCE
from support.cli import run_cli
from support.fake_benchmark import write_fake_benchmark

pytestmark = pytest.mark.slow  # real exports, every op of them timed, and whole benches

HW = (24, 32)  # (height, width): small, so that ~220 single-op graphs run quickly


def one_error_line(proc) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def _export(source, out: Path, formats=("lce",)) -> Path:
    from bnn_deploy.conversion.export import export_model

    export_model(source, formats=formats, input_sizes=[(HW[1], HW[0])], out_dir=out, parity_photos=1, num_threads=1)
    return out


@pytest.fixture(scope="module")
def default_export(tmp_path_factory):
    """The bundled default model, exported to LCE and float TFLite."""
    return _export("bbcu_m_x2_small", tmp_path_factory.mktemp("default") / "export", ("lce", "tflite-float"))


@pytest.fixture(scope="module")
def official_export(tmp_path_factory):
    """An official-layout BBCU-M ×2 checkpoint (BasicSR's {'params': state_dict}, 64 features, 16
    blocks, random non-zero biases as in a trained model), exported to LCE."""
    import torch

    from bnn_deploy.models.registry import create_model
    from support.models import randomize_

    folder = tmp_path_factory.mktemp("official")
    model = randomize_(create_model("bbcu_m", scale=2, num_feat=64, num_block=16))
    torch.save({"params": model.state_dict()}, folder / "BBCUMx2.pth")
    return _export(folder / "BBCUMx2.pth", folder / "export")


@pytest.fixture(scope="module")
def local_board(tmp_path_factory):
    """An inventory with board ``here``: this machine as a board (local transport), and the stand-in."""
    folder = tmp_path_factory.mktemp("local-board")
    (folder / "board").mkdir()
    inv = folder / "devices.toml"
    inv.write_text(
        f'[devices.here]\nprofile = "host"\ntransport = "local"\nwork_dir = "{folder / "board"}"\n'
        f'python = "{sys.executable}"\n'
    )
    fake = write_fake_benchmark(folder)
    args = ("--device", "here", "--inventory", inv, "--runtime-bin", fake)
    return {"inventory": inv, "fake": fake, "board": folder / "board", "dir": folder, "args": args}


def lce_artifact(report: dict) -> dict:
    return next(a for a in report["artifacts"] if a["format"] == "lce")


def check_profile(art: dict, export: Path, bconv_modules: set[str] | None = None) -> None:
    """One row per op of the flatbuffer, in order, with its module; every LceBconv2d names its module."""
    fb = read_flatbuffer((export / Path(art["file"]).name).read_bytes())
    assert [(op["index"], op["op"]) for op in art["ops"]] == [(op.index, op.kind) for op in fb.ops]
    bconvs = [op for op in art["ops"] if op["op"] == "LceBconv2d"]
    assert bconvs and all(op["class"] == "binary" and op["module"] for op in bconvs)
    assert all(op["module"].endswith("binary_conv") for op in bconvs)
    if bconv_modules is not None:
        assert {op["module"] for op in bconvs} == bconv_modules
    assert all(op["class"] != "binary" for op in art["ops"] if op["op"] != "LceBconv2d")
    assert art["ops"][-1]["cum_percent"] == pytest.approx(100.0)
    assert sum(t["count"] for t in art["by_type"]) == len(fb.ops)
    split = art["split"]
    assert split["binary_percent"] + split["glue_percent"] == pytest.approx(100.0)
    assert split["binary_ms"] == pytest.approx(sum(op["ms"] for op in bconvs), rel=1e-4)
    assert art["ops_sum_ms"] == pytest.approx(sum(op["ms"] for op in art["ops"]), rel=1e-4)


def check_trace(path: Path, report: dict) -> None:
    trace = json.loads(path.read_text())
    for pid, art in enumerate(report["artifacts"], 1):
        ops = [e for e in trace["traceEvents"] if e["ph"] == "X" and e["pid"] == pid and e["tid"] == 1]
        assert len(ops) == len(art["ops"])  # one complete event per op
        assert all(e["dur"] >= 0 and isinstance(e["ts"], (int, float)) for e in ops)
        assert ops[-1]["ts"] + ops[-1]["dur"] == pytest.approx(1000 * art["ops_sum_ms"], rel=1e-3)


# ---------------------------------------------------------------- on this machine


def test_host_profile_of_the_default_model(default_export, tmp_path):
    proc = run_cli(
        "profile",
        default_export,
        "--kernel",
        "indirect_bgemm",
        "--trace",
        tmp_path / "trace.json",
        "--json-out",
        tmp_path / "profile.json",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout)
    report = json.loads((tmp_path / "profile.json").read_text())
    assert report["device"] == "host" and {a["format"] for a in report["artifacts"]} == {"lce", "tflite-float"}
    for art in report["artifacts"]:
        if art["format"] == "lce":
            check_profile(art, default_export)
        assert abs(art["ops_sum_ms"] / art["whole_ms"] - 1) <= 0.25, (art["name"], art["ops_sum_ms"], art["whole_ms"])
        assert art["method"].startswith("each op alone") and "subtracted" in art["method"]
        assert art["cut_check"]["max_abs_diff"] <= IDENTICAL_TOLERANCE  # the cut ops compute the model
        assert art["clock"] == "CPU time of the running thread"
        assert all(op["overhead_ms"] >= 0 for op in art["ops"])
    lce = lce_artifact(report)
    assert lce["kernel"] == lce["op_kernel"] == "indirect_bgemm"
    assert lce["xnnpack"]["kernel"] == "indirect_bgemm+xnnpack" and lce["xnnpack"]["without_ms"] == lce["whole_ms"]
    check_trace(tmp_path / "trace.json", report)
    out = proc.stdout
    assert "binary (LceBconv2d)" in out and "float glue" in out and "by op type: " in out and "XNNPACK" in out
    assert "body.0.body.0.binary_conv" in out and "how to read it" in out


def test_host_profile_of_an_official_bbcu_m(official_export, tmp_path):
    from bnn_deploy.benchmarking.profile import profile, render_profile

    options = BenchOptions(profile=True, kernel="auto", runs=2, trace=str(tmp_path / "trace.json"))
    report = profile(official_export, options, progress=print)
    print(render_profile(report))
    (art,) = report["artifacts"]
    expected = {f"body.{b}.body.{u}.binary_conv" for b in range(16) for u in range(2)}
    check_profile(art, official_export, expected | {"upconv1.binary_conv", "conv_hr.binary_conv"})
    assert abs(art["ops_sum_ms"] / art["whole_ms"] - 1) <= 0.25, (art["ops_sum_ms"], art["whole_ms"])
    assert art["cut_check"]["max_abs_diff"] <= IDENTICAL_TOLERANCE
    choice = art["kernel_choice"]
    assert art["kernel"] == choice["kernel"] and art["op_kernel"] in ("indirect_bgemm", "default")
    check_trace(tmp_path / "trace.json", report)


# ---------------------------------------------------------------- on a board


def test_board_profile_uses_the_tools_op_profiler(default_export, local_board, tmp_path):
    proc = run_cli(
        "profile",
        default_export,
        *local_board["args"],
        "--kernel",
        "indirect_bgemm+xnnpack",
        "--trace",
        tmp_path / "trace.json",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)  # --json: the profile and nothing else on stdout
    lce = lce_artifact(report)
    check_profile(lce, default_export)
    assert lce["method"].startswith("lce_benchmark_model --enable_op_profiling=true")
    assert "--use_xnnpack=false" in lce["command"] and "--enable_op_profiling=true" in lce["command"]
    fused = lce["xnnpack"]
    assert fused["kernel"] == "indirect_bgemm+xnnpack" and "--use_xnnpack=true" in fused["command"]
    assert any(op["op"] == "TfLiteXNNPackDelegate" and op["module"] is None for op in fused["ops"])
    assert len(fused["ops"]) < len(lce["ops"])  # XNNPACK folds float ops into its delegate rows
    trace = json.loads((tmp_path / "trace.json").read_text())
    assert any(e["ph"] == "X" and e["tid"] == 2 for e in trace["traceEvents"])
    assert report["cleanup"]["removed"] and list(local_board["board"].iterdir()) == []
    # the runs with XNNPACK, as the latency model's compare_against reads a measured profile
    entry = next(p for p in report["profiles"] if p["artifact"] == lce["name"])
    assert entry["device"] == "host" and entry["board"] == "here" and entry["kernel"] == "indirect_bgemm+xnnpack"
    assert entry["ops"] == [{"op": op["op"], "ms": op["ms"]} for op in fused["ops"]]
    assert entry["file"] == Path(lce["file"]).name  # what a prediction is matched on (compare_against)


@pytest.fixture(scope="module")
def board_bench(default_export, local_board):
    """``bench --device here --kernel auto --profile --runs 2 --warmup 0 --runtime-arg=...``, and its
    --print-commands twin."""
    common = (
        *local_board["args"],
        "--kernel",
        "auto",
        "--warmup",
        "0",
        "--runs",
        "2",
        "--runtime-arg=--max_secs=300",
        "--runtime-arg=--no_such_flag=1",
        "--profile",
    )
    out = local_board["dir"]
    proc = run_cli("bench", default_export, *common, "--json-out", out / "bench.json", "--trace", out / "t.json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = run_cli("bench", default_export, *common, "--print-commands", "--json")
    assert printed.returncode == 0, printed.stderr[-3000:]
    return {"proc": proc, "report": json.loads((out / "bench.json").read_text()), "plan": json.loads(printed.stdout)}


def test_board_bench_runs_the_kernel_the_host_would(board_bench):
    report = board_bench["report"]
    row = next(r for r in report["results"] if r["format"] == "lce")
    choice = row["kernel_choice"]
    assert choice["measured_on"].startswith("the board")
    assert row["kernel"] == choice["kernel"] and row["kernel_ran_on"] == "the board"
    assert [c["kernel"] for c in choice["candidates"]][0] == "default"
    assert all(f in row["command"] for f in row["kernel_flags"]) and len(row["kernel_flags"]) == 3
    assert row["quality"]["kernel"] == row["kernel"]  # this machine's quality run used the board's kernel
    assert report["settings"]["kernel"] == "auto"
    assert report["settings"]["runtime_args"] == ["--max_secs=300", "--no_such_flag=1"]
    assert any("--runtime-arg" in n and "only warns" in n for n in report["notes"])
    text = board_bench["proc"].stdout
    assert f"kernel for {row['name']}: {row['kernel']} on the board (--use_reference_bconv=" in text
    assert "on the board, on its own outputs" in text


def test_board_bench_reports_what_was_not_measured_and_the_memory_run(board_bench):
    row = next(r for r in board_bench["report"]["results"] if r["format"] == "lce")
    assert row["first_run_ms"] is None  # --warmup 0: the tool's "First inference: 0" is not a measurement
    assert row["latency_ms"]["runs"] == 2 and row["latency_ms"]["min"] <= row["latency_ms"]["max"]
    mem = row["memory"]
    assert mem["peak_rss_mb"] > 0 and "--report_peak_memory_footprint=true" in mem["board"]["command"]
    assert "--report_peak_memory_footprint" not in row["command"]
    assert "separate single run" in mem["method"]
    assert row["ignored_flags"] == ["--no_such_flag=1"]
    assert any("only warns" in n for n in row["notes"])
    assert "warning: lce_benchmark_model ignored --no_such_flag=1" in board_bench["proc"].stdout
    assert all(c.endswith("--max_secs=300 --no_such_flag=1") for c in row["commands"])


def test_board_bench_profile_is_in_the_report(board_bench, default_export):
    report = board_bench["report"]
    profiles = report["profile"]["artifacts"]
    assert {p["format"] for p in profiles} == {"lce", "tflite-float"}
    lce = next(p for p in profiles if p["format"] == "lce")
    check_profile(lce, default_export)
    row = next(r for r in report["results"] if r["format"] == "lce")
    assert lce["kernel"] == row["kernel"]
    trace = json.loads(Path(report["profile"]["trace"]).read_text())
    assert sum(e["ph"] == "X" and e["tid"] == 1 for e in trace["traceEvents"]) == sum(len(p["ops"]) for p in profiles)
    assert "op profile: " in board_bench["proc"].stdout


def test_print_commands_are_the_commands_the_bench_ran(board_bench):
    """Every lce_benchmark_model command of the bench is in the printed plan (work directory aside;
    with --kernel auto the plan shows the runs after the candidates with the first candidate)."""
    from bnn_deploy.runtimes.lce import AUTO_CANDIDATES, without_xnnpack

    report, plan = board_bench["report"], board_bench["plan"]
    wd = report["cleanup"]["work_dir"]
    printed = [s["command"].replace(plan["work_dir"], wd) for s in plan["steps"] if s["where"] == "board"]
    row = next(r for r in report["results"] if r["format"] == "lce")
    candidates = [c["command"] for c in row["kernel_choice"]["candidates"]]
    timed, memory, *profiles = row["commands"][len(candidates) :]
    assert row["commands"][: len(candidates)] == candidates and all(c in printed for c in candidates)
    shown, chosen = " ".join(kernel_flags(AUTO_CANDIDATES[0])), " ".join(row["kernel_flags"])
    for command in (timed, memory):
        assert command.replace(chosen, shown) in printed, command
    assert len(profiles) == 2
    if without_xnnpack(row["kernel"]) == without_xnnpack(AUTO_CANDIDATES[0]):
        assert all(command in printed for command in profiles)
    for step in plan["steps"]:  # each one is a valid shell line
        assert shlex.split(step["command"])
    whats = " ".join(s["what"] for s in plan["steps"])
    for word in ("copy", "timed", "memory", "profile", "profile-xnnpack", "clean up"):
        assert word in whats, word


# ---------------------------------------------------------------- refusals: one line, before any work


def test_print_commands_never_connects(default_export, tmp_path):
    fake = write_fake_benchmark(tmp_path)
    proc = run_cli(
        "bench",
        default_export,
        "--device",
        "pi4",
        "--host",
        "pi@192.0.2.1:2222",  # TEST-NET: nothing answers there
        "--runtime-bin",
        fake,
        "--kernel",
        "indirect_bgemm",
        "--print-commands",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "# run the [board] lines in a shell on the board: ssh -p 2222 pi@192.0.2.1"
    assert any(
        ln.startswith("[this machine] scp -P 2222 ") and "pi@192.0.2.1:/tmp/bnn-deploy-manual/" in ln for ln in lines
    )
    assert "[board] rm -rf -- /tmp/bnn-deploy-manual" in lines


def test_refusals(default_export, local_board, tmp_path):
    no_lce = tmp_path / "no-lce"
    no_lce.mkdir()
    manifest = json.loads((default_export / "manifest.json").read_text())
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["format"] != "lce"]
    for a in manifest["artifacts"]:
        (no_lce / a["file"]).write_bytes((default_export / a["file"]).read_bytes())
    (no_lce / "manifest.json").write_text(json.dumps(manifest))
    old = write_fake_benchmark(tmp_path, without=("enable_op_profiling",))
    board = ("--device", "here", "--inventory", local_board["inventory"])
    no_runtimes = {"BNN_DEPLOY_RUNTIMES_DIR": str(tmp_path / "none")}
    cases = [
        (("profile", no_lce), "has no LCE artifact to profile; export with --format lce"),
        (("profile", default_export, "--threads", "1,2"), "a profile measures one thread count"),
        (("profile", default_export, "--trace", tmp_path / "t.txt"), "give a path ending in .json"),
        (("bench", default_export, "--trace", tmp_path / "t.json"), "--trace writes the per-op profile; add --profile"),
        (("bench", default_export, "--runtime-arg=--max_secs=3"), "--runtime-arg apply to a board"),
        (("bench", default_export, "--print-commands"), "--print-commands apply to a board"),
        (("bench", default_export, *board, "--runtime-arg=--num_runs=3"), "bnn-deploy sets --num_runs"),
        (("bench", default_export, *board, "--runtime-arg=max_secs"), "is not an lce_benchmark_model flag"),
        (("bench", default_export, *board, "--kernel", "turbo"), "unknown LCE kernel 'turbo'"),
        (("profile", default_export, *board), "profiling runs lce_benchmark_model --enable_op_profiling=true; no lce"),
        (("profile", default_export, *board, "--runtime-bin", old), "has no --enable_op_profiling"),
    ]
    for args, message in cases:
        line = one_error_line(run_cli(*args, env=no_runtimes))
        assert message in line, (args, line)
    assert list(local_board["board"].iterdir()) == []  # the refused board run left nothing behind
