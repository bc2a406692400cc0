"""Session fixtures shared by every test package; helpers live in ``tests/support``."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytest_plugins = ["support.devices"]


@pytest.fixture(scope="session")
def photo():
    """A real photo (HxWx3 float32 in [0, 1]) from scikit-image's wheel."""
    from bnn_deploy.core.photos import holdout_photos

    return holdout_photos()[0][1]


