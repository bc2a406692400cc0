"""The one table of board targets: what an export is converted for and what runs it on the board.

All ARM boards run the same LCE flatbuffer (LCE converter target ``"arm"``); they differ in the
board runtime (``lce_benchmark_model``) built for them: the Bazel config, the Docker stage that
builds it, the ELF machine and word size it must have, and what the board needs to run it.
LCE's ``"xcore"`` converter target is a different chip family and is not offered.
"""

from __future__ import annotations

from bnn_deploy.core.errors import BnnDeployError

TARGETS: dict[str, dict] = {
    "arm64": {
        "lce_converter_target": "arm",
        "docker_stage": "arm64",
        "elf_machine": "AArch64",
        "elf_class": 64,
        "bazel_config": "aarch64",
        "android": False,
        "board": "Raspberry Pi 4/5 (or another ARMv8-A board) running a 64-bit Linux",
        "needs": (
            "a 64-bit OS (`uname -m` prints aarch64) with the glibc the binary needs (preflight reads it from the "
            "binary; see docs/runtimes.md), e.g. "
            "Raspberry Pi OS 64-bit"
        ),
    },
    "armv7": {
        "lce_converter_target": "arm",
        "docker_stage": "armv7",
        "elf_machine": "ARM",
        "elf_class": 32,
        "bazel_config": "rpi3",
        "android": False,
        "board": "Raspberry Pi 2/3/4 running 32-bit Raspberry Pi OS (armhf)",
        "needs": (
            "a 32-bit armhf OS (`uname -m` prints armv7l) with the glibc the binary needs (preflight checks it) on an "
            "ARMv7-A CPU with NEON (Pi 2 v1.2 and later); on a 64-bit OS use arm64 instead"
        ),
    },
    "android-arm64": {
        "lce_converter_target": "arm",
        "docker_stage": "android-arm64",
        "elf_machine": "AArch64",
        "elf_class": 64,
        "bazel_config": "android_arm64",
        "android": True,
        "board": "Android phone or board with a 64-bit ARM CPU (arm64-v8a)",
        "needs": (
            "Android 11 (API 30) or newer and adb: `adb push` it to /data/local/tmp, "
            "`chmod +x` it there and run it with `adb shell`"
        ),
    },
}


def get_target(target: str) -> dict:
    """The :data:`TARGETS` entry for ``target``, or a one-line error naming the valid ones."""
    try:
        return TARGETS[target]
    except (KeyError, TypeError):
        raise BnnDeployError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}") from None


def lce_converter_target(target: str) -> str:
    """The LCE converter target (``"arm"``) for board ``target``; unknown names are a clear error."""
    return get_target(target)["lce_converter_target"]
