"""Benchmark an export directory on a board: preflight → push → run → pull → clean up.

:func:`bench_on_device` is what ``bnn-deploy bench EXPORT_DIR --device pi4`` calls for a remote
board. Per artifact of the export's ``manifest.json``:

* ``lce`` flatbuffers run with ``lce_benchmark_model`` (``--runtime-bin``, the inventory's
  on-board ``runtime_bin``, or the binary registered by ``build-runtime`` for the profile's
  target), which also runs plain TFLite graphs when the board has no Python. Each run names its
  kernel explicitly (``kernel="auto"``: chosen on the board by the host's rule, on the board's own
  outputs); the peak memory comes from a separate run; with ``profile`` the op profiler runs too
  (:class:`~bnn_deploy.devices.lce_benchmark.LceBenchmark`);
* ``tflite-float``, ``tflite-int8`` and ``onnx`` run with the board Python runner
  (:mod:`bnn_deploy.devices.board_python`);
* every run is fed the same saved input (the host bench's held-out photo crop at that size, in
  the artifact's layout), and the outputs come back as ``.npy`` for PSNR parity against the host; where that is
  impossible the result says ``parity_measured: false`` and why.

Everything on the board lives in one ``bnn-deploy-XXXXXX`` work directory that is removed at the
end, also when a run fails or the connection drops (the transport reconnects to clean up).
Locally, results are staged next to ``out_dir`` and renamed into place only when every artifact
ran, so a failed bench leaves no half-written result. An emulated board's timings are kept under
``emulated_timings_ms`` and never reported as ``latency_ms``.

:func:`board_commands` lists every command a bench would run on the board, without connecting.
"""

from __future__ import annotations

import datetime as _dt
import json
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.exports import ExportDir
from bnn_deploy.core.fileio import DEFAULT_OUT_ROOT, staged_dir
from bnn_deploy.core.formats import FLATBUFFER_FORMATS, FORMATS
from bnn_deploy.core.jsonio import dumps
from bnn_deploy.core.parity import Parity, compare
from bnn_deploy.core.progress import bar
from bnn_deploy.devices.board_runtime import BINARY_NAME
from bnn_deploy.devices.transport import WORK_DIR_PREFIX

DEFAULT_TIMEOUT_S = 900.0  # per command on the board, e.g. one artifact's whole run
TFLITE_PY_RUNTIMES = ("ai_edge_litert", "tflite_runtime", "tensorflow")
TIMING_KEYS = (
    "avg_ms",
    "median_ms",
    "min_ms",
    "max_ms",
    "std_ms",
    "first_ms",
    "warmup_avg_ms",
    "init_ms",
    "load_ms",
    "count",
    "times_ms",
)
PROFILED_FORMATS = FLATBUFFER_FORMATS  # what lce_benchmark_model can profile
BOARD_PYTHON_KERNEL = "runtime-default"  # the board Python runner runs each runtime's own default


@dataclass
class BoardRun:
    """How each artifact runs on the board (checked once by the caller, e.g. ``BenchOptions.check``)."""

    threads: int = 1
    warmup: int = 2
    runs: int = 20
    cooldown: float = 0.0  # seconds between artifacts
    timeout: float = DEFAULT_TIMEOUT_S  # per command on the board
    formats: list[str] | None = None  # only these artifact formats (None: all a board runs)
    kernel: str = "auto"  # LCE's kernel for lce graphs (auto: chosen on the board by the host's rule)
    runtime_args: tuple[str, ...] = ()  # extra lce_benchmark_model flags (it only warns on unknown ones)
    measure: bool = True  # the timed and memory runs (False: only the op-profiling runs)
    profile: bool = False  # lce_benchmark_model --enable_op_profiling=true, without and with XNNPACK


@dataclass
class BoardAccess:
    """How to reach the board and which ``lce_benchmark_model`` to use (None: inventory / registered)."""

    host: str | None = None
    key: str | None = None
    serial: str | None = None
    inventory: str | None = None
    runtime_bin: str | None = None
    accept_new_host_key: bool = False
    connect_timeout: float = 10.0


