"""Command line for teachers: prefetch data and weights, pretrain runs before class.

Each area adds its sub-commands in its own ``_add_*`` function below. TensorFlow is imported only
by the handlers that train or load a model (inside the backend), so ``--help`` stays quick.
Errors meant for people (:class:`cnnviz.errors.CnnvizError`) print as one line, exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import getpass
import os
import socket
import sys
import time
from pathlib import Path

from cnnviz import storage, terminal, weights
from cnnviz.classroom import roster
from cnnviz.classroom.people import TEACHER_OWNER, Person
from cnnviz.data import cifar10, datasets, folderdata, selection, stored
from cnnviz.errors import CnnvizError, InvalidArgument, Unavailable
from cnnviz.models.presets import presets_table
from cnnviz.runs import compare, labels, notebook
from cnnviz.runs import store as runs
from cnnviz.training import cluster, jobs, jobtable
from cnnviz.training import loop as training
from cnnviz.training.spec import augment_from_text, spec_from_preset
from cnnviz.training.tta import TTA_SHORT


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
    p.add_argument("--image-size", type=int, help="folder only: side in pixels, one of "
                   f"{', '.join(map(str, folderdata.IMAGE_SIZES))} (default 64; 200 as seed 004)")
    p.add_argument("--grey", action="store_true", help="folder only: greyscale instead of colour")
    p.add_argument("--overwrite", action="store_true", help="folder only: replace a dataset of that name")
    p.set_defaults(handler=_data_import)

    p = data_sub.add_parser("remove", help="delete a stored dataset")
    p.add_argument("name")
    p.set_defaults(handler=_data_remove)


def _data_status(args: argparse.Namespace) -> int:
    print(f"datasets in {storage.data_dir()}")
    for item in stored.status():
        mark = "present" if item["present"] else "missing"
        print(f"  {item['name']:<16} {mark:<8} {item['detail']}")
        if not item["present"]:
            print(f"  {'':<16} {'':<8} {item['how_to_get']}")
    return 0


def _data_download(args: argparse.Namespace) -> int:
    opts: dict = {}
    if args.name == "cifar10":
        opts = {"url": args.url,
                "expected_size": None if args.no_verify else _given(args.size, cifar10.OFFICIAL_SIZE),
                "expected_md5": None if args.no_verify else _given(args.md5, cifar10.OFFICIAL_MD5)}
    elif any(given is not None for given in (args.url, args.size, args.md5)) or args.no_verify:
        raise InvalidArgument(f"--url, --size, --md5 and --no-verify apply to cifar10 only, not {args.name}")
    summary = datasets.download(args.name, progress=terminal.download_printer(), **opts)
    terminal.end_percents()
    print(summary)
    return 0


def _given(value, default):
    """``value`` where the option was given, even as 0 or "" (the backend says what is wrong with it)."""
    return default if value is None else value


def _data_import(args: argparse.Namespace) -> int:
    if args.kind == "cifar10":
        given = [f"{flag} {value!r}" for flag, value in (("--name", args.name), ("--image-size", args.image_size))
                 if value is not None] + [flag for flag, on in (("--grey", args.grey), ("--overwrite", args.overwrite))
                                          if on]
        if given:
            raise InvalidArgument(f"--name, --image-size, --grey and --overwrite apply to folder only, not cifar10; "
                                  f"got {' '.join(given)}")
        summary = datasets.import_cifar10(args.path, progress=terminal.download_printer())  # the bytes read
        terminal.end_percents()
        print(summary)
        return 0
    if not args.name:
        raise InvalidArgument("importing a folder zip needs --name NAME")
    report = datasets.import_folder_zip(Path(args.path), name=args.name, image_size=_given(args.image_size, 64),
                                        mode="L" if args.grey else "RGB", overwrite=args.overwrite,
                                        progress=terminal.count_printer("files in the zip"))
    terminal.end_percents()
    counts = ", ".join(f"{c}: {n}" for c, n in zip(report["class_names"], report["counts"]))
    print(f"Made {report['name']}: {report['train']} training and {report['test']} test images ({counts}).")
    for warning in report["warnings"]:
        print(f"Warning: {warning}")
    if report["skipped_count"]:
        print(f"Skipped {report['skipped_count']} files, e.g.:")
        for name, why in report["skipped"]:
            print(f"  {_as_received(name)}: {why}")
    return 0


def _as_received(text: str) -> str:
    """A name from a zip for the terminal: control characters written as escapes (``\\x1b``, ``\\n``), so that a
    name can neither drive the terminal nor print a line of its own."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _data_remove(args: argparse.Namespace) -> int:
    print(f"removed {args.name}" if datasets.remove(args.name) else f"{args.name} was not stored")
    return 0


