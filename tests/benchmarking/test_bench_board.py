"""``bnn-deploy bench EXPORT_DIR --device BOARD``: the host bench's report, measured on a board.

The board is this machine behind a REAL OpenSSH server on 127.0.0.1 (the ``sshd`` fixture of
``conftest_devices.py``), with the host's runtimes: the lce flatbuffer runs in the
``lce_benchmark_model`` stand-in (LCE's own interpreter behind the real tool's flags and output
lines), the float/int8 TFLite and ONNX files in the board Python runner. The whole command runs
as a user would run it — a fresh ``bnn-deploy`` process with ``--host``, ``--key``,
``--accept-new-host-key``, ``--inventory``, ``--runtime-bin``, ``--cooldown``, ``--timeout``,
``--json`` and ``--plot`` — and its JSON must hold every figure the host bench gives, consistent,
plus the board's facts and preflight. An emulated aarch64 board (qemu-user) must never report
latency.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bnn_deploy.benchmarking.options import BenchOptions
from bnn_deploy.core.jsonio import dumps
from bnn_deploy.core.photos import bench_input
from support.devices import export_hashes, free_port, qemu_inventory, sha256_of, ssh_inventory
from support.exports import EXPORT_HW, LATENCY_KEYS, MEMORY_KEYS, tiny_export
from support.fake_benchmark import write_fake_benchmark

pytestmark = pytest.mark.slow  # end-to-end benches of real exports in worker processes

# Every field of a host bench row (bnn_deploy.benchmarking.host._row + _add_figures).
ROW_KEYS = (
    "name",
    "format",
    "runtime",
    "role",
    "model",
    "file",
    "file_size_bytes",
    "sha256",
    "input_size",
    "threads",
    "kernel",
    "kernel_choice",
    "input_shape",
    "latency_ms",
    "init_ms",
    "first_run_ms",
    "stopped_by",
    "memory",
    "parity",
    "quality",
)
# Every top-level field of the host bench's report.
REPORT_KEYS = (
    "export_dir",
    "device",
    "host",
    "export_versions",
    "settings",
    "inputs",
    "quality_photos",
    "bicubic",
    "results",
    "speedups",
    "notes",
    "wall_seconds",
)


def bench_cli(*args, cwd: Path, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """``bnn-deploy ARGS`` in a fresh interpreter, in ``cwd`` (where bnn-deploy-out/ goes), no user inventory."""
    full_env = dict(os.environ, BNN_DEPLOY_DEVICES=str(cwd / "no-devices.toml"), **(env or {}))
    (cwd / "no-devices.toml").write_text("")
    return subprocess.run(
        [sys.executable, "-m", "bnn_deploy.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The CLI failed with exactly one ``error:`` line and no traceback; returns it."""
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


# ---------------------------------------------------------------- the full bench over SSH


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """The host bench tests' export (48x32: large enough to tile the quality photos with the default overlap)."""
    return tiny_export(tmp_path_factory)


@pytest.fixture(scope="module")
def ssh_bench(sshd, export, tmp_path_factory):
    """One ``bnn-deploy bench`` over SSH. The inventory names the board's work dir, Python and an empty
    known_hosts; ``--host``/``--key`` give the address, ``--accept-new-host-key`` records the host key."""
    tmp = tmp_path_factory.mktemp("ssh-bench")
    board = tmp / "board"
    board.mkdir()
    known = tmp / "known_hosts"
    known.write_text("")
    inv = ssh_inventory(tmp, sshd, board, known_hosts=known, address=False)
    before = export_hashes(export)
    proc = bench_cli(
        "bench",
        export,
        "--device",
        "loopback",
        "--inventory",
        inv,
        "--host",
        f"{sshd.user}@127.0.0.1:{sshd.port}",
        "--key",
        sshd.user_key,
        "--accept-new-host-key",
        "--runtime-bin",
        write_fake_benchmark(tmp),
        "--threads",
        "1",
        "--warmup",
        "1",
        "--runs",
        "3",
        "--cooldown",
        "0.2",
        "--timeout",
        "300",
        "--json-out",
        tmp / "bench.json",
        "--plot",
        tmp / "bench.png",
        cwd=tmp,
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp / "bench.json").read_text())
    return {
        "proc": proc,
        "report": report,
        "dir": tmp,
        "board": board,
        "known_hosts": known,
        "hashes_before": before,
        "export": export,
    }


