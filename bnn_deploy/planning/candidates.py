"""The tile sizes worth trying for one frame: each tile count's smallest tile, then the Pareto front.

For an LR frame ``H × W`` and overlap ``o``, ``r × c`` border-flush tiles need at least
``T(r) × T(c)`` pixels each (:func:`bnn_deploy.core.tiling.tile_for_count`); any larger tile with
the same counts only computes more. Among those, a candidate is kept only if no smaller tile
computes fewer pixels (the Pareto front of tile pixels — what memory pays for — against work
overhead — what time pays for). Tiles smaller than :data:`MIN_TILE` per side (unless the frame is)
or computing more than :data:`MAX_OVERHEAD` × the frame are not worth measuring.
"""

from __future__ import annotations

from dataclasses import dataclass

from bnn_deploy.core.tiling import TilingWork, tile_for_count, tiling_work

MIN_TILE = 64  # LR pixels per side: below this the overlap eats the tile (the overlap is measured on such tiles)
MAX_OVERHEAD = 2.0  # tiles computing more than twice the frame's pixels cannot win


@dataclass(frozen=True)
class Candidate:
    """One tile size for a frame, and what tiling the frame with it costs."""

    tile_hw: tuple[int, int]
    work: TilingWork
    origin: str = "planned"  # "planned", "default export" (the export's default size), "exported" (in EXPORT_DIR)

    @property
    def label(self) -> str:
        return f"{self.tile_hw[1]}x{self.tile_hw[0]}"

    @property
    def pixels(self) -> int:
        return self.tile_hw[0] * self.tile_hw[1]

    @property
    def size_wh(self) -> tuple[int, int]:
        """``(width, height)``, as ``export --input-size`` takes it."""
        return self.tile_hw[1], self.tile_hw[0]


def axis_tiles(length: int, overlap: int, min_side: int = MIN_TILE) -> list[int]:
    """Each tile count's smallest tile along one axis, largest first, down to ``min_side`` (or the length)."""
    sizes, count = [], 1
    floor = min(min_side, length)
    while True:
        tile = tile_for_count(length, count, overlap)
        if tile < floor or (count > 1 and tile <= overlap):
            return sizes
        if tile not in sizes:
            sizes.append(tile)
        if tile == floor or tile <= overlap + 1:
            return sizes
        count += 1


def enumerate_candidates(
    lr_hw: tuple[int, int], overlap: int, *, min_side: int = MIN_TILE, max_overhead: float = MAX_OVERHEAD
) -> list[Candidate]:
    """The Pareto front of tile sizes for an LR frame (see the module docstring), smallest tile first."""
    rows, cols = axis_tiles(lr_hw[0], overlap, min_side), axis_tiles(lr_hw[1], overlap, min_side)
    every = [Candidate((th, tw), tiling_work(lr_hw, (th, tw), overlap)) for th in rows for tw in cols]
    every = [c for c in every if c.work.overhead <= max_overhead]
    every.sort(key=lambda c: (c.pixels, c.work.overhead))
    front, best = [], float("inf")
    for cand in every:
        if cand.work.overhead < best - 1e-12:
            front.append(cand)
            best = cand.work.overhead
    return front


def fixed_candidate(tile_hw: tuple[int, int], lr_hw: tuple[int, int], overlap: int, origin: str) -> Candidate:
    """A given tile size (an exported one, or the export's default) as a candidate for this frame."""
    return Candidate(tuple(tile_hw), tiling_work(lr_hw, tuple(tile_hw), overlap), origin)
