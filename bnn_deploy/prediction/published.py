"""Published latencies the model is calibrated on and checked against, with their sources.

Only figures measured by others on real boards are here. Which ones are *fitted* and which are
only *checked* is decided in ``calibration.py`` and stated in ``docs/predict.md``.
"""

from __future__ import annotations

# larq/compute-engine README, "Performance" (benchmarked 2021-06-11 Pixel 1, 2022-04-20 RPi 4B;
# LCE's lce_benchmark_model with XNNPACK, default bconv kernel, random inputs). Milliseconds.
LCE_QUICKNET = {
    "source": "larq/compute-engine README.md, Performance section (commit 7c78850, 'Update QuickNet "
    "documentation. (#663)'); also ../shared/lce-zoo/README.md",
    "config": {"kernel": "xnnpack"},
    "ms": {
        "QuickNetSmall": {("pi4", 1): 27.7, ("pi4", 4): 12.1, ("pixel1", 1): 16.8, ("pixel1", 4): 8.9},
        "QuickNet": {("pi4", 1): 45.0, ("pi4", 4): 20.8, ("pixel1", 1): 25.5, ("pixel1", 4): 12.6},
        "QuickNetLarge": {("pi4", 1): 77.0, ("pi4", 4): 31.7, ("pixel1", 1): 44.2, ("pixel1", 4): 22.8},
    },
}
# LCE README since commit f48e677 (2020-08-25, "Update benchmark table in Readme (#470)"): "LCE
# achieves an inference time of 41.6 ms for Bi-RealNet on the same device" (Pixel 1, 1 thread;
# dabnn reports 61.3 ms). An older LCE than the QuickNet rows; used only as a check.
LCE_BIREALNET = {
    "source": "larq/compute-engine README.md (commit f48e677, 2020-08-25), Pixel 1, 1 thread",
    "ms": {("pixel1", 1): 41.6},
}
# The rows the binary constants are fitted on; QuickNet is the check and is never fitted.
QUICKNET_FIT = ("QuickNetSmall", "QuickNetLarge")
QUICKNET_CHECK = ("QuickNet",)

# google/XNNPACK README, "Performance" (end2end_bench, randomized weights/inputs). Milliseconds.
# Mobile phones: benchmarked 2020-03-27, single-threaded and "as many threads as big cores".
# Raspberry Pi: benchmarked 2022-02-08, multi-threaded (4 threads), "RPi 4 (BCM2711, ARM64)" column;
# the RPi 3+ / RPi 4 32-bit columns are used only as a ratio (same build for both).
XNNPACK_README = {
    "source": "google/XNNPACK README.md, Performance (commit fd2d933, 'Update Raspberry Pi "
    "performance in README', 2022-02-08; phone table from commit 71ff592, 2020-03-27)",
    "ms": {
        ("pixel1", "fp32_mobilenet_v1", 1): 82,
        ("pixel1", "fp32_mobilenet_v1", 2): 43,
        ("pixel1", "fp32_mobilenet_v2", 1): 49,
        ("pixel1", "fp32_mobilenet_v2", 2): 26,
        ("pixel3a", "fp32_mobilenet_v1", 1): 88,
        ("pixel3a", "fp32_mobilenet_v1", 2): 46,
        ("pixel3a", "fp32_mobilenet_v2", 1): 55,
        ("pixel3a", "fp32_mobilenet_v2", 2): 28,
        ("pi4", "fp32_mobilenet_v1", 4): 77,
        ("pi4", "fp32_mobilenet_v2", 4): 46,
        ("pi4", "int8_mobilenet_v1", 4): 24,
        ("pi4", "int8_mobilenet_v2", 4): 17,
        ("pi4-32bit", "fp32_mobilenet_v1", 4): 72,
        ("pi3plus-32bit", "fp32_mobilenet_v1", 4): 114,
        ("pi4-32bit", "int8_mobilenet_v1", 4): 29,
        ("pi3plus-32bit", "int8_mobilenet_v1", 4): 46,
    },
}

# google/XNNPACK issue #814 (2020-07-09): end2end-bench on a Raspberry Pi 4B, 64-bit Ubuntu,
# performance governor: FP32MobileNetV1 312.0 ms at 1 thread, 142.4 ms at 4 threads. The absolute
# times are ~2x the README's (that build was slower); only the 1-to-4-thread ratio is used.
XNNPACK_PI4_THREAD_RATIO = {
    "source": "google/XNNPACK issue #814, FP32MobileNetV1/T:1 312008 us, T:4 142362 us",
    "t1_over_t4": 312008 / 142362,
}
