"""Runtimes: one interface to run an exported artifact, whatever executes it.

``open_lce`` (Larq Compute Engine's interpreter, kernel options in :mod:`.lce`), ``open_tflite``
(TensorFlow's TFLite interpreter, float and int8), ``open_onnx`` (ONNX Runtime) and ``open_torch``
(PyTorch eager, the float32 reference) each return a :class:`.base.Runner`:
``predict(NHWC [1, H, W, C] float32) -> NHWC [1, sH, sW, C]``, its fixed ``input_shape`` (or None),
``runtime``, ``kernel``, ``threads`` and ``load_ms``; :func:`.base.benchmark` times it (a board's runs
are measured by its own tool in :mod:`bnn_deploy.devices`).
:mod:`.artifacts` reads and verifies an export directory and opens its files.
"""
