"""``bnn-deploy compare OLD.json NEW.json``: two bench (or eval) results, artifact by artifact, against gates.

Rows are matched by format, role, input size and threads (:func:`~bnn_deploy.reporting.results.row_key`);
where one key has several rows on a side, rows with the same SHA-256 (the same file) pair first.
A row of NEW is a **regression** when

* its latency, by the statistic both sides have (median, else mean), is more than
  ``max_slowdown`` slower than OLD's (bench only);
* its parity against its PyTorch reference is below ``min_parity_db`` — for every artifact the
  export gates: not the PyTorch reference itself, not int8 (its parity is the quantization error,
  which export does not gate either);
* its mean PSNR vs HR on the held-out photos dropped by more than ``max_psnr_drop`` dB;
* it failed, was skipped, lost a figure OLD had, or is missing, where OLD has it (a gate that passes
  when the measured artifact disappeared would be passed by deleting it).

p99 is compared only when both sides timed at least
:data:`~bnn_deploy.reporting.results.P99_MIN_RUNS` runs: below that it is an interpolation between
the two slowest runs. Results of different kinds, schema versions or models are refused (one line)
before anything is compared; other differences between the runs (machine, settings, kernel, a
rebuilt file) are notes next to the figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.reporting.results import (
    P99_MIN_RUNS,
    Result,
    article,
    common_statistic,
    fmt_db,
    latency,
    p99_shown,
    parity_db,
    psnr_vs_hr,
    read_result,
    row_key,
    row_label,
    row_problem,
    rows,
)

REGRESSION_EXIT = 3  # the exit code of `bnn-deploy compare` when a gate fails (1 is bad input)
NOT_GATED = {"pytorch": "the reference itself", "tflite-int8": "quantization error, not gated (as in export)"}


@dataclass
class Gates:
    """The regression thresholds (see the module docstring)."""

    max_slowdown: float = 0.05  # a fraction: 0.05 is 5 % slower
    min_parity_db: float = 60.0
    max_psnr_drop: float = 0.05  # dB

    def check(self) -> None:
        if not 0 <= self.max_slowdown < 100:
            raise BnnDeployError(f"--max-slowdown {self.max_slowdown:.0%} is out of range; give e.g. 5%")
        if self.max_psnr_drop < 0:
            raise BnnDeployError(f"--max-psnr-drop {self.max_psnr_drop:g} is negative; give e.g. 0.05 (dB)")


def compare_files(old_path, new_path, gates: Gates | None = None, *, different_models: bool = False) -> dict:
    """Read, check and compare two result files; see :func:`compare_results`."""
    gates = gates or Gates()
    gates.check()
    old = read_result(old_path, ("bench", "eval"))
    new = read_result(new_path, ("bench", "eval"))
    return compare_results(old, new, gates, different_models=different_models)


def compare_results(old: Result, new: Result, gates: Gates, *, different_models: bool = False) -> dict:
    """``{kind, old, new, gates, rows, regressions, passed, notes}``: every row of either side, compared."""
    _check_comparable(old, new, different_models)
    notes = _run_notes(old, new)
    paired, only_old, only_new = _pair(old.kind, rows(old), rows(new))
    out_rows = [_compare_row(old.kind, a, b, gates) for a, b in paired]
    out_rows += [_missing(old.kind, a, "OLD") for a in only_old]
    out_rows += [_missing(new.kind, b, "NEW") for b in only_new]
    runs = sorted({r["latency"]["runs"] for r in out_rows if r.get("latency")} - {None}, key=str)
    if old.kind == "bench" and any(r.get("latency") and not r["latency"]["p99"] for r in out_rows):
        notes.append(
            f"p99 is compared only where both sides timed at least {P99_MIN_RUNS} runs (here: "
            f"{', '.join(runs) or 'unknown'}); below that it is interpolated between the two slowest runs"
        )
    regressions = [f"{r['name']}: {why}" for r in out_rows for why in r["regressions"]]
    return {
        "kind": old.kind,
        "old": old.path,
        "new": new.path,
        "schema_version": new.schema_version,
        "gates": asdict(gates),
        "rows": out_rows,
        "regressions": regressions,
        "passed": not regressions,
        "notes": notes,
    }


# ---------------------------------------------------------------- checks before comparing


def _check_comparable(old: Result, new: Result, different_models: bool) -> None:
    """Refuse, in one line, two results that cannot be compared row by row."""
    if old.kind != new.kind:
        raise BnnDeployError(
            f"{old.path} is {article(old.kind)} result and {new.path} {article(new.kind)} result; "
            "compare two results of one kind"
        )
    if old.schema_version != new.schema_version:
        raise BnnDeployError(
            f"{old.path} is {old.kind} schema version {old.schema_version} and {new.path} version "
            f"{new.schema_version}; re-run bnn-deploy {old.kind} so both have the same version"
        )
    a, b = old.model_source, new.model_source
    if a and b and a["sha256"] != b["sha256"] and not different_models:
        raise BnnDeployError(
            f"{old.path} and {new.path} come from exports of different models ({_model(a)} vs {_model(b)}); "
            "compare results of one model, or pass --different-models to compare them anyway"
        )


def _model(src: dict) -> str:
    name = src.get("path", "").rsplit("/", 1)[-1] or src.get("arch") or "model"
    return f"{name} sha256 {src['sha256'][:12]}"


def _run_notes(old: Result, new: Result) -> list[str]:
    """Differences between the two runs that a reader must know to read the ratios."""
    notes = []
    a, b = old.model_source, new.model_source
    if not (a and b):
        notes.append("a side does not record the model it measured (schema version 1): not checked to be the same")
    elif a["sha256"] != b["sha256"]:
        notes.append(f"different models compared (--different-models): {_model(a)} vs {_model(b)}")
    if old.kind == "bench":
        where = [_where(r.data) for r in (old, new)]
        if where[0] != where[1]:
            notes.append(f"the runs are on different machines ({where[0]} vs {where[1]}): ratios compare machines too")
        sa, sb = ({k: v for k, v in (r.data.get("settings") or {}).items() if k != "threads"} for r in (old, new))
        changed = sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k))
        if changed:
            notes.append("bench settings differ: " + ", ".join(f"{k} {sa.get(k)!r} -> {sb.get(k)!r}" for k in changed))
    return notes


def _where(data: dict) -> str:
    """The machine a bench ran on: a board's name, else the host CPU and core count."""
    dev = data.get("device")
    if isinstance(dev, dict):
        return f"{dev.get('name')} ({dev.get('profile')})"
    host = data.get("host") or {}
    return f"{host.get('cpu')} ({host.get('logical_cores')} cores)"


