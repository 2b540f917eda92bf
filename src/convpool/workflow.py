"""What the `train`, `evaluate` and `predict` commands do, as plain functions: pick the data,
build the loaders with the right normalisation, train, report, and read images to classify.
The command line only parses arguments and calls these."""

from __future__ import annotations

import json
from pathlib import Path

import numpy

from . import functional as F
from . import models, optim
from .backend import manual_seed
from .checkpoint import build_from_checkpoint
from .data import (
    ArrayDataset,
    Compose,
    DataLoader,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    ToFloat,
    load_fashion_mnist,
    load_fashion_mnist_sample,
    load_idx_pair,
    train_val_split,
)
from .data.dataset import dataset_labels
from .tensor import Tensor, no_grad
from .train import evaluate, fit, format_confusion, per_class_table

IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def load_split(data: str, split: str, data_dir: str | None = None) -> ArrayDataset:
    """'fashion-mnist' (found on disk), 'sample' (built in) or a folder of IDX files."""
    if data == "sample":
        return load_fashion_mnist_sample(split)
    if data == "fashion-mnist":
        return load_fashion_mnist(split, data_dir)
    folder = Path(data)
    if not folder.is_dir():
        raise FileNotFoundError(f"--data {data!r} is neither 'fashion-mnist', 'sample' nor a folder of IDX files")
    paths = []
    for name in IDX_NAMES[split]:
        found = [p for p in (folder / f"{name}.gz", folder / name) if p.is_file()]
        if not found:
            raise FileNotFoundError(f"{folder}: no {name} or {name}.gz for the {split} split")
        paths.append(found[0])
    images, labels = load_idx_pair(*paths)
    if images.ndim == 3:
        images = images[:, None]
    classes = [str(i) for i in range(int(labels.max()) + 1)]  # an IDX folder carries no class names
    return ArrayDataset(images, labels.astype(numpy.int64), classes=classes)


