"""Whole images through fixed-shape graphs: overlapping tiles, stitched so the seams do not show.

A TFLite/LCE graph takes one input size. An LR image of any size is covered, per axis, by ``n``
tiles of length ``T`` whose starts are spread evenly from ``0`` to ``L - T``::

    n = 1 if L <= T else ceil((L - o) / (T - o)),    start_i = round(i (L - T) / (n - 1))

so neighbours overlap by at least ``o`` (the overlap), and the first and last tiles are *flush with
the image border*. That matters: the model zero-pads every conv at the image edge, so a tile that
covers the edge must see the edge itself, not padding in front of it, to compute what the whole
image computes there. Each output pixel is taken from the tile where it lies farthest from an
interior cut: tile ``i`` keeps ``[b_i, b_{i+1})`` with ``b_i`` the middle of its overlap with tile
``i - 1`` — overlaps are cropped from the interior side only. Coordinates scale by ``s`` on output.

A pixel kept at distance ``d`` from an interior tile edge sees ``d`` pixels of true context on that
side; with ``d ≥`` the receptive-field radius the tile computes exactly what the whole image does.
SR networks' effective context decays much faster than their receptive field, so a smaller
overlap already gives ≥ 50 dB against the whole image. How much smaller depends on the model:
:func:`smallest_overlap` measures it (the export does, once per model, and records it in the
manifest as ``tile_overlap``; :data:`DEFAULT_OVERLAP` is used where nothing was measured). When the
image is smaller than the tile along an axis it is edge-padded (``numpy.pad(mode="edge")``) to the
tile and the output cropped back; outputs near that padded border are then approximate.

Tile size for an image: ``n`` border-flush tiles cover a length ``L`` with the smallest tile
``T(n) = o + ceil((L - o) / n)`` (:func:`tile_for_count`); they compute ``n·T(n) ≈ L + (n - 1)·o``
pixels, so the only waste is the overlap itself plus under ``n`` pixels of rounding
(:func:`tiling_work` reports both). Tiles of two sizes (an interior and an edge size) could only
recover that rounding, which is why one size per image is enough.

Tile size from memory: a fixed-shape graph's tile is its input size, so a memory budget chooses
among the exported sizes — :func:`choose_input_size` keeps the largest whose *measured* peak fits.
The peak is measured (:func:`bnn_deploy.runtimes.isolated.measure_peak_memory`: a fresh process runs the
graph twice and reads its resident high-water mark) because no static count holds: float convs'
im2col scratch at HR resolution and kernels' transient buffers make a 320x180 BBCU-M use 3-7× the
memory of its simultaneously live activations, depending on the kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bnn_deploy.core.errors import BnnDeployError

# LR pixels of overlap between neighbouring tiles (each keeps >= 12 px of context past a cut).
# Tiled vs whole image, neighbours overlapping by exactly this much (the worst case), PyTorch:
# bundled bbcu_m_x2_small (trained, 4 blocks) 75.6 dB at 16, bit-exact at 24; a random-weight
# BBCU-M x2 with 64 features and 16 blocks (receptive field ~35 px, nothing decays) 44.8 dB at 16,
# 53.5 dB at 24, 66.6 dB at 32. 24 keeps >= 50 dB for both at ~15 % extra work on 320x180 tiles.
DEFAULT_OVERLAP = 24


@dataclass(frozen=True)
class AxisPlan:
    """Tiles along one axis: ``starts`` of each tile, and the kept range ``[cuts[i], cuts[i+1])``."""

    starts: tuple[int, ...]
    cuts: tuple[int, ...]
    padded: int  # pixels of edge padding added when the image is shorter than the tile


def plan_axis(length: int, tile: int, overlap: int) -> AxisPlan:
    """Evenly spaced, border-flush tiles of ``tile`` pixels over ``length`` (see module docstring)."""
    if tile < 1 or length < 1:
        raise BnnDeployError(f"cannot tile {length} pixels with tiles of {tile}; give positive sizes")
    if overlap < 0:
        raise BnnDeployError(f"overlap {overlap} must be at least 0; give --overlap 0 or more")
    if length <= tile:  # one tile: no overlap needed
        return AxisPlan(starts=(0,), cuts=(0, length), padded=tile - length)
    if overlap >= tile:
        raise BnnDeployError(
            f"overlap {overlap} must be smaller than the tile ({tile} px); lower --overlap or use a larger tile"
        )
    n = math.ceil((length - overlap) / (tile - overlap))
    starts = tuple(round(i * (length - tile) / (n - 1)) for i in range(n))
    cuts = (0,) + tuple((starts[i] + starts[i - 1] + tile) // 2 for i in range(1, n)) + (length,)
    return AxisPlan(starts=starts, cuts=cuts, padded=0)


def tile_for_count(length: int, count: int, overlap: int) -> int:
    """The smallest tile that covers ``length`` pixels with ``count`` border-flush tiles overlapping by ``overlap``.

    ``T = overlap + ceil((length - overlap) / count)``; the whole length when ``count`` is 1 or the
    length is not longer than the overlap. :func:`plan_axis` may cover the length with fewer tiles
    of that size when ``count`` does not divide evenly (callers count the tiles it makes).
    """
    if count < 1 or length < 1 or overlap < 0:
        raise BnnDeployError(f"cannot tile {length} pixels in {count} tiles overlapping by {overlap}")
    if count == 1 or length <= overlap:
        return length
    return overlap + math.ceil((length - overlap) / count)


@dataclass(frozen=True)
class TilingWork:
    """What tiling an image costs: how many tiles, and the pixels they compute relative to the image."""

    grid: tuple[int, int]  # tiles along (height, width)
    tiles: int
    overhead: float  # tile pixels × tiles / image pixels (1.0: no waste)
    least_overhead: float  # the same tile counts with tiles of any size: only the overlap is computed twice
    padded: bool  # the image is smaller than the tile along an axis (edge-padded)


def tiling_work(image_hw: tuple[int, int], tile_hw: tuple[int, int], overlap: int) -> TilingWork:
    """How many ``tile_hw`` tiles :func:`run_tiled` runs over ``image_hw`` and how many pixels they compute."""
    (height, width), (th, tw) = image_hw, tile_hw
    rows, cols = plan_axis(height, th, overlap), plan_axis(width, tw, overlap)
    nr, nc = len(rows.starts), len(cols.starts)
    least = (height + (nr - 1) * overlap) * (width + (nc - 1) * overlap)
    return TilingWork(
        grid=(nr, nc),
        tiles=nr * nc,
        overhead=nr * nc * th * tw / (height * width),
        least_overhead=least / (height * width),
        padded=is_padded(image_hw, tile_hw),
    )


def tile_count(image_hw: tuple[int, int], tile_hw: tuple[int, int], overlap: int = DEFAULT_OVERLAP) -> int:
    """How many tiles :func:`run_tiled` runs for an image."""
    rows = plan_axis(image_hw[0], tile_hw[0], overlap)
    cols = plan_axis(image_hw[1], tile_hw[1], overlap)
    return len(rows.starts) * len(cols.starts)


def run_tiled(
    predict,
    img: np.ndarray,
    tile_hw: tuple[int, int],
    scale: int,
    overlap: int = DEFAULT_OVERLAP,
    progress=None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Upscale HxWxC ``img`` with ``predict`` (NHWC ``[1, th, tw, C]`` → ``[1, s·th, s·tw, C]``) by tiles.

    Returns the stitched ``sH × sW × C`` image: a new float32 array, or ``out`` when given. A uint8
    ``out`` receives each kept part quantised as :func:`~bnn_deploy.core.metrics.to_uint8` does
    (the PNG's pixels), so a large output costs one byte per value instead of four.
    ``progress(done, total)`` is called after each tile.
    """
    from bnn_deploy.core.metrics import to_uint8

    img = np.asarray(img, dtype=np.float32)
    height, width = img.shape[:2]
    th, tw = (int(v) for v in tile_hw)
    rows, cols = plan_axis(height, th, overlap), plan_axis(width, tw, overlap)
    if rows.padded or cols.padded:
        img = np.pad(img, ((0, rows.padded), (0, cols.padded), (0, 0)), mode="edge")
    shape = (height * scale, width * scale, img.shape[2])
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape:
        raise BnnDeployError(f"the output buffer is {list(out.shape)}, not {list(shape)}; pass an sH x sW x C array")
    keep = to_uint8 if out.dtype == np.uint8 else (lambda part: part)
    total, done = len(rows.starts) * len(cols.starts), 0
    for i, top in enumerate(rows.starts):
        for j, left in enumerate(cols.starts):
            tile = np.ascontiguousarray(img[top : top + th, left : left + tw])[None]
            sr = np.asarray(predict(tile))
            if sr.shape != (1, th * scale, tw * scale, img.shape[2]):
                raise BnnDeployError(
                    f"a {tw}x{th} tile came back as {list(sr.shape)}, not "
                    f"{[1, th * scale, tw * scale, img.shape[2]]}; check the model's scale"
                )
            r0, r1 = rows.cuts[i], rows.cuts[i + 1]
            c0, c1 = cols.cuts[j], cols.cuts[j + 1]
            out[r0 * scale : r1 * scale, c0 * scale : c1 * scale] = keep(
                sr[0, (r0 - top) * scale : (r1 - top) * scale, (c0 - left) * scale : (c1 - left) * scale]
            )
            done += 1
            if progress is not None:
                progress(done, total)
    return out


