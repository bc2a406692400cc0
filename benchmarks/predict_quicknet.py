"""Predicted vs published latency: LCE's QuickNet table and XNNPACK's MobileNet table.

    python benchmarks/predict_quicknet.py [--zoo tests/data/lce-zoo] [--json]

Prints, for every published cell, the model's PREDICTED time (with its range) next to the figure
measured on the real board, and whether the cell was used to fit constants ("fit") or is only a
check ("check"). QuickNet is the check the latency model must pass (within ±20 %); it is never
fitted. Bi-RealNet (float stem, stride-2 binary convs, float shortcut convs) is a second check
outside the QuickNet family, shown next to a strawman that only scales binary MACs. Nothing here
is timed on this machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bnn_deploy.prediction import boards as B
from bnn_deploy.prediction import predict
from bnn_deploy.prediction import published as P
from bnn_deploy.prediction.calibration import birealnet, float_checks, load_quicknets, total_ms
from bnn_deploy.prediction.predict import describe_graph


def quicknet_rows(zoo: Path) -> list[dict]:
    """One row per published QuickNet cell: model, device, threads, published, predicted, range, role."""
    rows = []
    for model, cells in P.LCE_QUICKNET["ms"].items():
        for (device, threads), published in cells.items():
            (p,) = predict(Path(zoo) / f"{model}.tflite", devices=[device], threads=[threads])["predictions"]
            rows.append(
                {
                    "model": model,
                    "device": device,
                    "threads": threads,
                    "published_ms": published,
                    "predicted_ms": p["predicted_ms"],
                    "low_ms": p["low_ms"],
                    "high_ms": p["high_ms"],
                    "binary_share": p["binary_share"],
                    "error_pct": 100 * (p["predicted_ms"] - published) / published,
                    "role": "check" if model in P.QUICKNET_CHECK else "fit",
                }
            )
    return rows


def naive_binary_mac_scaling(zoo: Path, device: str, threads: int, binary_macs: float) -> float:
    """The strawman the check cannot rule out: ms = a + b * binary MACs, fitted on Small and Large."""
    graphs = load_quicknets(zoo)
    (x0, y0), (x1, y1) = [
        (describe_graph(graphs[m])["binary_macs"], P.LCE_QUICKNET["ms"][m][(device, threads)]) for m in P.QUICKNET_FIT
    ]
    return y0 + (y1 - y0) * (binary_macs - x0) / (x1 - x0)


def extra_rows(zoo: Path) -> list[dict]:
    """Independent checks outside the QuickNet family, with the naive scaling next to the model."""
    rows = []
    graphs = {"QuickNet": load_quicknets(zoo)["QuickNet"], "BiRealNet": birealnet()}
    published = {"QuickNet": P.LCE_QUICKNET["ms"]["QuickNet"], "BiRealNet": P.LCE_BIREALNET["ms"]}
    for model, graph in graphs.items():
        macs = describe_graph(graph)["binary_macs"]
        for (device, threads), ms in published[model].items():
            predicted = total_ms(graph, B.BOARDS[device], threads)
            naive = naive_binary_mac_scaling(zoo, device, threads, macs)
            rows.append(
                {
                    "model": model,
                    "device": device,
                    "threads": threads,
                    "published_ms": ms,
                    "predicted_ms": predicted,
                    "error_pct": 100 * (predicted - ms) / ms,
                    "naive_ms": naive,
                    "naive_error_pct": 100 * (naive - ms) / ms,
                }
            )
    return rows


def render(rows: list[dict], mobilenet: list[dict], extra: list[dict]) -> str:
    """Markdown tables (the form docs/predict.md shows)."""
    out = [
        "LCE QuickNet (published: larq/compute-engine README; LCE default kernel + XNNPACK)",
        "",
        "| model | board | threads | published ms | PREDICTED ms (range) | error | binary share | role |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['model']} | {r['device']} | {r['threads']} | {r['published_ms']:.1f} | "
            f"{r['predicted_ms']:.1f} ({r['low_ms']:.1f}–{r['high_ms']:.1f}) | {r['error_pct']:+.1f} % | "
            f"{100 * r['binary_share']:.0f} % | {r['role']} |"
        )
    out += [
        "",
        "XNNPACK MobileNet (published: google/XNNPACK README)",
        "",
        "| model | board | threads | published ms | PREDICTED ms | error | role |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in mobilenet:
        out.append(
            f"| {r['model']} | {r['device']} | {r['threads']} | {r['published_ms']:.0f} | "
            f"{r['predicted_ms']:.1f} | {r['error_pct']:+.1f} % | {'fit' if r['role'] == 'fitted' else 'check'} |"
        )
    out += [
        "",
        "Checks vs a strawman (ms = a + b * binary MACs, fitted on QuickNetSmall/Large)",
        "",
        "| model | board | threads | published ms | PREDICTED ms | error | strawman ms | strawman error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in extra:
        out.append(
            f"| {r['model']} | {r['device']} | {r['threads']} | {r['published_ms']:.1f} | "
            f"{r['predicted_ms']:.1f} | {r['error_pct']:+.1f} % | {r['naive_ms']:.1f} | "
            f"{r['naive_error_pct']:+.1f} % |"
        )
    return "\n".join(out)


def board_table() -> str:
    """The board constants as the markdown table docs/predict.md shows."""

    def caps(b):
        return f"{b.cores} (" + ", ".join(f"{c:.2g}" for c in b.core_capacity) + ")"

    rows = [
        ("core", lambda b: b.core),
        ("clock (GHz)", lambda b: f"{b.clock_ghz:g}"),
        ("cores (relative capacity)", caps),
        ("NEON bits / 128-bit ops per cycle", lambda b: f"{b.neon_bits} / {b.neon_q_per_cycle:g}"),
        ("L1D / L2 (+L3) KB", lambda b: f"{b.l1d_kb} / {b.l2_kb}"),
        ("DRAM GB/s, 1 core / all cores", lambda b: f"{b.dram_gbps:.2f} / {b.dram_gbps_all:.2f}"),
        ("L2 GB/s, 1 core", lambda b: f"{b.cache_gbps:g}"),
        ("LCE default kernel efficiency", lambda b: f"{b.bgemm_eff:.3f}"),
        (
            "binary GMAC/s per core, default / indirect_bgemm / reference",
            lambda b: " / ".join(f"{B.binary_gmacs(b, k):.0f}" for k in B.KERNELS),
        ),
        ("default kernel parallel efficiency", lambda b: f"{b.bin_par_eff:.3f}"),
        ("XNNPACK fp32 GMAC/s per core", lambda b: f"{b.f32_gmacs:.2f}"),
        ("XNNPACK parallel efficiency", lambda b: f"{b.f32_par_eff:.3f}"),
        ("XNNPACK int8 GMAC/s per core", lambda b: f"{b.i8_gmacs:.1f}"),
        ("overhead per op / per parallel op (µs)", lambda b: f"{b.op_overhead_us:g} / {b.sync_overhead_us:g}"),
        (
            "± binary / float / int8 / mem 1 core / mem all (%)",
            lambda b: " / ".join(
                f"{100 * b.relative_error(g):.0f}" for g in ("binary", "float", "int8", "memory", "memory_mt")
            ),
        ),
    ]
    out = ["| constant | " + " | ".join(B.BOARDS) + " |", "|---|" + "---|" * len(B.BOARDS)]
    out += [f"| {name} | " + " | ".join(f(b) for b in B.BOARDS.values()) + " |" for name, f in rows]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--zoo",
        type=Path,
        default=ROOT / "tests" / "data" / "lce-zoo",
        help="directory with QuickNetSmall/QuickNet/QuickNetLarge.tflite",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--boards", action="store_true", help="print the board constants table only")
    args = parser.parse_args(argv)
    if args.boards:
        print(board_table())
        return 0
    rows, mobilenet, extra = quicknet_rows(args.zoo), float_checks(), extra_rows(args.zoo)
    if args.json:
        print(
            json.dumps(
                {"label": "predicted vs published", "quicknet": rows, "mobilenet": mobilenet, "extra": extra}, indent=2
            )
        )
    else:
        print(render(rows, mobilenet, extra))
        checks = [r for r in rows if r["role"] == "check"]
        worst = max(abs(r["error_pct"]) for r in checks)
        print(
            f"\nQuickNet check (never fitted): worst error {worst:.1f} % "
            f"({'within' if worst <= 20 else 'OUTSIDE'} ±20 %)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
