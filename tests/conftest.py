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


# Tests that need what only `make test` installs (Debian packages: OpenSSH server, qemu-user, cross
# compilers, Chromium) or an emulated board. `make test-fast` deselects them with -m "not slow" instead of
# letting them skip.
NEEDS_APT = {
    "sshd",
    "adb_server",  # Debian's adb
    "arm64_root",
    "armhf_root",
    "aarch64_elf",
    "armhf_elf",
    "aarch64_dynamic_elf",
    "android_like_elf",
    "chromium",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if NEEDS_APT & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
