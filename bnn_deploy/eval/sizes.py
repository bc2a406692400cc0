"""Parse the ``WxH`` sizes that options such as ``--lr-size`` and ``--input-size`` take."""

from __future__ import annotations

import re

from bnn_deploy.errors import BnnDeployError

_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_size(text: str, option: str = "size") -> tuple[int, int]:
    """Return ``(width, height)`` from ``"320x180"``; raise a clear error for anything else."""
    match = _SIZE.match(str(text))
    if not match:
        raise BnnDeployError(f"{option} {text!r} is not WIDTHxHEIGHT; give e.g. 320x180")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 1 or height < 1 or width > 16384 or height > 16384:
        raise BnnDeployError(f"{option} {text!r} is out of range; width and height must be 1..16384")
    return width, height
