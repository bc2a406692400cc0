"""The device layer over a REAL OpenSSH server on 127.0.0.1, and ADB against a real adb server.

A throwaway ``sshd`` (Debian's openssh-server; `.ci/apt-packages-devices.txt`) runs from a config
in a temp dir with its own host key and one authorized user key. The "board" is this machine: the
full bench runs every artifact of a real export over SSH — the lce flatbuffer through the
``lce_benchmark_model`` stand-in of ``test_lce_benchmark_parser.py`` (no real binary can be
built here), the float/int8 TFLite and ONNX files through the board Python runner with this
venv's TensorFlow and ONNX Runtime — and the outputs it brings back must equal the host's.

Faults, each a one-line error: unknown host key (refused; accepted only with the flag), changed
host key (always refused), wrong user key, the server killing our session mid-run (work dir
still removed, export untouched, nothing written locally), a command past its timeout (killed
on the board), a closed port and a port that never answers (a timeout, not a hang), an unknown
device, a missing runtime binary.

ADB: there is no phone here. A real adb server (``adb -P PORT server nodaemon``) is started and
the transport's errors are checked against it (no device, unknown serial, no server). Then
:class:`FakeAdbd`, a stand-in for a phone's adbd (the device side of the ADB wire protocol,
executing on this machine), is attached to that real server with ``adb connect``, and put / run /
get / remove, the timeout kill and a whole bench go through the real server and adbutils. What a
real phone adds (USB, authorization, SELinux, toybox) is not tested: see docs/devices.md.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.exports import read_export
from bnn_deploy.core.jsonio import dumps
from bnn_deploy.devices.remote_bench import BoardAccess, BoardRun, bench_on_device, compare_outputs
from bnn_deploy.devices.transport import CommandTimeout, ConnectionLost
from bnn_deploy.devices.transport_ssh import SshTransport, UnknownHostKey
from support.devices import (
    alive,
    export_hashes,
    free_port,
    hanging_benchmark,
    host_output,
    interrupt_cli,
    keygen,
    sha256_of,
    ssh_inventory,
    wait_until,
)
from support.fake_benchmark import write_fake_benchmark

# ---------------------------------------------------------------- helpers


def _session_pids(sshd) -> list[int]:
    """The per-connection sshd processes: children of the listening sshd."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        ppid = next((int(line.split()[1]) for line in text.splitlines() if line.startswith("PPid:")), 0)
        if ppid == sshd.pid:
            pids.append(int(status.parent.name))
    return pids


# ---------------------------------------------------------------- the full bench over SSH


def test_full_bench_over_ssh(sshd, device_export, tmp_path):
    board = tmp_path / "board"
    board.mkdir()
    inv = ssh_inventory(tmp_path, sshd, board)
    fake = write_fake_benchmark(tmp_path)
    before = export_hashes(device_export)
    known_before = sshd.known_hosts.read_text()
    lines: list[str] = []
    report = bench_on_device(
        read_export(device_export),
        "loopback",
        run=BoardRun(threads=1, warmup=1, runs=2, cooldown=0.2, timeout=300),
        access=BoardAccess(inventory=inv, runtime_bin=fake),
        out_dir=tmp_path / "out",
        progress=lines.append,
    )

    facts = report["preflight"]["facts"]
    assert facts["arch"] == platform.machine() and facts["userland_bits"] == 64
    assert facts["glibc"] and facts["cores"] == os.cpu_count()
    assert not report["emulated"] and report["latency_is_device_latency"]
    assert report["device"]["address"] == f"root@127.0.0.1:{sshd.port}"
    assert report["board_python"]["available"]
    runners = {r["format"] + "/" + r["role"]: r["runner"] for r in report["artifacts"]}
    assert runners == {
        "lce/binary": "lce_benchmark_model",
        "tflite-float/binary": "board-python",
        "tflite-float/float-ref": "board-python",
        "tflite-int8/float-ref": "board-python",
        "onnx/binary": "board-python",
    }
    for r in report["artifacts"]:
        assert r["parity_measured"], r
        assert r["latency_ms"]["avg_ms"] > 0 and r["latency_ms"]["count"] == 2
        assert Path(r["outputs"][0]).is_file() and Path(r["input"]).is_file()
    # The board's outputs equal the host's on the same input.
    refs = {r["file"]: host_output(r, np.load(r["input"])) for r in report["artifacts"]}
    parity = compare_outputs(report, refs)
    print(dumps(parity))
    assert set(parity) == {r["name"] for r in report["artifacts"]}
    assert all(p.max_abs_error <= 1e-5 for p in parity.values()), parity

    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    assert on_disk["artifacts"][0]["outputs"] == report["artifacts"][0]["outputs"]
    assert report["cleanup"]["removed"] and list(board.iterdir()) == []
    assert export_hashes(device_export) == before
    assert sshd.known_hosts.read_text() == known_before
    assert any("cooling down" in line for line in lines)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


