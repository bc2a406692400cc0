"""A bench report: the figures every bench shares (host or board), its text table, and writing it.

The host bench (:mod:`bnn_deploy.benchmarking.host`) and the board bench
(:mod:`bnn_deploy.benchmarking.board`) produce the same report shape; this module computes the
shared parts (quality vs HR, bicubic, speed-ups), renders it, and writes the JSON and plot.
"""

from __future__ import annotations

import numpy as np

from bnn_deploy.core.formats import FORMATS
from bnn_deploy.core.jsonio import REPORT_DIGITS, jsonable
from bnn_deploy.core.metrics import protocol, sr_metrics
from bnn_deploy.core.tiling import is_padded

# Every bench JSON says what it is and which shape it has. Version 1: bnn-deploy 0.1 (no key);
# version 2: the keys renamed in CHANGELOG.md, ``latency_ms.runs`` (timed runs behind every
# percentile), ``parity.peak``, ``model_source`` (the measured model's SHA-256).
BENCH_FORMAT = "bnn-deploy-bench"
BENCH_SCHEMA_VERSION = 2


def write_report(report: dict, plot_path, trace_path=None) -> dict:
    """``report`` made JSON-ready, with the plot drawn and the profile's trace written where asked (atomically).

    A report without any latency (an emulated board) gets no plot, and a note saying why.
    """
    if report.get("profile"):
        from bnn_deploy.benchmarking.profile import write_trace

        write_trace(report["profile"], trace_path)
    report = jsonable({"format": BENCH_FORMAT, "schema_version": BENCH_SCHEMA_VERSION, **report}, REPORT_DIGITS)
    if plot_path is not None:
        from bnn_deploy.benchmarking.plot import plot_latency_psnr

        if any(r.get("latency_ms") for r in report["results"]):
            plot_latency_psnr(report, plot_path)
            report["plot"] = str(plot_path)
        else:
            report["notes"] = report.get("notes", []) + [
                f"no plot written to {plot_path}: no artifact has a measured latency"
            ]
    return report


def quality_figures(fmt: str, shape_nhwc, input_size: str, outputs: dict, photos, scale: int, overlap: int) -> dict:
    """Mean PSNR/SSIM vs HR of a worker's ``photo:i`` outputs (the report's ``quality`` entry)."""
    per = [dict(image=name, **sr_metrics(outputs[f"photo:{i}"], hr, scale)) for i, (name, _, hr) in enumerate(photos)]
    whole = not FORMATS[fmt].fixed_shape  # any input size: no tiling
    padded = [name for name, lr, _ in photos if not whole and is_padded(lr.shape[:2], tuple(shape_nhwc[1:3]))]
    return {
        "psnr_db": float(np.mean([p["psnr"] for p in per])),
        "ssim": float(np.mean([p["ssim"] for p in per])),
        "images": per,
        "how": "whole image" if whole else f"tiled at {input_size}, overlap {overlap} LR px",
        # smaller than the graph's input along an axis: edge-padded, approximate there
        "padded_images": padded,
        "protocol": "held-out photos; " + protocol(scale),
    }


def bicubic_quality(photos, scale: int) -> dict:
    """PSNR/SSIM vs HR of plain bicubic upscaling on the quality photos: the score to beat."""
    from bnn_deploy.core.images import bicubic_upscale
    from bnn_deploy.core.metrics import sr_metrics

    per = [dict(image=name, **sr_metrics(bicubic_upscale(lr, scale), hr, scale)) for name, lr, hr in photos]
    return {
        "psnr_db": float(np.mean([p["psnr"] for p in per])),
        "ssim": float(np.mean([p["ssim"] for p in per])),
        "images": per,
    }


def typical_ms(latency: dict) -> tuple[float, str]:
    """``(value, "median")``, or ``(mean, "mean")`` for a runner that reports no per-run times (e.g.
    ``lce_benchmark_model``, which prints only count/min/max/avg/std)."""
    if latency.get("median") is not None:
        return latency["median"], "median"
    return latency["mean"], "mean"


