"""Quality of a PyTorch model against bicubic on held-out photos (BasicSR's PSNR/SSIM protocol).

Each photo is mod-cropped to the scale and bicubic-downscaled to make the LR input; the model's
output and a bicubic upscale of the same LR are compared with the HR photo on the Y channel with a
border of ``scale`` pixels cropped, after rounding to uint8.
"""

from __future__ import annotations

import numpy as np

from bnn_deploy.eval.images import bicubic_upscale
from bnn_deploy.eval.metrics import sr_metrics
from bnn_deploy.eval.photos import holdout_photos, lr_hr_pair


def evaluate_quality(model, scale: int, photos=None) -> dict:
    """Per-photo and mean PSNR/SSIM of ``model`` and of bicubic upscaling."""
    from bnn_deploy.models.run import run_torch

    photos = holdout_photos() if photos is None else photos
    rows = []
    for name, hr_full in photos:
        lr, hr = lr_hr_pair(hr_full, scale)
        model_m = sr_metrics(run_torch(model, lr), hr, scale)
        bicubic_m = sr_metrics(bicubic_upscale(lr, scale), hr, scale)
        rows.append({"image": name, "lr_size": [lr.shape[1], lr.shape[0]],
                     "model": model_m, "bicubic": bicubic_m})
    mean = {who: {m: float(np.mean([r[who][m] for r in rows])) for m in ("psnr", "ssim")}
            for who in ("model", "bicubic")}
    return {"scale": scale, "images": rows, "mean": mean,
            "protocol": f"Y channel, border crop {scale}, uint8-rounded; LR = Pillow bicubic"}


def evaluate_checkpoint(ckpt: str, *, k: float | None = None, trust_pickle: bool = False) -> dict:
    """Load a checkpoint (or bundled model name) and run :func:`evaluate_quality` on it."""
    from bnn_deploy.models.checkpoint import load_checkpoint

    loaded = load_checkpoint(ckpt, k=k, trust_pickle=trust_pickle)
    result = {"checkpoint": loaded.path, "sha256": loaded.sha256, "arch": loaded.arch,
              "config": loaded.config}
    result.update(evaluate_quality(loaded.model, loaded.config["scale"]))
    return result


def render_quality(result: dict) -> str:
    """Text table for :func:`evaluate_checkpoint`."""
    lines = [f"{result['checkpoint']}  ({result['arch']} x{result['scale']})",
             f"{'image':<16} {'LR size':>9} {'model PSNR':>11} {'SSIM':>7} {'bicubic PSNR':>13} "
             f"{'SSIM':>7}"]
    for row in result["images"] + [{"image": "mean", "lr_size": None, **result["mean"]}]:
        size = f"{row['lr_size'][0]}x{row['lr_size'][1]}" if row["lr_size"] else ""
        lines.append(f"{row['image']:<16} {size:>9} {row['model']['psnr']:>11.2f} "
                     f"{row['model']['ssim']:>7.4f} {row['bicubic']['psnr']:>13.2f} "
                     f"{row['bicubic']['ssim']:>7.4f}")
    lines.append(f"protocol: {result['protocol']}")
    return "\n".join(lines)
