"""Hostile files for the data tests: archives whose headers lie about their members."""

import struct
import tracemalloc


def forge_zip_size(path, member: str, size: int) -> None:
    """Rewrite the sizes a zip declares for `member` (local header and central directory)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = 0
        while (at := data.find(signature, at)) != -1:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(name)] == name:
                data[at + offset:at + offset + 4] = struct.pack("<I", size)
            at += 4
    path.write_bytes(bytes(data))


def traced_peak(call) -> int:
    """The peak bytes Python allocates while call() runs (what reading a hostile file costs)."""
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak
