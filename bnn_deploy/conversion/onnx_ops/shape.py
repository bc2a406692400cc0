"""Ops that move or pass data without arithmetic: Concat, Pad, Identity, Dropout, Cast."""

from __future__ import annotations

import numpy as np

from bnn_deploy.conversion.onnx_ops.layout import NCHW_TO_NHWC_AXIS
from bnn_deploy.conversion.onnx_ops.registry import lower


@lower("Identity", "Dropout")
def passthrough(ctx, node, ins):
    """Inference Dropout is the identity; its optional mask output is never read by SR graphs."""
    return ins[0]


@lower("Cast")
def cast(ctx, node, ins):
    """Only casts to float32 (ONNX type 1) of activations: everything else was folded or is not an image."""
    if node.attrs.get("to") != 1:
        ctx.fail(node, "only casts to float32 of activations are supported")
    return ctx.tf.cast(ins[0], ctx.tf.float32)


@lower("Concat")
def concat(ctx, node, ins):
    axis = NCHW_TO_NHWC_AXIS[int(node.attrs["axis"]) % 4]
    return ctx.tf.concat([ctx.nhwc(v) for v in ins], axis=axis)


@lower("Pad")
def pad(ctx, node, ins):
    """Constant, reflect, and one-pixel edge pads (pads from the input from opset 11, else the attribute)."""
    tf, attrs = ctx.tf, node.attrs
    mode = attrs.get("mode", "constant")
    if ctx.opset >= 11:
        pads = [int(p) for p in np.asarray(ins[1]).reshape(-1)]
        value = 0.0 if len(ins) < 3 or ins[2] is None else float(np.asarray(ins[2]).reshape(()))
        axes = None if len(ins) < 4 or ins[3] is None else [int(a) % 4 for a in np.asarray(ins[3]).reshape(-1)]
    else:
        pads, value, axes = list(attrs["pads"]), float(attrs.get("value", 0.0)), None
    axes = axes or [0, 1, 2, 3]
    begin = dict(zip(axes, pads[: len(axes)], strict=False))
    end = dict(zip(axes, pads[len(axes) :], strict=False))
    if min(pads) < 0:
        ctx.fail(node, "negative pads (cropping)")
    nhwc = [[begin.get(a, 0), end.get(a, 0)] for a in (0, 2, 3, 1)]
    if mode == "constant":
        return tf.pad(ins[0], nhwc, mode="CONSTANT", constant_values=value)
    if mode == "reflect":
        return tf.pad(ins[0], nhwc, mode="REFLECT")
    if mode == "edge" and max(pads) <= 1:
        return tf.pad(ins[0], nhwc, mode="SYMMETRIC")  # one mirrored pixel is the edge pixel
    ctx.fail(node, f"mode {mode!r} with pads {pads}")
