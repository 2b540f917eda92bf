"""The `convpool` command: parses arguments, calls the library, and turns every expected
failure (a missing file, an unknown name, a bad shape) into one clear line and exit code 2;
`--debug` shows the traceback instead. Each subcommand lives in its own module in
`convpool.commands`."""

from __future__ import annotations

import argparse
import sys

from .commands import command_modules


def build_parser() -> argparse.ArgumentParser:
    """The parser with one subparser per module in `convpool.commands`."""
    parser = argparse.ArgumentParser(
        prog="convpool",
        description="Convolutional neural networks on NumPy.",
        epilog="examples:\n  convpool demo\n  convpool train --data sample --epochs 1\n"
               "  convpool summary --model article-cnn --input-shape 1,28,28",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command")
    for module in command_modules():
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.__doc__.strip(),
                                 epilog=module.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for a command that starts itself again (--processes)
    if args.command is None:
        from .commands import demo

        return demo.run(args)
    try:
        return args.run(args)
    except (ValueError, TypeError, FileNotFoundError, OSError, RuntimeError) as error:
        if args.debug:
            raise
        print(f"convpool {args.command}: error: {error}", file=sys.stderr)
        return 2
