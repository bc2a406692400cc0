"""A small, reproducible CPU training loop for SR models (used to make the bundled zoo).

L1 loss on random aligned LR/HR patches from photos, with flips and 90° rotations; Adam with a
cosine learning-rate decay. Binary layers train through their straight-through gradients
(see :mod:`bnn_deploy.models.binary`). Seeds fix the patch order and the initial weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from bnn_deploy.core.images import bicubic_downscale, mod_crop


def make_pairs(photos, scale: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(LR, HR) float image pairs, HR mod-cropped so LR = bicubic_downscale(HR) aligns exactly."""
    pairs = []
    for _name, img in photos:
        hr = mod_crop(img, scale)
        pairs.append((bicubic_downscale(hr, scale), hr))
    return pairs


def sample_batch(pairs, rng: np.random.Generator, batch: int, lr_patch: int, scale: int):
    """A batch of aligned random patches (NCHW float32), randomly flipped and rotated."""
    lrs, hrs = [], []
    weights = np.array([p[0].shape[0] * p[0].shape[1] for p in pairs], dtype=np.float64)
    for _ in range(batch):
        lr, hr = pairs[rng.choice(len(pairs), p=weights / weights.sum())]
        y = int(rng.integers(0, lr.shape[0] - lr_patch + 1))
        x = int(rng.integers(0, lr.shape[1] - lr_patch + 1))
        lp = lr[y : y + lr_patch, x : x + lr_patch]
        hp = hr[y * scale : (y + lr_patch) * scale, x * scale : (x + lr_patch) * scale]
        k = int(rng.integers(0, 4))
        lp, hp = np.rot90(lp, k), np.rot90(hp, k)
        if rng.random() < 0.5:
            lp, hp = lp[:, ::-1], hp[:, ::-1]
        lrs.append(lp.transpose(2, 0, 1))
        hrs.append(hp.transpose(2, 0, 1))
    return np.ascontiguousarray(lrs, dtype=np.float32), np.ascontiguousarray(hrs, dtype=np.float32)


def train_model(
    model,
    photos,
    *,
    steps: int,
    batch: int = 16,
    lr_patch: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
):
    """Train ``model`` in place for ``steps`` Adam steps; returns a dict of training facts."""
    import torch

    scale = model.config["scale"]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pairs = make_pairs(photos, scale)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    model.train()
    start, running = time.perf_counter(), None
    for step in range(1, steps + 1):
        lr_np, hr_np = sample_batch(pairs, rng, batch, lr_patch, scale)
        loss = torch.nn.functional.l1_loss(model(torch.from_numpy(lr_np)), torch.from_numpy(hr_np))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if progress and (step % 100 == 0 or step == steps):
            progress(step, running)
    model.eval()
    return {
        "steps": steps,
        "batch": batch,
        "lr_patch": lr_patch,
        "learning_rate": lr,
        "seed": seed,
        "final_loss": running,
        "seconds": time.perf_counter() - start,
    }
