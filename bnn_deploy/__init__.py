"""bnn-deploy: deploy binary image super-resolution networks to Larq Compute Engine and ONNX."""

import os as _os

# larq needs Keras 2; this must be set before anything imports TensorFlow (see bnn_deploy._tf).
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"
