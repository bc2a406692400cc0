"""NCHW (ONNX) → NHWC (TF) layout arithmetic shared by the pixel-shuffle planner and the lowerings."""

from __future__ import annotations

import numpy as np

# ONNX NCHW axis → TF NHWC axis, for ops that take an axis (Concat, reductions).
NCHW_TO_NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}


def align4(value: np.ndarray) -> np.ndarray:
    """A constant right-aligned to rank 4 (ONNX broadcasting against an NCHW tensor)."""
    value = np.asarray(value)
    if value.ndim > 4:
        raise ValueError(f"constant of rank {value.ndim}")
    return value.reshape((1,) * (4 - value.ndim) + value.shape)


def is_per_channel(value: np.ndarray) -> bool:
    """True for scalars and constants varying only along NCHW axis 1."""
    if np.ndim(value) > 4:
        return False
    shape = align4(value).shape
    return shape[0] == 1 and shape[2] == 1 and shape[3] == 1


def onnx_attrs(node) -> dict:
    """A node's attributes as Python values (strings decoded)."""
    from onnx import helper

    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out


def onnx_opset(model) -> int:
    """The model's default-domain opset (1 when none is declared)."""
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return 1
