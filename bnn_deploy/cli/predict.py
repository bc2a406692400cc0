"""``predict``: per-op latency of a flatbuffer on a board you do not have, labelled as a prediction."""

from __future__ import annotations

import click

from bnn_deploy.cli.common import Output, output_options


def register(cli: click.Group) -> None:
    cli.add_command(predict_cmd)


@click.command("predict")
@click.argument("source", metavar="EXPORT_DIR|MODEL.tflite", type=click.Path())
@click.option(
    "--device",
    "devices",
    default="pi4",
    show_default=True,
    help="Board(s), comma-separated: pi4, pi5, pi3-64, pixel1, android-arm64.",
)
@click.option("--threads", default="1", show_default=True, help="Thread counts, e.g. 1,4.")
@click.option(
    "--kernel",
    default=None,
    help="LCE kernel as lce_benchmark_model runs it (the model prices float ops under XNNPACK): xnnpack "
    "(LCE's default bconv kernel with XNNPACK: what LCE's published figures used, calibrated; the default), "
    "indirect_bgemm+xnnpack, reference (uncalibrated).",
)
@click.option(
    "--format",
    "formats",
    default="lce",
    show_default=True,
    help="Which artifacts of an export to predict, comma-separated (lce, lce-int8, tflite-float, tflite-int8).",
)
@click.option(
    "--allow-unknown",
    is_flag=True,
    help="Predict even with ops the model does not know (listed, excluded from the total).",
)
@click.option(
    "--against",
    "against",
    type=click.Path(dir_okay=False),
    default=None,
    help="A measured board profile (bnn-deploy profile --device BOARD --json): report the model's "
    "error per op type instead.",
)
@output_options
def predict_cmd(source, devices, threads, kernel, formats, allow_unknown, against, out: Output):
    """PREDICTED latency per op on ARM boards, with a range and the binary vs float-glue share (no board needed)."""
    from bnn_deploy.core.values import parse_threads
    from bnn_deploy.prediction import compare_against, predict, render_comparison, render_prediction

    result = predict(
        source,
        devices=[d.strip() for d in devices.split(",") if d.strip()],
        threads=parse_threads(threads),
        kernel=kernel,
        allow_unknown=allow_unknown,
        formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
    )
    if against is not None:
        out.emit(compare_against(result, against), render_comparison)
    else:
        out.emit(result, render_prediction)
