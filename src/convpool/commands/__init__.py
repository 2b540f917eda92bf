"""The `convpool` subcommands, one module each.

A command module defines NAME, HELP, ORDER (its place in `convpool --help`), EPILOG (examples),
`add_arguments(parser)` and `run(args) -> int`. `convpool.cli` finds every module in this
package, so a new command is a new file here and nothing else."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def add_device_argument(parser) -> None:
    """--device for the commands that run a network (train, evaluate, predict, explain)."""
    parser.add_argument("--device", default="auto", metavar="auto|cpu|cuda[:N]",
                        help="where the network runs: auto takes the GPU when CuPy sees one (pip install "
                             "\"convpool[gpu]\"), else the CPU (default: %(default)s)")


def command_modules() -> list[ModuleType]:
    """Every command module, in the order `--help` lists them."""
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)
               if not info.name.startswith("_")]
    return sorted((m for m in modules if hasattr(m, "run")), key=lambda m: (m.ORDER, m.NAME))
