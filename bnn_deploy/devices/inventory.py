"""The board inventory (a TOML file) and turning ``--device/--host/--key/--serial`` into a board.

Default file: ``$BNN_DEPLOY_DEVICES``, else ``$XDG_CONFIG_HOME/bnn-deploy/devices.toml`` (XDG
default ``~/.config``). Format (every key but ``profile`` optional)::

    [devices.kitchen-pi]
    profile = "pi4"                      # one of bnn_deploy.devices.profiles.PROFILES
    transport = "ssh"                    # ssh | adb | local (default: the profile's)
    host = "192.168.1.50"
    user = "pi"
    port = 22
    key = "~/.ssh/id_ed25519"            # private key file (passphrase keys: use ssh-agent)
    known_hosts = "~/.ssh/known_hosts"
    work_dir = "/tmp"                    # a bnn-deploy-XXXXXX folder is made (and removed) in it
    runtime_bin = "/home/pi/lce_benchmark_model"   # already on the board (else one is pushed)
    python = "python3"                   # the board's Python for the non-LCE artifacts

    [devices.phone]
    profile = "android-arm64"
    serial = "R58M123ABC"
    adb_server = "127.0.0.1:5037"

A profile name works as a device too (``--device pi4 --host pi@raspberrypi.local``). Per-run
options override the inventory. Unknown keys are errors, so a typo never silently falls back to a
default.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.values import parse_port
from bnn_deploy.devices.profiles import PROFILES, get_profile

ENV_FILE = "BNN_DEPLOY_DEVICES"
TRANSPORTS = ("ssh", "adb", "local")
KEYS = {
    "profile": str,
    "transport": str,
    "host": str,
    "user": str,
    "port": int,
    "key": str,
    "known_hosts": str,
    "work_dir": str,
    "runtime_bin": str,
    "python": str,
    "serial": str,
    "adb_server": str,
    "emulated": bool,
    "description": str,
}


@dataclass
class Device:
    """A concrete board: its profile and how to reach it."""

    name: str
    profile: dict
    transport: str
    host: str | None = None
    user: str | None = None
    port: int = 22
    key: str | None = None
    known_hosts: str | None = None
    serial: str | None = None
    adb_server: str | None = None
    work_dir: str = "/tmp"
    runtime_bin: str | None = None
    python: str = "python3"
    emulated: bool = False
    source: str = "profile"

    def address(self) -> str:
        """Where the board is, for reports: ``user@host:port``, ``adb:SERIAL`` or ``local``."""
        if self.transport == "ssh":
            shown = f"[{self.host}]" if self.host and ":" in self.host else self.host
            return f"{self.user + '@' if self.user else ''}{shown}:{self.port}"
        if self.transport == "adb":
            return f"adb:{self.serial or '(only device)'}"
        return "local"

    def facts(self) -> dict:
        """JSON-ready summary (no secrets: a key is named by path only)."""
        data = asdict(self)
        data["profile"] = self.profile["name"]
        data["address"] = self.address()
        return data


def inventory_path(path=None) -> Path:
    """The inventory file: ``path``, ``$BNN_DEPLOY_DEVICES`` or the XDG config location."""
    if path:
        return Path(path).expanduser()
    if os.environ.get(ENV_FILE):
        return Path(os.environ[ENV_FILE]).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "bnn-deploy" / "devices.toml"


def load_inventory(path=None) -> dict[str, dict]:
    """``{name: entry}`` from the inventory; ``{}`` if the default file does not exist.

    A file named explicitly (argument or ``$BNN_DEPLOY_DEVICES``) must exist. Every entry is
    validated: known keys with the right types, a known profile and transport.
    """
    file = inventory_path(path)
    if not file.is_file():
        if path:
            raise BnnDeployError(
                f"inventory {file} does not exist; create it (see docs/devices.md) or leave out --inventory"
            )
        if os.environ.get(ENV_FILE):
            raise BnnDeployError(
                f"inventory {file} (named by ${ENV_FILE}) does not exist; create it (see docs/devices.md) "
                f"or unset {ENV_FILE}"
            )
        return {}
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BnnDeployError(f"inventory {file} is not valid TOML ({exc}); fix it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BnnDeployError(f"cannot read inventory {file} ({exc}); check the file") from None
    unknown_top = set(data) - {"devices"}
    if unknown_top:
        raise BnnDeployError(
            f"inventory {file} has unknown table(s) {', '.join(sorted(unknown_top))}; put boards under [devices.NAME]"
        )
    devices = data.get("devices", {})
    if not isinstance(devices, dict):
        raise BnnDeployError(f"inventory {file}: 'devices' must be a table of [devices.NAME]")
    return {name: _validate_entry(name, entry, file) for name, entry in devices.items()}


def _validate_entry(name: str, entry, file: Path) -> dict:
    where = f"inventory {file}, [devices.{name}]"
    if not isinstance(entry, dict):
        raise BnnDeployError(f"{where} must be a table of settings")
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise BnnDeployError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(KEYS)}")
    for key, value in entry.items():
        kind = KEYS[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BnnDeployError(f"{where}: {key} must be a {kind.__name__}, not {value!r}")
    if "profile" not in entry:
        raise BnnDeployError(f"{where} needs profile = one of {', '.join(PROFILES)}")
    if entry["profile"] not in PROFILES:
        raise BnnDeployError(f"{where}: unknown profile {entry['profile']!r}; choose one of {', '.join(PROFILES)}")
    if entry.get("transport", "ssh") not in TRANSPORTS:
        raise BnnDeployError(f"{where}: transport must be one of {', '.join(TRANSPORTS)}")
    if "port" in entry and not 0 < entry["port"] < 65536:
        raise BnnDeployError(f"{where}: port {entry['port']} is not a TCP port (1-65535)")
    return dict(entry)


def parse_host(spec: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` → ``(user, host, port)``; IPv6 as ``[addr]:port`` or bare ``addr``."""
    text = spec.strip()
    user = None
    if "@" in text:
        user, text = text.rsplit("@", 1)
        if not user:
            raise BnnDeployError(f"--host {spec!r} has an empty user name; write user@address")
    port = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise BnnDeployError(f"--host {spec!r}: write an IPv6 address as [addr] or [addr]:port")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, None  # a bare IPv6 address has several colons and no port
    if port_text is not None:
        port = parse_port(port_text, f"--host {spec!r}: port")
    if not host:
        raise BnnDeployError(f"--host {spec!r} has no address; write user@address[:port]")
    return user, host, port