# ---------------------------------------------------------------- the export


def board_artifacts(exp: ExportDir) -> list[dict]:
    """What a board can run of a verified export (:func:`~bnn_deploy.core.exports.read_export`).

    Each artifact: ``{name, format, role, file (absolute), sha256, size_bytes, input_size,
    input_shape, layout, scale}``. ONNX files have dynamic sizes; they run at the export's first
    input size, in NCHW. The PyTorch sources (the parity references) stay on the host.
    """
    from bnn_deploy.core.manifest import MANIFEST

    artifacts = []
    for art in exp.artifacts:
        if not FORMATS[art.format].on_board:
            continue
        if art.input_hw is not None:
            (h, w), layout = art.input_hw, "NHWC"
        elif exp.manifest.input_sizes:
            (w, h), layout = exp.manifest.input_sizes[0], "NCHW"
        else:
            raise BnnDeployError(f"{MANIFEST} has no input_sizes for the dynamic ONNX file; re-run bnn-deploy export")
        # RGB in, as the host bench's input (bench.host.bench_input) is.
        shape = [1, 3, int(h), int(w)] if layout == "NCHW" else [1, int(h), int(w), 3]
        artifacts.append(
            {
                "name": art.name,
                "format": art.format,
                "role": art.role,
                "file": art.file,
                "sha256": art.sha256,
                "size_bytes": art.size_bytes,
                "input_size": f"{w}x{h}",
                "input_shape": shape,
                "layout": layout,
                "scale": art.scale,
            }
        )
    if not artifacts:
        raise BnnDeployError(f"{Path(exp.path) / MANIFEST} lists no lce/tflite/onnx artifacts; export with --format")
    return artifacts


def make_input(artifact: dict) -> np.ndarray:
    """The host bench's input at the artifact's size (a held-out photo crop, float32 RGB in
    [0, 1]), in the artifact's layout: the same bytes the host bench feeds, so both parities
    are measured on one input."""
    from bnn_deploy.core.photos import bench_input

    shape = artifact["input_shape"]
    hw = (shape[2], shape[3]) if artifact["layout"] == "NCHW" else (shape[1], shape[2])
    x = bench_input(hw, artifact["scale"])
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if artifact["layout"] == "NCHW" else x)


# ---------------------------------------------------------------- choosing runners


def selected_artifacts(exp: ExportDir, run: BoardRun) -> list[dict]:
    """The artifacts ``run`` covers: its formats, and only what the op profiler reads when nothing is timed."""
    artifacts = board_artifacts(exp)
    formats = run.formats or [a["format"] for a in artifacts]
    if not run.measure:
        formats = [f for f in formats if f in PROFILED_FORMATS]
    artifacts = [a for a in artifacts if a["format"] in formats]
    if not artifacts:
        raise BnnDeployError(f"the export has no artifact of format {', '.join(run.formats or PROFILED_FORMATS)}")
    return artifacts


def _local_runtime(runtime_bin, device) -> tuple[str, Path | str] | None:
    """Where ``lce_benchmark_model`` comes from: ``("local", path)``, ``("board", path)`` or None."""
    if runtime_bin is not None:
        return "local", Path(runtime_bin).expanduser()
    if device.runtime_bin:
        return "board", device.runtime_bin
    target = device.profile.get("lce_target")
    if target:
        from bnn_deploy.devices.board_runtime import find_runtime

        found = find_runtime(target)
        if found is not None:
            return "local", found
    return None


def _connect(dev, access: BoardAccess):
    """Open the board's transport; a board that cannot be reached is :class:`Unreachable` (a host key
    that does not match stays its own error: that is not a board being away)."""
    from bnn_deploy.devices.inventory import open_transport
    from bnn_deploy.devices.transport import Unreachable
    from bnn_deploy.devices.transport_ssh import UnknownHostKey

    try:
        return open_transport(
            dev, accept_new_host_key=access.accept_new_host_key, connect_timeout=access.connect_timeout
        )
    except UnknownHostKey:
        raise
    except BnnDeployError as exc:
        raise Unreachable(str(exc)) from exc


