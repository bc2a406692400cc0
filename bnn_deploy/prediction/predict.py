"""``predict``: latency of an LCE/TFLite flatbuffer on ARM boards, per op, labelled as a prediction.

Nothing here runs the model: every figure comes from the op list of the flatbuffer and the board
table (``boards.py``) through the cost model (``model.py``). Results say ``"label": "predicted"``
everywhere and the text report prints PREDICTED on every figure, so they cannot be mistaken for
measurements. ``compare_against`` puts a board's *measured* profile next to a prediction to show
the model's error per op type.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.flatbuffer import Graph, module_path, read_graph
from bnn_deploy.core.formats import FLATBUFFER_FORMATS
from bnn_deploy.prediction import boards as B
from bnn_deploy.prediction.model import KNOWN_OPS, XNNPACK_OPS, OpCost, bconv_geometry, conv_macs, op_cost

LABEL = "predicted"
PREDICTION_NOTE = (
    "PREDICTED from a per-op model of LCE/XNNPACK kernels and published board figures "
    "(docs/predict.md); not a measurement"
)


# --- inputs --------------------------------------------------------------------------------------


def resolve_artifacts(source: str | os.PathLike, formats=("lce",)) -> list[dict]:
    """``[{"path", "file", "format"}]`` for a .tflite file or the chosen artifacts of an export dir.

    An export directory is read and verified by :func:`bnn_deploy.core.exports.read_export` (a file
    changed since export is refused, not predicted).
    """
    src = Path(source)
    if src.is_dir():
        from bnn_deploy.core.exports import read_export

        exp = read_export(src)
        found = [
            {"path": a.file, "file": Path(a.file).name, "format": a.format}
            for a in exp.artifacts
            if a.format in formats
        ]
        if not found:
            raise BnnDeployError(
                f"{src / 'manifest.json'} lists no {'/'.join(formats)} artifact; export with "
                f"--format {','.join(formats)}"
            )
        return found
    if not src.exists():
        raise BnnDeployError(f"{src} does not exist; give a .tflite file or an export directory")
    return [{"path": str(src), "file": src.name, "format": None}]


def _check_threads(threads) -> list[int]:
    """Thread counts as positive ints, or a one-line error."""
    values = [threads] if isinstance(threads, int) else list(threads or [])
    if not values or any(isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in values):
        raise BnnDeployError(f"threads must be positive integers, not {threads!r}; give e.g. --threads 1,4")
    return values


def _check_formats(formats) -> tuple[str, ...]:
    """The export formats to predict: flatbuffers only (the model reads TFLite op lists), or a one-line error."""
    formats = (formats,) if isinstance(formats, str) else tuple(formats or ())
    wrong = [f for f in formats if f not in FLATBUFFER_FORMATS]
    if not formats or wrong:
        raise BnnDeployError(
            f"format {', '.join(wrong) or '(none)'}: predict reads LCE/TFLite flatbuffers; choose among "
            f"{', '.join(FLATBUFFER_FORMATS)}"
        )
    return formats


# --- model facts ---------------------------------------------------------------------------------


def describe_graph(graph: Graph) -> dict:
    """What the flatbuffer holds: op counts, binary and float MACs, input/output shapes."""
    binary_macs = sum(bconv_geometry(op)["binary_macs"] for op in graph.ops if op.kind == "LceBconv2d")
    float_macs = sum(
        conv_macs(op)
        for op in graph.ops
        if op.kind in {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL"}
    )
    return {
        "ops": len(graph.ops),
        "op_histogram": graph.histogram(),
        "binary_macs": binary_macs,
        "float_macs": float_macs,
        "size_bytes": graph.size_bytes,
        "inputs": [list(t.shape) for t in graph.inputs],
        "outputs": [list(t.shape) for t in graph.outputs],
        "subgraphs": graph.subgraphs,
    }


# --- one prediction ----------------------------------------------------------------------------


def _op_rows(costs: list[OpCost], board: B.Board) -> list[dict]:
    """Per-op JSON rows in run order, with % and cumulative % of the predicted total."""
    total = sum(c.seconds() for c in costs if c.known) or 1.0
    rows, cum = [], 0.0
    for c in costs:
        low, high = c.bounds(board)
        ms = c.seconds() * 1e3 if c.known else None
        pct = 100.0 * c.seconds() / total if c.known else None
        cum += pct or 0.0
        rows.append(
            {
                "index": c.op.index,
                "op": c.op.kind,
                "module": module_path(c.op.names),
                "binary": c.binary,
                "category": c.category,
                "ms": ms,
                "low_ms": low * 1e3 if c.known else None,
                "high_ms": high * 1e3 if c.known else None,
                "pct": pct,
                "cum_pct": cum if c.known else None,
                "detail": c.detail,
                "label": LABEL if c.known else "unknown",
            }
        )
    return rows


def _by_type(rows: list[dict], total_ms: float) -> dict:
    """``{op type: {count, ms, low_ms, high_ms, pct, binary}}``, largest first."""
    out: dict[str, dict] = {}
    for r in rows:
        if r["ms"] is None:
            continue
        t = out.setdefault(
            r["op"],
            {"count": 0, "ms": 0.0, "low_ms": 0.0, "high_ms": 0.0, "binary": r["binary"], "category": r["category"]},
        )
        t["count"] += 1
        t["ms"] += r["ms"]
        t["low_ms"] += r["low_ms"]
        t["high_ms"] += r["high_ms"]
    for t in out.values():
        t["pct"] = 100.0 * t["ms"] / total_ms if total_ms else 0.0
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["ms"]))


CALIBRATION_MIN_SHARE = 0.05  # groups below this share of the total do not decide "calibrated"


def _uncalibrated_parts(costs: list[OpCost], board: B.Board, threads: int, kernel: str) -> list[str]:
    """Constant groups carrying >= 5 % of the time that no published figure pins at this thread count.

    A group is calibrated on a board at the thread counts its published figures were taken at
    (``Board.calibrated``); a non-default bconv kernel is never calibrated.
    """
    total = sum(c.seconds() for c in costs if c.known) or 1.0
    by_group: dict[str, float] = {}
    for c in costs:
        for seconds, group in c.terms:
            by_group[group] = by_group.get(group, 0.0) + seconds
    parts = []
    for group, seconds in sorted(by_group.items(), key=lambda kv: -kv[1]):
        if group == "overhead" or seconds / total < CALIBRATION_MIN_SHARE:
            continue
        if threads not in board.calibrated.get(group, ()):
            parts.append(f"{group} ({100 * seconds / total:.0f} % of the time) at {threads} thread(s)")
    return parts


def predict_graph(graph: Graph, board: B.Board, threads: int, kernel: str) -> dict:
    """One prediction entry (see :func:`predict`) for a parsed graph on one board and thread count."""
    used = min(threads, board.cores)
    costs = [op_cost(op, board, used, kernel) for op in graph.ops]
    rows = _op_rows(costs, board)
    uncalibrated = _uncalibrated_parts(costs, board, used, kernel)
    known = [r for r in rows if r["ms"] is not None]
    total = sum(r["ms"] for r in known)
    shares = {}
    for r in known:
        shares[r["category"]] = shares.get(r["category"], 0.0) + r["ms"]
    entry = {
        "device": board.name,
        "threads": threads,
        "kernel": kernel,
        "label": LABEL,
        "predicted_ms": total,
        "low_ms": sum(r["low_ms"] for r in known),
        "high_ms": sum(r["high_ms"] for r in known),
        "binary_share": (shares.get("binary", 0.0) / total) if total else 0.0,
        "shares": {k: v / total for k, v in sorted(shares.items())} if total else {},
        "calibrated": not uncalibrated,
        "uncalibrated": uncalibrated,
        "published_configuration": kernel == B.DEFAULT_KERNEL and used in board.calibrated.get("binary", ()),
        "unknown_ops": sorted({r["op"] for r in rows if r["ms"] is None}),
        "ops": rows,
        "by_type": _by_type(rows, total),
        "xnnpack_ms": sum(r["ms"] for r in known if r["op"] in XNNPACK_OPS and r["category"] != "binary"),
        "notes": [],
    }
    if used != threads:
        entry["notes"].append(f"{board.name} has {board.cores} cores: {threads} threads predicted as {used}")
    if kernel != B.DEFAULT_KERNEL:
        entry["notes"].append(f"kernel {kernel!r} is uncalibrated: no published board figure uses it")
    if board.derived_from:
        entry["notes"].append(
            f"{board.name} has no published LCE figures: constants derived from "
            f"{board.derived_from} by documented ratios, range widened"
        )
    if entry["unknown_ops"]:
        entry["notes"].append("excluded from the total (no model): " + ", ".join(entry["unknown_ops"]))
    return entry


def _refuse_unknown(graph: Graph, path: str) -> None:
    """One-line error naming the ops the model cannot price."""
    unknown = sorted({op.kind for op in graph.ops if op.kind not in KNOWN_OPS})
    if unknown:
        raise BnnDeployError(
            f"{Path(path).name} has ops the latency model does not know: "
            f"{', '.join(unknown)}; pass --allow-unknown to predict without them"
        )


def predict(
    path_or_export_dir,
    devices=("pi4",),
    threads=(1,),
    kernel=None,
    allow_unknown=False,
    formats=("lce",),
) -> dict:
    """Predict latency per device and thread count for a .tflite file or an export directory.

    Returns ``{"predictions": [...], "model": {...}, "notes": [...], "label": "predicted"}``; each
    prediction has ``device, threads, kernel, artifact, predicted_ms, low_ms, high_ms,
    binary_share, shares, calibrated, uncalibrated, published_configuration, label, ops, by_type,
    notes``. ``calibrated`` is strict: every constant group carrying >= 5 % of the time was fitted
    on published figures of this board at this thread count (``uncalibrated`` lists the others);
    ``published_configuration`` only says LCE published figures for this board, thread count and
    (default) kernel. ``ops`` are in run order with
    ``index, op, module, binary, category, ms, low_ms, high_ms, pct, cum_pct, detail``;
    ``cum_pct`` accumulates in run order. Unknown ops refuse the prediction unless
    ``allow_unknown``; then they have ``ms: None`` and are excluded from the total.
    """
    kernel = B.check_kernel(kernel)
    thread_list = _check_threads(threads)
    formats = _check_formats(formats)
    if isinstance(devices, str):
        devices = [devices]
    boards = [B.get_board(d) for d in devices]
    if not boards:
        raise BnnDeployError("no device given; choose one or more of " + ", ".join(B.BOARDS))
    artifacts, predictions = [], []
    for art in resolve_artifacts(path_or_export_dir, formats):
        graph = read_graph(art["path"])
        if not allow_unknown:
            _refuse_unknown(graph, art["path"])
        artifacts.append({"file": art["file"], "format": art["format"], **describe_graph(graph)})
        for board in boards:
            for n in thread_list:
                entry = predict_graph(graph, board, n, kernel)
                predictions.append({"artifact": art["file"], **entry})
    notes = [PREDICTION_NOTE]
    if any(p["unknown_ops"] for p in predictions):
        notes.append("some ops have no model and are excluded from the totals (allow_unknown)")
    if kernel != B.DEFAULT_KERNEL:
        notes.append(
            f"the {kernel!r} kernel is uncalibrated; LCE published its figures with "
            f"{B.DEFAULT_KERNEL!r} ({B.KERNELS[B.DEFAULT_KERNEL]})"
        )
    return {
        "label": LABEL,
        "predictions": predictions,
        "model": {"source": str(path_or_export_dir), "artifacts": artifacts},
        "notes": notes,
    }


# --- text report ---------------------------------------------------------------------------------


def _fmt_ms(x: float | None) -> str:
    if x is None:
        return "unknown"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _op_table(entry: dict, max_rows: int) -> list[str]:
    """The per-op table: all ops in run order, or the slowest ``max_rows`` with their own cum %."""
    rows = entry["ops"]
    ordered = (
        rows
        if len(rows) <= max_rows
        else sorted([r for r in rows if r["ms"] is not None], key=lambda r: -r["ms"])[:max_rows]
    )
    title = "run order" if ordered is rows else f"slowest {len(ordered)} of {len(rows)} ops"
    lines = [
        f"  per op ({title}), all figures PREDICTED:",
        f"  {'#':>4}  {'op':<24} {'module':<34} {'kind':<8} {'ms':>9} {'%':>6} {'cum %':>6}",
    ]
    cum = 0.0
    for r in ordered:
        cum = r["cum_pct"] if ordered is rows else cum + (r["pct"] or 0.0)
        kind = "binary" if r["binary"] else r["category"]
        pct = "" if r["pct"] is None else f"{r['pct']:.1f}"
        cum_s = "" if r["ms"] is None else f"{cum:.1f}"
        lines.append(
            f"  {r['index']:>4}  {r['op'][:24]:<24} {(r['module'] or '-')[:34]:<34} {kind:<8} "
            f"{_fmt_ms(r['ms']):>9} {pct:>6} {cum_s:>6}"
        )
    return lines


def render_prediction(result: dict, max_rows: int = 40) -> str:
    """Text report: per prediction the total with its range, per-op table, summary by type, shares."""
    out = [f"PREDICTED latency ({result['model']['source']}) — {PREDICTION_NOTE}"]
    for note in result.get("notes", [])[1:]:
        out.append(f"note: {note}")
    for p in result["predictions"]:
        cal = "calibrated" if p["calibrated"] else "partly UNCALIBRATED: " + "; ".join(p["uncalibrated"])
        out.append("")
        out.append(
            f"{p['artifact']} on {p['device']}, {p['threads']} thread(s), kernel {p['kernel']}: "
            f"PREDICTED {_fmt_ms(p['predicted_ms'])} ms (range {_fmt_ms(p['low_ms'])}–"
            f"{_fmt_ms(p['high_ms'])} ms; {cal})"
        )
        shares = ", ".join(f"{k} {100 * v:.0f} %" for k, v in p["shares"].items())
        out.append(
            f"  share of PREDICTED time: binary {100 * p['binary_share']:.0f} % vs float glue "
            f"{100 * (1 - p['binary_share']):.0f} % ({shares})"
        )
        for note in p["notes"]:
            out.append(f"  note: {note}")
        out.extend(_op_table(p, max_rows))
        out.append("  by op type, PREDICTED:")
        for kind, t in p["by_type"].items():
            tag = "binary" if t["binary"] else t["category"]
            out.append(
                f"    {kind:<24} {tag:<8} x{t['count']:<4} {_fmt_ms(t['ms']):>9} ms "
                f"({_fmt_ms(t['low_ms'])}–{_fmt_ms(t['high_ms'])}) {t['pct']:5.1f} %"
            )
    return "\n".join(out)


# --- comparison with a measured profile ----------------------------------------------------------

_OP_KEYS = ("op", "node_type", "type", "kind")
_MS_KEYS = ("ms", "avg_ms", "time_ms", "mean_ms")
XNNPACK_NODE = "TfLiteXNNPackDelegate"


def _load_profile(profile) -> dict:
    """A profile dict from a dict, a JSON string path, or a path; one-line errors otherwise."""
    if isinstance(profile, dict):
        return profile
    path = Path(profile)
    try:
        return json.loads(path.read_text())
    except OSError as err:
        raise BnnDeployError(
            f"cannot read profile {path}: {err.strerror}; give the JSON written by bnn-deploy profile --json"
        ) from None
    except ValueError:
        raise BnnDeployError(f"{path} is not JSON; give the file written by bnn-deploy profile --json") from None


def _measured_by_type(ops: list) -> dict[str, float]:
    """Measured ms per op type from a profile's op list (tolerates the key spellings above)."""
    out: dict[str, float] = {}
    for op in ops or []:
        if not isinstance(op, dict):
            continue
        kind = next((op[k] for k in _OP_KEYS if isinstance(op.get(k), str)), None)
        ms = next((op[k] for k in _MS_KEYS if isinstance(op.get(k), (int, float))), None)
        if kind is None or ms is None:
            continue
        kind = XNNPACK_NODE if "xnnpack" in kind.lower() else kind
        out[kind] = out.get(kind, 0.0) + float(ms)
    return out


