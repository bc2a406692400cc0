"""``eval``: quality of every deployment of an export (or of a checkpoint) on photos."""

from __future__ import annotations

import click

from bnn_deploy.cli.common import Output, k_option, output_options, trust_pickle_option


def register(cli: click.Group) -> None:
    cli.add_command(eval_cmd)


@click.command("eval")
@click.argument("target", metavar="EXPORT_DIR|CKPT", type=click.Path())
@click.option(
    "--images",
    "images_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of HR images to score on (default: the bundled held-out photos).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where to write crops/ and eval.json (default EXPORT_DIR/eval or bnn-deploy-out/eval/NAME).",
)
@click.option(
    "--memory-budget",
    default=None,
    help="Memory for one tile, e.g. 256MB: tile with the largest exported input size whose measured "
    "peak fits (default: the largest size).",
)
@click.option(
    "--overlap",
    type=click.IntRange(min=0),
    default=None,
    help="LR pixels of overlap between tiles (default: the overlap the export measured for the model, else 24).",
)
@k_option
@trust_pickle_option
@output_options
def eval_cmd(target, images_dir, out_dir, memory_budget, overlap, k, trust_pickle, out: Output):
    """PSNR/SSIM of bicubic, the float reference and each deployed artifact; writes comparison crops."""
    from bnn_deploy.core.values import parse_memory
    from bnn_deploy.evaluation.evaluate import evaluate, render_eval

    budget = None if memory_budget is None else parse_memory(memory_budget)
    result = evaluate(
        target,
        images_dir=images_dir,
        out_dir=out_dir,
        memory_budget=budget,
        overlap=overlap,
        k=k,
        trust_pickle=trust_pickle,
        progress=out.progress,
    )
    out.emit(result, render_eval)
