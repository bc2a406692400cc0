"""JSON in one way: values made standard-JSON-safe, dumped, and written atomically.

JSON has no infinities or NaN (Python would write the invalid tokens ``Infinity``/``NaN``), and
numpy scalars, paths and dataclasses are not JSON types. :func:`jsonable` is the one conversion
every writer uses: non-finite floats become the strings ``"inf"``, ``"-inf"``, ``"nan"``; numpy
scalars and arrays become Python numbers and lists; tuples become lists; dataclasses become dicts;
anything else unknown becomes its ``str``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import atomic_write_text

REPORT_DIGITS = 6  # significant digits of the figures in reports


def jsonable(value, digits: int | None = None):
    """``value`` with JSON-safe leaves; finite floats rounded to ``digits`` significant digits."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return float(f"{value:.{digits}g}") if digits else value
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if isinstance(value, dict):
        return {str(k): jsonable(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, digits) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), digits)
    if isinstance(value, np.generic):
        return jsonable(value.item(), digits)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_json = getattr(value, "to_json", None)
        return jsonable(to_json() if to_json else dataclasses.asdict(value), digits)
    return str(value)


def dumps(value, digits: int | None = None, *, indent: int | None = 2) -> str:
    """Standard JSON text of ``value`` (see :func:`jsonable`), ending in a newline when indented."""
    text = json.dumps(jsonable(value, digits), indent=indent, allow_nan=False)
    return text + "\n" if indent is not None else text


def write_json(path: str | os.PathLike, value, digits: int | None = None) -> None:
    """Write ``value`` as JSON to ``path`` atomically; a missing directory is a one-line error."""
    path = Path(path)
    if not path.parent.is_dir():
        raise BnnDeployError(f"cannot write {path}: directory {path.parent} does not exist; create it first")
    try:
        atomic_write_text(path, dumps(value, digits))
    except OSError as exc:
        raise BnnDeployError(f"cannot write {path}: {exc.strerror or exc}; choose a writable path") from exc


def read_json(path: str | os.PathLike, what: str = "JSON file"):
    """Parse the JSON file at ``path``; unreadable or invalid files are a one-line error."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise BnnDeployError(f"{path} not found; give the path of a {what}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BnnDeployError(f"{path} is not a readable {what} ({exc}); give the file bnn-deploy wrote") from exc
