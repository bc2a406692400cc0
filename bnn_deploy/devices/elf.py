"""Read just enough of an ELF header to tell which machine a binary is for.

An on-device runtime is useless (and its failure on the board is confusing) if it was built for
the wrong CPU, so every binary is checked before it is registered. This reads the ELF header and
the program headers with :mod:`struct` -- no ``file``/``readelf`` needed -- and reports the
machine (AArch64, ARM, x86-64, ...), word size, byte order, OS ABI and the dynamic loader
(``PT_INTERP``: ``/lib/ld-linux-aarch64.so.1`` for glibc, ``/system/bin/linker64`` for Android,
``None`` for a static binary).
"""

from __future__ import annotations

import struct
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.targets import TARGETS, get_target

ELF_MAGIC = b"\x7fELF"

# e_machine values (System V ABI, "Machine" table).
MACHINES = {
    0x03: "x86",
    0x08: "MIPS",
    0x14: "PowerPC",
    0x15: "PowerPC64",
    0x28: "ARM",
    0x3E: "x86-64",
    0xB7: "AArch64",
    0xF3: "RISC-V",
}

OS_ABIS = {
    0x00: "SYSV",
    0x03: "Linux",
    0x06: "Solaris",
    0x09: "FreeBSD",
    0x61: "ARM",
}

ELF_TYPES = {0: "none", 1: "relocatable", 2: "executable", 3: "shared", 4: "core"}

PT_INTERP = 3
_MAX_INTERP = 4096  # a loader path longer than this is a corrupt header, not a path


def _read_exact(fh, offset: int, size: int, path: Path, what: str) -> bytes:
    fh.seek(offset)
    data = fh.read(size)
    if len(data) != size:
        raise BnnDeployError(
            f"{path} is a truncated ELF file (cannot read its {what}); "
            "the download or build did not finish, get the binary again"
        )
    return data


def read_elf_header(path) -> dict:
    """Parse the ELF header of ``path``.

    Returns ``dict(machine, bits, endian, os_abi, interpreter, type, e_machine)``: ``machine`` is a
    name ("AArch64", "ARM", "x86-64", or "unknown (0x..)"), ``bits`` 32 or 64, ``endian``
    "little"/"big", ``os_abi`` a name, ``interpreter`` the ``PT_INTERP`` loader path or ``None``
    for a static binary, ``type`` "executable"/"shared"/..., ``e_machine`` the raw number.
    Raises :class:`BnnDeployError` if the file is missing, not an ELF file, or truncated.
    """
    path = Path(path)
    if not path.exists():
        raise BnnDeployError(f"{path} does not exist; check the path of the binary")
    if not path.is_file():
        raise BnnDeployError(f"{path} is not a regular file; pass the lce_benchmark_model binary itself")
    with open(path, "rb") as fh:
        ident = fh.read(16)
        if len(ident) < 4 or ident[:4] != ELF_MAGIC:
            raise BnnDeployError(
                f"{path} is not an ELF file (it does not start with the ELF magic "
                "bytes); pass the compiled lce_benchmark_model binary, not a script, "
                "archive or download page"
            )
        if len(ident) < 16:
            raise BnnDeployError(f"{path} is a truncated ELF file (only {len(ident)} bytes); get the binary again")
        ei_class, ei_data, os_abi = ident[4], ident[5], ident[7]
        if ei_class not in (1, 2) or ei_data not in (1, 2):
            raise BnnDeployError(
                f"{path} has a corrupt ELF header (class {ei_class}, data {ei_data}); get the binary again"
            )
        bits = 32 if ei_class == 1 else 64
        endian = "little" if ei_data == 1 else "big"
        e = "<" if endian == "little" else ">"

        if bits == 64:
            # e_type e_machine e_version e_entry e_phoff e_shoff e_flags e_ehsize e_phentsize e_phnum
            fmt = e + "HHIQQQIHHH"
        else:
            fmt = e + "HHIIIIIHHH"
        raw = _read_exact(fh, 16, struct.calcsize(fmt), path, "header")
        (e_type, e_machine, _version, _entry, e_phoff, _shoff, e_flags, _ehsize, e_phentsize, e_phnum) = struct.unpack(
            fmt, raw
        )

        interpreter = None
        ph_fmt = e + ("IIQQQQ" if bits == 64 else "IIIII")  # enough fields to reach p_filesz
        ph_size = struct.calcsize(ph_fmt)
        if e_phoff and e_phnum and e_phentsize >= ph_size:
            for i in range(e_phnum):
                ph = _read_exact(fh, e_phoff + i * e_phentsize, ph_size, path, "program headers")
                fields = struct.unpack(ph_fmt, ph)
                if fields[0] != PT_INTERP:
                    continue
                if bits == 64:
                    p_offset, p_filesz = fields[2], fields[5]
                else:
                    p_offset, p_filesz = fields[1], fields[4]
                if p_filesz > _MAX_INTERP:
                    raise BnnDeployError(
                        f"{path} has a corrupt ELF program header "
                        f"(loader path of {p_filesz} bytes); get the binary again"
                    )
                blob = _read_exact(fh, p_offset, p_filesz, path, "loader path")
                interpreter = blob.split(b"\0", 1)[0].decode("utf-8", "replace")
                break

    return {
        "machine": MACHINES.get(e_machine, f"unknown (0x{e_machine:x})"),
        "bits": bits,
        "endian": endian,
        "os_abi": OS_ABIS.get(os_abi, f"0x{os_abi:x}"),
        "interpreter": interpreter,
        "type": ELF_TYPES.get(e_type, f"0x{e_type:x}"),
        "e_machine": e_machine,
        "flags": e_flags,
    }