# --- presets / train / runs (models, training, runs) -----------------------------------
def _add_training_commands(sub: argparse._SubParsersAction) -> None:
    _add_presets_command(sub)
    _add_train_command(sub)
    _add_runs_command(sub)
    _add_jobs_command(sub)


def _add_jobs_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("jobs", help="the training queue: list, stop, or run the workers",
                       description="Without an action: the queued and running training jobs of this CNNVIZ_HOME "
                                   "(every server and command line sharing it), with owners and progress.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_cmd_jobs)
    jobs_sub = p.add_subparsers(dest="jobs_command", metavar="ACTION")
    stop = jobs_sub.add_parser("stop", help="stop a running job within a batch (saved as stopped), or drop a queued one")
    stop.add_argument("job_id")
    stop.set_defaults(handler=_cmd_jobs_stop)
    resume = jobs_sub.add_parser("resume", help="queue a failed or interrupted job again, going on from its last "
                                                "finished epoch (add --wait to follow it)")
    resume.add_argument("job_id")
    resume.add_argument("--wait", action="store_true", help="follow the resumed job to its end")
    resume.set_defaults(handler=_cmd_jobs_resume)
    work = jobs_sub.add_parser("work", help="run the training workers in the foreground until Ctrl-C "
                                            "(where no app runs, e.g. on a machine that only trains)")
    work.add_argument("--max-jobs", type=int, help=f"the cap on concurrent jobs of every server sharing this CNNVIZ_HOME, "
                      f"1..{jobs.MAX_JOBS_LIMIT} (default ${jobs.MAX_JOBS_ENV}, else the cap already set, e.g. on the "
                      "Class page, else half the cores)")
    work.set_defaults(handler=_cmd_jobs_work)


def _cut(name: str, width: int) -> str:
    """``name`` in at most ``width`` characters, keeping the tag that tells two of one name apart ("Ann (3f2a)")."""
    if len(name) <= width:
        return name
    _, sep, tag = name.rpartition(" (")
    kept = sep + tag if sep and tag.endswith(")") and len(sep + tag) < width - 3 else ""
    return name[: width - len(kept) - 3] + "..." + kept


def _cmd_jobs(args: argparse.Namespace) -> int:
    jobtable.JobTable().reap()  # a killed `train --wait`'s job (its worker gone, no server to see it) is not "running"
    _list_jobs(args)
    problem = jobs.slot_problem()  # e.g. a slot's lock file left by a server once run as root: why nothing trains
    if problem:
        print(f"note: {problem}", file=sys.stderr)
    return 0


def _list_jobs(args: argparse.Namespace) -> None:
    """The queued and running jobs, as a table or (``--json``) JSON."""
    items = jobtable.JobTable().jobs()
    if args.json:
        print(json.dumps([{"job_id": s.job_id, "state": s.state, "queue_position": s.queue_position,
                           "owner": s.owner, "owner_name": s.owner_name, "kind": s.kind, "label": s.label, "dataset": s.dataset, "submitted": s.submitted,
                           "started": s.started, "worker_pid": s.worker_pid, "stop_requested": s.stop_requested,
                           "progress": dataclasses.asdict(s.progress) | {"curve": None}} for s in items], indent=2))
        return
    if not items:
        print("no training jobs queued or running")
        return
    who = roster.shown_names((s.owner, s.owner_name) for s in items)  # two Anns: "Ann (3f2a)", "Ann (91bc)"
    header = f"{'job':<18}{'state':<10}{'place':>6}  {'owner':<36}{'what':<34}progress"
    print(header)
    print("-" * len(header))
    for s in items:
        p = s.progress
        progress = terminal.progress_line(p) if p.phase == "training" else p.phase
        if s.kind != "training":  # an Experiments page job: its step in words and share done
            progress = f"experiment: {p.note or p.phase} ({p.fraction:.0%})"
        if s.stop_requested and s.state == "running":
            progress += " (stopping)"
        owner = _cut(who[s.owner, s.owner_name], 35)
        print(f"{s.job_id:<18}{s.state:<10}{s.queue_position or '':>6}  {owner:<36}{s.label[:33]:<34}{progress}")


def _cmd_jobs_stop(args: argparse.Namespace) -> int:
    table = jobtable.JobTable()
    table.reap()  # as in `jobs`: a job whose worker is gone is not asked to stop, it has ended
    before = table.status(args.job_id)
    if before is None:
        raise InvalidArgument(f"no training job {args.job_id!r} (see `python -m cnnviz jobs`)")
    said = {"cancelled": "removed from the queue", "running": "asked to stop after its current batch"}
    state = table.stop(args.job_id) if before.active else None  # an ended job stays as it ended
    print(f"job {args.job_id} {said.get(state) or f'had already ended ({state or before.state})'}")
    return 0


def _cmd_jobs_resume(args: argparse.Namespace) -> int:
    # Without --wait only queue it: the workers of a short-lived process would end with it.
    manager = _cli_manager() if args.wait else jobs.JobManager(workers=False)
    manager.table.reap()  # as in `jobs`: a job whose worker is gone has ended, and may be resumed
    new_id = manager.resume(args.job_id, owner=_cli_owner())
    note = manager.resume_note(args.job_id)
    print(f"job {new_id} queued: it goes on from epoch {manager.resumable(args.job_id)} of job {args.job_id}"
          + (f", {note}" if note else ""))
    if not args.wait:
        _say_who_trains_it()
        return 0
    status = terminal.follow(manager, new_id)
    _let_others_finish(manager)
    print(f"job {new_id} {status.state}" + (f": run {status.run_id}" if status.run_id else "")
          + (f" ({status.error})" if status.error else ""))
    return 0 if status.state in ("finished", "stopped") else 2


def _cmd_jobs_work(args: argparse.Namespace) -> int:
    if args.max_jobs is not None and not 1 <= args.max_jobs <= jobs.MAX_JOBS_LIMIT:  # as the Class page allows
        raise InvalidArgument(f"--max-jobs must be 1..{jobs.MAX_JOBS_LIMIT}, got {args.max_jobs}")
    manager = jobs.JobManager(max_jobs=args.max_jobs)
    manager.table.recover()
    print(f"training workers for {storage.home()} (cap {manager.max_jobs}); Ctrl-C ends them", flush=True)
    try:
        while True:
            manager.active_jobs()  # ends jobs whose worker died, starts workers for free slots
            manager.ensure_workers()
            time.sleep(1.0)
    finally:
        manager.close()


def _add_presets_command(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("presets", help="list the seed networks, their parameter counts and the seeds' accuracy")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=_cmd_presets)


def _cmd_presets(args: argparse.Namespace) -> int:
    rows = presets_table()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'preset':<24}{'parameters':>13}{'trainable':>13}  {'input, classes':<17}{'seed test acc.':<15}title"
    print(header)
    print("-" * len(header))
    for row in rows:
        acc = "-" if row["seed_test_accuracy"] is None else f"{row['seed_test_accuracy']:.2%}"
        shape = "×".join(map(str, row["input_shape"])) + f", {row['num_classes']}"
        print(f"{row['name']:<24}{row['total']:>13,}{row['trainable']:>13,}  {shape:<17}{acc:<15}{row['title']}")
    print("\nParameters for each preset's input (height×width×channels) and number of classes, counted by "
          "formula. '-': the seed printed no test accuracy (see `--json` for what it printed).")
    return 0


