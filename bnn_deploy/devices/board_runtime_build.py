"""Build LCE's on-device benchmark binary (``lce_benchmark_model``) for a board, with Docker.

LCE publishes no Linux aarch64 wheel and its on-device binaries only as release assets, so
``bnn-deploy build-runtime --target arm64|armv7|android-arm64`` builds them from upstream source
(larq/compute-engine at the tag matching our LCE version) inside the top-level ``Dockerfile``: one
Bazel build stage per target and an output-only stage that holds just the binary, exported with
``docker buildx build --target <stage> --output type=local,dest=<dir>``. The result is checked to
be an ELF for the right CPU (:func:`bnn_deploy.devices.elf.verify_elf`) and registered where
``bench`` finds it (:mod:`bnn_deploy.devices.board_runtime`).

The build stages are pinned to one platform in the Dockerfile (linux/amd64: Bazel, TensorFlow's ARM
toolchains and the NDK are x86-64 programs). Before building, the Docker builder is asked which
platforms it runs (``docker buildx inspect --bootstrap``), so a builder that cannot run that
platform is one clear line instead of an ``exec format error`` deep in the log, and an emulated
build is announced. :func:`build_plan` shows the whole build (command, platform, build args, stages
and their commands) from the Dockerfile without running Docker: ``build-runtime --print-plan``.

Nothing here downloads anything itself: the sources and toolchains are fetched by ``docker
buildx build`` on the user's machine, as written in the Dockerfile.
"""

from __future__ import annotations

import collections
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError, first_line
from bnn_deploy.core.targets import get_target
from bnn_deploy.core.values import parse_memory
from bnn_deploy.devices.board_runtime import BINARY_NAME
from bnn_deploy.devices.dockerfile import Dockerfile, read_dockerfile

LCE_VERSION = "0.16.0"
LCE_GIT_TAG = f"v{LCE_VERSION}"
BAZEL_VERSION = "6.5.0"
BAZEL_TARGET = "//larq_compute_engine/tflite/benchmark:lce_benchmark_model"


# Build args that size Bazel's parallelism (defaults in the Dockerfile), by build_runtime keyword.
RESOURCE_ARGS = {"bazel_jobs": "BAZEL_JOBS", "bazel_ram": "BAZEL_LOCAL_RAM_MB"}
MIN_BAZEL_RAM_MB = 1024
EXPORT_DIR = "EXPORT_DIR"  # how the plan writes the temporary export directory
INSPECT_TIMEOUT_S = 300  # `buildx inspect --bootstrap` may start a BuildKit container first


def docker_build_command(target: str, out_dir, context_dir, build_args: dict[str, str] | None = None) -> list[str]:
    """The exact ``docker buildx build`` argv that exports ``target``'s binary into ``out_dir``."""
    stage = get_target(target)["docker_stage"]
    overrides = [word for name, value in (build_args or {}).items() for word in ("--build-arg", f"{name}={value}")]
    return [
        "docker",
        "buildx",
        "build",
        "--target",
        stage,
        *overrides,
        "--output",
        f"type=local,dest={os.fspath(out_dir)}",
        "--progress=plain",
        os.fspath(context_dir),
    ]


def resource_build_args(bazel_jobs: int | None = None, bazel_ram: str | None = None) -> dict[str, str]:
    """The ``--build-arg`` overrides for Bazel's ``--jobs`` / ``--local_ram_resources`` (MB), checked."""
    found = {}
    if bazel_jobs is not None:
        if isinstance(bazel_jobs, bool) or not isinstance(bazel_jobs, int) or bazel_jobs < 1:
            raise BnnDeployError(f"--bazel-jobs {bazel_jobs!r} must be a whole number of 1 or more; give e.g. 8")
        found[RESOURCE_ARGS["bazel_jobs"]] = str(bazel_jobs)
    if bazel_ram is not None:
        megabytes = parse_memory(bazel_ram, "--bazel-ram") >> 20
        if megabytes < MIN_BAZEL_RAM_MB:
            raise BnnDeployError(
                f"--bazel-ram {bazel_ram!r} is below 1 GB, too little for a TensorFlow build; give e.g. 8GB"
            )
        found[RESOURCE_ARGS["bazel_ram"]] = str(megabytes)
    return found


