"""Test-run settings shared by every test file."""

import os

import pytest
import strict_device

strict_device.register()  # the stand-in GPU, 'strict', that tests/reference.py runs every op on

try:
    import torch
except ImportError:
    torch = None

if torch is not None:
    # torch's idle worker threads spin after each op and starve convpool's own threads on a
    # small machine; one torch thread keeps the comparisons fast.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Every cache the code under test writes (decoded image folders, CIFAR arrays, downloads)
    goes to a temporary folder, in this process and in the commands it starts, never into the
    user's ~/.cache/convpool. Tests that look at the default place unset it themselves."""
    previous = os.environ.get("CONVPOOL_CACHE")
    os.environ["CONVPOOL_CACHE"] = str(tmp_path_factory.mktemp("convpool-cache"))
    yield
    if previous is None:
        os.environ.pop("CONVPOOL_CACHE", None)
    else:
        os.environ["CONVPOOL_CACHE"] = previous
