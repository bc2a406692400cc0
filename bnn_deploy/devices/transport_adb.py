"""The ADB transport (adbutils): Android phones and boards through the adb server.

adbutils talks to the adb *server* (``adb start-server``, default ``127.0.0.1:5037``), which
talks to the device over USB or TCP. Files go through the sync protocol; commands through the
``shell:`` service. That service merges stderr into stdout and does not return the exit code, so
the command is followed by ``echo <marker>$?`` and the code read back from the output. Binaries
must live under ``/data/local/tmp`` (the only place ``adb shell`` may execute files on a
non-rooted phone), which is the default work directory of the android profile.
"""

from __future__ import annotations

import os
import secrets
import shlex
import socket
import stat
import time
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import atomic_path
from bnn_deploy.core.values import parse_port
from bnn_deploy.devices.transport import (
    ConnectionLost,
    RemoteGroup,
    RunResult,
    check_removable,
    kill_group_command,
    split_group,
    timeout_error,
    wrap_command,
)

ANDROID_WORK_DIR = "/data/local/tmp"
DEFAULT_SERVER = ("127.0.0.1", 5037)


def _adbutils():
    try:
        import adbutils
    except ImportError:
        raise BnnDeployError("the ADB transport needs adbutils; pip install adbutils") from None
    return adbutils


