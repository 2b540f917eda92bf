"""Checkpoints: round trips of weights, optimizer, scheduler, RNG and loader state; the folder
layout and JSON; saves that fail at every step leave the previous checkpoint intact; every way
of pointing at a checkpoint; errors that name the path, key or shape."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil

import numpy
import pytest
import safetensors.numpy

import convpool
import convpool.checkpoint as checkpoint_module
import convpool.functional as F
import convpool.train as train_module
from convpool import models, nn, optim
from convpool.checkpoint import (
    JSON_FILE,
    LATEST_FILE,
    OPTIMIZER_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    CheckpointNotFoundError,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from convpool.data import ArrayDataset, DataLoader
from convpool.models import build_from_checkpoint

CONFIG = {"in_channels": 1, "num_classes": 3, "image_size": 8, "classes": ["a", "b", "c"], "mean": [0.5],
          "std": [0.25]}


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.25), nn.Flatten(), nn.Linear(64, 3))


def trained_state(seed: int = 0, steps: int = 3):
    """A tiny net, Adam and a schedule after a few real steps, so every state is non-trivial."""
    convpool.manual_seed(seed)
    model = tiny_net()
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    rng = numpy.random.default_rng(seed)
    for _ in range(steps):
        x = convpool.tensor(rng.standard_normal((4, 1, 8, 8)).astype(numpy.float32))
        y = convpool.tensor(rng.integers(0, 3, 4))
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
    loader = DataLoader(ArrayDataset(numpy.zeros((8, 1, 8, 8), numpy.float32), numpy.zeros(8, numpy.int64)),
                        batch_size=4, shuffle=True, seed=7)
    loader.set_epoch(3)
    return model, opt, sched, loader


def save(run, model, epoch=1, **kwargs):
    kwargs.setdefault("history", [{"epoch": epoch, "train_loss": 0.5}])
    return save_checkpoint(run, model, model_name="tiny", model_config=CONFIG, epoch=epoch, **kwargs)


def weights_of(model) -> dict[str, numpy.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def assert_same_arrays(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert numpy.asarray(a[key]).dtype == numpy.asarray(b[key]).dtype, key
        numpy.testing.assert_array_equal(a[key], b[key], err_msg=key)


def file_bytes(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_round_trip_restores_weights_optimizer_scheduler_rng_and_loader(tmp_path):
    model, opt, sched, loader = trained_state()
    rng_state = convpool.get_rng_state()
    history = [{"epoch": 1, "train_loss": numpy.float32(0.25), "val_accuracy": None}]
    folder = save_checkpoint(tmp_path, model, model_name="tiny", model_config=CONFIG, optimizer=opt,
                             scheduler=sched, epoch=3, history=history, extra={"note": "hi"}, loader=loader)
    expected_draw = convpool.rand(5).numpy()

    ckpt = load_checkpoint(tmp_path)
    assert ckpt.path == folder and ckpt.epoch == 3 and ckpt.model_name == "tiny" and ckpt.model_config == CONFIG
    assert ckpt.history == [{"epoch": 1, "train_loss": 0.25, "val_accuracy": None}] and ckpt.extra == {"note": "hi"}
    assert ckpt.rng_state == rng_state and ckpt.loader_state == {"seed": 7, "epoch": 3}
    assert ckpt.optimizer_class == "Adam" and ckpt.scheduler_class == "StepLR"
    assert ckpt.weights["1.num_batches_tracked"].shape == () and ckpt.weights["1.num_batches_tracked"] == 3

    convpool.manual_seed(123)  # everything below must come from the checkpoint
    model2 = tiny_net()
    opt2 = optim.Adam(model2.parameters(), lr=0.5)
    sched2 = optim.lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
    loader2 = DataLoader(loader.dataset, batch_size=4, shuffle=True, seed=1)
    ckpt.restore(model2, opt2, sched2, loader2)

    assert_same_arrays(weights_of(model), weights_of(model2))
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"] and list(a["state"]) == list(b["state"])
    for index in a["state"]:
        assert a["state"][index]["step"] == b["state"][index]["step"]
        for key in ("exp_avg", "exp_avg_sq"):
            numpy.testing.assert_array_equal(a["state"][index][key], b["state"][index][key])
            assert b["state"][index][key].dtype == numpy.float32
    assert sched2.state_dict() == json.loads(json.dumps(sched.state_dict()))
    assert loader2.state_dict() == {"seed": 7, "epoch": 3}
    numpy.testing.assert_array_equal(convpool.rand(5).numpy(), expected_draw)


def test_one_cycle_scheduler_and_sgd_round_trip_through_json(tmp_path):
    convpool.manual_seed(0)
    model = tiny_net()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    for p in model.parameters():
        p.grad = convpool.ones_like(p)
    for _ in range(3):
        opt.step()
        sched.step()
    save(tmp_path, model, optimizer=opt, scheduler=sched)
    model2 = tiny_net()
    opt2 = optim.SGD(model2.parameters(), lr=0.1, momentum=0.9)
    sched2 = optim.lr_scheduler.OneCycleLR(opt2, max_lr=0.1, total_steps=10)
    load_checkpoint(tmp_path).restore(model2, opt2, sched2)
    for _ in range(4):  # both continue identically
        for m, o, s in ((model, opt, sched), (model2, opt2, sched2)):
            for p in m.parameters():
                p.grad = convpool.ones_like(p)
            o.step()
            s.step()
    assert_same_arrays(weights_of(model), weights_of(model2))
    assert sched.get_last_lr() == sched2.get_last_lr()


def test_layout_json_and_self_describing_weights(tmp_path):
    model, opt, sched, loader = trained_state()
    folder = save(tmp_path, model, epoch=2, optimizer=opt, scheduler=sched, loader=loader)
    assert folder == tmp_path / "epoch-0002"
    assert (tmp_path / LATEST_FILE).read_text() == "epoch-0002\n"
    assert latest_checkpoint(tmp_path) == folder
    assert sorted(p.name for p in folder.iterdir()) == [JSON_FILE, OPTIMIZER_FILE, WEIGHTS_FILE]
    document = json.loads((folder / JSON_FILE).read_text())
    assert document["format"] == "convpool-checkpoint" and document["format_version"] == 1
    assert document["model"] == {"name": "tiny", "config": CONFIG} and document["epoch"] == 2
    for kind, name in (("weights", WEIGHTS_FILE), ("optimizer", OPTIMIZER_FILE)):
        blob = (folder / name).read_bytes()
        assert document["files"][kind] == {"name": name, "bytes": len(blob),
                                           "sha256": hashlib.sha256(blob).hexdigest()}
    arrays = safetensors.numpy.load_file(str(folder / WEIGHTS_FILE))
    assert_same_arrays(dict(sorted(arrays.items())), dict(sorted(weights_of(model).items())))
    assert_same_arrays(load_checkpoint(folder).weights, weights_of(model))  # back in state_dict order
    assert set(safetensors.numpy.load_file(str(folder / OPTIMIZER_FILE))) == {
        f"state.{i}.{k}" for i in range(6) for k in ("exp_avg", "exp_avg_sq")}
    # optimizer without state (no step yet): no optimizer file, but its JSON part is saved
    fresh = optim.SGD(model.parameters(), lr=0.1)
    other = save(tmp_path / "other", model, optimizer=fresh)
    assert not (other / OPTIMIZER_FILE).exists()
    assert load_checkpoint(other).optimizer_state["param_groups"][0]["lr"] == 0.1


@pytest.mark.parametrize("failing_call", [1, 2, 3, 4])  # weights, optimizer, JSON, latest
def test_a_save_failing_at_any_rename_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch, failing_call):
    model, opt, sched, _ = trained_state()
    good = save(tmp_path, model, epoch=1, optimizer=opt, scheduler=sched)
    before = file_bytes(good)
    good_weights = weights_of(model)
    for p in model.parameters():  # the next save holds other weights
        p.data = p.data + 1

    calls = []
    real_replace = os.replace

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == failing_call:
            raise OSError("disk full (simulated)")
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint_module.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="simulated"):
        save(tmp_path, model, epoch=2, optimizer=opt, scheduler=sched)
    monkeypatch.undo()

    assert len(calls) == failing_call
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001", LATEST_FILE]  # no debris, no temp files
    assert file_bytes(good) == before
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.epoch == 1 and ckpt.path == good
    assert_same_arrays(ckpt.weights, good_weights)
    assert save(tmp_path, model, epoch=2, optimizer=opt).name == "epoch-0002"  # and the next save works


def test_a_failing_writer_touches_nothing(tmp_path, monkeypatch):
    model = tiny_net()
    good = save(tmp_path, model, epoch=1)
    before = file_bytes(good)

    def broken(*args, **kwargs):
        raise RuntimeError("writer crashed (simulated)")

    monkeypatch.setattr(checkpoint_module.safetensors.numpy, "save", broken)
    with pytest.raises(RuntimeError, match="simulated"):
        save(tmp_path, model, epoch=2)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001", LATEST_FILE]
    assert file_bytes(good) == before and load_checkpoint(tmp_path).epoch == 1


def test_a_hard_crash_mid_save_is_ignored_then_cleaned_up(tmp_path, monkeypatch):
    """A killed process runs no cleanup: simulate it by failing the JSON rename with cleanup off."""
    model = tiny_net()
    save(tmp_path, model, epoch=1)
    real_replace = os.replace

    def crash_on_json(src, dst):
        if str(dst).endswith(JSON_FILE):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint_module.os, "replace", crash_on_json)
    monkeypatch.setattr(checkpoint_module.shutil, "rmtree", lambda *a, **k: None)
    with pytest.raises(KeyboardInterrupt):
        save(tmp_path, model, epoch=2)
    monkeypatch.undo()
    assert (tmp_path / "epoch-0002" / WEIGHTS_FILE).exists()  # the debris of the crash
    assert load_checkpoint(tmp_path).epoch == 1  # ... which nothing points to

    again = save(tmp_path, model, epoch=2, keep=2)
    assert again.name == "epoch-0002"  # the unfinished folder was removed first, then made afresh
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001", "epoch-0002", LATEST_FILE]
    assert sorted(p.name for p in again.iterdir()) == [JSON_FILE, WEIGHTS_FILE]  # no temp file left
    assert load_checkpoint(tmp_path).path == again


def test_saving_the_same_epoch_twice_never_overwrites(tmp_path):
    model = tiny_net()
    first = save(tmp_path, model, epoch=1)
    before = file_bytes(first)
    second = save(tmp_path, model, epoch=1)
    assert second.name == "epoch-0001-2" and file_bytes(first) == before
    assert load_checkpoint(tmp_path).path == second


def test_keep_prunes_the_oldest(tmp_path):
    model = tiny_net()
    for epoch in range(1, 5):
        save(tmp_path, model, epoch=epoch, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0003", "epoch-0004", LATEST_FILE]
    save(tmp_path, model, epoch=5, keep=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0005", LATEST_FILE]
    with pytest.raises(ValueError, match="keep"):
        save(tmp_path, model, epoch=6, keep=0)


def test_every_way_of_pointing_at_a_checkpoint(tmp_path):
    model, opt, *_ = trained_state()
    folder = save(tmp_path, model, epoch=4, optimizer=opt)
    for path in (tmp_path, str(tmp_path), folder, folder / JSON_FILE, folder / WEIGHTS_FILE, tmp_path / LATEST_FILE):
        ckpt = load_checkpoint(path)
        assert ckpt.epoch == 4 and ckpt.optimizer_class == "Adam", path

    # a weights file on its own (copied elsewhere) still knows its model
    lone = tmp_path / "elsewhere" / "model.safetensors"
    lone.parent.mkdir()
    shutil.copy(folder / WEIGHTS_FILE, lone)
    ckpt = load_checkpoint(lone)
    assert ckpt.model_name == "tiny" and ckpt.model_config == CONFIG and ckpt.epoch == 4
    assert ckpt.optimizer_state is None and ckpt.rng_state is None
    assert_same_arrays(ckpt.weights, load_checkpoint(tmp_path).weights)
    ckpt.load_weights(tiny_net())


def test_build_from_checkpoint_gives_the_same_network_in_eval_mode(tmp_path):
    convpool.manual_seed(0)
    config = {"in_channels": 1, "num_classes": 4, "image_size": 8, "classes": list("wxyz"), "mean": [0.1],
              "std": [0.3]}
    model = models.build("vgg-bn", in_channels=1, num_classes=4, image_size=8)
    x = convpool.randn(3, 1, 8, 8)
    model(x)  # one training-mode pass: running statistics and num_batches_tracked move
    model.eval()
    folder = save_checkpoint(tmp_path, model, model_name="vgg-bn", model_config=config, epoch=1, history=[])
    for path in (tmp_path, folder / WEIGHTS_FILE):
        rebuilt, ckpt = build_from_checkpoint(path)
        assert not rebuilt.training and ckpt.model_config == config
        with convpool.no_grad():
            numpy.testing.assert_array_equal(rebuilt(x).numpy(), model(x).numpy())
    unknown = save_checkpoint(tmp_path / "u", tiny_net(), model_name="tiny", model_config=CONFIG, epoch=1, history=[])
    with pytest.raises(CheckpointError, match="'tiny'.*load_weights"):
        build_from_checkpoint(unknown)


def test_missing_checkpoints_are_named(tmp_path):
    missing = tmp_path / "no-such-run"
    with pytest.raises(CheckpointNotFoundError, match="no-such-run") as info:
        load_checkpoint(missing)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, CheckpointError)
    with pytest.raises(CheckpointNotFoundError, match=f"no checkpoint in {tmp_path}"):
        load_checkpoint(tmp_path)
    folder = save(tmp_path / "run", tiny_net())
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointNotFoundError, match=str(folder / WEIGHTS_FILE)):
        load_checkpoint(tmp_path / "run")
    shutil.rmtree(folder)
    with pytest.raises(CheckpointNotFoundError, match="names 'epoch-0001'"):
        load_checkpoint(tmp_path / "run")
    (tmp_path / "run" / LATEST_FILE).write_text("../../etc\n")
    with pytest.raises(CheckpointError, match="not a folder inside"):
        load_checkpoint(tmp_path / "run")


def test_damaged_json_and_unknown_format_version(tmp_path):
    folder = save(tmp_path, tiny_net())
    json_path = folder / JSON_FILE
    good = json_path.read_text()
    json_path.write_text(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match=f"{json_path} is not valid JSON .*line"):
        load_checkpoint(tmp_path)
    document = json.loads(good)
    document["format_version"] = 99
    json_path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="format version 99.*reads version"):
        load_checkpoint(tmp_path)
    json_path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not a convpool checkpoint"):
        load_checkpoint(json_path)
    plain = tmp_path / "plain.safetensors"
    safetensors.numpy.save_file({"w": numpy.zeros(2, numpy.float32)}, str(plain))
    with pytest.raises(CheckpointError, match="not a convpool checkpoint"):
        load_checkpoint(plain)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 3)
    with pytest.raises(CheckpointError, match="junk.safetensors is not a readable safetensors file"):
        load_checkpoint(tmp_path / "junk.safetensors")


def test_files_from_different_saves_are_detected(tmp_path):
    model = tiny_net()
    first = save(tmp_path, model, epoch=1)
    for p in model.parameters():
        p.data = p.data * 2
    second = save(tmp_path, model, epoch=2)
    shutil.copy(first / WEIGHTS_FILE, second / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match="size or SHA-256 differs"):
        load_checkpoint(tmp_path)


def test_weights_that_do_not_fit_name_the_key_and_shapes(tmp_path):
    save(tmp_path, tiny_net())
    ckpt = load_checkpoint(tmp_path)
    wider = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Dropout(0.25), nn.Flatten(), nn.Linear(64, 5))
    with pytest.raises(CheckpointError, match=r"size mismatch for 6\.weight.*\(3, 64\).*\(5, 64\)"):
        ckpt.load_weights(wider)
    no_norm = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(64, 3))
    with pytest.raises(CheckpointError, match='Unexpected key.*"1.running_mean"'):
        ckpt.load_weights(no_norm)
    untouched = tiny_net()
    snapshot = weights_of(untouched)
    ckpt.weights["6.bias"] = numpy.zeros(7, numpy.float32)
    with pytest.raises(CheckpointError, match=r"6\.bias"):
        ckpt.load_weights(untouched)
    assert_same_arrays(weights_of(untouched), snapshot)  # all or nothing


def test_restore_checks_classes_before_changing_anything(tmp_path):
    model, opt, sched, _ = trained_state()
    save(tmp_path, model, optimizer=opt, scheduler=sched)
    ckpt = load_checkpoint(tmp_path)
    other = tiny_net()
    snapshot = weights_of(other)
    with pytest.raises(CheckpointError, match="Adam optimizer, not of a SGD"):
        ckpt.restore(other, optim.SGD(other.parameters(), lr=0.1))
    with pytest.raises(CheckpointError, match="StepLR scheduler, not of a LinearLR"):
        opt2 = optim.Adam(other.parameters())
        ckpt.restore(other, opt2, optim.lr_scheduler.LinearLR(opt2))
    assert_same_arrays(weights_of(other), snapshot)
    save(tmp_path / "bare", model)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(tmp_path / "bare").restore(other, optim.Adam(other.parameters()))


def test_bad_arguments_fail_before_writing(tmp_path):
    model = tiny_net()
    with pytest.raises(TypeError, match="model_config must be JSON-serialisable"):
        save_checkpoint(tmp_path, model, model_name="tiny", model_config={"f": object()}, epoch=1, history=[])
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        save(tmp_path, model, history=[{"when": object()}])
    with pytest.raises(ValueError, match="epoch"):
        save(tmp_path, model, epoch=-1)
    assert list(tmp_path.iterdir()) == []


def test_no_pickle_anywhere():
    for module in (checkpoint_module, train_module):
        source = inspect.getsource(module)
        assert "import pickle" not in source and "allow_pickle" not in source
        assert source.count("numpy.load(") == source.count("safetensors.numpy.load(")