def _checked_runtime(dev, access: BoardAccess, artifacts: list[dict], run: BoardRun):
    """``(runtime, binary needs)``; refuses a board without ``lce_benchmark_model`` where one is needed:
    for an lce graph on a board profile that names a target, and for any profile."""
    from bnn_deploy.devices.preflight import binary_needs

    runtime = _local_runtime(access.runtime_bin, dev)
    binary = binary_needs(runtime[1]) if runtime and runtime[0] == "local" else None
    needed = run.profile or (
        any(FORMATS[a["format"]].runtime == "lce" for a in artifacts) and dev.profile["lce_target"]
    )
    if runtime is None and needed:
        target = dev.profile["lce_target"] or "arm64"
        why = "profiling runs lce_benchmark_model --enable_op_profiling=true; " if run.profile else ""
        raise BnnDeployError(
            f"{why}no lce_benchmark_model for {dev.name} (target {target}): build and "
            f"register one with `bnn-deploy build-runtime --target {target}`, or "
            "pass --runtime-bin FILE (or set runtime_bin in the inventory)"
        )
    return runtime, binary


def choose_runner(artifact: dict, *, has_binary: bool, python: dict) -> tuple[str | None, str]:
    """``(runner, reason)``: ``lce_benchmark_model``, ``board-python`` or ``None`` (skipped)."""
    runtimes = python.get("runtimes", {}) if python.get("available") else {}
    fmt = artifact["format"]
    if FORMATS[fmt].runtime == "lce":  # lce, lce-int8
        if has_binary:
            return "lce_benchmark_model", ""
        if runtimes.get("larq_compute_engine"):
            return "board-python", ""
        return None, "no lce_benchmark_model and no larq_compute_engine in the board's Python"
    if fmt == "onnx":
        if runtimes.get("onnxruntime"):
            return "board-python", ""
        return None, (
            "the board's Python has no onnxruntime (pip install onnxruntime)"
            if python.get("available")
            else python.get("reason", "no Python on the board")
        )
    if any(runtimes.get(name) for name in TFLITE_PY_RUNTIMES):
        return "board-python", ""
    if has_binary:
        return "lce_benchmark_model", ""  # a plain TFLite graph runs in lce_benchmark_model too
    return None, (
        "the board's Python has no TFLite runtime (pip install ai-edge-litert)"
        if python.get("available")
        else python.get("reason", "no Python on the board")
    )


# ---------------------------------------------------------------- the bench


def bench_on_device(
    exp: ExportDir,
    device: str,
    run: BoardRun,
    access: BoardAccess | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    out_dir=None,
    transport=None,
) -> dict:
    """Benchmark every artifact of the verified export ``exp`` on ``device``; return the report dict.

    ``device``: a profile or inventory name; ``access`` overrides the inventory's address and key and
    names a local ``lce_benchmark_model`` to push (checked against the board first). ``out_dir``
    receives ``report.json``, the inputs and the board's outputs (default
    ``bnn-deploy-out/bench-<export>-<device>``). ``transport``: an already open transport to use
    instead of connecting (tests, emulated boards). Raises a one-line :class:`BnnDeployError` on any
    user-fixable failure, after removing the board's work directory.
    """
    from bnn_deploy.devices.inventory import resolve_device
    from bnn_deploy.devices.preflight import estimate_memory_bytes

    say = progress or (lambda _msg: None)
    access = access or BoardAccess()
    artifacts = selected_artifacts(exp, run)
    dev = resolve_device(device, inventory=access.inventory, host=access.host, key=access.key, serial=access.serial)

    # Everything that can be checked without the board is checked before connecting.
    runtime, binary = _checked_runtime(dev, access, artifacts, run)
    memory_need = max(estimate_memory_bytes(a["file"], a["input_shape"]) for a in artifacts)

    out = Path(out_dir) if out_dir is not None else Path(DEFAULT_OUT_ROOT) / f"bench-{Path(exp.path).name}-{dev.name}"
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # Staged beside ``out`` and swapped in whole only on success; removed on any failure.
    with staged_dir(out) as staging:
        say(f"connecting to {dev.name} ({dev.address()})")
        tr = transport or _connect(dev, access)
        try:
            report = _bench(
                tr, dev, artifacts, staging, run, binary=binary, runtime=runtime, memory_need=memory_need, say=say
            )
        finally:
            if transport is None:
                tr.close()
        report.update(
            export_dir=exp.path,
            out_dir=str(out.resolve()),
            manifest_source=exp.manifest.source,
            started=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            wall_seconds=round(time.monotonic() - started, 2),
        )
        _relocate_paths(report, staging, out)
        (staging / "report.json").write_text(dumps(report))
    return report


