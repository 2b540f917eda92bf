"""`convpool train --resume` with the run's own settings, and with changed ones: applied and
said, or refused in one line in the command's flags' words. Also the run-folder and count
checks of a new run. On the built-in sample data, in this process."""

from __future__ import annotations

import pytest

from convpool import cli
from convpool.checkpoint import load_checkpoint


def _train(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["train", "--no-progress", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_resume_keeps_the_runs_settings_and_says_where_it_starts(in_tmp, capsys):
    assert _train(capsys, "--out", "run", "--lr", "3e-3", "--batch-size", "64", "--seed", "4")[0] == 0
    code, out, err = _train(capsys, "--resume", "--out", "run", "--epochs", "2")
    assert code == 0, err
    assert "resuming run from epoch 1 (run/epoch-0001) to epoch 2" in out
    assert "--epochs changes from 1 to 2" in out
    checkpoint = load_checkpoint(in_tmp / "run")
    assert checkpoint.epoch == 2 and [r["lr"] for r in checkpoint.history] == [3e-3, 3e-3]
    assert checkpoint.extra["run"]["settings"]["batch_size"] == 64


def test_a_new_lr_without_a_schedule_is_applied_and_said(in_tmp, capsys):
    assert _train(capsys, "--out", "run")[0] == 0
    code, out, err = _train(capsys, "--resume", "--out", "run", "--epochs", "2", "--lr", "0.01")
    assert code == 0, err
    assert "--lr changes from 0.001 to 0.01" in out
    assert [r["lr"] for r in load_checkpoint(in_tmp / "run").history] == [0.001, 0.01]


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_a_schedule_cannot_be_stretched_or_given_a_new_lr(in_tmp, capsys, schedule):
    assert _train(capsys, "--out", "run", "--schedule", schedule)[0] == 0
    code, _, err = _train(capsys, "--resume", "--out", "run", "--epochs", "2")
    assert code == 2
    assert err == (f"convpool train: error: --epochs 2 with --resume: the run's --schedule {schedule} was laid out "
                   "over 1 epoch when it started and cannot be stretched; resume with --epochs 1, or start a new run "
                   "with another --out\n")
    assert load_checkpoint(in_tmp / "run").epoch == 1  # untouched


def test_a_new_lr_with_a_schedule_is_refused(in_tmp, capsys):
    assert _train(capsys, "--out", "run", "--schedule", "cosine", "--epochs", "2", "--val-split", "0.5")[0] == 0
    (in_tmp / "run" / "latest").write_text("epoch-0001\n")  # as if stopped after epoch 1
    code, _, err = _train(capsys, "--resume", "--out", "run", "--lr", "0.1")
    assert code == 2 and "--lr 0.1 with --resume: the run's --schedule cosine sets the learning rate at every step" \
        in err


@pytest.mark.parametrize("args, message", [
    (("--epochs", "0"), "--epochs must be 1 or more, got 0"),
    (("--epochs", "-1", "--out", "fresh"), "--epochs must be 1 or more, got -1"),
    (("--batch-size", "1000", "--out", "fresh"), "--batch-size 1000 is larger than the 450 training images"),
    (("--batch-size", "0", "--out", "fresh"), "--batch-size must be 1 or more, got 0"),
    (("--out", "run"), "--out run already holds a run (its latest checkpoint is run/epoch-0001); add --resume"),
    (("--resume",), "--resume needs --out RUN: the run folder to continue"),
    (("--resume", "--out", "nowhere"), "--resume: --out nowhere does not exist; nothing to continue"),
    (("--resume", "--out", "run"), "--epochs 1 with --resume: the run in run has already done 1 epoch; pass a larger"),
    (("--resume", "--out", "run", "--epochs", "3", "--batch-size", "32"),
     "--batch-size 32 with --resume: the run in run was trained with --batch-size 128, and that cannot change"),
    (("--resume", "--out", "run", "--epochs", "3", "--optimizer", "sgd"), "--optimizer sgd with --resume"),
])
def test_bad_run_options_are_one_line_in_the_commands_words(in_tmp, capsys, args, message):
    assert _train(capsys, "--out", "run")[0] == 0
    code, _, err = _train(capsys, *args)
    assert code == 2
    assert err.startswith("convpool train: error: " + message) and err.count("\n") == 1, err
    assert not (in_tmp / "fresh" / "latest").exists()
