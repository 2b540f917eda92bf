"""The classic image kernels by name, and kernels written as text ('a,b,c;d,e,f;g,h,i').

All built-in kernels are 3x3. convpool's conv2d, like PyTorch's and every CNN's, is a
cross-correlation: the kernel is laid over the pixels as written, never flipped, so
sobel-x below is positive where the image gets brighter to the right.

    identity   0  0  0     box-blur  1/9 *  1 1 1     gaussian  1/16 *  1 2 1
               0  1  0                      1 1 1                       2 4 2
               0  0  0                      1 1 1                       1 2 1

    sharpen    0 -1  0     edge      -1 -1 -1         emboss   -2 -1  0
              -1  5 -1     (Laplacian)-1  8 -1                 -1  1  1
               0 -1  0               -1 -1 -1                   0  1  2

    sobel-x   -1  0  1     sobel-y   -1 -2 -1
              -2  0  2                0  0  0
              -1  0  1                1  2  1

identity, the blurs, sharpen and emboss sum to 1 (they keep the brightness: the result is
still a picture); edge and the Sobel kernels sum to 0 (they answer only to change: the
result is signed, zero on flat regions).
"""

from __future__ import annotations

import math

import numpy

KERNELS: dict[str, tuple[str, list[list[float]]]] = {
    "identity": ("copies the centre pixel: the output equals the input",
                 [[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "box-blur": ("the mean of the 3x3 neighbourhood",
                 [[1 / 9] * 3, [1 / 9] * 3, [1 / 9] * 3]),
    "gaussian": ("a blur weighted towards the centre (binomial 1-2-1 in each direction)",
                 [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]]),
    "sharpen": ("the pixel plus its difference from its four neighbours",
                [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "edge": ("Laplacian (8 neighbours): zero on flat regions, large at edges of any direction",
             [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "sobel-x": ("horizontal gradient: positive where the image gets brighter to the right",
                [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel-y": ("vertical gradient: positive where the image gets brighter downwards",
                [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "emboss": ("a relief lit from the top left: flat regions keep their value",
               [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
}

EXAMPLE = "0,-1,0;-1,5,-1;0,-1,0"


def builtin(name: str) -> numpy.ndarray:
    """A built-in kernel as a float64 (kH, kW) array."""
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}: use one of {', '.join(KERNELS)}, "
                         f"or rows of numbers like '{EXAMPLE}'")
    return numpy.array(KERNELS[name][1], dtype=numpy.float64)


def parse_kernel(text: str) -> numpy.ndarray:
    """'a,b,c;d,e,f;g,h,i' (rows separated by ';', values by ',') as a float64 array of
    any rectangular size. Raises ValueError naming the text when it does not parse."""
    if not text.strip():
        raise ValueError(f"kernel {text!r} is empty: write rows of numbers like '{EXAMPLE}'")
    rows = [row.strip() for row in text.strip().split(";")]
    values: list[list[float]] = []
    for row in rows:
        if not row:
            raise ValueError(f"kernel {text!r} has an empty row: separate rows by ';' and values by ','")
        numbers = []
        for item in row.split(","):
            try:
                number = float(item)
            except ValueError:
                raise ValueError(f"kernel {text!r} does not parse: {item.strip()!r} is not a number "
                                 f"(write rows of numbers like '{EXAMPLE}')") from None
            if not math.isfinite(number):
                raise ValueError(f"kernel {text!r} has a value that is not finite: {item.strip()!r}")
            numbers.append(number)
        values.append(numbers)
    lengths = [len(row) for row in values]
    if len(set(lengths)) > 1:
        raise ValueError(f"kernel {text!r} is ragged: its rows have {', '.join(map(str, lengths))} values; "
                         "every row needs the same number")
    return numpy.array(values, dtype=numpy.float64)


def resolve_kernel(text: str) -> tuple[str, numpy.ndarray]:
    """(a name for messages, the kernel) from a built-in name or a kernel written as text."""
    name = text.strip().lower()
    if name in KERNELS:
        return name, builtin(name)
    if set(name) <= set("0123456789.,;+-e ") or "," in name or ";" in name:
        return "custom", parse_kernel(text)
    return name, builtin(name)  # neither a name nor numbers: the unknown-name message


def format_kernel(kernel: numpy.ndarray) -> str:
    """The values as aligned rows; a normalised blur (whole numbers over their own sum, like
    the gaussian's 1 2 1 / 16) as those whole numbers with the divisor beside them."""
    kernel = numpy.asarray(kernel, dtype=numpy.float64)
    for denominator in (1, 9, 16):
        scaled = kernel * denominator
        if numpy.allclose(scaled, numpy.round(scaled), atol=1e-9) and (
                denominator == 1 or round(float(scaled.sum())) == denominator):
            cells = [[f"{int(round(v))}" for v in row] for row in scaled]
            suffix = "" if denominator == 1 else f"   (x 1/{denominator})"
            break
    else:
        cells = [[f"{v:g}" for v in row] for row in kernel]
        suffix = ""
    width = max(len(c) for row in cells for c in row)
    lines = [" ".join(c.rjust(width) for c in row) for row in cells]
    lines[0] += suffix
    return "\n".join(lines)


def listing() -> str:
    """Every built-in kernel with its description and values, for `convpool filter --list`."""
    blocks = []
    for name, (description, _) in KERNELS.items():
        values = format_kernel(builtin(name)).replace("\n", "\n    ")
        blocks.append(f"{name}: {description}\n    {values}")
    return "\n\n".join(blocks)
