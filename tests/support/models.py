"""Tiny models with non-trivial random parameters (zero biases and unit slopes hide layout bugs)."""

from __future__ import annotations


def randomize_(model, seed: int = 0):
    """Give every parameter (thresholds, RPReLU, alpha, a1/a2, biases) random non-zero values.

    Freshly built models have zero biases and unit slopes, which would let a wrong layout or a
    missing op go unnoticed; random values make every tensor matter.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue  # EDSR's fixed MeanShift
            if name.endswith("pr_prelu.weight"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5)
            elif name.endswith(".alpha"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.1 + 0.02)
            elif name.endswith(("a1", "a2")):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5 + 0.5)
            elif p.dim() == 4 and p.shape[0] == 1:  # [1, C, 1, 1] biases / thresholds
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.dim() == 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return model.eval()


def tiny_model(arch: str, seed: int = 0, **config):
    """A small random model of ``arch`` (num_feat/num_block or n_feats/n_resblocks defaults 8/1)."""
    from bnn_deploy.models.registry import create_model

    if arch.endswith("edsr"):
        config.setdefault("n_feats", 8)
        config.setdefault("n_resblocks", 1)
    else:
        config.setdefault("num_feat", 8)
        config.setdefault("num_block", 1)
    config.setdefault("scale", 2)
    return randomize_(create_model(arch, **config), seed)
