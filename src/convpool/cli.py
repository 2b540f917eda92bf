"""The `convpool` command: parses arguments, calls the library, and turns every expected
failure (a missing file, an unknown name, a bad shape, memory running out) into one clear
line and exit code 2, and Ctrl-C into one line and exit code 130; `--debug` (before or after
the subcommand) shows the traceback instead. Each subcommand lives in its own module in
`convpool.commands`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

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
                                 epilog=module.EPILOG, formatter_class=DefaultsHelpFormatter)
        module.add_arguments(command)
        for action in command._actions:  # argparse prints no help line at all for help=None
            if action.option_strings and action.help is None and action.default not in (None, False):
                action.help = "default: %(default)s"
        # after the subcommand too; SUPPRESS keeps a --debug given before it
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the full traceback of an error")
        command.set_defaults(run=module.run)
    return parser


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, unless it has none worth saying (None,
    False) or the help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (default in (None, False, argparse.SUPPRESS) or not action.option_strings or "default" in text
                or isinstance(action, argparse._HelpAction | argparse._VersionAction)):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def given_options(argv: list[str]) -> set[str]:
    """The destinations of the options argv sets itself (abbreviations included), not left at
    their defaults: `train --resume` keeps the run's own settings for the rest."""
    parser = build_parser()
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for command in [parser] + [p for a in subparsers for p in a.choices.values()]:
        for action in command._actions:
            if action.option_strings:
                action.default = argparse.SUPPRESS
    try:
        return set(vars(parser.parse_args(argv))) - {"command", "run"}
    except SystemExit:  # cannot happen: argv already parsed once
        return set()


INTERRUPTED = 130  # the shell's code for a process ended by SIGINT (128 + 2)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # for a command that starts itself again (--processes)
    args.given = given_options(argv)  # what the user typed, told apart from the defaults
    if args.command is None:
        from .commands import demo

        args.command, args.run = "demo", demo.run
    try:
        return args.run(args)
    except KeyboardInterrupt as interrupt:
        if args.debug:
            raise
        detail = str(interrupt)
        print(f"convpool {args.command}: interrupted{'; ' + detail if detail else ''}", file=sys.stderr)
        return INTERRUPTED
    except MemoryError:
        if args.debug:
            raise
        print(f"convpool {args.command}: error: out of memory while {_doing(args)}; try a smaller input or "
              f"--batch-size", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError, OSError, RuntimeError) as error:
        if args.debug:
            raise
        print(f"convpool {args.command}: error: {error}", file=sys.stderr, flush=True)
        return 2


def _doing(args: Any) -> str:
    """What the command was reading, in its flags' words, for the out-of-memory line."""
    read = [str(value) for name in ("checkpoint", "inputs", "input", "images")
            for value in _listed(getattr(args, name, None))]
    read += [f"--{name} {value}" for name in ("data", "image") if isinstance(value := getattr(args, name, None), str)]
    return f"reading {', '.join(read)}" if read else f"running {args.command}"


def _listed(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list | tuple) else [value]
