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
    p = sub.add_parser(
        "download", help="prefetch pretrained weights for an offline classroom",
        description="Download Keras' official ResNet50 ImageNet weights into CNNVIZ_HOME/weights "
                    "(checked against Keras' MD5, written crash-safely), or copy a file brought from "
                    "another machine with --from.",
    )
    p.add_argument("model", choices=["resnet50"], help="which weights")
    p.add_argument("--from", dest="source", metavar="FILE",
                   help="check and copy this weights file instead of downloading")
    p.add_argument("--url", help="download from this address instead of Keras' own (a mirror)")
    p.add_argument("--md5", help="expected MD5 of the file (default: Keras' own hash)")
    p.add_argument("--force", action="store_true", help="download again even if a good copy is there")
    p.set_defaults(handler=_download)


def _download(args: argparse.Namespace) -> int:
    from cnnviz import pretrained, storage

    if args.source:
        path = pretrained.install_weights_file(args.source, md5=args.md5)
        print(f"ResNet50 weights checked and copied to {path}")
        return 0
    dest = storage.weights_dir() / pretrained.RESNET50_WEIGHTS_FILE
    if not args.force and dest.is_file() and pretrained.md5_file(dest) == (args.md5 or pretrained.RESNET50_WEIGHTS_MD5).lower():
        print(f"ResNet50 weights already here: {dest}")
        return 0
    url = args.url or pretrained.RESNET50_WEIGHTS_URL
    print(f"downloading {url}", file=sys.stderr)
    shown = [-1]

    def progress(done: int, total: int | None) -> None:
        step = done * 10 // total if total else done >> 24  # every 10 %, or every 16 MiB
        if step != shown[0]:
            shown[0] = step
            print(f"  {done / 1e6:.0f} MB" + (f" of {total / 1e6:.0f} MB" if total else ""), file=sys.stderr)

    path = pretrained.download_weights(url=url, md5=args.md5, force=args.force, progress=progress)
    print(f"ResNet50 weights downloaded and checked: {path}")
    return 0


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