def check_docker() -> str:
    """Make sure ``docker`` is on PATH and has the buildx plugin; return ``docker buildx version``.

    Raises a one-line :class:`BnnDeployError` saying what to install otherwise.
    """
    docker = shutil.which("docker")
    if docker is None:
        raise BnnDeployError(
            "docker was not found on PATH; install Docker Engine with the buildx "
            "plugin (https://docs.docker.com/engine/install/, Debian/Ubuntu: "
            "apt-get install docker-ce docker-buildx-plugin) or Docker Desktop, "
            "then rerun"
        )
    try:
        proc = subprocess.run(
            [docker, "buildx", "version"], capture_output=True, text=True, timeout=60, errors="replace"
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BnnDeployError(
            f"could not run `{docker} buildx version` ({exc}); check the Docker installation, then rerun"
        ) from None
    if proc.returncode != 0:
        detail = first_line(proc.stderr) or first_line(proc.stdout) or f"exit {proc.returncode}"
        raise BnnDeployError(
            f"docker buildx is not available ({detail}); install the Docker "
            "buildx plugin (Debian/Ubuntu: apt-get install docker-buildx-plugin, "
            "or https://github.com/docker/buildx#installing), then rerun"
        )
    return first_line(proc.stdout)


def check_builder(platform: str | None) -> dict:
    """Ask the Docker builder which platforms it runs; refuse one that cannot run ``platform``.

    ``docker buildx inspect --bootstrap`` lists each builder node's platforms, its native one
    first, then those it can emulate (QEMU via binfmt_misc, or Docker Desktop's built-in
    emulation). A build for a platform that is not listed fails with ``exec format error`` at
    the first RUN, so this says so first. Returns the builder's name, its native platform and
    whether ``platform`` runs emulated.
    """
    report = _inspect_builder()
    nodes = report["nodes"]
    name = report["name"] or "default"
    if not nodes:
        _raise_builder_unusable(name, report["errors"])
    native = nodes[0][0]
    if platform is None or any(node[0] == platform for node in nodes):
        return {"builder": name, "native": native, "emulated": False}
    if not any(platform in node for node in nodes):
        raise BnnDeployError(
            f"the Docker builder {name!r} cannot run {platform} (it lists {', '.join(nodes[0])}), which the "
            "build stages need; install QEMU emulation with `docker run --privileged --rm tonistiigi/binfmt "
            "--install amd64` (Docker Desktop has it built in), then rerun"
        )
    return {"builder": name, "native": native, "emulated": True}


def parse_buildx_inspect(text: str) -> dict:
    """The builder's name, each node's platforms (``*`` marks dropped) and node errors, from inspect's text."""
    name, nodes, errors = None, [], []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep:
            continue
        if key == "Name" and name is None:
            name = value
        elif key == "Platforms":
            nodes.append([p.strip().rstrip("*") for p in value.split(",") if p.strip()])
        elif key == "Error":
            errors.append(value)
    return {"name": name, "nodes": [node for node in nodes if node], "errors": errors}


def _inspect_builder() -> dict:
    argv = [shutil.which("docker") or "docker", "buildx", "inspect", "--bootstrap"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=INSPECT_TIMEOUT_S, errors="replace")
    except subprocess.TimeoutExpired:
        raise BnnDeployError(
            f"`docker buildx inspect --bootstrap` did not answer in {INSPECT_TIMEOUT_S} s; check the builder "
            "with `docker buildx ls`, then rerun"
        ) from None
    except OSError as exc:
        raise BnnDeployError(f"could not run `docker buildx inspect` ({exc}); check the Docker installation") from None
    output = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        if _daemon_down(output.splitlines()):
            raise BnnDeployError(_DAEMON_DOWN_MESSAGE)
        detail = first_line(proc.stderr) or first_line(proc.stdout) or f"exit {proc.returncode}"
        raise BnnDeployError(
            f"`docker buildx inspect --bootstrap` failed ({detail}); check the builder with "
            "`docker buildx ls`, then rerun"
        )
    return parse_buildx_inspect(proc.stdout)


def _raise_builder_unusable(name: str, errors: list[str]) -> None:
    if _daemon_down(errors):
        raise BnnDeployError(_DAEMON_DOWN_MESSAGE)
    detail = f" ({first_line(errors[0])})" if errors else ""
    raise BnnDeployError(
        f"the Docker builder {name!r} lists no platforms{detail}; check it with `docker buildx ls` "
        "(or pick another with `docker buildx use NAME`), then rerun"
    )


def find_context_dir(context_dir=None) -> Path:
    """The Docker build context: ``context_dir`` if given, else the source checkout we run from."""
    if context_dir is not None:
        path = Path(context_dir)
        if not (path / "Dockerfile").is_file():
            raise BnnDeployError(
                f"{path} has no Dockerfile; pass --context the bnn-deploy source "
                "directory (the one with Dockerfile and pyproject.toml)"
            )
        return path
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "Dockerfile").is_file() and (checkout / "pyproject.toml").is_file():
        return checkout
    raise BnnDeployError(
        "the Dockerfile is not installed with the package; run build-runtime from "
        "a bnn-deploy source checkout or pass --context DIR pointing at one"
    )


