"""Preflight: ask the board what it is before measuring anything, and refuse what cannot work.

One POSIX ``sh`` script (it runs on Raspberry Pi OS, Debian, Ubuntu and Android's mksh/toybox)
prints sections: ``uname -m``, the userland's word size (``getconf LONG_BIT``: 32 on a 32-bit OS
even on a 64-bit CPU/kernel), the glibc version, the CPU model, core count, cpufreq governor and
clocks, the SoC temperature, ``vcgencmd get_throttled`` where present, free memory and the
Android SDK level. :func:`check_facts` turns them into errors (the run is refused) and warnings
(printed and stored in the report):

* an AArch64 binary on a 32-bit userland, or any binary for another CPU → error;
* a 32-bit OS → warning: LCE's optimized aarch64 kernels are lost (≈20× slower);
* glibc older than the binary needs → error;
* governor not ``performance``, throttling now or since boot, threads > cores → warnings
  (more than 4× the cores → an error, as on the host);
* less free memory than the model needs → error (or a warning near the limit);
* ``uname -m`` says aarch64 but ``/proc/cpuinfo`` describes an x86 CPU → the board is emulated
  (qemu-user): its timings are never reported as device latency.
"""

from __future__ import annotations

import re
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.values import check_thread_counts

PREFLIGHT_SCRIPT = r"""
s() { echo "@@$1"; }
s uname_m; uname -m 2>/dev/null
s uname_a; uname -a 2>/dev/null
s long_bit; getconf LONG_BIT 2>/dev/null
s glibc; getconf GNU_LIBC_VERSION 2>/dev/null || ldd --version 2>&1 | head -n 1
s nproc; nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo 2>/dev/null
s cpuinfo; cat /proc/cpuinfo 2>/dev/null | head -n 60
s dt_model; cat /proc/device-tree/model 2>/dev/null; echo
s governor; cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null
s cur_freq; cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq 2>/dev/null
s max_freq; cat /sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq 2>/dev/null
s temp; cat /sys/class/thermal/thermal_zone0/temp 2>/dev/null
s throttled; command -v vcgencmd >/dev/null 2>&1 && vcgencmd get_throttled 2>/dev/null
s meminfo; grep -E '^(MemTotal|MemAvailable|MemFree):' /proc/meminfo 2>/dev/null
s os_release; grep -E '^(PRETTY_NAME)=' /etc/os-release 2>/dev/null
s android_sdk; command -v getprop >/dev/null 2>&1 && getprop ro.build.version.sdk
s end
"""

# vcgencmd get_throttled bits (Raspberry Pi firmware documentation).
THROTTLE_NOW = {0: "under-voltage", 1: "ARM frequency capped", 2: "throttled", 3: "soft temperature limit"}
THROTTLE_SINCE_BOOT = {16: "under-voltage", 17: "ARM frequency capped", 18: "throttled", 19: "soft temperature limit"}
ARCH_ALIASES = {
    "arm64": "aarch64",
    "aarch64": "aarch64",
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "armv7l": "armv7",
    "armv7": "armv7",
    "armv8l": "armv7",
    "armv6l": "armv6",
    "armhf": "armv7",
    "i686": "x86",
    "i386": "x86",
}
ELF_ARCH = {("AArch64", 64): "aarch64", ("ARM", 32): "armv7", ("x86-64", 64): "x86_64", ("x86", 32): "x86"}
X86_CPUINFO = re.compile(r"^(vendor_id|flags)\s*:.*", re.M)
_GLIBC_NEED = re.compile(rb"GLIBC_(2\.\d+(?:\.\d+)?)\x00")


# ---------------------------------------------------------------- gathering


def split_sections(text: str) -> dict[str, str]:
    """``@@name`` markers → ``{name: text}`` (stripped)."""
    sections, name, lines = {}, None, []
    for line in text.splitlines():
        if line.startswith("@@"):
            if name is not None:
                sections[name] = "\n".join(lines).strip()
            name, lines = line[2:].strip(), []
        elif name is not None:
            lines.append(line)
    if name is not None:
        sections[name] = "\n".join(lines).strip()
    return sections


def _int(text: str | None) -> int | None:
    text = (text or "").strip().split("\n")[0]
    return int(text) if text.isdigit() else None


