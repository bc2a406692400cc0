"""An emulated aarch64 board: Debian arm64 userland + aarch64 wheels under qemu-user.

:mod:`support.emulated_board` downloads the arm64 ``.deb`` files of a Python 3.11
userland and the manylinux aarch64 wheels of numpy 1.26.4, onnxruntime 1.23.2 and ai-edge-litert
2.0.2 (cached in ``~/.cache/bnn-deploy-tests``; the first build takes about a minute, later runs
reuse it). Preflight and the board Python runner then run *there*: ``uname -m`` is the arm64
``uname`` under qemu, the runtimes are the aarch64 builds. The float/int8 TFLite and ONNX outputs
must match the host's; timings must never be reported as latency (the CPU is an emulated one).

A 32-bit armhf userland (tools only) checks the refusal of an AArch64 binary on a 32-bit OS.
The tests skip, saying why, only when apt or pip cannot reach their registries.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.exports import read_export
from bnn_deploy.core.jsonio import dumps
from bnn_deploy.devices.preflight import binary_needs, check_facts, gather_facts, required_glibc, run_preflight
from bnn_deploy.devices.profiles import get_profile
from bnn_deploy.devices.remote_bench import BoardAccess, BoardRun, bench_on_device, compare_outputs
from support.devices import alive, hanging_benchmark, host_output, interrupt_cli, qemu_inventory, wait_until
from support.emulated_board import emulated_transport
from support.fake_benchmark import write_fake_benchmark


def test_preflight_on_emulated_aarch64(arm64_root):
    tr = emulated_transport(arm64_root)
    facts = gather_facts(tr, timeout=120)
    print(json.dumps(facts, indent=1))
    assert facts["uname_m"] == "aarch64" and facts["arch"] == "aarch64"
    assert facts["userland_bits"] == 64
    assert facts["glibc"] == "2.36"  # Debian 12's arm64 getconf
    assert facts["emulated"] is True  # an x86 /proc/cpuinfo behind an aarch64 userland
    errors, warnings = check_facts(facts, get_profile("pi4"))
    assert errors == []
    assert any("emulated" in w and "not device latency" in w for w in warnings)


def test_python_runner_on_emulated_board_matches_host(arm64_root, device_export, tmp_path):
    board = tmp_path / "board"
    board.mkdir()
    report = bench_on_device(
        read_export(device_export),
        "qemu-pi",
        run=BoardRun(
            threads=1, warmup=1, runs=2, cooldown=0, formats=["tflite-float", "tflite-int8", "onnx"], timeout=600
        ),
        access=BoardAccess(inventory=qemu_inventory(tmp_path, board)),
        transport=emulated_transport(arm64_root),
        out_dir=tmp_path / "out",
        progress=print,
    )
    py = report["board_python"]
    assert py["machine"] == "aarch64" and py["python"].startswith("3.11")
    assert py["runtimes"]["ai_edge_litert"] == "2.0.2" and py["runtimes"]["onnxruntime"] == "1.23.2"
    assert report["emulated"] and not report["latency_is_device_latency"]
    assert {r["format"] for r in report["artifacts"]} == {"tflite-float", "tflite-int8", "onnx"}
    for r in report["artifacts"]:
        assert r["latency_ms"] is None, "emulated timings reported as latency"
        assert r["emulated_timings_ms"]["count"] == 2
        assert r["runtime"].split()[0] == ("onnxruntime" if r["format"] == "onnx" else "ai_edge_litert")
        assert r["parity_measured"]
    refs = {r["file"]: host_output(r, np.load(r["input"])) for r in report["artifacts"]}
    parity = compare_outputs(report, refs)
    print(dumps(parity))
    assert set(parity) == {r["name"] for r in report["artifacts"]}
    for name, fig in parity.items():
        # Same graph, same input, other CPU's kernels: float rounding only.
        assert fig.max_abs_error <= 1e-4 and fig.psnr_db >= 100, (name, fig)
    assert list(board.iterdir()) == []


def _board_commands(board: Path, *words: str) -> list[int]:
    """PIDs of this machine's processes whose command line names ``board`` and every one of ``words``."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if any(str(board) in a for a in argv) and all(w in argv for w in words):
            pids.append(int(cmdline.parent.name))
    return [pid for pid in pids if alive(pid)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_bench_on_emulated_board_kills_the_runner_then_cleans(arm64_root, device_export, tmp_path, sig):
    """Ctrl-C or SIGTERM while the board Python runner runs (qemu, emulated aarch64): nothing of
    that run survives on the "board", and its work folder is gone."""
    board = tmp_path / "board"
    board.mkdir()
    bin_dir = emulated_transport(arm64_root).env["PATH"]
    hang = hanging_benchmark(tmp_path, write_fake_benchmark(tmp_path))
    args = ["bench", device_export, "--device", "qemu-pi", "--inventory", qemu_inventory(tmp_path, board)]
    args += ["--runtime-bin", hang, "--warmup", "0", "--runs", "1000000"]
    code, err = interrupt_cli(
        args,
        sig,
        lambda: bool(_board_commands(board, "run")),  # the board runner measuring an artifact
        cwd=tmp_path,
        env={"PATH": bin_dir},
        timeout=600,
    )
    print(err)
    assert code == 128 + sig and "Traceback" not in err
    assert "running" in err  # it was interrupted during a run, not before
    wait_until(lambda: not _board_commands(board), 5, "every process of the board run to end")
    assert list(board.iterdir()) == []


def test_x86_binary_refused_on_aarch64_board(arm64_root, device_export, tmp_path):
    board = tmp_path / "board"
    board.mkdir()
    x86 = Path(shutil.which("true")).resolve()
    with pytest.raises(
        BnnDeployError,
        match=r"preflight on .*: true is a x86-64 \(64-bit\) program "
        r"but the board is aarch64; pass the build for this "
        r"board \(bnn-deploy build-runtime --target arm64\)",
    ) as err:
        bench_on_device(
            read_export(device_export),
            "qemu-pi",
            run=BoardRun(threads=1, warmup=0, runs=1, cooldown=0, formats=["lce"]),
            access=BoardAccess(inventory=qemu_inventory(tmp_path, board), runtime_bin=x86),
            transport=emulated_transport(arm64_root),
            out_dir=tmp_path / "out",
        )
    assert "\n" not in str(err.value)
    assert list(board.iterdir()) == []  # refused before anything was pushed
    assert not (tmp_path / "out").exists()


def test_glibc_requirement_of_a_real_arm64_binary(arm64_root):
    python = arm64_root / "usr/bin/python3.11"
    need = required_glibc(python)
    assert need is not None and (2, 17) <= tuple(map(int, need.split("."))) <= (2, 36)
    info = binary_needs(python)
    assert info["arch"] == "aarch64" and info["glibc"] == need
    facts = gather_facts(emulated_transport(arm64_root), timeout=120)
    assert check_facts(facts, get_profile("pi4"), binary=info)[0] == []
    old = dict(facts, glibc="2.17")
    errors, _ = check_facts(old, get_profile("pi4"), binary=info)
    assert errors == [
        f"python3.11 needs glibc {need} or newer but the board has 2.17; upgrade the "
        "OS or rebuild with bnn-deploy build-runtime (docs/runtimes.md: the glibc each build needs)"
    ]


def test_arm64_binary_refused_on_32bit_userland(armhf_root, arm64_root):
    tr = emulated_transport(armhf_root, "armhf")
    facts = gather_facts(tr, timeout=120)
    assert facts["uname_m"].startswith("armv7") and facts["userland_bits"] == 32
    binary = binary_needs(arm64_root / "usr/bin/python3.11")
    with pytest.raises(
        BnnDeployError,
        match=r"is armv7l \(32-bit\) but python3\.11 is an AArch64 "
        r"program; install a 64-bit OS",
    ):
        run_preflight(tr, get_profile("pi4"), binary=binary, timeout=120)
    _, warnings = check_facts(facts, get_profile("pi4"))
    assert any("32-bit OS" in w and "20x slower" in w for w in warnings)