# ---------------------------------------------------------------- host keys and user keys


def _fingerprint(pub: str) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", "-"], input=pub, capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def test_unknown_host_key_refused_then_accepted_with_flag(sshd, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    with pytest.raises(UnknownHostKey) as err:
        SshTransport("127.0.0.1", port=sshd.port, user=sshd.user, key=sshd.user_key, known_hosts=known)
    msg = str(err.value)
    assert "\n" not in msg and _fingerprint(sshd.host_key_pub) in msg
    assert "--accept-new-host-key" in msg
    assert known.read_text() == ""  # nothing accepted silently

    tr = SshTransport(
        "127.0.0.1", port=sshd.port, user=sshd.user, key=sshd.user_key, known_hosts=known, accept_new_host_key=True
    )
    tr.close()
    assert known.read_text() == sshd.known_line()
    tr = SshTransport(
        "127.0.0.1", port=sshd.port, user=sshd.user, key=sshd.user_key, known_hosts=known
    )  # now known: no flag needed
    assert tr.run("echo hello", timeout=30).stdout == "hello\n"
    tr.close()


def test_changed_host_key_refused_even_with_accept_new(sshd, tmp_path):
    other = (sshd.dir / "wrong_key.pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}\n")
    for accept in (False, True):
        with pytest.raises(BnnDeployError, match=r"CHANGED.*ssh-keygen -R") as err:
            SshTransport(
                "127.0.0.1",
                port=sshd.port,
                user=sshd.user,
                key=sshd.user_key,
                known_hosts=known,
                accept_new_host_key=accept,
            )
        assert "\n" not in str(err.value)
    assert known.read_text().split()[2] == other[1]


def test_wrong_missing_and_encrypted_user_keys(sshd, tmp_path):
    with pytest.raises(BnnDeployError, match=r"refused the login with key .*wrong_key"):
        SshTransport("127.0.0.1", port=sshd.port, user=sshd.user, key=sshd.wrong_key, known_hosts=sshd.known_hosts)
    with pytest.raises(BnnDeployError, match="does not exist; pass --key"):
        SshTransport("127.0.0.1", port=sshd.port, key=tmp_path / "nope", known_hosts=sshd.known_hosts)
    locked = keygen(tmp_path / "locked", passphrase="s3cret-phrase")
    with pytest.raises(BnnDeployError, match="passphrase; load it into ssh-agent") as err:
        SshTransport("127.0.0.1", port=sshd.port, key=locked, known_hosts=sshd.known_hosts)
    assert "s3cret" not in str(err.value)


# ---------------------------------------------------------------- a dropped connection