# ---------------------------------------------------------------- pairing


def _pair(kind: str, old_rows: list[dict], new_rows: list[dict]):
    """``(pairs, only_old, only_new)``; same-key rows pair by SHA-256 first, then in file order."""
    by_key: dict[tuple, list[dict]] = {}
    for row in new_rows:
        by_key.setdefault(row_key(kind, row), []).append(row)
    pairs, only_old = [], []
    for row in old_rows:
        cands = by_key.get(row_key(kind, row)) or []
        match = next((c for c in cands if c.get("sha256") and c.get("sha256") == row.get("sha256")), None)
        match = match or (cands[0] if cands else None)
        if match is None:
            only_old.append(row)
        else:
            cands.remove(match)
            pairs.append((row, match))
    only_new = [row for cands in by_key.values() for row in cands]
    return pairs, only_old, only_new


# ---------------------------------------------------------------- one row


def _base(kind: str, row: dict) -> dict:
    key = row_key(kind, row)
    return {
        "name": row_label(kind, row),
        "format": key[0],
        "role": key[1],
        "input_size": key[2],
        "threads": key[3],
    }


def _missing(kind: str, row: dict, side: str) -> dict:
    """A row found on one side only: missing from NEW is a regression, new in NEW is not."""
    out = {**_base(kind, row), "status": f"only in {side}", "regressions": [], "notes": []}
    if side == "OLD":
        out["regressions"].append("missing in NEW (OLD measured it)")
    return out


