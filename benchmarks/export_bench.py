"""Print LCE export wall time and artifact sizes per model (target: BBCU-L ×4, 64 feats, 16 blocks,
320×180 in under 30 s on a 2-core machine, conversion and parity check included).

    python benchmarks/export_bench.py                 # BBCU-L x4 at 320x180
    python benchmarks/export_bench.py --all           # + BBCU-M x2/x4, binary EDSR x2
    python benchmarks/export_bench.py --size 160x90 --formats lce,tflite-float

Models have random weights (seeded): export cost does not depend on what the weights learned.
The first export in a process also pays TensorFlow's import and graph-building warm-up, reported
separately.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

MODELS = {
    "bbcu_l_x4": ("bbcu_l", {"scale": 4, "num_feat": 64, "num_block": 16}),
    "bbcu_m_x2": ("bbcu_m", {"scale": 2, "num_feat": 64, "num_block": 16}),
    "bbcu_m_x4": ("bbcu_m", {"scale": 4, "num_feat": 64, "num_block": 16}),
    "binary_edsr_x2": ("binary_edsr", {"scale": 2, "n_feats": 64, "n_resblocks": 16}),
}


def bench(name: str, arch: str, config: dict, size: tuple[int, int], formats: list[str], workdir: str) -> dict:
    import torch

    from bnn_deploy.conversion.export import export_model
    from bnn_deploy.models.checkpoint import save_checkpoint
    from bnn_deploy.models.registry import create_model

    torch.manual_seed(0)
    ckpt = os.path.join(workdir, f"{name}.pt")
    save_checkpoint(ckpt, create_model(arch, **config))
    phases: list[tuple[float, str]] = []
    start = time.perf_counter()
    manifest = export_model(
        ckpt,
        formats=formats,
        input_sizes=[size],
        out_dir=os.path.join(workdir, name),
        progress=lambda msg: phases.append((time.perf_counter() - start, msg)),
    ).to_json()
    wall = time.perf_counter() - start
    return {"name": name, "wall": wall, "manifest": manifest, "phases": phases}


def report(result: dict) -> None:
    print(f"\n{result['name']}: export wall time {result['wall']:.1f} s")
    previous = 0.0
    for t, msg in result["phases"]:
        print(f"  {t:6.1f} s  (+{t - previous:4.1f})  {msg.strip()}")
        previous = t
    for art in result["manifest"]["artifacts"]:
        line = f"  {art['file']:<36} {art['size_bytes'] / 1024:9.1f} KB"
        if "binary_convs" in art:
            line += f"  bitpacked {art['binary_convs']['bitpacked']}/{art['binary_convs']['total']}"
        if "size" in art:
            s = art["size"]
            line += (
                f"  vs float ~{s['float_equivalent_bytes'] / 1024:.0f} KB ({s['ratio_vs_float']}x), "
                f"binary filters {s['binary_filter_ratio']}x"
            )
        par = art.get("parity", {})
        if "min_parity_psnr_db" in par:
            line += f"  parity {par['psnr_db']} dB"
        if "x86_seconds_per_image" in art:
            line += f"  x86 {art['x86_seconds_per_image']:.2f} s/img"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="also BBCU-M x2/x4 and binary EDSR x2")
    parser.add_argument("--size", default="320x180", help="LR input size WxH (default 320x180)")
    parser.add_argument("--formats", default="lce", help="comma-separated export formats (default lce)")
    args = parser.parse_args()

    from bnn_deploy.core.values import parse_size

    size = parse_size(args.size, "--size")
    names = list(MODELS) if args.all else ["bbcu_l_x4"]
    start = time.perf_counter()
    from bnn_deploy.core.tf import tensorflow

    tensorflow()
    import larq_compute_engine  # noqa: F401
    import torch  # noqa: F401

    print(
        f"imports (TensorFlow, LCE, torch): {time.perf_counter() - start:.1f} s; "
        f"{os.cpu_count()} cores; input {size[0]}x{size[1]}"
    )
    with tempfile.TemporaryDirectory(prefix="export-bench-") as workdir:
        for name in names:
            arch, config = MODELS[name]
            report(bench(name, arch, config, size, args.formats.split(","), workdir))


if __name__ == "__main__":
    main()