def predict_image(
    predict, input_shape, img: np.ndarray, scale: int, overlap: int = DEFAULT_OVERLAP, progress=None
) -> tuple[np.ndarray, dict]:
    """One HxWxC image through a runner: whole when it takes any size (``input_shape`` None), else tiled.

    Returns ``(sR image, {"tiles", "padded"})``; ``padded`` says the image was smaller than the tile
    along an axis, so it was edge-padded and the output near that border is approximate. This is
    the one place that makes the whole-image-or-tiles choice.
    """
    if input_shape is None:
        return np.asarray(predict(np.asarray(img, dtype=np.float32)[None]))[0], {"tiles": 1, "padded": False}
    tile_hw = tuple(int(v) for v in input_shape[1:3])
    sr = run_tiled(predict, img, tile_hw, scale, overlap, progress)
    return sr, {"tiles": tile_count(img.shape[:2], tile_hw, overlap), "padded": is_padded(img.shape[:2], tile_hw)}


def is_padded(image_hw: tuple[int, int], tile_hw: tuple[int, int]) -> bool:
    """An image smaller than the tile along an axis is edge-padded: its output there is approximate."""
    return bool(image_hw[0] < tile_hw[0] or image_hw[1] < tile_hw[1])


# ---------------------------------------------------------------- overlap from the model