def _predicted_by_type(entry: dict, measured: dict) -> dict[str, float]:
    """Predicted ms per op type; float ops folded into one XNNPACK row when the profile has one."""
    out: dict[str, float] = {}
    fold = XNNPACK_NODE in measured
    for r in entry["ops"]:
        if r["ms"] is None:
            continue
        kind = XNNPACK_NODE if fold and r["op"] in XNNPACK_OPS and not r["binary"] else r["op"]
        out[kind] = out.get(kind, 0.0) + r["ms"]
    return out


def _err(pred: float | None, meas: float | None) -> float | None:
    return None if pred is None or not meas else 100.0 * (pred - meas) / meas


def compare_against(prediction: dict, profile) -> dict:
    """Model error per op type: a prediction (from :func:`predict`) vs a measured board profile.

    ``profile`` is a dict or a path to JSON shaped ``{"profiles": [{"device", "threads",
    "kernel", "ops": [{"op", "ms", ...}], "total_ms"?}]}`` (a bare ``{"device", ..., "ops"}`` or a
    list of such entries is accepted). Op entries may name the type ``op``/``node_type``/``type``
    and the time ``ms``/``avg_ms``/``time_ms``; XNNPACK delegate nodes (which fold the float ops the
    delegate took) are compared with the sum of those ops' predictions. Profiles are matched to
    predictions by device and thread count (and kernel, :data:`~bnn_deploy.prediction.boards.DEFAULT_KERNEL`
    when absent), and by artifact: the flatbuffer's file name in ``file`` (or an ``artifact`` ending in
    ``.tflite``); a profile that names no file is compared only when one artifact was predicted. Returns
    ``{"comparisons": [...], "notes": [...]}``; ``error_pct`` is (predicted - measured) / measured.
    """
    data = _load_profile(profile)
    entries = data.get("profiles", [data]) if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise BnnDeployError(
            'the profile has no entries; expected {"profiles": [{"device", '
            '"threads", "ops": [...]}]} as written by bnn-deploy profile --json'
        )
    comparisons, notes = [], []
    for prof in entries:
        if not isinstance(prof, dict):
            continue
        dev, n = prof.get("device"), prof.get("threads", 1)
        kernel = prof.get("kernel") or B.DEFAULT_KERNEL
        match = [
            p for p in prediction["predictions"] if p["device"] == dev and p["threads"] == n and p["kernel"] == kernel
        ]
        file = _profiled_file(prof)
        if file is not None:
            match = [p for p in match if Path(str(p.get("artifact"))).name == file]
        if not match:
            notes.append(
                f"no prediction for the profile of {file or 'an artifact'} on {dev}, {n} thread(s), kernel {kernel}; "
                "predict that artifact, device and thread count first"
            )
            continue
        if len({p.get("artifact") for p in match}) > 1:
            notes.append(
                f"the profile of {dev}, {n} thread(s), kernel {kernel} does not name its flatbuffer (file) and "
                f"{len(match)} artifacts were predicted; not compared"
            )
            continue
        comparisons.append(_compare_one(match[0], prof))
    if not comparisons:
        raise BnnDeployError(
            "no profile entry matches a prediction (device, threads, kernel); "
            + (notes[0] if notes else "check the profile's device names")
        )
    return {"label": "predicted vs measured", "comparisons": comparisons, "notes": notes}


