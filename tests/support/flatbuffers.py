"""Run a flatbuffer the way the export's parity check does (LCE's interpreter, the parity kernel)."""

from __future__ import annotations

import numpy as np

from bnn_deploy.core.images import nchw_to_nhwc, nhwc_to_nchw


def run_flatbuffer(data: bytes, nchw: np.ndarray) -> np.ndarray:
    """One NCHW image through flatbuffer bytes in LCE's interpreter; returns the NCHW output."""
    from bnn_deploy.conversion.pipeline import PARITY_KERNEL
    from bnn_deploy.runtimes.lce import open_lce_data

    runner = open_lce_data(data, threads=1, kernel=PARITY_KERNEL)
    return nhwc_to_nchw(runner.predict(nchw_to_nhwc(nchw)))
