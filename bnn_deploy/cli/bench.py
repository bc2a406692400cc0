"""``bench``: latency, memory, size, parity and quality of every artifact, on this machine or a board."""

from __future__ import annotations

import functools

import click

from bnn_deploy.cli.common import Output, output_options


def register(cli: click.Group) -> None:
    cli.add_command(bench_cmd)


def board_options(command):
    """How a board is reached and run (``bench`` and ``profile`` share them), passed on as keyword arguments."""
    options = [
        click.option(
            "--host", "ssh_host", default=None, metavar="USER@ADDR[:PORT]", help="Reach the board over SSH here."
        ),
        click.option("--key", default=None, type=click.Path(dir_okay=False), help="SSH private key for the board."),
        click.option("--serial", default=None, help="Reach the board over ADB: its serial (adb devices -l)."),
        click.option(
            "--runtime-bin",
            default=None,
            type=click.Path(dir_okay=False),
            help="A local lce_benchmark_model to push (default: the one registered by build-runtime).",
        ),
        click.option(
            "--runtime-arg",
            "runtime_args",
            multiple=True,
            metavar="--FLAG=VALUE",
            help="Pass a flag to every lce_benchmark_model run (repeatable; write --runtime-arg=--flag=value). "
            "The tool only warns about flags it does not know; the report lists them as ignored.",
        ),
        click.option(
            "--cooldown", type=float, default=None, metavar="S", help="Seconds to wait between artifacts (board)."
        ),
        click.option(
            "--accept-new-host-key",
            is_flag=True,
            default=False,
            help="Trust and record the board's SSH host key if it is not known yet (never a changed one).",
        ),
        click.option(
            "--inventory",
            default=None,
            type=click.Path(dir_okay=False),
            help="Board inventory TOML (default: ~/.config/bnn-deploy/devices.toml).",
        ),
        click.option(
            "--timeout",
            type=float,
            default=None,
            metavar="S",
            help="Time limit of each command on the board (default 900).",
        ),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def options_from(
    *, threads: str, ssh_host=None, runtime_args=(), predict=None, predict_threads="1", frame=None, **given
):
    """A :class:`~bnn_deploy.benchmarking.options.BenchOptions` from the parsed command line."""
    from bnn_deploy.benchmarking.options import BenchOptions
    from bnn_deploy.core.values import parse_size, parse_threads

    boards = tuple(b.strip() for b in (predict or "").split(",") if b.strip())
    return BenchOptions(
        threads=parse_threads(threads),
        host=ssh_host,
        runtime_args=tuple(runtime_args),
        predict=boards,
        predict_threads=tuple(parse_threads(predict_threads, "--predict-threads")),
        frame=None if frame is None else parse_size(frame, "--frame"),
        **given,
    )


def device_option(what: str):
    """``--device``: this machine or a board."""
    return click.option(
        "--device",
        default="host",
        show_default=True,
        help=f"Where to {what}: host (this machine), a profile (pi4, pi5, ...) or an inventory board.",
    )


@click.command("bench")
@click.argument("export_dir", type=click.Path())
@device_option("run")
@click.option("--threads", default="1", show_default=True, help="Thread counts to measure, e.g. 1,2 (a board: one).")
@click.option("--warmup", type=int, default=2, show_default=True, help="Untimed runs after the first run.")
@click.option("--runs", type=int, default=20, show_default=True, help="Timed runs per artifact (at most).")
@click.option(
    "--max-secs",
    type=float,
    default=20.0,
    show_default=True,
    help="Stop timing an artifact after this many seconds (at least one timed run); host only.",
)
@click.option(
    "--kernel",
    default="auto",
    show_default=True,
    help="LCE kernel: auto (fastest with identical output, chosen where it runs), default, indirect_bgemm, "
    "xnnpack, indirect_bgemm+xnnpack, reference.",
)
@click.option(
    "--frame",
    default=None,
    metavar="WxH",
    help="Also time whole output frames of this size (tiled: cutting, every tile, stitching), e.g. 1920x1080; "
    "host only.",
)
@click.option(
    "--plot",
    "plot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a latency-vs-PSNR scatter plot to this PNG file.",
)
@click.option(
    "--profile", is_flag=True, default=False, help="Add the per-op profile (bnn-deploy profile) to the report."
)
@click.option(
    "--trace",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --profile: write it as Chrome trace events (JSON).",
)
@click.option(
    "--predict",
    default=None,
    metavar="BOARDS",
    help="Also PREDICT these boards (e.g. pi4,pixel1) with the latency model: labelled rows and hollow points "
    "next to this machine's measurements (host only; docs/predict.md).",
)
@click.option(
    "--predict-threads", default="1", show_default=True, help="Thread counts of the --predict boards, e.g. 1,4."
)
@click.option(
    "--print-commands",
    is_flag=True,
    default=False,
    help="Print every command the bench would run on the board (shell-quoted) without connecting.",
)
@board_options
@output_options
def bench_cmd(export_dir, threads, out: Output, **given):
    """Latency, memory, size, parity and quality of every artifact of an export, each in its own process."""
    from bnn_deploy.benchmarking.board import bench, print_commands
    from bnn_deploy.benchmarking.report import render_bench
    from bnn_deploy.devices.remote_bench import render_commands
    from bnn_deploy.runtimes.frames import render_frames

    options = options_from(threads=threads, **given)
    if options.print_commands:
        out.emit(print_commands(export_dir, options), render_commands)
    else:
        out.emit(
            bench(export_dir, options, progress=out.progress),
            lambda report: "\n".join(filter(None, [render_bench(report), render_frames(report.get("frames") or [])])),
        )
