"""`convpool filter`: apply a kernel (and pooling) to an image with convpool's own conv2d,
print the input and output shapes and the formula that gives them, and write the result.

The result PNG has one pixel per output value (its size is the printed output shape;
`--scale N` enlarges it N times with nearest-neighbour, so every value stays one visible
square). A kernel with a positive sum (identity, blurs, sharpen, emboss) keeps the picture:
values are divided by that sum and clipped to [0, 1]. A kernel that sums to zero (edge,
Sobel) gives signed values: one channel is drawn with the diverging colour map (white 0,
red positive, blue negative), several channels each as grey around mid-grey 0."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "filter"
HELP = "apply a kernel and pooling to an image with convpool's conv2d; print shapes and the formula"
ORDER = 70
EPILOG = ("examples:\n  convpool filter --list\n  convpool filter photo.jpg --kernel edge -o edges.png\n"
          "  convpool filter photo.jpg --kernel sobel-x --stride 2 --padding 1 --pool max:2 -o sobel.png\n"
          "  convpool filter photo.jpg --kernel '0,-1,0;-1,5,-1;0,-1,0' --per-channel -o sharp.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", nargs="?", help="any image Pillow reads (PNG, JPEG, ...)")
    parser.add_argument("--kernel", "-k", help="a built-in name (see --list) or rows like 'a,b,c;d,e,f;g,h,i'")
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--padding", type=int, default=0, help="zeros added on every side")
    parser.add_argument("--dilation", type=int, default=1, help="spacing between kernel taps")
    parser.add_argument("--pool", help="pooling after the conv: max:2, avg:2, or max:3:2 (window 3, stride 2)")
    parser.add_argument("--per-channel", action="store_true",
                        help="filter each colour channel alone (depthwise) instead of summing them like one "
                             "conv filter")
    parser.add_argument("--scale", type=int, default=1, help="enlarge the PNG N times (nearest neighbour)")
    parser.add_argument("-o", "--out", help="the picture to write, in the format its suffix names (.png, .jpg, "
                                            "...; default: IMAGE-KERNEL.png here)")
    parser.add_argument("--list", action="store_true", help="print the built-in kernels and their values")


def read_picture(path: str):
    """An image file as a float64 (C, H, W) array in [0, 1]: grey images keep one channel,
    everything else becomes RGB (alpha dropped)."""
    from ..data.images import read_image

    return read_image(path)[0] / 255.0


def _check(name: str, value: int, least: int) -> None:
    if value < least:
        kind = "a positive" if least == 1 else "a non-negative"
        raise ValueError(f"--{name} must be {kind} whole number, got {value}")


def run(args: argparse.Namespace) -> int:
    """Filter the image, print the shapes and formulas, write the PNG."""
    from PIL import Image

    from ..viz import filtering, kernels

    if args.list:
        print(kernels.listing())
        return 0
    if args.image is None or args.kernel is None:
        raise ValueError("give an IMAGE and --kernel NAME|'a,b,c;d,e,f;g,h,i' (or --list for the built-in kernels)")
    for name, least in (("stride", 1), ("padding", 0), ("dilation", 1), ("scale", 1)):
        _check(name, getattr(args, name), least)
    from .. import workflow

    workflow.check_input_file(args.image, "an image file", missing="image file")
    image_format = "PNG"
    if args.out:
        image_format = Image.registered_extensions().get(Path(args.out).suffix.lower())
        if image_format is None or image_format not in Image.SAVE:
            raise ValueError(f"-o {args.out}: Pillow cannot write {Path(args.out).suffix or 'suffix-less'} files; "
                             f"name a .png or .jpg")
    kernel_name, kernel = kernels.resolve_kernel(args.kernel)
    pool = filtering.parse_pool(args.pool) if args.pool else None
    image = read_picture(args.image)
    result = filtering.filter_image(image, kernel, stride=args.stride, padding=args.padding,
                                    dilation=args.dilation, per_channel=args.per_channel, pool=pool,
                                    kernel_name=kernel_name)
    print("\n".join(result.lines))
    pixels, note = filtering.display(result)
    picture = Image.fromarray(pixels)
    if args.scale > 1:
        picture = picture.resize((picture.width * args.scale, picture.height * args.scale), Image.Resampling.NEAREST)
    out = Path(args.out or f"{Path(args.image).stem}-{kernel_name}.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    if image_format == "JPEG" and picture.mode not in ("L", "RGB"):
        picture = picture.convert("RGB")
    picture.save(out, format=image_format)
    print(f"wrote {out} ({picture.width}x{picture.height} pixels; {note})")
    return 0
