"""Print the peak memory and wall time of ``bnn-deploy upscale`` on a large image (target: 2000×1500
through the bundled model under 1.5 GB by default; before tiling: 5.7 GB and 46 s, and 4000×3000
died under a 10 GB cap).

    python benchmarks/upscale_memory.py                          # 2000x1500; pytorch and lce
    python benchmarks/upscale_memory.py --size 4000x3000 --artifacts lce
    python benchmarks/upscale_memory.py --export DIR --memory-budget 800MB

Each run is ``python -m bnn_deploy.cli upscale ... --json`` in its own process. Two peaks are
reported: ``VmHWM`` of the upscale process (what it reports itself), and the largest sum of the
resident sizes of that process and its children (the fresh processes that measure a tile's memory),
sampled every 20 ms from ``/proc``. The image is a held-out photo enlarged bicubically (memory and
time do not depend on what it shows). Without ``--export``, the bundled model is first exported at
320×180 (LCE, ONNX) into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

MODEL = "bbcu_m_x2_small"
MB = 1 << 20


def make_image(path: str, width: int, height: int) -> None:
    from PIL import Image

    from bnn_deploy.core.metrics import to_uint8
    from bnn_deploy.core.photos import holdout_photos

    Image.fromarray(to_uint8(holdout_photos()[1][1])).resize((width, height), Image.Resampling.BICUBIC).save(path)


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants now."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _rss(p)
        todo += _children(p)
    return total


def run_upscale(args: list[str]) -> dict:
    """Run ``bnn-deploy upscale ARGS --json``; returns its result with the sampled tree peak and wall time."""
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), ".."))
    cmd = [sys.executable, "-m", "bnn_deploy.cli", "upscale", *args, "--json"]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            tail = err.read().strip().splitlines()[-1:] or ["no output"]
            return {"error": tail[0], "wall": wall}
        result = json.loads(out.read())
    return {**result, "tree_peak": peak, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="2000x1500", help="LR image size WxH (default 2000x1500)")
    parser.add_argument("--artifacts", default="pytorch,lce", help="comma-separated: pytorch, lce, onnx, ...")
    parser.add_argument("--export", default=None, help="an export folder of the bundled model (default: export one)")
    parser.add_argument("--memory-budget", default=None, help="passed to upscale (default: its default)")
    args = parser.parse_args()
    from bnn_deploy.core.values import parse_size

    width, height = parse_size(args.size, "--size")
    with tempfile.TemporaryDirectory(prefix="bnn-deploy-upscale-bench-") as tmp:
        image = os.path.join(tmp, f"image_{width}x{height}.png")
        make_image(image, width, height)
        export = args.export
        artifacts = [a.strip() for a in args.artifacts.split(",") if a.strip()]
        if export is None and any(a != "pytorch" for a in artifacts):
            from bnn_deploy.conversion.export import export_model

            export = os.path.join(tmp, "export")
            print(f"exporting {MODEL} (lce, onnx, 320x180) to a temporary folder ...", flush=True)
            export_model(MODEL, formats=("lce", "onnx"), input_sizes=((320, 180),), out_dir=export)
        print(f"\n{MODEL}, {width}x{height} -> x2, {os.cpu_count()} cores, budget {args.memory_budget or 'default'}")
        print(
            f"{'artifact':<9} {'tiles':>13} {'peak (VmHWM)':>13} {'with children':>14} "
            f"{'budget':>8} {'parity':>10} {'wall':>8}"
        )
        for artifact in artifacts:
            target = MODEL if artifact == "pytorch" and args.export is None else export
            cmd = [target, image, "-o", os.path.join(tmp, f"out_{artifact}.png")]
            if target == export:
                cmd += ["--artifact", artifact]
            if args.memory_budget:
                cmd += ["--memory-budget", args.memory_budget]
            r = run_upscale(cmd)
            if "error" in r:
                print(f"{artifact:<9} failed after {r['wall']:.1f} s: {r['error']}")
                continue
            par = r["parity"]["psnr_db"]
            par_s = "n/a" if par is None else (par if isinstance(par, str) else f"{par:.1f} dB")
            tiles = f"{r['tile']['count']} x {r['tile']['size']}"
            print(
                f"{artifact:<9} {tiles:>13} {r['memory']['peak_rss_bytes'] / MB:>10.0f} MB "
                f"{r['tree_peak'] / MB:>11.0f} MB {r['memory']['budget_bytes'] / MB:>5.0f} MB "
                f"{par_s:>10} {r['wall']:>6.1f} s"
            )


if __name__ == "__main__":
    main()
