"""Commands about checkpoints: ``models``, ``inspect``, ``upscale``."""

from __future__ import annotations

import click

from bnn_deploy.cli.common import Output, k_option, output_options, overlap_option, trust_pickle_option
from bnn_deploy.core.formats import FORMATS


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
@click.argument("target", metavar="CKPT|EXPORT_DIR|ARTIFACT", type=click.Path())
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Where to write the upscaled PNG.")
@click.option(
    "--artifact",
    type=click.Choice(list(FORMATS)),
    default=None,
    help="What runs, for an export folder: lce (default when exported), lce-int8 (int8 head/tail convs), "
    "tflite-float (the binary model on float kernels), tflite-int8 (the float reference, quantized), onnx, "
    "pytorch (the source checkpoint). A checkpoint runs in PyTorch.",
)
@click.option(
    "--memory-budget",
    default=None,
    help="Peak memory of the whole run, e.g. 1GB (default: 1.5 GiB, or 3/4 of the memory available now if "
    "less). What the libraries, models and image buffers take is subtracted; the tile is the largest whose "
    "measured need (x1.4) fits the rest: among the exported sizes for LCE/TFLite, at most 512x512 for "
    "PyTorch/ONNX.",
)
@overlap_option
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Threads (default: this machine's cores).")
@k_option
@trust_pickle_option
@output_options
def upscale_cmd(target, image, output, artifact, memory_budget, overlap, threads, k, trust_pickle, out: Output):
    """Upscale one image of any size with a checkpoint or a deployed artifact, in tiles, under a memory budget.

    Prints parity against PyTorch (computed tile by tile), the peak memory and the time taken.
    """
    from bnn_deploy.core.values import parse_memory
    from bnn_deploy.evaluation.upscale import render_upscale, upscale

    result = upscale(
        target,
        image,
        output,
        artifact=artifact,
        memory_budget=None if memory_budget is None else parse_memory(memory_budget),
        overlap=overlap,
        threads=threads,
        k=k,
        trust_pickle=trust_pickle,
        progress=out.progress,
    )
    out.emit(result, render_upscale)