def test_connection_dropped_mid_run(sshd, device_export, tmp_path):
    """The server kills our session while lce_benchmark_model runs: one-line error; after
    reconnecting, the command cut off with the connection is killed on the board (it would run on
    with its folder gone) and then the work directory is removed; the export is untouched and no
    result is written locally."""
    board = tmp_path / "board"
    board.mkdir()
    inv = ssh_inventory(tmp_path, sshd, board)
    hang = hanging_benchmark(tmp_path, write_fake_benchmark(tmp_path))
    pidfile = tmp_path / "running.pid"
    before = export_hashes(device_export)
    killed: list[int] = []

    def drop_when_running():
        deadline = time.monotonic() + 120
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in _session_pids(sshd):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    dropper = threading.Thread(target=drop_when_running)
    dropper.start()
    try:
        with pytest.raises(ConnectionLost) as err:
            bench_on_device(
                read_export(device_export),
                "loopback",
                run=BoardRun(threads=1, warmup=0, runs=1, cooldown=0, formats=["lce"], timeout=300),
                access=BoardAccess(inventory=inv, runtime_bin=hang),
                out_dir=tmp_path / "out",
            )
    finally:
        dropper.join()
    msg = str(err.value)
    print(msg)
    assert killed and "\n" not in msg
    assert f"connection to root@127.0.0.1:{sshd.port} was lost" in msg
    running = [int((tmp_path / name).read_text()) for name in ("running.pid", "child.pid")]
    wait_until(lambda: not any(alive(pid) for pid in running), 5, "the cut-off command to die")
    assert list(board.iterdir()) == []  # cleaned up over a new connection
    assert export_hashes(device_export) == before
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_bench_kills_the_board_command_then_cleans(sshd, device_export, tmp_path, sig):
    """Ctrl-C or SIGTERM while lce_benchmark_model runs over SSH: the command's whole process group
    is killed on the board, then its work folder is removed, and the CLI says so in one line."""
    board = tmp_path / "board"
    board.mkdir()
    inv = ssh_inventory(tmp_path, sshd, board, python="/bin/false")
    hang = hanging_benchmark(tmp_path, write_fake_benchmark(tmp_path))
    args = ["bench", device_export, "--device", "loopback", "--inventory", inv, "--runtime-bin", hang, "--runs", "1"]
    code, err = interrupt_cli(args, sig, (tmp_path / "running.pid").exists, cwd=tmp_path)
    print(err)
    assert code == 128 + sig and "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith("nothing was written")
    running = [int((tmp_path / name).read_text()) for name in ("running.pid", "child.pid")]
    wait_until(lambda: not any(alive(pid) for pid in running), 5, "the board command to die")
    assert list(board.iterdir()) == []
    assert not (tmp_path / "bnn-deploy-out").exists() or not any((tmp_path / "bnn-deploy-out").iterdir())


# ---------------------------------------------------------------- timeouts and unreachable hosts


# ---------------------------------------------------------------- timeouts and unreachable hosts


def test_command_timeout_kills_the_remote_process(sshd, tmp_path):
    tr = SshTransport("127.0.0.1", port=sshd.port, user=sshd.user, key=sshd.user_key, known_hosts=sshd.known_hosts)
    pidfile = tmp_path / "sleep.pid"
    start = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"did not finish on root@127\.0\.0\.1:\d+ within 1 s"):
        tr.run(f"sleep 60 & echo $! > {pidfile}; wait", timeout=1)
    assert time.monotonic() - start < 10
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), "the timed-out command is still running on the board"
    assert tr.run("echo still usable", timeout=30).stdout == "still usable\n"
    tr.close()


def test_closed_port_and_silent_host(device_export, tmp_path):
    fake = write_fake_benchmark(tmp_path)
    closed = free_port()
    with pytest.raises(BnnDeployError, match="refused the connection; check the port"):
        bench_on_device(
            read_export(device_export),
            "pi4",
            run=BoardRun(threads=1, warmup=0, runs=1, cooldown=0),
            access=BoardAccess(host=f"pi@127.0.0.1:{closed}", runtime_bin=fake),
            out_dir=tmp_path / "o1",
        )
    # A listener that accepts TCP but never says a word: must time out, not hang.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        start = time.monotonic()
        with pytest.raises(BnnDeployError, match=r"no SSH answer from pi@127\.0\.0\.1:\d+ within 2 s"):
            bench_on_device(
                read_export(device_export),
                "pi4",
                run=BoardRun(threads=1, warmup=0, runs=1, cooldown=0),
                access=BoardAccess(host=f"pi@127.0.0.1:{silent.getsockname()[1]}", runtime_bin=fake, connect_timeout=2),
                out_dir=tmp_path / "o2",
            )
        assert time.monotonic() - start < 15
    finally:
        silent.close()
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


