"""Test-run settings shared by every test file."""

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
