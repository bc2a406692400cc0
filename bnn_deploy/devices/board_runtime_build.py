"""Build LCE's on-device benchmark binary (``lce_benchmark_model``) for a board, with Docker.

LCE publishes no Linux aarch64 wheel and its on-device binaries only as release assets, so
``bnn-deploy build-runtime --target arm64|armv7|android-arm64`` builds them from upstream source
(larq/compute-engine at the tag matching our LCE version) inside the top-level ``Dockerfile``: one
Bazel build stage per target and an output-only stage that holds just the binary, exported with
``docker buildx build --target <stage> --output type=local,dest=<dir>``. The result is checked to
be an ELF for the right CPU (:func:`bnn_deploy.devices.elf.verify_elf`) and registered where
``bench`` finds it (:mod:`bnn_deploy.devices.board_runtime`).

Nothing here downloads anything itself: the sources and toolchains are fetched by ``docker
buildx build`` on the user's machine, as written in the Dockerfile.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError, first_line
from bnn_deploy.core.targets import get_target
from bnn_deploy.devices.board_runtime import BINARY_NAME

LCE_VERSION = "0.16.0"
LCE_GIT_TAG = f"v{LCE_VERSION}"
BAZEL_VERSION = "6.5.0"
BAZEL_TARGET = "//larq_compute_engine/tflite/benchmark:lce_benchmark_model"


def docker_build_command(target: str, out_dir, context_dir) -> list[str]:
    """The exact ``docker buildx build`` argv that exports ``target``'s binary into ``out_dir``."""
    stage = get_target(target)["docker_stage"]
    return [
        "docker",
        "buildx",
        "build",
        "--target",
        stage,
        "--output",
        f"type=local,dest={os.fspath(out_dir)}",
        "--progress=plain",
        os.fspath(context_dir),
    ]


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


def build_runtime(
    target: str,
    out_dir=None,
    *,
    context_dir=None,
    progress: Callable[[str], None] | None = None,
    runner: Callable[..., subprocess.Popen] = subprocess.Popen,
) -> dict:
    """Build ``lce_benchmark_model`` for ``target`` with Docker, verify it and register it.

    ``out_dir`` also keeps a copy of the binary (``<out_dir>/lce_benchmark_model``); without it
    only the registered copy is kept. Every line of build output is passed to ``progress``.
    ``runner`` starts the build (``subprocess.Popen`` or a stand-in with the same interface).
    Returns what was built and where it was registered.
    """
    from bnn_deploy.core.fileio import check_output_dir
    from bnn_deploy.devices.board_runtime import ENV_DIR, register_runtime, runtimes_dir
    from bnn_deploy.devices.elf import verify_elf

    spec = get_target(target)
    # Both places the result goes are checked before a build of many minutes.
    check_output_dir(out_dir, "--out")
    check_output_dir(runtimes_dir() / target, f"the runtimes store (set {ENV_DIR} to move it)")
    context = find_context_dir(context_dir)
    buildx = check_docker()
    progress = progress or (lambda line: None)

    keep_dir = Path(out_dir) if out_dir is not None else None
    if keep_dir is not None:
        keep_dir.mkdir(parents=True, exist_ok=True)
    # Export into a fresh directory so a stale binary from an earlier build is never mistaken
    # for this build's result.
    export_dir = Path(tempfile.mkdtemp(prefix=".bnn-deploy-build-", dir=keep_dir))
    try:
        argv = docker_build_command(target, export_dir, context)
        progress(f"$ {' '.join(argv)}")
        started = time.monotonic()
        _run_streaming(argv, runner, progress, spec)
        seconds = time.monotonic() - started

        produced = export_dir / BINARY_NAME
        if not produced.is_file():
            raise BnnDeployError(
                f"the docker build finished but left no {BINARY_NAME} in "
                f"{export_dir}; check the Dockerfile stage {spec['docker_stage']!r}"
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
        "target": target,
        "docker_stage": spec["docker_stage"],
        "bazel_config": spec["bazel_config"],
        "lce_version": LCE_VERSION,
        "buildx": buildx,
        "seconds": round(seconds, 1),
        "binary": registered["path"] if keep_dir is None else str(produced),
        "registered": registered["path"],
        "sha256": registered["sha256"],
        "machine": header["machine"],
        "bits": header["bits"],
        "interpreter": header["interpreter"],
        "board": spec["board"],
        "needs": spec["needs"],
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


def _run_streaming(argv: list[str], runner, progress, spec: dict) -> None:
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
    if any(marker in line for line in tail for marker in _DAEMON_DOWN):
        raise BnnDeployError(
            "docker cannot reach the Docker engine; start it (systemctl start "
            "docker, or open Docker Desktop) and make sure your user may use it "
            "(group docker), then rerun"
        )
    last = next((line.strip() for line in reversed(tail) if line.strip()), "no output")
    raise BnnDeployError(
        f"docker buildx build --target {spec['docker_stage']} failed (exit "
        f"{returncode}): {last}; see the build log above"
    )
