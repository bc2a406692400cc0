"""bnn-deploy: deploy binary image super-resolution networks to Larq Compute Engine and ONNX."""

__version__ = "0.1.0"
