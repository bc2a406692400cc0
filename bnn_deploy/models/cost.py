"""Layer inventory and cost by the BBCU paper's convention.

The BBCU paper (Table 1, LR input 320×180) counts only convolution weights and their
multiply-accumulates, and discounts binary ones by the word sizes of bitwise kernels::

    OPs    = float MACs + binary MACs / 64
    Params = float params + binary params / 32

where a conv's MACs are ``H_out · W_out · C_out · C_in · kh · kw`` and its params ``C_out · C_in · kh ·
kw`` (no biases, PReLU slopes or thresholds). With this rule our BBCU-L ×2/×4, BBCU-M ×4 and SRResNet
×2 reproduce the published 18.55 G/225 K, 79.20 G/372 K, 3.95 G/51 K and 85.43 G/1367 K exactly;
BBCU-M ×2 gives 1.82 G/46 K against the published 1.83 G/46 K.
Attention modules' 1×1 convs count as float convs; elementwise ops count as nothing.
"""

from __future__ import annotations

import copy

BINARY_MAC_DIVISOR = 64
BINARY_PARAM_DIVISOR = 32


def conv_layers(model, lr_hw: tuple[int, int]) -> list[dict]:
    """Every convolution in forward order with its kind, shape, output size, MACs and params.

    The output sizes come from a forward pass at ``lr_hw`` on PyTorch's ``meta`` device, which
    computes shapes without doing the arithmetic, so counting a 4K input costs nothing.
    """
    import torch
    from torch import nn

    from bnn_deploy.models.binary import BinaryConv2d

    meta_model = copy.deepcopy(model).to("meta").eval()
    names = {m: n for n, m in meta_model.named_modules()}
    layers: list[dict] = []

    def hook(module, _inputs, output):
        weight = module.weight
        out_c, in_c, kh, kw = weight.shape
        h, w = output.shape[-2:]
        groups = getattr(module, "groups", 1)
        layers.append(
            {
                "name": names[module],
                "kind": "binary" if module.is_binary else "float",
                "in_channels": int(in_c) * groups,
                "out_channels": int(out_c),
                "kernel": [int(kh), int(kw)],
                "output_hw": [int(h), int(w)],
                "macs": int(h * w * out_c * in_c * kh * kw),
                "params": int(weight.numel()),
            }
        )

    handles = []
    for module in meta_model.modules():
        if isinstance(module, BinaryConv2d):
            handles.append(module.register_forward_hook(hook))
        elif isinstance(module, nn.Conv2d):
            module.is_binary = False
            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            meta_model(torch.empty(1, _in_channels(model), *lr_hw, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return layers


def _in_channels(model) -> int:
    return int(model.config.get("num_in_ch", 3))


def paper_cost(layers: list[dict]) -> dict:
    """Totals by the BBCU convention (see module docstring)."""
    float_macs = sum(layer["macs"] for layer in layers if layer["kind"] == "float")
    binary_macs = sum(layer["macs"] for layer in layers if layer["kind"] == "binary")
    float_params = sum(layer["params"] for layer in layers if layer["kind"] == "float")
    binary_params = sum(layer["params"] for layer in layers if layer["kind"] == "binary")
    return {
        "float_macs": float_macs,
        "binary_macs": binary_macs,
        "float_params": float_params,
        "binary_params": binary_params,
        "ops": float_macs + binary_macs / BINARY_MAC_DIVISOR,
        "params": float_params + binary_params / BINARY_PARAM_DIVISOR,
        "convention": "OPs = float MACs + binary MACs/64; Params = float params + binary params/32 "
        "(conv weights only; BBCU paper, Table 1)",
    }
