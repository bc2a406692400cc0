"""Activations and other one-input math: ReLU family, PReLU, Clip, Sigmoid, Tanh, Neg, Abs, Sign."""

from __future__ import annotations

import numpy as np

from bnn_deploy.conversion.onnx_ops.layout import is_per_channel
from bnn_deploy.conversion.onnx_ops.registry import lower

# ONNX op → its TF function, given the TF module (this module does not import TF).
_UNARY = {
    "Relu": lambda tf: tf.nn.relu,
    "Sigmoid": lambda tf: tf.sigmoid,
    "Tanh": lambda tf: tf.tanh,
    "Neg": lambda tf: tf.negative,
    "Abs": lambda tf: tf.abs,
}


@lower(*_UNARY)
def unary(ctx, node, ins):
    """One TF op per ONNX op, same semantics."""
    return _UNARY[node.op](ctx.tf)(ins[0])


@lower("Sign")
def sign(ctx, node, ins):
    """A float sign (0 → 0); a ``Sign`` feeding a binary conv never gets here (it becomes LCE's sign)."""
    return ctx.tf.sign(ins[0])


@lower("LeakyRelu")
def leaky_relu(ctx, node, ins):
    return ctx.tf.nn.leaky_relu(ins[0], alpha=float(node.attrs.get("alpha", 0.01)))


@lower("PRelu")
def prelu(ctx, node, ins):
    """``x >= 0 ? x : a·x``. One slope → LEAKY_RELU; per-channel slopes in the form TFLite fuses
    into PRELU: ``relu(x) + relu(-x)·(-a)`` with ``a`` shaped [1, 1, C] (exact: both terms are
    exact products/zeros)."""
    tf, x, slope = ctx.tf, ins[0], np.asarray(ins[1])
    if slope.size == 1:
        return tf.nn.leaky_relu(x, alpha=float(slope.reshape(())))
    if is_per_channel(slope):
        neg = tf.constant((-slope.reshape(-1)).astype(np.float32).reshape(1, 1, -1))
    else:
        neg = -ctx.nhwc(slope)
    return tf.nn.relu(x) + tf.nn.relu(-x) * neg


@lower("Clip")
def clip(ctx, node, ins):
    """``min(max(x, lo), hi)``; bounds are inputs from opset 11, attributes before."""
    if ctx.opset >= 11:
        lo = None if len(ins) < 2 or ins[1] is None else float(np.asarray(ins[1]).reshape(()))
        hi = None if len(ins) < 3 or ins[2] is None else float(np.asarray(ins[2]).reshape(()))
    else:
        lo, hi = node.attrs.get("min"), node.attrs.get("max")
    x = ins[0]
    if lo is not None:
        x = ctx.tf.maximum(x, lo)
    if hi is not None:
        x = ctx.tf.minimum(x, hi)
    return x