def _bench(tr, dev, artifacts, staging: Path, run: BoardRun, *, binary, runtime, memory_need, say) -> dict:
    """The part that talks to the board (inside one work directory)."""
    from bnn_deploy.devices.preflight import render_preflight, run_preflight
    from bnn_deploy.devices.transport import work_dir

    pre = run_preflight(tr, dev.profile, binary=binary, threads=run.threads, memory_need=memory_need)
    emulated = bool(pre["facts"]["emulated"] or dev.emulated)
    for line in render_preflight(pre).splitlines():
        say(line)
    cleanup: dict = {"removed": True}

    def cleanup_warning(msg: str) -> None:
        cleanup.update(removed=False, warning=msg)
        say(f"warning: {msg}")

    results = []
    with work_dir(tr, dev.work_dir, warn=cleanup_warning) as wd:
        cleanup["work_dir"] = wd
        say(f"work directory {wd}")
        python, script = _board_python(tr, wd, staging, dev, run)
        bin_remote = _push_runtime(tr, runtime, wd, say)
        plan = [(a, *choose_runner(a, has_binary=bin_remote is not None, python=python)) for a in artifacts]
        if all(runner is None for _, runner, _ in plan):
            raise BnnDeployError(
                f"nothing can run on {dev.name}: " + "; ".join(f"{a['name']}: {why}" for a, _, why in plan)
            )
        lce = _lce_benchmark(tr, bin_remote, wd, run, needed=any(r == "lce_benchmark_model" for _, r, _ in plan))
        dirs = {"work": wd, "inputs": staging / "inputs", "outputs": staging / "outputs"}
        dirs["inputs"].mkdir()
        dirs["outputs"].mkdir()
        with bar(f"on {dev.name}", total=len(plan), unit="artifact") as shown:
            for i, (art, runner, why) in enumerate(plan):
                if runner is None:
                    say(f"skipping {art['name']}: {why}")
                    results.append({**_artifact_fields(art), "runner": None, "skipped": why, "parity_measured": False})
                    shown.update()
                    continue
                if i and run.cooldown:
                    say(f"cooling down {run.cooldown:g} s")
                    time.sleep(run.cooldown)
                rec, input_npy, temp = _run_artifact(tr, art, runner, run, lce, script, dev.python, dirs, say)
                results.append(_artifact_result(art, rec, input_npy, temp, emulated))
                say(_render_result(results[-1]))
                shown.update()
    return {
        "device": dev.facts(),
        "emulated": emulated,
        "latency_is_device_latency": not emulated,
        "preflight": pre,
        "board_python": python,
        "settings": asdict(run),
        "runtime_bin": None
        if runtime is None
        else {"from": runtime[0], "path": str(runtime[1]), "on_board": bin_remote},
        "artifacts": results,
        "cleanup": cleanup,
    }


