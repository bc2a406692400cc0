"""Result files changed on purpose: a real bench or eval JSON with one thing edited, to test what reads it."""

from __future__ import annotations

import json
from pathlib import Path


def edited(path: Path, out: Path, edit) -> Path:
    """A copy of the JSON file at ``path``, changed in place by ``edit(data)``, written to ``out``."""
    data = json.loads(Path(path).read_text())
    edit(data)
    Path(out).write_text(json.dumps(data))
    return Path(out)
