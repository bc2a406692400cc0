"""Where BBCU-M x2's time goes on this host, op by op: the README's profile table.

    python benchmarks/profile_bbcu.py                          # 64 features, 16 blocks, 320x180, 1 thread
    python benchmarks/profile_bbcu.py --size 160x90 --trace bbcu.trace.json

An official-layout BBCU-M x2 checkpoint (BasicSR's ``{'params': state_dict}``; 64 features, 16
blocks; random non-zero biases, PReLU slopes and scales, seeded, as a trained model has: with the
zero biases of a fresh model two of the three ADDs per unit fold away) is exported to LCE at the
LR size and profiled with ``bnn_deploy.benchmarking.profile`` — each op cut out and timed alone in
LCE's interpreter, the bconv kernel without XNNPACK, per-invoke copies subtracted, CPU time of the
running thread — exactly what ``bnn-deploy profile EXPORT --kernel indirect_bgemm`` prints. The
script prints that report, then the Markdown summary the README shows (by op type, the binary /
float-glue split, the per-op sum against the whole graph, XNNPACK's effect on the whole graph).

``--kernel indirect_bgemm``: on x86 ``auto`` picks it or its XNNPACK variant (LCE's default bconv
kernel is ~4x slower here), and timing the default kernel at 320x180 alone takes a minute.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(__file__), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))  # support.models.randomize_: the tests' trained-like parameters


def export(size: tuple[int, int], num_feat: int, num_block: int, workdir: str) -> str:
    """The official-layout checkpoint, exported to LCE at ``size`` (W, H); returns the export folder."""
    import torch

    from bnn_deploy.conversion.export import export_model
    from bnn_deploy.models.registry import create_model
    from support.models import randomize_

    model = randomize_(create_model("bbcu_m", scale=2, num_feat=num_feat, num_block=num_block), seed=0)
    ckpt = os.path.join(workdir, f"BBCUMx2_{num_feat}f{num_block}b.pth")
    torch.save({"params": model.state_dict()}, ckpt)
    out = os.path.join(workdir, "export")
    # Random weights put some pre-sign values within float rounding of 0, where PyTorch and TFLite may
    # take different signs (54.8 dB at 320x180 seen); a timing profile does not depend on that.
    export_model(
        ckpt, formats=("lce",), input_sizes=(size,), out_dir=out, parity_photos=1, num_threads=1, min_parity_db=30
    )
    return out


def markdown(art: dict) -> str:
    """The README's table: by op type, then the split and the cross-checks."""
    lines = ["| op type | class | ops | ms | % |", "|---|---|---|---|---|"]
    lines += [
        f"| `{t['op']}` | {t['class']} | {t['count']} | {t['ms']:.1f} | {t['percent']:.1f} |" for t in art["by_type"]
    ]
    s, x = art["split"], art["xnnpack"]
    lines += [
        "",
        f"binary (`LceBconv2d`) {s['binary_percent']:.1f} % ({s['binary_ms']:.1f} ms), float glue "
        f"{s['glue_percent']:.1f} % ({s['glue_ms']:.1f} ms); sum of the ops {art['ops_sum_ms']:.1f} ms vs the "
        f"whole graph {art['whole_ms']:.1f} ms ({100 * art['agreement']:.0f} %); XNNPACK on the whole graph: "
        f"{x['without_ms']:.1f} → {x['with_ms']:.1f} ms ({x['saved_percent']:.1f} % saved).",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    from bnn_deploy.benchmarking.options import BenchOptions
    from bnn_deploy.benchmarking.profile import profile, render_profile
    from bnn_deploy.core.values import parse_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x180", help="LR input WxH (default 320x180)")
    parser.add_argument("--num-feat", type=int, default=64)
    parser.add_argument("--num-block", type=int, default=16)
    parser.add_argument("--kernel", default="indirect_bgemm")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trace", default=None, help="also write the Chrome trace-event JSON here")
    args = parser.parse_args(argv)
    size = parse_size(args.size, "--size")
    with tempfile.TemporaryDirectory(prefix="bnn-deploy-profile-") as workdir:
        t0 = time.perf_counter()
        folder = export(size, args.num_feat, args.num_block, workdir)
        print(f"exported in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        options = BenchOptions(
            threads=[args.threads], kernel=args.kernel, runs=args.runs, profile=True, trace=args.trace
        )
        t0 = time.perf_counter()
        report = profile(folder, options, progress=lambda m: print(m, file=sys.stderr))
        print(f"profiled in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print(render_profile(report))
    print()
    print(
        f"BBCU-M x2, {args.num_feat} features, {args.num_block} blocks, {args.size}, {args.threads} thread(s), "
        f"kernel {args.kernel}, {report['host']['cpu']}:"
    )
    print(markdown(report["artifacts"][0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
