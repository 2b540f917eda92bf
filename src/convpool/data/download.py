"""One downloader for every data set: stream to `<dest>.part`, resume it with an HTTP Range
request, show a progress bar, verify the checksum, and only then rename into place.

Why each step: a `.part` file means an interrupted download (Ctrl-C, a dropped connection) costs
only what is left to fetch next time; the checksum is checked before the rename, so a file under
its final name has always passed; a file already present that verifies is kept and never fetched
again. Network failures raise DownloadError (an OSError) and keep the `.part`; a checksum that
does not match raises ChecksumError (a ValueError) and deletes it, since resuming it cannot help.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..files import fsync_folder

CHUNK = 1 << 16
MAX_BYTES = 2**30  # the default cap on one download: several times the largest catalogued file
USER_AGENT = "convpool-data-download (Python urllib)"


def cache_root() -> Path:
    """Where downloaded data sets live, one sub-folder each: $CONVPOOL_CACHE when set, else
    ~/.cache/convpool (the folder Fashion-MNIST has always used)."""
    root = os.environ.get("CONVPOOL_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "convpool"


def file_digest(path: Path, algorithm: str) -> str | None:
    """Hex digest of a file's bytes with a hashlib algorithm; None when the file cannot be read."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, algorithm).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class Checksum:
    """What a finished download must hash to: `digest(path)` must return `expected`. `what` names
    the digest in messages ("MD5", "SHA-256 of the decompressed content", ...); `digest` returns
    None for a file it cannot read."""

    expected: str
    what: str
    digest: Callable[[Path], str | None]

    @classmethod
    def of_bytes(cls, algorithm: str, expected: str) -> Checksum:
        """A plain digest of the file's bytes, e.g. Checksum.of_bytes("md5", "c58f...")."""
        return cls(expected.lower(), algorithm.upper().replace("SHA", "SHA-"),
                   lambda path: file_digest(path, algorithm))

    def matches(self, path: Path) -> bool:
        return self.digest(path) == self.expected


class DownloadError(OSError):
    """The server could not be reached, answered with an error, or stopped mid-file. The `.part`
    file is kept, so the next try resumes."""


class DownloadTooLarge(ValueError):
    """The server announced, or sent, more bytes than the download's cap. Nothing over the cap is
    kept: the `.part` is deleted."""


class ChecksumError(ValueError):
    """A finished download does not have its published checksum. Its `.part` was deleted and the
    destination left as it was."""


def part_path(dest: Path) -> Path:
    """`<dest>.part`: where dest's bytes accumulate until they are complete and verified."""
    return dest.with_name(dest.name + ".part")


def download(url: str, dest: str | os.PathLike, checksum: Checksum, *, progress: bool | None = None,
             timeout: float = 60.0, max_bytes: int = MAX_BYTES) -> str:
    """Fetch url into dest unless dest is already there and verifies. Returns "present" (nothing
    fetched), "resumed" (an existing .part was continued) or "downloaded".

    progress: True shows a tqdm bar, False hides it, None shows it only on a terminal. A file at
    dest that does not verify is replaced, atomically, by a download that does. timeout is the
    longest wait for the server to answer or for the next bytes (a stall is a DownloadError
    saying how many bytes arrived); max_bytes caps the file's size, whether the server announces
    it (refused before the body is read) or not (stopped as soon as it is passed)."""
    dest = Path(dest)
    if dest.is_file() and checksum.matches(dest):
        return "present"
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    offset = part.stat().st_size if part.is_file() else 0
    start = _fetch(url, part, offset, dest.name, progress, timeout, max_bytes)
    if start is None:  # 416: nothing after offset; the part is either the whole file or wrong
        if checksum.matches(part):
            start = offset
        else:
            part.unlink()
            start = _fetch(url, part, 0, dest.name, progress, timeout, max_bytes)
    _finish(url, part, dest, checksum)
    return "resumed" if start else "downloaded"