OVERLAP_THRESHOLD_DB = 50.0  # tiled vs whole-image PSNR a tiled output must keep
OVERLAP_CROP = 64  # LR side of the square crops the overlap is measured on (more when the bound needs it)


def seam_tiles(side: int, overlap: int) -> tuple[int, int]:
    """The tile cutting a ``side``² image (``side - overlap`` even) in 2×2 tiles overlapping by exactly ``overlap``."""
    tile = (side + overlap) // 2
    return tile, tile


def smallest_overlap(
    predict, crops, upper: int, *, exact_at_upper: bool, threshold_db: float = OVERLAP_THRESHOLD_DB, progress=None
) -> dict:
    """The smallest even overlap whose tiled output stays ``>= threshold_db`` from the whole-image output.

    ``crops`` are square HxWx3 images of one even side (one per photo). Each is cut into 2×2 tiles
    whose neighbours overlap by *exactly* the overlap tried (:func:`seam_tiles`: the worst case, no
    extra context) and compared with ``predict`` on the whole crop (parity PSNR, peak 1): one seam
    per crop side, as dense as the seams of a grid of ``side + overlap`` px tiles. An overlap passes
    when the worst crop does. Even overlaps from 0 to ``upper`` are binary-searched (about
    ``log2(upper / 2) + 1`` tiled runs per crop; an overlap is rejected at its first crop below the
    bar). ``exact_at_upper``: ``upper`` is twice the receptive-field radius, where tiles compute
    what the whole image computes, so it is not run; otherwise it is checked first. Returns
    ``{"pixels", "psnr_db", "meets_threshold", "tried": [{"overlap", "psnr_db"}]}`` with ``psnr_db``
    the worst crop's at ``pixels`` (None for the untried exact bound); when even ``upper`` stays
    below the bar, ``pixels`` is ``upper`` and ``meets_threshold`` is false.
    """
    from bnn_deploy.core.parity import parity_psnr

    say = progress or (lambda _m: None)
    upper = max(0, int(upper) - int(upper) % 2)
    side = crops[0].shape[0]
    if any(c.shape[:2] != (side, side) for c in crops) or side % 2 or side <= upper:
        raise BnnDeployError(f"overlap crops must be square, of one even side above {upper} px")
    wholes = [np.asarray(predict(np.asarray(c, dtype=np.float32)[None]))[0] for c in crops]
    scale = wholes[0].shape[0] // side
    tried: dict[int, float | None] = {}

    def worst(overlap: int) -> float:
        low = math.inf
        for crop, whole in zip(crops, wholes):
            low = min(low, parity_psnr(run_tiled(predict, crop, seam_tiles(side, overlap), scale, overlap), whole))
            if low < threshold_db:
                break  # rejected: the other crops need not run
        tried[overlap] = low
        say(f"    overlap {overlap:>3} px: {'bit-exact' if low == math.inf else f'{low:.1f} dB'}")
        return low

    if exact_at_upper:
        tried[upper] = None
    elif worst(upper) < threshold_db:
        return _overlap_result(upper, tried, False)
    if upper == 0 or worst(0) >= threshold_db:
        return _overlap_result(0, tried, True)
    low, high = 0, upper  # low fails, high passes
    while high - low > 2:
        mid = (low + high) // 4 * 2
        if worst(mid) >= threshold_db:
            high = mid
        else:
            low = mid
    return _overlap_result(high, tried, True)