def _profiled_file(prof: dict) -> str | None:
    """The file name of the flatbuffer a profile entry measured, if it says (``file``, or a file-like ``artifact``)."""
    for value in (prof.get("file"), prof.get("artifact")):
        if isinstance(value, str) and value.endswith(".tflite"):
            return Path(value).name
    return None


def _compare_one(entry: dict, prof: dict) -> dict:
    """Per-op-type and total error of one prediction against one measured profile."""
    measured = _measured_by_type(prof.get("ops", []))
    predicted = _predicted_by_type(entry, measured)
    rows = []
    for kind in sorted(set(measured) | set(predicted), key=lambda k: -(measured.get(k) or predicted.get(k, 0))):
        p, m = predicted.get(kind), measured.get(kind)
        rows.append(
            {
                "op": kind,
                "predicted_ms": p,
                "measured_ms": m,
                "error_pct": _err(p, m),
                "ratio": (p / m) if p is not None and m else None,
            }
        )
    total_m = prof.get("total_ms") or prof.get("latency_ms") or (sum(measured.values()) or None)
    return {
        "device": entry["device"],
        "threads": entry["threads"],
        "kernel": entry["kernel"],
        "artifact": entry.get("artifact"),
        "predicted_ms": entry["predicted_ms"],
        "measured_ms": total_m,
        "error_pct": _err(entry["predicted_ms"], total_m),
        "by_type": rows,
        "only_predicted": [r["op"] for r in rows if r["measured_ms"] is None],
        "only_measured": [r["op"] for r in rows if r["predicted_ms"] is None],
    }


def render_comparison(result: dict) -> str:
    """Text table of :func:`compare_against`: PREDICTED vs MEASURED per op type."""
    out = []
    for c in result["comparisons"]:
        err = "n/a" if c["error_pct"] is None else f"{c['error_pct']:+.0f} %"
        out.append(
            f"{c['artifact'] or 'artifact'} on {c['device']}, {c['threads']} thread(s), {c['kernel']}: PREDICTED "
            f"{_fmt_ms(c['predicted_ms'])} ms vs MEASURED {_fmt_ms(c['measured_ms'])} ms ({err})"
        )
        for r in c["by_type"]:
            e = "" if r["error_pct"] is None else f"{r['error_pct']:+.0f} %"
            out.append(
                f"  {r['op']:<26} PREDICTED {_fmt_ms(r['predicted_ms']):>9}  "
                f"MEASURED {_fmt_ms(r['measured_ms']):>9}  {e:>7}"
            )
    out += [f"note: {n}" for n in result.get("notes", [])]
    return "\n".join(out)
