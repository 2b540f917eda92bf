"""Fashion-MNIST (Zalando, MIT licence): find it on disk, load it, or download it with checks.

The data is four IDX files, each as `name` or `name.gz`. They are looked for in the folder
you give, then in ~/.cache/convpool/fashion-mnist (where `download_fashion_mnist` and
`convpool data download fashion-mnist` put them; $CONVPOOL_CACHE moves ~/.cache/convpool),
then in /usr/share/datasets/fashion-mnist (Debian's `dataset-fashion-mnist` package).

Downloads are checked against the SHA-256 of the *decompressed* IDX bytes: those are the
same whichever gzip produced the file (upstream's .gz files and Debian's differ byte for
byte but not in content), and a file is only renamed into place once it has passed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path

from ..files import atomic_write
from .dataset import ArrayDataset
from .download import cache_root
from .idx import load_idx_pair
from .transforms import Transform

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# The official location, from github.com/zalandoresearch/fashion-mnist (README, "Get the Data").
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

FASHION_MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# SHA-256 of each file's decompressed IDX content (not of a .gz file).
FASHION_MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
_MAX_DOWNLOAD = 64 * 2**20  # the largest file is 26 MB compressed, 45 MB raw
_MAX_CONTENT = 64 * 2**20  # ... and decompressed


def default_cache_dir() -> Path:
    """~/.cache/convpool/fashion-mnist ($CONVPOOL_CACHE/fashion-mnist when that is set): where
    downloads go and the second place searched, the same folder as `convpool data download`'s."""
    return cache_root() / "fashion-mnist"


def _file_in(folder: Path, name: str) -> Path | None:
    """`name.gz` or else `name` in folder (a verified download is always written as .gz)."""
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def _names(split: str | None) -> tuple[str, ...]:
    if split is None:
        return FASHION_MNIST_FILES["train"] + FASHION_MNIST_FILES["test"]
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"Fashion-MNIST split must be 'train' or 'test', got {split!r}")
    return FASHION_MNIST_FILES[split]


def find_fashion_mnist(data_dir: str | os.PathLike | None = None, split: str | None = None) -> Path:
    """The first folder holding the Fashion-MNIST files (those of `split`, or all four).

    Looks in data_dir (when given), ~/.cache/convpool/fashion-mnist, /usr/share/datasets/
    fashion-mnist; raises FileNotFoundError saying where it looked and how to get the data."""
    names = _names(split)
    folders = ([Path(data_dir).expanduser()] if data_dir is not None else []) + [default_cache_dir(), SYSTEM_DIR]
    report = []
    for folder in folders:
        missing = [n for n in names if _file_in(folder, n) is None]
        if not missing:
            return folder
        why = "no such folder" if not folder.is_dir() else "missing " + ", ".join(missing)
        report.append(f"  {folder}: {why}")
    raise FileNotFoundError(
        "Fashion-MNIST not found. Looked in:\n" + "\n".join(report) + "\n"
        f"Each file may be raw or .gz ({', '.join(names)}). To get the data, either\n"
        f"  python -c \"from convpool.data import download_fashion_mnist; download_fashion_mnist()\"\n"
        f"    (downloads from {FASHION_MNIST_URL} into {default_cache_dir()}, checksums verified), or\n"
        f"  sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu: {SYSTEM_DIR}), or\n"
        f"  pass data_dir= a folder where you have put the files.")


def load_fashion_mnist(split: str = "train", data_dir: str | os.PathLike | None = None,
                       transform: Transform | None = None, verify: bool = False) -> ArrayDataset:
    """The train (60,000) or test (10,000) split as an ArrayDataset: uint8 images (N, 1, 28, 28),
    int64 labels 0-9, `classes` naming them. verify also checks each file's SHA-256."""
    images_name, labels_name = _names(split)
    folder = find_fashion_mnist(data_dir, split)
    images_path, labels_path = _file_in(folder, images_name), _file_in(folder, labels_name)
    if verify:
        for name, path in ((images_name, images_path), (labels_name, labels_path)):
            got = _content_sha256(path)
            if got != FASHION_MNIST_SHA256[name]:
                raise ValueError(f"{path}: SHA-256 of its IDX content is {got}, expected "
                                 f"{FASHION_MNIST_SHA256[name]}: the file is damaged or not Fashion-MNIST")
    images, labels = load_idx_pair(images_path, labels_path, num_classes=len(FASHION_MNIST_CLASSES))
    if images.shape[1:] != (28, 28) or images.dtype != "uint8":
        raise ValueError(f"{images_path}: expected uint8 images of 28x28, got shape {images.shape} "
                         f"of {images.dtype}")
    return ArrayDataset(images[:, None], labels.astype("int64"), transform, FASHION_MNIST_CLASSES)


def _content(data: bytes, url: str = "<download>") -> bytes:
    """The IDX bytes of a download, decompressed in a bounded read: a gzip bomb stops at
    _MAX_CONTENT bytes instead of filling memory."""
    if data[:2] != b"\x1f\x8b":
        return data
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
        content = f.read(_MAX_CONTENT + 1)
    if len(content) > _MAX_CONTENT:
        raise ValueError(f"{url}: the download decompresses to more than {_MAX_CONTENT:,} bytes; "
                         f"not a Fashion-MNIST file, and nothing was written")
    return content


def _content_sha256(path: Path) -> str | None:
    """SHA-256 of a file's decompressed content; None when it cannot be read or decompressed."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error):
        return None
    return digest.hexdigest()


def fetch_url(url: str, timeout: float = 60.0) -> bytes:
    """The body of an HTTP(S) response, refusing anything larger than 64 MiB."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  (fixed, known URLs)
        data = response.read(_MAX_DOWNLOAD + 1)
    if len(data) > _MAX_DOWNLOAD:
        raise ValueError(f"{url}: response larger than {_MAX_DOWNLOAD} bytes; not a Fashion-MNIST file")
    return data


def download_fashion_mnist(dest: str | os.PathLike | None = None, *,
                           fetch: Callable[[str], bytes] = fetch_url, base_url: str = FASHION_MNIST_URL,
                           force: bool = False) -> Path:
    """Download the four files into dest (default ~/.cache/convpool/fashion-mnist) and return it.

    Files already present whose content checks out are kept (unless force). Each download's
    decompressed content must match FASHION_MNIST_SHA256 before it is written, as `name.gz`,
    atomically: a failed or corrupt download never replaces anything. `fetch(url) -> bytes`
    can be swapped for a mirror client or a test double."""
    dest = default_cache_dir() if dest is None else Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    for name in _names(None):
        want = FASHION_MNIST_SHA256[name]
        present = _file_in(dest, name)
        if present is not None and not force and _content_sha256(present) == want:
            continue
        url = base_url.rstrip("/") + f"/{name}.gz"
        try:
            data = fetch(url)
        except OSError as e:
            e.add_note(f"downloading {url} failed; alternatively: sudo apt-get install dataset-fashion-mnist")
            raise
        try:
            content = _content(data, url)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{url}: the download is not valid gzip ({e}); nothing was written") from e
        got = hashlib.sha256(content).hexdigest()
        if got != want:
            raise ValueError(f"{url}: SHA-256 of the decompressed download is {got}, expected {want}: "
                             f"corrupt or not Fashion-MNIST; nothing was written")
        payload = data if data[:2] == b"\x1f\x8b" else gzip.compress(content, mtime=0)
        atomic_write(dest / f"{name}.gz", payload)
    return dest
