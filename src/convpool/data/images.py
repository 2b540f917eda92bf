"""The one image reader every command and the image-folder loader use: a file (a path, or its
bytes with a name) decoded by Pillow with limits, every failure one ValueError naming the file.

Limits, checked before the pixels are decoded: the file's size (`MAX_IMAGE_BYTES`), and the
pixel count from the header against Pillow's decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`,
89 million pixels by default), which Pillow itself only warns about below twice the limit. A
truncated or damaged file says which file it is, not only Pillow's "Truncated File Read".
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Callable

import numpy
from PIL import Image, UnidentifiedImageError

MAX_IMAGE_BYTES = 256 * 2**20  # far beyond a 4000x3000 JPEG (about 5 MB) or an 8000x8000 BMP (192 MB)
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")
_OPEN = threading.Lock()  # warnings.catch_warnings changes process-wide filters: one opener at a time


def _too_big(where: str, error: Exception) -> ValueError:
    return ValueError(f"{where}: refused as a possible decompression bomb: {error} "
                      f"(the limit is PIL.Image.MAX_IMAGE_PIXELS)")


def _oversized(where: str, size: int, limit: int) -> ValueError:
    return ValueError(f"{where}: {size:,} bytes, more than the {limit:,} an image file may have here")


def open_image(source: str | os.PathLike | bytes, where: str | None = None, *, formats: tuple[str, ...] | None = None,
               max_bytes: int = MAX_IMAGE_BYTES, kinds: str | None = None,
               check: Callable[[Image.Image], None] | None = None) -> Image.Image:
    """A decoded (loaded) Pillow image from a path or from bytes; `where` names it in messages
    (default: the path). `formats` limits the decoders Pillow tries (e.g. ("PNG", "JPEG")), and
    `kinds` names them in the message for a file that is none of them ("JPEG or PNG"). `check`,
    when given, sees the image after its header is read (size and mode known) and before its
    pixels are decoded, and may raise to refuse it."""
    if isinstance(source, bytes | bytearray | memoryview):
        where = where or "<image>"
        if len(source) > max_bytes:
            raise _oversized(where, len(source), max_bytes)
        data = bytes(source)
    else:
        where = where or str(source)
        try:
            with open(source, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > max_bytes:
                    raise _oversized(where, size, max_bytes)
                data = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"{where}: no such image file") from None
        except IsADirectoryError:
            raise ValueError(f"{where}: a folder, not an image file") from None
    try:
        with _OPEN, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=formats)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise _too_big(where, e) from None
    except MemoryError:
        raise
    except Exception as e:  # Pillow raises many types for a damaged header
        if kinds is not None:
            raise ValueError(f"{where}: not a readable {kinds} image ({type(e).__name__}: {e})") from None
        if isinstance(e, UnidentifiedImageError):
            raise ValueError(f"{where}: not an image Pillow can read") from None
        raise ValueError(f"{where}: not a readable image ({type(e).__name__}: {e})") from None
    if check is not None:
        check(image)
    try:
        image.load()
    except MemoryError:
        raise
    except Exception as e:
        raise ValueError(f"{where}: not a readable {kinds or ''}{' ' if kinds else ''}image: damaged or truncated "
                         f"({type(e).__name__}: {e})") from None
    return image


def read_image(path: str | os.PathLike, channels: int | None = None, size: int | tuple[int, int] | None = None, *,
               max_side: int | None = None, where: str | None = None) -> tuple[numpy.ndarray, str]:
    """An image file as a uint8 (C, H, W) array, and a note of what was done to it.

    channels: 1 (grey) or 3 (RGB) to convert to; None keeps grey images grey and makes the rest
    RGB (alpha dropped). size: an int or (height, width) to resize to (Lanczos); max_side scales
    a larger image down keeping its shape. The note lists each step, e.g. "converted RGB to
    grey; resized 30x40 to 12x12" (width x height)."""
    if channels not in (None, 1, 3):
        raise ValueError(f"read_image: channels must be 1, 3 or None, got {channels!r}")
    image = open_image(path, where)
    notes = []
    grey = image.mode in GREY_MODES if channels is None else channels == 1
    mode = "L" if grey else "RGB"
    if image.mode != mode:
        if channels is not None:
            notes.append(f"converted {image.mode} to {'grey' if grey else 'RGB'}")
        image = image.convert(mode)
    width, height = image.size
    if size is not None:
        rows, columns = (size, size) if isinstance(size, int) else size
        if (height, width) != (rows, columns):
            notes.append(f"resized {width}x{height} to {columns}x{rows}")
            image = image.resize((columns, rows), Image.Resampling.LANCZOS)
    elif max_side is not None and max(width, height) > max_side:
        scale = max_side / max(width, height)
        scaled = (max(1, round(width * scale)), max(1, round(height * scale)))
        notes.append(f"scaled {width}x{height} down to {scaled[0]}x{scaled[1]}")
        image = image.resize(scaled, Image.Resampling.LANCZOS)
    array = numpy.asarray(image, dtype=numpy.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return numpy.ascontiguousarray(array), "; ".join(notes)
