"""The ``bnn-deploy`` command line: parse options, call a library function, print the result.

No work happens here. Each command calls one plain function from the package and prints what it
returns, as text or (``--json``) as one JSON document on stdout. Errors the user can fix are
:class:`~bnn_deploy.core.errors.BnnDeployError` and print as one line; ``--debug`` shows tracebacks.
Heavy libraries (torch, TensorFlow) are imported inside commands so ``--help`` stays fast.
"""

from __future__ import annotations

import sys

import click

from bnn_deploy.core.errors import BnnDeployError


def emit(result, as_json: bool, render) -> None:
    """Print ``result`` as JSON when asked, else through ``render`` (a function returning text)."""
    if as_json:
        from bnn_deploy.core.jsonio import dumps

        click.echo(dumps(result), nl=False)
    else:
        click.echo(render(result))


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
k_option = click.option("--k", "k", type=float, default=None,
                        help="BBCU amplification factor (not stored in official checkpoints; default "
                             "130; checkpoints only).")
trust_pickle_option = click.option("--trust-pickle", is_flag=True,
                                   help="Allow checkpoints that need full unpickling (runs code from "
                                        "the file: only for files you trust).")


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
@k_option
@trust_pickle_option
@json_option
def inspect_cmd(ckpt, lr_size, k, trust_pickle, as_json):
    """Describe a checkpoint: architecture, layers (float/binary) and cost by the BBCU convention."""
    from bnn_deploy.models.inspect import inspect_checkpoint, render_inspection
    from bnn_deploy.core.values import parse_size

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
@k_option
@trust_pickle_option
@json_option
def upscale_cmd(ckpt, image, output, k, trust_pickle, as_json):
    """Run a model on one image with PyTorch and write the result."""
    from bnn_deploy.evaluation.upscale import upscale_file

    result = upscale_file(ckpt, image, output, k=k, trust_pickle=trust_pickle)
    emit(result, as_json, lambda r: (
        f"wrote {r['output']}  {r['input_size'][0]}x{r['input_size'][1]} -> "
        f"{r['output_size'][0]}x{r['output_size'][1]}  ({r['arch']} x{r['scale']}, {r['seconds']:.2f} s)"))


# ---------------------------------------------------------------- bench


@cli.command("eval")
@click.argument("target", metavar="EXPORT_DIR|CKPT", type=click.Path())
@click.option("--images", "images_dir", type=click.Path(file_okay=False), default=None,
              help="Folder of HR images to score on (default: the bundled held-out photos).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Where to write crops/ and eval.json (default EXPORT_DIR/eval or bnn-deploy-out/eval/NAME).")
@click.option("--memory-budget", default=None,
              help="Memory for one tile, e.g. 256MB: tile with the largest exported input size whose measured "
                   "peak fits (default: the largest size).")
@click.option("--overlap", type=int, default=None,
              help="LR pixels of overlap between tiles (default: bnn_deploy.core.tiling.DEFAULT_OVERLAP).")
@k_option
@trust_pickle_option
@json_option
def eval_cmd(target, images_dir, out_dir, memory_budget, overlap, k, trust_pickle, as_json):
    """PSNR/SSIM of bicubic, the float reference and each deployed artifact; writes comparison crops."""
    from bnn_deploy.evaluation.evaluate import evaluate, render_eval
    from bnn_deploy.core.values import parse_memory

    budget = None if memory_budget is None else parse_memory(memory_budget)
    result = evaluate(target, images_dir=images_dir, out_dir=out_dir, memory_budget=budget,
                      overlap=overlap, k=k, trust_pickle=trust_pickle,
                      progress=lambda msg: click.echo(msg, err=True))
    emit(result, as_json, render_eval)


@cli.command("bench")
@click.argument("export_dir", type=click.Path())
@click.option("--device", default="host", show_default=True,
              help="Where to run: host (this machine), a profile (pi4, pi5, ...) or an inventory board.")
@click.option("--threads", default="1", show_default=True, help="Thread counts to measure, e.g. 1,2 (a board: one).")
@click.option("--warmup", type=int, default=2, show_default=True, help="Untimed runs after the first run.")
@click.option("--runs", type=int, default=20, show_default=True, help="Timed runs per artifact (at most).")
@click.option("--max-secs", type=float, default=20.0, show_default=True,
              help="Stop timing an artifact after this many seconds (at least one timed run); host only.")
@click.option("--kernel", default="auto", show_default=True,
              help="LCE kernel: auto (fastest with identical output), default, indirect_bgemm, xnnpack, "
                   "indirect_bgemm+xnnpack, reference; host only.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Write the full report (every figure, host and versions) to this JSON file.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write a latency-vs-PSNR scatter plot to this PNG file.")
