"""fit and evaluate: a separable problem is learnt; two epochs straight equal one epoch, a
resume and one more, weight for weight; a NaN loss or non-finite weights stop training and
leave the last good checkpoint intact; evaluate's confusion matrix counted by hand; tables."""

from __future__ import annotations

import math

import numpy
import pytest

import convpool
from convpool import nn, optim
from convpool.checkpoint import CheckpointNotFoundError, load_checkpoint
from convpool.data import ArrayDataset, Compose, DataLoader, RandomCrop, RandomHorizontalFlip
from convpool.train import TrainingDiverged, evaluate, fit, format_confusion, per_class_table, scores_with_mirror

CLASSES = ["top", "left", "centre"]
CONFIG = {"in_channels": 1, "num_classes": 3, "image_size": 8, "classes": CLASSES}


def patterns(n: int, seed: int, noise: float = 0.3) -> ArrayDataset:
    """3 classes of 1x8x8 images: a bright top band, left band or centre square, plus noise."""
    shapes = numpy.zeros((3, 1, 8, 8), numpy.float32)
    shapes[0, 0, :3, :] = 1
    shapes[1, 0, :, :3] = 1
    shapes[2, 0, 2:6, 2:6] = 1
    rng = numpy.random.default_rng(seed)
    labels = rng.permutation(numpy.arange(n) % 3)
    images = shapes[labels] + noise * rng.standard_normal((n, 1, 8, 8)).astype(numpy.float32)
    return ArrayDataset(images, labels, classes=CLASSES)


def tiny_net(dropout: float = 0.25) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(dropout), nn.Flatten(), nn.Linear(64, 3))


def setup(seed: int, interval: str = "epoch", loader_seed: int | None = None):
    """Model, optimizer, scheduler and loaders, all built after manual_seed(seed)."""
    convpool.manual_seed(seed)
    model = tiny_net()
    opt = optim.AdamW(model.parameters(), lr=0.01)
    if interval == "epoch":
        sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    else:
        sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.02, total_steps=8)
    augment = Compose([RandomCrop(8, padding=1), RandomHorizontalFlip()])
    train = DataLoader(patterns(64, seed=1), batch_size=16, shuffle=True, seed=loader_seed, transform=augment)
    val = DataLoader(patterns(30, seed=2), batch_size=16)
    return model, opt, sched, train, val


def run_fit(model, opt, sched, train, val, out_dir, epochs, interval="epoch", **kwargs):
    return fit(model, train, val, optimizer=opt, scheduler=sched, epochs=epochs, out_dir=out_dir,
               model_name="tiny", model_config=CONFIG, progress=False, scheduler_interval=interval, **kwargs)


def weights_of(model) -> dict[str, numpy.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_learns_a_separable_problem(tmp_path):
    model, opt, _, train, val = setup(0)
    history = run_fit(model, opt, None, train, val, tmp_path, epochs=6)
    assert [h["epoch"] for h in history] == list(range(1, 7))
    assert history[-1]["val_accuracy"] > 0.9 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert set(history[0]) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                               "images_per_second", "seconds"}
    assert all(h["images_per_second"] > 0 and h["seconds"] > 0 for h in history)
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.epoch == 6 and ckpt.history == history and ckpt.model_config == CONFIG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0005", "epoch-0006", "latest"]  # keep 2


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_two_epochs_straight_equal_one_epoch_resume_one_epoch(tmp_path, interval):
    """Dropout, a shuffled and augmented loader whose seed is drawn from the global RNG, BatchNorm
    buffers, AdamW moments and a schedule: all of it must come back from the checkpoint."""
    straight = setup(0, interval)
    history = run_fit(*straight, tmp_path / "straight", epochs=2, interval=interval)
    rng_after_straight = convpool.get_rng_state()

    first = setup(0, interval)
    run_fit(*first, tmp_path / "resumed", epochs=1, interval=interval)
    second = setup(99, interval)  # other initial weights, RNG and loader seed: the checkpoint must win
    resumed_history = run_fit(*second, tmp_path / "resumed", epochs=2, interval=interval, resume=True)
    assert convpool.get_rng_state() == rng_after_straight

    expected, got = weights_of(straight[0]), weights_of(second[0])
    assert list(expected) == list(got)
    for key in expected:
        numpy.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    a, b = straight[1].state_dict(), second[1].state_dict()
    assert a["param_groups"] == b["param_groups"]
    for index in a["state"]:
        for key in ("exp_avg", "exp_avg_sq"):
            numpy.testing.assert_array_equal(b["state"][index][key], a["state"][index][key])
    assert straight[2].state_dict() == second[2].state_dict()
    for h, r in zip(history, resumed_history, strict=True):
        for key in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
            assert h[key] == r[key], key
    for key, value in load_checkpoint(tmp_path / "straight").weights.items():
        numpy.testing.assert_array_equal(load_checkpoint(tmp_path / "resumed").weights[key], value)
    # asking for epochs already done trains nothing
    again = setup(5, interval)
    assert run_fit(*again, tmp_path / "resumed", epochs=2, interval=interval, resume=True) == resumed_history


