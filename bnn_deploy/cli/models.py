"""Commands about checkpoints: ``models``, ``inspect``, ``upscale``."""

from __future__ import annotations

import click

from bnn_deploy.cli.common import Output, k_option, output_options, trust_pickle_option


def register(cli: click.Group) -> None:
    cli.add_command(models_cmd)
    cli.add_command(inspect_cmd)
    cli.add_command(upscale_cmd)


@click.command("inspect")
@click.argument("ckpt", type=click.Path(dir_okay=False))
@click.option(
    "--lr-size", default="320x180", show_default=True, help="Low-resolution input size WxH the cost is counted at."
)
@k_option
@trust_pickle_option
@output_options
def inspect_cmd(ckpt, lr_size, k, trust_pickle, out: Output):
    """Describe a checkpoint: architecture, layers (float/binary), cost by the BBCU convention, and
    the float ops per binary unit before and after export's fold."""
    from bnn_deploy.conversion.fold import model_unit_glue, render_unit_glue
    from bnn_deploy.core.values import parse_size
    from bnn_deploy.models.checkpoint import load_checkpoint
    from bnn_deploy.models.inspect import describe_loaded, render_inspection

    width, height = parse_size(lr_size, "--lr-size")
    loaded = load_checkpoint(ckpt, k=k, trust_pickle=trust_pickle)
    info = describe_loaded(loaded, (height, width))
    # Counted on the traced ONNX graph (models/ cannot reach the conversion that folds it).
    info["float_glue"] = model_unit_glue(loaded.model, (height, width))
    out.emit(info, lambda i: render_inspection(i) + "\n" + render_unit_glue(i["float_glue"]))


@click.command("models")
@output_options
def models_cmd(out: Output):
    """List the architectures and the bundled models."""
    from bnn_deploy.models.registry import describe_zoo, render_zoo

    out.emit(describe_zoo(), render_zoo)


@click.command("upscale")
@click.argument("ckpt", type=click.Path(dir_okay=False))
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Where to write the upscaled PNG.")
@k_option
@trust_pickle_option
@output_options
def upscale_cmd(ckpt, image, output, k, trust_pickle, out: Output):
    """Run a model on one image with PyTorch and write the result."""
    from bnn_deploy.evaluation.upscale import upscale_file

    result = upscale_file(ckpt, image, output, k=k, trust_pickle=trust_pickle)
    out.emit(
        result,
        lambda r: (
            f"wrote {r['output']}  {r['input_size'][0]}x{r['input_size'][1]} -> "
            f"{r['output_size'][0]}x{r['output_size'][1]}  ({r['arch']} x{r['scale']}, {r['seconds']:.2f} s)"
        ),
    )
