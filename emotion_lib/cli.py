"""Shared plumbing for the stage CLIs in ``stages/``.

A user mistake (a :class:`~emotion_lib.errors.UserError`, or a bad command-line
option) is printed as one line, ``error: <what and how to fix it>``, with exit
status 2 and no traceback.  Anything else is a bug in this project and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from emotion_lib.errors import UserError

# TensorFlow's C++ start-up chatter (CPU feature lines, cuda probes) hides the messages that
# matter in `dvc repro` logs; warnings and errors still show. The two lines absl prints at import
# with oneDNN on come before its logging is initialised, so no level filters them (README).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EXIT_USER_ERROR = 2


class Parser(argparse.ArgumentParser):
    """argparse, with a bad option said in one ``error:`` line like every other user mistake (not a usage block)."""

    def error(self, message: str):
        print(f"error: {message} (--help lists the options)", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)


def run_stage(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser,
              argv: Sequence[str] | None = None) -> None:
    """Parse arguments and run ``main``, turning user errors into one line on stderr and exit status 2."""
    args = parser.parse_args(argv)
    try:
        main(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print("error: interrupted; outputs are written atomically, so rerun `dvc repro` to finish", file=sys.stderr)
        sys.exit(130)


def parser_for(description: str, *, trial: bool = False) -> argparse.ArgumentParser:
    """An argument parser with the options every stage shares (``--params``, and the trial name where needed)."""
    parser = Parser(description=description)
    if trial:
        parser.add_argument("trial", help="trial name, a key of `trials` in params.yaml")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    return parser
