"""``export``: a checkpoint or ONNX file to LCE / TFLite / ONNX artifacts."""

from __future__ import annotations

import click

from bnn_deploy.cli.common import Output, k_option, output_options, trust_pickle_option


def register(cli: click.Group) -> None:
    cli.add_command(export_cmd)


@click.command("export")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option(
    "--target",
    default="arm64",
    show_default=True,
    help="Board family: arm64, armv7 or android-arm64 (all use LCE's arm flatbuffer).",
)
@click.option(
    "--format",
    "formats",
    default="lce",
    show_default=True,
    help="Comma-separated artifacts: lce, lce-int8 (int8 head/tail convs), tflite-float, "
    "tflite-int8 (needs --float-ref), onnx.",
)
@click.option(
    "--input-size",
    "input_sizes",
    multiple=True,
    help="LR input size WxH; repeat or comma-separate for several (default 320x180). "
    "LCE flatbuffers have fixed shapes: one file per size.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Output directory (default bnn-deploy-out/<model>/). A re-export replaces only the files "
    "the previous export wrote; your own files there are left alone.",
)
@click.option(
    "--min-parity-db",
    type=float,
    default=60.0,
    show_default=True,
    help="Fail unless every artifact matches the reference by at least this PSNR on photos.",
)
@click.option(
    "--float-ref",
    type=click.Path(dir_okay=False),
    default=None,
    help="A float model checkpoint to export as float TFLite / int8 TFLite baselines.",
)
@click.option(
    "--fold/--no-fold",
    default=True,
    show_default=True,
    help="Fold the float glue around the binary convs (exact up to float rounding; parity still gated).",
)
@k_option
@trust_pickle_option
@output_options
def export_cmd(
    source, target, formats, input_sizes, out_dir, min_parity_db, float_ref, fold, k, trust_pickle, out: Output
):
    """Export a checkpoint or .onnx file to LCE (bitpacked binary convs) with parity proven on photos."""
    from bnn_deploy.conversion.export import export_model, render_export
    from bnn_deploy.core.values import parse_size

    sizes = [
        parse_size(part, "--input-size")
        for text in (input_sizes or ("320x180",))
        for part in text.split(",")
        if part.strip()
    ]
    result = export_model(
        source,
        formats=[f.strip() for f in formats.split(",") if f.strip()],
        input_sizes=sizes,
        target=target,
        out_dir=out_dir,
        min_parity_db=min_parity_db,
        float_ref=float_ref,
        k=k,
        trust_pickle=trust_pickle,
        fold=fold,
        progress=out.progress,
    )
    out.emit(result, render_export)
