"""``bnn-deploy report EXPORT_DIR [RESULT.json ...] -o report.html``: an export and its results on one page.

One self-contained HTML file: CSS inline, every image a ``data:`` URI, no script, and a
Content-Security-Policy that forbids the browser any fetch besides those ``data:`` images — the
page opens the same offline, attached to an e-mail or in a CI artifact store. Sections:

* **manifest**: the source model, export settings, tool versions, every artifact with its SHA-256
  and parity, and per LCE flatbuffer every ``LceBconv2d`` read from the file itself (PyTorch
  module, filter shape, bitpacked vs float32 bytes), with any binary conv that fell back to float;
* **bench** (each bench JSON): the measured table (p99 only from
  :data:`~bnn_deploy.reporting.results.P99_MIN_RUNS` timed runs on), the speed-ups and the
  latency-vs-PSNR plot of :mod:`bnn_deploy.benchmarking.plot`;
* **eval**: PSNR/SSIM/parity per model and the comparison crops;
* **profile**: per-op times, the summary by op type, binary vs float share;
* **prediction**: the latency model's figures, each labelled PREDICTED, in a visibly different
  (dashed, hatched) style so that no prediction reads as a measurement.

Every input is checked before the page is built: the export is verified file by file
(:func:`~bnn_deploy.core.exports.read_export`), each JSON must be a bench, eval, profile or predict
result, and a bench or eval of another model is refused. Rows that measured a file this export no
longer holds (it was re-exported since) are kept and marked.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import tempfile
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.reporting.results import (
    P99_MIN_RUNS,
    Result,
    db,
    fmt_db,
    latency,
    p99_shown,
    parity_db,
    profiled_artifacts,
    read_result,
    row_problem,
)

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_OP_KEYS = ("op", "node_type", "type", "kind")
_MS_KEYS = ("ms", "avg_ms", "time_ms", "mean_ms")

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-top: 1.4em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: 13px; }
th, td { border: 1px solid #d4d4d4; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.hash { font-family: ui-monospace, monospace; font-size: 11px; word-break: break-all; }
.note { color: #555; font-size: 13px; }
.warn { color: #8a4b00; }
tr.problem td { color: #a00; }
tr.stale td { background: #fff4e0; }
img { max-width: 100%; border: 1px solid #ddd; }
figure { margin: 1em 0; } figcaption { font-size: 12px; color: #555; }
.bar { background: #4a78c2; height: 9px; display: inline-block; vertical-align: middle; }
.bar.binary { background: #c8322d; }
section.predicted { border: 3px dashed #d98c00; padding: 0 1em 1em; margin-top: 2em;
  background: repeating-linear-gradient(135deg, #fffaf0, #fffaf0 12px, #fff3da 12px, #fff3da 24px); }
section.predicted table th { background: #ffe8b8; }
td.pred { font-style: italic; color: #7a4d00; text-align: right; white-space: nowrap; }
.tag { font: bold 9px/1 system-ui, sans-serif; letter-spacing: .05em; color: #fff; background: #d98c00;
  padding: 1px 3px; border-radius: 2px; margin-left: 4px; font-style: normal; vertical-align: middle; }
.banner { font-weight: bold; color: #7a4d00; }
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def num(value, digits: int = 2) -> str:
    """A figure for a table cell: ``-`` when absent, ``inf`` kept, else ``digits`` decimals."""
    value = db(value)
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def table(head: list[str], body: list[list[str]], cls: str = "", row_classes: list[str] | None = None) -> str:
    """An HTML table; ``body`` cells are HTML already (``<td>`` added unless a cell starts with ``<td``)."""
    out = [f'<table class="{cls}">' if cls else "<table>", "<thead><tr>"]
    out += [f"<th>{h}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(body):
        rc = (row_classes or [""] * len(body))[i]
        out.append(f'<tr class="{rc}">' if rc else "<tr>")
        out += [c if c.startswith("<td") else f"<td>{c}</td>" for c in row]
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def td_num(text: str) -> str:
    return f'<td class="num">{text}</td>'


def td_pred(text: str) -> str:
    """A predicted figure: its own style and the PREDICTED tag, so it never reads as a measurement."""
    return f'<td class="pred">{text}<span class="tag">PREDICTED</span></td>'


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ---------------------------------------------------------------- entry point


def write_report_page(export_dir, result_paths: list, out_path, *, progress=None) -> dict:
    """Check every input, build the page and write it atomically to ``out_path``; returns a summary."""
    from bnn_deploy.core.exports import read_export
    from bnn_deploy.core.fileio import atomic_write_text, check_output_path

    say = progress or (lambda _m: None)
    check_output_path(out_path, "-o", suffixes=(".html", ".htm"))
    exp = read_export(export_dir)  # every file checked against its SHA-256
    results = [read_result(p) for p in result_paths]
    for res in results:
        _check_same_model(exp, res, export_dir)
    say("reading the LCE flatbuffers (bitpacking per layer)")
    sections: list[tuple[str, str, str]] = [("manifest", "Export", _manifest_section(exp))]
    counts: dict[str, int] = {}
    for res in results:
        counts[res.kind] = counts.get(res.kind, 0) + 1
        sid = f"{res.kind}-{counts[res.kind]}"
        say(f"adding {res.kind} result {res.path}")
        body = {"bench": _bench_section, "eval": _eval_section, "profile": _profile_section}.get(res.kind)
        if body is not None:
            sections.append((sid, f"{res.kind.capitalize()}: {res.name}", body(exp, res)))
        else:
            profiles = [r for r in results if r.kind == "profile"]
            sections.append((sid, f"Prediction: {res.name}", _predict_section(exp, res, profiles)))
    page = _page(exp, results, sections)
    atomic_write_text(out_path, page)
    return {
        "report": str(out_path),
        "size_bytes": len(page.encode()),
        "export_dir": exp.path,
        "sections": [{"id": sid, "title": title} for sid, title, _ in sections],
        "images": page.count("<img "),
        "results": [{"path": r.path, "kind": r.kind} for r in results],
    }


def render_summary(summary: dict) -> str:
    lines = [
        f"wrote {summary['report']} ({summary['size_bytes'] / 1024:.0f} KB, {summary['images']} images, "
        "self-contained: no network fetches)"
    ]
    lines += [f"  {s['title']}" for s in summary["sections"]]
    return "\n".join(lines)


def _check_same_model(exp, res: Result, export_dir) -> None:
    """A bench or eval of another model than the export's is refused (one line)."""
    src = res.model_source
    mine = exp.manifest.source.sha256
    if src and src["sha256"] != mine:
        raise BnnDeployError(
            f"{res.path} measured another model ({Path(src.get('path') or '?').name}, sha256 {src['sha256'][:12]}) "
            f"than {export_dir} exports (sha256 {mine[:12]}); pass results of this export"
        )