def _is_android_loader(interpreter: str | None) -> bool:
    return bool(interpreter) and interpreter.startswith("/system/bin/linker")


def _targets() -> dict:
    return TARGETS


def _matching_targets(header: dict) -> list[str]:
    return [
        name
        for name, spec in _targets().items()
        if spec["elf_machine"] == header["machine"] and spec["elf_class"] == header["bits"]
    ]


def verify_elf(path, target: str) -> dict:
    """Check that ``path`` is an executable ELF for ``target``; return its header.

    Refuses (with a one-line :class:`BnnDeployError`) a non-ELF file, a binary for another CPU or
    word size, a big-endian binary, an object file, an Android binary for a Linux target and a
    glibc binary for the Android target. A static binary (no loader) is accepted for either.
    """
    spec = get_target(target)
    header = read_elf_header(path)
    need = f"{spec['elf_machine']} ({spec['elf_class']}-bit)"
    have = f"{header['machine']} ({header['bits']}-bit)"

    if header["machine"] != spec["elf_machine"] or header["bits"] != spec["elf_class"]:
        others = [t for t in _matching_targets(header) if t != target]
        hint = f" (it looks like a build for --target {others[0]})" if others else ""
        raise BnnDeployError(
            f"{path} is an ELF for {have}, but target {target} needs {need}{hint}; rebuild with "
            f"`bnn-deploy build-runtime --target {target}` or pass the binary built for {target}"
        )
    if header["endian"] != "little":
        raise BnnDeployError(
            f"{path} is a big-endian {header['machine']} ELF, but target {target} "
            f"needs little-endian {need}; rebuild with "
            f"`bnn-deploy build-runtime --target {target}`"
        )
    if header["type"] not in ("executable", "shared"):
        raise BnnDeployError(
            f"{path} is an ELF {header['type']} file, not a program; pass the linked lce_benchmark_model binary"
        )

    android = spec.get("android", False)
    interp = header["interpreter"]
    if android and interp and not _is_android_loader(interp):
        raise BnnDeployError(
            f"{path} is a Linux {have} binary (loader {interp}), but target {target} "
            "needs an Android binary (loader /system/bin/linker64); rebuild with "
            f"`bnn-deploy build-runtime --target {target}`"
        )
    if not android and _is_android_loader(interp):
        android_targets = [t for t, s in _targets().items() if s.get("android")]
        hint = f"--target {android_targets[0]}" if android_targets else "an Android target"
        raise BnnDeployError(
            f"{path} is an Android binary (loader {interp}), but target {target} "
            f"is a Linux board; register it with {hint} or rebuild with "
            f"`bnn-deploy build-runtime --target {target}`"
        )
    return header
