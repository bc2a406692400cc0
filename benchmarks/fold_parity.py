"""Folding on every architecture of the zoo: float glue per unit before/after, bitpacking, parity, sign flips.

    python benchmarks/fold_parity.py                       # all models below at 160x90
    python benchmarks/fold_parity.py --models bbcu_m_x2_small,bbcu_l_x4 --size 320x180

For each model: ``export_model(fold=False)`` and ``export_model(fold=True)`` (``lce``), each with parity
vs PyTorch on the held-out photos; the float glue per binary unit in each flatbuffer
(:func:`bnn_deploy.core.glue.glue_profile`); and, in ONNX Runtime on the first photo, how many
of the signs the binary convs read differ between the folded and the unfolded graph (reordered
float sums can flip a sign whose input is within rounding of its threshold).

Random-weight models are built like ``glue_fold.py``'s (BasicSR initialisation, random non-zero
biases and PReLU slopes; attention units also get random a1/a2 in [0.5, 1]); the bundled models are
the trained ones.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

ATTN = {"kind": "attention", "binary_attn": "se", "residual_attn": "spatial"}
MODELS = {
    "bbcu_l_x2": ("bbcu_l", {"scale": 2, "num_feat": 64, "num_block": 16}),
    "bbcu_l_x4": ("bbcu_l", {"scale": 4, "num_feat": 64, "num_block": 16}),
    "bbcu_m_x2": ("bbcu_m", {"scale": 2, "num_feat": 64, "num_block": 16}),
    "bbcu_m_x4": ("bbcu_m", {"scale": 4, "num_feat": 64, "num_block": 16}),
    "binary_edsr_x2": ("binary_edsr", {"scale": 2, "n_feats": 64, "n_resblocks": 16}),
    "attn_bbcu_m_x2": ("bbcu_m", {"scale": 2, "num_feat": 32, "num_block": 4, "unit": ATTN}),
    "attn_edsr_x2": (
        "binary_edsr",
        {
            "scale": 2,
            "n_feats": 32,
            "n_resblocks": 4,
            "unit": {"kind": "attention", "binary_attn": "pixel", "residual_attn": "se"},
        },
    ),
    "bbcu_m_x2_small": None,  # bundled, trained
    "attn_bbcu_m_x2_small": None,
}


def checkpoint(name: str, workdir: str) -> str:
    import torch

    from bnn_deploy.models.checkpoint import save_checkpoint
    from bnn_deploy.models.registry import create_model
    from bnn_deploy.models.zoo import bundled_path

    if MODELS[name] is None:
        return str(bundled_path(name))
    arch, config = MODELS[name]
    torch.manual_seed(0)
    model = create_model(arch, **config)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if not p.requires_grad:
                continue
            if pname.endswith("pr_prelu.weight"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5)
            elif pname.endswith(("a1", "a2")):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5 + 0.5)
            elif p.dim() == 4 and p.shape[0] == 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.dim() == 1 and not pname.endswith(".alpha"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    path = os.path.join(workdir, f"{name}.pt")
    save_checkpoint(path, model.eval())
    return path


def sign_flips(onnx_model, hw) -> tuple[int, int]:
    """Signs read by the binary convs that differ between the unfolded and folded graph (ORT, one photo)."""
    import onnx
    from onnx import helper

    from bnn_deploy.conversion.onnx_pattern import find_convs
    from bnn_deploy.conversion.onnx_to_tf import deploy_onnx
    from bnn_deploy.core.photos import holdout_photos
    from bnn_deploy.runtimes.onnxrt import ort_session

    h, w = hw
    photo = holdout_photos()[0][1]
    x = np.ascontiguousarray(photo[:h, :w].transpose(2, 0, 1)[None], dtype=np.float32)
    results = []
    for fold in (False, True):
        graph, _ = deploy_onnx(onnx_model, hw, fold=fold)
        model = onnx.ModelProto()
        model.CopyFrom(graph)
        for m in find_convs(model):
            if m.is_binary:
                model.graph.output.append(helper.make_empty_tensor_value_info(m.input))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.onnx")
            onnx.save(model, path)
            results.append(ort_session(path).run(None, {model.graph.input[0].name: x})[1:])
    a, b = results
    return sum(int(np.sum(u != v)) for u, v in zip(a, b)), sum(u.size for u in a)


def main() -> int:
    from bnn_deploy.conversion.export import export_model
    from bnn_deploy.conversion.sources import load_source
    from bnn_deploy.core.values import parse_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--size", default="160x90", help="LR input WxH")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    w, h = parse_size(args.size, "--size")
    rows = []
    print(
        f"{'model':<22} {'glue/unit':>9} {'→':>1} {'folded':<6} {'total':>5} {'→':>1} {'folded':<6} "
        f"{'bitpacked':>9} {'parity dB':>9} {'→':>1} {'folded':<7} {'sign flips':>22}"
    )
    with tempfile.TemporaryDirectory(prefix="fold-parity-") as workdir:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            ckpt = checkpoint(name, workdir)
            arts = {}
            for fold in (False, True):
                result = export_model(
                    ckpt,
                    formats=("lce",),
                    input_sizes=((w, h),),
                    num_threads=1,
                    out_dir=os.path.join(workdir, f"{name}_{fold}"),
                    fold=fold,
                    min_parity_db=0,
                )
                arts[fold] = result.manifest.artifacts[0]
            src = load_source(ckpt, tempfile.mkdtemp(dir=workdir))
            flips, signs = sign_flips(src.onnx_model, (h, w))
            row = {"model": name, "size": f"{w}x{h}", "flips": flips, "signs": signs}
            for fold, art in arts.items():
                tag = "folded" if fold else "unfolded"
                per = art.float_glue.per_unit_glue
                row[tag] = {
                    "unit_glue": [min(per), max(per)],
                    "glue_total": art.float_glue.glue_total,
                    "bitpacked": f"{art.binary_convs.bitpacked}/{art.binary_convs.total}",
                    "parity_db": round(art.parity.psnr_db, 2),
                    "histogram": art.op_histogram,
                }
            rows.append(row)
            u, f = row["unfolded"], row["folded"]

            def spread(v):
                return f"{v[0]}" if v[0] == v[1] else f"{v[0]}-{v[1]}"

            print(
                f"{name:<22} {spread(u['unit_glue']):>9} → {spread(f['unit_glue']):<6} {u['glue_total']:>5} → "
                f"{f['glue_total']:<6} {f['bitpacked']:>9} {u['parity_db']:>9} → {f['parity_db']:<7} "
                f"{flips:>8} of {signs:>10}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
