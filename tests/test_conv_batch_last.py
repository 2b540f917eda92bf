"""Convolution of small images with the batch innermost (ops/conv_batch_last.py): its rule in
the table. Its numbers against PyTorch and central differences are in test_conv_paths.py,
with every other path's."""

from __future__ import annotations

import numpy

import convpool
from convpool.ops import conv_batch_last
from convpool.ops.conv_geometry import Needs, geometry

TRAINING = Needs(input=True, weight=True, graph=True)


def _rule(x_shape, w_shape, groups=1):
    """(applies, pays) of the batch-last path on the CPU, 3x3 kernel, padding 1, stride 1."""
    g = geometry(x_shape, w_shape, (1, 1), ((1, 1), (1, 1)), (1, 1), groups, 4)
    return conv_batch_last.BATCH_LAST.applies(g, numpy, TRAINING), conv_batch_last.BATCH_LAST.pays(g, TRAINING)


def test_rules(monkeypatch):
    """Applies: no groups, the window matrix within the memory budget. Pays: output rows
    under MAX_ROW pixels and a batch of at least MIN_BATCH."""
    assert _rule((256, 128, 3, 3), (128, 128, 3, 3)) == (True, True)  # fast-cnn's last conv
    assert not _rule((256, 128, 3, 3), (128, 64, 3, 3), groups=2)[0]  # groups
    assert _rule((8, 128, 3, 3), (128, 128, 3, 3)) == (True, False)  # a short batch
    assert _rule((256, 64, 16, 16), (64, 64, 3, 3)) == (True, False)  # long rows copy fast as they are
    monkeypatch.setattr(convpool.backend, "memory_budget", lambda: 1024)
    assert not _rule((256, 128, 3, 3), (128, 128, 3, 3))[0]  # over the budget