def _page(exp, results: list[Result], sections) -> str:
    src = exp.manifest.source
    title = f"bnn-deploy report: {Path(src.path).name or src.arch}"
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    nav = "".join(f'<a href="#{sid}">{esc(t)}</a>' for sid, t, _ in sections)
    inputs = ", ".join(f"{esc(r.name)} ({r.kind})" for r in results) or "none (the export only)"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="note">export {esc(exp.path)}; results: {inputs}; page written {now} by bnn-deploy '
        f"{esc(_own_version())}. Measured figures are plain; predicted figures sit in dashed, hatched boxes and "
        "carry the PREDICTED tag.</p>",
        f"<nav>{nav}</nav>",
    ]
    for sid, title_, body in sections:
        cls = ' class="predicted"' if sid.startswith("predict") else ""
        parts.append(f'<section id="{sid}"{cls}><h2>{esc(title_)}</h2>{body}</section>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _own_version() -> str:
    from bnn_deploy.core.version import __version__

    return __version__


# ---------------------------------------------------------------- manifest


def _manifest_section(exp) -> str:
    m = exp.manifest
    src = m.source
    out = [
        "<h3>Source model</h3>",
        table(
            ["what", "value"],
            [
                ["path", esc(src.path)],
                ["sha256", f'<span class="hash">{esc(src.sha256)}</span>'],
                ["kind", esc(src.kind)],
                ["architecture", esc(src.arch)],
                ["scale", esc(src.scale)],
                ["config", f'<span class="hash">{esc(json.dumps(src.config, sort_keys=True))}</span>'],
                ["checkpoint layout", esc(src.source_format)],
                ["binary convs declared", esc(src.binary_layers)],
            ],
        ),
        "<h3>Export</h3>",
        table(
            ["what", "value"],
            [
                ["created", esc(m.created)],
                ["target", f"{esc(m.target)} (LCE converter target {esc(m.lce_converter_target)})"],
                ["formats", esc(", ".join(m.formats))],
                ["input sizes", esc(", ".join(f"{w}x{h}" for w, h in m.input_sizes))],
                ["parity gate", f"{m.min_parity_db:g} dB on {esc(m.parity_photos)}"],
                ["manifest schema version", esc(m.schema_version)],
                ["wall time", f"{num(m.wall_seconds, 1)} s"],
            ],
        ),
        "<h3>Versions</h3>",
        table(["package", "version"], [[esc(k), esc(v)] for k, v in m.versions.items()], "versions"),
        "<h3>Artifacts</h3>",
    ]
    body = []
    for a in m.artifacts:
        par = a.parity
        gate = "not gated" if par is None or par.threshold_db is None else f"gate {par.threshold_db:g}"
        bc = a.binary_convs
        body.append(
            [
                esc(a.file),
                esc(a.format),
                esc(a.role),
                esc("x".join(map(str, a.input_size)) if a.input_size else "any"),
                td_num(f"{a.size_bytes / 1024:.1f}"),
                f'<span class="hash">{esc(a.sha256)}</span>',
                td_num(f"{fmt_db(par.psnr_db) if par else '-'} ({gate})"),
                td_num(num(par.psnr_vs_hr_db if par else None)),
                td_num(f"{bc.bitpacked}/{bc.total}" if bc else "-"),
            ]
        )
    out.append(
        table(
            ["file", "format", "role", "input", "KB", "sha256", "parity dB", "PSNR vs HR dB", "bitpacked"],
            body,
            "artifacts",
        )
    )
    for a in m.artifacts:
        if a.format == "lce":
            out.append(_bitpacking(exp, a))
    out += [f'<p class="note">note: {esc(n)}</p>' for n in m.notes + exp.notes]
    return "".join(out)


def _bitpacking(exp, entry) -> str:
    """Every LceBconv2d of one LCE flatbuffer, read from the file: module, filter, bytes."""
    from bnn_deploy.core.flatbuffer import (
        BITPACKED_CONV,
        bconv_filter,
        float_fallback_convs,
        module_path,
        read_flatbuffer,
    )

    fb = read_flatbuffer((Path(exp.path) / entry.file).read_bytes())
    body, packed, floats = [], 0, 0
    for op in fb.ops:
        if op.kind != BITPACKED_CONV:
            continue
        f = bconv_filter(fb, op)
        packed += f["bitpacked_bytes"]
        floats += f["float_bytes"]
        body.append(
            [
                td_num(str(op.index)),
                esc(module_path(op) or "?"),
                esc("×".join(map(str, f["shape"]))),
                "bitpacked LceBconv2d",
                td_num(str(f["bitpacked_bytes"])),
                td_num(str(f["float_bytes"])),
                td_num(f"{f['float_bytes'] / f['bitpacked_bytes']:.1f}x" if f["bitpacked_bytes"] else "-"),
            ]
        )
    fallen = float_fallback_convs(fb)
    rows_cls = [""] * len(body)
    for op in fallen:
        body.append([td_num(str(op.index)), esc(module_path(op) or "?"), "-", f"FLOAT {esc(op.kind)} (fell back)"])
        body[-1] += [td_num("-")] * 3
        rows_cls.append("problem")
    bc = entry.binary_convs
    declared = f"; the manifest records {bc.bitpacked} of {bc.total} binary convs bitpacked" if bc else ""
    hist = ", ".join(f"{k} {v}" for k, v in (entry.op_histogram or {}).items())
    return (
        f"<h3>Bitpacking per layer: {esc(entry.file)}</h3>"
        f'<p class="note">read from the flatbuffer itself{esc(declared)}; filter shape is O×kh×kw×C_in; '
        f"{len(fallen)} float conv(s) read a sign (a lost binary conv). Binary filters: {packed} bytes bitpacked "
        f"vs {floats} bytes as float32.</p>"
        + table(
            ["op #", "PyTorch module", "filter", "kernel", "bytes", "float32 bytes", "smaller"],
            body,
            "bitpacking",
            rows_cls,
        )
        + f'<p class="note">ops: {esc(hist)}</p>'
    )


# ---------------------------------------------------------------- bench


def _bench_section(exp, res: Result) -> str:
    data = res.data
    known = {a.sha256 for a in exp.artifacts}
    dev = data.get("device")
    host = data.get("host") or {}
    if isinstance(dev, dict):
        where = f"board {dev.get('name')} ({dev.get('profile')}, {dev.get('address')})"
        if data.get("emulated"):
            where += " — EMULATED: its timings are not device latency and are not shown"
    else:
        where = f"this host: {host.get('cpu')} ({host.get('logical_cores')} logical cores, {host.get('os')})"
    settings = ", ".join(f"{k} {v}" for k, v in (data.get("settings") or {}).items())
    out = [f"<p>ran on {esc(where)}; settings: {esc(settings)}; bench schema version {esc(res.schema_version)}.</p>"]
    head = [
        "artifact",
        "input",
        "threads",
        "kernel",
        "median ms",
        "p90 ms",
        "p99 ms",
        "timed runs",
        "min ms",
        "first run ms",
        "init ms",
        "peak RSS MB",
        "file KB",
        "parity dB",
        "PSNR dB",
        "SSIM",
    ]
    body, classes, means, stale, short = [], [], False, 0, False
    for r in data.get("results") or []:
        mark = "" if r.get("sha256") in known else " †"
        stale += bool(mark)
        name = esc(r.get("name")) + mark
        problem = row_problem(r)
        if problem:
            body.append(
                [name, esc(r.get("input_size")), esc(r.get("threads")), f'<td colspan="13">{esc(problem)}</td>']
            )
            classes.append("problem")
            continue
        lat = latency(r)
        if lat:
            stat = "median" if lat.get("median") is not None else "mean"
            means = means or stat == "mean"
            p99 = num(lat.get("p99")) if p99_shown(lat) else "—"
            short = short or not p99_shown(lat)
            timing = [
                td_num(num(lat[stat]) + ("*" if stat == "mean" else "")),
                td_num(num(lat.get("p90"))),
                td_num(p99),
                td_num(esc(lat.get("runs"))),
                td_num(num(lat.get("min"))),
                td_num(num(r.get("first_run_ms"))),
                td_num(num(r.get("init_ms"), 1)),
            ]
        else:
            timing = ['<td colspan="7">no device latency (emulated board)</td>']
        quality = r.get("quality") or {}
        body.append(
            [name, esc(r.get("input_size")), esc(r.get("threads")), esc(r.get("kernel"))]
            + timing
            + [
                td_num(num((r.get("memory") or {}).get("peak_rss_mb"), 1)),
                td_num(f"{(r.get('file_size_bytes') or 0) / 1024:.1f}"),
                td_num(fmt_db(parity_db(r))),
                td_num(num(quality.get("psnr_db"))),
                td_num(num(quality.get("ssim"), 4)),
            ]
        )
        classes.append("stale" if mark else "")
    out.append(table(head, body, "bench", classes))
    notes = []
    if means:
        notes.append("*: mean, not median: the runner reports no per-run times")
    if short:
        notes.append(
            f"p99 is shown from {P99_MIN_RUNS} timed runs on (—: fewer runs, where p99 is only an interpolation "
            "between the two slowest runs)"
        )
    if stale:
        notes.append(
            f"†: {stale} row(s) measured a file that is not in this export now (its SHA-256 differs: re-exported "
            "since the bench ran)"
        )
    bicubic = (data.get("bicubic") or {}).get("psnr_db")
    notes.append(f"bicubic PSNR on the same photos: {num(bicubic)} dB; parity is PSNR vs the PyTorch model (peak 1.0)")
    notes += [f"note: {n}" for n in data.get("notes") or []]
    out += [f'<p class="note">{esc(n)}</p>' for n in notes]
    if data.get("speedups"):
        out.append("<h3>Speed-up of the binary model (LCE) over each baseline</h3>")
        out.append(
            table(
                ["input", "threads", "LCE artifact", "kernel", "baseline", "statistic", "speed-up"],
                [
                    [
                        esc(s.get("input_size")),
                        esc(s.get("threads")),
                        esc(s.get("binary")),
                        esc(s.get("kernel")),
                        esc(s.get("baseline")),
                        esc(s.get("statistic", "median")),
                        td_num(f"{num(s.get('speedup'))}x"),
                    ]
                    for s in data["speedups"]
                ],
                "speedups",
            )
        )
    out.append(_plot(data))
    return "".join(out)


def _plot(data: dict) -> str:
    """The bench's latency-vs-PSNR scatter (benchmarking.plot's PNG), inline."""
    from bnn_deploy.benchmarking.plot import plot_latency_psnr

    if not any(latency(r) and (r.get("quality") or {}).get("psnr_db") is not None for r in data.get("results") or []):
        return '<p class="note">no plot: no artifact has both a measured latency and a PSNR</p>'
    with tempfile.TemporaryDirectory(prefix="bnn-deploy-report-") as tmp:
        path = Path(tmp) / "plot.png"
        plot_latency_psnr(data, path)
        png = path.read_bytes()
    return (
        "<h3>Latency vs quality</h3><figure>"
        f'<img class="plot" alt="latency vs PSNR scatter" src="{data_uri(png)}">'
        "<figcaption>median latency (log scale) vs mean PSNR on the held-out photos; dashed: bicubic</figcaption>"
        "</figure>"
    )


# ---------------------------------------------------------------- eval


def _eval_section(exp, res: Result) -> str:
    data = res.data
    known = {a.sha256 for a in exp.artifacts}
    body, classes = [], []
    for m in data.get("models") or []:
        mark = " †" if m.get("sha256") and m["sha256"] not in known else ""
        tile = m.get("tile") or {}
        body.append(
            [
                esc(m.get("name")) + mark,
                esc(m.get("format") or "-"),
                esc(m.get("role") or "-"),
                td_num(num((m.get("mean") or {}).get("psnr"))),
                td_num(num((m.get("mean") or {}).get("ssim"), 4)),
                td_num(fmt_db(parity_db(m))),
                esc(f"{tile['input_size']}, overlap {tile.get('overlap')}" if tile else "whole image"),
                esc(m.get("kernel") or "-"),
            ]
        )
        classes.append("stale" if mark else "")
    out = [
        f"<p>{esc(len(data.get('images') or []))} images: {esc(', '.join(data.get('images') or []))}; "
        f"protocol: {esc(data.get('protocol'))}</p>",
        table(
            ["model", "format", "role", "PSNR dB", "SSIM", "parity vs PyTorch dB", "run as", "kernel"],
            body,
            "eval",
            classes,
        ),
    ]
    if any(classes):
        out.append('<p class="note">†: a file that is not in this export now (re-exported since the eval ran)</p>')
    out += [f'<p class="note">note: {esc(n)}</p>' for n in data.get("notes") or []]
    out.append("<h3>Crops</h3>")
    folder = Path(res.path).parent
    for crop in data.get("crops") or []:
        path = _crop_file(crop, folder)
        caption = (
            f"{crop.get('image')}: {' | '.join(crop.get('panels') or [])}; window (x, y, w, h) "
            f"{crop.get('window_hr')} in HR pixels, where |{' - '.join(crop.get('diff_between') or [])}| is largest"
        )
        if path is None:
            out.append(f'<p class="warn">crop of {esc(crop.get("image"))} not found at {esc(crop.get("file"))}</p>')
            continue
        out.append(
            f'<figure><img class="crop" alt="{esc(crop.get("image"))}" src="{data_uri(path.read_bytes())}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )
    return "".join(out)


def _crop_file(crop: dict, folder: Path) -> Path | None:
    """A crop PNG where eval wrote it, or beside the eval.json that lists it (a moved results folder)."""
    recorded = Path(str(crop.get("file") or ""))
    for cand in (recorded, folder / "crops" / recorded.name, folder / recorded.name):
        if cand.name and cand.is_file():
            return cand
    return None


# ---------------------------------------------------------------- profile


def _op_name(op: dict) -> str:
    return next((str(op[k]) for k in _OP_KEYS if isinstance(op.get(k), str)), "?")


def _op_ms(op: dict) -> float | None:
    return next((float(op[k]) for k in _MS_KEYS if isinstance(op.get(k), (int, float))), None)


def _profile_entries(data: dict) -> list:
    """What the profile section shows: ``bnn-deploy profile``'s per-artifact profiles (every op with its
    module and class; on a board the run without XNNPACK), else the ``profiles`` of another writer."""
    arts = profiled_artifacts(data)
    if not arts:
        return data.get("profiles") or []
    device = data.get("device")
    device = device.get("name") or device.get("profile") if isinstance(device, dict) else device
    return [
        {
            "artifact": Path(str(a.get("file") or a.get("name") or "?")).name,
            "device": device,
            "threads": a.get("threads"),
            "kernel": a.get("op_kernel") or a.get("kernel"),
            "whole_ms": a.get("whole_ms"),
            "ops_sum_ms": a.get("ops_sum_ms"),
            "ops": [dict(op, binary=op.get("class") == "binary") for op in a["ops"] if isinstance(op, dict)],
            "notes": a.get("notes"),
        }
        for a in arts
    ]


def _profile_section(exp, res: Result) -> str:
    files = {a.file for a in exp.manifest.artifacts}
    out = []
    for i, prof in enumerate(_profile_entries(res.data)):
        if not isinstance(prof, dict):
            continue
        ops = [op for op in prof.get("ops") or [] if isinstance(op, dict)]
        total = sum(ms for ms in map(_op_ms, ops) if ms is not None)
        binary = sum(_op_ms(op) or 0.0 for op in ops if op.get("binary"))
        whole, ops_sum = db(prof.get("whole_ms")), db(prof.get("ops_sum_ms")) or total
        artifact = str(prof.get("artifact") or "?")
        out.append(
            f"<h3>{esc(artifact)} on {esc(prof.get('device'))}, {esc(prof.get('threads'))} thread(s), "
            f"kernel {esc(prof.get('kernel'))}</h3>"
        )
        facts = [
            f"whole graph {num(whole, 3)} ms, sum of ops {num(ops_sum, 3)} ms"
            + (f" ({100 * ops_sum / whole:.0f} % of the whole)" if whole and ops_sum else ""),
            f"binary ops {100 * binary / total:.1f} % of the op time, float glue {100 - 100 * binary / total:.1f} %"
            if total
            else "no op times",
        ]
        if Path(artifact).name not in files:
            facts.append(f"{artifact} is not a file of this export")
        facts += [str(n) for n in prof.get("notes") or []]
        out += [f'<p class="note">{esc(f)}</p>' for f in facts]
        out.append(_by_type_table(prof, ops, total, f"profile-{i}"))
        out.append(f"<details><summary>all {len(ops)} ops, in run order</summary>{_ops_table(ops, total)}</details>")
    out += [f'<p class="note">note: {esc(n)}</p>' for n in res.data.get("notes") or []]
    return "".join(out) or '<p class="note">the profile holds no entries</p>'


def _by_type_table(prof: dict, ops: list[dict], total: float, cls: str) -> str:
    by_type = prof.get("by_type")
    if not isinstance(by_type, dict) or not by_type:
        by_type = {}
        for op in ops:
            t = by_type.setdefault(_op_name(op), {"count": 0, "ms": 0.0, "binary": bool(op.get("binary"))})
            t["count"] += 1
            t["ms"] += _op_ms(op) or 0.0
    body = []
    for name, t in sorted(by_type.items(), key=lambda kv: -(db((kv[1] or {}).get("ms")) or 0.0)):
        t = t if isinstance(t, dict) else {"ms": t}
        ms = db(t.get("ms"))
        pct = db(t.get("pct"))
        pct = pct if pct is not None else (100 * ms / total if ms is not None and total else None)
        body.append(
            [
                esc(name),
                td_num(esc(t.get("count", "-"))),
                "binary" if t.get("binary") else "float",
                td_num(num(ms, 3)),
                td_num(num(pct, 1)),
                _bar(pct, bool(t.get("binary"))),
            ]
        )
    return "<h4>By op type</h4>" + table(["op type", "count", "kind", "ms", "%", ""], body, f"by-type {cls}")


def _ops_table(ops: list[dict], total: float) -> str:
    body, cum = [], 0.0
    for i, op in enumerate(ops):
        ms = _op_ms(op)
        pct = db(op.get("pct"))
        pct = pct if pct is not None else (100 * ms / total if ms is not None and total else None)
        cum = db(op.get("cum_pct")) if op.get("cum_pct") is not None else cum + (pct or 0.0)
        body.append(
            [
                td_num(esc(op.get("index", i))),
                esc(_op_name(op)),
                esc(op.get("module") or "-"),
                "binary" if op.get("binary") else "float",
                td_num(num(ms, 3)),
                td_num(num(pct, 1)),
                td_num(num(cum, 1)),
                _bar(pct, bool(op.get("binary"))),
            ]
        )
    return table(["#", "op", "PyTorch module", "kind", "ms", "%", "cum %", ""], body, "ops")


def _bar(pct: float | None, binary: bool) -> str:
    width = 0 if pct is None else max(0.0, min(100.0, pct)) * 2
    return f'<span class="bar{" binary" if binary else ""}" style="width:{width:.0f}px"></span>'


# ---------------------------------------------------------------- prediction


def _predict_section(exp, res: Result, profiles: list[Result]) -> str:
    data = res.data
    files = {a.file for a in exp.manifest.artifacts}
    out = [
        '<p class="banner">PREDICTED — not a measurement. Every figure in this box comes from a per-op latency '
        "model of LCE/XNNPACK kernels and published board figures (docs/predict.md); nothing here ran.</p>"
    ]
    body = []
    for p in data.get("predictions") or []:
        if not isinstance(p, dict):
            continue
        share = db(p.get("binary_share"))
        body.append(
            [
                esc(p.get("artifact") or "-") + ("" if Path(str(p.get("artifact"))).name in files else " ‡"),
                esc(p.get("device")),
                esc(p.get("threads")),
                esc(p.get("kernel")),
                td_pred(f"{num(p.get('predicted_ms'))} ms"),
                td_pred(f"{num(p.get('low_ms'))} – {num(p.get('high_ms'))} ms"),
                td_pred("-" if share is None else f"{100 * share:.0f} %"),
                esc({True: "yes", False: "no"}.get(p.get("calibrated"), "-")),
            ]
        )
    out.append(
        table(
            ["artifact", "device", "threads", "kernel", "latency", "range", "binary share", "calibrated"],
            body,
            "predictions",
        )
    )
    if any(" ‡" in row[0] for row in body):
        out.append('<p class="note">‡: not a file of this export</p>')
    for p in data.get("predictions") or []:
        if not isinstance(p, dict):
            continue
        rows = []
        for name, t in list((p.get("by_type") or {}).items())[:12]:
            t = t if isinstance(t, dict) else {"ms": t}
            rows.append(
                [
                    esc(name),
                    td_num(esc(t.get("count", "-"))),
                    "binary" if t.get("binary") else "float",
                    td_pred(f"{num(t.get('ms'), 3)} ms"),
                    td_pred(f"{num(t.get('pct'), 1)} %"),
                ]
            )
        out.append(
            f"<details><summary>{esc(p.get('device'))}, {esc(p.get('threads'))} thread(s): PREDICTED time by op "
            f"type</summary>{table(['op type', 'count', 'kind', 'latency', 'share'], rows, 'predicted-by-type')}"
            "</details>"
        )
        out += [f'<p class="note">{esc(n)}</p>' for n in p.get("notes") or []]
    out += [f'<p class="note">note: {esc(n)}</p>' for n in data.get("notes") or []]
    out.append(_against_profiles(data, profiles))
    return "".join(out)


def _against_profiles(prediction: dict, profiles: list[Result]) -> str:
    """PREDICTED vs MEASURED per op type where a profile has the same device, threads and kernel."""
    from bnn_deploy.prediction.predict import compare_against

    out = []
    for prof in profiles:
        try:
            found = compare_against(prediction, prof.data)
        except (BnnDeployError, KeyError, TypeError):
            continue  # no profile entry for a predicted configuration
        for c in found["comparisons"]:
            rows = [
                [
                    esc(r["op"]),
                    td_pred(f"{num(r['predicted_ms'], 3)} ms"),
                    td_num(num(r["measured_ms"], 3)),
                    td_num(num(r["error_pct"], 0)),
                ]
                for r in c["by_type"]
            ]
            out.append(
                f"<h3>PREDICTED vs MEASURED: {esc(c['device'])}, {esc(c['threads'])} thread(s), kernel "
                f"{esc(c['kernel'])} ({esc(prof.name)})</h3>"
                + table(["op type", "predicted", "measured ms", "error %"], rows, "predicted-vs-measured")
            )
    return "".join(out)
