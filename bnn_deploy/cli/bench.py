"""``bench``: latency, memory, size, parity and quality of every artifact, on this machine or a board."""

from __future__ import annotations

import click

from bnn_deploy.cli.common import Output, output_options


def register(cli: click.Group) -> None:
    cli.add_command(bench_cmd)


@click.command("bench")
@click.argument("export_dir", type=click.Path())
@click.option(
    "--device",
    default="host",
    show_default=True,
    help="Where to run: host (this machine), a profile (pi4, pi5, ...) or an inventory board.",
)
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
    help="LCE kernel: auto (fastest with identical output), default, indirect_bgemm, xnnpack, "
    "indirect_bgemm+xnnpack, reference; host only.",
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
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a latency-vs-PSNR scatter plot to this PNG file.",
)
@click.option("--host", "ssh_host", default=None, metavar="USER@ADDR[:PORT]", help="Reach the board over SSH here.")
@click.option("--key", default=None, type=click.Path(dir_okay=False), help="SSH private key for the board.")
@click.option("--serial", default=None, help="Reach the board over ADB: its serial (adb devices -l).")
@click.option(
    "--runtime-bin",
    default=None,
    type=click.Path(dir_okay=False),
    help="A local lce_benchmark_model to push (default: the one registered by build-runtime).",
)
@click.option("--cooldown", type=float, default=None, metavar="S", help="Seconds to wait between artifacts (board).")
@click.option(
    "--accept-new-host-key",
    is_flag=True,
    default=False,
    help="Trust and record the board's SSH host key if it is not known yet (never a changed one).",
)
@click.option(
    "--inventory",
    default=None,
    type=click.Path(dir_okay=False),
    help="Board inventory TOML (default: ~/.config/bnn-deploy/devices.toml).",
)
@click.option(
    "--timeout", type=float, default=None, metavar="S", help="Time limit of each command on the board (default 900)."
)
@output_options
def bench_cmd(
    export_dir,
    device,
    threads,
    warmup,
    runs,
    max_secs,
    kernel,
    frame,
    plot_path,
    ssh_host,
    key,
    serial,
    runtime_bin,
    cooldown,
    accept_new_host_key,
    inventory,
    timeout,
    out: Output,
):
    """Latency, memory, size, parity and quality of every artifact of an export, each in its own process."""
    from bnn_deploy.benchmarking.board import bench
    from bnn_deploy.benchmarking.options import BenchOptions
    from bnn_deploy.benchmarking.report import render_bench
    from bnn_deploy.core.values import parse_size, parse_threads
    from bnn_deploy.runtimes.frames import render_frames

    options = BenchOptions(
        device=device,
        threads=parse_threads(threads),
        warmup=warmup,
        runs=runs,
        max_secs=max_secs,
        kernel=kernel,
        frame=None if frame is None else parse_size(frame, "--frame"),
        plot=plot_path,
        host=ssh_host,
        key=key,
        serial=serial,
        runtime_bin=runtime_bin,
        cooldown=cooldown,
        accept_new_host_key=accept_new_host_key,
        inventory=inventory,
        timeout=timeout,
    )
    out.emit(
        bench(export_dir, options, progress=out.progress),
        lambda report: "\n".join(filter(None, [render_bench(report), render_frames(report.get("frames") or [])])),
    )
