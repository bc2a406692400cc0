"""boards.py's fitted constants are what calibration.py derives from the published figures.

If a model change moves a fitted constant, this fails until ``benchmarks/calibrate_predict.py`` is
re-run and boards.py updated: the numbers in boards.py can never silently drift from their sources.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bnn_deploy.prediction import boards as B
from bnn_deploy.prediction.calibration import calibrate, float_checks, mobilenet_v1, mobilenet_v2

ZOO = Path(__file__).resolve().parents[2] / "tests" / "data" / "lce-zoo"


@pytest.fixture(scope="module")
def fitted():
    return calibrate(ZOO)


def test_boards_hold_the_fitted_constants(fitted):
    for board, constants in fitted.items():
        for name, value in constants.items():
            held = getattr(B.BOARDS[board], name)
            assert held == pytest.approx(value, rel=0.015), (board, name, held, value)


def test_derived_boards_follow_their_base():
    """pi5 / pi3-64 are pi4 times documented ratios; pixel1's int8 uses pi4's int8/fp32 ratio."""
    pi4, pi5, pi3 = B.BOARDS["pi4"], B.BOARDS["pi5"], B.BOARDS["pi3-64"]
    assert pi5.derived_from == "pi4" and pi3.derived_from == "pi4"
    assert pi5.f32_gmacs > pi4.f32_gmacs > pi3.f32_gmacs
    assert pi5.bgemm_eff * pi5.neon_q_per_cycle * pi5.clock_ghz > pi4.bgemm_eff * pi4.neon_q_per_cycle * pi4.clock_ghz
    ratio = B.BOARDS["pixel1"].i8_gmacs / B.BOARDS["pixel1"].f32_gmacs
    assert ratio == pytest.approx(pi4.i8_gmacs / pi4.f32_gmacs, rel=1e-3)
    for derived in (pi5, pi3, B.BOARDS["android-arm64"]):
        assert derived.relative_error("binary") > pi4.relative_error("binary")


def test_reference_graphs_have_the_published_mac_counts():
    """MobileNet v1 1.0: ~569 M MACs; v2 1.0: ~300 M MACs (Howard et al. 2017, Sandler et al. 2018)."""
    from bnn_deploy.prediction.model import conv_macs

    v1 = sum(conv_macs(op) for op in mobilenet_v1().ops if op.kind != "ADD" and op.kind != "MEAN")
    v2 = sum(conv_macs(op) for op in mobilenet_v2().ops if op.kind != "ADD" and op.kind != "MEAN")
    assert 560e6 < v1 < 580e6
    assert 295e6 < v2 < 310e6
    assert sum(op.kind == "ADD" for op in mobilenet_v2().ops) == 10


def test_mobilenet_checks_within_bounds():
    """v1 is fitted (tight); v2 is an independent check of the float/int8 constants."""
    for row in float_checks():
        bound = 0.02 if row["role"] == "fitted" else (0.25 if "int8" in row["model"] else 0.20)
        assert abs(row["error_pct"]) <= 100 * bound, row