# ---------------------------------------------------------------- bad input (before connecting)


def test_unknown_device_and_missing_runtime(device_export, tmp_path, monkeypatch):
    monkeypatch.setenv("BNN_DEPLOY_RUNTIMES_DIR", str(tmp_path / "no-runtimes"))
    monkeypatch.setenv("BNN_DEPLOY_DEVICES", str(tmp_path / "absent.toml"))
    (tmp_path / "absent.toml").write_text("")
    closed = f"pi@127.0.0.1:{free_port()}"  # never contacted: these fail before connecting
    kw = dict(run=BoardRun(threads=1, warmup=0, runs=1, cooldown=0), out_dir=tmp_path / "o")
    with pytest.raises(BnnDeployError, match=r"unknown device 'pi9'; choose one of .*pi4"):
        bench_on_device(read_export(device_export), "pi9", access=BoardAccess(host=closed), **kw)
    with pytest.raises(
        BnnDeployError,
        match=r"no lce_benchmark_model for pi4 \(target arm64\): "
        r"build and register one with `bnn-deploy build-runtime",
    ):
        bench_on_device(read_export(device_export), "pi4", access=BoardAccess(host=closed), **kw)
    with pytest.raises(BnnDeployError, match="runtime binary .*nope does not exist"):
        bench_on_device(
            read_export(device_export), "pi4", access=BoardAccess(host=closed, runtime_bin=tmp_path / "nope"), **kw
        )
    with pytest.raises(BnnDeployError, match="has no address; pass --host"):
        bench_on_device(read_export(device_export), "pi5", **kw)
    with pytest.raises(BnnDeployError, match="no manifest.json"):
        bench_on_device(read_export(tmp_path), "pi4", access=BoardAccess(host=closed), **kw)
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- ADB without a phone


