"""``plan``: the tile size giving the fastest whole frame on a device within a memory budget."""

from __future__ import annotations

import click

from bnn_deploy.cli.common import Output, output_options


def register(cli: click.Group) -> None:
    cli.add_command(plan_cmd)


@click.command("plan")
@click.argument("target", metavar="CKPT|EXPORT_DIR", type=click.Path())
@click.option("--frame", required=True, help="Output (HR) frame size WxH, e.g. 1920x1080.")
@click.option(
    "--device",
    default="host",
    show_default=True,
    help="host (measured here) or a board the latency model knows: pi4, pi5, pi3-64, pixel1, android-arm64 "
    "(latency predicted, memory estimated).",
)
@click.option(
    "--memory-budget", default=None, help="Memory for the whole frame run, e.g. 256MB or 1GB (default: none)."
)
@click.option("--threads", type=int, default=1, show_default=True, help="Threads per tile run.")
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Export the chosen tile size (LCE) to this directory.",
)
@output_options
def plan_cmd(target, frame, device, memory_budget, threads, export_dir, out: Output):
    """Choose the LCE tile size for WxH frames: tiles, work, tile and frame latency, memory, per candidate."""
    from bnn_deploy.core.values import parse_memory, parse_size
    from bnn_deploy.planning import plan, render_plan

    result = plan(
        target,
        frame=parse_size(frame, "--frame"),
        device=device,
        memory_budget=None if memory_budget is None else parse_memory(memory_budget),
        threads=threads,
        export=export_dir,
        progress=out.progress,
    )
    out.emit(result, render_plan)
