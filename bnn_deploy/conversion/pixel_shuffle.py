"""Pixel shuffle between PyTorch/ONNX (CRD) and TensorFlow (DCR) channel orders: the one formula.

PyTorch's ``PixelShuffle(r)`` (ONNX ``DepthToSpace`` mode ``CRD``) and TensorFlow's
``depth_to_space`` (ONNX mode ``DCR``) both map ``C·r²`` channels at (h, w) to ``C`` channels at
(h·r + i, w·r + j), but read the input channels in different orders:

* CRD (PyTorch): output channel ``c`` at block offset (i, j) reads channel ``c·r² + i·r + j``;
* DCR (TensorFlow): output channel ``c`` at block offset (i, j) reads channel ``(i·r + j)·C + c``.

So TF's ``depth_to_space`` reproduces PyTorch's pixel shuffle exactly when its input channel ``k``
holds PyTorch channel ``perm[k] = (k mod C)·r² + ⌊k / C⌋`` — a pure reordering, no arithmetic.
"""

from __future__ import annotations

import numpy as np


def crd_to_dcr_permutation(out_channels: int, factor: int) -> np.ndarray:
    """``perm`` with ``perm[k] = (k % C)·r² + k // C`` for ``k < C·r²`` (C = ``out_channels``, r = ``factor``).

    ``x_tf[..., k] = x_crd[..., perm[k]]`` turns a CRD-ordered tensor into the DCR order that TF's
    ``depth_to_space`` expects; applying it to a conv's output channels (weights, bias) and every
    per-channel tensor after that conv moves the whole reordering into the weights for free.
    """
    if out_channels < 1 or factor < 1:
        raise ValueError(f"pixel shuffle needs positive channels and factor, got C={out_channels}, r={factor}")
    k = np.arange(out_channels * factor * factor)
    return (k % out_channels) * factor * factor + k // out_channels


def permute_channels(value: np.ndarray, perm: np.ndarray, axis: int) -> np.ndarray:
    """``value`` reordered along ``axis`` by ``perm``; a size-1 axis (broadcast) is left alone."""
    if value.ndim == 0 or value.shape[axis] == 1:
        return value
    if value.shape[axis] != len(perm):
        raise ValueError(f"cannot permute axis {axis} of shape {value.shape} with {len(perm)} channels")
    return np.take(value, perm, axis=axis)


def depth_to_space_crd_exact(tf, x, factor: int):
    """CRD depth-to-space of NHWC ``x`` by reshape/transpose: the slower exact fallback.

    ``[N, H, W, C·r²] → [N, H, W, C, r, r] → [N, H, r, W, r, C] → [N, H·r, W·r, C]``: NHWC channel
    ``c·r² + i·r + j`` lands at (h·r + i, w·r + j, c), which is PyTorch's ``pixel_shuffle``.
    """
    n, h, w, channels = x.shape
    c = channels // (factor * factor)
    x = tf.reshape(x, [n, h, w, c, factor, factor])
    x = tf.transpose(x, [0, 1, 4, 2, 5, 3])
    return tf.reshape(x, [n, h * factor, w * factor, c])