class AdbTransport:
    """One device (``serial``) behind an adb server at ``server_host:server_port``."""

    def __init__(
        self,
        serial: str | None = None,
        *,
        server_host: str | None = None,
        server_port: int | None = None,
        connect_timeout: float = 10.0,
    ):
        # The environment variable is user input too (adbutils itself reads it on import): a bad
        # value is a one-line error, not a crash.
        self.server_port = server_port or parse_port(
            os.environ.get("ANDROID_ADB_SERVER_PORT", str(DEFAULT_SERVER[1])), "ANDROID_ADB_SERVER_PORT"
        )
        adbutils = _adbutils()
        self.server_host = server_host or os.environ.get("ANDROID_ADB_SERVER_HOST", DEFAULT_SERVER[0])
        self.connect_timeout = connect_timeout
        self._check_server()
        self.client = adbutils.AdbClient(host=self.server_host, port=self.server_port, socket_timeout=connect_timeout)
        serials = self._online_serials()
        if serial is None:
            if len(serials) != 1:
                listed = ", ".join(serials) or "none"
                raise BnnDeployError(
                    f"pass --serial: the adb server sees {len(serials)} devices ({listed}); `adb devices -l` lists them"
                )
            serial = serials[0]
        elif serial not in serials:
            listed = ", ".join(serials) or "none"
            raise BnnDeployError(
                f"no ADB device with serial {serial} is online (the adb server at "
                f"{self.server_host}:{self.server_port} sees: {listed}); plug it "
                "in, allow USB debugging on the phone, or `adb connect HOST:PORT`"
            )
        self.serial = serial
        self.device = self.client.device(serial)
        self.description = f"adb device {serial}"
        self._orphans: list[RemoteGroup] = []  # groups of commands whose stream was cut

    def _check_server(self) -> None:
        """Fail clearly if no adb server listens (adbutils would silently start one on 5037)."""
        try:
            socket.create_connection((self.server_host, self.server_port), timeout=self.connect_timeout).close()
        except OSError as exc:
            raise BnnDeployError(
                f"cannot reach the adb server at {self.server_host}:"
                f"{self.server_port} ({exc.strerror or exc}); start it with "
                "`adb start-server` (Debian/Ubuntu: apt-get install adb)"
            ) from None

    def _online_serials(self) -> list[str]:
        adbutils = _adbutils()
        try:
            return [d.serial for d in self.client.list() if d.state == "device"]
        except (adbutils.AdbError, OSError) as exc:
            raise BnnDeployError(
                f"cannot reach the adb server at {self.server_host}:"
                f"{self.server_port} ({exc}); start it with `adb start-server` "
                "(Debian/Ubuntu: apt-get install adb)"
            ) from None

    def run(self, command: str, *, timeout: float) -> RunResult:
        """Run ``command`` in ``adb shell``; kill it on the device on timeout, interrupt or error."""
        adbutils = _adbutils()
        marker = f"BNN_EXIT_{secrets.token_hex(4)}:"
        # The announcing shell stays (no exec): it prints the exit code afterwards.
        full = f"{wrap_command(command, keep_shell=True)}; echo {marker}$?"
        start = time.monotonic()
        try:
            conn = self.device.shell(full, stream=True, timeout=self.connect_timeout)
        except (adbutils.AdbError, OSError) as exc:
            raise self._lost(command, exc) from None
        data = bytearray()
        ended = False
        try:
            ended = self._collect(conn.conn, data, start + timeout, command)
        finally:
            if not ended:  # its timeout, Ctrl-C, SIGTERM or a lost connection: stop it on the device
                self._stop(conn.conn, data)
            conn.close()
        if not ended:
            raise timeout_error(self.description, command, timeout)
        text = data.decode("utf-8", "replace")
        body, sep, code = text.rpartition(marker)
        if not sep:  # the stream was cut: the command may still run
            group, _ = split_group(text)
            self._orphans += [group] if group else []
            raise self._lost(command, None)
        _, stdout = split_group(body)
        return RunResult(command, int(code.strip() or 255), stdout, "", time.monotonic() - start)

    def _collect(self, sock, data: bytearray, deadline: float, command: str) -> bool:
        """Read the output until the stream ends (True) or ``deadline`` passes (False)."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            sock.settimeout(min(remaining, 1.0))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                raise self._lost(command, exc) from None
            if not chunk:
                return True
            data += chunk

    def _stop(self, sock, data: bytearray, grace: float = 2.0) -> None:
        """Kill the command on the device (its PID line read first if need be); else remember its group."""
        deadline = time.monotonic() + grace
        group, _ = split_group(data.decode("utf-8", "replace"))
        while group is None and time.monotonic() < deadline:
            try:
                sock.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
            group, _ = split_group(data.decode("utf-8", "replace"))
        if group is not None and not self._kill(group):
            self._orphans.append(group)

    def _kill(self, group: RemoteGroup, *, if_same: bool = False) -> bool:
        """Kill ``group`` on the device through a new shell; False if that could not be done."""
        try:
            self.device.shell(kill_group_command(group, if_same=if_same), timeout=self.connect_timeout)
        except Exception:
            return False
        return True

    def _kill_orphans(self) -> None:
        """Kill the groups of commands whose stream was cut, if they still run (and are still ours)."""
        while self._orphans and self._kill(self._orphans[0], if_same=True):
            self._orphans.pop(0)

    def _lost(self, what: str, exc: BaseException | None) -> ConnectionLost:
        detail = f" ({type(exc).__name__}: {exc})" if exc else ""
        return ConnectionLost(
            f"the ADB connection to {self.serial} was lost during `{what[:100]}`"
            f"{detail}; check the cable / `adb devices` and rerun"
        )

    def put(self, local, remote: str, mode: int = 0o644) -> None:
        """Push ``local`` to ``remote`` with ``mode``."""
        adbutils = _adbutils()
        try:
            self.device.sync.push(Path(local), remote, mode=mode)
        except (adbutils.AdbError, OSError) as exc:
            raise BnnDeployError(
                f"cannot push {local} to {self.description}:{remote} ({exc}); "
                f"use a work directory under {ANDROID_WORK_DIR}"
            ) from None

    def get(self, remote: str, local) -> None:
        """Pull ``remote`` to ``local`` via a temporary name."""
        adbutils = _adbutils()
        try:
            # Sync's STAT answers all zeros for a missing file (adbutils' pull() would then make a
            # directory); check first, then pull the one file.
            info = self.device.sync.stat(remote)
            if not info.mode or not stat.S_ISREG(info.mode):
                raise BnnDeployError(
                    f"cannot pull {self.description}:{remote} (no such file); see the runner's output above"
                )
            with atomic_path(local, suffix=".part") as tmp:
                self.device.sync.pull_file(remote, tmp)
        except (adbutils.AdbError, OSError) as exc:
            raise BnnDeployError(
                f"cannot pull {self.description}:{remote} ({exc}); see the runner's output above"
            ) from None

    def remove(self, remote: str) -> None:
        """``rm -rf`` one of our work directories."""
        check_removable(remote)
        self._kill_orphans()  # nothing may still run in the folder as it goes
        self.run(f"rm -rf -- {shlex.quote(remote)}", timeout=60).check(f"removing {remote}")

    def close(self) -> None:
        """adbutils opens one socket per request: nothing stays open."""
