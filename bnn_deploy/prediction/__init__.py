"""Predicted ARM latency of LCE/TFLite flatbuffers, per op, from a documented board table.

``predict(path_or_export_dir, devices, threads, kernel)`` reads a flatbuffer's op list and prices
every op on each board (``boards.py``) with the cost model (``model.py``); ``render_prediction``
prints it with every figure labelled PREDICTED; ``compare_against`` reports the model's error per op
type against a board's measured profile. Sources and calibration: ``docs/predict.md``.
"""

from bnn_deploy.prediction.predict import compare_against, predict, render_comparison, render_prediction

__all__ = ["predict", "render_prediction", "compare_against", "render_comparison"]
