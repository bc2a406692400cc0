"""The script pushed to boards imports only the standard library and numpy (plus the runtime it finds)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from bnn_deploy.devices import board_runner

SCRIPT = Path(board_runner.__file__)
RUNTIMES = {"ai_edge_litert", "tflite_runtime", "tensorflow", "larq_compute_engine", "onnxruntime"}


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """``[(top-level module, imported at module level?)]``."""
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name.split(".")[0], id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            out.append((node.module.split(".")[0], id(node) in top))
    return out


def test_board_runner_imports_only_stdlib_numpy_and_the_runtime_it_finds():
    imports = _imports(ast.parse(SCRIPT.read_text()))
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    assert imports
    for name, at_top in imports:
        if at_top:
            assert name in stdlib, f"{name} at module level: the board may not have it"
        else:
            assert name in stdlib | {"numpy"} | RUNTIMES, f"board_runner imports {name}"
    assert not any(name == "bnn_deploy" for name, _ in imports)


def test_board_runner_runs_alone(tmp_path):
    """Copied out of the package and run isolated (no site-packages path of ours), it still probes."""
    copy = tmp_path / "runner.py"
    copy.write_text(SCRIPT.read_text())
    proc = subprocess.run(
        [sys.executable, "-I", str(copy), "probe"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(board_runner.RESULT_MARKER))
    assert "numpy" in json.loads(line[len(board_runner.RESULT_MARKER) :])["runtimes"]
