"""`convpool tour`: the article step by step (pixels, one kernel, three kernels, stride and
padding, the output-size formula, pooling, a trained CNN, an interactive explorer) computed
by convpool on a built-in photo or yours: numbered PNG figures and one self-contained HTML
page (no network, no server).

Without --out it writes into ./tour, or tour-2, tour-3, ... when ./tour holds files it did not
write itself; a rerun refreshes only the files the tour wrote (listed in tour/.convpool-tour)."""

from __future__ import annotations

import argparse

NAME = "tour"
HELP = "the article step by step on a photo: numbered figures and one HTML page"
ORDER = 10
EPILOG = "examples:\n  convpool tour\n  convpool tour --image my-photo.jpg --out my-tour --open"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", metavar="PATH", help="a photo of your own (default: the built-in car)")
    parser.add_argument("--out", metavar="DIR", help="folder for the figures and index.html (default: a fresh tour/)")
    parser.add_argument("--open", action="store_true", help="open the page in the web browser when done")


def run(args: argparse.Namespace) -> int:
    """Write the tour, say where it is, and open it if asked."""
    import webbrowser

    from .. import workflow
    from ..viz.tour import run_tour

    if args.image is not None:
        workflow.check_input_file(args.image, "a photo", "--image ", missing="image file")
    tour = run_tour(args.image, args.out)
    address = tour.page.resolve().as_uri()
    if args.open:
        if webbrowser.open(address):
            print(f"opened {address} in the web browser")
        else:
            print(f"no web browser could be started here; open {address} yourself")
    else:
        print(f"open {address} in a browser (or run with --open)")
    return 0
