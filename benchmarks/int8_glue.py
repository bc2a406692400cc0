"""Does int8 glue pay? Binary + int8 hybrids of an LCE export vs the folded float-glue ``lce``.

    python benchmarks/int8_glue.py                                   # bundled bbcu_m_x2_small
    python benchmarks/int8_glue.py --models bbcu_m_x2_small,trained:bbcu_l_x2_small,official:bbcu_l_x2

Every variant is the folded TF rebuild (``rebuild_tf(fold=True)``) converted by LCE 0.16; int8 comes
from 8-bit fake-quant nodes whose ranges are calibrated (min/max) by running the deployed ONNX graph
in ONNX Runtime on bundled *training* photos downscaled by the model's scale
(:func:`bnn_deploy.conversion.int8.calibration_crops`; the held-out photos are only used to
measure). LCE's converter always runs TFLite's quantization passes, so a tensor with a fake-quant
range becomes int8 where the ops on both sides take int8, else a QUANTIZE/DEQUANTIZE is inserted.

Variants (``--variants``):

* ``lce`` — the folded float-glue export (the baseline);
* ``int8-glue`` — every float activation int8 except the raw binary-conv outputs (so each bconv keeps
  a float output: LCE's optimized bconv kernels refuse int8 output with zero padding), i.e. PReLU
  float, QUANTIZE after it, int8 ADDs, int8 residual stream read by LceQuantize, int8 head/tail;
* ``int8-all`` — also the bconv outputs int8 (LCE fuses the QUANTIZE into the bconv: int8 output);
* ``lce-int8`` — int8 only for the float convs of head and tail and what lies between them
  (BBCU-L's upsampler conv, pixel shuffle, LeakyReLUs, conv_hr, conv_last; the first conv), as
  ``export --format lce-int8`` builds it (:mod:`bnn_deploy.conversion.int8`);
* ``default-range`` — no fake-quant; ``experimental_default_int8_range`` (±``--default-range``)
  for every tensor, as LCE offers for latency tests (not calibrated: quality is not meaningful).

Quality: PSNR vs HR (Y channel, border crop = scale) on the held-out photos at ``--quality-size``
(whose HR crops exist in all three photos) and parity vs PyTorch (quantization error, not gated).
Latency: at ``--latency-size``, 1 thread, ``--kernel`` (default ``indirect_bgemm+xnnpack``), all
variants of a model loaded in this process and run alternately; minimum and median of ``--rounds``.
``official:NAME`` models are the random-weight official-layout networks of ``glue_fold.py``: their
latency is real, their PSNR vs HR is not (random weights). ``trained:bbcu_l_x2_small`` is a BBCU-L
x2 (32 features, 4 blocks) trained with ``scripts/train_zoo.py``'s recipe (the zoo has no trained
BBCU-L), once, into ``--cache``.
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

VARIANTS = ("lce", "lce-int8", "int8-glue", "int8-all", "default-range")
_NOT_FLOAT = {"GreaterOrEqual", "Greater", "Less", "LessOrEqual", "Equal", "Where", "Shape"}


TRAINED = {"bbcu_l_x2_small": ("bbcu_l", {"scale": 2, "num_feat": 32, "num_block": 4, "k": 65.0})}


def trained(name: str, cache: str) -> str:
    """A small model trained with scripts/train_zoo.py's recipe (1500 steps, lr 2e-3, seed 0), cached."""
    import torch

    path = os.path.join(cache, f"{name}.pt")
    if os.path.exists(path):
        return path
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
    from train_zoo import train_model_with_progress

    from bnn_deploy.core.photos import train_photos
    from bnn_deploy.models.checkpoint import save_checkpoint
    from bnn_deploy.models.registry import create_model

    arch, config = TRAINED[name]
    torch.manual_seed(0)
    model = create_model(arch, **config)
    print(f"training {name} (about 10 minutes on 2 cores)", file=sys.stderr)
    facts = train_model_with_progress(model, train_photos(), {"steps": 1500, "lr": 2e-3}, name)
    os.makedirs(cache, exist_ok=True)
    save_checkpoint(path, model, meta={"name": name, "training": facts})
    return path


def load(spec: str, workdir: str, cache: str):
    """A bundled model name, a checkpoint path, ``official:NAME`` (random weights, see glue_fold.py)
    or ``trained:NAME`` (:data:`TRAINED`, trained once into ``cache``)."""
    from bnn_deploy.conversion.sources import load_source

    if spec.startswith("official:"):
        from glue_fold import checkpoint  # benchmarks/glue_fold.py

        spec = checkpoint(spec.split(":", 1)[1], workdir)
    elif spec.startswith("trained:"):
        spec = trained(spec.split(":", 1)[1], cache)
    sub = tempfile.mkdtemp(dir=workdir)
    return load_source(spec, sub)