def _add_train_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a preset network (as its seed did, unless told otherwise) and save the run",
                       description="Train a preset and save it in the run store. Ctrl-C stops within one batch "
                                   "and saves the run as 'stopped'.")
    p.add_argument("--preset", required=True, help="preset name (see `python -m cnnviz presets`)")
    p.add_argument("--dataset", help="digits, cifar10, mnist, fashion_mnist or folder:NAME (default: the seed's)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--train-size", type=int, help="training images incl. validation (default: the seed's, or all)")
    p.add_argument("--test-size", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate (default: the seed's)")
    p.add_argument("--augment", help="e.g. rotation=30,flip=horizontal,translate=0.1,zoom=0.1,crop=2, or none "
                                     "(default: the seed's)")
    p.add_argument("--scaling", choices=["unit", "symmetric", "standardize"], help="default: the seed's")
    p.add_argument("--class-weights", action="store_true", help="balance the classes' weights in the loss")
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                   help="stop when validation loss has not improved for PATIENCE epochs")
    p.add_argument("--keep-best", action=argparse.BooleanOptionalAction, default=None,
                   help="end with the best-validation-loss weights (default: the seed's choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--images", choices=list(selection.NAMED),
                   help="which images: the first ones as a notebook took them (first_shuffled: seed 000, first_last: "
                        "seed 001/003, first_first: seed 002) or stratified at random (default: the seed's)")
    p.add_argument("--wait", action="store_true",
                   help="follow the job to its end, printing progress (else: queue it and return)")
    p.set_defaults(handler=_cmd_train)


def _add_runs_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list the saved training runs")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_cmd_runs)


def _cmd_train(args: argparse.Namespace) -> int:
    runs.cleanup_once()
    augment = "preset" if args.augment is None else augment_from_text(args.augment)
    spec = spec_from_preset(
        args.preset, dataset=args.dataset, epochs=args.epochs, train_size=args.train_size,
        test_size=args.test_size, batch_size=args.batch_size, learning_rate=args.lr, augment=augment,
        seed=args.seed, selection=selection.NAMED[args.images] if args.images else None,
    )
    changes = {"class_weights": args.class_weights}
    if args.scaling:
        changes["scaling"] = args.scaling
    if args.early_stopping is not None:
        changes.update(early_stopping=True, patience=args.early_stopping)
    if args.keep_best is not None:
        changes["keep_best"] = args.keep_best
    spec = dataclasses.replace(spec, **changes)
    spec.validate()
    if not stored.is_present(spec.dataset):  # unknown names raise here; a missing one says how to get it
        raise Unavailable(f"dataset {spec.dataset} is not on this machine. {stored.how_to_get(spec.dataset)}")
    data = datasets.load(spec.dataset, mapped=True)
    spec.model.validate(data.input_shape, data.num_classes)  # e.g. the learning rate, checked with the data's shape
    spec.validate(num_classes=data.num_classes)
    selection.count_rows(data.y_train, data.y_test, data.class_names, train_size=spec.train_size,  # sizes, split
                         test_size=spec.test_size, validation_fraction=spec.validation_fraction,
                         selection=spec.selection, seed=spec.seed)
    sizes = f"train {spec.train_size or 'all'}, test {spec.test_size or 'all'}"
    print(f"training {spec.preset} on {spec.dataset} ({sizes}, {spec.epochs} epochs, batch {spec.batch_size}), "
          f"images: {spec.selection.short()}", flush=True)

    if not args.wait:  # queue it for the workers of a running server (or of `jobs work`), and return
        queue = jobs.JobManager(workers=False)  # the app's rules: e.g. the job notes whose import it trains on
        job_id = queue.submit(spec, owner=_cli_owner())
        print(f"job {job_id} queued (number {queue.table.status(job_id).queue_position}); see it with "
              f"`python -m cnnviz jobs`, stop it with `python -m cnnviz jobs stop {job_id}`")
        _say_who_trains_it()
        return 0
    manager = _cli_manager()
    status = terminal.follow(manager, manager.submit(spec, owner=_cli_owner()))
    _let_others_finish(manager)
    if status.state in ("failed", "interrupted"):
        raise CnnvizError(status.error or f"the training {status.state}")
    if status.run_id is None:
        print("stopped before any training: nothing saved")
        return 1
    result = training.TrainResult(run=runs.load_run(status.run_id), stopped=status.state == "stopped")
    info = result.run
    accuracy = info.test_accuracy
    line = f"run {info.run_id} {info.status}: test accuracy {accuracy:.2%}" if accuracy is not None else \
        f"run {info.run_id} {info.status}"
    if accuracy is not None and info.spec.tta != "none":  # as Build & train says it
        plain = info.metrics.get("test_accuracy_without_tta")
        line += f" (mean over {TTA_SHORT.get(info.spec.tta, info.spec.tta)}" + \
            ("" if plain is None else f"; without it {plain:.2%}") + ")"
    figure = notebook.for_run(info)
    if figure is not None and figure.shown_accuracy is not None:
        line += f" (the notebook got {figure.shown_accuracy:.2%} with this set-up)"
    print(line)
    if figure is not None and figure.shown_accuracy is None:
        print(figure.text())
    return 0


def _say_who_trains_it() -> None:
    """After queuing without --wait: who will train the job, or that nothing does yet."""
    ray_address = cluster.address()
    if ray_address is not None:  # local workers do not train it: the dispatcher of a server hands it to Ray
        print(f"{cluster.ADDRESS_ENV} is set: the Ray cluster at {ray_address} trains it once a web server (or "
              f"`python -m cnnviz jobs work`) runs with the same {cluster.ADDRESS_ENV} and CNNVIZ_HOME")
    elif not jobs.workers_running():
        print("no training worker runs for this CNNVIZ_HOME yet: it starts when the app does, or run "
              "`python -m cnnviz jobs work`")


def _cli_manager() -> jobs.JobManager:
    """Workers for a following command under the cap the servers or the Class page set (never rewritten:
    it is the whole CNNVIZ_HOME's); the default cap only where none was set yet."""
    cap = jobtable.JobTable().max_jobs(default=0)
    if not cap:
        return jobs.manager()
    manager = jobs.JobManager(max_jobs=cap)
    manager.table.recover()
    return manager


def _let_others_finish(manager: jobs.JobManager) -> None:
    """Our workers take the queue in order, so one may be training someone else's job (a student's) when
    ours ends: let it finish rather than interrupt it by leaving."""
    told: set[str] = set()

    def tell(running: list[jobtable.JobStatus]) -> None:
        for job in running:
            if job.job_id not in told:
                told.add(job.job_id)
                whose = job.owner_name or job.owner
                print(f"this command's training worker is training job {job.job_id} of {whose}: waiting for "
                      "it to end rather than interrupt it (Ctrl-C interrupts it; it can be resumed)",
                      file=sys.stderr, flush=True)

    manager.end_workers_when_idle(tell)


def _cli_owner() -> Person:
    """The command line acts as the teacher; its jobs show who ran it."""
    return Person(TEACHER_OWNER, f"{getpass.getuser()}@{socket.gethostname()} (command line)", True, "cli")


def _cmd_runs(args: argparse.Namespace) -> int:
    listing = runs.scan()
    items = listing.runs
    if args.json:
        print(json.dumps([{"run_id": r.run_id, "created": r.created, "status": r.status, "config": r.config,
                           "metrics": r.metrics} for r in items]
                         + [{"run_id": d.run_id, "damaged": d.reason} for d in listing.damaged], indent=2))
        return 0
    for damaged in listing.damaged:  # never silently missing
        print(f"damaged run {damaged.run_id}: {damaged.reason}", file=sys.stderr)
    if not items:
        print(f"no runs in {storage.runs_dir()}")
        return 0
    who = roster.shown_names((r.owner, r.owner_name) for r in items)
    header = f"{'run':<26}{'created (UTC)':<21}{'status':<10}{'by':<24}{'model':<24}{'dataset':<14}{'epochs':>7}{'test acc.':>11}"
    print(header)
    print("-" * len(header))
    for r in items:
        spec = r.spec
        acc = "-" if r.test_accuracy is None else f"{r.test_accuracy:.2%}"
        done = r.metrics.get("epochs_completed")
        by = _cut(who[r.owner, r.owner_name], 23)
        print(f"{r.run_id:<26}{r.created.replace('T', ' ')[:19]:<21}{r.status:<10}{by:<24}"
              f"{labels.network_id(spec):<24}{spec.dataset:<14}{'-' if done is None else f'{done:g}':>7}{acc:>11}")
    return 0


# --- report (runs) ----------------------------------------------------------------------
def _add_report_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a run's lab report: one HTML file that opens offline",
                       description="The network and its parameters, the training set-up, the curves, the test "
                                   "results and confusion matrix, the worst mistakes and the rotation test of one "
                                   "run, in one self-contained HTML file (the Runs page's download), with the "
                                   "Explain views pinned in the app: your own (the teacher's), or a student's "
                                   "with --owner.")
    p.add_argument("run_id", help="the run (see: python -m cnnviz runs)")
    p.add_argument("--out", metavar="FILE.html", help="where to write it (default: cnnviz-RUN_ID-report.html)")
    p.add_argument("--csv", metavar="FILE.csv", help="also write the run's history as CSV")
    p.add_argument("--owner", metavar="NAME",
                   help="whose pinned Explain views to include: a student's name or user id (default: your own)")
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from cnnviz.report import inputs, page, pins  # plotly and the inspection modules: only this command needs them

    info = runs.load_run(args.run_id)
    me = _cli_owner()
    owner = me.user_id if args.owner is None else pins.find_owner(args.owner, me)
    pinned = [inputs.Pinned(p.title, p.figure_json, p.caption)
              for p in pins.for_run(pins.load(owner, me), info.run_id)]
    out = Path(args.out or f"cnnviz-{info.run_id}-report.html")
    csv = Path(args.csv) if args.csv else None
    for target in (out, csv):  # before the minutes of measuring
        if target is None:
            continue
        if target.is_dir():
            raise InvalidArgument(f"cannot write the report to {target}: {target} is a folder")
        if target.parent.exists() and not target.parent.is_dir():
            raise InvalidArgument(f"cannot write the report to {target}: {target.parent} is a file")
        folder = next(p for p in (target.absolute().parent, *target.absolute().parents) if p.exists())  # or made
        if not os.access(folder, os.W_OK):
            raise InvalidArgument(f"cannot write the report to {target}: you may not write in {folder}")
    print(f"{len(pinned)} pinned Explain view{'' if len(pinned) == 1 else 's'} of {owner}", file=sys.stderr)
    print(f"measuring {info.label} on its test images...", file=sys.stderr, flush=True)
    text = page.report_html(info, inputs.gather(info), pinned)
    for path, data in ((out, text.encode("utf-8")), *(((csv, compare.history_csv(info).encode("utf-8")),) if csv else ())):
        try:
            storage.atomic_write_bytes(path, data)
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(path, 0o666 & ~mask)  # mkstemp made it owner-only: a report is for handing out
        except OSError as err:
            raise InvalidArgument(f"cannot write the report to {path}: {err.strerror or err}") from None
        print(f"wrote {path}" + (f" ({len(data) / 1e6:.1f} MB)" if path == out else ""))
    return 0


