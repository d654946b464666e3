"""Command line for teachers: prefetch data and weights, pretrain runs before class.

Each area adds its sub-commands in its own ``_add_*`` function below; handlers import
their backend lazily so ``python -m cnnviz --help`` stays instant.
Errors meant for people (:class:`cnnviz.errors.CnnvizError`) print as one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cnnviz.errors import CnnvizError, InvalidArgument


# --- data (datasets) -------------------------------------------------------------------
def _add_data_commands(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="datasets: status, download, import, remove")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = data_sub.add_parser("status", help="list the datasets and whether each is on this machine")
    p.set_defaults(handler=_data_status)

    p = data_sub.add_parser("download", help="fetch a dataset from the internet (prints progress)")
    p.add_argument("name", choices=["cifar10", "mnist", "fashion_mnist"])
    p.add_argument("--url", help="CIFAR-10 only: a mirror of cifar-10-binary.tar.gz")
    p.add_argument("--size", type=int, help="CIFAR-10 only: expected size in bytes (default: the official)")
    p.add_argument("--md5", help="CIFAR-10 only: expected MD5 (default: the official)")
    p.add_argument("--no-verify", action="store_true",
                   help="CIFAR-10 only: skip size and MD5 (the records are still validated)")
    p.set_defaults(handler=_data_download)

    p = data_sub.add_parser("import", help="install a dataset from a local file (no internet needed)")
    p.add_argument("kind", choices=["cifar10", "folder"],
                   help="cifar10: cifar-10-binary.tar.gz or cifar-10-batches-bin/; folder: a zip of class folders")
    p.add_argument("path")
    p.add_argument("--name", help="folder only: dataset name (lower-case letters, digits, _ or -)")
    p.add_argument("--image-size", type=int, default=64, help="folder only: side in pixels (default 64)")
    p.add_argument("--grey", action="store_true", help="folder only: greyscale instead of colour")
    p.add_argument("--overwrite", action="store_true", help="folder only: replace a dataset of that name")
    p.set_defaults(handler=_data_import)

    p = data_sub.add_parser("remove", help="delete a stored dataset")
    p.add_argument("name")
    p.set_defaults(handler=_data_remove)


def _data_status(args: argparse.Namespace) -> int:
    from cnnviz import datasets, storage

    print(f"datasets in {storage.data_dir()}")
    for item in datasets.status():
        mark = "present" if item["present"] else "missing"
        print(f"  {item['name']:<16} {mark:<8} {item['detail']}")
        if not item["present"]:
            print(f"  {'':<16} {'':<8} {item['how_to_get']}")
    return 0


def _progress_printer():
    """A progress callback that prints whole percents (one line each when not a terminal)."""
    last = [-1]
    tty = sys.stderr.isatty()

    def report(done: int, total: int | None) -> None:
        step = done * 100 // total if total else done // 2**20
        if step == last[0]:
            return
        last[0] = step
        text = f"{step:3d}% {done / 2**20:8.1f} MB" if total else f"{done / 2**20:8.1f} MB"
        if tty:
            print("\r" + text, end="", file=sys.stderr, flush=True)
        elif not total or step % 5 == 0:
            print(text, file=sys.stderr, flush=True)

    return report


def _data_download(args: argparse.Namespace) -> int:
    from cnnviz import cifar10, datasets

    opts: dict = {}
    if args.name == "cifar10":
        opts = {"url": args.url,
                "expected_size": None if args.no_verify else (args.size or cifar10.OFFICIAL_SIZE),
                "expected_md5": None if args.no_verify else (args.md5 or cifar10.OFFICIAL_MD5)}
    elif args.url or args.size or args.md5 or args.no_verify:
        raise InvalidArgument(f"--url, --size, --md5 and --no-verify apply to cifar10 only, not {args.name}")
    summary = datasets.download(args.name, progress=_progress_printer(), **opts)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(summary)
    return 0


def _data_import(args: argparse.Namespace) -> int:
    from cnnviz import datasets

    if args.kind == "cifar10":
        print(datasets.import_cifar10(args.path))
        return 0
    if not args.name:
        raise InvalidArgument("importing a folder zip needs --name NAME")
    report = datasets.import_folder_zip(Path(args.path), name=args.name, image_size=args.image_size,
                                        mode="L" if args.grey else "RGB", overwrite=args.overwrite)
    counts = ", ".join(f"{c}: {n}" for c, n in zip(report["class_names"], report["counts"]))
    print(f"Made {report['name']}: {report['train']} training and {report['test']} test images ({counts}).")
    if report["skipped_count"]:
        print(f"Skipped {report['skipped_count']} files, e.g.:")
        for name, why in report["skipped"]:
            print(f"  {name}: {why}")
    return 0


def _data_remove(args: argparse.Namespace) -> int:
    from cnnviz import datasets

    print(f"removed {args.name}" if datasets.remove(args.name) else f"{args.name} was not stored")
    return 0


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
