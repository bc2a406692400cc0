"""Run a PyTorch SR model: the one way, in NCHW, with a layout adapter for HxWx3 images.

Every PyTorch run in bnn-deploy (the export's parity reference, ONNX Runtime's check, the PyTorch
runner of the bench and eval, quality on photos, ``upscale``) goes through :func:`run_model`: eval
mode (deployment sign), no autograd, channels-last memory. Channels-last is the same arithmetic on
oneDNN's NHWC kernels and about 1.8× faster on CPU, which matters at export sizes like 320×180 ×4,
where one image is ~80 GMAC.
"""

from __future__ import annotations

import numpy as np


def run_model(model, nchw: np.ndarray) -> np.ndarray:
    """``model`` (put in eval mode) on one ``[1, C, H, W]`` float32 batch; returns the NCHW output."""
    import torch

    model.eval()
    net = model.to(memory_format=torch.channels_last)
    x = torch.from_numpy(np.ascontiguousarray(nchw, dtype=np.float32)).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        return net(x).contiguous().numpy()


def run_image(model, img: np.ndarray) -> np.ndarray:
    """``model`` on one HxWx3 float32 image in [0, 1]; returns the (unclamped) sH×sW×3 output."""
    nchw = np.ascontiguousarray(np.asarray(img, dtype=np.float32).transpose(2, 0, 1)[None])
    return np.ascontiguousarray(run_model(model, nchw)[0].transpose(1, 2, 0))