def tensor_sets(graph) -> dict[str, set[str]]:
    """Which tensors get a fake-quant node in each variant."""
    from bnn_deploy.conversion.int8 import head_tail_tensors
    from bnn_deploy.conversion.onnx_pattern import find_convs

    bconv_out = {m.output for m in find_convs(graph) if m.is_binary}
    inp = graph.graph.input[0].name
    floats = {inp} | {o for n in graph.graph.node if n.op_type not in _NOT_FLOAT for o in n.output if o}
    return {"int8-glue": floats - bconv_out, "int8-all": floats, "lce-int8": head_tail_tensors(graph)}


def convert(src, hw, fake_quant=None, default_range=None) -> bytes:
    import larq_compute_engine as lce

    from bnn_deploy.conversion.onnx_to_tf import rebuild_tf, save_saved_model

    rebuilt = rebuild_tf(src.onnx_model, hw, where=src.path, fold=True, fake_quant=fake_quant)
    with tempfile.TemporaryDirectory() as d:
        saved = save_saved_model(rebuilt, os.path.join(d, "sm"))
        kwargs = {"experimental_default_int8_range": default_range} if default_range else {}
        return bytes(lce.convert_saved_model(saved, target="arm", **kwargs))


def run(data: bytes, images_nhwc, kernel: str):
    import tempfile as _t

    from bnn_deploy.runtimes.lce import open_lce

    with _t.NamedTemporaryFile(suffix=".tflite", delete=False) as fh:
        fh.write(data)
    runner = open_lce(fh.name, threads=1, kernel=kernel)
    return runner, [runner.predict(x) for x in images_nhwc]


def evaluate(spec: str, variants, qsize, lsize, rounds, kernel, default_range, workdir, cache) -> dict:
    from bnn_deploy.conversion.int8 import calibrate, calibration_crops
    from bnn_deploy.conversion.onnx_to_tf import deploy_onnx
    from bnn_deploy.core.flatbuffer import read_flatbuffer
    from bnn_deploy.core.glue import glue_segments
    from bnn_deploy.core.images import nchw_to_nhwc, nhwc_to_nchw
    from bnn_deploy.core.parity import compare
    from bnn_deploy.core.photos import holdout_photos, photo_crops

    src = load(spec, workdir, cache)
    (qw, qh), (lw, lh) = qsize, lsize
    scale = int(src.info.get("config", {}).get("scale") or 2)
    chw, calib, _ = calibration_crops((lh, lw), scale, 6)
    graph, _ = deploy_onnx(src.onnx_model, chw, fold=True)
    sets = tensor_sets(graph)
    ranges = calibrate(graph, calib, set().union(*sets.values()))
    crops = photo_crops(holdout_photos(), (qh, qw), scale)
    names, lrs, hrs = [c[0] for c in crops], [c[1] for c in crops], [c[2] for c in crops]
    reference = src.reference(lrs)
    x_lat = np.random.default_rng(0).random((1, lh, lw, 3), dtype=np.float32)
    rows, runners = [], []
    for variant in variants:
        fq = None if variant in ("lce", "default-range") else {t: ranges[t] for t in sets[variant] if t in ranges}
        dr = (-default_range, default_range) if variant == "default-range" else None
        row = {"variant": variant, "fake_quant_tensors": 0 if fq is None else len(fq)}
        try:
            q_data = convert(src, (qh, qw), fq, dr)
            l_data = convert(src, (lh, lw), fq, dr)
        except Exception as exc:  # record the converter's first line
            row["error"] = "conversion: " + str(exc).strip().splitlines()[0][:300]
            rows.append(row)
            continue
        fb = read_flatbuffer(l_data)
        segments = glue_segments(fb.ops)
        row.update(
            bytes=len(l_data),
            histogram=fb.histogram(),
            bconvs=fb.histogram().get("LceBconv2d", 0),
            int8_tensors=sum(1 for t in _tensor_types(l_data) if t == "INT8"),
            per_unit_segment=" ".join(segments[2]) if len(segments) > 2 else "",
        )
        row["kernel"] = kernel
        try:
            _, outs = run(q_data, [nchw_to_nhwc(x) for x in lrs], kernel)
            runner, _ = run(l_data, [x_lat], kernel)
        except Exception as exc:
            row["error"] = "interpreter: " + " ".join(str(exc).split())[:300]
            if variant != "int8-all":
                rows.append(row)
                continue
            # LCE's optimized bconv kernels refuse int8 output with zero padding; its reference
            # kernel takes it (even channel counts): measured too, to show what it would cost.
            row["kernel"] = "reference"
            _, outs = run(q_data, [nchw_to_nhwc(x) for x in lrs], "reference")
            runner, _ = run(l_data, [x_lat], "reference")
        fig = compare(
            [nhwc_to_nchw(o) for o in outs], reference, reference=src.reference_label, names=names, hrs=hrs, scale=scale
        )
        row.update(
            parity_db=fig.psnr_db, psnr_vs_hr=fig.psnr_vs_hr_db, reference_psnr_vs_hr=fig.reference_psnr_vs_hr_db
        )
        rows.append(row)
        runners.append((row, runner))
    for _row, runner in runners:  # warm-up
        runner.predict(x_lat)
    samples = {id(r): [] for r, _ in runners}
    for _ in range(rounds):
        for row, runner in runners:
            t0 = time.perf_counter()
            runner.predict(x_lat)
            samples[id(row)].append((time.perf_counter() - t0) * 1000)
    for row, _ in runners:
        s = samples[id(row)]
        row.update(min_ms=min(s), median_ms=float(np.median(s)), runs=len(s))
    return {"model": spec, "quality_size": f"{qw}x{qh}", "latency_size": f"{lw}x{lh}", "kernel": kernel, "rows": rows}


