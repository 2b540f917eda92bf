"""Pickles as the official CIFAR python-format files are: protocol 2, written by Python 2, so
byte strings are Python 2 `str` (BINSTRING) and arrays come from numpy.core.multiarray."""

import io
import pickle
import struct


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 str (BINSTRING), as the official CIFAR pickles do."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def py2_pickle(value) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(value)
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
