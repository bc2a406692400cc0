"""Whole frames at the lowest cost: the tile size for a frame, a device and a memory budget.

``plan(target, frame=(1920, 1080), device="host", memory_budget=1 << 30)`` enumerates candidate tile
sizes, measures a few (host) or predicts them (boards), and chooses the fastest that fits;
``render_plan`` prints it. See :mod:`bnn_deploy.planning.plan`.
"""

from bnn_deploy.planning.plan import plan
from bnn_deploy.planning.report import render_plan

__all__ = ["plan", "render_plan"]