def build_plan(
    target: str,
    out_dir=None,
    *,
    context_dir=None,
    bazel_jobs: int | None = None,
    bazel_ram: str | None = None,
) -> dict:
    """What ``build_runtime`` would run for ``target``, read from the Dockerfile; runs nothing.

    Everything a build checks before starting Docker is checked here too (target, context, the
    stage, the resource options), so a build whose plan prints gets as far as asking Docker.
    """
    spec = get_target(target)
    context = find_context_dir(context_dir)
    overrides = resource_build_args(bazel_jobs, bazel_ram)
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise BnnDeployError(f"--out {out_dir} exists and is not a directory; pass a directory")
    dockerfile = read_dockerfile(context / "Dockerfile")
    stages = _plan_stages(dockerfile, spec["docker_stage"], overrides)
    build_args = {name: value for stage in stages for name, value in stage.pop("args").items()}
    _check_overrides(dockerfile, spec["docker_stage"], overrides, build_args)
    platforms = {stage["platform"] for stage in stages if stage["commands"]}
    platform = platforms.pop() if len(platforms) == 1 else None
    where = f"under {out_dir}" if out_dir is not None else "in the system's temporary directory"
    return {
        "target": target,
        "docker_stage": spec["docker_stage"],
        "dockerfile": str(dockerfile.path),
        "command": docker_build_command(target, EXPORT_DIR, context, overrides),
        "export_dir": f"{EXPORT_DIR}: a new empty directory {where}, removed once the binary is checked",
        "platform": platform,
        "this_machine": os.uname().machine,
        "build_args": build_args,
        "overridden": sorted(overrides),
        "stages": stages,
        "notes": _plan_notes(platform, build_args, overrides),
    }


def _plan_stages(dockerfile: Dockerfile, stage_name: str, overrides: dict[str, str]) -> list[dict]:
    """Each stage BuildKit builds for ``stage_name``: base, platform, build args and commands."""
    stages = dockerfile.needed_for(stage_name)
    if stage_name not in [stage.name for stage in stages]:
        raise BnnDeployError(
            f"{dockerfile.path} has no stage {stage_name!r}; pass --context a bnn-deploy checkout of this version"
        )
    planned = []
    for stage in stages:
        args, commands = dockerfile.commands(stage, overrides)
        planned.append(
            {
                "name": stage.name,
                "from": stage.base,
                "platform": dockerfile.platform_of(stage),
                "copies_from": stage.copies_from(),
                "args": args,
                "commands": commands,
            }
        )
    return planned


def _check_overrides(dockerfile: Dockerfile, stage_name: str, overrides: dict, build_args: dict) -> None:
    """An override the Dockerfile does not declare would be ignored silently by Docker: refuse it."""
    missing = [name for name in overrides if name not in build_args]
    if missing:
        raise BnnDeployError(
            f"{dockerfile.path} declares no build arg {', '.join(missing)} for stage {stage_name!r}; "
            "pass --context a bnn-deploy checkout of this version, or drop --bazel-jobs/--bazel-ram"
        )


def _plan_notes(platform: str | None, build_args: dict, overrides: dict) -> list[str]:
    """What a reviewer should know: emulation, and how Bazel's parallelism is sized."""
    notes = []
    if platform is None:
        notes.append("the stages that run commands do not all pin one platform: they run on the builder's own")
    else:
        notes.append(
            f"the build stages run as {platform}; a Docker builder of another architecture (e.g. an arm64 "
            "Mac or Linux host) runs them under emulation, much slower; `build-runtime` checks "
            "the builder's platforms (docker buildx inspect --bootstrap) before it builds"
        )
    machine = os.uname().machine
    if platform == "linux/amd64" and machine in ("aarch64", "arm64"):
        notes.append(
            f"this machine is {machine}: unless DOCKER_HOST points at another machine, expect an emulated build"
        )
    jobs, ram = (build_args.get(RESOURCE_ARGS[key]) for key in ("bazel_jobs", "bazel_ram"))
    if jobs is not None and ram is not None:
        source = f"given: {', '.join(sorted(overrides))}" if overrides else "the Dockerfile's defaults"
        notes.append(
            f"Bazel runs at most {jobs} jobs and plans them with {ram} MB of RAM ({source}); on a Docker "
            "engine with more memory and cores raise them with --bazel-jobs N --bazel-ram SIZE"
        )
    return notes