class PoisonAfter(nn.Module):
    """Passes scores through, but returns NaN on its `at`-th training call."""

    def __init__(self, at: int):
        super().__init__()
        self.at, self.calls = at, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                return x * float("nan")
        return x


def test_a_nan_loss_stops_at_once_and_keeps_the_last_good_checkpoint(tmp_path):
    model, opt, sched, train, val = setup(0)
    poisoned = nn.Sequential(model, PoisonAfter(at=6))  # 4 batches per epoch: epoch 2, batch 2
    seen = []
    with pytest.raises(TrainingDiverged) as info:
        fit(poisoned, train, val, optimizer=opt, scheduler=sched, epochs=3, out_dir=tmp_path, model_name="tiny",
            model_config=CONFIG, progress=False, on_epoch_end=lambda r: seen.append(weights_of(poisoned)))
    error = info.value
    good = tmp_path / "epoch-0001"
    assert (error.epoch, error.batch) == (2, 2) and math.isnan(error.loss) and error.checkpoint == good
    message = str(error)
    assert "epoch 2, batch 2" in message and "nan" in message and str(good) in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0001", "latest"]
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.epoch == 1 and len(ckpt.history) == 1
    for key, value in seen[0].items():
        numpy.testing.assert_array_equal(ckpt.weights[key], value)
    # and the run resumes from it
    fresh = nn.Sequential(tiny_net(), PoisonAfter(at=0))
    fresh_opt = optim.AdamW(fresh.parameters(), lr=0.01)
    history = fit(fresh, train, val, optimizer=fresh_opt, epochs=2, out_dir=tmp_path, model_name="tiny",
                  model_config=CONFIG, progress=False, resume=True)
    assert [h["epoch"] for h in history] == [1, 2] and all(math.isfinite(h["train_loss"]) for h in history)


class PoisonedSGD(optim.SGD):
    """SGD that writes inf into the first parameter on its `at`-th step."""

    def __init__(self, params, at: int, **kwargs):
        super().__init__(params, **kwargs)
        self.at, self.steps = at, 0

    def step(self, closure=None):
        super().step(closure)
        self.steps += 1
        if self.steps == self.at:
            self.param_groups[0]["params"][0].data[...] = numpy.inf


def test_weights_that_turn_non_finite_on_the_last_step_are_never_saved(tmp_path):
    model, _, _, train, _ = setup(0)
    opt = PoisonedSGD(model.parameters(), at=8, lr=0.01)  # the last step of epoch 2
    with pytest.raises(TrainingDiverged, match=r"epoch 2, batch 4: parameter '0\.weight' became non-finite"):
        fit(model, train, optimizer=opt, epochs=3, out_dir=tmp_path, model_name="tiny", model_config=CONFIG,
            progress=False)
    assert load_checkpoint(tmp_path).epoch == 1
    assert numpy.isfinite(load_checkpoint(tmp_path).weights["0.weight"]).all()


def test_divergence_without_out_dir_says_nothing_was_saved():
    model, opt, _, train, _ = setup(0)
    with pytest.raises(TrainingDiverged, match="epoch 1, batch 1: the loss is nan; no checkpoint was written"):
        fit(nn.Sequential(model, PoisonAfter(at=1)), train, optimizer=opt, epochs=1, model_name="tiny",
            model_config=CONFIG, progress=False)