# --- download (pretrained weights) -----------------------------------------------------
def _add_download_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "download", help="prefetch pretrained weights for an offline classroom",
        description="Download Keras' official ImageNet weights into CNNVIZ_HOME/weights "
                    "(checked against Keras' MD5, or by loading them where Keras publishes none; written "
                    "crash-safely), or copy a file brought from another machine with --from. "
                    "resnet50: the whole classifier (Pretrained ResNet50 page); mobilenetv2, "
                    "resnet50-notop and vgg16-notop: the convolutional bases for the Transfer learning page.",
        epilog="A file of your own is used instead where its variable names it: " + "; ".join(
            f"{key}: {weights.weights_file(key).env}" for key in weights.KEYS) + " (MobileNetV2's may name a "
            "folder holding its files under Keras' names).",
    )
    p.add_argument("model", choices=list(weights.KEYS), help="which weights")
    p.add_argument("--alpha", type=float, default=0.35, help="MobileNetV2 width: 0.35, 0.5, 0.75 or 1.0 (default 0.35)")
    p.add_argument("--size", type=int, default=96, help="MobileNetV2 input size: 96, 128, 160, 192 or 224 (default 96)")
    p.add_argument("--from", dest="source", metavar="FILE",
                   help="check and copy this weights file instead of downloading")
    p.add_argument("--url", help="download from this address instead of Keras' own (a mirror)")
    p.add_argument("--md5", help="expected MD5 of the file (default: Keras' own hash)")
    p.add_argument("--force", action="store_true", help="download again even if a good copy is there")
    p.set_defaults(handler=_download)