def _compare_row(kind: str, a: dict, b: dict, gates: Gates) -> dict:
    out = {**_base(kind, b), "regressions": [], "notes": []}
    sha_a, sha_b = a.get("sha256"), b.get("sha256")
    out["same_file"] = None if not (sha_a and sha_b) else sha_a == sha_b
    if out["same_file"] is False:
        out["notes"].append("a different file (rebuilt): its figures may differ for that reason")
    if kind == "bench" and a.get("kernel") and b.get("kernel") and a["kernel"] != b["kernel"]:
        out["notes"].append(f"kernel {a['kernel']} -> {b['kernel']}")
    pa, pb = row_problem(a), row_problem(b)
    if pb:
        out["status"] = "failed in NEW"
        out["notes"].append(f"NEW {pb}")
        if not pa:
            out["regressions"].append(f"NEW {pb}")
        return out
    if pa:
        out["status"] = "failed in OLD"
        out["notes"].append(f"OLD {pa}; NEW ran")
        return out
    if kind == "bench":
        out["latency"] = _latency(a, b, gates, out)
    out["parity"] = _parity(a, b, gates, out)
    out["psnr_vs_hr"] = _psnr(kind, a, b, gates, out)
    out["status"] = "regression" if out["regressions"] else "ok"
    return out


def _latency(a: dict, b: dict, gates: Gates, out: dict) -> dict | None:
    la, lb = latency(a), latency(b)
    if la is None or lb is None:
        if lb is None and la is not None:
            out["regressions"].append("NEW has no latency (OLD had one)")
        else:
            out["notes"].append("no device latency on " + ("either side" if la is lb else "OLD"))
        return None
    stat = common_statistic(la, lb)
    ratio = lb[stat] / la[stat] if la[stat] else None
    show_p99 = p99_shown(la) and p99_shown(lb)
    fig = {
        "statistic": stat,
        "old_ms": la[stat],
        "new_ms": lb[stat],
        "ratio": ratio,
        "runs": f"{la.get('runs')}/{lb.get('runs')}",
        "old_runs": la.get("runs"),
        "new_runs": lb.get("runs"),
        "p90": _pair_of(la, lb, "p90"),
        "p99": _pair_of(la, lb, "p99") if show_p99 else None,
    }
    if ratio is not None and ratio > 1 + gates.max_slowdown:
        out["regressions"].append(
            f"{stat} latency {la[stat]:.4g} -> {lb[stat]:.4g} ms ({ratio:.2f}x, over the {gates.max_slowdown:.0%} "
            f"allowed; {fig['runs']} timed runs)"
        )
    return fig


def _pair_of(la: dict, lb: dict, stat: str) -> dict | None:
    if la.get(stat) is None or lb.get(stat) is None:
        return None
    return {"old_ms": la[stat], "new_ms": lb[stat], "ratio": lb[stat] / la[stat] if la[stat] else None}


def _parity(a: dict, b: dict, gates: Gates, out: dict) -> dict:
    old, new = parity_db(a), parity_db(b)
    why_not = NOT_GATED.get(b.get("format"))
    fig = {"old_db": old, "new_db": new, "gated": why_not is None, "why_not_gated": why_not}
    if why_not is not None:
        return fig
    if new is None:
        if old is not None:
            out["regressions"].append("NEW parity not measured (OLD had it): " + _why_not_measured(b))
    elif not new >= gates.min_parity_db:  # NaN fails too
        out["regressions"].append(
            f"parity {fmt_db(new)} dB is below --min-parity-db {gates.min_parity_db:g} (OLD {fmt_db(old)} dB)"
        )
    return fig


def _why_not_measured(row: dict) -> str:
    return str((row.get("parity") or {}).get("reference") or "no parity in the result")


