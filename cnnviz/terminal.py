"""Progress in a terminal for the command line: a download's percents, and a training job followed until it
ends (a line per finished epoch, the running numbers in between; Ctrl-C stops it within a batch)."""

from __future__ import annotations

import dataclasses
import signal
import sys
import time


#: Whether the percents (:func:`download_printer`, :func:`count_printer`) left a terminal's cursor at the end of
#: their line.
_line_open = [False]


def download_printer():
    """A progress callback for bytes (a download, an archive read) that prints whole percents (one line each when
    not a terminal); MB are 10⁶ bytes, as the pages and the app's download bar count them."""
    return _percent_printer(lambda done, total: f"{done / 1e6:8.1f} MB", unit=10**6)


def count_printer(what: str):
    """A progress callback like :func:`download_printer` for things counted one by one: ``" 50% 10 of 20 {what}"``."""
    return _percent_printer(lambda done, total: f"{done:,} of {total:,} {what}" if total else f"{done:,} {what}",
                            unit=1)


def _percent_printer(amount, *, unit: int):
    """``progress(done, total)`` printing whole percents and ``amount(done, total)``; without a total, a line per
    ``unit`` done."""
    last, logged = [-1], [-1]  # the step shown last; on a log, the last 5 % passed that has a line
    tty = sys.stderr.isatty()

    def report(done: int, total: int | None) -> None:
        step = done * 100 // total if total else done // unit
        if step == last[0]:
            return
        last[0] = step
        text = f"{step:3d}% {amount(done, total)}" if total else amount(done, total)
        if tty:
            print("\r" + text, end="", file=sys.stderr, flush=True)
            _line_open[0] = True
        elif not total or step // 5 != logged[0]:  # however far one update jumps
            logged[0] = step // 5
            print(text, file=sys.stderr, flush=True)

    return report


def end_percents() -> None:
    """End the line that the percents rewrote on a terminal, if they left one open (before
    the summary, an error or "interrupted", so that each has a line of its own)."""
    if _line_open[0]:
        _line_open[0] = False
        print(file=sys.stderr)


def progress_line(p) -> str:
    """One line of a training's numbers: "epoch 3/5  batch 2/6  loss 1.4000 ..."."""
    parts = [f"epoch {p.epoch}/{p.epochs}", f"batch {p.batch}/{p.batches}"]
    for name, value in (("loss", p.loss), ("acc", p.accuracy), ("val_loss", p.val_loss), ("val_acc", p.val_accuracy)):
        if value is not None:
            parts.append(f"{name} {value:.4f}")
    if p.images_per_s:
        parts.append(f"{p.images_per_s:,.0f} img/s")
    if p.eta_s is not None:
        parts.append(f"ETA {p.eta_s:,.0f} s")
    return "  ".join(parts)


def follow(manager, job_id: str):
    """Print the job's progress until it ends: a line per finished epoch (from its history, however
    fast the epochs go) and the running numbers in between; Ctrl-C asks it to stop within a batch, a
    second one quits (saying what became of the job). Ctrl-C only counts presses here, so one that comes
    while the first is being handled is never lost nor raised half-way."""
    presses: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda *_: presses.append(1))
    try:
        return _follow_loop(manager, job_id, presses)
    finally:
        signal.signal(signal.SIGINT, previous)


def _follow_loop(manager, job_id: str, presses: list[int]):
    epochs_shown, shown, phase, stopping, place = 0, None, None, False, 0
    line = _LinePrinter(sys.stdout.isatty())
    while True:
        if presses and not stopping:  # first, also when a second press came before this look: a queued job is dropped
            line.end()
            print(f"stopping after this batch (job {job_id}; Ctrl-C again to quit at once)...", file=sys.stderr,
                  flush=True)
            manager.stop(job_id)
            stopping = True
        if len(presses) >= 2:
            line.end()
            _quit_following(manager, job_id)
            raise KeyboardInterrupt
        status = manager.status(job_id)
        if status.state == "queued" and status.queue_position != place:  # behind other trainings: as the pages say
            place = status.queue_position
            line.keep(f"waiting in the queue (number {place})")
        p = status.progress
        history = {k: p.curve.get(f"epoch_{k}", []) for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
        ends = p.curve.get("epoch_x") or []
        for e in range(epochs_shown, len(history["loss"])):
            share = ends[e] - e if e < len(ends) and ends[e] < e + 1 else 1  # a stopped epoch's trained share
            ended = dataclasses.replace(p, epoch=e + 1, batch=round(share * p.batches),
                                        **{k: v[e] for k, v in history.items()})
            line.keep(progress_line(ended) + ("  (stopped)" if share < 1 else ""))
            shown = (e + 1, p.batches)
        epochs_shown = len(history["loss"])
        if p.phase == "training" and p.batches and (p.epoch, p.batch) != shown and p.batch < p.batches:
            line.running(progress_line(p))
            shown = (p.epoch, p.batch)
        if p.phase != phase and p.phase not in ("training", "done", "waiting"):
            line.keep(f"{p.phase}...")
        phase = p.phase
        if not status.active:
            line.end()
            return status
        time.sleep(0.25)


class _LinePrinter:
    """Training progress on stdout: on a terminal the running numbers rewrite one line (as ``data download``'s
    percents do) and each finished epoch keeps its own; elsewhere (a log, a pipe) every line stays."""

    def __init__(self, tty: bool):
        self.tty, self.pending = tty, 0  # pending: the length of a running line that the next one overwrites

    def running(self, text: str) -> None:
        if not self.tty:
            return self.keep(text)
        print("\r" + text.ljust(self.pending), end="", flush=True)
        self.pending = len(text)

    def keep(self, text: str) -> None:
        print(("\r" + text.ljust(self.pending)) if self.pending else text, flush=True)
        self.pending = 0

    def end(self) -> None:
        if self.pending:
            print(flush=True)
            self.pending = 0


def _quit_following(manager, job_id: str) -> None:
    """A second Ctrl-C: end this command's workers (a job of theirs ends "interrupted", keeping what it
    trained) and say what became of the job."""
    manager.close()
    status = manager.table.status(job_id)
    if status is None or status.active:
        print(f"job {job_id} goes on stopping in its worker; see `python -m cnnviz jobs`", file=sys.stderr)
        return
    saved = f"run {status.run_id} keeps what it trained" if status.run_id else "nothing was saved"
    resume = f"; `python -m cnnviz jobs resume {job_id}` goes on from its last finished epoch" \
        if status.run_id is None and manager.resumable(job_id) else ""
    print(f"job {job_id} {status.state}: {saved}{resume}", file=sys.stderr, flush=True)
