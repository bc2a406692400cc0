"""Run the real ``bnn-deploy`` command line in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args, check: bool | None = None, env: dict | None = None, timeout: float = 600):
    """Run ``bnn-deploy ARGS`` in a fresh interpreter; returns the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-m", "bnn_deploy.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    if check is True:
        assert proc.returncode == 0, proc.stderr
    return proc


def error_line(proc) -> str:
    """The one ``error:`` line of a failed command, after checking it is the only one and no traceback printed."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]
