"""Checkpoint housekeeping after a crash, and a run folder that cannot hold checkpoints: the
leftovers a kill can leave are written by the test itself (a killed process runs no cleanup),
then the next save must clean them and keep the real previous checkpoint."""

from __future__ import annotations

import errno
import json
import os
import shutil

import pytest

import convpool.checkpoint as checkpoint_module
from convpool import nn
from convpool.checkpoint import JSON_FILE, LATEST_FILE, WEIGHTS_FILE, check_room, load_checkpoint, save_checkpoint

CONFIG = {"in_channels": 1, "num_classes": 3, "image_size": 8}


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))


def save(run, model, epoch, keep=2):
    return save_checkpoint(run, model, model_name="tiny", model_config=CONFIG, epoch=epoch,
                           history=[{"epoch": epoch}], keep=keep)


def names(run) -> list[str]:
    return sorted(p.name for p in run.iterdir())


def orphan_of(run, source: str, name: str) -> None:
    """What a kill between writing checkpoint.json and switching `latest` leaves: a complete
    folder that never became latest (its JSON the newest on disk)."""
    shutil.copytree(run / source, run / name)
    os.utime(run / name / JSON_FILE)  # written after every real checkpoint


def test_an_orphan_never_replaces_the_real_previous_checkpoint(tmp_path):
    model = tiny_net()
    save(tmp_path, model, 1)
    save(tmp_path, model, 2)
    orphan_of(tmp_path, "epoch-0002", "epoch-0003")  # killed before latest named epoch-0003
    assert load_checkpoint(tmp_path).epoch == 2  # resume starts from epoch 2 ...
    third = save(tmp_path, model, 3)  # ... and saves epoch 3 again
    assert third.name == "epoch-0003-2"  # never into the orphan's folder
    assert names(tmp_path) == ["epoch-0002", "epoch-0003-2", LATEST_FILE]  # the orphan went, epoch 2 stayed
    assert json.loads((third / JSON_FILE).read_text())["previous"] == "epoch-0002"
    save(tmp_path, model, 4)
    assert names(tmp_path) == ["epoch-0003-2", "epoch-0004", LATEST_FILE]


def test_an_orphan_is_removed_with_keep_none_too(tmp_path):
    model = tiny_net()
    save(tmp_path, model, 1, keep=None)
    orphan_of(tmp_path, "epoch-0001", "epoch-0002")
    save(tmp_path, model, 2, keep=None)
    save(tmp_path, model, 3, keep=None)
    assert names(tmp_path) == ["epoch-0001", "epoch-0002-2", "epoch-0003", LATEST_FILE]


def test_temporary_files_and_unfinished_folders_are_cleaned_at_the_next_save(tmp_path):
    model = tiny_net()
    first = save(tmp_path, model, 1)
    (tmp_path / f".{LATEST_FILE}.abc123.tmp").write_bytes(b"epoch-0002\n")  # killed mid-switch
    (first / f".{WEIGHTS_FILE}.xyz.tmp").write_bytes(b"\0" * 100)  # inside a finished folder
    unfinished = tmp_path / "epoch-0007"
    unfinished.mkdir()
    (unfinished / f".{WEIGHTS_FILE}.q.tmp").write_bytes(b"\0" * 100)
    (tmp_path / "notes.txt").write_text("the user's own file")  # not convpool's: left alone
    save(tmp_path, model, 2)
    assert names(tmp_path) == ["epoch-0001", "epoch-0002", LATEST_FILE, "notes.txt"]
    assert names(first) == [JSON_FILE, WEIGHTS_FILE]
    assert load_checkpoint(tmp_path).epoch == 2 and load_checkpoint(first).epoch == 1


def test_checkpoints_without_a_previous_entry_are_pruned_newest_first(tmp_path):
    """Run folders written before checkpoints named their previous one still prune by age."""
    model = tiny_net()
    for epoch in (1, 2, 3):
        folder = save(tmp_path, model, epoch, keep=None)
        document = json.loads((folder / JSON_FILE).read_text())
        del document["previous"]
        (folder / JSON_FILE).write_text(json.dumps(document))
        os.utime(folder / JSON_FILE, ns=(epoch * 10**9, epoch * 10**9))
    save(tmp_path, model, 4, keep=2)
    assert names(tmp_path) == ["epoch-0003", "epoch-0004", LATEST_FILE]


def test_a_full_disk_is_found_before_training_and_named(tmp_path, monkeypatch):
    model = tiny_net()
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(checkpoint_module.shutil, "disk_usage",
                        lambda path: usage._replace(free=1000))
    with pytest.raises(OSError, match=f"not enough free space for checkpoints in {tmp_path / 'run'}: 1000 bytes "
                                      "free") as caught:
        check_room(tmp_path / "run", model)
    assert caught.value.errno == errno.ENOSPC


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions, not root")
def test_a_read_only_folder_is_found_before_training_and_named(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OSError, match=f"cannot write checkpoints to {locked / 'run'}"):
            check_room(locked / "run", tiny_net())
    finally:
        locked.chmod(0o700)


def test_no_space_left_during_a_save_names_the_file(tmp_path, monkeypatch):
    model = tiny_net()
    save(tmp_path, model, 1)

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_module, "atomic_write", full)
    with pytest.raises(OSError, match=rf"cannot write {tmp_path / 'epoch-0002' / WEIGHTS_FILE}: No space left"):
        save(tmp_path, model, 2)
    monkeypatch.undo()
    assert names(tmp_path) == ["epoch-0001", LATEST_FILE] and load_checkpoint(tmp_path).epoch == 1
