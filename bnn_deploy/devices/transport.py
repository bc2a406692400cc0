"""The one small interface every way of reaching a board implements: put, run, get, remove.

A transport moves files to and from a board and runs shell commands on it with a hard timeout.
Implementations: :class:`~bnn_deploy.devices.transport_local.LocalTransport` (this machine, or an
emulated board), :class:`~bnn_deploy.devices.transport_ssh.SshTransport` (paramiko) and
:class:`~bnn_deploy.devices.transport_adb.AdbTransport` (adbutils). Remote paths are POSIX strings;
commands are ``sh`` command lines (quote arguments with :func:`shlex.quote`).

Every remote command is started as ``echo $$; exec sh -c CMD`` (ADB: without ``exec``, to echo the
exit code afterwards) so the transport learns the PID of the process group that runs it (sshd and
adbd start it as a session leader; the local runner uses a new session): on a timeout the whole
group is killed on the board, not just our end of the connection.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from bnn_deploy.core.errors import BnnDeployError, last_line

WORK_DIR_PREFIX = "bnn-deploy-"


@dataclass
class RunResult:
    """What a command did on the board."""

    command: str
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    def check(self, what: str) -> RunResult:
        """Raise a one-line :class:`BnnDeployError` naming ``what`` unless the exit code is 0."""
        if self.exit_code != 0:
            raise BnnDeployError(
                f"{what} failed on the board (exit {self.exit_code}): "
                f"{last_line(self.stderr) or last_line(self.stdout) or 'no output'}; "
                "see the message above"
            )
        return self


class CommandTimeout(BnnDeployError):
    """A command ran past its timeout; it was killed on the board."""


class ConnectionLost(BnnDeployError):
    """The connection to the board went away while a command or transfer was under way."""


class Transport(Protocol):
    """put / run / get / remove on one board. ``description`` names the board in messages."""

    description: str

    def put(self, local, remote: str, mode: int = 0o644) -> None: ...

    def get(self, remote: str, local) -> None: ...

    def run(self, command: str, *, timeout: float) -> RunResult: ...

    def remove(self, remote: str) -> None: ...

    def close(self) -> None: ...


def wrap_command(command: str) -> str:
    """``echo $$; exec sh -c COMMAND``: print the PID (= process group) first, then run."""
    return f"echo $$; exec sh -c {shlex.quote(command)}"


def split_pid(stdout: str) -> tuple[int | None, str]:
    """Take the PID line that :func:`wrap_command` prints off ``stdout``."""
    first, sep, rest = stdout.partition("\n")
    if first.strip().isdigit():
        return int(first.strip()), rest
    return None, stdout


def kill_group_command(pid: int) -> str:
    """Kill process group ``pid`` (and the process itself where groups are not supported)."""
    return f"kill -s KILL -- -{pid} 2>/dev/null; kill -s KILL {pid} 2>/dev/null; true"


def timeout_error(description: str, command: str, timeout: float) -> CommandTimeout:
    """The one-line error for a command that ran past ``timeout``."""
    short = command if len(command) < 120 else command[:117] + "..."
    return CommandTimeout(
        f"`{short}` did not finish on {description} within {timeout:g} s and was "
        "killed; raise --timeout, use fewer --runs or a smaller input, or check "
        "that the board is not overloaded"
    )


def check_removable(remote: str) -> None:
    """Refuse to ``rm -rf`` anything that is not one of our own work directories.

    A bug or a bad inventory entry must never turn cleanup into ``rm -rf /home/pi``.
    """
    name = remote.rstrip("/").rsplit("/", 1)[-1]
    if not name.startswith(WORK_DIR_PREFIX) or ".." in remote.split("/"):
        raise ValueError(f"refusing to remove {remote!r}: not a {WORK_DIR_PREFIX}* work directory")


def make_work_dir(transport: Transport, base: str, *, timeout: float = 30) -> str:
    """Create a fresh ``<base>/bnn-deploy-XXXXXX`` on the board and return its path."""
    template = f"{base.rstrip('/')}/{WORK_DIR_PREFIX}XXXXXX"
    result = transport.run(f"mkdir -p {shlex.quote(base)} && mktemp -d {shlex.quote(template)}", timeout=timeout)
    path = last_line(result.stdout)
    if result.exit_code != 0 or not path.startswith("/"):
        raise BnnDeployError(
            f"cannot create a work directory under {base} on "
            f"{transport.description} ({last_line(result.stderr) or 'no output'}); "
            "set work_dir in the inventory to a writable directory with free space"
        )
    return path


@contextlib.contextmanager
def work_dir(transport: Transport, base: str, warn: Callable[[str], None] | None = None) -> Iterator[str]:
    """A fresh work directory on the board, removed on exit whether the body failed or not.

    A failure to clean up is passed to ``warn`` (it must not hide the error that ended the run).
    """
    path = make_work_dir(transport, base)
    try:
        yield path
    finally:
        try:
            transport.remove(path)
        except Exception as exc:  # reported, never raised over the real error
            if warn is not None:
                warn(f"could not remove {path} on {transport.description}: {exc}; remove it by hand")
