"""Command line for teachers: prefetch data and weights, pretrain runs before class.

Each area adds its sub-commands in its own ``_add_*`` function below; handlers import
their backend lazily so ``python -m cnnviz --help`` stays instant.
Errors meant for people (:class:`cnnviz.errors.CnnvizError`) print as one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys

from cnnviz.errors import CnnvizError


# --- data (datasets) -------------------------------------------------------------------
def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    pass


# --- presets / train / runs (models, training, runs) -----------------------------------
def _add_training_commands(sub: argparse._SubParsersAction) -> None:
    pass


# --- download (pretrained weights) -----------------------------------------------------
def _add_download_commands(sub: argparse._SubParsersAction) -> None:
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cnnviz", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_data_commands(sub)
    _add_training_commands(sub)
    _add_download_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 1
    try:
        return int(handler(args) or 0)
    except CnnvizError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
