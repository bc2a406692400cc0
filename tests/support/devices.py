"""Fixtures shared by the device tests (a pytest plugin, registered in ``conftest.py``).

* ``sshd``: a REAL OpenSSH server on 127.0.0.1 (Debian's openssh-server;
  ``.ci/apt-packages-devices.txt``) run from a config in a temp dir with its own host key, one
  authorized user key and a second, unauthorized one; started once per session.
* ``device_export``: a real export of a tiny BBCU-M (lce, tflite-float, ONNX) with a tiny MSRResNet
  float reference (float and int8 TFLite), its PyTorch checkpoints next to it.
* ``arm64_root`` / ``armhf_root``: emulated board userlands (see ``test_devices_emulated.py``).

Helpers for the tests: :func:`ssh_inventory` (a board entry for the sshd, the "board" being this
machine), :func:`qemu_inventory` (the emulated board), :func:`host_output` (an artifact run by the
host's runtimes), :func:`export_hashes`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"


# ---------------------------------------------------------------- a real sshd


@dataclass
class Sshd:
    port: int
    dir: Path
    host_key_pub: str
    user_key: Path
    wrong_key: Path
    known_hosts: Path
    pid: int
    user: str

    def known_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {' '.join(self.host_key_pub.split()[:2])}\n"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (right now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path, passphrase: str = "") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "bnn-test", "-f", str(path)], check=True
    )
    return path


def _wait_for_banner(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("sshd did not answer")


def start_sshd(d: Path) -> tuple[Sshd, subprocess.Popen]:
    """Start a throwaway sshd on 127.0.0.1 with its config, keys and log in ``d`` (needs root and
    openssh-server); :func:`stop_sshd` ends it. Also used by ``benchmarks/hostile_sweep.py``."""
    host_key = keygen(d / "host_key")
    user_key = keygen(d / "user_key")
    wrong_key = keygen(d / "wrong_key")
    (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
    port = free_port()
    config = d / "sshd_config"
    config.write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {d / "sshd.pid"}
AuthorizedKeysFile {d / "authorized_keys"}
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp {SFTP_SERVER}
MaxStartups 50
LogLevel VERBOSE
""")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"sshd -t refused the config: {check.stderr}")
    log = open(d / "sshd.log", "w")  # noqa: SIM115 -- sshd writes it while it runs; closed by stop_sshd
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    proc.log = log
    try:
        _wait_for_banner(port, time.monotonic() + 15)
    except BaseException:
        stop_sshd(proc)
        raise
    server = Sshd(
        port=port,
        dir=d,
        host_key_pub=(d / "host_key.pub").read_text(),
        user_key=user_key,
        wrong_key=wrong_key,
        known_hosts=d / "known_hosts",
        pid=proc.pid,
        user="root",
    )
    server.known_hosts.write_text(server.known_line())
    return server, proc


def stop_sshd(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)
    proc.log.close()


def sshd_unavailable() -> str | None:
    """Why no throwaway sshd can run here, or None."""
    if not Path(SSHD).is_file():
        return "openssh-server is not installed (apt-get install openssh-server; .ci/apt-packages-devices.txt lists it)"
    if os.geteuid() != 0:
        return "the throwaway sshd needs root here (privilege separation dir /run/sshd)"
    return None


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    why = sshd_unavailable()
    if why:
        pytest.skip(why)
    server, proc = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        stop_sshd(proc)


def ssh_inventory(
    tmp_path: Path,
    sshd: Sshd,
    board: Path,
    *,
    key=None,
    known_hosts=None,
    extra: str = "",
    address: bool = True,
    python: str = sys.executable,
) -> Path:
    """An inventory with board ``loopback``: this machine through ``sshd``, work dir ``board``.

    ``address=False`` leaves out host, port, user and key (for ``--host``/``--key`` to give them);
    ``python``: the board's Python (``/bin/false``: none, so every flatbuffer goes to the runtime binary).
    """
    inv = tmp_path / "devices.toml"
    reach = (
        (f'host = "127.0.0.1"\nport = {sshd.port}\nuser = "{sshd.user}"\nkey = "{key or sshd.user_key}"\n')
        if address
        else ""
    )
    inv.write_text(f"""\
[devices.loopback]
profile = "host"
transport = "ssh"
{reach}known_hosts = "{known_hosts or sshd.known_hosts}"
work_dir = "{board}"
python = "{python}"
{extra}""")
    return inv


