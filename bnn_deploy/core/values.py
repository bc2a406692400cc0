"""Parse and check the values options take: sizes (WxH), memory amounts, thread-count lists, TCP ports, BBCU's k."""

from __future__ import annotations

import math
import re

from bnn_deploy.core.errors import BnnDeployError

MAX_SIDE = 16384  # pixels per side of an input size: beyond it no board has the memory
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_size(text: str, option: str = "size") -> tuple[int, int]:
    """Return ``(width, height)`` from ``"320x180"``; raise a clear error for anything else."""
    match = _SIZE.match(str(text))
    if not match:
        raise BnnDeployError(f"{option} {text!r} is not WIDTHxHEIGHT; give e.g. 320x180")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE:
        raise BnnDeployError(f"{option} {text!r} is out of range; width and height must be 1..{MAX_SIDE}")
    return width, height


def parse_threads(text: str, option: str = "--threads") -> list[int]:
    """``"1,2"`` → ``[1, 2]``; zero, negatives and non-numbers are a clear error naming ``option``."""
    values = []
    for part in str(text).split(","):
        part = part.strip()
        if not part.lstrip("-").isdigit():
            raise BnnDeployError(f"{option} {text!r} is not a list of thread counts; give e.g. {option} 1,2")
        if int(part) < 1:
            raise BnnDeployError(f"{option} {text!r}: thread counts must be 1 or more; give e.g. {option} 1,2")
        values.append(int(part))
    return list(dict.fromkeys(values))


_UNITS = {
    "": 1,
    "B": 1,
    "K": 1 << 10,
    "KB": 1 << 10,
    "KIB": 1 << 10,
    "M": 1 << 20,
    "MB": 1 << 20,
    "MIB": 1 << 20,
    "G": 1 << 30,
    "GB": 1 << 30,
    "GIB": 1 << 30,
}


def parse_memory(text: str, option: str = "--memory-budget") -> int:
    """Bytes from ``"256MB"``, ``"1.5G"``, ``"512MiB"`` or a plain byte count (units are powers of 1024)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else None
    if not match or unit not in _UNITS:
        raise BnnDeployError(f"{option} {text!r} is not a memory size; give e.g. 256MB or 1GB")
    value = int(float(match.group(1)) * _UNITS[unit])
    if value < 1 << 20:
        raise BnnDeployError(f"{option} {text!r} is below 1 MB; give e.g. 256MB")
    return value


def parse_port(text: str, what: str) -> int:
    """A TCP port from ``text``; ``what`` names it in the one-line error (e.g. ``"--host 'pi@x:y': port"``)."""
    if not str(text).isdigit() or not 0 < int(text) < 65536:
        raise BnnDeployError(f"{what} {text!r} is not a number from 1 to 65535")
    return int(text)


MAX_THREADS_PER_CORE = 4  # oversubscription beyond this measures the scheduler, not the model
MAX_THREADS = 256  # when the cores are not known yet (a board before preflight)


def check_thread_counts(threads, cores: int | None, where: str) -> list[int]:
    """``threads`` if each is a positive integer at most ``4 × cores`` (or :data:`MAX_THREADS`)."""
    if not threads:
        raise BnnDeployError("no --threads given; give e.g. --threads 1,2")
    limit = MAX_THREADS_PER_CORE * cores if cores else MAX_THREADS
    for t in threads:
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise BnnDeployError(f"--threads {t!r}: thread counts must be whole numbers of 1 or more")
        if t > limit:
            why = f"{MAX_THREADS_PER_CORE}× the {cores} cores of {where}" if cores else f"{limit}"
            raise BnnDeployError(
                f"--threads {t} is more than {why}; give at most {limit} "
                "(oversubscribing further measures the scheduler, not the model)"
            )
    return list(threads)


def parse_percent(text: str, option: str) -> float:
    """A fraction from ``"5%"`` (0.05); a bare number is refused, since 5 and 0.05 would both be meant as 5 %."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*%\s*", str(text))
    if not match:
        raise BnnDeployError(f"{option} {text!r} is not a percentage; give e.g. {option} 5%")
    return float(match.group(1)) / 100.0


def check_k(value: float | None, option: str = "--k") -> float | None:
    """BBCU's amplification factor ``k`` if it is a finite positive number (``None``: the default).

    ``inf`` passed every check before and made the model output NaN only after the work was done.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise BnnDeployError(
            f"{option} {value!r} must be a finite number above 0 (BBCU's amplification; the default is 130)"
        )
    return float(value)
