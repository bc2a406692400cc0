"""Re-derive the latency model's fitted constants from published timings and compare with boards.py.

    python benchmarks/calibrate_predict.py [--zoo tests/data/lce-zoo]

Fits, in order, XNNPACK float/int8 MAC rates (MobileNet v1, XNNPACK README) and LCE's BGEMM
efficiency and parallel efficiency (QuickNetSmall + QuickNetLarge, LCE README) per calibrated
board, then prints each constant next to the value boards.py holds. After a model change, copy the
new values into boards.py (tests/prediction/test_prediction_calibration.py enforces it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bnn_deploy.prediction import boards as B
from bnn_deploy.prediction.calibration import calibrate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", type=Path, default=ROOT / "tests" / "data" / "lce-zoo")
    args = parser.parse_args(argv)
    stale = 0
    print(f"{'board':<14} {'constant':<12} {'fitted':>10} {'boards.py':>10}")
    for board, constants in calibrate(args.zoo).items():
        for name, value in constants.items():
            held = getattr(B.BOARDS[board], name)
            flag = "" if abs(held - value) <= 0.015 * abs(value) else "  <- update boards.py"
            stale += bool(flag)
            print(f"{board:<14} {name:<12} {value:>10.4g} {held:>10.4g}{flag}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