def test_every_artifact_has_every_host_bench_field(ssh_bench):
    report = ssh_bench["report"]
    assert all(key in report for key in REPORT_KEYS), set(REPORT_KEYS) - set(report)
    runs = {(r["format"], r["role"]): r["runner"] for r in report["results"]}
    assert runs == {
        ("lce", "binary"): "lce_benchmark_model",
        ("tflite-float", "binary"): "board-python",
        ("onnx", "binary"): "board-python",
        ("tflite-float", "float-ref"): "board-python",
        ("tflite-int8", "float-ref"): "board-python",
    }
    for r in report["results"]:
        assert "error" not in r and "skipped" not in r, r
        assert all(key in r for key in ROW_KEYS), (r["name"], set(ROW_KEYS) - set(r))
        assert all(key in r["latency_ms"] for key in LATENCY_KEYS), r["latency_ms"]
        assert all(key in r["memory"] for key in MEMORY_KEYS), r["memory"]
        assert r["memory"]["method"].startswith(("board Python runner", "lce_benchmark_model's own report"))
        assert r["memory"]["board"], "the board runner's raw memory figures"
        for key in ("psnr_db", "max_abs_error", "reference"):
            assert key in r["parity"]
        for key in ("psnr_db", "ssim", "images", "how", "protocol", "measured_on"):
            assert key in r["quality"], (r["name"], key)
        assert r["command"] and Path(r["input"]).is_file() and Path(r["outputs"][0]).is_file()


def test_numbers_are_consistent(ssh_bench):
    report = ssh_bench["report"]
    for r in report["results"]:
        lat = r["latency_ms"]
        assert lat["runs"] == 3 and lat["std"] >= 0
        assert 0 < lat["min"] <= lat["mean"] <= lat["max"]
        if r["runner"] == "lce_benchmark_model":  # the tool prints no per-run times
            assert lat["median"] is None and lat["p90"] is None and lat["p99"] is None
            assert r["memory"]["peak_over_import_mb"] > 0  # its "delta from the start of the tool"
        else:
            assert lat["min"] <= lat["median"] <= lat["max"] and lat["p90"] <= lat["p99"] <= lat["max"]
            mem = r["memory"]
            assert 0 < mem["rss_at_start_mb"] <= mem["rss_after_load_mb"] <= mem["peak_rss_mb"]
            assert mem["peak_over_start_mb"] == pytest.approx(mem["peak_rss_mb"] - mem["rss_at_start_mb"], abs=1e-3)
        assert r["first_run_ms"] > 0 and r["init_ms"] > 0
        assert Path(r["file"]).stat().st_size == r["file_size_bytes"]
        h, w = EXPORT_HW
        assert r["threads"] == 1 and r["input_size"] == f"{w}x{h}" and r["stopped_by"] == "runs"
        assert r["input_shape"] == ([1, 3, h, w] if r["format"] == "onnx" else [1, h, w, 3])
        # The board is this machine with the host runtimes: its outputs match PyTorch like the host's do.
        psnr = r["parity"]["psnr_db"]
        if r["format"] == "tflite-int8":  # int8 vs the float model: quantization error, not a mismatch
            assert isinstance(psnr, float) and psnr > 25, psnr
        else:
            assert psnr == "inf" or psnr >= 60, (r["name"], r["parity"])
        assert r["parity"]["reference"].startswith("PyTorch eager on this machine")
        assert 0 < r["quality"]["ssim"] <= 1 and r["quality"]["psnr_db"] > 10
    by = {(r["format"], r["role"]): r for r in report["results"]}
    binary = [by[k]["quality"]["psnr_db"] for k in (("lce", "binary"), ("tflite-float", "binary"), ("onnx", "binary"))]
    assert max(binary) - min(binary) < 0.05  # one model, three deployments: one quality
    lce = by[("lce", "binary")]
    assert {s["baseline"] for s in report["speedups"]} == {r["name"] for r in report["results"]} - {lce["name"]}
    for s in report["speedups"]:  # lce_benchmark_model has no median: means are compared
        base = next(r for r in report["results"] if r["name"] == s["baseline"])
        assert s["statistic"] == "mean"
        assert s["speedup"] == pytest.approx(base["latency_ms"]["mean"] / lce["latency_ms"]["mean"], rel=1e-3)
    assert report["settings"]["threads"] == [1] and report["settings"]["cooldown"] == 0.2
    ((size, given),) = report["inputs"].items()
    assert size == f"{EXPORT_HW[1]}x{EXPORT_HW[0]}"
    np.save(ssh_bench["dir"] / "host_input.npy", bench_input(EXPORT_HW, 2))
    assert given["sha256"] == sha256_of(ssh_bench["dir"] / "host_input.npy")  # the host bench's very input
    assert report["bicubic"]["psnr_db"] > 20


def test_device_facts_preflight_and_cleanup(ssh_bench, sshd):
    report, tmp = ssh_bench["report"], ssh_bench["dir"]
    dev = report["device"]
    assert dev["name"] == "loopback" and dev["address"] == f"root@127.0.0.1:{sshd.port}"
    assert dev["key"] == str(sshd.user_key) and dev["transport"] == "ssh"
    facts = report["preflight"]["facts"]
    assert facts["arch"] and facts["cores"] == os.cpu_count() and facts["userland_bits"] == 64
    assert "warnings" in report["preflight"] and report["board_python"]["available"]
    assert not report["emulated"] and report["latency_is_device_latency"]
    assert report["cleanup"]["removed"] and list(ssh_bench["board"].iterdir()) == []  # work dir gone
    assert ssh_bench["known_hosts"].read_text() == sshd.known_line()  # --accept-new-host-key recorded it
    assert export_hashes(ssh_bench["export"]) == ssh_bench["hashes_before"]
    board_out = Path(report["board_out_dir"])
    assert board_out.parent == tmp / "bnn-deploy-out" and (board_out / "report.json").is_file()
    assert "cooling down 0.2 s" in ssh_bench["proc"].stderr


