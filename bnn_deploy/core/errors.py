"""The one exception type the CLI turns into a one-line message, and the helpers that make one line.

Every failure a user can cause or fix (bad file, bad option, missing tool) is raised as
:class:`BnnDeployError` with a message that says what is wrong *and* what to do. Anything else is
a bug and is reported as such by the CLI. Library errors are often many lines long (TensorFlow,
ONNX Runtime, Docker); :func:`first_line` and :func:`last_line` pick the one line worth quoting.
"""

from __future__ import annotations

LINE_LIMIT = 300  # characters of a quoted library message


class BnnDeployError(Exception):
    """A user-facing error: ``str(err)`` is one line, ending with what to do about it."""


def first_line(err: BaseException | str | None, limit: int = LINE_LIMIT) -> str:
    """The first non-empty line of an exception's message (or of a text), at most ``limit`` characters.

    An exception without a message gives its type name; an empty text gives ``""``.
    """
    text = err if isinstance(err, str) or err is None else str(err)
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:limit]
    return type(err).__name__ if isinstance(err, BaseException) else ""


def last_line(text: str | None, limit: int = LINE_LIMIT) -> str:
    """The last non-empty line of ``text`` (a tool's output usually ends with its complaint)."""
    for line in reversed((text or "").splitlines()):
        if line.strip():
            return line.strip()[:limit]
    return ""