def _board_python(tr, wd: str, staging: Path, dev, run: BoardRun) -> tuple[dict, str | None]:
    """``(what the board's Python offers, the runner script on the board)``; not probed when only
    the op profiler runs (it needs lce_benchmark_model, not Python)."""
    from bnn_deploy.devices import board_python

    if not run.measure:
        return {"available": False, "runtimes": {}, "reason": "not probed: only the op profiler ran"}, None
    script = board_python.push_script(tr, wd, staging)
    return board_python.probe_board_python(tr, script, dev.python), script


def _push_runtime(tr, runtime, wd: str, say) -> str | None:
    """The board path of ``lce_benchmark_model``: pushed from this machine, or already on the board."""
    if runtime is None:
        return None
    if runtime[0] == "board":
        return str(runtime[1])
    remote = f"{wd}/{BINARY_NAME}"
    say(f"pushing {runtime[1]}")
    tr.put(runtime[1], remote, mode=0o755)
    return remote


def _lce_benchmark(tr, bin_remote, wd: str, run: BoardRun, *, needed: bool):
    """The board's ``lce_benchmark_model``, its flags checked before any run (None when nothing uses it)."""
    from bnn_deploy.devices.lce_benchmark import LceBenchmark

    if bin_remote is None or not (needed or run.profile):
        return None
    lce = LceBenchmark(
        tr, bin_remote, work_dir=wd, threads=run.threads, timeout=run.timeout, extra=tuple(run.runtime_args)
    )
    lce.require(profiling=run.profile)
    return lce


def _run_artifact(tr, art: dict, runner: str, run: BoardRun, lce, script, python: str, dirs: dict, say):
    """``(record, input .npy, temperature before)`` of one artifact's runs on the board."""
    from bnn_deploy.devices import board_python
    from bnn_deploy.devices.lce_benchmark import TFLITE_KERNEL

    input_npy = dirs["inputs"] / f"{Path(art['file']).stem}.input.npy"
    np.save(input_npy, make_input(art))
    temp = _temperature(tr)
    kernel = run.kernel if FORMATS[art["format"]].runtime == "lce" else TFLITE_KERNEL
    say(f"running {art['name']} with {runner}" + (f" (kernel {kernel})" if runner == "lce_benchmark_model" else ""))
    common = {"warmup": run.warmup, "runs": run.runs, "input_path": input_npy, "out_dir": dirs["outputs"]}
    if runner == "lce_benchmark_model":
        rec = lce.measure(art["file"], kernel=kernel, measure=run.measure, profile=run.profile, **common)
        return rec, input_npy, temp
    rec = board_python.run_board_python(
        tr,
        art["file"],
        input_npy,
        work_dir=dirs["work"],
        script=script,
        python=python,
        threads=run.threads,
        warmup=run.warmup,
        runs=run.runs,
        out_dir=dirs["outputs"],
        timeout=run.timeout,
    )
    rec.update(kernel=BOARD_PYTHON_KERNEL, commands=[rec["command"]])
    if run.profile and lce is not None and art["format"] in PROFILED_FORMATS:
        say(f"profiling {art['name']} with lce_benchmark_model (kernel {kernel})")
        profiled = lce.measure(art["file"], kernel=kernel, measure=False, profile=True, **common)
        rec.update(op_profiles=profiled["op_profiles"], commands=rec["commands"] + profiled["commands"])
    return rec, input_npy, temp


def _artifact_fields(art: dict) -> dict:
    return {
        k: art[k]
        for k in ("name", "format", "role", "file", "sha256", "size_bytes", "input_size", "input_shape", "layout")
    }