def _tensor_types(data: bytes) -> list[str]:
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    return [names.get(t.type, str(t.type)) for t in model.subgraphs[0].tensors]


def print_model(res: dict) -> None:
    base = next((r for r in res["rows"] if r["variant"] == "lce" and "min_ms" in r), None)
    print(
        f"\n{res['model']}: quality at {res['quality_size']} (held-out photos), latency at "
        f"{res['latency_size']}, 1 thread, {res['kernel']}"
    )
    print(
        f"  {'variant':<14} {'bconvs':>6} {'int8 t.':>7} {'size KB':>8} {'PSNR/HR':>8} {'ΔPSNR':>7} "
        f"{'parity':>7} {'min ms':>8} {'median':>8} {'vs lce':>7}"
    )
    for r in res["rows"]:
        if "error" in r and "min_ms" not in r:
            print(f"  {r['variant']:<14} failed: {r['error']}")
            continue
        if r.get("kernel") != res["kernel"]:
            print(f"  {r['variant']:<14} ({r['error']}; measured with LCE's {r['kernel']} bconv kernel)")
        d = (r["psnr_vs_hr"] - base["psnr_vs_hr"]) if base and r.get("psnr_vs_hr") is not None else float("nan")
        speed = base["min_ms"] / r["min_ms"] if base else float("nan")
        print(
            f"  {r['variant']:<14} {r['bconvs']:>6} {r['int8_tensors']:>7} {r['bytes'] / 1024:>8.1f} "
            f"{r['psnr_vs_hr']:>8.2f} {d:>+7.2f} {r['parity_db']:>7.1f} {r['min_ms']:>8.1f} "
            f"{r['median_ms']:>8.1f} {speed:>6.3f}x"
        )
    for r in res["rows"]:
        if "histogram" in r:
            print(f"  {r['variant']}: " + ", ".join(f"{k} {v}" for k, v in r["histogram"].items()))
            print(f"    one unit: {r['per_unit_segment']}")


def main() -> int:
    from bnn_deploy.core.values import parse_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="bbcu_m_x2_small")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--quality-size", default="200x140", help="LR WxH for PSNR (HR crops must exist)")
    parser.add_argument("--latency-size", default="320x180")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kernel", default="indirect_bgemm+xnnpack")
    parser.add_argument("--default-range", type=float, default=8.0)
    parser.add_argument(
        "--cache", default=os.path.expanduser("~/.cache/bnn-deploy-bench"), help="where trained:NAME models are kept"
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    results = []
    with tempfile.TemporaryDirectory(prefix="int8-glue-") as workdir:
        for spec in [m.strip() for m in args.models.split(",") if m.strip()]:
            res = evaluate(
                spec,
                variants,
                parse_size(args.quality_size, "--quality-size"),
                parse_size(args.latency_size, "--latency-size"),
                args.rounds,
                args.kernel,
                args.default_range,
                workdir,
                args.cache,
            )
            results.append(res)
            print_model(res)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