def _cpu_model(cpuinfo: str, dt_model: str) -> str | None:
    if dt_model.strip("\x00 \n"):
        return dt_model.strip("\x00 \n")
    for key in ("Model", "model name", "Hardware", "Processor"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", cpuinfo, re.M)
        if m:
            return m.group(1).strip()
    m = re.search(r"^CPU part\s*:\s*(\S+)", cpuinfo, re.M)
    return f"ARM CPU part {m.group(1)}" if m else None


def parse_facts(text: str) -> dict:
    """The preflight script's output → facts dict (see module docstring)."""
    sec = split_sections(text)
    if "end" not in sec:
        raise BnnDeployError(
            "the board's preflight script did not finish (its output ends early); check that the board has a POSIX sh"
        )
    uname_m = sec.get("uname_m", "").strip() or None
    long_bit = _int(sec.get("long_bit"))
    glibc = None
    m = re.search(r"(\d+\.\d+)", sec.get("glibc", ""))
    if m and (
        "glibc" in sec.get("glibc", "").lower()
        or "gnu libc" in sec.get("glibc", "").lower()
        or "ldd" in sec.get("glibc", "").lower()
    ):
        glibc = m.group(1)
    mem = {k: int(v) * 1024 for k, v in re.findall(r"^(\w+):\s+(\d+)\s*kB", sec.get("meminfo", ""), re.M)}
    throttled_raw = None
    m = re.search(r"throttled=(0x[0-9a-fA-F]+)", sec.get("throttled", ""))
    if m:
        throttled_raw = int(m.group(1), 16)
    temp = _int(sec.get("temp"))
    arch = ARCH_ALIASES.get(uname_m or "", uname_m)
    cpuinfo = sec.get("cpuinfo", "")
    os_name = None
    m = re.search(r'PRETTY_NAME="?([^"\n]+)', sec.get("os_release", ""))
    if m:
        os_name = m.group(1)
    sdk = _int(sec.get("android_sdk"))
    return {
        "uname_m": uname_m,
        "kernel": sec.get("uname_a") or None,
        "arch": arch,
        "userland_bits": long_bit,
        "glibc": glibc,
        "os": os_name or (f"Android (SDK {sdk})" if sdk else None),
        "android_sdk": sdk,
        "cpu_model": _cpu_model(cpuinfo, sec.get("dt_model", "")),
        "cores": _int(sec.get("nproc")),
        "governor": sec.get("governor") or None,
        "cur_freq_mhz": (_int(sec.get("cur_freq")) or 0) // 1000 or None,
        "max_freq_mhz": (_int(sec.get("max_freq")) or 0) // 1000 or None,
        "temperature_c": round(temp / 1000, 1) if temp is not None and temp > 1000 else temp,
        "throttled": throttled_raw,
        "mem_total_bytes": mem.get("MemTotal"),
        "mem_available_bytes": mem.get("MemAvailable", mem.get("MemFree")),
        "emulated": bool(arch not in (None, "x86_64", "x86") and X86_CPUINFO.search(cpuinfo)),
    }


def gather_facts(transport, *, timeout: float = 60) -> dict:
    """Run the preflight script on the board and parse it."""
    result = transport.run(PREFLIGHT_SCRIPT, timeout=timeout)
    return parse_facts(result.stdout)


# ---------------------------------------------------------------- what a binary needs


def required_glibc(path) -> str | None:
    """The newest ``GLIBC_2.x`` symbol version a dynamic binary asks for, or ``None``.

    Version-need entries are NUL-terminated strings in ``.dynstr``; scanning the file for them
    finds exactly those (a static binary has none, so it needs no particular glibc).
    """
    found = _GLIBC_NEED.findall(Path(path).read_bytes())
    if not found:
        return None
    return max((v.decode() for v in found), key=version_key)


def version_key(version: str) -> tuple[int, ...]:
    """``"2.28"`` → ``(2, 28)`` for comparisons."""
    return tuple(int(p) for p in re.findall(r"\d+", version))


def binary_needs(path) -> dict:
    """What a local runtime binary needs from the board: arch, bits, glibc, Android or not.

    A ``#!`` script (a wrapper around the real binary) needs nothing we can check.
    """
    from bnn_deploy.devices.elf import ELF_MAGIC, read_elf_header

    path = Path(path)
    if not path.is_file():
        raise BnnDeployError(
            f"runtime binary {path} does not exist; build it with `bnn-deploy "
            "build-runtime` or pass --runtime-bin the lce_benchmark_model file"
        )
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] == b"#!":
        return {"path": str(path), "kind": "script", "arch": None, "bits": None, "glibc": None, "android": False}
    if head != ELF_MAGIC:
        raise BnnDeployError(
            f"runtime binary {path} is neither an ELF program nor a #! script; pass the lce_benchmark_model binary"
        )
    header = read_elf_header(path)
    interp = header["interpreter"] or ""
    return {
        "path": str(path),
        "kind": "elf",
        "machine": header["machine"],
        "bits": header["bits"],
        "arch": ELF_ARCH.get((header["machine"], header["bits"]), header["machine"]),
        "glibc": required_glibc(path) if interp and "linker" not in interp else None,
        "android": interp.startswith("/system/bin/linker"),
        "interpreter": interp or None,
    }