@click.option("--host", "ssh_host", default=None, metavar="USER@ADDR[:PORT]", help="Reach the board over SSH here.")
@click.option("--key", default=None, type=click.Path(dir_okay=False), help="SSH private key for the board.")
@click.option("--serial", default=None, help="Reach the board over ADB: its serial (adb devices -l).")
@click.option("--runtime-bin", default=None, type=click.Path(dir_okay=False),
              help="A local lce_benchmark_model to push (default: the one registered by build-runtime).")
@click.option("--cooldown", type=float, default=None, metavar="S", help="Seconds to wait between artifacts (board).")
@click.option("--accept-new-host-key", is_flag=True, default=False,
              help="Trust and record the board's SSH host key if it is not known yet (never a changed one).")
@click.option("--inventory", default=None, type=click.Path(dir_okay=False),
              help="Board inventory TOML (default: ~/.config/bnn-deploy/devices.toml).")
@click.option("--timeout", type=float, default=None, metavar="S",
              help="Time limit of each command on the board (default 900).")
def bench_cmd(export_dir, device, threads, warmup, runs, max_secs, kernel, json_path, plot_path, ssh_host, key,
              serial, runtime_bin, cooldown, accept_new_host_key, inventory, timeout):
    """Latency, memory, size, parity and quality of every artifact of an export, each in its own process."""
    from bnn_deploy.benchmarking.board import bench
    from bnn_deploy.benchmarking.options import BenchOptions
    from bnn_deploy.benchmarking.report import render_bench
    from bnn_deploy.core.values import parse_threads

    options = BenchOptions(device=device, threads=parse_threads(threads), warmup=warmup, runs=runs,
                           max_secs=max_secs, kernel=kernel, json_out=json_path, plot=plot_path, host=ssh_host,
                           key=key, serial=serial, runtime_bin=runtime_bin, cooldown=cooldown,
                           accept_new_host_key=accept_new_host_key, inventory=inventory, timeout=timeout)
    result = bench(export_dir, options, progress=lambda msg: click.echo(msg, err=True))
    click.echo(render_bench(result))


# ---------------------------------------------------------------- devices


@cli.command("devices")
@click.option("--inventory", "inventory", type=click.Path(dir_okay=False), default=None,
              help="Board inventory TOML (default: ~/.config/bnn-deploy/devices.toml).")
@json_option
def devices_cmd(inventory, as_json):
    """List the device profiles and the boards of the inventory."""
    from bnn_deploy.devices.inventory import inventory_path, load_inventory, render_inventory
    from bnn_deploy.devices.profiles import list_profiles, render_profiles

    path = inventory_path(inventory)
    result = {"profiles": list_profiles(), "inventory": {"path": str(path),
                                                         "devices": load_inventory(inventory)}}
    emit(result, as_json, lambda r: render_profiles(r["profiles"]) + "\n\n" +
         render_inventory(r["inventory"]["path"], r["inventory"]["devices"]))


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
    from bnn_deploy.devices.board_runtime_build import build_runtime, register_binary, render_build

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
    from bnn_deploy.devices.board_runtime import list_runtimes, render_runtimes

    emit(list_runtimes(), as_json, render_runtimes)


# ---------------------------------------------------------------- export


@cli.command("export")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("--target", default="arm64", show_default=True,
              help="Board family: arm64, armv7 or android-arm64 (all use LCE's arm flatbuffer).")
@click.option("--format", "formats", default="lce", show_default=True,
              help="Comma-separated artifacts: lce, tflite-float, tflite-int8 (needs --float-ref), onnx.")
@click.option("--input-size", "input_sizes", multiple=True,
              help="LR input size WxH; repeat or comma-separate for several (default 320x180). "
                   "LCE flatbuffers have fixed shapes: one file per size.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output directory (default bnn-deploy-out/<model>/); replaced atomically.")
@click.option("--min-parity-db", type=float, default=60.0, show_default=True,
              help="Fail unless every artifact matches the reference by at least this PSNR on photos.")
@click.option("--float-ref", type=click.Path(dir_okay=False), default=None,
              help="A float model checkpoint to export as float TFLite / int8 TFLite baselines.")
@k_option
@trust_pickle_option
@json_option
def export_cmd(source, target, formats, input_sizes, out_dir, min_parity_db, float_ref, k, trust_pickle,
               as_json):
    """Export a checkpoint or .onnx file to LCE (bitpacked binary convs) with parity proven on photos."""
    from bnn_deploy.core.values import parse_size
    from bnn_deploy.conversion.export import export_model, render_export

    sizes = [parse_size(part, "--input-size") for text in (input_sizes or ("320x180",))
             for part in text.split(",") if part.strip()]
    result = export_model(source, formats=[f.strip() for f in formats.split(",") if f.strip()],
                          input_sizes=sizes, target=target, out_dir=out_dir, min_parity_db=min_parity_db,
                          float_ref=float_ref, k=k, trust_pickle=trust_pickle,
                          progress=lambda msg: click.echo(msg, err=True))
    emit(result, as_json, render_export)


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
