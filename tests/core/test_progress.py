"""Progress bars: shown on a terminal, silent on a pipe and with --json; status lines print either way."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from bnn_deploy.core import progress
from support.terminal import read_terminal

# A counted bar with a status line in the middle, then a timed opaque step.
_SCRIPT = """
import sys, time
from bnn_deploy.core.progress import bar, silenced, status, step
with silenced(sys.argv[1] == "json"):
    with bar("tiles", total=3, unit="tile") as shown:
        for i in range(3):
            shown.update()
            if i == 1:
                status("a status line")
            time.sleep(0.05)
    with step("converting"):
        time.sleep(0.7 if sys.argv[1] == "text" else 0)  # long enough for the clock to be redrawn
    status("done")
"""


def run_script(mode: str, *, terminal: bool, columns: int = 0) -> str:
    """Run the script with stderr on a pseudo-terminal (``terminal``) or a pipe; returns what stderr got."""
    args = [sys.executable, "-c", _SCRIPT, mode]
    if terminal:
        return read_terminal(args, columns=columns)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


@pytest.mark.parametrize("columns", [0, 100])  # a fresh pseudo-terminal reports 0 columns; a real one its width
def test_bar_shows_on_a_terminal_with_elapsed_time(columns):
    err = run_script("text", terminal=True, columns=columns)
    assert "tiles: 3/3 tiles" in err and "elapsed" in err
    assert err.count("converting: 00:00") >= 2  # the step's clock was redrawn while the call ran
    pieces = [piece.strip() for piece in re.split(r"[\r\n]+", err)]  # bars redraw after a carriage return
    assert "a status line\r\n" in err and "done\r\n" in err and "a status line" in pieces  # whole lines, bar cleared


def test_no_bar_on_a_terminal_with_json():
    err = run_script("json", terminal=True)
    assert err.replace("\r\n", "\n") == "a status line\ndone\n"


def test_no_bar_when_stderr_is_not_a_terminal():
    assert run_script("text", terminal=False) == "a status line\ndone\n"


def test_silent_bar_accepts_the_same_calls(capsys):
    assert not progress.shown()  # pytest captures stderr: not a terminal
    with progress.bar("tiles", total=2) as shown:
        shown.update()
        shown.tick(2, 2)
        assert not shown.shown
    with progress.silenced(), progress.silenced(False):  # an inner False does not undo an outer --json
        assert progress._SILENCED.get()
    assert capsys.readouterr().err == ""
