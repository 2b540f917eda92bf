"""What the `train`, `evaluate` and `predict` commands do, as plain functions: pick the data,
build the loaders with the right normalisation, train, report, and read images to classify.
The command line only parses arguments and calls these."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import numpy

from . import backend, models, optim
from . import functional as F
from .backend import manual_seed
from .checkpoint import latest_checkpoint
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
from .data.images import read_image  # noqa: F401  (the image reader predict, explain and the tour use)
from .data.sources import SplitMissing, open_split
from .data.stats import channel_stats
from .distributed import broadcast_object, is_main, main_first
from .input_kinds import KINDS, check_data, input_kind, kind_for_model, kind_of
from .models import ModelConfig
from .run_settings import apply_changes, check_new_run, resume_settings, settings_of
from .tensor import Tensor, no_grad
from .train import (
    TrainingInterrupted,
    evaluate,
    fit,
    format_confusion,
    model_device,
    per_class_table,
    scores_with_mirror,
)
from .viz.live import training_views


def load_split(data: str, split: str, data_dir: str | None = None, pool: str = "all",
               size: int | None = None, progress: bool = True) -> ArrayDataset:
    """The split of a --data value (see convpool.data.sources for what it may name); a
    progress bar while a folder of images is decoded the first time, on a terminal only."""
    try:
        return open_split(data, split, data_dir, pool=pool, size=size, progress=progress and sys.stderr.isatty())
    except SplitMissing:
        raise
    except FileNotFoundError as error:
        text = str(error)
        if "Looked in:" not in text:
            raise
        # the library's message speaks of its own arguments (data_dir=); say it in the command's flags
        places = [line.strip() for line in text.splitlines()[1:] if line.startswith("  ") and ": " in line
                  and not line.startswith("    ")][:3]
        raise FileNotFoundError(f"--data {data}: not found ({'; '.join(places)}); `convpool data download {data}` "
                                f"fetches it, or give --data-dir a folder that holds it") from None


def input_spec(model_name: str, dataset: ArrayDataset) -> dict:
    """How the model's input is made from the data: {"kind": "image"}, or for sound the
    front end's config (waveform or log-mel spectrogram). Refuses a model that reads the other
    kind of data, naming both."""
    kind = kind_for_model(model_name)
    check_data(kind, model_name, dataset)
    return kind.spec(dataset)


def model_inputs(dataset: ArrayDataset, spec: dict) -> ArrayDataset:
    """The data as the model reads it (see `convpool.input_kinds`)."""
    return input_kind(spec.get("kind", "image")).prepare(dataset, spec)


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
    given = getattr(args, "given", set())
    notes: list[str] = []
    if args.resume:
        _, notes = resume_settings(args, given)  # the run's own settings where the command left them out
    elif args.out:
        check_new_run(args, Path(args.out))
    elif args.epochs < 1:
        raise ValueError(f"--epochs must be 1 or more, got {args.epochs}")
    with main_first(3600):  # K processes: rank 0 decodes (and caches) a folder of images, then the others read it
        train_full = load_split(args.data, "train", args.data_dir, pool="train-only")
    model_name = args.model or ("audio-cnn2d" if KINDS["spectrogram"].holds(train_full) else "article-cnn")
    kind = kind_for_model(model_name)
    check_data(kind, model_name, train_full)
    spec = kind.spec(train_full)
    train_full = kind.prepare(train_full, spec)
    if not 0.0 <= args.val_split < 1.0:
        raise ValueError(f"--val-split must be in [0, 1), got {args.val_split}")
    if args.val_split > 0:
        train_set, val_set = train_val_split(train_full, args.val_split, seed=args.seed, stratify=True)
    else:
        train_set, val_set = train_full, None
    train_indices = getattr(train_set, "indices", numpy.arange(len(train_full)))
    # K processes: rank 0 alone reads every training image for the statistics; the others are sent them
    mean, std = broadcast_object(channel_stats(train_full.images, train_indices) if is_main() else None)
    channels, height = train_full.images.shape[1], train_full.images.shape[2]
    kind.check_shape(train_full)
    classes = list(train_full.classes or range(int(dataset_labels(train_full).max()) + 1))
    normalise = [ToFloat(), Normalize(mean, std)]
    augment = []
    crop_padding = getattr(args, "crop_padding", None)
    tta = bool(getattr(args, "tta", False))
    if crop_padding is not None and (not args.augment or crop_padding < 0):
        raise ValueError(f"--crop-padding {crop_padding}: needs --augment and a value of 0 or more")
    kind.check_training(args, model_name)
    tta_shift = getattr(args, "tta_shift", 0) or 0
    if tta_shift and (not tta or tta_shift < 0 or tta_shift >= height):
        raise ValueError(f"--tta-shift {tta_shift}: needs --tta and a value from 0 to {height - 1} "
                         f"(the images are {height} pixels high)")
    if tta and not args.augment:
        print("note: --tta without --augment scores mirror images the network never saw in training; that can "
              "lower accuracy (the article CNN on Fashion-MNIST: 92.60% validation alone, 90.80% with mirrors)")
    if args.augment:
        if kind.sound:
            print("--augment: crops and flips are for images; sound is trained as it is")
        else:
            padding = crop_padding if crop_padding is not None else (4 if height >= 32 else 2)
            augment = ([RandomCrop(height, padding=padding)] if padding else []) + [RandomHorizontalFlip()]
            if args.cutout:
                from .data.transforms import Cutout

                augment.append(Cutout(args.cutout))
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be 1 or more, got {args.batch_size}")
    if args.batch_size > len(train_set):
        raise ValueError(f"--batch-size {args.batch_size} is larger than the {len(train_set)} training "
                         f"{kind.unit} (batches are whole, so there would "
                         f"be none); use --batch-size {len(train_set)} or less")
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True,
                              seed=args.seed, transform=Compose(normalise + augment))
    val_loader = None if val_set is None else DataLoader(val_set, batch_size=256, transform=Compose(normalise))
    size = kind.size(train_full)
    config = ModelConfig.from_dict({"in_channels": channels, "num_classes": len(classes), "image_size": size,
                                    "class_names": [str(c) for c in classes], "mean": mean, "std": std,
                                    "input": spec, "tta": tta, "tta_shift": tta_shift}, f"--data {args.data}")
    manual_seed(args.seed)  # the initial weights and dropout masks follow --seed
    model = models.build(model_name, **config.build_arguments())
    if hasattr(model, "initialise_from_data") and not args.resume and is_main():
        # data-dependent weights (fast-cnn's whitening) from up to 5,000 normalised training images;
        # K processes: on rank 0, whose weights and buffers DistributedDataParallel sends to the others
        sample = numpy.asarray(train_indices)[:5000]
        model.initialise_from_data(Compose(normalise)(train_full.images[numpy.sort(sample)]))
    device = backend.resolve_device(getattr(args, "device", "cpu"))
    model.to(device)
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    scheduler, interval = make_schedule(args.schedule, optimizer, args.epochs, len(train_loader), args.lr)
    out = Path(broadcast_object(str(Path(args.out) if args.out else _fresh_run_folder(Path("runs"), model_name))))
    unit = kind.unit
    try:  # from the first line on, Ctrl-C says where the run stands
        print(f"training {model_name} on {args.data}: {len(train_set)} train, "
              f"{0 if val_set is None else len(val_set)} validation {unit}; checkpoints in {out}")
        print(f"device: {backend.describe(device)}")
        for line in notes:
            print(line)
        main = is_main()  # K processes: rank 0 alone serves --live and writes --plot
        views = training_views(model, val_loader or train_loader, out, live=args.live and main,
                               port=args.live_port if main else None, plot=args.plot and main,
                               title=f"{model_name} on {args.data}", epochs=args.epochs)
        with views:  # --live serves while fit runs; --plot writes out/curves.png after each epoch
            history = fit(model, train_loader, val_loader, optimizer=optimizer, scheduler=scheduler,
                          epochs=args.epochs, out_dir=out, model_name=model_name, model_config=config.to_dict(),
                          resume=args.resume, progress=not args.no_progress, scheduler_interval=interval,
                          label_smoothing=args.label_smoothing, on_step=views.on_step,
                          on_epoch_end=views.on_epoch_end, val_every=getattr(args, "val_every", 1),
                          run_info={"settings": settings_of(args)},
                          on_resume=lambda _: apply_changes(optimizer, args, given))
    except TrainingInterrupted as stop:
        raise KeyboardInterrupt(f"{stop}{_resume_line(out, stop.checkpoint)}") from None
    except KeyboardInterrupt:  # before fit's first epoch (the live view starting, a resume being restored)
        newest = latest_checkpoint(out)
        where = f"{newest} is intact" if newest is not None else "no checkpoint was written yet"
        raise KeyboardInterrupt(f"training stopped before its first epoch; {where}{_resume_line(out, newest)}") \
            from None
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
        with main_first(3600):
            test_set = load_split(args.data, "test", args.data_dir, pool="train-only")
    except FileNotFoundError:  # a train-only source: the validation split is the measure
        return 0
    test_set = model_inputs(test_set, spec)
    metrics = evaluate(model, DataLoader(test_set, batch_size=256, transform=Compose(normalise)), len(classes),
                       tta=tta, tta_shift=tta_shift)
    print(f"test accuracy{' with mirror images' + _shifted(tta_shift) if tta else ''} {metrics['accuracy']:.4f} "
          f"on {metrics['n']} {unit}")
    return 0


def _resume_line(out: Path, checkpoint: Path | None) -> str:
    return f"; continue with: convpool train --resume --out {shlex.quote(str(out))}" if checkpoint is not None else ""


def _shifted(shift: int) -> str:
    return f" and copies moved {shift} pixel{'s' if shift > 1 else ''}" if shift else ""


def _fresh_run_folder(root: Path, model: str) -> Path:
    """runs/MODEL-1, runs/MODEL-2, ...: the first that does not exist, so a plain `convpool
    train` never collides with an earlier run."""
    number = 1
    while (root / f"{model}-{number}").exists():
        number += 1
    return root / f"{model}-{number}"


def resolve_checkpoint(spec: str, device: str | backend.device | None = None) -> tuple[models.nn.Module, ModelConfig]:
    """(model, its checked config) from a run folder, a weights file, an ONNX classifier, or
    pretrained:NAME, on `device` (a --device value; the CPU when None)."""
    if spec.startswith("pretrained:"):
        model, config = models.pretrained(spec.split(":", 1)[1])
    elif spec.lower().endswith(".onnx"):
        from .onnx import load_classifier

        model, config = load_classifier(spec)
    else:
        model, checkpoint = models.build_from_checkpoint(spec)
        config = models.checked_config(checkpoint)
    if device is not None:
        model.to(backend.resolve_device(device))
    return model, config


def evaluate_command(args) -> int:
    model, config = resolve_checkpoint(args.checkpoint, getattr(args, "device", None))
    kind = kind_of(config)
    size = None if kind.sound else config.image_size
    try:
        test_set = load_split(args.data, "test", args.data_dir, pool="train-only", size=size)
    except SplitMissing as missing:  # no test part: measure what there is, and say what that is
        test_set = load_split(args.data, "train", args.data_dir, size=size)
        print(f"note: {missing}; measuring its {len(test_set)} {kind.unit} instead, which may include ones the "
              f"network trained on", file=sys.stderr)
    test_set = kind.prepare(_check_matches(test_set, config, args.data), dict(config.input))
    loader = DataLoader(test_set, batch_size=256, transform=Compose([ToFloat(), _normalise(config)]))
    tta = config.tta if getattr(args, "tta", None) is None else args.tta
    if tta and kind.sound:
        raise ValueError("--tta flips images; this network reads sound")
    shift = config.tta_shift if getattr(args, "tta_shift", None) is None else args.tta_shift
    if shift and (shift < 0 or shift >= config.image_size):
        raise ValueError(f"--tta-shift {shift}: must be from 0 to {config.image_size - 1} (the network reads "
                         f"{config.image_size}-pixel images)")
    metrics = evaluate(model, loader, config.num_classes, tta=tta, tta_shift=shift if tta else 0)
    names = config.names
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


def _normalise(config: ModelConfig) -> Normalize:
    """The input normalisation the network was trained with (none saved: identity)."""
    if config.mean is None or config.std is None:
        return Normalize([0.0] * config.in_channels, [1.0] * config.in_channels)
    return Normalize(list(config.mean), list(config.std))


def _check_matches(dataset: ArrayDataset, config: ModelConfig, data: str) -> ArrayDataset:
    """The data must be the kind and channels the network was trained on, and its classes
    ones the network knows; labels are renumbered to the network's class order by name (a
    folder with only some of the classes, or in another order, is fine)."""
    kind = kind_of(config)
    if not kind.holds(dataset):
        raise ValueError(f"--data {data} holds {'images' if kind.sound else 'sound'}, the network reads "
                         f"{'sound' if kind.sound else 'images'}")
    if dataset.images.shape[1] != config.in_channels and not kind.sound:
        raise ValueError(f"--data {data} has {dataset.images.shape[1]} channel(s) of shape "
                         f"{dataset.images.shape[1:]}, the network reads {config.in_channels}")
    names = list(config.class_names) if config.class_names else None
    labels = numpy.asarray(dataset.labels)
    if names and dataset.classes and not all(c.isdigit() for c in map(str, dataset.classes)):
        unknown = [str(c) for c in dataset.classes if str(c) not in names]
        if unknown:
            raise ValueError(f"--data {data} has classes {unknown} that the network does not know; it knows {names}")
        order = numpy.array([names.index(str(c)) for c in dataset.classes])
        return ArrayDataset(dataset.images, order[labels], classes=names)
    if len(labels) and int(labels.max()) >= config.num_classes:
        raise ValueError(f"--data {data} has label {int(labels.max())}, the network has "
                         f"{config.num_classes} classes")
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


CHECKPOINT_SUFFIXES = (".safetensors", ".onnx")


def split_checkpoint(arguments: list[str]) -> tuple[str | None, list[str]]:
    """`predict [CHECKPOINT] INPUT...`: the first argument is the checkpoint when it is
    pretrained:NAME, a weights file or a run folder; otherwise every argument is an input."""
    first = arguments[0]
    folder = Path(first)
    is_run = folder.is_dir() and ((folder / "latest").is_file() or (folder / "checkpoint.json").is_file())
    if first.startswith("pretrained:") or first.endswith(CHECKPOINT_SUFFIXES) or is_run:
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
    from .data.sounds import read_sound as read_clip

    front = AudioFrontEnd.from_config(spec["front_end"])
    sound = read_clip(path, front.sample_rate, front.length)
    return front(sound.samples[None, None])[0], sound.notes


def scoring(config: ModelConfig) -> str:
    """What the network's scores are the mean over, in words: the commands say it, since a
    network trained with --tta is scored on copies of the input too."""
    if not (config.tta and not kind_of(config).sound):
        return "scored on the input alone"
    return f"scored as the mean over the image and its mirror image{_shifted(config.tta_shift)}, as trained (--tta)"


def predict_command(args) -> int:
    if args.top_k < 1:
        raise ValueError(f"--top-k must be 1 or more, got {args.top_k}")
    checkpoint, inputs = split_checkpoint(args.inputs)
    loaded: dict[str, tuple] = {}
    if checkpoint:  # a bad network is an error for every input: said once, first
        loaded[checkpoint] = resolve_checkpoint(checkpoint, getattr(args, "device", None))
    failed = 0
    for path in inputs:
        try:
            _predict_one(args, path, checkpoint, loaded)
        except (ValueError, OSError) as error:  # one bad input is reported; the others are still predicted
            if len(inputs) == 1:
                raise
            failed += 1
            print(f"convpool predict: error: {error}", file=sys.stderr)
    if failed:
        print(f"convpool predict: {failed} of {len(inputs)} inputs could not be predicted", file=sys.stderr)
        return 2
    return 0


def _predict_one(args, path: str, checkpoint: str | None, loaded: dict[str, tuple]) -> None:
    """Print the top classes of one input (loading its network once, into `loaded`)."""
    check_input_file(path, run=True)
    spec_name = checkpoint or default_checkpoint(path)
    if spec_name not in loaded:
        loaded[spec_name] = resolve_checkpoint(spec_name, getattr(args, "device", None))
    model, config = loaded[spec_name]
    names = config.names
    kind = kind_of(config)
    if not kind.accepts_file(path):
        raise ValueError(f"{path}: {spec_name} reads sound (.wav files)" if kind.sound else
                         f"{path}: a sound, but {spec_name} reads images")
    array, notes = kind.read(path, config)
    with no_grad():
        x = Tensor(_normalise(config)(array), device=model_device(model))
        mirrored = config.tta and not kind.sound  # trained with --tta: scored the same way
        logits = scores_with_mirror(model, x, config.tta_shift) if mirrored else model(x)
        probabilities = F.softmax(logits, 1).numpy()[0]
    k = min(args.top_k, len(names))
    order = numpy.argsort(-probabilities)[:k]
    via = "" if checkpoint else f" [{spec_name}]"
    told = "; ".join(filter(None, [notes, scoring(config) if mirrored else ""]))
    print(f"{path}{via}" + (f" ({told})" if told else ""))
    for rank, index in enumerate(order, 1):
        print(f"  {rank}. {names[index]:<14} {probabilities[index]:.4f}")


def check_input_file(path: str, what: str = "an image or .wav file", flag: str = "", run: bool = False,
                     missing: str = "file") -> None:
    """An input must be an existing file: a folder or a missing path gets one line saying so
    and what to name instead. flag: the option that named it ("--image "), if any."""
    where = Path(path)
    if where.is_dir():
        hint = " (and no run folder: it holds no checkpoint)" if run else ""
        raise IsADirectoryError(f"{flag}{path} is a folder, not {what}{hint}; name one file in it, "
                                f"e.g. {where / 'photo.jpg'}")
    if not where.exists():
        raise FileNotFoundError(f"{flag}{path}: no such {missing}")
