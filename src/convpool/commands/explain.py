"""`convpool explain`: why a trained network answers what it does for one image (or one
.wav, for a network that reads spectrograms): the top-5 classes, the first layer's learned
kernels, every conv layer's feature maps, and the saliency map and Grad-CAM of the top
class, as numbered PNGs and one self-contained HTML page (index.html) in the output folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_device_argument

NAME = "explain"
HELP = "top classes, kernels, feature maps, saliency and Grad-CAM for an image or a .wav, as PNGs and a page"
ORDER = 45
EPILOG = ("examples:\n  convpool explain pretrained:fashion-mnist shoe.png\n"
          "  convpool explain runs/article-cnn-1 photo.jpg -o explain-photo\n"
          "  convpool explain runs/audio-cnn2d-1 seven.wav")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_device_argument(parser)
    parser.add_argument("checkpoint", help="a run folder, a weights file, or pretrained:NAME")
    parser.add_argument("input", help="an image file (resized and converted to what the network takes), or a .wav "
                                      "for a network trained on sound")
    parser.add_argument("-o", "--out", help="the folder to write into (default: a new explain-INPUT-STEM folder)")


def fresh_folder(stem: str) -> Path:
    """explain-STEM, or explain-STEM-2, -3, ...: the first that does not exist yet, so an
    earlier explanation is never overwritten."""
    folder, number = Path(f"explain-{stem}"), 1
    while folder.exists():
        number += 1
        folder = Path(f"explain-{stem}-{number}")
    return folder


def run(args: argparse.Namespace) -> int:
    """Explain one input and write the figures and the page."""
    from .. import workflow
    from ..viz import explain

    source = Path(args.input)
    workflow.check_input_file(args.input, "an image or .wav file")
    model, config = workflow.resolve_checkpoint(args.checkpoint, args.device)
    kind = workflow.kind_of(config)
    if not kind.accepts_file(args.input):
        raise ValueError(f"{args.input}: {args.checkpoint} reads sound (.wav files)" if kind.sound else
                         f"{args.input}: a sound, but {args.checkpoint} reads images (a .wav needs a network "
                         "trained on sound, such as audio-cnn2d)")
    if kind.name == "waveform":
        raise ValueError(f"{args.checkpoint} reads the raw waveform with 1-D convolutions, and explain draws 2-D "
                         "maps: explain a network that reads spectrograms (audio-cnn2d) or images")
    if not kind.sound and (config.mean is None or config.std is None):
        raise ValueError(f"{args.checkpoint}: its config has no mean and std (the input normalisation)")
    if kind.sound:  # explain draws the spectrogram itself, and normalises the image itself
        image, notes = workflow.read_sound(args.input, dict(config.input))
    else:
        image, notes = workflow.read_image(args.input, config.in_channels, config.image_size)
    result = explain.explain(model, config, image, notes)
    told = "; ".join(filter(None, [notes, "scored on the input alone (saliency and Grad-CAM need one input; "
                                          "predict scores a --tta network on mirrored copies too)"
                                   if config.tta and not kind.sound else ""]))
    print(f"{args.input}" + (f" ({told})" if told else ""))
    for rank, (name, probability) in enumerate(result.top(), 1):
        print(f"  {rank}. {name:<14} {probability:.4f}")
    out = Path(args.out) if args.out else fresh_folder(source.stem)
    page, pngs = explain.write_report(result, out, f"What {args.checkpoint} sees in {source.name}")
    print(f"wrote {len(pngs)} figures and {page}")
    return 0