def test_a_run_is_never_overwritten_and_resume_needs_a_checkpoint(tmp_path):
    model, opt, _, train, _ = setup(0)
    run_fit(model, opt, None, train, None, tmp_path / "run", epochs=1)
    with pytest.raises(FileExistsError, match="resume=True"):
        run_fit(model, opt, None, train, None, tmp_path / "run", epochs=2)
    with pytest.raises(CheckpointNotFoundError, match="no-run"):
        run_fit(model, opt, None, train, None, tmp_path / "no-run", epochs=2, resume=True)
    with pytest.raises(ValueError, match="out_dir"):
        run_fit(model, opt, None, train, None, None, epochs=2, resume=True)
    with pytest.raises(ValueError, match="scheduler_interval"):
        run_fit(model, opt, None, train, None, None, epochs=2, interval="batch")


def test_without_out_dir_or_val_loader(tmp_path):
    model, opt, _, train, _ = setup(0)
    history = run_fit(model, opt, None, train, None, None, epochs=1)
    assert history[0]["val_loss"] is None and history[0]["val_accuracy"] is None
    assert list(tmp_path.iterdir()) == []


def test_val_every_measures_every_nth_epoch_and_always_the_last(tmp_path):
    model, opt, _, train, val = setup(0)
    history = run_fit(model, opt, None, train, val, None, epochs=5, val_every=2)
    assert [h["val_accuracy"] is not None for h in history] == [False, True, False, True, True]
    assert [h["val_loss"] is None for h in history] == [True, False, True, False, False]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="val_every must be a positive int"):
            run_fit(model, opt, None, train, val, None, epochs=1, val_every=bad)


def test_on_epoch_end_can_stop_training():
    model, opt, _, train, val = setup(0)
    history = run_fit(model, opt, None, train, val, None, epochs=5, on_epoch_end=lambda r: r["epoch"] == 2)
    assert len(history) == 2


def test_progress_prints_one_summary_line_per_epoch(capsys):
    model, opt, _, train, val = setup(0)
    fit(model, train, val, optimizer=opt, epochs=2, model_name="tiny", model_config=CONFIG, progress=True)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and "val loss" in lines[1] and "img/s" in lines[1] and captured.out == ""


