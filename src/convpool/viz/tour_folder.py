"""Where `convpool tour` writes its files, without ever overwriting one a person made.

A folder may take the tour when none of the tour's file names are in it already, except those
the tour itself wrote there before: each run lists its files in a small manifest
(`.convpool-tour`), so running the tour again refreshes its own files and touches no others.
Without --out the first such folder of `tour`, `tour-2`, `tour-3`, ... is used."""

from __future__ import annotations

import itertools
from pathlib import Path

from ..files import atomic_write

MANIFEST = ".convpool-tour"


def own_files(folder: Path) -> set[str]:
    """The names the tour's manifest in folder lists (none when there is no manifest)."""
    try:
        lines = (folder / MANIFEST).read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return set()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def conflicts(folder: Path, names: list[str]) -> list[str]:
    """The names that would overwrite a file the tour did not write ([folder] if it is a file)."""
    if not folder.exists():
        return []
    if not folder.is_dir():
        return [str(folder)]
    own = own_files(folder)
    return [name for name in names if (folder / name).exists() and name not in own]


def choose(requested: str | None, names: list[str], default: str = "tour") -> Path:
    """The folder to write names into: --out if it is safe (else ValueError saying which files
    are in the way), or the first safe one of tour, tour-2, ..."""
    if requested:
        folder = Path(requested)
        in_the_way = conflicts(folder, names)
        if in_the_way:
            raise ValueError(f"{folder} already has {', '.join(in_the_way)}, not written by convpool tour; "
                             "choose another --out or move them")
        return folder
    for number in itertools.count(1):
        folder = Path(default if number == 1 else f"{default}-{number}")
        if not conflicts(folder, names):
            return folder
    raise AssertionError("unreachable")


def record(folder: Path, names: list[str]) -> None:
    """Write the manifest: these files are the tour's own and a later run may replace them."""
    kept = {name for name in own_files(folder) if (folder / name).exists()}  # an earlier run's, still there
    text = ("# files written by `convpool tour`; a later run may overwrite exactly these\n"
            + "\n".join(sorted(kept | set(names))) + "\n")
    atomic_write(folder / MANIFEST, text.encode("utf-8"))
