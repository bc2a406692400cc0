"""Float glue per binary unit of a produced flatbuffer: the float ops that run around each bconv.

A binary SR unit runs ``LceQuantize`` (the sign), ``LceBconv2d`` and float ops around them (PReLU,
per-channel constants, the residual add). The float *glue* is the elementwise part of those ops:
:data:`GLUE_OPS` (``ADD``, ``SUB``, ``MUL``, ``DIV``, …, and depthwise convs, which are affine maps
here); ``PRELU``, ``LceQuantize`` and ``LceBconv2d`` are not glue, and other float ops (convs,
activations, resizes, attention pooling) are counted apart as ``other``.

Ops run in graph order, one unit after another, so the ops from one ``LceQuantize`` up to the next
are one *segment*: that unit's bconv and float ops (and the next unit's input glue). ``head`` is
what runs before the first ``LceQuantize``; the last segment holds the last unit *and* the tail, so
it is kept apart from the per-unit counts. The conversion's fold (``bnn_deploy.conversion.fold``)
lowers these counts; the export manifest records them (``float_glue``, ``docs/manifest.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

GLUE_OPS = ("ADD", "SUB", "MUL", "DIV", "DEPTHWISE_CONV_2D", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM")
_NOT_GLUE = ("PRELU", "LceQuantize", "LceBconv2d")
GLUE_WHAT = "ADD/SUB/MUL/DIV/depthwise, besides PRELU and LceQuantize"


@dataclass
class FloatGlue:
    """Float glue ops of one flatbuffer, per binary unit (see the module docstring)."""

    units: int  # segments that start with an LceQuantize
    glue_total: int  # glue ops in the whole graph
    head_glue: int  # before the first LceQuantize
    per_unit_glue: list[int] = field(default_factory=list)  # every unit but the last
    max_unit_glue: int | None = None
    last_segment_glue: int | None = None  # the last unit and the tail
    per_unit_other: list[int] = field(default_factory=list)  # non-glue float ops per unit


def glue_segments(ops) -> list[list[str]]:
    """Op kinds cut at every ``LceQuantize``: ``[head, unit 1, …, last unit + tail]``.

    ``ops`` are objects with a ``kind`` (``bnn_deploy.core.flatbuffer.Op``), in run order.
    """
    segments: list[list[str]] = [[]]
    for op in ops:
        if op.kind == "LceQuantize":
            segments.append([])
        segments[-1].append(op.kind)
    return segments


def glue_profile(fb) -> FloatGlue:
    """The :class:`FloatGlue` of a parsed flatbuffer (``bnn_deploy.core.flatbuffer.Flatbuffer``)."""
    segments = glue_segments(fb.ops)
    head, units = segments[0], segments[1:]

    def glue(kinds):
        return sum(k in GLUE_OPS for k in kinds)

    def other(kinds):
        return sum(k not in GLUE_OPS and k not in _NOT_GLUE for k in kinds)

    per_unit = [glue(s) for s in units[:-1]]
    return FloatGlue(
        units=len(units),
        glue_total=glue(head) + sum(glue(s) for s in units),
        head_glue=glue(head),
        per_unit_glue=per_unit,
        max_unit_glue=max(per_unit) if per_unit else None,
        last_segment_glue=glue(units[-1]) if units else None,
        per_unit_other=[other(s) for s in units[:-1]],
    )


def spread(per_unit: list[int]) -> str:
    """``"2"`` when every unit has the same count, ``"2–3"`` otherwise, ``"-"`` for no units."""
    if not per_unit:
        return "-"
    lo, hi = min(per_unit), max(per_unit)
    return str(lo) if lo == hi else f"{lo}–{hi}"


def glue_text(glue: FloatGlue) -> str:
    """One line: per-unit spread, head, last unit + tail, total."""
    return (
        f"{spread(glue.per_unit_glue)} ({GLUE_WHAT}) over {len(glue.per_unit_glue)} units; "
        f"head {glue.head_glue}, last unit + tail {glue.last_segment_glue}; total {glue.glue_total}"
    )
