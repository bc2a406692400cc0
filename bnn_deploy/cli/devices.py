"""Commands about boards: ``devices``, ``build-runtime``, ``runtimes`` (the board runtime, ``lce_benchmark_model``)."""

from __future__ import annotations

import click

from bnn_deploy.cli.common import Output, output_options
from bnn_deploy.core.errors import BnnDeployError


def register(cli: click.Group) -> None:
    cli.add_command(devices_cmd)
    cli.add_command(build_runtime_cmd)
    cli.add_command(runtimes_cmd)


@click.command("devices")
@click.option(
    "--inventory",
    "inventory",
    type=click.Path(dir_okay=False),
    default=None,
    help="Board inventory TOML (default: ~/.config/bnn-deploy/devices.toml).",
)
@output_options
def devices_cmd(inventory, out: Output):
    """List the device profiles and the boards of the inventory."""
    from bnn_deploy.devices.inventory import inventory_path, load_inventory, render_inventory
    from bnn_deploy.devices.profiles import list_profiles, render_profiles

    path = inventory_path(inventory)
    result = {"profiles": list_profiles(), "inventory": {"path": str(path), "devices": load_inventory(inventory)}}
    out.emit(
        result,
        lambda r: (
            render_profiles(r["profiles"])
            + "\n\n"
            + render_inventory(r["inventory"]["path"], r["inventory"]["devices"])
        ),
    )


@click.command("build-runtime")
@click.option(
    "--target",
    required=True,
    metavar="TARGET",
    help="Board: arm64 (64-bit Pi 4/5), armv7 (32-bit Raspberry Pi OS) or android-arm64.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Also keep a copy of the binary in this directory.",
)
@click.option(
    "--context",
    "context_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="bnn-deploy source directory with the Dockerfile (default: this checkout).",
)
@click.option(
    "--from-binary",
    "from_binary",
    type=click.Path(dir_okay=False),
    default=None,
    help="Skip the build: check and register a binary built or downloaded elsewhere.",
)
@click.option(
    "--bazel-jobs",
    "bazel_jobs",
    type=int,
    default=None,
    metavar="N",
    help="Bazel's parallel jobs in the build (default: the Dockerfile's BAZEL_JOBS, sized for an 8 GB engine).",
)
@click.option(
    "--bazel-ram",
    "bazel_ram",
    default=None,
    metavar="SIZE",
    help="RAM Bazel plans its jobs with, e.g. 16GB (default: the Dockerfile's BAZEL_LOCAL_RAM_MB).",
)
@click.option(
    "--print-plan",
    is_flag=True,
    help="Print the docker buildx command, platform, build args and stages, and run nothing.",
)
@output_options
def build_runtime_cmd(target, out_dir, context_dir, from_binary, bazel_jobs, bazel_ram, print_plan, out: Output):
    """Build LCE's lce_benchmark_model (the board runtime) with Docker, check it and register it for bench."""
    from bnn_deploy.devices import board_runtime_build as build

    options = {"context_dir": context_dir, "bazel_jobs": bazel_jobs, "bazel_ram": bazel_ram}
    if from_binary is not None:
        given = [
            flag
            for flag, value in (
                ("--print-plan", print_plan),
                ("--bazel-jobs", bazel_jobs),
                ("--bazel-ram", bazel_ram),
                ("--out", out_dir),
                ("--context", context_dir),
            )
            if value
        ]
        if given:
            raise BnnDeployError(
                f"--from-binary builds nothing, so {', '.join(given)} does not apply; drop one of them"
            )
        out.emit(build.register_binary(from_binary, target), build.render_build)
    elif print_plan:
        out.emit(build.build_plan(target, out_dir, **options), build.render_plan)
    else:
        out.emit(build.build_runtime(target, out_dir, progress=out.progress, **options), build.render_build)


@click.command("runtimes")
@output_options
def runtimes_cmd(out: Output):
    """List the registered board runtimes (lce_benchmark_model per target)."""
    from bnn_deploy.devices.board_runtime import list_runtimes, render_runtimes

    out.emit(list_runtimes(), render_runtimes)
