"""The ONNX ops the TensorFlow rebuild supports: one registry, one file per op family.

* :mod:`.registry` — ``@lower(op, ...)``, :func:`lookup`, :func:`supported_ops` (no TF import);
* :mod:`.context` — the walk over the graph and what every lowering gets;
* families: :mod:`.elementwise` (Add … Equal, Where, BatchNormalization), :mod:`.activation`,
  :mod:`.conv` (float and binary convs, LCE's sign), :mod:`.resize` (Resize, pixel shuffles),
  :mod:`.reduce`, :mod:`.shape` (Concat, Pad, Identity, Dropout, Cast).

Importing this package imports every family, so the registry is complete whenever it is read.
"""

from bnn_deploy.conversion.onnx_ops import activation, conv, elementwise, reduce, resize, shape  # noqa: F401
from bnn_deploy.conversion.onnx_ops.registry import OnnxNode, UnsupportedOnnxOp, lookup, lower, supported_ops

__all__ = ["OnnxNode", "UnsupportedOnnxOp", "lookup", "lower", "supported_ops"]
