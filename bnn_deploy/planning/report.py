"""The plan as text: every measured candidate, its labels, the choice and the comparison."""

from __future__ import annotations


def _ms(value) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _parity(row: dict) -> str:
    par = row.get("parity")
    if not par or par.get("psnr_db") is None:
        return "-"
    db = par["psnr_db"]
    return "exact" if db == "inf" else f"{db:.1f} dB"


def render_plan(report: dict) -> str:
    """Text report of :func:`bnn_deploy.planning.plan.plan`."""
    board = report["device"] != "host"
    lat = "PREDICTED" if board else "measured"
    mem = "ESTIMATED" if board else "measured"
    budget = report["memory_budget_bytes"]
    lines = [
        f"plan: {report['model']} for {report['frame_note']}; device {report['device']}, "
        f"{report['threads']} thread(s), memory budget {'none' if budget is None else f'{budget / 2**20:.0f} MB'}",
        f"tile overlap: {report['overlap']['pixels']} LR px ({report['overlap']['from']})",
        f"{report['enumerated']} candidate tile sizes; tried {len(report['candidates'])}, each exported "
        f"(latency {lat}, memory {mem}):",
        f"  {'tile (LR)':<10} {'tiles':>5} {'work':>7} {'tile ms':>9} {'frame ms':>9} {'FPS':>7} "
        f"{'µs/px':>6} {'memory MB':>10} {'fits':>5} {'vs whole':>9}  ",
    ]
    for r in report["candidates"]:
        fits = "" if r["fits_budget"] is None else ("yes" if r["fits_budget"] else "NO")
        mark = " <- chosen" if r["chosen"] else ""
        origin = f" ({r['origin']})" if r["origin"] != "planned" else ""
        lines.append(
            f"  {r['tile']:<10} {r['tiles']:>5} {r['work_overhead']:>6.3f}× {_ms(r['tile_ms']):>9} "
            f"{_ms(r['frame_ms']):>9} {r['fps']:>7.3f} {r['us_per_computed_pixel']:>6.2f} "
            f"{r['memory_mb']:>10.0f} {fits:>5} {_parity(r):>9}{mark}{origin}"
        )
    chosen = next(r for r in report["candidates"] if r["chosen"])
    lines.append(
        f"chosen: {chosen['tile']} tiles — {chosen['tiles']} per frame, {chosen['work_overhead']:.3f}× the frame's "
        f"pixels (least possible with {chosen['tiles']} tiles: {chosen['least_work_overhead']:.3f}×), "
        f"{lat} {_ms(chosen['frame_ms'])} ms per frame ({chosen['fps']:.3f} FPS), {mem} {chosen['memory_mb']:.0f} MB"
    )
    if board:
        lo, hi = chosen["frame_ms_range"]
        lines.append(
            f"  PREDICTED range {_ms(lo)}–{_ms(hi)} ms per frame"
            + ("" if chosen["calibrated"] else "; partly UNCALIBRATED: " + "; ".join(chosen["uncalibrated"]))
        )
    comp = report["comparison"]
    if comp:
        lines.append(
            f"vs the default {comp['reference']} export: {comp['work_overhead'][1]:.3f}× the frame's pixels and "
            f"{_ms(comp['frame_ms'][1])} ms per frame; the chosen plan takes {comp['latency_ratio']:.2f}× its "
            f"frame latency ({lat})"
        )
    lines += [f"latency: {report['how']['latency']}", f"memory: {report['how']['memory']}"]
    if report.get("export"):
        lines.append(f"exported {chosen['tile']} to {report['export']['out_dir']}")
    lines += [f"note: {note}" for note in report["notes"]]
    return "\n".join(lines)
