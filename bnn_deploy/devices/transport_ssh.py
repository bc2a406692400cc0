"""The SSH transport (paramiko): exec channels for commands, SFTP for files.

Host keys are checked against ``known_hosts`` (``~/.ssh/known_hosts`` unless the inventory names
another file). An unknown key is refused with its fingerprint; ``accept_new_host_key=True`` (the
``--accept-new-host-key`` flag) appends it, like OpenSSH's ``StrictHostKeyChecking=accept-new``.
A key that *changed* is always refused. Authentication is by key only: the ``--key`` file if
given (and nothing else, like ``IdentitiesOnly``), otherwise ssh-agent and the default
``~/.ssh/id_*`` files. There is no password option, so no password can reach a command line or a
log; a passphrase-protected key is used through ssh-agent.

Every failure mode a user can meet (refused, unreachable, name not resolving, host key unknown or
changed, key rejected, connection dropped, command timeout) becomes one line saying what to do.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import time
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import atomic_path
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

# paramiko logs tracebacks from its transport thread (e.g. a banner timeout) at ERROR; with no
# handler configured Python would print them to stderr next to our one-line error.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

DEFAULT_CONNECT_TIMEOUT = 10.0
KEEPALIVE_SECONDS = 5
_POLL = 0.02


class UnknownHostKey(BnnDeployError):
    """The server's host key is not in known_hosts and accepting new keys was not asked for."""


