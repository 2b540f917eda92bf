"""What the `train`, `evaluate` and `predict` commands do, as plain functions: pick the data,
build the loaders with the right normalisation, train, report, and read images to classify.
The command line only parses arguments and calls these."""

from __future__ import annotations

import json
import sys
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
    train_val_split,
)
from .data.audio import AudioFrontEnd
from .data.dataset import dataset_labels
from .data.sources import open_split
from .tensor import Tensor, no_grad
from .train import evaluate, fit, format_confusion, per_class_table, scores_with_mirror
from .viz.live import training_views


def load_split(data: str, split: str, data_dir: str | None = None, pool: str = "all",
               size: int | None = None, progress: bool = True) -> ArrayDataset:
    """The split of a --data value (see convpool.data.sources for what it may name); a
    progress bar while a folder of images is decoded the first time, on a terminal only."""
    return open_split(data, split, data_dir, pool=pool, size=size, progress=progress and sys.stderr.isatty())


def channel_stats(images: numpy.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the train split, uint8 images scaled to [0, 1]; any layout
    (N, C, ...) so images and spectrograms alike."""
    scaled = images.astype(numpy.float64) / (255.0 if images.dtype == numpy.uint8 else 1.0)
    axes = tuple(i for i in range(images.ndim) if i != 1)
    return scaled.mean(axis=axes).tolist(), [max(s, 1e-8) for s in scaled.std(axis=axes).tolist()]


def input_spec(model_name: str, dataset: ArrayDataset) -> dict:
    """How the model's input is made from the data: {"kind": "image"}, or for sound the
    front end's config (waveform or log-mel spectrogram). Refuses a model that reads the other
    kind of data, naming both."""
    kind = models.input_kind(model_name)
    sound = dataset.images.ndim == 3
    if sound and kind == "image":
        raise ValueError(f"--model {model_name} reads images, but the data is sound (shape {dataset.images.shape}); "
                         f"choose audio-cnn1d or audio-cnn2d")
    if not sound and kind != "image":
        raise ValueError(f"--model {model_name} reads sound, but the data is images (shape {dataset.images.shape})")
    if kind == "image":
        return {"kind": "image"}
    rate = int(getattr(dataset, "sample_rate", 8000))
    front = AudioFrontEnd(sample_rate=rate, length=dataset.images.shape[-1],
                          features="waveform" if kind == "waveform" else "log-mel")
    return {"kind": kind, "front_end": front.to_config()}


def model_inputs(dataset: ArrayDataset, spec: dict) -> ArrayDataset:
    """The data as the model reads it: images as they are; sound through the recorded front
    end, computed once for the whole set (a spectrogram is cheap to keep, slow to redo)."""
    if spec.get("kind", "image") == "image":
        return dataset
    front = AudioFrontEnd.from_config(spec["front_end"])
    features = numpy.concatenate([front(dataset.images[i:i + 512]) for i in range(0, len(dataset), 512)])
    return ArrayDataset(features, dataset.labels, classes=dataset.classes)


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
    train_full = load_split(args.data, "train", args.data_dir, pool="train-only")
    model_name = args.model or ("audio-cnn2d" if train_full.images.ndim == 3 else "article-cnn")
    spec = input_spec(model_name, train_full)
    train_full = model_inputs(train_full, spec)
    if not 0.0 <= args.val_split < 1.0:
        raise ValueError(f"--val-split must be in [0, 1), got {args.val_split}")
    if args.val_split > 0:
        train_set, val_set = train_val_split(train_full, args.val_split, seed=args.seed, stratify=True)
    else:
        train_set, val_set = train_full, None
    train_indices = getattr(train_set, "indices", numpy.arange(len(train_full)))
    mean, std = channel_stats(train_full.images[numpy.asarray(train_indices)])
    channels, height = train_full.images.shape[1], train_full.images.shape[2]
    if spec["kind"] == "image" and height != train_full.images.shape[3]:
        raise ValueError(f"the named models take square images, the data has {height}x{train_full.images.shape[3]}")
    classes = list(train_full.classes or range(int(dataset_labels(train_full).max()) + 1))
    normalise = [ToFloat(), Normalize(mean, std)]
    augment = []
    crop_padding = getattr(args, "crop_padding", None)
    tta = bool(getattr(args, "tta", False))
    if crop_padding is not None and (not args.augment or crop_padding < 0):
        raise ValueError(f"--crop-padding {crop_padding}: needs --augment and a value of 0 or more")
    if tta and spec["kind"] != "image":
        raise ValueError(f"--tta flips images; --model {model_name} reads sound")
    tta_shift = getattr(args, "tta_shift", 0) or 0
    if tta_shift and spec["kind"] != "image":
        raise ValueError(f"--tta-shift moves images; --model {model_name} reads sound")
    if tta_shift and (not tta or tta_shift < 0 or tta_shift >= height):
        raise ValueError(f"--tta-shift {tta_shift}: needs --tta and a value from 0 to {height - 1} "
                         f"(the images are {height} pixels high)")
    if tta and not args.augment:
        print("note: --tta without --augment scores mirror images the network never saw in training; that can "
              "lower accuracy (the article CNN on Fashion-MNIST: 92.60% validation alone, 90.80% with mirrors)")
    if args.augment:
        if spec["kind"] != "image":
            print("--augment: crops and flips are for images; sound is trained as it is")
        else:
            padding = crop_padding if crop_padding is not None else (4 if height >= 32 else 2)
            augment = ([RandomCrop(height, padding=padding)] if padding else []) + [RandomHorizontalFlip()]
            if args.cutout:
                from .data.transforms import Cutout

                augment.append(Cutout(args.cutout))
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True,
                              seed=args.seed, transform=Compose(normalise + augment))
    val_loader = None if val_set is None else DataLoader(val_set, batch_size=256, transform=Compose(normalise))
    size = train_full.images.shape[-1] if spec["kind"] == "waveform" else height
    config = {"in_channels": channels, "num_classes": len(classes), "image_size": size,
              "class_names": [str(c) for c in classes], "mean": mean, "std": std, "input": spec, "tta": tta,
              "tta_shift": tta_shift}
    manual_seed(args.seed)  # the initial weights and dropout masks follow --seed
    model = models.build(model_name, in_channels=channels, num_classes=len(classes), image_size=size)
    if hasattr(model, "initialise_from_data") and not args.resume:
        # data-dependent weights (fast-cnn's whitening) from up to 5,000 normalised training images
        sample = numpy.asarray(train_indices)[:5000]
        model.initialise_from_data(Compose(normalise)(train_full.images[numpy.sort(sample)]))
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    scheduler, interval = make_schedule(args.schedule, optimizer, args.epochs, len(train_loader), args.lr)
    out = Path(args.out) if args.out else _fresh_run_folder(Path("runs"), model_name)
    unit = "images" if spec["kind"] == "image" else "recordings"
    print(f"training {model_name} on {args.data}: {len(train_set)} train, "
          f"{0 if val_set is None else len(val_set)} validation {unit}; checkpoints in {out}")
    views = training_views(model, val_loader or train_loader, out, live=args.live, port=args.live_port,
                           plot=args.plot, title=f"{model_name} on {args.data}", epochs=args.epochs)
    with views:  # --live serves while fit runs; --plot writes out/curves.png after each epoch
        history = fit(model, train_loader, val_loader, optimizer=optimizer, scheduler=scheduler, epochs=args.epochs,
                      out_dir=out, model_name=model_name, model_config=config, resume=args.resume,
                      progress=not args.no_progress, scheduler_interval=interval,
                      label_smoothing=args.label_smoothing, on_step=views.on_step, on_epoch_end=views.on_epoch_end,
                      val_every=getattr(args, "val_every", 1))
    last = history[-1] if history else None
    if last:
        val = "" if last["val_accuracy"] is None else f", validation accuracy {last['val_accuracy']:.4f}"
        print(f"done: epoch {last['epoch']}, train loss {last['train_loss']:.4f}{val}, "
              f"{last['images_per_second']:.0f} {unit}/s")
    if tta and val_loader is not None:
        metrics = evaluate(model, val_loader, len(classes), tta=True, tta_shift=tta_shift)
        print(f"validation accuracy with mirror images (--tta){_shifted(tta_shift)} {metrics['accuracy']:.4f} "
              f"on {metrics['n']} {unit}")
    try:
        test_set = load_split(args.data, "test", args.data_dir, pool="train-only")
    except FileNotFoundError:  # a train-only source: the validation split is the measure
        return 0
    test_set = model_inputs(test_set, spec)
    metrics = evaluate(model, DataLoader(test_set, batch_size=256, transform=Compose(normalise)), len(classes),
                       tta=tta, tta_shift=tta_shift)
    print(f"test accuracy{' with mirror images' + _shifted(tta_shift) if tta else ''} {metrics['accuracy']:.4f} "
          f"on {metrics['n']} {unit}")
    return 0


def _shifted(shift: int) -> str:
    return f" and copies moved {shift} pixel{'s' if shift > 1 else ''}" if shift else ""


def _fresh_run_folder(root: Path, model: str) -> Path:
    """runs/MODEL-1, runs/MODEL-2, ...: the first that does not exist, so a plain `convpool
    train` never collides with an earlier run."""
    number = 1
    while (root / f"{model}-{number}").exists():
        number += 1
    return root / f"{model}-{number}"


def resolve_checkpoint(spec: str):
    """(model, config) from a run folder, a weights file, an ONNX classifier, or pretrained:NAME."""
    if spec.startswith("pretrained:"):
        model, config = models.pretrained(spec.split(":", 1)[1])
        return model, config
    if spec.lower().endswith(".onnx"):
        from .onnx import load_classifier

        return load_classifier(spec)
    model, checkpoint = build_from_checkpoint(spec)
    return model, dict(checkpoint.model_config)


def evaluate_command(args) -> int:
    model, config = resolve_checkpoint(args.checkpoint)
    spec = config.get("input", {"kind": "image"})
    test_set = load_split(args.data, "test", args.data_dir, size=config["image_size"] if spec["kind"] == "image"
                          else None)
    test_set = model_inputs(_check_matches(test_set, config, args.data), spec)
    loader = DataLoader(test_set, batch_size=256, transform=Compose([ToFloat(), Normalize(config["mean"],
                                                                                         config["std"])]))
    tta = config.get("tta", False) if getattr(args, "tta", None) is None else args.tta
    if tta and spec["kind"] != "image":
        raise ValueError("--tta flips images; this network reads sound")
    shift = config.get("tta_shift", 0) if getattr(args, "tta_shift", None) is None else args.tta_shift
    if shift and (shift < 0 or shift >= config["image_size"]):
        raise ValueError(f"--tta-shift {shift}: must be from 0 to {config['image_size'] - 1} (the network reads "
                         f"{config['image_size']}-pixel images)")
    metrics = evaluate(model, loader, config["num_classes"], tta=tta, tta_shift=shift if tta else 0)
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


def _check_matches(dataset: ArrayDataset, config: dict, data: str) -> ArrayDataset:
    """The data must be the kind and channels the network was trained on, and its classes
    ones the network knows; labels are renumbered to the network's class order by name (a
    folder with only some of the classes, or in another order, is fine)."""
    spec = config.get("input", {"kind": "image"})
    sound = dataset.images.ndim == 3
    if sound != (spec["kind"] != "image"):
        raise ValueError(f"--data {data} holds {'sound' if sound else 'images'}, the network reads "
                         f"{'images' if spec['kind'] == 'image' else 'sound'}")
    if dataset.images.shape[1] != config["in_channels"] and spec["kind"] == "image":
        raise ValueError(f"--data {data} has {dataset.images.shape[1]} channel(s) of shape "
                         f"{dataset.images.shape[1:]}, the network reads {config['in_channels']}")
    names = config.get("class_names")
    labels = numpy.asarray(dataset.labels)
    if names and dataset.classes and not all(c.isdigit() for c in map(str, dataset.classes)):
        unknown = [str(c) for c in dataset.classes if str(c) not in names]
        if unknown:
            raise ValueError(f"--data {data} has classes {unknown} that the network does not know; it knows {names}")
        order = numpy.array([names.index(str(c)) for c in dataset.classes])
        return ArrayDataset(dataset.images, order[labels], classes=names)
    if len(labels) and int(labels.max()) >= config["num_classes"]:
        raise ValueError(f"--data {data} has label {int(labels.max())}, the network has "
                         f"{config['num_classes']} classes")
    return dataset


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


CHECKPOINT_SUFFIXES = (".safetensors", ".onnx")


def split_checkpoint(arguments: list[str]) -> tuple[str | None, list[str]]:
    """`predict [CHECKPOINT] INPUT...`: the first argument is the checkpoint when it is
    pretrained:NAME, a weights file or a run folder; otherwise every argument is an input."""
    first = arguments[0]
    if first.startswith("pretrained:") or first.endswith(CHECKPOINT_SUFFIXES) or Path(first).is_dir():
        if len(arguments) == 1:
            raise ValueError(f"predict: {first} is a network; name at least one image or .wav file after it")
        return first, arguments[1:]
    return None, arguments


def default_checkpoint(path: str) -> str:
    """The shipped network for an input: the spoken digits for a .wav, else the photo model
    (CIFAR-10), or Fashion-MNIST's where no photo model is shipped."""
    if path.lower().endswith(".wav"):
        return "pretrained:fsdd"
    return "pretrained:cifar10" if "cifar10" in models.PRETRAINED else "pretrained:fashion-mnist"


