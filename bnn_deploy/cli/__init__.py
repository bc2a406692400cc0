"""The ``bnn-deploy`` command line: parse options, call a library function, print the result.

No work happens here. Each command lives in the module of its family (``cli/export.py``,
``cli/bench.py``, ...), calls one plain function from the package and prints what it returns
through :class:`~bnn_deploy.cli.common.Output` (the table, or ``--json``; ``--json-out FILE``).
Errors the user can fix are :class:`~bnn_deploy.core.errors.BnnDeployError` and print as one line;
``--debug`` shows tracebacks. Heavy libraries (torch, TensorFlow) are imported inside commands so
``--help`` stays fast.
"""

from __future__ import annotations

import signal
import sys
import threading

import click

from bnn_deploy.cli import bench, devices, evaluate, export, models, plan, predict, profile, report
from bnn_deploy.core.errors import BnnDeployError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="bnn-deploy")
def cli(debug: bool) -> None:
    """Deploy binary super-resolution networks: inspect, export, evaluate, benchmark, compare and report."""


for _family in (models, export, evaluate, bench, plan, predict, profile, report, devices):
    _family.register(cli)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt.

    Python's default SIGTERM ends the process at once, running no ``finally``: a board command
    would keep running there with its work folder left behind, and staging folders would stay.
    As an exception, every cleanup Ctrl-C gets runs for ``kill`` (and CI timeouts) too.
    """


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; turn errors into one line on stderr and a non-zero exit code."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _interrupted(exc: BaseException) -> int:
    """Exit 130 for Ctrl-C, 143 for SIGTERM (the shell's 128 + signal number)."""
    if isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated):
        click.echo("error: terminated (SIGTERM); nothing was written", err=True)
        return 128 + int(signal.SIGTERM)
    click.echo("error: interrupted; nothing was written", err=True)
    return 130


def _run(argv: list[str]) -> int:
    debug = "--debug" in argv
    try:
        # Without standalone mode click returns a command's click.exceptions.Exit code (e.g. compare's 3).
        code = cli.main(args=argv, prog_name="bnn-deploy", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:  # usage errors: click's own one-line message, exit 2
        if debug:
            raise
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort as exc:  # click's wrapper of KeyboardInterrupt
        return _interrupted(exc)
    except BnnDeployError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        return 1
    except KeyboardInterrupt as exc:
        return _interrupted(exc)
    except Exception as exc:  # a bug: still one line, with the way to see more
        if debug:
            raise
        click.echo(
            f"error: internal error ({type(exc).__name__}: {exc}); rerun with --debug and report the traceback",
            err=True,
        )
        return 1
    return code if isinstance(code, int) and not isinstance(code, bool) else 0
