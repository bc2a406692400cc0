"""bnn-deploy: deploy binary image super-resolution networks to Larq Compute Engine and ONNX."""

from bnn_deploy.core.version import __version__

__all__ = ["__version__"]