def read_sound(path: str, spec: dict) -> tuple[numpy.ndarray, str]:
    """A WAV file as the network's input (1, ...) through its recorded front end, and what
    was done to it (resampled, cut, padded)."""
    from .data.wav import read_wav, resample

    front = AudioFrontEnd.from_config(spec["front_end"])
    samples, rate = read_wav(path)
    notes = []
    if rate != front.sample_rate:
        samples = resample(samples, rate, front.sample_rate)
        notes.append(f"resampled {rate} Hz to {front.sample_rate} Hz")
    if len(samples) != front.length:
        notes.append(f"{'cut' if len(samples) > front.length else 'padded'} {len(samples)} samples to {front.length}")
    return front(samples.astype(numpy.float32)[None, None])[0], "; ".join(notes)


def predict_command(args) -> int:
    checkpoint, inputs = split_checkpoint(args.inputs)
    loaded: dict[str, tuple] = {}
    for path in inputs:
        spec_name = checkpoint or default_checkpoint(path)
        if spec_name not in loaded:
            loaded[spec_name] = resolve_checkpoint(spec_name)
        model, config = loaded[spec_name]
        names = config.get("class_names") or [str(i) for i in range(config["num_classes"])]
        spec = config.get("input", {"kind": "image"})
        if spec["kind"] == "image":
            if path.lower().endswith(".wav"):
                raise ValueError(f"{path}: a sound, but {spec_name} reads images")
            array, notes = read_image(path, config["in_channels"], config["image_size"])
            array = ToFloat()(array[None])
        else:
            if not path.lower().endswith(".wav"):
                raise ValueError(f"{path}: {spec_name} reads sound (.wav files)")
            array, notes = read_sound(path, spec)
            array = array[None]
        with no_grad():
            x = Tensor(Normalize(config["mean"], config["std"])(array))
            mirrored = config.get("tta") and spec["kind"] == "image"  # trained with --tta: scored the same way
            logits = scores_with_mirror(model, x, config.get("tta_shift", 0)) if mirrored else model(x)
            probabilities = F.softmax(logits, 1).numpy()[0]
        k = max(1, min(args.top_k, len(names)))
        order = numpy.argsort(-probabilities)[:k]
        via = "" if checkpoint else f" [{spec_name}]"
        print(f"{path}{via}" + (f" ({notes})" if notes else ""))
        for rank, index in enumerate(order, 1):
            print(f"  {rank}. {names[index]:<14} {probabilities[index]:.4f}")
    return 0