def resolve_device(
    device: str, *, inventory=None, host: str | None = None, key: str | None = None, serial: str | None = None
) -> Device:
    """The board named ``device`` (inventory entry or profile) with per-run overrides applied.

    ``host`` (``user@addr[:port]``) selects SSH, ``serial`` selects ADB (not both). Raises a one-line
    :class:`BnnDeployError` for an unknown name or a board that cannot be reached as configured.
    """
    if host is not None and serial is not None:
        raise BnnDeployError(
            f"--host {host} (SSH) and --serial {serial} (ADB) are two ways to reach a board; give only the one "
            f"that reaches {device}"
        )
    entries = load_inventory(inventory)
    if device in entries:
        entry = dict(entries[device])
        source = f"inventory {inventory_path(inventory)}"
    elif device in PROFILES:
        entry = {"profile": device}
        source = "profile"
    else:
        known = sorted(set(entries) | set(PROFILES))
        raise BnnDeployError(
            f"unknown device {device!r}; choose one of {', '.join(known)} "
            "(profiles and inventory boards: bnn-deploy devices)"
        )
    profile = get_profile(entry["profile"])
    transport = entry.get("transport", profile["transport"])
    if host is not None:
        user, addr, port = parse_host(host)
        entry.update(host=addr, **({"user": user} if user else {}), **({"port": port} if port else {}))
        transport = "ssh"
    if serial is not None:
        entry["serial"] = serial
        transport = "adb"
    if key is not None:
        entry["key"] = key
    if transport == "ssh" and not entry.get("host"):
        raise BnnDeployError(
            f"device {device} is reached over SSH but has no address; pass "
            "--host user@address[:port] or set host in the inventory"
        )
    return Device(
        name=device,
        profile=profile,
        transport=transport,
        host=entry.get("host"),
        user=entry.get("user"),
        port=int(entry.get("port", 22)),
        key=entry.get("key"),
        known_hosts=entry.get("known_hosts"),
        serial=entry.get("serial"),
        adb_server=entry.get("adb_server"),
        work_dir=entry.get("work_dir", profile["work_dir"]),
        runtime_bin=entry.get("runtime_bin"),
        python=entry.get("python", "python3"),
        emulated=bool(entry.get("emulated", False)),
        source=source,
    )


def open_transport(device: Device, *, accept_new_host_key: bool = False, connect_timeout: float = 10.0):
    """Connect to ``device`` with its transport; returns a :class:`~.transport.Transport`."""
    if device.transport == "local":
        from bnn_deploy.devices.transport_local import LocalTransport

        return LocalTransport(description=f"{device.name} (this machine)")
    if device.transport == "ssh":
        from bnn_deploy.devices.transport_ssh import SshTransport

        return SshTransport(
            device.host,
            user=device.user,
            port=device.port,
            key=device.key,
            known_hosts=device.known_hosts,
            accept_new_host_key=accept_new_host_key,
            connect_timeout=connect_timeout,
        )
    from bnn_deploy.devices.transport_adb import AdbTransport

    server_host, server_port = None, None
    if device.adb_server:
        server_host, _, port_text = device.adb_server.rpartition(":")
        if not server_host or not port_text:
            raise BnnDeployError(f"adb_server {device.adb_server!r} must be host:port, e.g. 127.0.0.1:5037")
        server_port = parse_port(port_text, f"adb_server {device.adb_server!r}: port")
    return AdbTransport(
        device.serial, server_host=server_host, server_port=server_port, connect_timeout=connect_timeout
    )


def render_inventory(path, entries: dict[str, dict]) -> str:
    """Text listing of the inventory's boards."""
    if not entries:
        return f"inventory {path}: no boards (see docs/devices.md for the format)"
    lines = [f"inventory {path}:"]
    for name, entry in entries.items():
        reach = entry.get("host") or entry.get("serial") or entry.get("transport", "")
        lines.append(
            f"  {name:<14} profile {entry['profile']:<14} "
            f"{entry.get('transport', PROFILES[entry['profile']]['transport'])} {reach}"
        )
    return "\n".join(lines)
