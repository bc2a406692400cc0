"""``bnn-deploy inspect``: what a checkpoint is, layer by layer, and what it costs."""

from __future__ import annotations

from bnn_deploy.models.checkpoint import load_checkpoint
from bnn_deploy.models.cost import conv_layers, paper_cost


def describe_model(model, lr_hw: tuple[int, int]) -> dict:
    """Architecture facts, conv inventory and paper-convention cost of a built model."""
    layers = conv_layers(model, lr_hw)
    scale = model.config["scale"]
    return {
        "arch": model.arch,
        "variant": getattr(model, "variant", None),
        "scale": scale,
        "features": model.config.get("num_feat", model.config.get("n_feats")),
        "blocks": model.config.get("num_block", model.config.get("n_resblocks")),
        "k": model.config.get("k"),
        "unit": model.config.get("unit"),
        "config": model.config,
        "lr_size": {"height": lr_hw[0], "width": lr_hw[1]},
        "hr_size": {"height": lr_hw[0] * scale, "width": lr_hw[1] * scale},
        "layers": layers,
        "binary_convs": sum(layer["kind"] == "binary" for layer in layers),
        "float_convs": sum(layer["kind"] == "float" for layer in layers),
        "total_params": int(sum(p.numel() for p in model.parameters())),
        "cost": paper_cost(layers),
    }


def inspect_checkpoint(
    path: str, *, lr_hw: tuple[int, int] = (180, 320), k: float | None = None, trust_pickle: bool = False
) -> dict:
    """Load ``path`` and describe it (see :func:`describe_model`)."""
    return describe_loaded(load_checkpoint(path, k=k, trust_pickle=trust_pickle), lr_hw)


def describe_loaded(loaded, lr_hw: tuple[int, int]) -> dict:
    """A loaded checkpoint (``LoadedCheckpoint``) described: file facts, then :func:`describe_model`."""
    info = {"checkpoint": loaded.path, "sha256": loaded.sha256, "source_format": loaded.source_format}
    info.update(describe_model(loaded.model, lr_hw))
    return info


def _si(value: float, unit: str = "") -> str:
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value:.0f} {unit}".rstrip()


def render_inspection(info: dict) -> str:
    """Human-readable text for :func:`inspect_checkpoint`."""
    unit = info.get("unit") or {}
    unit_text = (
        ""
        if not unit or unit.get("kind") == "bbcu"
        else (f"  unit: attention (binary branch {unit['binary_attn']}, residual {unit['residual_attn']})")
    )
    k_text = f"  k={info['k']:g}" if info.get("k") is not None else ""
    lr, hr = info["lr_size"], info["hr_size"]
    lines = [
        f"{info['checkpoint']}  ({info['source_format']}, sha256 {info['sha256'][:12]}…)",
        f"arch: {info['arch']}  scale: x{info['scale']}  features: {info['features']}  "
        f"blocks: {info['blocks']}{k_text}{unit_text}",
        f"convs: {info['binary_convs']} binary, {info['float_convs']} float",
        "",
        f"{'layer':<28} {'kind':<7} {'in':>5} {'out':>5} {'k':>4} {'output':>11} {'MACs':>12}",
    ]
    for layer in info["layers"]:
        out_hw = f"{layer['output_hw'][1]}x{layer['output_hw'][0]}"
        lines.append(
            f"{layer['name']:<28} {layer['kind']:<7} {layer['in_channels']:>5} "
            f"{layer['out_channels']:>5} {layer['kernel'][0]:>2}x{layer['kernel'][1]:<1} "
            f"{out_hw:>11} {_si(layer['macs']):>12}"
        )
    cost = info["cost"]
    lines += [
        "",
        f"cost at LR {lr['width']}x{lr['height']} -> HR {hr['width']}x{hr['height']} (BBCU paper convention):",
        f"  OPs    {_si(cost['ops'])}  = float MACs {_si(cost['float_macs'])} + "
        f"binary MACs {_si(cost['binary_macs'])} / 64",
        f"  Params {_si(cost['params'])}  = float {_si(cost['float_params'])} + "
        f"binary {_si(cost['binary_params'])} / 32",
        f"  (all parameters incl. biases and PReLU: {info['total_params']:,})",
    ]
    return "\n".join(lines)
