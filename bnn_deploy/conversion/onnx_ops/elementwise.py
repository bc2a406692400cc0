"""Binary elementwise ops, comparisons and ``Where``, with ONNX broadcasting of NCHW constants.

Every constant operand goes through :meth:`LoweringContext.nhwc` (right-aligned to rank 4 and
transposed, ``[1, C, 1, 1] → [C]``), which is what makes ONNX's broadcasting hold in NHWC.
"""

from __future__ import annotations

import numpy as np

from bnn_deploy.conversion.onnx_ops.registry import lower

# ONNX op → its TF function, given the TF module (this module does not import TF).
_BINARY = {
    "Add": lambda tf: tf.add,
    "Sub": lambda tf: tf.subtract,
    "Mul": lambda tf: tf.multiply,
    "Div": lambda tf: tf.divide,
    "Max": lambda tf: tf.maximum,
    "Min": lambda tf: tf.minimum,
    "GreaterOrEqual": lambda tf: tf.greater_equal,
    "Greater": lambda tf: tf.greater,
    "LessOrEqual": lambda tf: tf.less_equal,
    "Less": lambda tf: tf.less,
    "Equal": lambda tf: tf.equal,
}


@lower(*_BINARY)
def binary(ctx, node, ins):
    """``op(a, b)`` on two NHWC operands (tensors or broadcast constants)."""
    return _BINARY[node.op](ctx.tf)(ctx.nhwc(ins[0]), ctx.nhwc(ins[1]))


@lower("Where")
def where(ctx, node, ins):
    """A float select; the ``Where`` in front of a binary conv never gets here (it becomes LCE's sign)."""
    return ctx.tf.where(ctx.nhwc(ins[0]), ctx.nhwc(ins[1]), ctx.nhwc(ins[2]))


@lower("BatchNormalization")
def batch_norm(ctx, node, ins):
    """Inference BN as ``x·m + (B − mean·m)``, ``m = scale / sqrt(var + eps)``: a per-channel affine
    that TFLite folds into the conv before it."""
    scale, bias, mean, var = (np.asarray(v, dtype=np.float64) for v in ins[1:5])
    m = scale / np.sqrt(var + float(node.attrs.get("epsilon", 1e-5)))
    shift = bias - mean * m
    return ins[0] * ctx.nhwc(m.reshape(1, -1, 1, 1)) + ctx.nhwc(shift.reshape(1, -1, 1, 1))