def _fetch(url: str, part: Path, offset: int, label: str, progress: bool | None, timeout: float,
           max_bytes: int) -> int | None:
    """Write the body of url to part from byte `offset` on (a Range request when offset > 0).
    Returns where the written bytes began: offset when the server honoured the Range, 0 when it
    sent the whole file again; None for 416 (nothing at or after offset: the part is complete
    or wrong, which only its checksum can tell)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310  (catalogued URLs)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            return None
        raise DownloadError(f"{url}: the server answered HTTP {error.code} {error.reason}{_kept(part)}") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        if isinstance(reason, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        raise DownloadError(f"cannot download {url}: {reason}{_kept(part)}") from error
    with response:
        start = _start(response, offset, url)
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if length is not None and start + length > max_bytes:
            part.unlink(missing_ok=True)
            raise DownloadTooLarge(f"{url}: the server announces {start + length:,} bytes, more than the "
                                   f"{max_bytes:,} this download may take; nothing was kept")
        received = _stream(response, part, start, length, label, progress, url, timeout, max_bytes)
    if length is not None and received < length:
        raise DownloadError(f"{url}: the connection closed after {start + received:,} of "
                            f"{start + length:,} bytes{_kept(part)}")
    return start


def _start(response, offset: int, url: str) -> int:
    """Where the response body begins in the file: 0 for a 200 (a server that ignores Range),
    the first byte of Content-Range for a 206."""
    if response.status != 206:
        return 0
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    if match is None or int(match[1]) > offset:
        raise DownloadError(f"{url}: asked for bytes {offset}- and got Content-Range "
                            f"{response.headers.get('Content-Range')!r}; the .part is kept")
    return int(match[1])


def _stream(response, part: Path, start: int, length: int | None, label: str, progress: bool | None,
            url: str, timeout: float, max_bytes: int) -> int:
    """Copy the body into part from byte start on, truncating what follows; returns bytes copied."""
    from tqdm import tqdm

    received = 0
    total = None if length is None else start + length
    with open(part, "r+b" if start else "wb") as f, \
            tqdm(total=total, initial=start, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
                 disable=None if progress is None else not progress) as bar:
        f.seek(start)
        f.truncate()
        try:
            while chunk := response.read1(CHUNK):  # what has arrived, so a stall loses nothing
                if start + received + len(chunk) > max_bytes:
                    f.close()
                    part.unlink(missing_ok=True)
                    raise DownloadTooLarge(f"{url}: more than the {max_bytes:,} bytes this download may take "
                                           f"arrived; nothing was kept")
                f.write(chunk)
                f.flush()  # on disk as it arrives: a stall, a kill or a look at the .part sees every byte
                received += len(chunk)
                bar.update(len(chunk))
        except TimeoutError as error:
            f.flush()
            total = "" if length is None else f" of {start + length:,}"
            raise DownloadError(f"{url}: the download stalled: nothing arrived for {timeout:g} s after "
                                f"{start + received:,}{total} bytes{_kept(part, start + received)}") from error
        except (OSError, http.client.HTTPException) as error:
            f.flush()
            raise DownloadError(f"{url}: the download stopped after {start + received:,} bytes ({error})"
                                f"{_kept(part, start + received)}") from error
        f.flush()
        os.fsync(f.fileno())
    return received


def _kept(part: Path, size: int | None = None) -> str:
    """The end of a network error's message: what is kept for the next try."""
    if size is None:
        size = part.stat().st_size if part.is_file() else 0
    return f"; {size:,} bytes are kept in {part} and the next try resumes from there" if size else ""


def _finish(url: str, part: Path, dest: Path, checksum: Checksum) -> None:
    """Verify part, then rename it to dest (atomic: same folder); delete it when it fails."""
    found = checksum.digest(part)
    if found != checksum.expected:
        part.unlink(missing_ok=True)
        raise ChecksumError(f"{url}: {checksum.what} of the download is {found or 'not computable (unreadable)'}, "
                            f"expected {checksum.expected}; the download was deleted and {dest} left as it was")
    os.replace(part, dest)
    fsync_folder(dest.parent)
