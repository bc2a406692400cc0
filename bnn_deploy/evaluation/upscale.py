"""``bnn-deploy upscale``: one image through one checkpoint with PyTorch."""

from __future__ import annotations

import time

from bnn_deploy.core.images import load_image, save_image
from bnn_deploy.models.checkpoint import load_checkpoint
from bnn_deploy.models.run import run_image


def upscale_file(ckpt: str, image: str, output: str, *, k: float | None = None, trust_pickle: bool = False) -> dict:
    """Upscale ``image`` with ``ckpt`` and write a PNG to ``output``; returns what was done."""
    loaded = load_checkpoint(ckpt, k=k, trust_pickle=trust_pickle)
    lr = load_image(image)
    start = time.perf_counter()
    sr = run_image(loaded.model, lr)
    seconds = time.perf_counter() - start
    save_image(output, sr)
    return {
        "checkpoint": loaded.path,
        "arch": loaded.arch,
        "scale": loaded.config["scale"],
        "image": image,
        "output": output,
        "input_size": [lr.shape[1], lr.shape[0]],
        "output_size": [sr.shape[1], sr.shape[0]],
        "seconds": seconds,
    }
