"""Device profiles: what a kind of board is, what it should run and how it is usually reached.

A profile is a fixed description of a board model (CPU, cores, clock, RAM), the CPU architecture
and userland its runtimes need, the ``lce_benchmark_model`` build target (see
:data:`bnn_deploy.core.targets.TARGETS`), the default transport and work directory.
Preflight compares what the board *reports* with its profile, and the report stores both, so a
"pi4" that turns out to run a 32-bit OS or to be throttled is visible in the numbers.

``host`` is this machine: its facts are read at call time.
"""

from __future__ import annotations

import os
import platform

from bnn_deploy.core.errors import BnnDeployError

# What every Raspberry Pi on a 64-bit OS shares: reached over SSH, runs the arm64 LCE binary.
_PI_64BIT = {
    "os": "linux",
    "lce_target": "arm64",
    "transport": "ssh",
    "work_dir": "/tmp",
    "expected_runtime": "lce_benchmark_model (build-runtime --target arm64); Python 3 with "
    "ai-edge-litert / onnxruntime for the float, int8 and ONNX artifacts",
}

PROFILES: dict[str, dict] = {
    "pi4": {
        "description": "Raspberry Pi 4 Model B (BCM2711), 64-bit Raspberry Pi OS",
        "arch": "aarch64",
        "cpu": "4x Cortex-A72",
        "cores": 4,
        "clock_mhz": 1500,  # 1800 on boards from revision 1.4 (late 2020) with current firmware
        "ram_gb": [1, 2, 4, 8],
        **_PI_64BIT,
        "notes": "needs a 64-bit OS (uname -m: aarch64); use a fan or heatsink: it throttles at 80-85 °C",
    },
    "pi5": {
        "description": "Raspberry Pi 5 (BCM2712), 64-bit Raspberry Pi OS",
        "arch": "aarch64",
        "cpu": "4x Cortex-A76",
        "cores": 4,
        "clock_mhz": 2400,
        "ram_gb": [2, 4, 8, 16],
        **_PI_64BIT,
        "notes": "use the active cooler: without it the Pi 5 throttles under sustained load",
    },
    "pi3-64": {
        "description": "Raspberry Pi 3 Model B/B+ (BCM2837) on a 64-bit OS",
        "arch": "aarch64",
        "cpu": "4x Cortex-A53",
        "cores": 4,
        "clock_mhz": 1200,  # 1400 on the 3B+
        "ram_gb": [1],
        **_PI_64BIT,
        "expected_runtime": "lce_benchmark_model (build-runtime --target arm64); Python is "
        "possible but 1 GB of RAM is tight for large inputs",
        "notes": "a 32-bit OS on a Pi 3 runs LCE's armv7 kernels (build-runtime --target armv7), "
        "far slower; under-voltage throttling is common with weak power supplies",
    },
    "android-arm64": {
        "description": "Android phone or board with a 64-bit ARM CPU (arm64-v8a), Android 11+",
        "arch": "aarch64",
        "cpu": "varies (big.LITTLE)",
        "cores": 8,
        "clock_mhz": None,
        "ram_gb": None,
        "os": "android",
        "lce_target": "android-arm64",
        "transport": "adb",
        "work_dir": "/data/local/tmp",
        "expected_runtime": "lce_benchmark_model (build-runtime --target android-arm64) only; "
        "there is no Python on the phone",
        "notes": "pin to big cores with taskset where possible; keep the screen on and the phone "
        "cool, Android throttles aggressively",
    },
    "host": {
        "description": "this machine",
        "arch": None,  # filled in by get_profile
        "cpu": None,
        "cores": None,
        "clock_mhz": None,
        "ram_gb": None,
        "os": "linux",
        "lce_target": None,  # the host runs LCE through its Python interpreter, not a binary
        "transport": "local",
        "work_dir": "/tmp",
        "expected_runtime": "this Python: LCE interpreter, TFLite, ONNX Runtime, PyTorch",
        "notes": "the host bench (bnn-deploy bench --device host) measures here directly",
    },
}


def _host_facts() -> dict:
    """Architecture, CPU name, cores and RAM of this machine."""
    cpu = platform.processor() or None
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    # x86 names the CPU in "model name" ("model" is a number there); a Pi in "Model"/"Hardware".
    cpu = fields.get("model name") or fields.get("Model") or fields.get("Hardware") or cpu
    ram_gb = None
    try:
        ram_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {"arch": platform.machine(), "cpu": cpu, "cores": os.cpu_count(), "ram_gb": ram_gb}


def get_profile(name: str) -> dict:
    """The profile ``name`` (a copy, with ``name`` set); a one-line error lists the valid ones."""
    if name not in PROFILES:
        raise BnnDeployError(
            f"unknown device {name!r}; choose a profile ({', '.join(PROFILES)}) "
            "or a board named in the inventory (bnn-deploy devices lists both)"
        )
    profile = dict(PROFILES[name], name=name)
    if name == "host":
        profile.update(_host_facts())
    return profile


def list_profiles() -> list[dict]:
    """Every profile, in a stable order."""
    return [get_profile(name) for name in PROFILES]


def render_profiles(profiles: list[dict]) -> str:
    """Text table of :func:`list_profiles`."""
    lines = ["device profiles:"]
    for p in profiles:
        clock = f"{p['clock_mhz']} MHz" if p.get("clock_mhz") else "-"
        ram = "/".join(str(r) for r in p["ram_gb"]) if isinstance(p.get("ram_gb"), list) else p.get("ram_gb") or "-"
        lines.append(
            f"  {p['name']:<14} {p['arch'] or '?':<8} {p['cpu'] or '?'}, "
            f"{p['cores'] or '?'} cores, {clock}, RAM {ram} GB"
        )
        lines.append(
            f"  {'':<14} {p['description']}; transport {p['transport']}, LCE target "
            f"{p['lce_target'] or '- (Python interpreter)'}"
        )
    return "\n".join(lines)