def speedups(rows: list[dict]) -> list[dict]:
    """Per input size and thread count: each baseline's median latency / the LCE artifact's.

    Means are compared instead when either side has no median, so a ratio never mixes the two.
    """
    out = []
    for lce in (r for r in rows if r["format"] == "lce" and r.get("latency_ms")):
        for base in rows:
            if base is lce or not base.get("latency_ms"):
                continue
            if (base["input_size"], base["threads"]) != (lce["input_size"], lce["threads"]):
                continue
            stat = (
                "median"
                if typical_ms(lce["latency_ms"])[1] == typical_ms(base["latency_ms"])[1] == "median"
                else "mean"
            )
            out.append(
                {
                    "input_size": lce["input_size"],
                    "threads": lce["threads"],
                    "binary": lce["name"],
                    "kernel": lce.get("kernel"),
                    "baseline": base["name"],
                    "statistic": stat,
                    "speedup": base["latency_ms"][stat] / lce["latency_ms"][stat],
                }
            )
    return out


def render_bench(report: dict) -> str:
    """The text report: one line per artifact run, the speed-up table, where files went.

    The same for a board (``report["device"]`` is then its facts): the header names the board, and
    figures a board runner does not give show as ``-``.
    """
    nw = max([len(r["name"]) for r in report["results"]] + [8]) + 1
    lines = _header(report) + [
        f"{'artifact':<{nw}} {'size':>9} {'thr':>3} {'kernel':<22} {'median':>9} {'p90':>9} {'min':>9} "
        f"{'first':>9} {'init':>8} {'peak RSS':>9} {'file':>9} {'parity':>8} {'PSNR':>6}",
        f"{'':<{nw}} {'':>9} {'':>3} {'':<22} {'ms':>9} {'ms':>9} {'ms':>9} {'ms':>9} {'ms':>8} {'MB':>9} "
        f"{'KB':>9} {'dB':>8} {'dB':>6}",
    ]

    def num(value, width: int, digits: int = 2) -> str:
        text = "-" if value is None else (value if isinstance(value, str) else f"{value:.{digits}f}")
        return f"{text:>{width}}"

    means = False
    for r in report["results"]:
        problem = r.get("error") or (f"skipped: {r['skipped']}" if r.get("skipped") else None)
        if problem:
            lines.append(f"{r['name']:<{nw}} {r['input_size']:>9} {r['threads']:>3} {problem}")
            continue
        lat = r["latency_ms"]
        if lat:
            value, stat = typical_ms(lat)
            means = means or stat == "mean"
            timing = (
                f"{num(value, 8 if stat == 'mean' else 9)}{'*' if stat == 'mean' else ''} {num(lat['p90'], 9)} "
                f"{num(lat['min'], 9)} {num(r['first_run_ms'], 9)} {num(r['init_ms'], 8, 1)}"
            )
        else:
            timing = f"{'emulated board: no device latency':<48}"
        lines.append(
            f"{r['name']:<{nw}} {r['input_size']:>9} {r['threads']:>3} {r['kernel']:<22} {timing} "
            f"{num(r['memory'].get('peak_rss_mb'), 9, 1)} {r['file_size_bytes'] / 1024:>9.1f} "
            f"{num((r.get('parity') or {}).get('psnr_db'), 8, 1)} "
            f"{num((r.get('quality') or {}).get('psnr_db'), 6)}"
        )
    if means:
        lines.append("*: mean, not median: lce_benchmark_model reports no per-run times (so no median or p90 either)")
    lines.append(f"bicubic PSNR on the same photos: {report['bicubic']['psnr_db']:.2f} dB")
    padded = sorted(
        {(r["input_size"], img) for r in report["results"] for img in (r.get("quality") or {}).get("padded_images", [])}
    )
    if padded:
        lines.append(
            "note: photos smaller than a fixed-shape graph's input were edge-padded for PSNR (approximate "
            "near that border): " + ", ".join(f"{img} < {size}" for size, img in padded)
        )
    lines += _render_predicted(report.get("predicted") or [])
    if report["speedups"]:
        lines.append("speed-up of the binary model (LCE) over each baseline (median latency ratio):")
        for s in report["speedups"]:
            lines.append(
                f"  {s['input_size']:>9} {s['threads']} thr  {s['binary']} [{s['kernel']}] vs "
                f"{s['baseline']:<{nw}} {s['speedup']:6.2f}x"
                f"{' (means)' if s.get('statistic') == 'mean' else ''}"
            )
    for r in report["results"]:
        if r.get("kernel_choice"):
            cands = ", ".join(
                f"{c['kernel']} min {c['min_ms']:.1f} ms{'' if c['identical'] else ' (differs)'}"
                for c in r["kernel_choice"]["candidates"]
            )
            where = r["kernel_choice"].get("measured_on", "this machine")
            lines.append(f"kernel auto for {r['name']} ({r['threads']} thr, on {where}): chose {r['kernel']} — {cands}")
    lines += _kernel_lines(report)
    for method in dict.fromkeys(r["memory"]["method"] for r in report["results"] if r.get("memory")) or ["n/a"]:
        lines.append("memory: " + method)
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    if report.get("plot"):
        lines.append(f"wrote {report['plot']}")
    if report.get("profile"):
        from bnn_deploy.benchmarking.profile import render_artifact_profile

        for art in report["profile"]["artifacts"]:
            lines += ["", "op profile: " + "\n".join(render_artifact_profile(art))]
        if report["profile"].get("trace"):
            lines.append(f"wrote {report['profile']['trace']} (open it in https://ui.perfetto.dev)")
    return "\n".join(lines)


