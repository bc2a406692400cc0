"""Recognise an architecture and its config from a bare state dict (keys and shapes only).

Official checkpoints carry no config. What the keys tell:

* ``conv_first.weight`` [F, in, 3, 3] → MSRResNet layout with F features;
  ``body.0.body.0.binary_conv.weight`` → BBCU, ``body.0.conv1.weight`` → MSRResNet.
* ``upconv1.binary_conv.weight`` → BBCU-M, ``upconv1.weight`` → BBCU-L.
* ``upconv2.*`` → ×4; otherwise ``upconv1`` output channels / F = s² → ×2 or ×3.
* ``head.0.weight`` → EDSR; binary units in ``body`` → binary EDSR; ``tail.0.{0,2}`` stages → scale.
* ``a1`` / ``attn_b.*`` in units → the attention-augmented unit (module types from key names).

BBCU's amplification ``k`` is not in the state dict: the caller supplies it (default 130).
"""

from __future__ import annotations

import re

from bnn_deploy.core.errors import BnnDeployError


def _count_indexed(keys, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in keys if (m := pattern.match(k))}
    return max(found) + 1 if found else 0


def _scale_from_upconv(sd, out_key: str, num_feat: int, has_second: bool) -> int:
    if has_second:
        return 4
    ratio, rem = divmod(sd[out_key].shape[0], num_feat)
    if rem or ratio not in (4, 9):
        raise BnnDeployError(
            f"{out_key} has {sd[out_key].shape[0]} output channels, not 4 or 9 "
            f"times {num_feat} features; this is not a ×2/×3/×4 model we know"
        )
    return 2 if ratio == 4 else 3


def _infer_unit(sd, prefix: str) -> dict:
    """The unit config of the binary unit whose keys start with ``prefix``."""
    if f"{prefix}a1" not in sd:
        return {"kind": "bbcu"}

    def kind(branch: str) -> str:
        if f"{prefix}{branch}.fc1.weight" in sd:
            return "se"
        conv = sd.get(f"{prefix}{branch}.conv.weight")
        if conv is None:
            return "none"
        return "spatial" if conv.shape[0] == 1 else "pixel"

    unit = {"kind": "attention", "binary_attn": kind("attn_b"), "residual_attn": kind("attn_r"), "reduction": 4}
    for branch in ("attn_b", "attn_r"):
        fc1 = sd.get(f"{prefix}{branch}.fc1.weight")
        if fc1 is not None:
            unit["reduction"] = max(1, fc1.shape[1] // fc1.shape[0])
    return unit


def infer_architecture(sd: dict) -> tuple[str, dict]:
    """Return ``(arch, config)`` for a state dict; raise a clear error when unrecognisable."""
    keys = list(sd)
    if "conv_first.weight" in sd and "conv_last.weight" in sd:
        num_feat, num_in_ch = sd["conv_first.weight"].shape[:2]
        config = {
            "num_feat": int(num_feat),
            "num_in_ch": int(num_in_ch),
            "num_out_ch": int(sd["conv_last.weight"].shape[0]),
            "num_block": _count_indexed(keys, "body."),
        }
        second = any(k.startswith("upconv2.") for k in keys)
        if "body.0.conv1.weight" in sd:
            config["scale"] = _scale_from_upconv(sd, "upconv1.weight", num_feat, second)
            return "msrresnet", config
        if "body.0.body.0.binary_conv.weight" in sd:
            config["unit"] = _infer_unit(sd, "body.0.body.0.")
            if "upconv1.binary_conv.weight" in sd:
                config["scale"] = _scale_from_upconv(sd, "upconv1.binary_conv.weight", num_feat, second)
                return "bbcu_m", config
            if "upconv1.weight" in sd:
                config["scale"] = _scale_from_upconv(sd, "upconv1.weight", num_feat, second)
                return "bbcu_l", config
    if "head.0.weight" in sd and "tail.1.weight" in sd:
        n_feats = int(sd["head.0.weight"].shape[0])
        stages = _count_indexed(keys, "tail.0.")
        first = _need(sd, "tail.0.0.weight").shape[0] // n_feats
        scale = 4 if stages > 2 else (2 if first == 4 else 3)
        n_body = _count_indexed(keys, "body.")
        config = {"scale": scale, "n_feats": n_feats, "n_resblocks": n_body - 1}
        if "sub_mean.bias" in sd:
            # MeanShift bias = -rgb_range · mean; recover rgb_range from the red channel.
            config["rgb_range"] = round(float(-sd["sub_mean.bias"][0]) / 0.4488, 3)
        if "body.0.body.0.binary_conv.weight" in sd:
            config["unit"] = _infer_unit(sd, "body.0.body.0.")
            return "binary_edsr", config
        if "body.0.body.0.weight" in sd:
            return "edsr", config
    _refuse_missing_weights(sd)
    shown = ", ".join(keys[:6]) + (", ..." if len(keys) > 6 else "")
    raise BnnDeployError(
        f"cannot recognise the architecture from the checkpoint keys ({shown}); "
        "supported: BBCU-L/M, MSRResNet, EDSR, binary EDSR — save custom models "
        "with bnn_deploy.models.checkpoint.save_checkpoint"
    )


def _need(sd: dict, key: str):
    """``sd[key]``, or the one-line error naming the missing key."""
    if key not in sd:
        _refuse_missing([key])
    return sd[key]


# The weights layout inference reads, across the architectures it knows.
_ANCHORS = (
    "conv_first.weight",
    "conv_last.weight",
    "body.0.conv1.weight",
    "body.0.body.0.binary_conv.weight",
    "body.0.body.0.weight",
    "upconv1.weight",
    "upconv1.binary_conv.weight",
    "head.0.weight",
    "tail.0.0.weight",
    "tail.1.weight",
)


def missing_weights(sd: dict) -> list[str]:
    """Weights inference reads that are missing although the rest of their layer is in ``sd``:
    a conv's ``X.weight`` beside its ``X.bias``, a binary unit's ``X.binary_conv.weight`` beside its
    ``X.move0.bias``."""

    def rest_of_layer(key: str) -> str:
        if key.endswith(".binary_conv.weight"):
            return key[: -len("binary_conv.weight")] + "move0.bias"
        return key[: -len("weight")] + "bias"

    return [key for key in _ANCHORS if key not in sd and rest_of_layer(key) in sd]


def _refuse_missing_weights(sd: dict) -> None:
    """Name the missing weights, if any: "cannot recognise the architecture" would send users astray."""
    missing = missing_weights(sd)
    if missing:
        _refuse_missing(missing)


def _refuse_missing(missing: list[str]) -> None:
    more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
    raise BnnDeployError(
        f"the checkpoint has no {', '.join(missing[:3])}{more}, though the rest of that layer is there; "
        "the file is damaged or was saved without every tensor: re-save the full state_dict"
    )