# ---------------------------------------------------------------- checks


def throttle_states(value: int | None) -> tuple[list[str], list[str]]:
    """Names of the throttling conditions active now and seen since boot."""
    if value is None:
        return [], []
    return (
        [name for bit, name in THROTTLE_NOW.items() if value >> bit & 1],
        [name for bit, name in THROTTLE_SINCE_BOOT.items() if value >> bit & 1],
    )


def check_facts(
    facts: dict, profile: dict, *, binary: dict | None = None, threads: int = 1, memory_need: int | None = None
) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` for running ``binary`` (from :func:`binary_needs`) on this board."""
    errors, warnings = [], []
    arch, bits = facts.get("arch"), facts.get("userland_bits")
    name = profile["name"]

    if profile.get("arch") and arch and arch != profile["arch"]:
        warnings.append(f"profile {name} expects {profile['arch']} but the board reports {facts.get('uname_m')}")
    if arch in ("armv7", "armv6") or (arch == "aarch64" and bits == 32):
        warnings.append(
            "the board runs a 32-bit OS: LCE's optimized aarch64 kernels are not "
            "available and binary convs run about 20x slower; install a 64-bit OS "
            "(e.g. Raspberry Pi OS 64-bit)"
        )

    if binary and binary.get("kind") == "elf":
        need_arch, need_bits = binary["arch"], binary["bits"]
        if need_arch == "aarch64" and arch == "aarch64" and bits == 32:
            errors.append(
                f"the board's userland is 32-bit (getconf LONG_BIT = 32 on a 64-bit "
                f"kernel) but {Path(binary['path']).name} is an AArch64 program; install "
                "a 64-bit OS, or use a runtime built with build-runtime --target armv7"
            )
        elif need_arch == "aarch64" and arch in ("armv7", "armv6"):
            errors.append(
                f"the board is {facts.get('uname_m')} (32-bit) but "
                f"{Path(binary['path']).name} is an AArch64 program; install a 64-bit "
                "OS, or use a runtime built with build-runtime --target armv7"
            )
        elif arch and need_arch != arch:
            errors.append(
                f"{Path(binary['path']).name} is a {binary['machine']} "
                f"({need_bits}-bit) program but the board is {facts.get('uname_m')}; "
                f"pass the build for this board (bnn-deploy build-runtime --target "
                f"{profile.get('lce_target') or 'arm64'})"
            )
        if binary.get("android") and not facts.get("android_sdk"):
            errors.append(
                f"{Path(binary['path']).name} is an Android program but the board is not Android; use the arm64 build"
            )
        if binary.get("glibc") and facts.get("glibc") and version_key(facts["glibc"]) < version_key(binary["glibc"]):
            errors.append(
                f"{Path(binary['path']).name} needs glibc {binary['glibc']} or newer but "
                f"the board has {facts['glibc']}; upgrade the OS or rebuild with "
                "bnn-deploy build-runtime (docs/runtimes.md: the glibc each build needs)"
            )
        elif binary.get("glibc") and not facts.get("glibc") and not facts.get("android_sdk"):
            warnings.append(f"could not read the board's glibc version; the binary needs {binary['glibc']}")

    governor = facts.get("governor")
    if governor and governor != "performance":
        warnings.append(
            f"cpufreq governor is {governor}: the clock ramps during the run and "
            "latency varies; for stable numbers: echo performance | sudo tee "
            "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"
        )
    now, since_boot = throttle_states(facts.get("throttled"))
    if now:
        warnings.append(
            f"the board is throttling NOW ({', '.join(now)}, get_throttled="
            f"{facts['throttled']:#x}): numbers will be low; fix power/cooling first"
        )
    elif since_boot:
        warnings.append(
            f"the board has throttled since boot ({', '.join(since_boot)}, "
            f"get_throttled={facts['throttled']:#x}); check the power supply and cooling"
        )
    cores = facts.get("cores")
    if cores:
        try:  # more than 4x the cores measures the scheduler, not the model: refused as on the host
            check_thread_counts([threads], cores, "the board")
        except BnnDeployError as exc:
            errors.append(str(exc))
        else:
            if threads > cores:
                warnings.append(f"--threads {threads} is more than the board's {cores} cores")

    available = facts.get("mem_available_bytes")
    if memory_need and available:
        if available < memory_need:
            errors.append(
                f"the board has {available / 2**20:.0f} MB available but the model needs "
                f"about {memory_need / 2**20:.0f} MB (weights, arena and tiles); use a "
                "smaller input/tile size or free memory on the board"
            )
        elif available < 1.5 * memory_need:
            warnings.append(
                f"free memory is tight: {available / 2**20:.0f} MB available for a "
                f"model needing about {memory_need / 2**20:.0f} MB"
            )
    if facts.get("emulated"):
        warnings.append(
            "the board is emulated (qemu-user: an x86 CPU behind an aarch64 userland): "
            "timings are not device latency and are not reported as such"
        )
    return errors, warnings


def run_preflight(
    transport,
    profile: dict,
    *,
    binary: dict | None = None,
    threads: int = 1,
    memory_need: int | None = None,
    timeout: float = 60,
) -> dict:
    """Gather facts, check them, and raise the first error; returns facts + warnings.

    Raises :class:`BnnDeployError` (one line, the first problem; the others are listed after it)
    when the run cannot work on this board.
    """
    facts = gather_facts(transport, timeout=timeout)
    errors, warnings = check_facts(facts, profile, binary=binary, threads=threads, memory_need=memory_need)
    if errors:
        more = f" (and {len(errors) - 1} more: {'; '.join(errors[1:])})" if len(errors) > 1 else ""
        raise BnnDeployError(f"preflight on {transport.description}: {errors[0]}{more}")
    return {"facts": facts, "warnings": warnings, "binary": binary, "memory_need_bytes": memory_need}


def render_preflight(pre: dict) -> str:
    """A few lines describing the board and the warnings."""
    f = pre["facts"]
    mem = f.get("mem_available_bytes")
    mem_text = f"{mem / 2**20:.0f} MB free" if mem else "free memory unknown"
    temp = f"{f['temperature_c']} °C" if f.get("temperature_c") is not None else "temperature -"
    lines = [
        f"board: {f.get('cpu_model') or '?'} | {f.get('uname_m')} kernel, "
        f"{f.get('userland_bits') or '?'}-bit userland | {f.get('os') or '?'} | glibc "
        f"{f.get('glibc') or '-'} | {f.get('cores') or '?'} cores | governor "
        f"{f.get('governor') or '-'} | {temp} | {mem_text}"
    ]
    lines += [f"warning: {w}" for w in pre["warnings"]]
    return "\n".join(lines)


# ---------------------------------------------------------------- how much memory a model needs

_DTYPE_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1, 10: 8}
_ONNX_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8}


def _peak_from_ops(ops, sizes: dict) -> int:
    """Twice the largest single-op activation footprint: a rough arena size.

    TFLite's arena and ORT's allocator reuse buffers, so the sum of all activations would be far too
    pessimistic; one op's inputs+outputs, doubled for tensors kept alive by skip connections, is a
    usable estimate for these feed-forward SR graphs.
    """
    biggest = max((sum(sizes.get(t, 0) for t in set(ins) | set(outs)) for ins, outs in ops), default=0)
    return 2 * biggest


def estimate_memory_bytes(path, input_shape=None) -> int:
    """About how much memory running ``path`` takes: file (weights) + arena + input/output tiles."""
    path = Path(path)
    size = path.stat().st_size
    if path.suffix == ".tflite":
        from bnn_deploy.core.flatbuffer import load_schema

        schema = load_schema()

        model = schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)
        graph = model.subgraphs[0]
        sizes = {}
        for i, t in enumerate(graph.tensors):
            buf = model.buffers[t.buffer] if model.buffers and t.buffer < len(model.buffers) else None
            if buf is not None and (buf.data is not None and len(buf.data) or buf.size):
                continue  # a constant: already counted in the file size
            count = 1
            for d in t.shape if t.shape is not None else []:
                count *= max(int(d), 1)
            sizes[i] = count * _DTYPE_BYTES.get(int(t.type), 4)
        ops = [
            (list(op.inputs if op.inputs is not None else []), list(op.outputs if op.outputs is not None else []))
            for op in graph.operators or []
        ]
        io = sum(sizes.get(int(i), 0) for i in list(graph.inputs) + list(graph.outputs))
        return size + _peak_from_ops(ops, sizes) + io
    if path.suffix == ".onnx" and input_shape:
        import onnx

        model = onnx.load(str(path))
        dims = model.graph.input[0].type.tensor_type.shape.dim
        for dim, value in zip(dims, input_shape):
            dim.ClearField("dim_param")
            dim.dim_value = int(value)
        model = onnx.shape_inference.infer_shapes(model)
        sizes = {}
        for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
            tt = vi.type.tensor_type
            count = 1
            for d in tt.shape.dim:
                count *= max(int(d.dim_value), 1)
            sizes[vi.name] = count * _ONNX_BYTES.get(tt.elem_type, 4)
        ops = [(list(n.input), list(n.output)) for n in model.graph.node]
        io = sum(sizes.get(v.name, 0) for v in list(model.graph.input) + list(model.graph.output))
        return size + _peak_from_ops(ops, sizes) + io
    return size
