"""Test-run settings shared by every test file."""

try:
    import torch
except ImportError:
    torch = None

if torch is not None:
    # torch's idle worker threads spin after each op and starve convpool's own threads on a
    # small machine; one torch thread keeps the comparisons fast.
    torch.set_num_threads(1)
