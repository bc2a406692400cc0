"""Result files read back: which command wrote a JSON file, which schema version, which model, which rows.

Bench and eval JSON name themselves (``format``, ``schema_version``, ``model_source``; files
without ``schema_version`` are version 1, bnn-deploy 0.1). Profile and predict JSON are recognised by
their shape (``profiles`` / ``predictions``), so files from other writers of that shape are read
too. Anything else is refused with one line saying what the file is instead.

Rows are the unit ``compare`` and ``report`` work on: a bench row is one artifact at one input size
and thread count; an eval row is one model (bicubic, a PyTorch model or a deployed artifact).
:func:`row_key` is how the same row is found in two files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bnn_deploy.benchmarking.report import BENCH_FORMAT, BENCH_SCHEMA_VERSION
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.manifest import MANIFEST_FORMAT
from bnn_deploy.evaluation.evaluate import EVAL_FORMAT, EVAL_SCHEMA_VERSION

KINDS = ("bench", "eval", "profile", "predict")
WRITERS = {
    "bench": "from bnn-deploy bench --json-out",
    "eval": "the eval.json of bnn-deploy eval",
    "profile": "from bnn-deploy profile --json-out",
    "predict": "from bnn-deploy predict --json-out",
}
SCHEMA = {"bench": (BENCH_FORMAT, BENCH_SCHEMA_VERSION), "eval": (EVAL_FORMAT, EVAL_SCHEMA_VERSION)}
# Below this many timed runs p99 is an interpolation between the two slowest runs, not a tail figure.
P99_MIN_RUNS = 100


@dataclass
class Result:
    """One result file: what wrote it, its schema version (None: the writer gives none) and its data."""

    path: str
    kind: str
    data: dict
    schema_version: int | None

    @property
    def model_source(self) -> dict | None:
        """``{path, sha256, kind, arch, scale}`` of the model measured, when the file records it."""
        src = self.data.get("model_source")
        return src if isinstance(src, dict) and isinstance(src.get("sha256"), str) else None

    @property
    def name(self) -> str:
        return Path(self.path).name


def describe_json(data) -> str:
    """What a JSON document that is not a result is, in a few words (for the one-line error)."""
    if isinstance(data, dict):
        if data.get("format") == MANIFEST_FORMAT:
            return "an export manifest (the manifest.json of bnn-deploy export)"
        if "traceEvents" in data:
            return "a Chrome trace (profile --trace; open it in Perfetto)"
        keys = ", ".join(sorted(map(str, data))[:6]) + (", ..." if len(data) > 6 else "")
        return f"a JSON object with keys {keys}" if data else "an empty JSON object"
    if isinstance(data, list):
        if data and all(isinstance(e, dict) and "ph" in e for e in data):
            return "a Chrome trace (profile --trace; open it in Perfetto)"
        return f"a JSON list of {len(data)} items"
    return f"a JSON {type(data).__name__} ({str(data)[:40]})"


def article(word: str) -> str:
    """``word`` with its indefinite article (``an eval``, ``a bench``)."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def kind_of(data) -> str | None:
    """``bench``, ``eval``, ``profile``, ``predict``, or None: which command wrote this JSON document."""
    if not isinstance(data, dict):
        return None
    for kind, (fmt, _) in SCHEMA.items():
        if data.get("format") == fmt:
            return kind
    if isinstance(data.get("results"), list) and "speedups" in data:
        return "bench"
    if isinstance(data.get("models"), list) and "protocol" in data:
        return "eval"
    if isinstance(data.get("predictions"), list):
        return "predict"
    if isinstance(data.get("profiles"), list) or (isinstance(data.get("ops"), list) and "whole_ms" in data):
        return "profile"
    if profiled_artifacts(data):
        return "profile"
    return None


def profiled_artifacts(data: dict) -> list[dict]:
    """The per-artifact op profiles ``bnn-deploy profile`` writes (``artifacts``, each with ``ops`` and the
    binary/glue ``split``), on the host and on a board; ``[]`` for any other document."""
    arts = data.get("artifacts") if isinstance(data, dict) else None
    if not isinstance(arts, list) or not arts:
        return []
    ok = all(isinstance(a, dict) and isinstance(a.get("ops"), list) and isinstance(a.get("split"), dict) for a in arts)
    return arts if ok else []


