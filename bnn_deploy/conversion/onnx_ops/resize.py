"""Ops that change the spatial size: Resize, DepthToSpace (pixel shuffle), SpaceToDepth."""

from __future__ import annotations

import numpy as np

from bnn_deploy.conversion.onnx_ops.registry import lower
from bnn_deploy.conversion.pixel_shuffle import depth_to_space_crd_exact


@lower("DepthToSpace")
def depth_to_space(ctx, node, ins):
    """DCR is TF's own order. CRD (PyTorch's PixelShuffle) is TF's op too when the planner moved the
    channel permutation into the producing conv (``plan_pixel_shuffles``), else an exact
    reshape/transpose."""
    tf, x = ctx.tf, ins[0]
    factor, mode = int(node.attrs["blocksize"]), node.attrs.get("mode", "DCR")
    if mode == "DCR":
        return tf.nn.depth_to_space(x, factor)
    if ctx.plans[node.index].how == "permuted":
        return tf.nn.depth_to_space(x, factor)
    return depth_to_space_crd_exact(tf, x, factor)


@lower("SpaceToDepth")
def space_to_depth(ctx, node, ins):
    return ctx.tf.nn.space_to_depth(ins[0], int(node.attrs["blocksize"]))


def _output_hw(ctx, node, ins, h: int, w: int, n: int, c: int) -> tuple[int, int]:
    """The output size from constant ``sizes`` or ``scales`` (opset 10: ``scales`` is input 1)."""
    sizes = ins[3] if len(ins) > 3 and ins[3] is not None and np.size(ins[3]) else None
    scales = ins[2] if len(ins) > 2 and ins[2] is not None and np.size(ins[2]) else None
    if ctx.opset < 11 and len(ins) == 2:
        scales = ins[1]
    if sizes is not None:
        if [int(v) for v in np.asarray(sizes)[:2]] != [n, c]:
            ctx.fail(node, "resizing batch or channels")
        return tuple(int(v) for v in np.asarray(sizes)[2:4])
    if scales is not None:
        sc = [float(v) for v in np.asarray(scales)]
        if sc[:2] != [1.0, 1.0]:
            ctx.fail(node, "resizing batch or channels")
        return int(np.floor(h * sc[2])), int(np.floor(w * sc[3]))
    ctx.fail(node, "neither constant scales nor sizes")


@lower("Resize")
def resize(ctx, node, ins):
    """ONNX Resize → the TF resize op with the same sampling grid; other modes are refused by name."""
    tf, x, attrs = ctx.tf, ins[0], node.attrs
    n, h, w, c = (int(d) for d in x.shape)
    size = list(_output_hw(ctx, node, ins, h, w, n, c))
    mode = attrs.get("mode", "nearest")
    # Opset 10's Resize had no coordinate mode: it sampled asymmetrically.
    coord = attrs.get("coordinate_transformation_mode", "half_pixel" if ctx.opset >= 11 else "asymmetric")
    if mode == "linear":
        # half_pixel (PyTorch align_corners=False) ⇔ TF2 resize bilinear without antialias.
        if coord in ("half_pixel", "pytorch_half_pixel") and min(size) > 1:
            return tf.image.resize(x, size, method="bilinear", antialias=False)
        if coord == "align_corners":
            return tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=True)
        if coord == "asymmetric":
            return tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=False, half_pixel_centers=False)
    if mode == "nearest":
        nearest = attrs.get("nearest_mode", "round_prefer_floor")
        # PyTorch's nearest: src = floor(dst · in/out) = asymmetric + floor.
        if coord == "asymmetric" and nearest == "floor":
            return tf.raw_ops.ResizeNearestNeighbor(images=x, size=size, align_corners=False, half_pixel_centers=False)
    rounding = f" and nearest_mode {attrs.get('nearest_mode', 'round_prefer_floor')!r}" if mode == "nearest" else ""
    ctx.fail(
        node,
        f"mode {mode!r} with coordinate_transformation_mode {coord!r}{rounding} "
        "(supported: linear half_pixel/align_corners/asymmetric, nearest asymmetric+floor)",
    )