@pytest.fixture
def adb_server(tmp_path):
    adb = shutil.which("adb")
    if adb is None:
        pytest.skip("adb is not installed (apt-get install adb; .ci/apt-packages-devices.txt)")
    port = free_port()
    env = dict(os.environ, HOME=str(tmp_path))  # its key pair goes to a throwaway ~/.android
    proc = subprocess.Popen(
        [adb, "-P", str(port), "server", "nodaemon"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def test_adb_without_a_device(adb_server):
    from bnn_deploy.devices.transport_adb import AdbTransport

    with pytest.raises(
        BnnDeployError,
        match=r"no ADB device with serial R58M123 is online .* sees: "
        r"none\); plug it in",
    ):
        AdbTransport("R58M123", server_port=adb_server)
    with pytest.raises(BnnDeployError, match="pass --serial: the adb server sees 0 devices"):
        AdbTransport(None, server_port=adb_server)


def test_adb_server_not_running(device_export, tmp_path):
    port = free_port()
    inv = tmp_path / "devices.toml"
    inv.write_text(f'[devices.phone]\nprofile = "android-arm64"\nserial = "X1"\nadb_server = "127.0.0.1:{port}"\n')
    with pytest.raises(BnnDeployError, match=rf"cannot reach the adb server at 127\.0\.0\.1:{port}"):
        bench_on_device(
            read_export(device_export),
            "phone",
            run=BoardRun(threads=1, warmup=0, runs=1, cooldown=0),
            access=BoardAccess(inventory=inv, runtime_bin=write_fake_benchmark(tmp_path)),
            out_dir=tmp_path / "o",
        )
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- ADB: a stand-in device


A_CNXN, A_OPEN, A_OKAY, A_CLSE, A_WRTE = (
    int.from_bytes(c, "little") for c in (b"CNXN", b"OPEN", b"OKAY", b"CLSE", b"WRTE")
)


class FakeAdbd:
    """The device side of ADB over TCP (what ``adb connect HOST:PORT`` talks to), for tests.

    A phone's adbd cannot run here, so this speaks just enough of the ADB wire protocol — CNXN
    without authentication, OPEN/OKAY/WRTE/CLSE streams, the ``shell:`` service (``sh -c`` in a
    new session, like adbd) and the v1 ``sync:`` service (STAT, SEND, RECV, QUIT) — for the REAL
    adb server and the real adbutils client to push, run and pull through it. Files and commands
    are on this machine.
    """

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.procs: list[subprocess.Popen] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self._stop = True
        self.sock.close()
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=_AdbdConnection(conn, self).serve, daemon=True).start()


class _AdbdConnection:
    def __init__(self, conn: socket.socket, adbd: FakeAdbd):
        self.conn, self.adbd = conn, adbd
        self.lock = threading.Lock()
        self.next_id = 1
        self.streams: dict[int, dict] = {}

    def send(self, cmd: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        import struct

        header = struct.pack("<6I", cmd, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, cmd ^ 0xFFFFFFFF)
        with self.lock:
            self.conn.sendall(header + data)

    def recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def serve(self):
        import struct

        try:
            while True:
                cmd, arg0, arg1, length, _, _ = struct.unpack("<6I", self.recv_exact(24))
                data = self.recv_exact(length) if length else b""
                if cmd == A_CNXN:
                    self.send(
                        A_CNXN,
                        0x01000001,
                        256 * 1024,
                        b"device::ro.product.name=fake;ro.product.model=fake;ro.product.device=fake;features=cmd\0",
                    )
                elif cmd == A_OPEN:
                    self.open(arg0, data.rstrip(b"\0").decode())
                elif cmd == A_OKAY and arg1 in self.streams:
                    self.streams[arg1]["acked"].set()
                elif cmd == A_WRTE and arg1 in self.streams:
                    self.send(A_OKAY, arg1, arg0)
                    stream = self.streams[arg1]
                    with stream["more"]:
                        stream["inbox"] += data
                        stream["more"].notify()
                elif cmd == A_CLSE and arg1 in self.streams:
                    stream = self.streams.pop(arg1)
                    stream["acked"].set()
                    with stream["more"]:
                        stream["closed"] = True
                        stream["more"].notify()
        except (EOFError, OSError):
            pass

    def open(self, remote: int, service: str):
        local = self.next_id
        self.next_id += 1
        self.streams[local] = {
            "remote": remote,
            "acked": threading.Event(),
            "inbox": b"",
            "service": service,
            "file": None,
            "closed": False,
            "more": threading.Condition(),
        }
        self.send(A_OKAY, local, remote)
        # Services run in their own threads: they wait for the host's OKAYs, which only this
        # reader thread can receive.
        if service.startswith("shell:"):
            threading.Thread(target=self.shell, args=(local, service[6:]), daemon=True).start()
        elif service == "sync:":
            threading.Thread(target=self.sync, args=(local,), daemon=True).start()
        else:
            self.close(local)

    def sync(self, local: int):
        """Serve v1 sync requests (STAT, SEND/DATA/DONE, RECV, QUIT) until the stream closes."""
        stream = self.streams[local]
        while True:
            request = self._next_request(stream)
            if request is None:
                return
            if not self.sync_request(local, stream, *request):
                return

    @staticmethod
    def _next_request(stream: dict):
        """Wait for one whole ``ID len payload`` request (DONE's ``len`` is an mtime, no payload)."""
        import struct

        with stream["more"]:
            while True:
                inbox = stream["inbox"]
                if len(inbox) >= 8:
                    ident, length = inbox[:4], struct.unpack("<I", inbox[4:8])[0]
                    size = 8 if ident == b"DONE" else 8 + length
                    if len(inbox) >= size:
                        stream["inbox"] = inbox[size:]
                        return ident, length, inbox[8:size]
                if stream["closed"]:
                    return None
                stream["more"].wait()

    def write(self, local: int, data: bytes):
        stream = self.streams.get(local)
        for i in range(0, len(data), 4096):
            if stream is None:
                return
            stream["acked"].clear()
            self.send(A_WRTE, local, stream["remote"], data[i : i + 4096])
            stream["acked"].wait(30)

    def close(self, local: int):
        stream = self.streams.pop(local, None)
        if stream is not None:
            self.send(A_CLSE, local, stream["remote"])

    def shell(self, local: int, command: str):
        proc = subprocess.Popen(
            ["sh", "-c", command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.adbd.procs.append(proc)
        for chunk in iter(lambda: proc.stdout.read1(4096), b""):
            self.write(local, chunk)
        proc.wait()
        self.close(local)

    def sync_request(self, local: int, stream: dict, ident: bytes, length: int, payload: bytes) -> bool:
        """Answer one sync request; False after QUIT."""
        import struct

        if ident == b"STAT":
            try:
                st = os.stat(payload.decode())
                reply = struct.pack("<III", st.st_mode, st.st_size, int(st.st_mtime))
            except OSError:
                reply = struct.pack("<III", 0, 0, 0)
            self.write(local, b"STAT" + reply)
        elif ident == b"SEND":
            path, _, mode = payload.decode().rpartition(",")
            Path(path).write_bytes(b"")
            stream["file"] = (path, int(mode))
        elif ident == b"DATA":
            with open(stream["file"][0], "ab") as fh:
                fh.write(payload)
        elif ident == b"DONE":
            path, mode = stream["file"]
            Path(path).chmod(mode & 0o7777)
            self.write(local, b"OKAY" + struct.pack("<I", 0))
        elif ident == b"RECV":
            try:
                data = Path(payload.decode()).read_bytes()
            except OSError as exc:
                msg = str(exc).encode()
                self.write(local, b"FAIL" + struct.pack("<I", len(msg)) + msg)
                return True
            for i in range(0, len(data), 64 * 1024):
                part = data[i : i + 64 * 1024]
                self.write(local, b"DATA" + struct.pack("<I", len(part)) + part)
            self.write(local, b"DONE" + struct.pack("<I", 0))
        elif ident == b"QUIT":
            self.close(local)
            return False
        return True


@pytest.fixture
def adb_device(adb_server):
    """The stand-in device, connected to the real adb server; yields (server port, serial)."""
    import adbutils

    device = FakeAdbd()
    client = adbutils.AdbClient(host="127.0.0.1", port=adb_server)
    serial = f"127.0.0.1:{device.port}"
    client.connect(serial, timeout=10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(d.serial == serial and d.state == "device" for d in client.list()):
            break
        time.sleep(0.2)
    else:
        device.close()
        pytest.fail("the adb server did not bring the stand-in device online")
    yield adb_server, serial
    device.close()


def test_adb_transport_through_real_adb_server(adb_device, tmp_path):
    """put / run / get / remove and a timeout, through the real adb server and adbutils."""
    from bnn_deploy.devices.transport import make_work_dir
    from bnn_deploy.devices.transport_adb import AdbTransport

    port, serial = adb_device
    tr = AdbTransport(serial, server_port=port)
    board = tmp_path / "data_local_tmp"
    board.mkdir()
    wd = make_work_dir(tr, str(board))
    payload = os.urandom(300_000)
    (tmp_path / "blob.bin").write_bytes(payload)
    tr.put(tmp_path / "blob.bin", f"{wd}/blob.bin", mode=0o755)
    assert (Path(wd) / "blob.bin").read_bytes() == payload
    assert os.stat(Path(wd) / "blob.bin").st_mode & 0o777 == 0o755
    res = tr.run(f"cd {wd} && sha256sum blob.bin && echo to-stderr >&2 && exit 3", timeout=30)
    assert res.exit_code == 3
    assert res.stdout.split()[0] == sha256_of(tmp_path / "blob.bin") and "to-stderr" in res.stdout
    tr.run(f"cp {wd}/blob.bin {wd}/copy.bin", timeout=30).check("copy")
    tr.get(f"{wd}/copy.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == payload
    with pytest.raises(BnnDeployError, match="cannot pull"):
        tr.get(f"{wd}/missing.bin", tmp_path / "missing.bin")
    assert not (tmp_path / "missing.bin").exists()

    pidfile = tmp_path / "sleep.pid"
    with pytest.raises(CommandTimeout, match=rf"did not finish on adb device {serial} within 1 s"):
        tr.run(f"sleep 60 & echo $! > {pidfile}; wait", timeout=1)
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid)
    tr.remove(wd)
    assert list(board.iterdir()) == []
    with pytest.raises(ValueError, match="refusing to remove"):
        tr.remove(str(board))


def _adb_board(tmp_path: Path, port: int, serial: str, python: str = sys.executable) -> tuple[Path, Path]:
    """The stand-in device's work folder and an inventory naming it ``phone``."""
    board = tmp_path / "data_local_tmp"
    board.mkdir()
    inv = tmp_path / "devices.toml"
    inv.write_text(
        f'[devices.phone]\nprofile = "host"\ntransport = "adb"\nserial = "{serial}"\n'
        f'adb_server = "127.0.0.1:{port}"\nwork_dir = "{board}"\npython = "{python}"\n'
    )
    return board, inv


def test_bench_over_adb_with_stand_in_device(adb_device, device_export, tmp_path):
    """The whole bench through the real adb server: lce via the lce_benchmark_model stand-in and
    ONNX via the board Python runner; outputs equal the host's; the work dir is removed."""
    board, inv = _adb_board(tmp_path, *adb_device)
    serial = adb_device[1]
    report = bench_on_device(
        read_export(device_export),
        "phone",
        run=BoardRun(threads=1, warmup=0, runs=1, cooldown=0, formats=["lce", "onnx"], timeout=300),
        access=BoardAccess(inventory=inv, runtime_bin=write_fake_benchmark(tmp_path)),
        out_dir=tmp_path / "out",
    )
    assert report["device"]["address"] == f"adb:{serial}"
    assert [r["runner"] for r in report["artifacts"]] == ["lce_benchmark_model", "board-python"]
    refs = {r["file"]: host_output(r, np.load(r["input"])) for r in report["artifacts"]}
    parity = compare_outputs(report, refs)
    assert len(parity) == 2 and all(p.max_abs_error <= 1e-5 for p in parity.values()), parity
    assert list(board.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_bench_over_adb_kills_the_device_command_then_cleans(adb_device, device_export, tmp_path, sig):
    """Ctrl-C or SIGTERM while lce_benchmark_model runs through the real adb server: the command's
    process group is killed on the device, then the work folder is removed."""
    board, inv = _adb_board(tmp_path, *adb_device, python="/bin/false")
    hang = hanging_benchmark(tmp_path, write_fake_benchmark(tmp_path))
    args = ["bench", device_export, "--device", "phone", "--inventory", inv, "--runtime-bin", hang, "--runs", "1"]
    code, err = interrupt_cli(args, sig, (tmp_path / "running.pid").exists, cwd=tmp_path)
    print(err)
    assert code == 128 + sig and "Traceback" not in err
    running = [int((tmp_path / name).read_text()) for name in ("running.pid", "child.pid")]
    wait_until(lambda: not any(alive(pid) for pid in running), 5, "the device command to die")
    assert list(board.iterdir()) == []