# ---------------------------------------------------------------- an export


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def device_export(tmp_path_factory):
    """A real export of a tiny BBCU-M: lce, tflite-float, ONNX, plus a float reference as float
    and int8 TFLite (the int8 model comes from the float reference, as bnn-deploy export makes it)."""
    import torch

    from bnn_deploy.conversion.export import export_model
    from bnn_deploy.models.checkpoint import save_checkpoint
    from bnn_deploy.models.registry import create_model

    d = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    save_checkpoint(d / "bm.pt", create_model("bbcu_m", scale=2, num_feat=8, num_block=1))
    torch.manual_seed(3)
    save_checkpoint(d / "msr.pt", create_model("msrresnet", scale=2, num_feat=8, num_block=1))
    export_model(
        d / "bm.pt",
        formats=["lce", "tflite-float", "tflite-int8", "onnx"],
        input_sizes=[(16, 12)],
        out_dir=d / "export",
        float_ref=d / "msr.pt",
        min_parity_db=40,
        parity_photos=1,
    )
    return d / "export"


def export_hashes(export_dir: Path) -> dict:
    """``{file name: sha256}`` of an export directory, to show a bench left it untouched."""
    return {p.name: sha256_of(p) for p in sorted(export_dir.iterdir())}


def host_output(artifact: dict, x: np.ndarray) -> np.ndarray:
    """The same artifact run on the host with the host's runtimes."""
    if artifact["format"] == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(artifact["file"], providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    if artifact["format"] == "lce":
        from larq_compute_engine.tflite.python.interpreter import Interpreter

        return Interpreter(Path(artifact["file"]).read_bytes(), num_threads=1, use_indirect_bgemm=True).predict(x)
    from bnn_deploy.core.tf import tensorflow

    interp = tensorflow().lite.Interpreter(model_path=artifact["file"], num_threads=1)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


# ---------------------------------------------------------------- emulated boards


def _userland(arch: str) -> Path:
    from support.emulated_board import SetupUnavailable, build_userland

    qemu = {"arm64": "qemu-aarch64-static", "armhf": "qemu-arm-static"}[arch]
    if shutil.which(qemu) is None:
        pytest.skip(f"{qemu} is not installed (apt-get install qemu-user-static)")
    try:
        return build_userland(arch, progress=print)
    except SetupUnavailable as exc:
        pytest.skip(f"cannot build the emulated {arch} userland: {exc}")


def qemu_inventory(tmp_path: Path, board: Path) -> Path:
    """An inventory with board ``qemu-pi``: a Pi 4 profile reached locally (pass the emulated transport)."""
    inv = tmp_path / "devices.toml"
    inv.write_text(f'[devices.qemu-pi]\nprofile = "pi4"\ntransport = "local"\nwork_dir = "{board}"\n')
    return inv


@pytest.fixture(scope="session")
def arm64_root():
    """A Debian 12 arm64 userland with Python and the aarch64 runtimes, run by qemu-aarch64-static."""
    return _userland("arm64")


@pytest.fixture(scope="session")
def armhf_root():
    """A Debian 12 armhf userland (tools only), run by qemu-arm-static."""
    return _userland("armhf")


# ---------------------------------------------------------------- interrupting a board run


def hanging_benchmark(tmp_path: Path, fake: Path) -> Path:
    """A stand-in ``lce_benchmark_model`` that answers ``--help`` like ``fake`` and otherwise hangs:
    its shell (``running.pid``) waits on a child ``sleep`` (``child.pid``), one process group."""
    hang = tmp_path / "hanging_benchmark"
    hang.write_text(f"""#!/bin/sh
case "$1" in --help) exec {fake} --help ;; esac
sleep 300 &
echo $! > {tmp_path / "child.pid"}
echo $$ > {tmp_path / "running.pid"}
wait
""")
    hang.chmod(0o755)
    return hang


def alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie has ended: only its parent has not reaped it yet)."""
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


def wait_until(condition, timeout: float, what: str) -> None:
    """Poll ``condition()`` every 0.1 s; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def ctrl_c_default() -> None:
    """In the child before exec: SIGINT back to its default. A shell starts background jobs with SIGINT
    ignored, the child inherits that, and Python then never raises KeyboardInterrupt, so a Ctrl-C case
    run under ``make test &`` would test nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_cli(args, sig: int, started, *, cwd: Path, env: dict | None = None, timeout: float = 300):
    """Run ``bnn-deploy ARGS`` in a fresh interpreter, send it ``sig`` once ``started()`` holds, and
    return ``(exit code, stderr)`` after it exits."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bnn_deploy.cli", *map(str, args)],
        cwd=cwd,
        env=dict(os.environ, **(env or {})),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_default,
    )
    try:
        deadline = time.monotonic() + timeout
        while not started():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the board run never started (exit {proc.poll()}): {proc.stderr.read()[-2000:]}")
            time.sleep(0.1)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err
