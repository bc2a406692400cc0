"""Train the bundled models (bnn_deploy/zoo/*.pt) reproducibly on CPU.

    python scripts/train_zoo.py [--only NAME] [--steps N]

Trains on scikit-image's bundled photos (bnn_deploy.core.photos.TRAIN_PHOTOS), evaluates on the
held-out photos against bicubic, and refuses to save a binary model that does not beat bicubic.
Each model's training facts and held-out figures are stored in its checkpoint's ``meta``.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from bnn_deploy.core.photos import train_photos
from bnn_deploy.models.checkpoint import save_checkpoint
from bnn_deploy.models.quality import evaluate_quality
from bnn_deploy.models.registry import create_model
from bnn_deploy.models.zoo import BUNDLED, bundled_path

# Per-model schedule: binary nets like a higher learning rate (their latent weights move slowly).
SCHEDULE = {
    "bbcu_m_x2_small": {"steps": 1500, "lr": 2e-3},
    "attn_bbcu_m_x2_small": {"steps": 1500, "lr": 2e-3},
    "msrresnet_x2_small": {"steps": 1500, "lr": 1e-3},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BUNDLED), help="train just this model")
    parser.add_argument("--steps", type=int, help="override the number of steps")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    photos = train_photos()
    for name, (arch, config, _desc) in BUNDLED.items():
        if args.only and name != args.only:
            continue
        plan = dict(SCHEDULE[name])
        if args.steps:
            plan["steps"] = args.steps
        torch.manual_seed(0)
        model = create_model(arch, **config)
        print(f"[{name}] training {plan['steps']} steps", flush=True)
        t0 = time.perf_counter()
        facts = train_model_with_progress(model, photos, plan, name)
        quality = evaluate_quality(model, config["scale"])
        m, b = quality["mean"]["model"]["psnr"], quality["mean"]["bicubic"]["psnr"]
        print(f"[{name}] held-out PSNR {m:.2f} dB vs bicubic {b:.2f} dB ({time.perf_counter() - t0:.0f} s)", flush=True)
        if m <= b:
            print(f"[{name}] does not beat bicubic; not saved", file=sys.stderr)
            return 1
        save_checkpoint(
            bundled_path(name),
            model,
            meta={
                "name": name,
                "training": facts,
                "heldout": quality,
                "trained_with": "scripts/train_zoo.py",
                "torch": torch.__version__,
            },
        )
        print(f"[{name}] saved {bundled_path(name)}", flush=True)
    return 0


def train_model_with_progress(model, photos, plan, name):
    from bnn_deploy.models.train import train_model

    def progress(step, loss):
        print(f"[{name}] step {step}/{plan['steps']} loss {loss:.4f}", flush=True)

    return train_model(model, photos, steps=plan["steps"], lr=plan["lr"], seed=0, progress=progress)


if __name__ == "__main__":
    sys.exit(main())
