"""The ``bnn-deploy`` command line: parse options, call a library function, print the result.

No work happens here. Each command calls one plain function from the package and prints what it
returns, as text or (``--json``) as one JSON document on stdout. Errors the user can fix are
:class:`~bnn_deploy.errors.BnnDeployError` and print as one line; ``--debug`` shows tracebacks.
Heavy libraries (torch, TensorFlow) are imported inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys

import click

from bnn_deploy.errors import BnnDeployError


def emit(result, as_json: bool, render) -> None:
    """Print ``result`` as JSON when asked, else through ``render`` (a function returning text)."""
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=False, default=str))
    else:
        click.echo(render(result))


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="bnn-deploy")
def cli(debug: bool) -> None:
    """Deploy binary super-resolution networks: inspect, export, evaluate and benchmark."""


# ---------------------------------------------------------------- models


@cli.command("inspect")
@click.argument("ckpt", type=click.Path(dir_okay=False))
@click.option("--lr-size", default="320x180", show_default=True,
              help="Low-resolution input size WxH the cost is counted at.")
@click.option("--k", "k", type=float, default=None,
              help="BBCU amplification factor (not stored in official checkpoints; default 130).")
@click.option("--trust-pickle", is_flag=True,
              help="Allow checkpoints that need full unpickling (runs code from the file!).")
@json_option
def inspect_cmd(ckpt, lr_size, k, trust_pickle, as_json):
    """Describe a checkpoint: architecture, layers (float/binary) and cost by the BBCU convention."""
    from bnn_deploy.models.inspect import inspect_checkpoint, render_inspection
    from bnn_deploy.eval.sizes import parse_size

    width, height = parse_size(lr_size, "--lr-size")
    result = inspect_checkpoint(ckpt, lr_hw=(height, width), k=k, trust_pickle=trust_pickle)
    emit(result, as_json, render_inspection)


@cli.command("models")
@json_option
def models_cmd(as_json):
    """List the architectures and the bundled models."""
    from bnn_deploy.models.registry import describe_zoo, render_zoo

    emit(describe_zoo(), as_json, render_zoo)


@cli.command("upscale")
@click.argument("ckpt", type=click.Path(dir_okay=False))
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the upscaled PNG.")
@click.option("--k", "k", type=float, default=None, help="BBCU amplification factor override.")
@click.option("--trust-pickle", is_flag=True, help="Allow checkpoints that need full unpickling.")
@json_option
def upscale_cmd(ckpt, image, output, k, trust_pickle, as_json):
    """Run a model on one image with PyTorch and write the result."""
    from bnn_deploy.models.upscale import upscale_file

    result = upscale_file(ckpt, image, output, k=k, trust_pickle=trust_pickle)
    emit(result, as_json, lambda r: (
        f"wrote {r['output']}  {r['input_size'][0]}x{r['input_size'][1]} -> "
        f"{r['output_size'][0]}x{r['output_size'][1]}  ({r['arch']} x{r['scale']}, {r['seconds']:.2f} s)"))


@cli.command("eval")
@click.argument("ckpt", type=click.Path(dir_okay=False))
@click.option("--k", "k", type=float, default=None, help="BBCU amplification factor override.")
@click.option("--trust-pickle", is_flag=True, help="Allow checkpoints that need full unpickling.")
@json_option
def eval_cmd(ckpt, k, trust_pickle, as_json):
    """PSNR/SSIM of a checkpoint and of bicubic on the bundled held-out photos."""
    from bnn_deploy.eval.quality import evaluate_checkpoint, render_quality

    emit(evaluate_checkpoint(ckpt, k=k, trust_pickle=trust_pickle), as_json, render_quality)


# ---------------------------------------------------------------- runtimes


@cli.command("build-runtime")
@click.option("--target", required=True, metavar="TARGET",
              help="Board: arm64 (64-bit Pi 4/5), armv7 (32-bit Raspberry Pi OS) or android-arm64.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Also keep a copy of the binary in this directory.")
@click.option("--context", "context_dir", type=click.Path(file_okay=False), default=None,
              help="bnn-deploy source directory with the Dockerfile (default: this checkout).")
@click.option("--from-binary", "from_binary", type=click.Path(dir_okay=False), default=None,
              help="Skip the build: check and register a binary built or downloaded elsewhere.")
@json_option
def build_runtime_cmd(target, out_dir, context_dir, from_binary, as_json):
    """Build LCE's lce_benchmark_model for a board with Docker, check it and register it for bench."""
    from bnn_deploy.devices.runtime_build import build_runtime, register_binary, render_build

    if from_binary is not None:
        result = register_binary(from_binary, target)
    else:
        result = build_runtime(target, out_dir, context_dir=context_dir,
                               progress=lambda line: click.echo(line, err=True))
    emit(result, as_json, render_build)


@cli.command("runtimes")
@json_option
def runtimes_cmd(as_json):
    """List the registered on-device runtimes (lce_benchmark_model per target)."""
    from bnn_deploy.devices.runtimes_store import list_runtimes, render_runtimes

    emit(list_runtimes(), as_json, render_runtimes)


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; turn errors into one line on stderr and a non-zero exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        cli.main(args=argv, prog_name="bnn-deploy", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:  # usage errors: click's own one-line message, exit 2
        if debug:
            raise
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: interrupted; nothing was written", err=True)
        return 130
    except BnnDeployError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("error: interrupted; nothing was written", err=True)
        return 130
    except Exception as exc:  # a bug: still one line, with the way to see more
        if debug:
            raise
        click.echo(f"error: internal error ({type(exc).__name__}: {exc}); "
                   "rerun with --debug and report the traceback", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
