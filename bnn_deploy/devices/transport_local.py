"""The local transport: the "board" is this machine (``--device host``) or an emulated board.

Files are copied with :mod:`shutil`; commands run under ``sh -c`` in a new session so a timeout
kills the whole process group. ``env`` entries are laid over the current environment: the emulated
board (``tests/support/emulated_board.py``) puts its qemu wrappers first on ``PATH`` that way.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import atomic_path
from bnn_deploy.devices.transport import RunResult, check_removable, timeout_error


class LocalTransport:
    """Run on this machine; ``env`` overrides environment variables for every command."""

    def __init__(self, env: dict[str, str] | None = None, description: str = "this machine"):
        self.env = dict(os.environ, **(env or {}))
        self.description = description

    def put(self, local, remote: str, mode: int = 0o644) -> None:
        """Copy ``local`` to ``remote`` (atomically: temporary name, then rename)."""
        _copy_atomic(Path(local), Path(remote), mode)

    def get(self, remote: str, local) -> None:
        """Copy ``remote`` to ``local`` (atomically)."""
        source = Path(remote)
        if not source.is_file():
            raise BnnDeployError(f"{remote} was not produced on {self.description}; see the runner's output above")
        _copy_atomic(source, Path(local), 0o644)

    def run(self, command: str, *, timeout: float) -> RunResult:
        """Run ``command`` with ``sh -c``; kill its process group after ``timeout`` seconds."""
        start = time.monotonic()
        proc = subprocess.Popen(
            ["sh", "-c", command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise timeout_error(self.description, command, timeout) from None
        except BaseException:
            _kill_group(proc)
            raise
        return RunResult(
            command,
            proc.returncode,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            time.monotonic() - start,
        )

    def remove(self, remote: str) -> None:
        """Delete one of our work directories."""
        check_removable(remote)
        shutil.rmtree(remote, ignore_errors=True)

    def close(self) -> None:
        """Nothing to close."""


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()


def _copy_atomic(source: Path, dest: Path, mode: int) -> None:
    started = False
    try:
        with atomic_path(dest, mode) as tmp:
            started = True
            shutil.copyfile(source, tmp)
    except OSError as exc:
        if started:  # only a temp file that cannot be created is explained here
            raise
        raise BnnDeployError(
            f"cannot write into {dest.parent} ({exc.strerror}); check that it exists and is writable"
        ) from None