def _render_predicted(rows: list[dict]) -> list[str]:
    """``bench --predict``'s rows: a separate, labelled block (a model's figures, not measurements)."""
    if not rows:
        return []
    nw = max(len(r["name"]) for r in rows) + 1
    lines = ["PREDICTED on boards (the latency model of docs/predict.md — not measured; quality as measured here):"]
    for r in rows:
        cal = "" if r["calibrated"] else ", uncalibrated"
        lines.append(
            f"  {r['name']:<{nw}} {r['device']:>13} {r['threads']} thr  PREDICTED {r['predicted_ms']:9.2f} ms "
            f"(range {r['low_ms']:.2f}–{r['high_ms']:.2f}; binary {100 * r['binary_share']:.0f} %{cal})"
        )
    return lines


def _kernel_lines(report: dict) -> list[str]:
    """Which kernel ran where: on a board, the flags every lce_benchmark_model run was given, and the
    kernel this machine used for the quality figures."""
    lines = []
    for r in report["results"]:
        if r.get("kernel_ran_on") and r.get("kernel_flags"):
            quality = (r.get("quality") or {}).get("kernel")
            lines.append(
                f"kernel for {r['name']}: {r['kernel']} on the board ({' '.join(r['kernel_flags'])})"
                + (f"; quality on this machine with {quality}" if quality else "")
            )
        if r.get("ignored_flags"):
            lines.append(f"warning: lce_benchmark_model ignored {' '.join(r['ignored_flags'])} for {r['name']}")
    return lines


def _header(report: dict) -> list[str]:
    """Where the bench ran: this machine, or the board with its preflight warnings."""
    host = report["host"]
    if not isinstance(report.get("device"), dict):
        return [f"bench {report['export_dir']} on {host['cpu']} ({host['logical_cores']} logical cores, {host['os']})"]
    from bnn_deploy.devices.preflight import render_preflight

    dev = report["device"]
    lines = [
        f"bench {report['export_dir']} on {dev['name']} ({dev['profile']}, {dev['address']}); parity reference "
        f"and quality computed on this machine ({host['cpu']})"
    ]
    lines += render_preflight(report["preflight"]).splitlines()
    if report.get("emulated"):
        lines.append("EMULATED board: its timings are kept as emulated_timings_ms in the JSON, never as latency")
    return lines
