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
    _add_presets_command(sub)


def _add_presets_command(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("presets", help="list the seed networks, their parameter counts and the seeds' accuracy")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=_cmd_presets)


def _cmd_presets(args: argparse.Namespace) -> int:
    import json

    from cnnviz.presets import presets_table

    rows = presets_table()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'preset':<24}{'parameters':>13}{'trainable':>13}  {'seed test acc.':<15}title"
    print(header)
    print("-" * len(header))
    for row in rows:
        acc = "-" if row["seed_test_accuracy"] is None else f"{row['seed_test_accuracy']:.2%}"
        print(f"{row['name']:<24}{row['total']:>13,}{row['trainable']:>13,}  {acc:<15}{row['title']}")
    print("\nParameters for 32×32×3 images and 10 classes, counted by formula. "
          "'-': the seed printed no test accuracy (see `--json` for what it printed).")
    return 0


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
