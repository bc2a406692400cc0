"""Import TensorFlow the way larq needs it.

larq 0.14 is written against Keras 2; TensorFlow 2.16 defaults to Keras 3 unless
``TF_USE_LEGACY_KERAS=1`` is set *before* TensorFlow is first imported. Every module that needs
TensorFlow imports it through :func:`tensorflow` so the variable is always set in time. The import is
lazy because TensorFlow costs seconds and most commands do not need it.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tensorflow():
    """Return the ``tensorflow`` module, imported with legacy Keras enabled."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf

    return tf
