"""``profile``: where each LCE / TFLite artifact's time goes, op by op, on this machine or a board."""

from __future__ import annotations

import click

from bnn_deploy.cli.bench import board_options, device_option, options_from
from bnn_deploy.cli.common import Output, output_options


def register(cli: click.Group) -> None:
    cli.add_command(profile_cmd)


@click.command("profile")
@click.argument("export_dir", type=click.Path())
@device_option("profile")
@click.option("--threads", default="1", show_default=True, help="Thread count (one).")
@click.option(
    "--kernel",
    default="auto",
    show_default=True,
    help="LCE kernel: auto (fastest with identical output), default, indirect_bgemm, xnnpack, "
    "indirect_bgemm+xnnpack, reference. Ops are profiled with its bconv kernel without XNNPACK; "
    "XNNPACK's effect is reported on the whole graph.",
)
@click.option("--warmup", type=int, default=1, show_default=True, help="Untimed runs first (a board).")
@click.option("--runs", type=int, default=3, show_default=True, help="Runs per measurement (host: the minimum counts).")
@click.option(
    "--trace",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the ops as Chrome trace events (JSON) to this file, for Perfetto or chrome://tracing.",
)
@board_options
@output_options
def profile_cmd(export_dir, device, threads, kernel, warmup, runs, trace, out: Output, **board):
    """One row per op of each LCE / TFLite artifact: op type, PyTorch module, binary or float, ms, %.

    On this machine each op runs alone (LCE's interpreter has no profiler); on a board,
    lce_benchmark_model's own op profiler runs, without and with XNNPACK.
    """
    from bnn_deploy.benchmarking.profile import profile, render_profile

    options = options_from(
        device=device, threads=threads, kernel=kernel, warmup=warmup, runs=runs, profile=True, trace=trace, **board
    )
    out.emit(profile(export_dir, options, progress=out.progress), render_profile)