def _artifact_result(art: dict, rec: dict, input_npy: Path, temp, emulated: bool) -> dict:
    timings = {k: rec[k] for k in TIMING_KEYS if rec.get(k) is not None}
    result = {
        **_artifact_fields(art),
        "runner": rec["runner"],
        "runtime": rec.get("runtime"),
        "kernel": rec.get("kernel"),
        "kernel_flags": rec.get("kernel_flags"),
        "kernel_choice": rec.get("kernel_choice"),
        "command": rec.get("command"),
        "commands": rec.get("commands", []),
        "input": str(input_npy),
        "outputs": rec.get("outputs", []),
        "parity_measured": rec["parity_measured"],
        "memory": rec.get("memory"),
        "op_profiles": rec.get("op_profiles") or None,
        "ignored_flags": rec.get("ignored_flags", []),
        "notes": rec.get("notes", []),
        "temperature_c_before": temp,
        "wall_seconds": rec.get("wall_seconds"),
    }
    if emulated:
        # qemu-user timings measure the emulator on an x86 CPU, not the board.
        result["latency_ms"] = None
        result["emulated_timings_ms"] = timings
        result["notes"] = result["notes"] + ["emulated board: timings are not device latency"]
    else:
        result["latency_ms"] = timings
    if "log_tail" in rec:
        result["log_tail"] = rec["log_tail"]
    return result


def _temperature(tr) -> float | None:
    """SoC temperature now (°C), to show whether a cooldown worked; None where unknown."""
    try:
        res = tr.run("cat /sys/class/thermal/thermal_zone0/temp 2>/dev/null", timeout=20)
        value = int(res.stdout.strip().splitlines()[0])
    except (BnnDeployError, ValueError, IndexError):
        return None
    return round(value / 1000, 1) if value > 1000 else float(value)


def _render_result(r: dict) -> str:
    if r["op_profiles"] and not (r["latency_ms"] or r.get("emulated_timings_ms")):
        return f"  {r['name']}: op profile with kernel {r['kernel']} ({len(r['op_profiles'])} runs)"
    t = r["latency_ms"] or r.get("emulated_timings_ms") or {}
    what = "latency" if r["latency_ms"] else "emulated (not latency)"
    avg = f"{t['avg_ms']:.2f} ms" if t.get("avg_ms") is not None else "?"
    return (
        f"  {r['name']}: {what} avg {avg} over {t.get('count', '?')} runs; parity "
        f"{'outputs fetched' if r['parity_measured'] else 'not measured on the board'}"
    )


def _relocate_paths(report: dict, staging: Path, out: Path) -> None:
    """Point the report's input/output paths at ``out`` (where they will be after the rename)."""

    def move(path: str) -> str:
        p = Path(path)
        try:
            return str(out.resolve() / p.relative_to(staging))
        except ValueError:
            return path

    for r in report["artifacts"]:
        if r.get("input"):
            r["input"] = move(r["input"])
        r["outputs"] = [move(p) for p in r.get("outputs", [])]


def compare_outputs(report: dict, reference: dict[str, np.ndarray]) -> dict[str, Parity]:
    """Parity of the board's outputs against host outputs ``{artifact file: array}``.

    Returns ``{artifact name: Parity}`` for every artifact whose outputs came back; what the bench
    wiring adds to the report next to the host figures.
    """
    figures = {}
    for r in report["artifacts"]:
        ref = reference.get(r["file"])
        if not r.get("parity_measured") or ref is None:
            continue
        figures[r["name"]] = compare(
            [np.load(r["outputs"][0])],
            [ref],
            reference="PyTorch eager on this machine, same model, on the input the board ran",
        )
    return figures


# ---------------------------------------------------------------- the commands, printed without a board

MANUAL_WORK_DIR = f"{WORK_DIR_PREFIX}manual"  # the bench itself makes a fresh mktemp -d one


