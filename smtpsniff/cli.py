"""The ``smtpsniff`` command line: options in, pipeline run, writers out.  Thin by design.

Each subcommand lives in :mod:`smtpsniff.commands` and registers itself; this module only builds
the parser and turns interrupts and broken pipes into exit codes.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .commands.common import EXIT_OK, warn

#: Subcommand modules under smtpsniff.commands, in the order ``--help`` lists them.
COMMANDS = ("analyze", "streams", "extract", "findings", "show", "report", "live")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smtpsniff", description="Analyse SMTP traffic in packet captures.")
    parser.add_argument("--version", action="version", version=f"smtpsniff {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"smtpsniff.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        warn("interrupted")
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
