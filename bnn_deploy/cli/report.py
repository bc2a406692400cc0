"""``compare`` (a regression gate over two bench or eval results) and ``report`` (one HTML page of an export)."""

from __future__ import annotations

import click

from bnn_deploy.cli.common import Output, output_options


def register(cli: click.Group) -> None:
    cli.add_command(compare_cmd)
    cli.add_command(report_cmd)


@click.command("compare")
@click.argument("old", metavar="OLD.json", type=click.Path(dir_okay=False))
@click.argument("new", metavar="NEW.json", type=click.Path(dir_okay=False))
@click.option(
    "--max-slowdown",
    default="5%",
    show_default=True,
    help="Fail when an artifact's latency (median, else mean) is slower than OLD's by more than this.",
)
@click.option(
    "--min-parity-db",
    type=float,
    default=60.0,
    show_default=True,
    help="Fail when an artifact's parity vs its PyTorch reference is below this (int8 is not gated).",
)
@click.option(
    "--max-psnr-drop",
    type=float,
    default=0.05,
    show_default=True,
    help="Fail when an artifact's mean PSNR vs HR drops by more than this many dB.",
)
@click.option(
    "--different-models",
    is_flag=True,
    help="Compare results of different source models (e.g. a retrained checkpoint); refused otherwise.",
)
@output_options
def compare_cmd(old, new, max_slowdown, min_parity_db, max_psnr_drop, different_models, out: Output):
    """Compare two bench (or eval) results artifact by artifact; exit 3 on a regression (a CI gate)."""
    from bnn_deploy.core.values import parse_percent
    from bnn_deploy.reporting.compare import REGRESSION_EXIT, Gates, compare_files, render_comparison

    gates = Gates(
        max_slowdown=parse_percent(max_slowdown, "--max-slowdown"),
        min_parity_db=min_parity_db,
        max_psnr_drop=max_psnr_drop,
    )
    result = compare_files(old, new, gates, different_models=different_models)
    out.emit(result, render_comparison)
    if not result["passed"]:
        raise click.exceptions.Exit(REGRESSION_EXIT)


@click.command("report")
@click.argument("export_dir", type=click.Path())
@click.argument("results", nargs=-1, metavar="[BENCH.json EVAL.json PROFILE.json PREDICT.json ...]")
@click.option(
    "-o",
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The HTML file to write (self-contained: no network fetches).",
)
@output_options
def report_cmd(export_dir, results, out_path, out: Output):
    """One self-contained HTML page: the manifest, bench table and plot, per-op profile, predictions, crops."""
    from bnn_deploy.reporting.page import render_summary, write_report_page

    out.emit(write_report_page(export_dir, list(results), out_path, progress=out.progress), render_summary)
