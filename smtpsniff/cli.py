"""The ``smtpsniff`` command line: options in, pipeline run, writers out.  Thin by design.

Each subcommand lives in :mod:`smtpsniff.commands` and registers itself; this module only builds
the parser, turns interrupts and broken pipes into exit codes and, for the program itself
(:func:`run`), ends the process.
"""
from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .commands import common
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


def run() -> NoReturn:
    """The ``smtpsniff`` program (its console script and ``python -m smtpsniff``): :func:`main`,
    then the end of the process, without tearing the interpreter down (:func:`_end`).

    :func:`main` called as a function frees what it read as usual; the program keeps its
    captures until it ends (:func:`smtpsniff.commands.common.keep_until_exit`)."""
    common.KEPT_UNTIL_EXIT = []
    _end(main())


def _end(code: int) -> NoReturn:
    """End the process with ``code``, leaving its memory to the system.

    At its end, the interpreter frees every object one by one, then every module: after a large
    capture, whose records, parsed messages and tables are millions of objects, that takes a
    visible share of a run (0.3-0.4 s on the benchmark capture) for memory the system takes back
    at once.  So, as ``sys.exit`` would, the exit handlers run (:mod:`atexit`, whatever registered
    them) and the standard streams are flushed; then ``os._exit``.  With a thread other than
    daemons still running (none of smtpsniff's own), or without the handlers' runner, it is
    ``sys.exit`` itself.
    """
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_handlers is None or any(t is not threading.main_thread() and not t.daemon and t.is_alive()
                                   for t in threading.enumerate()):
        sys.exit(code)
    run_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone (broken pipe) or closed: nothing more to say
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
