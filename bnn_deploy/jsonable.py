"""Turn report values into data ``json.dumps`` can write as standard JSON.

JSON has no infinities or NaN (Python would write the invalid tokens ``Infinity``/``NaN``), and
numpy scalars are not JSON types. Non-finite floats become the strings ``"inf"``, ``"-inf"``,
``"nan"``; numpy scalars become Python numbers; tuples become lists.
"""

from __future__ import annotations

import math

import numpy as np


def jsonable(value, digits: int | None = None):
    """``value`` with JSON-safe leaves; finite floats rounded to ``digits`` significant digits."""
    if isinstance(value, float):
        if math.isfinite(value):
            return float(f"{value:.{digits}g}") if digits else value
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if isinstance(value, dict):
        return {k: jsonable(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, digits) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item(), digits)
    return value