def board_commands(exp: ExportDir, device: str, run: BoardRun, access: BoardAccess | None = None) -> dict:
    """Every command :func:`bench_on_device` would run for ``exp`` on ``device``, without connecting.

    Returns ``{device, work_dir, shell, steps: [{where, what, command}], notes}``: ``where`` is
    ``this machine`` (copies, quoted for a local shell) or ``board`` (quoted for a shell on the board,
    e.g. after ``ssh``). The same checks as the bench run first (device, runtime binary).
    Commands that need the board's answers are shown for the likely case: the board Python runner
    for float/int8/ONNX files (the bench probes the board's Python first), and with ``--kernel auto``
    the runs after the candidates with the first candidate.
    """
    from bnn_deploy.devices.inventory import resolve_device

    access = access or BoardAccess()
    artifacts = selected_artifacts(exp, run)
    dev = resolve_device(device, inventory=access.inventory, host=access.host, key=access.key, serial=access.serial)
    runtime, _ = _checked_runtime(dev, access, artifacts, run)
    plan = _CommandPlan(dev, run, f"{DEFAULT_OUT_ROOT}/bench-{Path(exp.path).name}-{dev.name}")
    plan.setup(runtime)
    for art in artifacts:
        if plan.by_python(art):
            plan.python_steps(art)
        if not plan.by_python(art) or (run.profile and plan.binary and art["format"] in PROFILED_FORMATS):
            plan.lce_steps(art, measure=run.measure and not plan.by_python(art))
    plan.add("board", "clean up", f"rm -rf -- {shlex.quote(plan.wd)}")
    return {
        "device": dev.facts(),
        "work_dir": plan.wd,
        "shell": plan.copy["shell"],
        "steps": plan.steps,
        "notes": [
            f"the bench works in a fresh `mktemp -d {dev.work_dir.rstrip('/')}/{WORK_DIR_PREFIX}XXXXXX`; "
            f"these commands use {plan.wd}",
            "before the runs the bench reads read-only facts on the board (uname, /proc/cpuinfo, cpufreq, "
            "temperature, free memory): its preflight, and the temperature before each artifact",
            "nothing was run and nothing was connected",
        ],
    }


class _CommandPlan:
    """The steps of :func:`board_commands`, in the order the bench takes them."""

    def __init__(self, dev, run: BoardRun, out: str):
        self.dev, self.run, self.out = dev, run, out
        self.wd = f"{dev.work_dir.rstrip('/')}/{MANUAL_WORK_DIR}"
        self.copy = _copy_commands(dev)
        self.steps: list[dict] = []
        self.binary = self.script = None

    def add(self, where: str, what: str, command: str) -> None:
        self.steps.append({"where": where, "what": what, "command": command})

    def by_python(self, art: dict) -> bool:
        """Whether the board Python runner measures ``art`` (lce_benchmark_model takes lce graphs, and all
        of them when only the profiler runs)."""
        return self.run.measure and not (self.binary and FORMATS[art["format"]].runtime == "lce")

    def setup(self, runtime) -> None:
        """The work directory, ``lce_benchmark_model`` and its flags, the board Python runner (the bench
        pushes and probes it whenever it measures)."""
        from bnn_deploy.devices import board_python, board_runner
        from bnn_deploy.devices.lce_benchmark import help_command

        self.add("board", "a work directory", f"mkdir -p {shlex.quote(self.wd)}")
        if runtime is not None:
            self.binary = str(runtime[1]) if runtime[0] == "board" else f"{self.wd}/{BINARY_NAME}"
            if runtime[0] == "local":
                self.add(
                    "this machine", "copy lce_benchmark_model", self.copy["put"](runtime[1].resolve(), self.binary)
                )
                self.add("board", "make it executable", f"chmod 755 {shlex.quote(self.binary)}")
            self.add("board", "the flags it has", help_command(self.binary))
        self.script = f"{self.wd}/{board_python.SCRIPT_NAME}"
        if self.run.measure:
            self.add(
                "this machine", "copy the board Python runner", self.copy["put"](board_runner.__file__, self.script)
            )
            self.add("board", "what the board's Python has", board_python.probe_command(self.dev.python, self.script))

    def python_steps(self, art: dict) -> None:
        """Copy the model and its input, run the board Python runner, fetch the output."""
        from bnn_deploy.devices import board_python

        model, stem = Path(art["file"]), Path(art["file"]).stem
        remote_model, remote_in, remote_out = board_python.remote_files(self.wd, model)
        run = self.run
        command = board_python.run_command(
            self.dev.python, self.script, model, work_dir=self.wd, threads=run.threads, warmup=run.warmup, runs=run.runs
        )
        self.add("this machine", f"copy {art['name']}", self.copy["put"](art["file"], remote_model))
        self.add("this machine", "copy its input (the bench writes it)", self.copy["put"](self._input(stem), remote_in))
        self.add("board", f"run {art['name']} with the board Python runner", command)
        self.add(
            "this machine", "fetch its output", self.copy["get"](remote_out, f"{self.out}/outputs/{stem}.output.npy")
        )

    def lce_steps(self, art: dict, *, measure: bool) -> None:
        """Copy the graph and its raw input, then every lce_benchmark_model run (outputs fetched)."""
        from bnn_deploy.devices.lce_benchmark import TFLITE_KERNEL, planned_commands, remote_paths

        stem, paths = Path(art["file"]).stem, remote_paths(self.wd, Path(art["file"]))
        raw = f"{self.out}/inputs/{stem}.input.raw"
        to_raw = f"import numpy; numpy.load({json.dumps(self._input(stem))}).tofile({json.dumps(raw)})"
        self.add("this machine", f"copy {art['name']}", self.copy["put"](art["file"], paths["graph"]))
        self.add(
            "this machine",
            "its input as raw tensor bytes (the bench writes the .npy)",
            f"python3 -c {shlex.quote(to_raw)}",
        )
        self.add("this machine", "copy its input", self.copy["put"](raw, paths["input"]))
        run = self.run
        planned = planned_commands(
            self.binary,
            art["file"],
            work_dir=self.wd,
            threads=run.threads,
            kernel=run.kernel if FORMATS[art["format"]].runtime == "lce" else TFLITE_KERNEL,
            warmup=run.warmup,
            runs=run.runs,
            measure=measure,
            profile=run.profile,
            extra=tuple(run.runtime_args),
        )
        for what, command in planned:
            self.add("board", f"{art['name']}: {what}", command)
            if what.startswith(("timed", "kernel")):
                fetch = self.copy["get"](paths["output"], f"{self.out}/{stem}.output.raw")
                self.add("this machine", "fetch its outputs", fetch)

    def _input(self, stem: str) -> str:
        return f"{self.out}/inputs/{stem}.input.npy"


