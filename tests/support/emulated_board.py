"""An emulated aarch64 board for tests: Debian arm64 userland + aarch64 wheels, run by qemu-user.

This is test/CI infrastructure, never used by ``bnn-deploy`` at run time. It builds, into a cache
directory, a folder ``ROOT`` holding the arm64 ``.deb`` files of a minimal Python 3.11 userland
(plus ``coreutils`` for ``uname``/``nproc`` and ``libc-bin`` for ``getconf``) unpacked with
``dpkg -x``, and the ``manylinux`` aarch64 wheels of numpy, onnxruntime and ai-edge-litert unzipped
into ``ROOT/opt/bnn-site``. Next to it, a ``bin`` folder holds wrapper scripts named like the
board's commands (``python3``, ``uname``, ``getconf``, ``nproc``) that run the *arm64* binaries
under ``qemu-aarch64-static -L ROOT``. A :class:`~bnn_deploy.devices.transport_local.LocalTransport`
whose ``PATH`` starts with that folder is then a board as far as preflight and the board Python
runner can tell: ``uname -m`` says ``aarch64``, ``getconf LONG_BIT`` says 64, Python imports the
aarch64 wheels. No binfmt_misc registration (root in the host kernel) is needed: every arm64
program is started explicitly through qemu by its wrapper.

Downloads use the machine's own Debian sources through a *private* apt state directory (so the
host's dpkg architecture list and apt lists are never touched) and ``pip download`` with
``--only-binary=:all: --platform ...aarch64 --python-version 3.11``. A stamp file records what
was built; a second call with the same spec returns at once.

Versions: ai-edge-litert 2.0.2 (2.3.0's ``invoke()`` segfaults under qemu 7.2), onnxruntime
1.23.2, numpy 1.26.4.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from bnn_deploy.core.fileio import staged_dir

CACHE_ENV = "BNN_DEPLOY_TEST_CACHE"

# The arm64 packages of a Python 3.11 that imports numpy/onnxruntime/litert, plus the few tools
# preflight runs (uname and nproc from coreutils, getconf from libc-bin).
ARM64_PACKAGES: tuple[str, ...] = (
    "libc6",
    "libc-bin",
    "libgcc-s1",
    "libstdc++6",
    "libgomp1",
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "zlib1g",
    "libexpat1",
    "libffi8",
    "libssl3",
    "libbz2-1.0",
    "liblzma5",
    "libsqlite3-0",
    "libuuid1",
    "libncursesw6",
    "libtinfo6",
    "libreadline8",
    "coreutils",
    "libacl1",
    "libattr1",
    "libgmp10",
    "libselinux1",
    "libpcre2-8-0",
)
# A 32-bit armhf userland only needs to answer preflight's questions (no Python).
ARMHF_PACKAGES: tuple[str, ...] = (
    "libc6",
    "libc-bin",
    "libgcc-s1",
    "coreutils",
    "libacl1",
    "libattr1",
    "libgmp10",
    "libselinux1",
    "libpcre2-8-0",
)
AARCH64_WHEELS: tuple[str, ...] = ("numpy==1.26.4", "onnxruntime==1.23.2", "ai-edge-litert==2.0.2")
# pip does not widen an explicit --platform to older manylinux tags, so list every tag the
# userland's glibc (2.36, Debian 12) can load.
USERLAND_GLIBC_MINOR = 36
WHEEL_PLATFORMS: tuple[str, ...] = (
    "manylinux2014_aarch64",
    *(f"manylinux_2_{minor}_aarch64" for minor in range(17, USERLAND_GLIBC_MINOR + 1)),
)

QEMU = {
    "arm64": ("qemu-aarch64-static", "/lib/ld-linux-aarch64.so.1"),
    "armhf": ("qemu-arm-static", "/lib/ld-linux-armhf.so.3"),
}
COMMANDS = ("uname", "getconf", "nproc")
SITE_DIR = "opt/bnn-site"


class SetupUnavailable(RuntimeError):
    """The registries (apt or pip) could not be reached: tests skip with this message."""


def cache_dir() -> Path:
    """``$BNN_DEPLOY_TEST_CACHE`` or ``~/.cache/bnn-deploy-tests``."""
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "bnn-deploy-tests"


def _spec_hash(arch: str, packages, wheels) -> str:
    blob = json.dumps(
        {"arch": arch, "packages": list(packages), "wheels": list(wheels), "platforms": list(WHEEL_PLATFORMS)},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _run(argv: list[str], *, cwd=None, timeout: float = 900) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SetupUnavailable(f"`{' '.join(argv[:3])} ...` timed out after {timeout:.0f} s") from None
    except FileNotFoundError:
        raise SetupUnavailable(f"{argv[0]} is not installed") from None
    return proc


def _apt_options(state: Path, arch: str) -> list[str]:
    """apt-get options for a private state/cache dir that only knows ``arch``.

    The machine's sources and keyrings are reused; its package lists and dpkg status are not, so
    nothing on the host changes (no ``dpkg --add-architecture``).
    """
    (state / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (state / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    status = state / "status"
    status.touch()
    return [
        "-o",
        f"Dir::State={state}",
        "-o",
        f"Dir::State::status={status}",
        "-o",
        f"Dir::Cache={state / 'cache'}",
        "-o",
        f"APT::Architecture={arch}",
        "-o",
        f"APT::Architectures::={arch}",
        # root's apt drops to user _apt, which cannot write under /root/.cache.
        "-o",
        "APT::Sandbox::User=root",
        "-o",
        "Debug::NoLocking=1",
        "-qq",
    ]


def download_debs(packages, arch: str, dest: Path, work: Path) -> list[Path]:
    """``apt-get download`` the ``arch`` builds of ``packages`` into ``dest``."""
    opts = _apt_options(work / f"apt-{arch}", arch)
    update = _run(["apt-get", *opts, "update"], timeout=600)
    # A failed index (e.g. a mirror mid-sync on bookworm-security) is not fatal by itself: apt
    # keeps the indexes it got, and the download below says whether they were enough.
    shutil.rmtree(dest, ignore_errors=True)  # leftovers of an interrupted build: other versions
    dest.mkdir(parents=True)
    proc = _run(["apt-get", *opts, "download", *[f"{p}:{arch}" for p in packages]], cwd=dest)
    if proc.returncode != 0:
        hint = f" (apt-get update said: {update.stderr.strip()[-200:]})" if update.returncode else ""
        raise SetupUnavailable(f"apt-get download ({arch}) failed: {proc.stderr.strip()[-300:]}{hint}")
    return sorted(dest.glob("*.deb"))


def download_wheels(wheels, dest: Path) -> list[Path]:
    """``pip download`` aarch64/cp311 wheels (and their dependencies) into ``dest``."""
    shutil.rmtree(dest, ignore_errors=True)
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--abi",
        "cp311",
        *[arg for plat in WHEEL_PLATFORMS for arg in ("--platform", plat)],
        "-d",
        str(dest),
        *wheels,
    ]
    proc = _run(argv)
    if proc.returncode != 0:
        raise SetupUnavailable(f"pip download of aarch64 wheels failed: {proc.stderr.strip()[-400:]}")
    return sorted(dest.glob("*.whl"))


def _unpack_debs(debs: list[Path], root: Path) -> None:
    for deb in debs:
        proc = _run(["dpkg", "-x", str(deb), str(root)])
        if proc.returncode != 0:
            raise RuntimeError(f"dpkg -x {deb.name} failed: {proc.stderr.strip()}")


def _unpack_wheels(wheels: list[Path], site: Path) -> None:
    site.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                zf.extract(info, site)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(site / info.filename, mode)


def build_userland(
    arch: str = "arm64",
    *,
    cache: Path | None = None,
    packages=None,
    wheels=None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Build (or reuse) the ``arch`` userland and return its ``ROOT``.

    ``arch`` is ``arm64`` (Python + wheels) or ``armhf`` (tools only). The result lives in
    ``<cache>/<arch>-<spec hash>/root`` and is built in a temporary folder then renamed, so an
    interrupted build never leaves a half-built root. Raises :class:`SetupUnavailable` when apt or
    pip cannot reach their registries.
    """
    if arch not in QEMU:
        raise ValueError(f"unknown emulated arch {arch!r}; choose one of {', '.join(QEMU)}")
    packages = tuple(packages if packages is not None else (ARM64_PACKAGES if arch == "arm64" else ARMHF_PACKAGES))
    wheels = tuple(wheels if wheels is not None else (AARCH64_WHEELS if arch == "arm64" else ()))
    progress = progress or (lambda msg: None)
    cache = Path(cache) if cache is not None else cache_dir()
    home = cache / f"{arch}-{_spec_hash(arch, packages, wheels)}"
    root = home / "root"
    if (home / "stamp.json").is_file() and root.is_dir():
        return root

    home.mkdir(parents=True, exist_ok=True)
    downloads = home / "downloads"
    debs = download_debs(packages, arch, downloads / "debs", home)
    progress(f"downloaded {len(debs)} {arch} .debs")
    whls = download_wheels(wheels, downloads / "wheels") if wheels else []
    if wheels:
        progress(f"downloaded {len(whls)} wheels")

    # A previous root is swapped out only once the new one is complete.
    with staged_dir(root) as staging:
        _unpack_debs(debs, staging)
        _unpack_wheels(whls, staging / SITE_DIR)
    (home / "stamp.json").write_text(
        json.dumps(
            {
                "arch": arch,
                "packages": packages,
                "wheels": wheels,
                "debs": [d.name for d in debs],
                "wheel_files": [w.name for w in whls],
            },
            indent=2,
        )
    )
    # The unpacked root is all later runs need; the archives and apt lists are ~150 MB more.
    shutil.rmtree(downloads, ignore_errors=True)
    shutil.rmtree(home / f"apt-{arch}", ignore_errors=True)
    return root


