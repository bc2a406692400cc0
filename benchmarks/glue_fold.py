"""LCE before vs after folding the float glue: ops, size, parity and latency on this host.

    python benchmarks/glue_fold.py                          # BBCU-L x2 and BBCU-M x2, 64 feats, 16 blocks
    python benchmarks/glue_fold.py --models bbcu_l_x2 --rounds 9 --size 320x180

Each model is built in the official BBCU layout with BasicSR's initialisation (seeded) and then given
random non-zero learnable biases and PReLU slopes (``move0``, ``pr_bias0``, ``pr_bias1``, conv biases),
as a trained model has: with an untrained checkpoint's zero biases the converter drops two of the three
ADDs per unit by itself and the glue would look cheaper than it is. (``tests/conftest.py``'s
``randomize_`` also randomises every weight; a 16-block network like that is chaotic — near-zero
sign flips from float rounding grow to a 40 dB parity — so the weights keep their initialisation.)

Every model is exported by ``bnn_deploy.conversion.export.export_model`` twice, ``fold=False`` (the
graph as it was before folding) and ``fold=True`` (``lce`` and ``lce-int8``: int8 head/tail convs),
with parity vs PyTorch checked on a photo (for ``lce-int8`` it is quantization error; random weights
make PSNR vs HR meaningless here — ``benchmarks/int8_glue.py`` measures quality on trained models).
Then all flatbuffers are loaded into LCE's interpreter in this one process (``--kernel``, default
``indirect_bgemm+xnnpack``, the fastest on x86; 1 thread) and run alternately, A B A B ..., so a
change in the machine's load hits both alike; the table gives the minimum (least disturbed) and the
median per variant. Float glue = ADD/SUB/MUL/DIV/depthwise ops (besides PRELU and LceQuantize), per
binary unit as counted by :func:`bnn_deploy.core.glue.glue_profile`.

Last, the PREDICTED Raspberry Pi 4 latency of the unfolded and the folded ``lce`` flatbuffer
(``bnn_deploy.prediction.predict``: a per-op model of LCE/XNNPACK kernels and published board
figures, ``docs/predict.md``; LCE's default kernel, ``--predict-threads``) and the gain of the fold
it implies. These are predictions, not measurements, and are labelled so. ``lce-int8`` is not
predicted: the board model has no int8 calibration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

MODELS = {
    "bbcu_l_x2": ("bbcu_l", {"scale": 2, "num_feat": 64, "num_block": 16}),
    "bbcu_m_x2": ("bbcu_m", {"scale": 2, "num_feat": 64, "num_block": 16}),
    "bbcu_l_x4": ("bbcu_l", {"scale": 4, "num_feat": 64, "num_block": 16}),
    "bbcu_m_x4": ("bbcu_m", {"scale": 4, "num_feat": 64, "num_block": 16}),
}


def nonzero_biases_(model, seed: int = 1):
    """Random non-zero biases/thresholds (N(0, 0.1)), conv biases (N(0, 0.05)) and PReLU slopes (U(0, 0.5))."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("pr_prelu.weight"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5)
            elif p.dim() == 4 and p.shape[0] == 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.dim() == 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return model.eval()


def checkpoint(name: str, workdir: str) -> str:
    import torch

    from bnn_deploy.models.checkpoint import save_checkpoint
    from bnn_deploy.models.registry import create_model

    arch, config = MODELS[name]
    torch.manual_seed(0)
    path = os.path.join(workdir, f"{name}.pt")
    save_checkpoint(path, nonzero_biases_(create_model(arch, **config)))
    return path


def export_variants(ckpt: str, size, fold: bool, int8: bool, workdir: str, tag: str) -> list[dict]:
    from dataclasses import asdict

    from bnn_deploy.conversion.export import export_model

    out = os.path.join(workdir, tag)
    formats = ("lce", "lce-int8") if int8 else ("lce",)
    result = export_model(
        ckpt, formats=formats, input_sizes=(size,), out_dir=out, parity_photos=1, num_threads=1, fold=fold
    )
    rows = []
    for art in result.manifest.artifacts:
        label = "lce-int8" if art.format == "lce-int8" else "lce folded" if fold else "lce unfolded"
        rows.append(
            {
                "variant": label,
                "path": os.path.join(out, art.file),
                "bytes": art.size_bytes,
                "histogram": art.op_histogram,
                "glue": asdict(art.float_glue),
                "parity_db": round(art.parity.psnr_db, 2),
            }
        )
    return rows


def predicted_pi4(variants: list[dict], threads: list[int]) -> list[dict]:
    """PREDICTED Pi 4 latency of the unfolded and folded lce flatbuffers, per thread count."""
    from bnn_deploy.prediction.predict import predict

    rows = []
    for v in variants:
        if v["variant"] not in ("lce unfolded", "lce folded"):
            continue
        for p in predict(v["path"], devices=("pi4",), threads=threads)["predictions"]:
            rows.append(
                {
                    "variant": v["variant"],
                    "threads": p["threads"],
                    "kernel": p["kernel"],
                    "label": p["label"],
                    "predicted_ms": p["predicted_ms"],
                    "low_ms": p["low_ms"],
                    "high_ms": p["high_ms"],
                    "calibrated": p["calibrated"],
                }
            )
    return rows


