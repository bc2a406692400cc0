"""Run a PyTorch SR model on HxWx3 float images (the layout of bnn_deploy.eval)."""

from __future__ import annotations

import numpy as np


def run_torch(model, img: np.ndarray) -> np.ndarray:
    """``model`` on one HxWx3 float32 image in [0, 1]; returns the (unclamped) sH×sW×3 output."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        y = model(x)
    return y[0].permute(1, 2, 0).numpy()
