"""Conv: float convs, binary convs in the form LCE bitpacks, and LCE's sign in front of them.

A binary conv (matched by :func:`bnn_deploy.conversion.onnx_pattern.find_convs`) is emitted as
``tf.where(x >= t, 1., -1.)`` feeding ``tf.nn.conv2d`` with its ±α HWIO constant and ``SAME``
padding for zero pads of k//2 — the exact ops LCE's converter turns into ``LceQuantize`` and
``LceBconv2d``. Never an explicit ``tf.pad`` between sign and conv: LCE would leave it as a float
op and fall back to a float conv.
"""

from __future__ import annotations

import numpy as np

from bnn_deploy.conversion.onnx_ops.registry import lower


def lce_sign(ctx, match):
    """LCE's sign: ``+1 where x >= t else -1`` as ``tf.where`` (LceQuantize; x >= t → SUB first)."""
    tf = ctx.tf
    x = ctx.values[match.sign_input] if match.sign_input in ctx.values else ctx.nhwc(ctx.consts[match.sign_input])
    t = np.asarray(match.sign_threshold, dtype=np.float32)
    threshold = tf.constant(t) if t.ndim == 0 or t.size == 1 else tf.constant(t.reshape(-1))
    return tf.where(tf.greater_equal(x, threshold), tf.constant(1.0), tf.constant(-1.0))


@lower("Conv")
def conv(ctx, node, ins):
    """ONNX Conv → ``tf.nn.conv2d``/depthwise/grouped with HWIO constants (named by the node's scope)."""
    tf = ctx.tf
    weight = ins[1]
    if not isinstance(weight, np.ndarray) or weight.ndim != 4:
        ctx.fail(node, "only 2-D convolutions with constant weights are supported")
    bias = ins[2] if len(ins) > 2 else None
    match = ctx.binary.get(node.proto.output[0])
    x = ins[0]
    if match is not None:
        pads = match.pads  # sign → (zero Pad) → Conv: all zeros around the signed tensor
        if match.pad_node:
            x = ctx.values[_sign_output_of(ctx, match)]
    else:
        pads = conv_pads(node.attrs, weight.shape[2:], x.shape[1:3])
    strides = [int(s) for s in node.attrs.get("strides", (1, 1))]
    dilations = [int(d) for d in node.attrs.get("dilations", (1, 1))]
    padding = tf_padding(pads, weight.shape[2:], x.shape[1:3], strides, dilations)
    group = int(node.attrs.get("group", 1))
    y = _grouped_conv(tf, x, weight, group, strides, dilations, padding)
    if bias is not None:
        y = tf.nn.bias_add(y, tf.constant(np.asarray(bias, dtype=np.float32)))
    return y


def _sign_output_of(ctx, match) -> str:
    """The tensor holding ``match``'s sign (the conv reads it directly, skipping the zero Pad)."""
    for tensor, m in ctx.sign_outputs.items():
        if m is match:
            return tensor
    raise KeyError(match.name)


def _grouped_conv(tf, x, weight, group, strides, dilations, padding):
    """One conv2d, a depthwise conv (group = C_in, one input channel each), or split-conv-concat."""
    out_ch, in_per_group = weight.shape[:2]
    in_ch = int(x.shape[-1])
    hwio = np.ascontiguousarray(weight.transpose(2, 3, 1, 0).astype(np.float32))
    if group == 1:
        return tf.nn.conv2d(x, tf.constant(hwio), strides=strides, padding=padding, dilations=dilations)
    if group == in_ch and in_per_group == 1:
        # Depthwise: ONNX output o = c·m + j reads input c; TF depthwise filter [kh, kw, C, m].
        mult = out_ch // in_ch
        dw = weight.reshape(in_ch, mult, *weight.shape[2:]).transpose(2, 3, 0, 1).astype(np.float32)
        return tf.nn.depthwise_conv2d(
            x, tf.constant(np.ascontiguousarray(dw)), strides=[1, *strides, 1], padding=padding, dilations=dilations
        )
    xs = tf.split(x, group, axis=-1)
    ws = np.split(hwio, group, axis=-1)
    return tf.concat(
        [
            tf.nn.conv2d(
                xi, tf.constant(np.ascontiguousarray(wi)), strides=strides, padding=padding, dilations=dilations
            )
            for xi, wi in zip(xs, ws, strict=True)
        ],
        axis=-1,
    )


def conv_pads(attrs, kernel, in_hw) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` from ``pads``/``auto_pad``."""
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        strides = attrs.get("strides", (1, 1))
        dil = attrs.get("dilations", (1, 1))
        split = []
        for size, k, s, d in zip(in_hw, kernel, strides, dil, strict=False):
            out = -(-int(size) // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - int(size), 0)
            small = total // 2
            split.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
        return (split[0][0], split[1][0], split[0][1], split[1][1])
    if auto == "VALID":
        return (0, 0, 0, 0)
    p = [int(v) for v in attrs.get("pads", (0, 0, 0, 0))]
    return (p[0], p[1], p[2], p[3])


def tf_padding(pads, kernel, in_hw, strides, dilations):
    """``"VALID"``/``"SAME"`` when the pads equal TF's, else explicit NHWC pads.

    Binary convs must come out as SAME/VALID: LCE fuses those (same-zero on arm) but not
    explicit padding.
    """
    if tuple(pads) == (0, 0, 0, 0):
        return "VALID"
    same = []
    for size, k, s, d in zip(in_hw, kernel, strides, dilations, strict=False):
        out = -(-int(size) // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - int(size), 0)
        same.append((total // 2, total - total // 2))
    if tuple(pads) == (same[0][0], same[1][0], same[0][1], same[1][1]):
        return "SAME"
    top, left, bottom, right = pads
    return [[0, 0], [top, bottom], [left, right], [0, 0]]
