"""Ship the board runner (:mod:`bnn_deploy.devices.board_runner`) to a board and run it there.

The runner itself is a standalone script; this module pushes it into the board's work directory,
asks it what the board's Python offers (``probe``), and runs one artifact with it (``run``),
pulling the output back for parity.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError, last_line
from bnn_deploy.devices import board_runner
from bnn_deploy.devices.board_runner import EXIT_USER_ERROR, RESULT_MARKER

SCRIPT_NAME = "bnn_deploy_board_runner.py"


def script_source() -> str:
    """The board runner's source text, to push to the board."""
    return Path(board_runner.__file__).read_text(encoding="utf-8")


def parse_result(stdout: str):
    """The JSON record after :data:`RESULT_MARKER` in the runner's stdout, or ``None``."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER) :])
    return None


def push_script(transport, work_dir: str, scratch) -> str:
    """Put the runner script into ``work_dir`` on the board; return its remote path."""
    local = Path(scratch) / f".{SCRIPT_NAME}"
    local.write_text(script_source(), encoding="utf-8")
    remote = f"{work_dir}/{SCRIPT_NAME}"
    try:
        transport.put(local, remote)
    finally:
        local.unlink(missing_ok=True)
    return remote


def probe_board_python(transport, script: str, python: str = "python3", *, timeout: float = 120) -> dict:
    """What the board's Python offers: ``{available, python, machine, runtimes, reason}``."""
    result = transport.run(probe_command(python, script), timeout=timeout)
    record = parse_result(result.stdout) if result.exit_code == 0 else None
    if record is None:
        reason = last_line(result.stderr) or last_line(result.stdout) or f"exit {result.exit_code}"
        return {
            "available": False,
            "python": None,
            "runtimes": {},
            "reason": f"`{python}` does not run the board runner: {reason}",
        }
    record["available"] = bool(record["runtimes"].get("numpy"))
    if not record["available"]:
        record["reason"] = "the board's Python has no numpy; pip install numpy"
    return record


def remote_files(work_dir: str, model: Path) -> tuple[str, str, str]:
    """Where a model, its input and its output live in the board's work directory."""
    return f"{work_dir}/{model.name}", f"{work_dir}/{model.stem}.input.npy", f"{work_dir}/{model.stem}.output.npy"


def run_command(python: str, script: str, model: Path, *, work_dir: str, threads: int, warmup: int, runs: int) -> str:
    """The shell command that runs ``model`` with the board runner (quoted)."""
    remote_model, remote_in, remote_out = remote_files(work_dir, model)
    argv = [python, script, "run", remote_model, remote_in, remote_out, str(threads), str(warmup), str(runs)]
    return " ".join(shlex.quote(a) for a in argv)


def probe_command(python: str, script: str) -> str:
    """The shell command that asks the board's Python which runtimes it has."""
    return f"{shlex.quote(python)} {shlex.quote(script)} probe"


def run_board_python(
    transport,
    model,
    input_npy,
    *,
    work_dir: str,
    script: str,
    python: str = "python3",
    threads: int,
    warmup: int,
    runs: int,
    out_dir,
    timeout: float = 600,
) -> dict:
    """Push ``model`` (local .tflite/.onnx) and ``input_npy``, run them on the board, pull the output.

    Returns the runner's record plus ``outputs`` (local .npy paths), ``parity_measured`` and the
    command. Errors (missing runtime, crash, timeout) are one-line :class:`BnnDeployError`.
    """
    model, out_dir = Path(model), Path(out_dir)
    remote_model, remote_in, remote_out = remote_files(work_dir, model)
    transport.put(model, remote_model)
    transport.put(Path(input_npy), remote_in)
    command = run_command(python, script, model, work_dir=work_dir, threads=threads, warmup=warmup, runs=runs)
    result = transport.run(command, timeout=timeout)
    record = parse_result(result.stdout)
    if record is None or result.exit_code not in (0, EXIT_USER_ERROR):
        detail = last_line(result.stderr) or last_line(result.stdout) or "no output"
        raise BnnDeployError(
            f"the board Python runner crashed on {model.name} "
            f"(exit {result.exit_code}): {detail}; run `{command}` on the board "
            "to see the full error"
        )
    if "error" in record:
        raise BnnDeployError(f"{model.name} cannot run on {transport.description}: {record['error']}")
    local_out = out_dir / f"{model.stem}.output.npy"
    transport.get(remote_out, local_out)
    record.update(
        runner="board-python",
        command=command,
        outputs=[str(local_out)],
        parity_measured=True,
        wall_seconds=round(result.seconds, 3),
        notes=[],
    )
    return record