def host_label(user: str | None, host: str, port: int) -> str:
    """``user@host:port`` for messages (IPv6 addresses in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{user + '@' if user else ''}{shown}:{port}"


def known_hosts_name(host: str, port: int) -> str:
    """The name a key is stored under in known_hosts: ``host`` or ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint of a paramiko key."""
    import base64
    import hashlib

    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _host_key_policy(known_hosts: Path, accept_new: bool):
    import paramiko

    class Policy(paramiko.MissingHostKeyPolicy):
        """Refuse unknown keys with a fingerprint, or append them to known_hosts when asked."""

        def missing_host_key(self, client, hostname, key):
            if not accept_new:
                raise UnknownHostKey(
                    f"the host key of {hostname} ({key.get_name()} {fingerprint(key)}) is not in "
                    f"{known_hosts}; check the fingerprint on the board (ssh-keygen -lf "
                    "/etc/ssh/ssh_host_ed25519_key.pub) and rerun with --accept-new-host-key, or "
                    f"add it with ssh-keyscan"
                )
            known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(known_hosts, "a", encoding="ascii") as fh:
                os.chmod(known_hosts, 0o600)
                fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
            client.get_host_keys().add(hostname, key.get_name(), key)

    return Policy()


def load_private_key(path: Path):
    """Read an SSH private key file; one-line errors for missing, unreadable or encrypted keys."""
    import paramiko

    if not path.is_file():
        raise BnnDeployError(
            f"SSH key {path} does not exist; pass --key the private key file (e.g. ~/.ssh/id_ed25519), not the .pub"
        )
    try:
        return paramiko.PKey.from_path(str(path))
    except TypeError as exc:  # cryptography's way of saying "encrypted" for OpenSSH-format keys
        if "password" not in str(exc).lower():
            raise
        raise BnnDeployError(
            f"SSH key {path} is protected by a passphrase; load it into ssh-agent "
            f"(ssh-add {path}) and rerun without --key"
        ) from None
    except paramiko.PasswordRequiredException:
        raise BnnDeployError(
            f"SSH key {path} is protected by a passphrase; load it into ssh-agent "
            f"(ssh-add {path}) and rerun without --key"
        ) from None
    except (paramiko.SSHException, ValueError, UnicodeDecodeError) as exc:
        raise BnnDeployError(
            f"{path} is not a usable SSH private key ({exc}); pass --key an OpenSSH private key (ed25519, ecdsa or rsa)"
        ) from None
    except PermissionError:
        raise BnnDeployError(
            f"cannot read SSH key {path} (permission denied); check its owner and mode (600)"
        ) from None


class SshTransport:
    """A connected SSH session to ``user@host:port``."""

    def __init__(
        self,
        host: str,
        *,
        user: str | None = None,
        port: int = 22,
        key: str | os.PathLike | None = None,
        known_hosts: str | os.PathLike | None = None,
        accept_new_host_key: bool = False,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ):
        self.host = host
        self.user = user or os.environ.get("USER") or "root"
        self.port = int(port)
        self.key = Path(key).expanduser() if key else None
        self.known_hosts = Path(known_hosts).expanduser() if known_hosts else Path.home() / ".ssh" / "known_hosts"
        self.accept_new_host_key = accept_new_host_key
        self.connect_timeout = connect_timeout
        self.description = host_label(self.user, host, self.port)
        self._client = None
        self._sftp = None
        self._orphans: list[RemoteGroup] = []  # groups of commands cut off by a lost connection
        self.connect()

    # ------------------------------------------------------------ connection

    def connect(self) -> None:
        """Open the connection (host key check, key authentication); one-line errors."""
        import paramiko

        pkey = load_private_key(self.key) if self.key else None
        client = paramiko.SSHClient()
        if self.known_hosts.is_file():
            try:
                client.load_host_keys(str(self.known_hosts))
            except (OSError, paramiko.SSHException) as exc:
                raise BnnDeployError(
                    f"cannot read known_hosts file {self.known_hosts} ({exc}); fix or move it"
                ) from None
        client.set_missing_host_key_policy(_host_key_policy(self.known_hosts, self.accept_new_host_key))
        t = self.connect_timeout
        started = time.monotonic()
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.user,
                pkey=pkey,
                allow_agent=pkey is None,
                look_for_keys=pkey is None,
                timeout=t,
                banner_timeout=t,
                auth_timeout=t,
                channel_timeout=t,
            )
        except BaseException as exc:
            client.close()
            raise self._connect_error(exc, time.monotonic() - started) from None
        client.get_transport().set_keepalive(KEEPALIVE_SECONDS)
        self._client = client
        self._sftp = None

    def _connect_error(self, exc: BaseException, elapsed: float) -> BaseException:
        import paramiko

        where = self.description
        if isinstance(exc, (BnnDeployError, KeyboardInterrupt, SystemExit)):
            return exc
        if isinstance(exc, paramiko.BadHostKeyException):
            name = known_hosts_name(self.host, self.port)
            return BnnDeployError(
                f"the host key of {where} CHANGED (now {exc.key.get_name()} "
                f"{fingerprint(exc.key)}, known_hosts has {fingerprint(exc.expected_key)}): "
                "someone may be intercepting the connection; if the board was reinstalled, remove "
                f"the old key with ssh-keygen -R '{name}' -f {self.known_hosts} and rerun"
            )
        if isinstance(exc, paramiko.AuthenticationException):
            used = f"key {self.key}" if self.key else "ssh-agent and ~/.ssh/id_* keys"
            return BnnDeployError(
                f"{where} refused the login with {used}; check the user name and --key, and that "
                "the public key is in ~/.ssh/authorized_keys on the board (ssh-copy-id)"
            )
        if isinstance(exc, socket.gaierror):
            return BnnDeployError(
                f"cannot resolve {self.host} ({exc.strerror}); check the name or use the board's IP address"
            )
        refused = isinstance(exc, ConnectionRefusedError) or (
            isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError)
            and all(isinstance(e, ConnectionRefusedError) for e in exc.errors.values())
        )
        if refused:
            return BnnDeployError(
                f"{where} refused the connection; check the port and that sshd "
                "runs on the board (sudo systemctl enable --now ssh)"
            )
        # A silent server surfaces as a timeout, a banner error or (paramiko racing its own
        # transport thread) "No existing session"; what they share is that the time ran out.
        if (
            isinstance(exc, (socket.timeout, TimeoutError))
            or "timeout" in str(exc).lower()
            or "banner" in str(exc).lower()
            or elapsed >= 0.9 * self.connect_timeout
        ):
            return BnnDeployError(
                f"no SSH answer from {where} within {self.connect_timeout:g} s; "
                "check the address, that the board is on and on the network, "
                "and that sshd runs"
            )
        if isinstance(exc, (OSError, EOFError, paramiko.SSHException)):
            return BnnDeployError(
                f"cannot connect to {where} ({type(exc).__name__}: "
                f"{exc or 'connection closed'}); check the address, port and sshd"
            )
        return exc

    def _alive(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return bool(transport and transport.is_active())

    def _dying(self, grace: float = 2.0) -> bool:
        """True if the connection is gone or goes within ``grace`` seconds.

        A channel without an exit status is either a command killed by a signal (connection
        fine) or a dropped connection; only the latter makes the transport inactive.
        """
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not self._alive():
                return True
            time.sleep(_POLL)
        return False

    def _ensure_connected(self) -> None:
        if not self._alive():
            self.close()
            self.connect()

    def close(self) -> None:
        """Close SFTP and the connection (safe to call twice)."""
        for thing in (self._sftp, self._client):
            if thing is not None:
                try:
                    thing.close()
                except Exception:
                    pass
        self._sftp = None
        self._client = None

    # ------------------------------------------------------------ commands

    def run(self, command: str, *, timeout: float) -> RunResult:
        """Run ``command`` on the board; kill it there on timeout, interrupt or error (module docstring)."""
        if not self._alive():
            raise ConnectionLost(f"the SSH connection to {self.description} is closed; check the board and rerun")
        start = time.monotonic()
        try:
            channel = self._client.get_transport().open_session(timeout=self.connect_timeout)
            channel.exec_command(wrap_command(command))
        except Exception as exc:
            raise self._lost(command, exc) from None
        out, err = bytearray(), bytearray()
        ended = False
        try:
            ended = self._collect(channel, out, err, start + timeout)
        finally:
            if not ended:  # its timeout, Ctrl-C, SIGTERM or an error here: stop it on the board
                self._stop(channel, out)
            channel.close()
        if not ended:
            raise timeout_error(self.description, command, timeout)
        status = channel.recv_exit_status() if channel.exit_status_ready() else -1
        group, stdout = split_group(out.decode("utf-8", "replace"))
        if status == -1 and self._dying():
            # paramiko closes the channel (status -1) slightly before it marks the transport dead.
            if group is not None:
                self._orphans.append(group)  # killed after reconnecting, before the cleanup
            raise self._lost(command, None)
        return RunResult(command, status, stdout, err.decode("utf-8", "replace"), time.monotonic() - start)

    def _collect(self, channel, out: bytearray, err: bytearray, deadline: float) -> bool:
        """Read the command's output until it ends or the connection goes (True), or ``deadline`` (False)."""
        while True:
            busy = False
            if channel.recv_ready():
                out += channel.recv(65536)
                busy = True
            if channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
                busy = True
            if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                return True
            if channel.closed or not self._alive():
                return True
            if time.monotonic() > deadline:
                return False
            if not busy:
                time.sleep(_POLL)

    def _stop(self, channel, out: bytearray, grace: float = 2.0) -> None:
        """Kill the command of ``channel`` on the board; if the connection is gone, remember its group."""
        deadline = time.monotonic() + grace
        group, _ = split_group(out.decode("utf-8", "replace"))
        while group is None and time.monotonic() < deadline and not channel.closed and self._alive():
            if channel.recv_ready():  # the PID line was not read yet
                out += channel.recv(65536)
                group, _ = split_group(out.decode("utf-8", "replace"))
            else:
                time.sleep(_POLL)
        if group is not None and not self._kill(group):
            self._orphans.append(group)

    def _kill(self, group: RemoteGroup, *, if_same: bool = False) -> bool:
        """Kill ``group`` on the board over a new channel; False if that could not be done."""
        if not self._alive():
            return False
        try:
            channel = self._client.get_transport().open_session(timeout=self.connect_timeout)
            channel.exec_command(kill_group_command(group, if_same=if_same))
            channel.recv_exit_status()
            channel.close()
        except Exception:
            return False
        return True

    def _kill_orphans(self) -> None:
        """Kill the groups of commands whose connection died, if they still run (and are still ours)."""
        while self._orphans and self._kill(self._orphans[0], if_same=True):
            self._orphans.pop(0)

    def _lost(self, what: str, exc: BaseException | None) -> ConnectionLost:
        short = what if len(what) < 100 else what[:97] + "..."
        detail = f" ({type(exc).__name__}: {exc})" if exc else ""
        return ConnectionLost(
            f"the SSH connection to {self.description} was lost during "
            f"`{short}`{detail}; check the board (power, network, sshd) and rerun"
        )

    # ------------------------------------------------------------ files

    def _sftp_client(self):
        if self._sftp is None:
            try:
                self._sftp = self._client.open_sftp()
            except Exception as exc:
                raise BnnDeployError(
                    f"cannot open SFTP on {self.description} ({exc}); enable the "
                    "sftp subsystem in the board's sshd_config"
                ) from None
        return self._sftp

    def put(self, local, remote: str, mode: int = 0o644) -> None:
        """Upload ``local`` to ``remote`` and set its mode."""
        try:
            sftp = self._sftp_client()
            sftp.put(os.fspath(local), remote)
            sftp.chmod(remote, mode)
        except BnnDeployError:
            raise
        except OSError as exc:
            if not self._alive():
                raise self._lost(f"upload of {Path(local).name}", exc) from None
            raise BnnDeployError(
                f"cannot upload {local} to {self.description}:{remote} ({exc}); check free space and the work directory"
            ) from None
        except Exception as exc:
            raise self._lost(f"upload of {Path(local).name}", exc) from None

    def get(self, remote: str, local) -> None:
        """Download ``remote`` to ``local`` (via a temporary name, so no partial file remains)."""
        try:
            with atomic_path(local, suffix=".part") as tmp:
                self._sftp_client().get(remote, os.fspath(tmp))
        except BnnDeployError:
            raise
        except FileNotFoundError:
            raise BnnDeployError(
                f"{remote} was not produced on {self.description}; see the runner's output above"
            ) from None
        except Exception as exc:
            if not self._alive():
                raise self._lost(f"download of {remote}", exc) from None
            raise BnnDeployError(f"cannot download {self.description}:{remote} ({exc})") from None

    def remove(self, remote: str) -> None:
        """``rm -rf`` one of our work directories, reconnecting first if the connection dropped.

        Commands cut off by a lost connection are killed first, so nothing runs in the folder as it goes.
        """
        check_removable(remote)
        self._ensure_connected()
        self._kill_orphans()
        self.run(f"rm -rf -- {shlex.quote(remote)}", timeout=60).check(f"removing {remote}")