class Oracle(nn.Module):
    """Predicts the class written in pixel (0, 0, 0) of each image, with score 2 over 0s."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes

    def forward(self, x):
        predicted = x.numpy()[:, 0, 0, 0].astype(int)
        return convpool.tensor(2.0 * numpy.eye(self.num_classes, dtype=numpy.float32)[predicted])


def test_evaluate_counts_the_confusion_matrix_by_hand():
    truth = numpy.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 0])
    predicted = numpy.array([0, 1, 0, 1, 1, 2, 0, 2, 1, 0])
    images = numpy.zeros((10, 1, 2, 2), numpy.float32)
    images[:, 0, 0, 0] = predicted
    loader = DataLoader(ArrayDataset(images, truth), batch_size=4)
    model = Oracle(4)
    model.train()
    metrics = evaluate(model, loader, num_classes=4)
    assert model.training  # put back as it was
    assert metrics["confusion"] == [[3, 1, 0, 0], [0, 2, 0, 0], [1, 1, 2, 0], [0, 0, 0, 0]]
    assert metrics["n"] == 10 and metrics["accuracy"] == pytest.approx(0.7)
    assert metrics["per_class"] == [pytest.approx(0.75), 1.0, 0.5, None]
    right = -math.log(math.exp(2) / (math.exp(2) + 3))
    wrong = -math.log(1 / (math.exp(2) + 3))
    assert metrics["loss"] == pytest.approx((7 * right + 3 * wrong) / 10, rel=1e-6)
    assert len(evaluate(Oracle(3), loader)["confusion"]) == 3  # num_classes from the scores' width
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        evaluate(Oracle(3), DataLoader(ArrayDataset(images, truth + 1), batch_size=4))
    with pytest.raises(ValueError, match=r"shape \(4, 4\).*num_classes=3"):
        evaluate(Oracle(4), loader, num_classes=3)


def test_evaluate_with_tta_scores_the_mean_of_each_image_and_its_mirror():
    rng = numpy.random.default_rng(5)
    images = rng.standard_normal((10, 1, 2, 4)).astype(numpy.float32)
    labels = rng.integers(0, 3, 10)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 3))
    weight, bias = model[1].weight.detach().numpy(), model[1].bias.detach().numpy()
    flat, mirror = images.reshape(10, 8), images[..., ::-1].reshape(10, 8)
    logits = ((flat @ weight.T + bias) + (mirror @ weight.T + bias)) / 2
    loader = DataLoader(ArrayDataset(images, labels), batch_size=4)
    metrics = evaluate(model, loader, num_classes=3, tta=True)
    assert metrics["accuracy"] == pytest.approx(float((logits.argmax(1) == labels).mean()))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - numpy.log(numpy.exp(shifted).sum(axis=1, keepdims=True))
    assert metrics["loss"] == pytest.approx(-log_softmax[numpy.arange(10), labels].mean(), rel=1e-5)
    plain = flat @ weight.T + bias
    assert evaluate(model, loader, num_classes=3)["accuracy"] == pytest.approx(
        float((plain.argmax(1) == labels).mean()))
    with pytest.raises(ValueError, match=r"tta flips images \(N, C, H, W\), got a batch of shape \(4, 1, 8\)"):
        evaluate(model, DataLoader(ArrayDataset(images.reshape(10, 1, 8), labels), batch_size=4), tta=True)


def test_tta_shift_adds_the_moved_pairs_at_a_quarter_each():
    rng = numpy.random.default_rng(6)
    images = rng.standard_normal((7, 2, 5, 6)).astype(numpy.float32)
    labels = rng.integers(0, 3, 7)
    model = nn.Sequential(nn.Flatten(), nn.Linear(60, 3))
    weight, bias = model[1].weight.detach().numpy(), model[1].bias.detach().numpy()

    def pair(x):  # the mean of the scores of x and of its mirror image
        return ((x.reshape(7, -1) @ weight.T + bias) + (x[..., ::-1].reshape(7, -1) @ weight.T + bias)) / 2

    down = numpy.zeros_like(images)  # moved 2 pixels down and right, zeros in the uncovered border
    down[:, :, 2:, 2:] = images[:, :, :3, :4]
    up = numpy.zeros_like(images)  # moved 2 pixels up and left
    up[:, :, :3, :4] = images[:, :, 2:, 2:]
    expected = pair(images) / 2 + pair(down) / 4 + pair(up) / 4
    scores = scores_with_mirror(model, convpool.Tensor(images), shift=2).detach().numpy()
    numpy.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)
    numpy.testing.assert_allclose(scores_with_mirror(model, convpool.Tensor(images)).detach().numpy(), pair(images),
                                  rtol=1e-5, atol=1e-5)
    loader = DataLoader(ArrayDataset(images, labels), batch_size=3)
    metrics = evaluate(model, loader, num_classes=3, tta=True, tta_shift=2)
    assert metrics["accuracy"] == pytest.approx(float((expected.argmax(1) == labels).mean()))
    assert metrics["n"] == 7
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match=f"shift must be a non-negative int, got {bad!r}"):
            scores_with_mirror(model, convpool.Tensor(images), shift=bad)
    with pytest.raises(ValueError, match=r"shift=5 needs a batch of images \(N, C, H, W\) larger than 5 pixels, "
                                         r"got shape \(7, 2, 5, 6\)"):
        scores_with_mirror(model, convpool.Tensor(images), shift=5)


def test_confusion_and_per_class_tables():
    confusion = [[3, 1, 0], [0, 2, 0], [1, 1, 12345]]
    table = format_confusion(confusion, ["T-shirt/top", "Trouser", "Bag"]).splitlines()
    assert len(table) == 4 and table[0].startswith("true \\ predicted")
    assert table[1].split()[0] == "T-shirt/top" and table[3].split()[-3:] == ["1", "1", "12345"]
    assert "T-shirt" in table[0] and len({len(line) for line in table}) == 1
    rows = per_class_table(confusion, ["T-shirt/top", "Trouser", "Bag"]).splitlines()
    assert rows[0].split() == ["class", "n", "recall", "precision"]
    assert rows[1].split() == ["T-shirt/top", "4", "75.00%", "75.00%"]
    assert rows[2].split() == ["Trouser", "2", "100.00%", "50.00%"]
    assert rows[-1].split()[:2] == ["all", str(4 + 2 + 12347)]
    assert per_class_table([[0, 0], [0, 1]]).splitlines()[1].split() == ["0", "0", "-", "-"]
    with pytest.raises(ValueError, match="2 class names"):
        format_confusion(confusion, ["a", "b"])
