"""Latency vs quality scatter of a bench report, drawn with Pillow (no plotting dependency).

x: median latency in ms on a log10 axis (runtimes differ by orders of magnitude); y: mean PSNR
vs HR on the held-out photos in dB. One labelled point per artifact run; bicubic's PSNR is a
dashed line (the quality you get for free). The PNG is written atomically.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import atomic_path

WIDTH, HEIGHT = 960, 600
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 80, 30, 50, 60
COLOURS = {
    "lce": (200, 30, 30),
    "lce-int8": (230, 120, 30),
    "tflite-float": (30, 90, 200),
    "tflite-int8": (120, 60, 170),
    "onnx": (20, 150, 80),
    "pytorch": (90, 90, 90),
}


def _nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (steps of 1, 2 or 5 × 10^k)."""
    span = max(hi - lo, 1e-9)
    raw = span / count
    step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _place_label(draw, text: str, u: float, v: float, placed: list) -> tuple[float, float, float, float]:
    """A box for ``text`` right of point ``(u, v)``, shifted up/down until it overlaps no earlier label.

    Labels left of the point when the right side would leave the image. ``placed`` is extended.
    """
    x0, y0, x1, y1 = draw.textbbox((0, 0), text)
    w, h = x1 - x0, y1 - y0 + 4
    left = u + 8 if u + 8 + w <= WIDTH - 2 else u - 8 - w
    for k in range(40):
        dy = (k + 1) // 2 * h * (1 if k % 2 else -1)
        box = (left, v - h / 2 + dy, left + w, v + h / 2 + dy)
        if box[1] < 0 or box[3] > HEIGHT:
            continue
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            break
    placed.append(box)
    return box


def plot_latency_psnr(report: dict, path: str | os.PathLike) -> str:
    """Draw the scatter for ``report`` (see :func:`bnn_deploy.benchmarking.host.bench_export`) into ``path``."""
    from PIL import Image, ImageDraw

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise BnnDeployError(f"--plot {path}: the plot is a PNG; give a path ending in .png")
    from bnn_deploy.benchmarking.report import typical_ms

    # Median latency; the mean for a runner without per-run times (lce_benchmark_model on a board).
    points = [
        (typical_ms(r["latency_ms"])[0], r["quality"]["psnr_db"], r)
        for r in report["results"]
        if r.get("latency_ms") and isinstance((r.get("quality") or {}).get("psnr_db"), (int, float))
    ]
    if not points:
        raise BnnDeployError("no artifact ran successfully, so there is nothing to plot; see the errors above")
    # bench --predict: hollow points with their range, labelled PREDICTED (never drawn like a measurement)
    predicted = [
        (r["predicted_ms"], r["quality"]["psnr_db"], r)
        for r in report.get("predicted") or []
        if isinstance((r.get("quality") or {}).get("psnr_db"), (int, float))
    ]
    bicubic = report.get("bicubic", {}).get("psnr_db")
    xs = [math.log10(max(p[0], 1e-3)) for p in points]
    ys = [p[1] for p in points] + ([bicubic] if isinstance(bicubic, (int, float)) else [])
    spans = [math.log10(max(v, 1e-3)) for _, _, r in predicted for v in (r["low_ms"], r["high_ms"])]
    ys += [p[1] for p in predicted]
    x_lo, x_hi = min(xs + spans) - 0.15, max(xs + spans) + 0.15
    y_lo, y_hi = min(ys) - 0.5, max(ys) + 0.5

    def px(lx: float, y: float) -> tuple[float, float]:
        u = MARGIN_L + (lx - x_lo) / (x_hi - x_lo) * (WIDTH - MARGIN_L - MARGIN_R)
        v = HEIGHT - MARGIN_B - (y - y_lo) / (y_hi - y_lo) * (HEIGHT - MARGIN_T - MARGIN_B)
        return u, v

    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = MARGIN_L, MARGIN_T, WIDTH - MARGIN_R, HEIGHT - MARGIN_B
    # 1-2-5 ticks over several decades; every integer multiple when the points span less than ~1.5.
    mults = (1, 2, 5) if x_hi - x_lo >= 1.5 else (1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9)
    for exp10 in range(math.floor(x_lo), math.ceil(x_hi) + 1):
        for mult in mults:
            lx = exp10 + math.log10(mult)
            if x_lo <= lx <= x_hi:
                u, _ = px(lx, y_lo)
                draw.line([(u, top), (u, bottom)], fill=(225, 225, 225))
                draw.text((u - 10, bottom + 6), f"{mult * 10**exp10:g}", fill="black")
    for y in _nice_ticks(y_lo, y_hi):
        _, v = px(x_lo, y)
        draw.line([(left, v), (right, v)], fill=(225, 225, 225))
        draw.text((left - 40, v - 6), f"{y:.1f}", fill="black")
    draw.rectangle([left, top, right, bottom], outline="black")
    if isinstance(bicubic, (int, float)):
        _, v = px(x_lo, bicubic)
        for u in range(left, right, 12):
            draw.line([(u, v), (min(u + 6, right), v)], fill=(150, 150, 150))
        draw.text((right - 150, v - 14), f"bicubic {bicubic:.2f} dB", fill=(110, 110, 110))
    # Labels avoid every marker and each other.
    placed: list[tuple[float, float, float, float]] = [
        (u - 6, v - 6, u + 6, v + 6) for u, v in (px(lx, p[1]) for lx, p in zip(xs, points))
    ]
    for lx, (lat, psnr, row) in sorted(zip(xs, points), key=lambda p: (p[1][1], p[0])):
        u, v = px(lx, psnr)
        colour = COLOURS.get(row["format"], (0, 0, 0))
        if row["threads"] > 1:  # squares for multi-threaded runs, circles for one thread
            draw.rectangle([u - 5, v - 5, u + 5, v + 5], fill=colour)
        else:
            draw.ellipse([u - 5, v - 5, u + 5, v + 5], fill=colour)
        stat = typical_ms(row["latency_ms"])[1]
        text = f"{row['name']} {row['threads']}t ({lat:.3g} ms{'' if stat == 'median' else ' mean'})"
        box = _place_label(draw, text, u, v, placed)
        if box[1] > v + 2 or box[3] < v - 2:  # moved off the point: a leader line shows whose it is
            draw.line([(u, v), (box[0], (box[1] + box[3]) / 2)], fill=(180, 180, 180))
        draw.text((box[0], box[1]), text, fill=colour)
    for lat, psnr, row in predicted:
        colour = COLOURS.get(row["format"], (0, 0, 0))
        u, v = px(math.log10(max(lat, 1e-3)), psnr)
        u0, _ = px(math.log10(max(row["low_ms"], 1e-3)), psnr)
        u1, _ = px(math.log10(max(row["high_ms"], 1e-3)), psnr)
        draw.line([(u0, v), (u1, v)], fill=colour)  # the predicted range
        draw.ellipse([u - 5, v - 5, u + 5, v + 5], outline=colour, width=2)  # hollow: not a measurement
        text = f"PREDICTED {row['name']} {row['device']} {row['threads']}t ({lat:.3g} ms)"
        box = _place_label(draw, text, u, v, placed)
        draw.text((box[0], box[1]), text, fill=colour)
    draw.text(
        (left, 15),
        "latency vs quality: median latency (ms, log scale) vs PSNR on held-out photos (dB)"
        + ("; hollow = PREDICTED board latency with its range" if predicted else ""),
        fill="black",
    )
    draw.text(((left + right) // 2 - 60, HEIGHT - 25), "median latency (ms)", fill="black")
    draw.text((8, top - 20), "PSNR dB", fill="black")
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return str(path)
