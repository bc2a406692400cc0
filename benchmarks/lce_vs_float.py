"""LCE (best kernel) vs float TFLite with XNNPACK, single thread, on this host (target: LCE >= 1.5x).

    python benchmarks/lce_vs_float.py                       # bundled model + BBCU-M x2 (64 feats, 16 blocks)
    python benchmarks/lce_vs_float.py --models bbcu_m_x2 --size 320x180 --runs 5

Each model is exported at the LR size to ``lce`` and ``tflite-float`` (the same binary network run
by stock float kernels: sign as a float select, ±alpha filters as float convs). Then, in one fresh
process per artifact (``bnn_deploy.runtimes.worker``, as ``bnn-deploy bench`` does):

* LCE: :func:`bnn_deploy.runtimes.lce.choose_kernel` times every kernel option and keeps the
  fastest whose output is identical to the default kernel's; all options are printed;
* float TFLite: TensorFlow's interpreter with its default XNNPACK delegate.

The printed speed-up is float median / LCE median. BBCU-M x2 has random weights (seeded): speed
does not depend on what the weights learned. On x86 LCE's bconv kernels are portable C++ (no
AVX2/AVX-512 BGEMM), while XNNPACK's float kernels are hand-vectorised for this CPU — that, plus
the float ops every BBCU unit keeps (PReLU, biases, residual adds, the float first/last convs),
is what limits the ratio here; on ARM boards LCE's NEON kernels do far better.
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
    "bundled": None,  # bnn_deploy.models.zoo.DEFAULT_MODEL
    "bbcu_m_x2": ("bbcu_m", {"scale": 2, "num_feat": 64, "num_block": 16}),
}


def _checkpoint(name: str, workdir: str) -> str:
    from bnn_deploy.models.checkpoint import save_checkpoint
    from bnn_deploy.models.registry import create_model
    from bnn_deploy.models.zoo import DEFAULT_MODEL, bundled_path

    if MODELS[name] is None:
        path = bundled_path(DEFAULT_MODEL)
        if not path.exists():
            raise SystemExit(f"{path} is missing: train the zoo first (scripts/train_zoo.py)")
        return str(path)
    import torch

    torch.manual_seed(0)
    arch, config = MODELS[name]
    path = os.path.join(workdir, f"{name}.pt")
    save_checkpoint(path, create_model(arch, **config))
    return path


def _worker(spec: dict, workdir: str, tag: str) -> dict:
    from pathlib import Path

    from bnn_deploy.runtimes.isolated import run_worker

    return run_worker(spec, Path(workdir), tag)


def measure(name: str, size: tuple[int, int], runs: int, rounds: int, max_secs: float, workdir: str) -> dict:
    from dataclasses import asdict

    from bnn_deploy.conversion.export import export_model
    from bnn_deploy.core.exports import read_export
    from bnn_deploy.core.photos import bench_input
    from bnn_deploy.runtimes.base import latency_stats

    w, h = size
    ckpt = _checkpoint(name, workdir)
    out = os.path.join(workdir, f"{name}_export")
    t0 = time.perf_counter()
    export_model(
        ckpt, formats=("lce", "tflite-float"), input_sizes=(size,), out_dir=out, parity_photos=1, num_threads=1
    )
    print(f"{name}: exported {w}x{h} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    exp = read_export(out)
    x_path = os.path.join(workdir, f"{name}_input.npy")
    np.save(x_path, bench_input((h, w), exp.scale))
    lce, flt = exp.of("lce")[0], exp.of("tflite-float")[0]
    base = {
        "runtime": None,
        "threads": 1,
        "input": x_path,
        "photos": None,
        "scale": exp.scale,
        "overlap": 16,
        "warmup": 1,
        "runs": runs,
        "max_secs": max_secs,
        "select_runs": runs,
    }
    choice = _worker(dict(base, artifact=asdict(lce), runtime="lce", select_kernel=True), workdir, f"{name}_sel")
    if "error" in choice:
        raise SystemExit(f"{name}: kernel selection failed: {choice['error']}")
    samples = {"lce": [], "float": []}
    for _ in range(rounds):  # alternate the two so drift in the machine's load hits both
        for label, art, runtime, kernel in (("lce", lce, "lce", choice["kernel"]), ("float", flt, "tflite", "xnnpack")):
            res = _worker(dict(base, artifact=asdict(art), runtime=runtime, kernel=kernel), workdir, f"{name}_{label}")
            if "error" in res:
                raise SystemExit(f"{name} {label}: {res['error']}")
            samples[label] += res["runs_ms"]
    lce_stats, float_stats = latency_stats(samples["lce"]), latency_stats(samples["float"])
    return {
        "model": name,
        "size": f"{w}x{h}",
        "kernel_choice": choice,
        "lce": {"kernel": choice["kernel"], **lce_stats},
        "float_xnnpack": {"kernel": "xnnpack", **float_stats},
        "speedup": float_stats["median"] / lce_stats["median"],
        "speedup_min": float_stats["min"] / lce_stats["min"],
    }


def main() -> int:
    from bnn_deploy.core.values import parse_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="bundled,bbcu_m_x2", help=f"comma-separated: {', '.join(MODELS)}")
    parser.add_argument("--size", default="320x180", help="LR input WxH")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per process")
    parser.add_argument("--rounds", type=int, default=2, help="processes per artifact, LCE and float alternating")
    parser.add_argument("--max-secs", type=float, default=60.0)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    size = parse_size(args.size, "--size")
    rows = []
    with tempfile.TemporaryDirectory(prefix="lce-vs-float-") as workdir:
        for name in args.models.split(","):
            row = measure(name.strip(), size, args.runs, args.rounds, args.max_secs, workdir)
            rows.append(row)
            print(f"\n{row['model']} at {row['size']}, 1 thread")
            for c in row["kernel_choice"]["candidates"]:
                flag = "identical" if c["identical"] else f"differs by {c['max_abs_diff']:.2g}"
                print(
                    f"  LCE {c['kernel']:<24} min {c['min_ms']:9.1f} ms, median {c['median_ms']:9.1f} ms "
                    f"over {c['runs']} interleaved runs  ({flag})"
                )
            print(
                f"  LCE best = {row['lce']['kernel']:<17} median {row['lce']['median']:9.1f} ms "
                f"(min {row['lce']['min']:.1f}, {row['lce']['runs']} runs)"
            )
            print(
                f"  float TFLite XNNPACK         median {row['float_xnnpack']['median']:9.1f} ms "
                f"(min {row['float_xnnpack']['min']:.1f}, {row['float_xnnpack']['runs']} runs)"
            )
            verdict = "meets" if row["speedup"] >= 1.5 else "misses"
            print(
                f"  speed-up LCE vs float: {row['speedup']:.2f}x by median, {row['speedup_min']:.2f}x by min "
                f"({verdict} the 1.5x target)"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
