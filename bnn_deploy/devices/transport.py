"""The one small interface every way of reaching a board implements: put, run, get, remove.

A transport moves files to and from a board and runs shell commands on it with a hard timeout.
Implementations: :class:`~bnn_deploy.devices.transport_local.LocalTransport` (this machine, or an
emulated board), :class:`~bnn_deploy.devices.transport_ssh.SshTransport` (paramiko) and
:class:`~bnn_deploy.devices.transport_adb.AdbTransport` (adbutils). Remote paths are POSIX strings;
commands are ``sh`` command lines (quote arguments with :func:`shlex.quote`).

Every remote command is started as ``echo $$; exec sh -c CMD`` (ADB: without ``exec``, to echo the
exit code afterwards) so the transport learns the PID of the process group that runs it (sshd and
adbd start it as a session leader; the local runner uses a new session). Whenever a command does
not finish normally — its timeout, Ctrl-C, SIGTERM (the CLI turns it into an exception), any error
— the whole group is killed on the board, not just our end of the connection: closing a channel
does not stop a command started without a terminal, which would keep the board's CPU busy after
its work folder is gone. When the connection itself died, the group is remembered and killed
first thing after reconnecting (:meth:`remove` reconnects to clean the work folder), so the
order is always: kill the command, then remove its folder.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

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


class Unreachable(BnnDeployError):
    """The board could not be reached at all (no route, refused, no answer, adb sees no such device)."""


class Transport(Protocol):
    """put / run / get / remove on one board. ``description`` names the board in messages."""

    description: str

    def put(self, local, remote: str, mode: int = 0o644) -> None: ...

    def get(self, remote: str, local) -> None: ...

    def run(self, command: str, *, timeout: float) -> RunResult: ...

    def remove(self, remote: str) -> None: ...

    def close(self) -> None: ...


class RemoteGroup(NamedTuple):
    """A command's process group on the board: its leader's PID and start time (clock ticks since boot).

    The start time tells a later kill whether PID still is our command and not a new process that
    got the same number (after the board rebooted, say); ``""`` where ``/proc`` cannot tell.
    """

    pid: int
    start: str = ""


# The first line every wrapped command prints: PID and its start time (field 22 of /proc/PID/stat;
# the shell's name "sh" has no space, so plain field counting is right here).
_ANNOUNCE = "echo $$ $(cut -d' ' -f22 /proc/$$/stat 2>/dev/null)"


def wrap_command(command: str, *, keep_shell: bool = False) -> str:
    """``COMMAND`` announcing its process group first (:func:`split_group` reads it back).

    ``keep_shell``: run it under the announcing shell instead of ``exec`` (ADB, which echoes the
    exit code afterwards).
    """
    return f"{_ANNOUNCE}; {'' if keep_shell else 'exec '}sh -c {shlex.quote(command)}"


def split_group(stdout: str) -> tuple[RemoteGroup | None, str]:
    """Take the first line that :func:`wrap_command` prints off ``stdout`` (None until it is complete)."""
    first, sep, rest = stdout.partition("\n")
    fields = first.split()
    if sep and fields and fields[0].isdigit() and len(fields) <= 2 and all(f.isdigit() for f in fields):
        return RemoteGroup(int(fields[0]), fields[1] if len(fields) == 2 else ""), rest
    return None, stdout


def kill_group_command(group: RemoteGroup, *, if_same: bool = False) -> str:
    """Kill ``group`` (and its leader where groups are not supported).

    ``if_same``: only if its leader still has the recorded start time (for groups remembered
    across a lost connection, whose PID may have been reused since).
    """
    pid = group.pid
    kill = f"kill -s KILL -- -{pid} 2>/dev/null; kill -s KILL {pid} 2>/dev/null"
    if if_same and group.start:
        # Field 22 counted after the ") " that ends the command name, which may hold spaces.
        now = f"$(sed 's/^.*) //' /proc/{pid}/stat 2>/dev/null | cut -d' ' -f20)"
        kill = f'[ "{now}" = "{group.start}" ] && {{ {kill}; }}'
    return f"{kill}; true"


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