def _overlap_result(pixels: int, tried: dict, met: bool) -> dict:
    return {
        "pixels": pixels,
        "psnr_db": tried[pixels],
        "meets_threshold": met,
        "tried": [{"overlap": o, "psnr_db": tried[o]} for o in sorted(tried) if tried[o] is not None],
    }


# ---------------------------------------------------------------- memory


def choose_input_size(sizes: list[tuple[int, int]], budget: int | None, measure) -> tuple[tuple[int, int], int | None]:
    """The largest ``(h, w)`` of ``sizes`` whose ``measure(hw)`` (peak bytes) fits ``budget``.

    Sizes are tried from the largest down, so only as many are measured as needed; with no budget
    the largest wins unmeasured. Returns ``(hw, measured bytes or None)``; nothing fitting is a
    clear error naming what the smallest size needs.
    """
    if not sizes:
        raise BnnDeployError("no fixed-size artifact to tile with; export one with --input-size")
    ordered = sorted(set(sizes), key=lambda hw: hw[0] * hw[1], reverse=True)
    if budget is None:
        return ordered[0], None
    need = None
    for hw in ordered:
        need = int(measure(hw))
        if need <= budget:
            return hw, need
    h, w = ordered[-1]
    raise BnnDeployError(
        f"even the smallest exported size {w}x{h} needs ~{need / 2**20:.0f} MB, over "
        f"--memory-budget {budget / 2**20:.0f} MB; raise the budget or export a smaller --input-size"
    )