def time_interleaved(paths: list[str], x: np.ndarray, kernel: str, rounds: int) -> list[list[float]]:
    from bnn_deploy.runtimes.lce import open_lce

    runners = [open_lce(p, threads=1, kernel=kernel) for p in paths]
    xin = runners[0].check_input(x)
    for r in runners:  # warm-up: first runs allocate and pack
        r.predict(xin)
    samples: list[list[float]] = [[] for _ in runners]
    for _ in range(rounds):
        for i, r in enumerate(runners):
            t0 = time.perf_counter()
            r.predict(xin)
            samples[i].append((time.perf_counter() - t0) * 1000.0)
    return samples


def main() -> int:
    from bnn_deploy.core.values import parse_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="bbcu_l_x2,bbcu_m_x2", help=f"comma-separated: {', '.join(MODELS)}")
    parser.add_argument("--size", default="320x180", help="LR input WxH")
    parser.add_argument("--rounds", type=int, default=7, help="timed runs per variant, interleaved")
    parser.add_argument("--kernel", default="indirect_bgemm+xnnpack")
    parser.add_argument("--no-int8", action="store_true", help="leave out the lce-int8 variant")
    parser.add_argument("--predict-threads", default="1,4", help="thread counts of the PREDICTED Pi 4 latency")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    w, h = parse_size(args.size, "--size")
    predict_threads = [int(t) for t in args.predict_threads.split(",") if t.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="glue-fold-") as workdir:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            ckpt = checkpoint(name, workdir)
            variants = [
                v
                for fold in (False, True)
                for v in export_variants(
                    ckpt, (w, h), fold, fold and not args.no_int8, workdir, f"{name}_{'fold' if fold else 'nofold'}"
                )
            ]
            x = np.random.default_rng(0).random((1, h, w, 3), dtype=np.float32)
            samples = time_interleaved([v["path"] for v in variants], x, args.kernel, args.rounds)
            predicted = predicted_pi4(variants, predict_threads)
            for v, s in zip(variants, samples):
                v.update(min_ms=min(s), median_ms=float(np.median(s)), runs=len(s))
                del v["path"]
            base = variants[0]
            folded = next(v for v in variants if v["variant"] == "lce folded")
            for v in variants:
                v["speedup_vs_unfolded"] = base["min_ms"] / v["min_ms"]
                v["speedup_vs_folded"] = folded["min_ms"] / v["min_ms"]
            rows.append(
                {
                    "model": name,
                    "size": f"{w}x{h}",
                    "kernel": args.kernel,
                    "variants": variants,
                    "predicted_pi4": predicted,
                }
            )
            print_model(rows[-1])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


def calibration(*entries) -> str:
    return "calibrated" if all(e["calibrated"] for e in entries) else "not fully calibrated for this board/threads"


def print_model(row: dict) -> None:
    print(
        f"\n{row['model']} at {row['size']}, 1 thread, LCE kernel {row['kernel']} "
        f"({row['variants'][0]['runs']} interleaved runs each)"
    )
    print(
        f"  {'variant':<14} {'glue/unit':>9} {'glue total':>10} {'ADD':>4} {'MUL':>4} {'size KB':>8} "
        f"{'parity dB':>9} {'min ms':>8} {'median ms':>9} {'vs unfolded':>11} {'vs folded':>9}"
    )
    for v in row["variants"]:
        per = v["glue"]["per_unit_glue"]
        unit = f"{min(per)}-{max(per)}" if min(per) != max(per) else str(per[0])
        print(
            f"  {v['variant']:<14} {unit:>9} {v['glue']['glue_total']:>10} {v['histogram'].get('ADD', 0):>4} "
            f"{v['histogram'].get('MUL', 0):>4} {v['bytes'] / 1024:>8.1f} {v['parity_db']:>9} "
            f"{v['min_ms']:>8.1f} {v['median_ms']:>9.1f} {v['speedup_vs_unfolded']:>10.3f}x "
            f"{v['speedup_vs_folded']:>8.3f}x"
        )
    print("  (speed-ups compare minimum times; parity for lce-int8 is quantization error vs PyTorch)")
    pred = {(p["variant"], p["threads"]): p for p in row["predicted_pi4"]}
    for n in sorted({p["threads"] for p in row["predicted_pi4"]}):
        a, b = pred[("lce unfolded", n)], pred[("lce folded", n)]
        print(
            f"  PREDICTED Raspberry Pi 4, {n} thread{'s' if n > 1 else ''}, LCE kernel {a['kernel']}: "
            f"unfolded {a['predicted_ms']:.1f} ms ({a['low_ms']:.0f}–{a['high_ms']:.0f}) → folded "
            f"{b['predicted_ms']:.1f} ms ({b['low_ms']:.0f}–{b['high_ms']:.0f}): PREDICTED gain "
            f"{a['predicted_ms'] / b['predicted_ms']:.3f}x ({calibration(a, b)}; "
            "a prediction from bnn_deploy.prediction, not a measurement)"
        )


if __name__ == "__main__":
    sys.exit(main())
