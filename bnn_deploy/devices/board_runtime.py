"""Where registered on-device runtimes (``lce_benchmark_model`` per target) live.

Layout: ``<root>/<target>/lce_benchmark_model`` plus ``lce_benchmark_model.json`` next to it
(sha256, source path, ELF machine, registration time). ``<root>`` is ``$BNN_DEPLOY_RUNTIMES_DIR``
if set, else ``$XDG_DATA_HOME/bnn-deploy/runtimes`` (``XDG_DATA_HOME`` defaults to
``~/.local/share``). ``bench`` asks :func:`find_runtime` for the binary of its target.

Registration copies the file atomically (temporary file in the same directory, then
``os.replace``), so a reader never sees a half-written binary, and makes it executable (755).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import atomic_path, atomic_write_text, sha256_file
from bnn_deploy.core.targets import TARGETS, get_target

BINARY_NAME = "lce_benchmark_model"
SIDECAR_SUFFIX = ".json"
ENV_DIR = "BNN_DEPLOY_RUNTIMES_DIR"


def runtimes_dir() -> Path:
    """The root directory of registered runtimes (may not exist yet)."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    # The XDG spec says relative paths are invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "bnn-deploy" / "runtimes"


def runtime_path(target: str) -> Path:
    """Where the binary for ``target`` is (or would be) registered."""
    get_target(target)
    return runtimes_dir() / target / BINARY_NAME


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def register_runtime(path, target: str, *, origin: str = "file") -> dict:
    """Copy the binary at ``path`` into the store as ``target``'s runtime; return its record.

    The binary must pass :func:`bnn_deploy.devices.elf.verify_elf` for ``target``. The copy is
    atomic and mode 755; a JSON sidecar records sha256, source, ELF machine and time.
    """
    from bnn_deploy.devices.elf import verify_elf

    source = Path(path)
    header = verify_elf(source, target)
    dest = runtime_path(target)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BnnDeployError(
            f"cannot create {dest.parent} ({exc.strerror}); set {ENV_DIR} to a writable directory"
        ) from None

    try:
        with atomic_path(dest, 0o755) as tmp:
            shutil.copyfile(source, tmp)
            digest, size = sha256_file(tmp), os.path.getsize(tmp)  # of the bytes registered
        record = {
            "target": target,
            "path": str(dest),
            "sha256": digest,
            "size": size,
            "source": str(source.resolve()),
            "origin": origin,
            "elf_machine": header["machine"],
            "elf_bits": header["bits"],
            "interpreter": header["interpreter"],
            "registered_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        atomic_write_text(_sidecar(dest), json.dumps(record, indent=2) + "\n", 0o644)
    except OSError as exc:
        raise BnnDeployError(
            f"cannot register {source} as {dest} ({exc.strerror or exc}); check "
            f"free space and permissions, or set {ENV_DIR}"
        ) from None
    return record


def find_runtime(target: str) -> Path | None:
    """The registered binary for ``target``, or ``None`` if none is registered.

    The binary must still have the sha256 recorded when it was registered: one changed since
    (rebuilt or copied over by hand, truncated, tampered with) is not the tool that was checked for
    the target, and a bench must not push it to a board (``runtimes`` shows it as MODIFIED).
    """
    info = runtime_info(target)
    if not info["registered"]:
        return None
    if not info["intact"]:
        recorded = info.get("recorded_sha256")
        was = f"registered {recorded[:16]}" if recorded else f"no readable record {_sidecar(Path(info['path']))}"
        raise BnnDeployError(
            f"the registered lce_benchmark_model for {target} ({info['path']}) was MODIFIED since "
            f"registration (sha256 now {info['sha256'][:16]}, {was}); register it again with "
            f"`bnn-deploy build-runtime --target {target} --from-binary FILE` or rebuild it with "
            f"`bnn-deploy build-runtime --target {target}`"
        )
    return Path(info["path"])


def runtime_info(target: str) -> dict:
    """What is registered for ``target``: its sidecar record plus ``registered`` and ``intact``."""
    path = runtime_path(target)
    info = {"target": target, "path": str(path), "registered": path.is_file()}
    if not info["registered"]:
        return info
    try:
        info.update({k: v for k, v in json.loads(_sidecar(path).read_text()).items() if k not in ("target", "path")})
    except (OSError, ValueError):
        info["sidecar"] = "missing or unreadable"
    actual = sha256_file(path)
    recorded = info.pop("sha256", None)
    recorded = recorded if isinstance(recorded, str) else None
    info.update(intact=recorded == actual, sha256=actual, recorded_sha256=recorded)
    return info


def list_runtimes() -> list[dict]:
    """One :func:`runtime_info` record per known target, registered or not."""
    return [runtime_info(target) for target in TARGETS]


def render_runtimes(records: list[dict]) -> str:
    """Text table of :func:`list_runtimes`."""
    lines = [f"runtimes in {runtimes_dir()}"]
    for rec in records:
        if not rec["registered"]:
            lines.append(f"  {rec['target']:<14} not registered  (bnn-deploy build-runtime --target {rec['target']})")
            continue
        note = (
            ""
            if rec.get("intact")
            else f"  MODIFIED since registration: register it again (bnn-deploy build-runtime --target "
            f"{rec['target']} --from-binary FILE)"
        )
        lines.append(f"  {rec['target']:<14} {rec['path']}")
        lines.append(
            f"  {'':<14} {rec.get('elf_machine', '?')} {rec.get('elf_bits', '?')}-bit, "
            f"sha256 {rec['sha256'][:16]}, registered {rec.get('registered_at', '?')} "
            f"from {rec.get('origin', '?')}{note}"
        )
    return "\n".join(lines)
