"""What every command shares: the output convention, the progress channel, shared options.

One output convention for every command: ``--json`` prints the result as JSON on stdout and
nothing else there (human text and progress go to stderr); ``--json-out FILE`` writes the same
JSON to a file while the human table still prints. The file's path is checked when the option is
parsed, before any work; if writing it fails at the end anyway, the table has already printed.
Progress bars (:mod:`bnn_deploy.core.progress`) show only when stderr is a terminal and ``--json``
is not given; status lines always print.
"""

from __future__ import annotations

import functools

import click

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.progress import silenced, status


def _check_json_out(ctx, param, value):
    if value is not None:
        from bnn_deploy.core.fileio import check_output_path

        check_output_path(value, "--json-out", suffixes=(".json",))
    return value


def output_options(command):
    """``--json`` and ``--json-out FILE``, passed to the command as one ``out`` argument (an :class:`Output`)."""

    @click.option(
        "--json-out",
        "json_out",
        type=click.Path(dir_okay=False),
        default=None,
        callback=_check_json_out,
        help="Also write the result as JSON to this file (the table still prints).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout (and nothing else).")
    @functools.wraps(command)
    def wrapper(*args, as_json: bool, json_out: str | None, **kwargs):
        with silenced(as_json):  # --json: no progress bars (status lines still go to stderr)
            return command(*args, out=Output(as_json, json_out), **kwargs)

    return wrapper


class Output:
    """Where a command's result goes: the table or JSON on stdout, and optionally a JSON file."""

    def __init__(self, as_json: bool = False, json_out: str | None = None):
        self.as_json, self.json_out = as_json, json_out

    def progress(self, message: str) -> None:
        """A status line: always stderr, so stdout stays the result (above a progress bar, if one shows)."""
        status(message)

    def emit(self, result, render) -> None:
        """Print ``result`` (JSON, or ``render(result)``), then write ``--json-out`` if asked."""
        from bnn_deploy.core.jsonio import REPORT_DIGITS, dumps, write_json

        if self.as_json:
            click.echo(dumps(result, REPORT_DIGITS), nl=False)
        else:
            click.echo(render(result))
        if self.json_out is not None:
            try:
                write_json(self.json_out, result, REPORT_DIGITS)
            except BnnDeployError as exc:
                raise BnnDeployError(f"{exc} (the result above is complete; only the JSON file is missing)") from exc
            click.echo(f"wrote {self.json_out}", err=True)


def _check_k(ctx, param, value):
    from bnn_deploy.core.values import check_k

    return check_k(value)


k_option = click.option(
    "--k",
    "k",
    type=float,
    default=None,
    callback=_check_k,
    help="BBCU amplification factor (not stored in official checkpoints; default 130; checkpoints only).",
)
trust_pickle_option = click.option(
    "--trust-pickle",
    is_flag=True,
    help="Allow checkpoints that need full unpickling (runs code from the file: only for files you trust).",
)
overlap_option = click.option(
    "--overlap",
    type=click.IntRange(min=0),
    default=None,
    help="LR pixels of overlap between tiles (default: the overlap the export measured for the model, else 24).",
)
