"""Does a binary SR model pay off on the board? PREDICTED board latency next to MEASURED host latency.

    python benchmarks/board_payoff.py                    # paper sizes (64 features, 16 blocks), 320x180
    python benchmarks/board_payoff.py --size 96x64 --blocks 2   # a quick look

For BBCU-L and BBCU-M at x2 and x4 (random weights with non-zero biases, seeded: latency does not
depend on what the weights learned) and the float MSRResNet reference of the same width (float
TFLite and int8 TFLite), each model is exported at the LR size, then

* **measured on this host**: ``bnn-deploy bench``'s host bench, 1 thread (LCE: the fastest kernel
  with identical output; TFLite: XNNPACK), median ms;
* **predicted** on pi4, pi5 and pixel1 at 1 and 4 threads by ``bnn_deploy.prediction.predict``
  (LCE's default kernel + XNNPACK, as LCE's published board figures), with the range and the
  binary vs float-glue share.

The last column compares each binary model with the int8 reference board by board: "binary" when
its whole predicted range is below int8's, "int8" when above, "either" when the ranges overlap —
the table never picks a winner the ranges cannot support. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

BOARDS = ("pi4", "pi5", "pixel1")
THREADS = (1, 4)


def _checkpoint(arch: str, scale: int, feat: int, blocks: int, folder: str) -> str:
    import torch

    from bnn_deploy.models.checkpoint import save_checkpoint
    from bnn_deploy.models.registry import create_model

    torch.manual_seed(0)
    model = create_model(arch, scale=scale, num_feat=feat, num_block=blocks)
    with torch.no_grad():  # trained models have non-zero biases: they keep the glue the converter cannot drop
        for name, p in model.named_parameters():
            if p.dim() == 4 and p.shape[0] == 1 or name.endswith(("bias", "pr_prelu.weight")):
                p.add_(torch.randn(p.shape) * 0.05)
    path = os.path.join(folder, f"{arch}_x{scale}.pt")
    save_checkpoint(path, model)
    return path


def _export(scale: int, feat: int, blocks: int, size: tuple[int, int], folder: str) -> dict[str, str]:
    """``{row name: export dir}``: BBCU-L, BBCU-M (lce) and MSRResNet as float and int8 (float-ref of BBCU-M)."""
    from bnn_deploy.conversion.export import export_model

    ref = _checkpoint("msrresnet", scale, feat, blocks, folder)
    out = {}
    for arch in ("bbcu_l", "bbcu_m"):
        ckpt = _checkpoint(arch, scale, feat, blocks, folder)
        formats = ["lce"] + (["tflite-int8"] if arch == "bbcu_m" else [])
        target = os.path.join(folder, f"{arch}_x{scale}")
        print(f"exporting {arch} x{scale} ({feat} features, {blocks} blocks) at {size[0]}x{size[1]}", file=sys.stderr)
        export_model(
            ckpt,
            formats=formats,
            input_sizes=[size],
            out_dir=target,
            parity_photos=1,
            float_ref=ref if arch == "bbcu_m" else None,
            min_parity_db=40,
        )
        out[arch] = target
    target = os.path.join(folder, f"msrresnet_x{scale}")
    export_model(ref, formats=["tflite-float"], input_sizes=[size], out_dir=target, parity_photos=1)
    out["msrresnet"] = target
    return out


def _host_ms(export_dir: str) -> dict[tuple[str, str], float]:
    """``{(format, role): median ms}`` from the host bench, 1 thread."""
    from bnn_deploy.benchmarking.host import bench_export
    from bnn_deploy.benchmarking.options import BenchOptions

    report = bench_export(export_dir, BenchOptions(threads=[1], warmup=1, runs=5, max_secs=60))
    return {
        (r["format"], r["role"]): r["latency_ms"]["median"]
        for r in report["results"]
        if r.get("latency_ms") and r["format"] != "pytorch"
    }


def _predicted(export_dir: str, fmt: str) -> dict[tuple[str, int], dict]:
    from bnn_deploy.prediction import predict

    result = predict(export_dir, devices=list(BOARDS), threads=list(THREADS), formats=(fmt,))
    return {(p["device"], p["threads"]): p for p in result["predictions"]}


def _ms(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def _cell(p: dict) -> str:
    return f"{_ms(p['predicted_ms'])} ({_ms(p['low_ms'])}–{_ms(p['high_ms'])}), binary {100 * p['binary_share']:.0f} %"


def _verdict(binary: dict, int8: dict) -> str:
    if binary["high_ms"] < int8["low_ms"]:
        return "binary"
    if binary["low_ms"] > int8["high_ms"]:
        return "int8"
    return "either"


def main() -> None:
    from bnn_deploy.core.values import parse_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--scales", default="2,4")
    parser.add_argument("--workdir", default=None, help="keep the exports here (default: a temp dir)")
    args = parser.parse_args()
    size = parse_size(args.size, "--size")
    rows = []
    with tempfile.TemporaryDirectory(prefix="board-payoff-") as tmp:
        work = args.workdir or tmp
        for scale in (int(s) for s in args.scales.split(",")):
            exports = _export(scale, args.features, args.blocks, size, work)
            measured = {name: _host_ms(path) for name, path in exports.items()}
            int8 = _predicted(exports["bbcu_m"], "tflite-int8")
            for name, fmt, role, label in (
                ("bbcu_l", "lce", "binary", f"BBCU-L ×{scale} (LCE)"),
                ("bbcu_m", "lce", "binary", f"BBCU-M ×{scale} (LCE)"),
                ("msrresnet", "tflite-float", "binary", f"MSRResNet ×{scale} float"),
                ("bbcu_m", "tflite-int8", "float-ref", f"MSRResNet ×{scale} int8"),
            ):
                pred = int8 if fmt == "tflite-int8" else _predicted(exports[name], fmt)
                host = measured[name].get((fmt, role))
                cells = [_cell(pred[(b, t)]) for b in BOARDS for t in THREADS]
                verdict = (
                    ", ".join(f"{b}: {_verdict(pred[(b, 1)], int8[(b, 1)])}" for b in BOARDS) if fmt == "lce" else ""
                )
                rows.append(f"| {label} | {_ms(host)} | " + " | ".join(cells) + f" | {verdict} |")
    head = ["MEASURED host, 1 thr"] + [f"PREDICTED {b} {t} thr" for b in BOARDS for t in THREADS]
    print(
        f"LR {size[0]}x{size[1]}, {args.features} features, {args.blocks} blocks; ms; predicted cells: "
        "value (range), binary share of the predicted time"
    )
    print("| model | " + " | ".join(head) + " | vs int8, 1 thread (PREDICTED) |")
    print("|---" * (len(head) + 2) + "|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
