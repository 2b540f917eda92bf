"""Spoken digits (such as the Free Spoken Digit Dataset) from a folder or a .zip of WAV files.

Files are found recursively and read in sorted order of their path inside the source; a zip
is read in memory, nothing is extracted. Hidden files and macOS `__MACOSX` folders are
skipped, and so is every file whose name does not end in .wav.

Labels come from one of two rules, chosen for the whole source:
- every name matches `<digit>_<speaker>_<index>.wav` (FSDD's naming): the label is the digit,
  the classes are always the ten digits "0".."9" (so label == digit even if some are missing),
  and the speaker is recorded;
- no name matches: the label is the name of the folder holding the file, the classes are the
  sorted folder names, and speakers are unknown.
A mix of the two is refused, naming a file that breaks the pattern, rather than guessed at.
"""

from __future__ import annotations

import io
import os
import re
import sys
import zipfile
import zlib
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy
from tqdm import tqdm

from .dataset import ArrayDataset
from .sounds import read_sound
from .wav import MAX_WAV_BYTES

DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
_DIGIT_NAME = re.compile(r"(\d)_([^_/]+)_(\d+)\.wav", re.IGNORECASE)


def _skipped(member: str) -> bool:
    parts = PurePosixPath(member).parts
    return (not member.lower().endswith(".wav") or any(p.startswith(".") for p in parts)
            or "__MACOSX" in parts)


def _list_wavs(source: Path) -> tuple[list[str], zipfile.ZipFile | None]:
    """The .wav members of a folder or zip, as sorted POSIX paths relative to it, and the open
    zip when it is one."""
    if source.is_dir():
        names = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
        return sorted(n for n in names if not _skipped(n)), None
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such folder or .zip file")
    if not zipfile.is_zipfile(source):
        raise ValueError(f"{source}: not a folder or a .zip file")
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{source}: unreadable .zip file ({e})") from e
    return sorted(i.filename for i in archive.infolist() if not i.is_dir() and not _skipped(i.filename)), archive


def _member_bytes(archive: zipfile.ZipFile, member: str, name: str) -> bytes:
    """A zip member's bytes, its declared size checked against the WAV limit before reading (the
    read itself stops at the declared size, and a bad CRC is an error)."""
    info = archive.getinfo(member)
    if info.file_size > MAX_WAV_BYTES:
        raise ValueError(f"{name}: the zip declares {info.file_size:,} bytes for it, more than the "
                         f"{MAX_WAV_BYTES:,} a WAV file may have here")
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError) as e:
        # a bad CRC or stream, an encrypted member, an unsupported compression method
        raise ValueError(f"{name}: unreadable zip member ({e})") from e


def _labels(members: list[str], shown: list[str]) -> tuple[list[int], list[str], list[str] | None]:
    """(labels, classes, speakers or None) by the digit-name rule or the folder rule; `shown`
    names each member in messages."""
    matches = [_DIGIT_NAME.fullmatch(PurePosixPath(m).name) for m in members]
    if all(matches):
        return [int(m.group(1)) for m in matches], list(DIGIT_CLASSES), [m.group(2) for m in matches]
    if any(matches):
        odd = shown[matches.index(None)]
        raise ValueError(f"{odd}: the name does not match <digit>_<speaker>_<index>.wav, while "
                         f"{sum(map(bool, matches))} of the {len(members)} files do")
    folders = [PurePosixPath(m).parent.name for m in members]
    if "" in folders:
        odd = shown[folders.index("")]
        raise ValueError(f"{odd}: the name does not match <digit>_<speaker>_<index>.wav and the file "
                         f"is not in a class sub-folder")
    classes = sorted(set(folders))
    index = {c: i for i, c in enumerate(classes)}
    return [index[f] for f in folders], classes, None


def load_spoken_digits(source: str | os.PathLike, sample_rate: int = 8000, length: int = 8000,
                       progress: bool = False) -> ArrayDataset:
    """Every WAV under a folder or in a .zip as an ArrayDataset of float32 waveforms (N, 1, length).

    Clips are mono in [-1, 1] (see `read_sound`), resampled to `sample_rate` when theirs differs
    (said once on stderr: how many files, from which rates), then cut or zero-padded on the
    right to `length` samples. The dataset also carries `names` (each file's path inside the
    source, in item order) and `speakers` (a list of str, or None under the folder rule) so a
    caller can split by speaker. A file that cannot be read raises a ValueError naming it."""
    for label, value in (("sample_rate", sample_rate), ("length", length)):
        if not isinstance(value, int | numpy.integer) or isinstance(value, bool) or value < 1:
            raise ValueError(f"load_spoken_digits: {label} must be a positive integer, got {value!r}")
    source = Path(source)
    members, archive = _list_wavs(source)
    try:
        if not members:
            raise ValueError(f"{source}: no .wav files found (searched recursively)")
        # a folder's files by their path, a zip's members as zip:member
        shown = [str(source / m) if archive is None else f"{source}:{m}" for m in members]
        labels, classes, speakers = _labels(members, shown)
        waveforms = numpy.empty((len(members), 1, length), numpy.float32)
        resampled: Counter[int] = Counter()
        bar = tqdm(zip(members, shown, strict=True), total=len(members), desc="reading WAV files", unit="file",
                   file=sys.stderr, disable=True if not progress else None, dynamic_ncols=True)
        for i, (member, name) in enumerate(bar):
            if archive is None:
                sound = read_sound(source / member, sample_rate, length, name=name)
            else:
                sound = read_sound(io.BytesIO(_member_bytes(archive, member, name)), sample_rate, length, name=name)
            if sound.rate != sample_rate:
                resampled[sound.rate] += 1
            waveforms[i, 0] = sound.samples
    finally:
        if archive is not None:
            archive.close()
    if resampled:
        rates = ", ".join(f"{n} from {r} Hz" for r, n in sorted(resampled.items()))
        print(f"load_spoken_digits: resampled {sum(resampled.values())} of {len(members)} files to "
              f"{sample_rate} Hz ({rates})", file=sys.stderr, flush=True)
    dataset = ArrayDataset(waveforms, numpy.asarray(labels, numpy.int64), classes=classes)
    dataset.names = members
    dataset.speakers = speakers
    return dataset
