"""The bench's timing overhead over a bare interpreter loop (target: <= 5 %).

    python benchmarks/bench_overhead.py                 # bundled model (or a small random BBCU-M) at 160x90
    python benchmarks/bench_overhead.py --size 320x180 --rounds 5 --runs 20

What is compared, on one LCE flatbuffer and one float TFLite file of the same model, in one process:

* bare: the interpreter's own call in a plain loop, timed as a whole —
  ``for _ in range(n): interpreter.predict([x])`` (LCE) or ``SetTensor; Invoke; GetTensor``
  (TFLite); mean = total / n;
* bench: :func:`bnn_deploy.runtimes.base.time_runs` over the runner's ``predict`` — what
  ``bnn-deploy bench``'s worker measures (per-run ``perf_counter`` pairs, input checks, the
  runner's wrapper); mean of its samples.

Rounds alternate bare and bench (and which goes first) so drift in the shared machine's load and
order effects hit both; the figure is the median over rounds of (bench mean / bare mean - 1).
Process start-up, imports and loading are not part of either (the bench reports them separately as
init time).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def _export(size: tuple[int, int], workdir: str) -> str:
    from bnn_deploy.conversion.export import export_model
    from bnn_deploy.models.checkpoint import save_checkpoint
    from bnn_deploy.models.registry import create_model
    from bnn_deploy.models.zoo import DEFAULT_MODEL, bundled_path

    ckpt = bundled_path(DEFAULT_MODEL)
    if not ckpt.exists():
        import torch

        torch.manual_seed(0)
        ckpt = os.path.join(workdir, "bbcu_m_small.pt")
        save_checkpoint(ckpt, create_model("bbcu_m", scale=2, num_feat=32, num_block=4))
    out = os.path.join(workdir, "export")
    export_model(
        str(ckpt), formats=("lce", "tflite-float"), input_sizes=(size,), out_dir=out, parity_photos=1, num_threads=1
    )
    return out


def _bare_lce(path: str, kernel: str):
    from bnn_deploy.runtimes.lce import KERNELS, _wrapper_module

    data = open(path, "rb").read()
    interp = _wrapper_module().LiteInterpreter(data, 1, *KERNELS[kernel])

    def loop(x, n):
        start = time.perf_counter()
        for _ in range(n):
            interp.predict([x])
        return (time.perf_counter() - start) * 1e3 / n

    loop.keep = data
    return loop


def _bare_tflite(path: str):
    from bnn_deploy.runtimes.tflite import KERNELS, _wrapper_module

    data = open(path, "rb").read()
    interp = _wrapper_module().CreateWrapperFromBuffer(data, KERNELS["xnnpack"], [], [], False, False)
    interp.SetNumThreads(1)
    interp.AllocateTensors()
    inp, out = interp.InputIndices()[0], interp.OutputIndices()[0]

    def loop(x, n):
        start = time.perf_counter()
        for _ in range(n):
            interp.SetTensor(inp, x)
            interp.Invoke()
            interp.GetTensor(out)
        return (time.perf_counter() - start) * 1e3 / n

    loop.keep = data
    return loop


def compare(label: str, bare, runner, x: np.ndarray, rounds: int, runs: int) -> dict:
    from bnn_deploy.runtimes.base import time_runs

    bare(x, 2)  # warm both up once
    time_runs(runner.predict, x, warmup=1, runs=1)
    ratios, bare_ms, bench_ms = [], [], []
    for i in range(rounds):
        if i % 2:  # alternate which goes first, so an order effect (caches, clock) cancels out
            m = float(np.mean(time_runs(runner.predict, x, warmup=0, runs=runs)["runs_ms"]))
            b = bare(x, runs)
        else:
            b = bare(x, runs)
            m = float(np.mean(time_runs(runner.predict, x, warmup=0, runs=runs)["runs_ms"]))
        bare_ms.append(b)
        bench_ms.append(m)
        ratios.append(m / b - 1.0)
    # The noise-free part: what the timed region adds besides the interpreter call (input check,
    # the runner's Python wrapper, one perf_counter), timed on many calls without the interpreter.
    per_call = time_runs(lambda v: runner.check_input(v), x, warmup=100, runs=20000)["runs_ms"]
    wrapper_us = 1e3 * float(np.median(per_call))
    row = {
        "artifact": label,
        "wrapper_us": wrapper_us,
        "bare_mean_ms": float(np.median(bare_ms)),
        "bench_mean_ms": float(np.median(bench_ms)),
        "overhead_pct": 100.0 * float(np.median(ratios)),
        "per_round_pct": [round(100 * r, 2) for r in ratios],
    }
    print(
        f"{label:<28} bare {row['bare_mean_ms']:9.3f} ms   bench {row['bench_mean_ms']:9.3f} ms   "
        f"overhead {row['overhead_pct']:+6.2f} %  (rounds: {', '.join(f'{r:+.1f}' for r in row['per_round_pct'])})"
    )
    print(
        f"{'':<28} bookkeeping inside the timed region: {wrapper_us:.2f} us per run = "
        f"{100 * wrapper_us / 1e3 / row['bare_mean_ms']:.4f} % of a run"
    )
    return row


def main() -> int:
    from bnn_deploy.core.exports import read_export
    from bnn_deploy.core.photos import bench_input
    from bnn_deploy.core.values import parse_size
    from bnn_deploy.runtimes.lce import open_lce
    from bnn_deploy.runtimes.tflite import open_tflite

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="160x90", help="LR input WxH")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--export-dir", default=None, help="use this export instead of exporting one")
    args = parser.parse_args()
    w, h = parse_size(args.size, "--size")
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as workdir:
        export_dir = args.export_dir or _export((w, h), workdir)
        exp = read_export(export_dir)
        lce, flt = exp.of("lce")[0], exp.of("tflite-float")[0]
        x = bench_input(tuple(lce.input_hw), exp.scale)
        print(f"{export_dir}: {lce.input_hw[1]}x{lce.input_hw[0]}, 1 thread, {args.rounds} rounds x {args.runs} runs")
        rows = [
            compare(
                "lce (indirect_bgemm+xnnpack)",
                _bare_lce(lce.file, "indirect_bgemm+xnnpack"),
                open_lce(lce.file, kernel="indirect_bgemm+xnnpack"),
                x,
                args.rounds,
                args.runs,
            ),
            compare("tflite-float (xnnpack)", _bare_tflite(flt.file), open_tflite(flt.file), x, args.rounds, args.runs),
        ]
    worst = max(r["overhead_pct"] for r in rows)
    print(f"worst overhead {worst:+.2f} % ({'meets' if worst <= 5.0 else 'misses'} the 5 % target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