def render_plan(plan: dict) -> str:
    """The plan as text: the command, platform, build args, then each stage and its commands."""
    lines = [
        f"build plan for {plan['target']} (nothing was run)",
        f"  command:    {shlex.join(plan['command'])}",
        f"              {plan['export_dir']}",
        f"  platform:   {plan['platform'] or 'not pinned'} (this machine: {plan['this_machine']})",
        f"  dockerfile: {plan['dockerfile']}",
        "  build args:",
        *(f"    {name}={value}" for name, value in plan["build_args"].items()),
        "  stages:",
    ]
    for stage in plan["stages"]:
        copies = f", copies from {', '.join(stage['copies_from'])}" if stage["copies_from"] else ""
        kind = stage["platform"] or ("no platform" if stage["commands"] else "output only")
        lines.append(f"    {stage['name']}: FROM {stage['from']} [{kind}]{copies}")
        lines += [f"      $ {command}" for command in stage["commands"]]
    lines.append("  notes:")
    lines += [f"    - {note}" for note in plan["notes"]]
    return "\n".join(lines)


def build_runtime(
    target: str,
    out_dir=None,
    *,
    context_dir=None,
    bazel_jobs: int | None = None,
    bazel_ram: str | None = None,
    progress: Callable[[str], None] | None = None,
    runner: Callable[..., subprocess.Popen] = subprocess.Popen,
) -> dict:
    """Build ``lce_benchmark_model`` for ``target`` with Docker, verify it and register it.

    Runs exactly the command of :func:`build_plan` (with a real export directory). ``out_dir``
    also keeps a copy of the binary (``<out_dir>/lce_benchmark_model``); without it only the
    registered copy is kept. ``bazel_jobs`` / ``bazel_ram`` (e.g. ``"16GB"``) override the
    Dockerfile's Bazel resource defaults. Every line of build output is passed to ``progress``.
    ``runner`` starts the build (``subprocess.Popen`` or a stand-in with the same interface).
    Returns what was built and where it was registered.
    """
    from bnn_deploy.core.fileio import check_output_dir
    from bnn_deploy.devices.board_runtime import ENV_DIR, runtimes_dir

    get_target(target)
    # Both places the result goes are checked before a build of many minutes.
    check_output_dir(out_dir, "--out")
    check_output_dir(runtimes_dir() / target, f"the runtimes store (set {ENV_DIR} to move it)")
    plan = build_plan(target, out_dir, context_dir=context_dir, bazel_jobs=bazel_jobs, bazel_ram=bazel_ram)
    buildx = check_docker()
    builder = check_builder(plan["platform"])
    progress = progress or (lambda line: None)
    if builder["emulated"]:
        progress(
            f"note: the Docker builder {builder['builder']!r} runs {builder['native']}, so the "
            f"{plan['platform']} build stages run under emulation: expect a much slower build"
        )
    keep_dir = _keep_dir(out_dir)
    started = time.monotonic()
    built = _build_and_register(plan, keep_dir, progress, runner)
    spec = get_target(target)
    resources = {name: plan["build_args"][name] for name in RESOURCE_ARGS.values() if name in plan["build_args"]}
    return {
        "target": target,
        "docker_stage": spec["docker_stage"],
        "bazel_config": spec["bazel_config"],
        "lce_version": LCE_VERSION,
        "buildx": buildx,
        "platform": plan["platform"],
        "builder": builder["builder"],
        "builder_native": builder["native"],
        "emulated": builder["emulated"],
        "build_args": resources,
        "seconds": round(time.monotonic() - started, 1),
        **built,
        "board": spec["board"],
        "needs": spec["needs"],
    }


def _keep_dir(out_dir) -> Path | None:
    """``--out`` created if needed (:func:`build_plan` has checked it is not a file)."""
    if out_dir is None:
        return None
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return Path(out_dir)