def _psnr(kind: str, a: dict, b: dict, gates: Gates, out: dict) -> dict:
    old, new = psnr_vs_hr(kind, a), psnr_vs_hr(kind, b)
    drop = None if old is None or new is None else old - new
    if new is None and old is not None:
        out["regressions"].append("NEW has no PSNR vs HR (OLD had one)")
    elif drop is not None and not drop <= gates.max_psnr_drop + 1e-9:
        out["regressions"].append(
            f"PSNR vs HR {old:.3f} -> {new:.3f} dB (drop {drop:.3f} dB, over --max-psnr-drop {gates.max_psnr_drop:g})"
        )
    return {"old_db": old, "new_db": new, "drop_db": drop}


# ---------------------------------------------------------------- text


def render_comparison(result: dict) -> str:
    """The table of what changed, then the verdict: PASS, or each regression on its own line."""
    g = result["gates"]
    bench = result["kind"] == "bench"
    lines = [
        f"compare {result['kind']}: {result['old']} (OLD) -> {result['new']} (NEW)",
        f"gates: {'slowdown <= ' + format(g['max_slowdown'], '.0%') + ', ' if bench else ''}"
        f"parity >= {g['min_parity_db']:g} dB, PSNR vs HR drop <= {g['max_psnr_drop']:g} dB",
    ]
    nw = max([len(r["name"]) for r in result["rows"]] + [8]) + 1
    head = f"{'artifact':<{nw}} {'size':>9}"
    if bench:
        head += f" {'stat':<6} {'OLD ms':>9} {'NEW ms':>9} {'ratio':>7} {'runs':>9} {'p99 ratio':>9}"
    head += f" {'parity dB OLD -> NEW':>22} {'PSNR dB OLD -> NEW':>20} {'file':>8}  verdict"
    lines.append(head)
    for r in result["rows"]:
        line = f"{r['name']:<{nw}} {r['input_size'] or '':>9}"
        lat = r.get("latency")
        if bench:
            if lat:
                p99 = lat["p99"]
                p99_text = f"{p99['ratio']:.2f}x" if p99 and p99["ratio"] is not None else "-"
                line += (
                    f" {lat['statistic']:<6} {lat['old_ms']:>9.3f} {lat['new_ms']:>9.3f} "
                    f"{_ratio(lat['ratio']):>7} {lat['runs']:>9} {p99_text:>9}"
                )
            else:
                line += f" {'':<6} {'-':>9} {'-':>9} {'-':>7} {'-':>9} {'-':>9}"
        par, psnr = r.get("parity"), r.get("psnr_vs_hr")
        par_text = f"{fmt_db(par['old_db'])} -> {fmt_db(par['new_db'])}" if par else "-"
        if par and not par["gated"]:
            par_text += "*"
        psnr_text = f"{fmt_db(psnr['old_db'])} -> {fmt_db(psnr['new_db'])}" if psnr else "-"
        same = {True: "same", False: "rebuilt", None: "-"}[r.get("same_file")]
        verdict = r["status"]
        if r["regressions"]:
            verdict = "REGRESSION" + ("" if verdict == "regression" else f" ({verdict})")
        line += f" {par_text:>22} {psnr_text:>20} {same:>8}  {verdict}"
        lines.append(line)
        for note in r["notes"]:
            lines.append(f"{'':<{nw}}   note: {note}")
    if any(r.get("parity") and not r["parity"]["gated"] for r in result["rows"]):
        lines.append("*: parity not gated (" + "; ".join(f"{k}: {v}" for k, v in NOT_GATED.items()) + ")")
    for note in result["notes"]:
        lines.append(f"note: {note}")
    if result["passed"]:
        lines.append(f"PASS: no regression in {len(result['rows'])} rows")
    else:
        lines.append(f"REGRESSION: {len(result['regressions'])} found")
        lines += [f"  {why}" for why in result["regressions"]]
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"
