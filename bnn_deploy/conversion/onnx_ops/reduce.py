"""Reductions over NCHW axes (the SE / channel-attention squeeze): ReduceMean/Max, global pools."""

from __future__ import annotations

import numpy as np

from bnn_deploy.conversion.onnx_ops.layout import NCHW_TO_NHWC_AXIS
from bnn_deploy.conversion.onnx_ops.registry import lower


@lower("ReduceMean", "ReduceMax")
def reduce(ctx, node, ins):
    """Axes from the input (opset 18+) or the attribute; keepdims only, so the result stays 4-D."""
    tf = ctx.tf
    if ctx.opset >= 18 and len(ins) > 1 and ins[1] is not None:
        axes = [int(a) for a in np.asarray(ins[1]).reshape(-1)]
    else:
        axes = [int(a) for a in node.attrs.get("axes", [0, 1, 2, 3])]
    if not int(node.attrs.get("keepdims", 1)):
        ctx.fail(node, "keepdims=0 (the result is not a 4-D activation)")
    tf_axes = sorted(NCHW_TO_NHWC_AXIS[a % 4] for a in axes)
    fn = tf.reduce_mean if node.op == "ReduceMean" else tf.reduce_max
    return fn(ins[0], axis=tf_axes, keepdims=True)


@lower("GlobalAveragePool", "GlobalMaxPool")
def global_pool(ctx, node, ins):
    """Mean/max over H and W (NHWC axes 1, 2), kept as a 4-D ``[1, 1, 1, C]`` activation."""
    fn = ctx.tf.reduce_mean if node.op == "GlobalAveragePool" else ctx.tf.reduce_max
    return fn(ins[0], axis=[1, 2], keepdims=True)