def _build_and_register(plan: dict, keep_dir: Path | None, progress, runner) -> dict:
    """Run the plan's command into a fresh export directory, check the binary, keep and register it.

    A fresh directory means a stale binary from an earlier build is never mistaken for this
    build's result; it is removed whatever happens.
    """
    from bnn_deploy.devices.board_runtime import register_runtime
    from bnn_deploy.devices.elf import verify_elf

    target, stage = plan["target"], plan["docker_stage"]
    export_dir = Path(tempfile.mkdtemp(prefix=".bnn-deploy-build-", dir=keep_dir))
    try:
        argv = [f"type=local,dest={export_dir}" if a == f"type=local,dest={EXPORT_DIR}" else a for a in plan["command"]]
        progress(f"$ {shlex.join(argv)}")
        _run_streaming(argv, runner, progress, stage)
        produced = export_dir / BINARY_NAME
        if not produced.is_file():
            raise BnnDeployError(
                f"the docker build finished but left no {BINARY_NAME} in {export_dir}; "
                f"check the Dockerfile stage {stage!r}"
            )
        header = verify_elf(produced, target)
        if keep_dir is not None:
            kept = keep_dir / BINARY_NAME
            os.replace(produced, kept)
            kept.chmod(0o755)
            produced = kept
        registered = register_runtime(produced, target, origin=f"build-runtime (LCE {LCE_GIT_TAG})")
    finally:
        shutil.rmtree(export_dir, ignore_errors=True)
    return {
        "binary": registered["path"] if keep_dir is None else str(produced),
        "registered": registered["path"],
        "sha256": registered["sha256"],
        "machine": header["machine"],
        "bits": header["bits"],
        "interpreter": header["interpreter"],
    }


def register_binary(path, target: str) -> dict:
    """Register a binary built or downloaded elsewhere, after the same ELF check as a build."""
    from bnn_deploy.devices.board_runtime import register_runtime
    from bnn_deploy.devices.elf import verify_elf

    spec = get_target(target)
    header = verify_elf(path, target)
    registered = register_runtime(path, target, origin="file")
    return {
        "target": target,
        "binary": str(Path(path)),
        "registered": registered["path"],
        "sha256": registered["sha256"],
        "machine": header["machine"],
        "bits": header["bits"],
        "interpreter": header["interpreter"],
        "board": spec["board"],
        "needs": spec["needs"],
    }


def render_build(result: dict) -> str:
    """Human-readable summary of :func:`build_runtime` / :func:`register_binary`."""
    lines = []
    if "seconds" in result:
        lines.append(
            f"built {BINARY_NAME} for {result['target']} ({result['machine']}, "
            f"{result['bits']}-bit) in {result['seconds']:.0f} s"
        )
        if result["binary"] != result["registered"]:
            lines.append(f"  copy:       {result['binary']}")
        emulated = f", emulated on a {result['builder_native']} builder" if result["emulated"] else ""
        lines.append(f"  platform:   {result['platform'] or 'not pinned'}{emulated}")
    else:
        lines.append(
            f"checked {result['binary']}: {result['machine']}, {result['bits']}-bit "
            f"({'static' if not result['interpreter'] else result['interpreter']})"
        )
    lines.append(f"  registered: {result['registered']}")
    lines.append(f"  sha256:     {result['sha256']}")
    lines.append(f"  board:      {result['board']}")
    lines.append(f"  needs:      {result['needs']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- helpers


_DAEMON_DOWN = (
    "Cannot connect to the Docker daemon",
    "permission denied while trying to connect",
    "error during connect",
)
_DAEMON_DOWN_MESSAGE = (
    "docker cannot reach the Docker engine; start it (systemctl start docker, or open Docker "
    "Desktop) and make sure your user may use it (group docker), then rerun"
)


def _daemon_down(lines) -> bool:
    return any(marker in line for line in lines for marker in _DAEMON_DOWN)


def _run_streaming(argv: list[str], runner, progress, stage: str) -> None:
    """Run ``argv``, passing each output line to ``progress``; one-line error if it fails."""
    tail: collections.deque[str] = collections.deque(maxlen=40)
    try:
        proc = runner(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, errors="replace")
    except OSError as exc:
        raise BnnDeployError(
            f"could not start `{' '.join(argv[:3])}` ({exc}); check the Docker installation, then rerun"
        ) from None
    try:
        for line in proc.stdout:
            line = line.rstrip("\r\n")
            tail.append(line)
            progress(line)
        returncode = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
    if returncode == 0:
        return
    if _daemon_down(tail):
        raise BnnDeployError(_DAEMON_DOWN_MESSAGE)
    last = next((line.strip() for line in reversed(tail) if line.strip()), "no output")
    raise BnnDeployError(
        f"docker buildx build --target {stage} failed (exit {returncode}): {last}; see the build log above"
    )