def _find_program(root: Path, name: str) -> Path | None:
    for folder in ("usr/bin", "bin", "usr/sbin", "sbin"):
        candidate = root / folder / name
        if candidate.is_file():
            return candidate
    return None


def write_wrappers(root: Path, arch: str = "arm64") -> Path:
    """Write ``<root>/../bin`` with the board's commands, each run by qemu; return that folder.

    ``python3`` runs the userland's python3.11 with the unpacked wheels on ``PYTHONPATH``; the
    others run the arm64/armhf builds of ``uname``, ``getconf`` and ``nproc``.
    """
    qemu_name = QEMU[arch][0]
    qemu = shutil.which(qemu_name)
    if qemu is None:
        raise SetupUnavailable(f"{qemu_name} is not installed (apt-get install qemu-user-static)")
    root = Path(root).resolve()
    bin_dir = root.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    scripts = {}
    for name in COMMANDS:
        program = _find_program(root, name)
        if program is not None:
            scripts[name] = f'exec "{qemu}" -L "{root}" "{program}" "$@"\n'
    python = _find_program(root, "python3.11")
    if python is not None:
        # -s/-E are not used: PYTHONPATH must reach the interpreter; PYTHONHOME must not be set.
        scripts["python3"] = (
            f'unset PYTHONHOME\nPYTHONPATH="{root / SITE_DIR}" PYTHONNOUSERSITE=1 '
            f'exec "{qemu}" -L "{root}" "{python}" "$@"\n'
        )
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n# emulated board command (support.emulated_board)\n" + body)
        path.chmod(0o755)
    return bin_dir


def emulated_transport(root: Path, arch: str = "arm64"):
    """A local transport whose ``PATH`` starts with the emulated board's commands."""
    from bnn_deploy.devices.transport_local import LocalTransport

    bin_dir = write_wrappers(root, arch)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    return LocalTransport(env={"PATH": path}, description=f"emulated {arch} board (qemu-user, {root})")


if __name__ == "__main__":  # `python -m support.emulated_board [arm64|armhf]` pre-warms CI
    for name in sys.argv[1:] or ["arm64"]:
        print(build_userland(name, progress=print))