def channel_stats(images: numpy.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images scaled to [0, 1] (from the train split only)."""
    scaled = images.astype(numpy.float64) / (255.0 if images.dtype == numpy.uint8 else 1.0)
    axes = (0, 2, 3)
    return scaled.mean(axis=axes).tolist(), scaled.std(axis=axes).tolist()


def make_optimizer(name: str, parameters, lr: float, weight_decay: float):
    if name == "sgd":
        return optim.SGD(parameters, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"--optimizer must be sgd, adam or adamw, got {name!r}")


def make_schedule(name: str, optimizer, epochs: int, steps_per_epoch: int, lr: float):
    """(scheduler or None, 'epoch' or 'step')."""
    if name == "none":
        return None, "epoch"
    if name == "step":
        return optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1), "epoch"
    if name == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch), "step"
    if name == "onecycle":
        return optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch), "step"
    raise ValueError(f"--schedule must be none, step, cosine or onecycle, got {name!r}")


def train_command(args) -> int:
    train_full = load_split(args.data, "train", args.data_dir)
    if not 0.0 <= args.val_split < 1.0:
        raise ValueError(f"--val-split must be in [0, 1), got {args.val_split}")
    if args.val_split > 0:
        train_set, val_set = train_val_split(train_full, args.val_split, seed=args.seed, stratify=True)
    else:
        train_set, val_set = train_full, None
    train_indices = getattr(train_set, "indices", numpy.arange(len(train_full)))
    mean, std = channel_stats(train_full.images[numpy.asarray(train_indices)])
    _, channels, height, width = train_full.images.shape
    if height != width:
        raise ValueError(f"the named models take square images, the data has {height}x{width}")
    classes = list(train_full.classes or range(int(dataset_labels(train_full).max()) + 1))
    normalise = [ToFloat(), Normalize(mean, std)]
    augment = [RandomCrop(height, padding=2), RandomHorizontalFlip()] if args.augment else []
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True,
                              seed=args.seed, transform=Compose(normalise + augment))
    val_loader = None if val_set is None else DataLoader(val_set, batch_size=256, transform=Compose(normalise))
    config = {"in_channels": channels, "num_classes": len(classes), "image_size": height,
              "class_names": [str(c) for c in classes], "mean": mean, "std": std}
    manual_seed(args.seed)  # the initial weights and dropout masks follow --seed
    model = models.build(args.model, in_channels=channels, num_classes=len(classes), image_size=height)
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    scheduler, interval = make_schedule(args.schedule, optimizer, args.epochs, len(train_loader), args.lr)
    out = Path(args.out) if args.out else _fresh_run_folder(Path("runs"), args.model)
    print(f"training {args.model} on {args.data}: {len(train_set)} train, "
          f"{0 if val_set is None else len(val_set)} validation images; checkpoints in {out}")
    history = fit(model, train_loader, val_loader, optimizer=optimizer, scheduler=scheduler, epochs=args.epochs,
                  out_dir=out, model_name=args.model, model_config=config, resume=args.resume,
                  progress=not args.no_progress, scheduler_interval=interval)
    last = history[-1] if history else None
    if last:
        val = "" if last["val_accuracy"] is None else f", validation accuracy {last['val_accuracy']:.4f}"
        print(f"done: epoch {last['epoch']}, train loss {last['train_loss']:.4f}{val}, "
              f"{last['images_per_second']:.0f} images/s")
    try:
        test_set = load_split(args.data, "test", args.data_dir)
    except FileNotFoundError:
        return 0
    metrics = evaluate(model, DataLoader(test_set, batch_size=256, transform=Compose(normalise)), len(classes))
    print(f"test accuracy {metrics['accuracy']:.4f} on {metrics['n']} images")
    return 0


def _fresh_run_folder(root: Path, model: str) -> Path:
    """runs/MODEL-1, runs/MODEL-2, ...: the first that does not exist, so a plain `convpool
    train` never collides with an earlier run."""
    number = 1
    while (root / f"{model}-{number}").exists():
        number += 1
    return root / f"{model}-{number}"


def resolve_checkpoint(spec: str):
    """(model, config) from a run folder, a weights file, or pretrained:NAME."""
    if spec.startswith("pretrained:"):
        model, config = models.pretrained(spec.split(":", 1)[1])
        return model, config
    model, checkpoint = build_from_checkpoint(spec)
    return model, dict(checkpoint.model_config)


def evaluate_command(args) -> int:
    model, config = resolve_checkpoint(args.checkpoint)
    test_set = load_split(args.data, "test", args.data_dir)
    loader = DataLoader(test_set, batch_size=256, transform=Compose([ToFloat(), Normalize(config["mean"],
                                                                                         config["std"])]))
    metrics = evaluate(model, loader, config["num_classes"])
    names = config.get("class_names")
    if args.json:
        print(json.dumps({"accuracy": metrics["accuracy"], "per_class": metrics["per_class"],
                          "confusion": metrics["confusion"], "n": metrics["n"]}))
    else:
        print(f"accuracy {metrics['accuracy']:.4f} on {metrics['n']} images\n")
        print(per_class_table(metrics["confusion"], names))
        print()
        print(format_confusion(metrics["confusion"], names))
    if args.png:
        write_confusion_png(metrics["confusion"], names, args.png)
        if not args.json:
            print(f"\nconfusion matrix written to {args.png}")
    return 0


def write_confusion_png(confusion, names, path: str) -> None:
    """The confusion matrix as a picture: rows are the true class, columns the prediction."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    counts = numpy.asarray(confusion)
    names = list(names or range(len(counts)))
    figure, axes = pyplot.subplots(figsize=(7, 6), layout="constrained")
    image = axes.imshow(counts, cmap="Blues")
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(f"Confusion matrix ({counts.sum()} images, accuracy {numpy.trace(counts) / counts.sum():.1%})")
    for (i, j), value in numpy.ndenumerate(counts):
        axes.text(j, i, str(value), ha="center", va="center", fontsize=7,
                  color="white" if value > counts.max() / 2 else "black")
    figure.colorbar(image, ax=axes, label="images")
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def read_image(path: str, channels: int, size: int) -> tuple[numpy.ndarray, str]:
    """An image file as a (channels, size, size) uint8 array, and what was done to it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            original = image
            notes = []
            mode = "L" if channels == 1 else "RGB"
            if image.mode != mode:
                notes.append(f"converted {image.mode} to {'grey' if mode == 'L' else 'RGB'}")
                image = image.convert(mode)
            if image.size != (size, size):
                notes.append(f"resized {original.size[0]}x{original.size[1]} to {size}x{size}")
                image = image.resize((size, size), Image.Resampling.LANCZOS)
            array = numpy.asarray(image, dtype=numpy.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such image file") from None
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image Pillow can read") from None
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return array, "; ".join(notes)


def predict_command(args) -> int:
    model, config = resolve_checkpoint(args.checkpoint)
    names = config.get("class_names") or [str(i) for i in range(config["num_classes"])]
    normalise = Compose([ToFloat(), Normalize(config["mean"], config["std"])])
    k = max(1, min(args.top_k, len(names)))
    for path in args.images:
        array, notes = read_image(path, config["in_channels"], config["image_size"])
        with no_grad():
            logits = model(Tensor(normalise(array[None])))
            probabilities = F.softmax(logits, 1).numpy()[0]
        order = numpy.argsort(-probabilities)[:k]
        print(f"{path}" + (f" ({notes})" if notes else ""))
        for rank, index in enumerate(order, 1):
            print(f"  {rank}. {names[index]:<14} {probabilities[index]:.4f}")
    return 0
