"""Import TensorFlow lazily, with its C++ start-up logging quietened.

TensorFlow costs seconds and ~0.5 GB to import and most commands do not need it, so every module
that does imports it through :func:`tensorflow`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tensorflow():
    """Return the ``tensorflow`` module."""
    import tensorflow as tf

    return tf
