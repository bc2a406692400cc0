"""Progress on stderr: a bar with elapsed time for long steps, tiles and images; status lines above it.

One rule decides whether a bar shows: **stderr is a terminal and the command does not print JSON**
(``--json``; :func:`silenced`). Otherwise bars are silent and the status lines alone say what
happens, exactly as they would without bars — so logs, pipes, CI and ``--json`` see no control
characters. Bars are tqdm's (a dependency of larq-compute-engine, declared in ``pyproject.toml``),
imported only when one is shown, and cleared when their step ends (``leave=False``): the terminal
keeps the status lines only.

* :func:`bar` counts to a known total (tiles, images, photos): ``n/total``, elapsed, remaining;
* :func:`step` times one opaque call (a conversion, a calibration): the elapsed time, refreshed
  twice a second from a helper thread while the call runs;
* :func:`status` prints a status line on stderr, above any bar being shown (the CLI's
  ``Output.progress`` goes through it).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar

_SILENCED: ContextVar[bool] = ContextVar("bnn_deploy_progress_silenced", default=False)
_LIVE: list[object] = []  # the tqdm bars being shown, innermost last
REFRESH_S = 0.5  # how often a step's elapsed time is redrawn
FALLBACK_COLUMNS, FALLBACK_ROWS = 80, 24  # for a terminal that does not report its size


def shown() -> bool:
    """Whether a bar started now would show: stderr is a terminal and bars are not :func:`silenced`."""
    if _SILENCED.get():
        return False
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


@contextlib.contextmanager
def silenced(silent: bool = True) -> Iterator[None]:
    """No bar shows inside the block when ``silent`` (``--json``); status lines still print."""
    token = _SILENCED.set(bool(silent) or _SILENCED.get())
    try:
        yield
    finally:
        _SILENCED.reset(token)


class Bar:
    """What :func:`bar` yields: ``update(n)`` advances it; a silent bar accepts the same calls."""

    def __init__(self, tqdm_bar=None):
        self._bar = tqdm_bar

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def tick(self, _done: int = 0, _total: int = 0) -> None:
        """One more done: fits the ``progress(done, total)`` callback of :func:`bnn_deploy.core.tiling.run_tiled`."""
        self.update(1)


@contextlib.contextmanager
def bar(desc: str, total: int | None = None, unit: str = "step") -> Iterator[Bar]:
    """A bar on stderr for the block: counts to ``total`` in ``unit``s, or (``total`` None) shows the elapsed time.

    Silent (nothing written) unless :func:`shown`. Cleared when the block ends, however it ends.
    """
    if not shown():
        yield Bar(None)
        return
    from tqdm import tqdm

    if total is None:
        fmt = "{desc}: {elapsed}"
    else:
        fmt = "{desc}: {n_fmt}/{total_fmt} " + unit + "s |{bar}| {elapsed} elapsed, {remaining} left"
    width = {"dynamic_ncols": True} if _columns() else {"ncols": FALLBACK_COLUMNS, "nrows": FALLBACK_ROWS}
    tq = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, bar_format=fmt, delay=0, **width)
    stop = threading.Event()
    ticker = None
    if total is None:  # nothing calls update() during an opaque step: redraw the clock from a thread
        ticker = threading.Thread(target=_tick, args=(tq, stop), name="bnn-deploy-progress", daemon=True)
        ticker.start()
    _LIVE.append(tq)
    try:
        yield Bar(tq)
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
        _LIVE.remove(tq)
        tq.close()


def _columns() -> int:
    """The terminal's width (0 when it does not say, as a fresh pseudo-terminal)."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 0


def _tick(tq, stop: threading.Event) -> None:
    while not stop.wait(REFRESH_S):
        tq.refresh()


def step(message: str, say: Callable[[str], None] | None = None):
    """Time one opaque step: print ``message`` through ``say`` (a status line), and show its elapsed time."""
    if say is not None:
        say(message)
    return bar(message.strip(), total=None)


def status(message: str) -> None:
    """One status line on stderr; while a bar shows, the line goes above it and the bar is redrawn."""
    if _LIVE:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr, flush=True)