def _download(args: argparse.Namespace) -> int:
    if args.model != "mobilenetv2" and (args.alpha, args.size) != (0.35, 96):
        raise InvalidArgument(f"--alpha and --size choose MobileNetV2's weights; {args.model} has one file, "
                              f"got --alpha {args.alpha:g} --size {args.size}")
    if args.source is not None and args.url is not None:
        raise InvalidArgument(f"--from copies a file and --url downloads one: give one of them, "
                              f"got --from {args.source!r} --url {args.url!r}")
    wf = weights.weights_file(args.model, alpha=args.alpha, image_size=args.size)
    if args.source:
        path = weights.install_weights_file(args.source, wf, md5=args.md5)
        print(f"{wf.name} checked and copied to {path}")
        return _note_variable(wf, path)
    dest, cached = weights.weights_candidates(wf)  # CNNVIZ_HOME/weights, then Keras' cache (the pages use both)
    if not args.force and weights.is_good_copy(dest, wf, md5=args.md5):
        print(f"{wf.name} already here: {dest}")
        return _note_variable(wf, dest)
    if not args.force and weights.is_good_copy(cached, wf, md5=args.md5):  # no download, even offline
        copied = weights.install_weights_file(cached, wf, md5=args.md5)
        print(f"{wf.name} found in Keras' cache, checked and copied to {copied}")
        return _note_variable(wf, copied)
    url = args.url or wf.url
    print(f"downloading {url}", file=sys.stderr)
    try:
        path = weights.download_weights(wf, url=url, md5=args.md5, force=True, progress=terminal.download_printer())
    except weights.DownloadError as err:
        raise weights.DownloadError(f"{str(err).rstrip('.')}. If this machine is offline, copy {wf.file} onto it from one that has it "
                                    f"and run `{weights.download_command(wf)} --from FILE`, or set {wf.env} to "
                                    "its path.") from None
    terminal.end_percents()
    print(f"{wf.name} downloaded and checked: {path}")
    return _note_variable(wf, path)


def _note_variable(wf: weights.WeightsFile, copy: Path) -> int:
    """Says when the app will not use ``copy`` because ``$<wf.env>`` names another file; returns 0."""
    try:
        chosen = weights.explicit_file(wf)
    except CnnvizError as err:
        print(f"note: the app will not use this copy while {wf.env} is set: {err}", file=sys.stderr)
    else:
        if chosen is not None and chosen.resolve() != copy.resolve():
            print(f"note: {wf.env} is set, so the app uses {chosen}, not this copy.", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cnnviz", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_data_commands(sub)
    _add_training_commands(sub)
    _add_download_commands(sub)
    _add_report_command(sub)
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
        terminal.end_percents()
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        terminal.end_percents()
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `python -m cnnviz runs | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the flush at exit is quiet too
        return 141


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
