"""Quality of a PyTorch model against bicubic on held-out photos (BasicSR's PSNR/SSIM protocol).

Each photo is mod-cropped to the scale and bicubic-downscaled to make the LR input; the model's
output and a bicubic upscale of the same LR are compared with the HR photo on the Y channel with a
border of ``scale`` pixels cropped, after rounding to uint8. ``bnn-deploy eval`` applies the same
protocol to checkpoints and to every deployed artifact of an export (:mod:`bnn_deploy.evaluation.evaluate`).
"""

from __future__ import annotations

import numpy as np

from bnn_deploy.core.images import bicubic_upscale
from bnn_deploy.core.metrics import protocol, sr_metrics
from bnn_deploy.core.photos import holdout_photos, lr_hr_pair


def evaluate_quality(model, scale: int, photos=None) -> dict:
    """Per-photo and mean PSNR/SSIM of ``model`` and of bicubic upscaling."""
    from bnn_deploy.models.run import run_image

    photos = holdout_photos() if photos is None else photos
    rows = []
    for name, hr_full in photos:
        lr, hr = lr_hr_pair(hr_full, scale)
        model_m = sr_metrics(run_image(model, lr), hr, scale)
        bicubic_m = sr_metrics(bicubic_upscale(lr, scale), hr, scale)
        rows.append({"image": name, "lr_size": [lr.shape[1], lr.shape[0]], "model": model_m, "bicubic": bicubic_m})
    mean = {
        who: {m: float(np.mean([r[who][m] for r in rows])) for m in ("psnr", "ssim")} for who in ("model", "bicubic")
    }
    return {"scale": scale, "images": rows, "mean": mean, "protocol": protocol(scale)}