def read_result(path, kinds: tuple[str, ...] = KINDS) -> Result:
    """Read and recognise a result file; a file of another kind, or no result at all, is a one-line error."""
    from bnn_deploy.core.jsonio import read_json

    data = read_json(path, "result JSON")
    kind = kind_of(data)
    wanted = " or ".join(f"{k} ({WRITERS[k]})" for k in kinds)
    if kind is None:
        raise BnnDeployError(
            f"{path} is {describe_json(data)}, not a result bnn-deploy wrote; pass {article(wanted)} result"
        )
    if kind not in kinds:
        raise BnnDeployError(f"{path} is {article(kind)} result; pass {article(wanted)} result here")
    version = data.get("schema_version")
    if kind in SCHEMA:
        version = 1 if version is None else version
        newest = SCHEMA[kind][1]
        if not isinstance(version, int) or isinstance(version, bool):
            raise BnnDeployError(f"{path}: schema_version {version!r} is not an integer; re-run bnn-deploy {kind}")
        if version > newest:
            raise BnnDeployError(
                f"{path} is {kind} schema version {version}, newer than this bnn-deploy reads ({newest}); "
                "upgrade bnn-deploy"
            )
    if kind == "profile" and not isinstance(data.get("profiles"), list):
        # bnn-deploy profile on the host has per-artifact profiles only; another writer's one bare entry
        data = dict(data, profiles=[] if profiled_artifacts(data) else [data])
    return Result(path=str(path), kind=kind, data=data, schema_version=version)


# ---------------------------------------------------------------- rows


def rows(result: Result) -> list[dict]:
    """The rows of a bench (``results``) or eval (``models``) result."""
    key = "results" if result.kind == "bench" else "models"
    return [r for r in result.data.get(key) or [] if isinstance(r, dict)]


def row_key(kind: str, row: dict) -> tuple:
    """What identifies one row across two files: format, role, input size and threads.

    Eval rows have no threads, and their input size is the tile of a fixed-shape graph; bicubic has
    no format and is keyed by its name.
    """
    if kind == "bench":
        return (row.get("format"), row.get("role"), row.get("input_size"), row.get("threads"))
    tile = row.get("tile") or {}
    return (row.get("format") or row.get("name"), row.get("role"), tile.get("input_size"), None)


def row_label(kind: str, row: dict) -> str:
    """``"lce 320x180 1t"`` (bench) or the eval model's name."""
    name = str(row.get("name") or row.get("format") or "?")
    return f"{name} {row.get('threads')}t" if kind == "bench" else name


def row_problem(row: dict) -> str | None:
    """Why a row has no figures (an error or a skip), or None."""
    if row.get("error"):
        return f"error: {row['error']}"
    if row.get("skipped"):
        return f"skipped: {row['skipped']}"
    return None


def db(value) -> float | None:
    """A dB figure from JSON (numbers, or the strings ``"inf"``/``"-inf"``/``"nan"``), None if absent."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parity_db(row: dict) -> float | None:
    """The row's parity PSNR (dB) against its PyTorch reference, None when not measured."""
    return db((row.get("parity") or {}).get("psnr_db"))


def psnr_vs_hr(kind: str, row: dict) -> float | None:
    """Mean PSNR vs HR on the held-out photos: bench ``quality.psnr_db``, eval ``mean.psnr``."""
    if kind == "bench":
        return db((row.get("quality") or {}).get("psnr_db"))
    return db((row.get("mean") or {}).get("psnr"))


def latency(row: dict) -> dict | None:
    """The row's measured ``latency_ms`` statistics, None without device latency (error, emulated board)."""
    lat = row.get("latency_ms")
    return lat if isinstance(lat, dict) and (lat.get("median") is not None or lat.get("mean") is not None) else None


def common_statistic(*latencies: dict) -> str:
    """``median`` when every side has one, else ``mean`` (a runner without per-run times gives only means)."""
    return "median" if all(lat.get("median") is not None for lat in latencies) else "mean"


def p99_shown(lat: dict) -> bool:
    """p99 is a tail figure only from :data:`P99_MIN_RUNS` timed runs on."""
    runs = lat.get("runs")
    return isinstance(runs, int) and runs >= P99_MIN_RUNS and lat.get("p99") is not None


def fmt_db(value: float | None) -> str:
    """``"144.79"``, ``"inf"`` or ``"-"``."""
    if value is None or math.isnan(value):
        return "-"
    return "inf" if math.isinf(value) and value > 0 else f"{value:.2f}"