def _copy_commands(dev) -> dict:
    """How files go to and from ``dev`` as commands a user can type: scp, adb push/pull, or cp."""
    q = shlex.quote
    if dev.transport == "ssh":
        login = f"{dev.user + '@' if dev.user else ''}{dev.host}"
        opts = f"-P {dev.port}" + (f" -i {q(dev.key)}" if dev.key else "")
        return {
            "put": lambda local, remote: f"scp {opts} {q(str(local))} {q(f'{login}:{remote}')}",
            "get": lambda remote, local: f"scp {opts} {q(f'{login}:{remote}')} {q(str(local))}",
            "shell": f"ssh -p {dev.port}" + (f" -i {q(dev.key)}" if dev.key else "") + f" {q(login)}",
        }
    if dev.transport == "adb":
        serial = f" -s {q(dev.serial)}" if dev.serial else ""
        return {
            "put": lambda local, remote: f"adb{serial} push {q(str(local))} {q(remote)}",
            "get": lambda remote, local: f"adb{serial} pull {q(remote)} {q(str(local))}",
            "shell": f"adb{serial} shell",
        }
    return {
        "put": lambda local, remote: f"cp {q(str(local))} {q(remote)}",
        "get": lambda remote, local: f"cp {q(remote)} {q(str(local))}",
        "shell": "sh",
    }


def render_commands(plan: dict) -> str:
    """The printed form: ``board`` lines run in ``plan["shell"]``, the others here."""
    lines = [f"# run the [board] lines in a shell on the board: {plan['shell']}"]
    lines += [f"# {note}" for note in plan["notes"]]
    for step in plan["steps"]:
        lines.append(f"# {step['what']}")
        lines.append(f"[{step['where']}] {step['command']}")
    return "\n".join(lines)