def test_text_report_and_plot(ssh_bench):
    proc, tmp = ssh_bench["proc"], ssh_bench["dir"]
    out = proc.stdout
    assert out.startswith("bench ") and "on loopback (host, root@127.0.0.1:" in out.splitlines()[0]
    assert out.splitlines()[1].startswith("board: ")
    assert "*: mean, not median" in out and "speed-up of the binary model (LCE)" in out
    assert f"wrote {tmp / 'bench.png'}" in out
    assert f"wrote {tmp / 'bench.json'}" in ssh_bench["proc"].stderr  # status lines go to stderr
    with Image.open(tmp / "bench.png") as img:
        assert img.format == "PNG" and img.size[0] >= 600


# ---------------------------------------------------------------- errors: one line, before any harm


def test_cli_errors_are_one_line(export, tmp_path):
    fake = write_fake_benchmark(tmp_path)
    closed = f"pi@127.0.0.1:{free_port()}"
    no_runtimes = {"BNN_DEPLOY_RUNTIMES_DIR": str(tmp_path / "no-runtimes")}
    cases = [
        (("--device", "pi9", "--host", closed), r"unknown device 'pi9'; choose one of .*pi4"),
        (
            ("--device", "pi4", "--host", closed, "--runtime-bin", tmp_path / "nope"),
            r"runtime binary .*nope does not exist",
        ),
        (
            ("--device", "pi4", "--host", closed),
            r"no lce_benchmark_model for pi4 \(target arm64\): build and "
            r"register one with `bnn-deploy build-runtime",
        ),
        (("--device", "pi4"), "has no address; pass --host"),
        (
            ("--device", "pi4", "--host", closed, "--runtime-bin", fake, "--threads", "1,2"),
            "a board run measures one thread count",
        ),
        (
            ("--device", "pi4", "--host", closed, "--runtime-bin", fake, "--runtime-arg=--num_threads=2"),
            r"bnn-deploy sets --num_threads on every run itself \(--threads\)",
        ),
        (("--device", "host", "--cooldown", "5", "--host", closed), "--host, --cooldown apply to a board"),
        (
            ("--device", "pi4", "--host", closed, "--runtime-bin", fake, "--plot", tmp_path / "p.jpg"),
            "give a path ending in .png",
        ),
    ]
    for args, pattern in cases:
        line = one_error_line(bench_cli("bench", export, *args, cwd=tmp_path, env=no_runtimes))
        assert re.search(pattern, line), (args, line)
    # A closed port on 127.0.0.1: refused at once, not after a connect timeout.
    start = time.monotonic()
    line = one_error_line(
        bench_cli("bench", export, "--device", "pi4", "--host", closed, "--runtime-bin", fake, cwd=tmp_path)
    )
    assert "refused the connection; check the port" in line
    assert time.monotonic() - start < 60  # interpreter start-up and the export check included
    assert not (tmp_path / "bnn-deploy-out").exists() or not any((tmp_path / "bnn-deploy-out").iterdir())


# ---------------------------------------------------------------- an emulated board


def test_emulated_board_never_reports_latency(arm64_root, export, tmp_path):
    """qemu-user runs the board Python runner on aarch64 runtimes: outputs are real (parity holds),
    timings are the emulator's and appear only as emulated_timings_ms."""
    from bnn_deploy.benchmarking.board import bench_export_on_device
    from bnn_deploy.benchmarking.report import render_bench
    from support.emulated_board import emulated_transport

    board = tmp_path / "board"
    board.mkdir()
    options = BenchOptions(
        device="qemu-pi",
        inventory=qemu_inventory(tmp_path, board),
        threads=[1],
        warmup=1,
        runs=2,
        timeout=600,
        plot=tmp_path / "bench.png",
    )
    report = bench_export_on_device(
        export,
        options,
        transport=emulated_transport(arm64_root),
        formats=["tflite-float", "onnx"],
        out_dir=tmp_path / "out",
    )
    text = render_bench(report)
    print(text)
    assert report["emulated"] and not report["latency_is_device_latency"]
    assert {r["format"] for r in report["results"]} == {"tflite-float", "onnx"}
    for r in report["results"]:
        assert r["latency_ms"] is None and r["init_ms"] is None and r["first_run_ms"] is None
        assert r["emulated_timings_ms"]["latency_ms"]["runs"] == 2
        assert all(key in r for key in ROW_KEYS)
        psnr = r["parity"]["psnr_db"]
        assert psnr == "inf" or (psnr >= 60 and math.isfinite(psnr)), r["parity"]
    assert report["speedups"] == [] and "plot" not in report and not (tmp_path / "bench.png").exists()
    assert any("no artifact has a measured latency" in note for note in report["notes"])
    assert "EMULATED board" in text and "emulated board: no device latency" in text
    assert json.loads(dumps(report))["results"][0]["latency_ms"] is None
    assert list(board.iterdir()) == []
