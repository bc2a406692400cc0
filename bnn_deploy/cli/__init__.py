"""The ``bnn-deploy`` command line: parse options, call a library function, print the result.

No work happens here. Each command lives in the module of its family (``cli/export.py``,
``cli/bench.py``, ...), calls one plain function from the package and prints what it returns
through :class:`~bnn_deploy.cli.common.Output` (the table, or ``--json``; ``--json-out FILE``).
Errors the user can fix are :class:`~bnn_deploy.core.errors.BnnDeployError` and print as one line;
``--debug`` shows tracebacks. Heavy libraries (torch, TensorFlow) are imported inside commands so
``--help`` stays fast.
"""

from __future__ import annotations

import sys

import click

from bnn_deploy.cli import bench, devices, evaluate, export, models, plan, predict
from bnn_deploy.core.errors import BnnDeployError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="bnn-deploy")
def cli(debug: bool) -> None:
    """Deploy binary super-resolution networks: inspect, export, evaluate and benchmark."""


for _family in (models, export, evaluate, bench, plan, predict, devices):
    _family.register(cli)


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
        click.echo(
            f"error: internal error ({type(exc).__name__}: {exc}); rerun with --debug and report the traceback",
            err=True,
        )
        return 1
    return 0
