"""Many students at once (issue 9): N isolated browser sessions against one `streamlit run app.py`.

Shared by ``tests/e2e/test_load.py`` (asserts) and ``benchmarks/load_test.py`` (prints the figures).
Everything stays on 127.0.0.1: a fresh CNNVIZ_HOME, a free port, Debian chromium driven by
Playwright's *async* API (one browser, one context per student, all driven at once with
``asyncio.gather``; the sync API is single-threaded per Playwright instance).

The server is a classroom (a teacher password is set): every student first types their own name
("Student N") in the name form and keeps the private key it puts in the address; every page they
open after that is theirs. What one student does: open Build & train, choose the smallest training (the first seed preset,
``seed000_model1``, on the bundled digits data, 1 epoch, 20 training and 10 test images, the
page's minimums) with a seed of their own, wait until the whole class is ready and press Train
together (so the queue fills), watch the live panel (recording every queue position it shows),
read the run id the panel ends with, then open Runs and Evaluate through the sidebar (same session),
where the run pickers must offer their own run and nobody else's (every option is read), and last
upload a picture of their own on Convolution: its width (``upload_width``) is unique to the student
and comes back in the server's note about small pictures, so a student who saw another student's
upload would read a width that is not theirs.

Meanwhile a separate browser loads Home again and again (a fresh session each time, with the key
of a name it chose once) and the
server's resident memory (VmRSS in ``/proc/PID/status``) is sampled. The job manager logs one
line per job queued/started/ended (``cnnviz.training.jobs`` at INFO); the server is started through a
tiny wrapper that sends that logger to a file, which is the server-side record of the cap.

Where the browsers run: in a classroom each student's browser renders on the student's own
machine; here all of them share the server's cores. So the students' chromium runs at the lowest
CPU priority (``nice 19``, through a wrapper script, which also lowers its session's autogroup: with
Linux's autogroup scheduling each session gets an equal share before nice counts, and chromium run as
root re-nices its own processes, so ``nice`` alone left the students' browsers two thirds of the cores
and the training a third): it still drives every session, and its rendering yields to the server and
the training, though it still takes some of their CPU: a nice-19 autogroup keeps a small share of the cores, and
16 of them add up (not measured apart from the server's). The Home probe runs in a second chromium at normal
priority (``probe_nice`` to lower it), so its page loads count a real browser's own work next to a
loaded server. ``students_cgroup`` and ``probe_cgroup`` (e.g. :func:`idle_cpu_cgroup`, root only) put a
browser where it takes only CPU time nothing else wants, the nearest this machine comes to browsers on
other machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, _free_port, _wait_healthy
from tests.e2e.streamlit_page import TRACEBACK_MARKERS

#: Students (browser contexts): the issue's 8 for the benchmark, 4 in the test's bounded CI mode;
#: ``CNNVIZ_LOAD_SESSIONS`` overrides both.
SESSIONS_ENV = "CNNVIZ_LOAD_SESSIONS"
DEFAULT_SESSIONS = 8
CI_SESSIONS = 4
#: CPU priority of the students' browser (see the module docstring); 0 runs it like the server.
STUDENT_BROWSER_NICE = 19
#: Concurrent training cap given to the server: small, so most of the class queues.
DEFAULT_CAP = 2
#: Seconds after the last context closes before the "end" memory figure is read.
SETTLE_AFTER_CLOSE_S = 15.0
#: Interval of the memory sampler and of the page text polls.
RSS_SAMPLE_S = 0.25
POLL_S = 0.4
#: Pause between two Home loads of the probe (it is one more student clicking around, not a flood).
PROBE_PAUSE_S = 1.0
#: Seconds between two students opening the app (they press Train together later, at a barrier):
#: eight chromium pages loading the Streamlit bundle in the same instant took > 30 s on 2 cores.
ARRIVAL_GAP_S = 2.0
#: Seconds after the Train click by which the panel must show Stop (queued or running) or the run.
ENDED_BADLY_FOR_S = 15.0  # seconds the page must stay without Stop and without a run
ENDED_BADLY_AFTER_S = 15.0
#: The smallest training the page runs: 1 epoch, and 40 training images, as the 0.25 validation
#: share of 20 (the page's minimum) leaves 5 images for 10 classes, which the stratified split refuses.
TINY = {"Epochs": 1, "Training images": 40, "Test images": 10}
#: The Home page's title (app_pages/home.py).
HOME_TITLE = "cnnviz: a CNN lab"
#: The server is a classroom: a teacher password makes every visitor choose a name (cnnviz.app.identity).
TEACHER_PASSWORD = "load-test-teacher"
NAME_LABEL = "Your name (the class and the teacher see it)"

#: Height of the students' uploads: under images.THIN_SIDE_PX, so the page notes "very small (W pixels wide, H tall)".
UPLOAD_HEIGHT = 5
_SMALL_NOTE_RE = re.compile(rf"very small \((\d+) pixels? wide, {UPLOAD_HEIGHT} tall\)")
_QUEUE_RE = re.compile(r"you are number (\d+) in the queue")
_DONE_RE = re.compile(r"(Finished|Stopped): run (\S+?), test accuracy")
_RUN_ID_RE = re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{8}\b")
_LOG_RE = re.compile(r"^(?P<t>[\d.]+) job (?P<job>[0-9a-f]+) (?P<event>queued|started|ended)(?: (?P<state>\w+) "
                     r"\(run (?P<run>\S+)\))?: (?P<busy>\d+) of (?P<cap>\d+) training slots busy, (?P<waiting>\d+) waiting")

# The server: streamlit's own CLI, after pointing the job manager's logger at a file.
_SERVE = (
    "import faulthandler, logging, signal, sys\n"
    "faulthandler.register(signal.SIGUSR1, file=open(sys.argv[1] + '.stacks', 'w'), all_threads=True)\n"
    "handler = logging.FileHandler(sys.argv[1])\n"
    "handler.setFormatter(logging.Formatter('%(created).3f %(message)s'))\n"
    "logger = logging.getLogger('cnnviz.training.jobs')\n"
    "logger.addHandler(handler)\n"
    "logger.setLevel(logging.INFO)\n"
    "from streamlit.web.cli import main\n"
    "sys.argv = ['streamlit', *sys.argv[2:]]\n"
    "main()\n"
)


def sessions_from_env(default: int = DEFAULT_SESSIONS) -> int:
    value = os.environ.get(SESSIONS_ENV, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{SESSIONS_ENV} must be a whole number ≥ 1, got {value!r}")
    return int(value)


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB (MiB), from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(rest.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


@dataclass
class Student:
    """What one session saw."""

    index: int
    seed: int
    clicked: float = 0.0  # monotonic time of the Train click
    done: float = 0.0  # when the panel showed the finished run
    queue_positions: list[int] = field(default_factory=list)  # in the order seen (repeats dropped)
    run_id: str = ""
    run_ids_on_panel: set[str] = field(default_factory=set)  # every run id the Build & train page showed
    runs_page_has_own: bool = False
    evaluate_choice: str = ""  # the Evaluate page's run picker, as shown
    key: str = ""  # the private key the name form gave this student
    runs_offered: list[str] = field(default_factory=list)  # every option of the Runs page's run picker
    evaluate_offered: list[str] = field(default_factory=list)  # ... and of the Evaluate page's
    upload_widths_seen: set[int] = field(default_factory=set)  # widths in the Convolution page's notes
    errors: list[str] = field(default_factory=list)
    phase: str = "opening Build & train"

    @property
    def name(self) -> str:
        return f"Student {self.index}"

    @property
    def upload_width(self) -> int:
        """Width of this student's uploaded picture (its height, UPLOAD_HEIGHT, makes the page note it)."""
        return 100 + self.index

    @property
    def seconds_to_finish(self) -> float:
        return self.done - self.clicked


@dataclass
class JobEvent:
    t: float
    job: str
    event: str
    busy: int
    cap: int
    waiting: int
    state: str | None = None
    run: str | None = None


@dataclass
class LoadReport:
    sessions: int
    cap: int
    students: list[Student]
    wall_s: float  # first Train click to the last Evaluate page drawn
    training_wall_s: float  # first Train click to the last finished panel
    page_loads_s: list[float]  # Home: navigation start to its title drawn
    page_loads_idle_s: list[float]  # Home: navigation start to its script run ended
    rss_warm_mb: float  # after one warm-up training and its pages, before the class arrives
    rss_peak_mb: float  # highest VmRSS sample during the load (VmHWM below is the kernel's own peak)
    rss_hwm_mb: float
    rss_end_mb: float  # SETTLE_AFTER_CLOSE_S after every student's context closed
    rss_before_warmup_mb: float
    events: list[JobEvent]
    setup_s: float  # server start + warm-up
    page_load_starts: list[float] = field(default_factory=list)  # monotonic start of each Home load
    first_click: float = 0.0  # monotonic time of the first Train click

    # -- server-side figures from the job log --
    def jobs(self) -> dict[str, dict[str, JobEvent]]:
        by_job: dict[str, dict[str, JobEvent]] = {}
        for event in self.events:
            by_job.setdefault(event.job, {})[event.event] = event
        return by_job

    def max_busy_logged(self) -> int:
        return max((e.busy for e in self.events if e.event == "started"), default=0)

    def max_overlap(self) -> int:
        """Most jobs between their 'started' and 'ended' lines at one instant (interval sweep)."""
        points = []
        for job in self.jobs().values():
            if "started" in job and "ended" in job:
                points += [(job["started"].t, 1), (job["ended"].t, -1)]
        running = peak = 0
        for _, step in sorted(points, key=lambda p: (p[0], p[1])):  # an end before a start at the same instant
            running += step
            peak = max(peak, running)
        return peak

    def queue_wait_s(self, run_id: str) -> float | None:
        for job in self.jobs().values():
            if "ended" in job and job["ended"].run == run_id and "queued" in job and "started" in job:
                return job["started"].t - job["queued"].t
        return None

    def format(self) -> str:
        loads, idle = self.page_loads_s, self.page_loads_idle_s
        lines = [
            f"sessions {self.sessions}, training cap {self.cap}, setup (server + warm-up) {self.setup_s:.1f} s",
            f"wall time: first Train click to the last finished run {self.training_wall_s:.1f} s, "
            f"to the last Evaluate page {self.wall_s:.1f} s",
            f"jobs logged by the server: {len(self.jobs())} (warm-up included); most training at once: "
            f"{self.max_busy_logged()} by the manager's count, {self.max_overlap()} by start/end times",
            "student  seed  queue positions seen      queue wait  click→finished  run",
        ]
        for s in self.students:
            wait = self.queue_wait_s(s.run_id)
            lines.append(f"{s.index:7d}  {s.seed:4d}  {str(s.queue_positions or '-'):24s}  "
                         f"{'-' if wait is None else f'{wait:8.1f} s':>10s}  {s.seconds_to_finish:12.1f} s  {s.run_id}")
        if loads and self.page_load_starts:
            slowest = max(range(len(loads)), key=loads.__getitem__)
            lines.append(f"slowest Home load started {self.page_load_starts[slowest] - self.first_click:+.1f} s from the "
                         f"first Train click; every load (start from the click: seconds): " + ", ".join(
                             f"{start - self.first_click:+.0f}: {load:.1f}" for start, load in zip(self.page_load_starts, loads)))
        if loads:
            lines.append(f"Home page loads during the load: {len(loads)}; title drawn median {statistics.median(loads):.2f} s, "
                         f"max {max(loads):.2f} s; script run ended median {statistics.median(idle):.2f} s, max {max(idle):.2f} s")
        lines.append(f"server RSS: {self.rss_before_warmup_mb:.0f} MB before the warm-up, {self.rss_warm_mb:.0f} MB "
                     f"after it (baseline), peak {self.rss_peak_mb:.0f} MB (VmHWM {self.rss_hwm_mb:.0f} MB), "
                     f"{self.rss_end_mb:.0f} MB {SETTLE_AFTER_CLOSE_S:.0f} s after the sessions closed "
                     f"({self.rss_end_mb - self.rss_warm_mb:+.0f} MB)")
        return "\n".join(lines)


# --- page helpers (async twins of tests/e2e/streamlit_page.py) ----------------------------------
async def main_text(page) -> str:
    return await page.locator('[data-testid="stMain"]').inner_text(timeout=120_000)  # renderers starve on 2 cores


async def wait_idle(page, timeout: float = 120.0, settle: float = 0.6) -> None:
    """Wait for the page title, then until no script run has been in progress for ``settle`` s."""
    await page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        running = await page.locator('[data-testid="stStatusWidget"]').count() > 0
        skeleton = await page.locator('[data-testid="stSkeleton"]').count() > 0
        if running or skeleton:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"page still running after {timeout}s")


async def page_errors(page) -> list[str]:
    found = []
    exceptions = page.locator('[data-testid="stException"]')
    if await exceptions.count():
        found.append(await exceptions.first.inner_text())
    body = await page.locator("body").inner_text()
    found += [f"traceback text on the page: {body[:500]}" for m in TRACEBACK_MARKERS if m in body]
    return found


async def set_number(page, label: str | re.Pattern, value: int) -> None:
    box = page.get_by_label(label, exact=True) if isinstance(label, str) else page.get_by_label(label)
    await box.fill(str(value))
    await box.press("Enter")
    await wait_idle(page)
    shown = await box.input_value()
    if shown != str(value):
        raise AssertionError(f"{label}: the page kept {shown!r} instead of {value}")


async def open_from_sidebar(page, title: str) -> None:
    """Switch page inside the same session (a new URL would start a new session)."""
    await page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
    await page.wait_for_function(
        "t => { const h = document.querySelector('[data-testid=\"stMain\"] h1'); return h && h.innerText.includes(t); }",
        arg=title, timeout=120_000)
    await wait_idle(page)


async def register(page, server: str, name: str) -> str:
    """A first visit: the name form, Start, and the private key the page puts in the address."""
    await page.goto(server, wait_until="commit", timeout=120_000)
    box = page.get_by_label(NAME_LABEL, exact=True)
    await box.wait_for(timeout=120_000)
    await box.fill(name)
    await page.get_by_role("button", name="Start", exact=True).click()
    await page.wait_for_url(re.compile(r"[?&]key=[^&]+"), timeout=120_000)
    await page.locator('[data-testid="stSidebar"]').get_by_text(name, exact=True).wait_for(timeout=120_000)
    return re.search(r"[?&]key=([^&]+)", page.url).group(1)


async def prepare_tiny_training(page, server: str, seed: int, key: str) -> None:
    """Build & train with the page's smallest run; leaves the Train button ready."""
    # Through the root first (st.navigation must have run once, see test_training_in_browser), with the key.
    await page.goto(f"{server}/?key={key}", wait_until="commit", timeout=120_000)
    await wait_idle(page)
    await open_from_sidebar(page, "Build & train")
    dataset = await page.get_by_role("combobox", name="Dataset", exact=True).input_value()
    network = await page.get_by_role("combobox", name="Network", exact=True).input_value()
    if not network.startswith("CNN Lab: 2 conv layers, 16 filters") or "digits" not in dataset.lower():
        raise AssertionError(f"Build & train did not open on seed 000 model1 / digits: {network!r}, {dataset!r}")
    await set_number(page, "Epochs", TINY["Epochs"])
    await set_number(page, re.compile(r"^Training images"), TINY["Training images"])
    await set_number(page, re.compile(r"^Test images"), TINY["Test images"])
    await set_number(page, "Random seed", seed)


async def train_and_watch(page, student: Student, timeout: float) -> None:
    student.clicked = time.monotonic()
    await page.get_by_role("button", name="Train", exact=True).click()
    deadline = student.clicked + timeout
    bad_since = None
    while True:
        text = await main_text(page)
        student.run_ids_on_panel |= set(_RUN_ID_RE.findall(text))
        for match in _QUEUE_RE.finditer(text):
            position = int(match.group(1))
            if not student.queue_positions or student.queue_positions[-1] != position:
                student.queue_positions.append(position)
        done = _DONE_RE.search(text)
        if done:
            student.done = time.monotonic()
            student.run_id = done.group(2).strip("`")
            return
        # Queued and running jobs always show Stop; without it and without a run, the job ended badly.
        # Not at one glance: while the page reruns after the job ends, the new Train button is drawn
        # before the panel's final message, so the state must last a while to count.
        if "Stop training" not in text and time.monotonic() - student.clicked > ENDED_BADLY_AFTER_S:
            bad_since = bad_since or time.monotonic()
            if time.monotonic() - bad_since > ENDED_BADLY_FOR_S:
                raise AssertionError(f"student {student.index}: no run and no Stop button for {ENDED_BADLY_FOR_S:.0f} s: "
                                     f"{text[-800:]}")
        else:
            bad_since = None
        if time.monotonic() > deadline:
            raise TimeoutError(f"student {student.index} not finished after {timeout:.0f} s: {text[-800:]}")
        await asyncio.sleep(POLL_S)


async def visit_other_pages(page, student: Student) -> None:
    student.errors += await page_errors(page)
    await open_from_sidebar(page, "Runs")
    student.errors += await page_errors(page)
    # All runs are listed (the store is the class's); the table is drawn on a canvas, so look in the picker.
    student.runs_offered = await options(page, "Run")
    student.runs_page_has_own = await option_offered(page, "Run", f"({student.run_id[-8:]})")
    await open_from_sidebar(page, "Evaluate")
    student.evaluate_choice = await page.get_by_role("combobox", name="Run", exact=True).input_value()
    student.evaluate_offered = await options(page, "Run")
    student.errors += await page_errors(page)
    await upload_own_picture(page, student)
    student.errors += await page_errors(page)


async def options(page, label: str) -> list[str]:
    """Every option the select box ``label`` offers (its list opened, read, closed)."""
    await page.get_by_role("combobox", name=label, exact=True).click()
    await page.keyboard.press("ArrowDown")  # a click only focuses the search box: the list opens on a key
    await page.get_by_role("option").first.wait_for(timeout=30_000)
    try:
        return await page.get_by_role("option").all_inner_texts()
    finally:
        await page.keyboard.press("Escape")


async def option_offered(page, label: str, text: str) -> bool:
    """Whether the select box ``label`` offers an option containing ``text`` (typed in to filter the list)."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    await page.get_by_role("combobox", name=label, exact=True).click()
    await page.keyboard.type(text)
    try:
        await page.get_by_role("option").filter(has_text=text).first.wait_for(timeout=15_000)
        return True
    except PlaywrightTimeout:
        return False
    finally:
        await page.keyboard.press("Escape")


def png_bytes(width: int, height: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


async def upload_own_picture(page, student: Student) -> None:
    """Convolution → Upload → this student's picture; record every width the page's notes name."""
    await open_from_sidebar(page, "Convolution")
    await page.get_by_text("Upload", exact=True).click()
    await wait_idle(page)
    name = f"student-{student.index}.png"
    await page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        [{"name": name, "mimeType": "image/png", "buffer": png_bytes(student.upload_width, UPLOAD_HEIGHT)}])
    await page.get_by_text(f"very small ({student.upload_width} pixels wide, {UPLOAD_HEIGHT} tall)").first.wait_for(
        timeout=120_000)
    await wait_idle(page)
    student.upload_widths_seen |= {int(w) for w in _SMALL_NOTE_RE.findall(await main_text(page))}


# --- the run ------------------------------------------------------------------------------------------
@dataclass
class _Server:
    proc: subprocess.Popen
    url: str
    job_log: Path


def start_server(home: Path, cap: int) -> _Server:
    port = _free_port()
    job_log = home / "jobs.log"
    env = {**os.environ, "CNNVIZ_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2",
           "CNNVIZ_MAX_TRAINING_JOBS": str(cap), "CNNVIZ_TEACHER_PASSWORD": TEACHER_PASSWORD}
    with open(home / "streamlit-load.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(job_log), "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return _Server(proc, url, job_log)


def read_job_log(path: Path) -> list[JobEvent]:
    """The job events: from the job table next to ``path`` (every process writes there, workers too),
    else from the server's log lines."""
    lines = path.read_text().splitlines() if path.exists() else []
    table = path.parent / "jobs.sqlite3"
    if table.exists():
        with contextlib.closing(sqlite3.connect(table)) as db:
            lines = [f"{at:.3f} {message}" for at, message in db.execute("SELECT at, message FROM events ORDER BY seq")]
    events = []
    for line in lines:
        m = _LOG_RE.match(line)
        if m:
            events.append(JobEvent(t=float(m["t"]), job=m["job"], event=m["event"], busy=int(m["busy"]),
                                   cap=int(m["cap"]), waiting=int(m["waiting"]), state=m["state"], run=m["run"]))
    return events


async def _rss_sampler(pid: int, samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(rss_mb(pid)[0])
        await asyncio.sleep(RSS_SAMPLE_S)


async def _load_home(context, server: str) -> tuple[float, float]:
    """Open Home in a new page (a new session): seconds to its title, and to the end of its script run."""
    page = await context.new_page()
    try:
        t0 = time.monotonic()
        await page.goto(server, wait_until="commit")
        await page.get_by_role("heading", name=HOME_TITLE).wait_for(timeout=60_000)
        title = time.monotonic() - t0
        await wait_idle(page, settle=0.0)
        return title, time.monotonic() - t0
    finally:
        await page.close()


async def _home_probe(context, server: str, loads: list[float], idle: list[float], stop: asyncio.Event,
                      starts: list[float]) -> None:
    """One more visitor, in its own browser: a fresh Home page (new session) again and again while the class works."""
    while not stop.is_set():
        starts.append(time.monotonic())
        title, ended = await _load_home(context, server)
        loads.append(title)
        idle.append(ended)
        await asyncio.sleep(PROBE_PAUSE_S)


async def _student(browser, server: str, student: Student, ready: asyncio.Barrier, timeout: float) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    log: list[str] = []  # what the browser saw happen to this student's page, for the failure message
    try:
        page = await context.new_page()
        page.on("crash", lambda _: log.append(f"{time.monotonic():.1f} renderer crashed"))
        page.on("console", lambda m: log.append(f"{time.monotonic():.1f} console {m.type}: {m.text[:200]}")
                if m.type in ("error", "warning") else None)
        page.on("websocket", lambda ws: (log.append(f"{time.monotonic():.1f} websocket open {ws.url[-30:]}"),
                                         ws.on("close", lambda _: log.append(f"{time.monotonic():.1f} websocket closed"))))
        page.on("framenavigated", lambda f: log.append(f"{time.monotonic():.1f} navigated {f.url}")
                if f == page.main_frame else None)
        await asyncio.sleep(ARRIVAL_GAP_S * (student.index - 1) if student.index else 0)  # students trickle in
        try:
            student.phase = "choosing a name"
            student.key = await register(page, server, student.name)
            student.phase = "opening Build & train"
            await prepare_tiny_training(page, server, student.seed, student.key)
        except BaseException:
            await ready.abort()  # the others must not wait for this one at the barrier
            raise
        await asyncio.wait_for(ready.wait(), timeout)  # the class presses Train together
        student.phase = "training"
        await train_and_watch(page, student, timeout)
        student.phase = "after training"
        await wait_idle(page)
        text = await main_text(page)
        student.run_ids_on_panel |= set(_RUN_ID_RE.findall(text))
        student.phase = "Runs, Evaluate and an upload on Convolution"
        await visit_other_pages(page, student)
    except Exception as error:  # say where, and what the page showed instead
        body = ""
        with contextlib.suppress(Exception):  # a starved renderer must not hide the failure itself
            body = await page.locator("body").inner_text(timeout=5000) if not page.is_closed() else ""
        try:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / f"load-failure-student-{student.index}.png"), timeout=10000)
            (SCREENSHOTS / f"load-failure-student-{student.index}.html").write_text(await page.content())
        except Exception:  # the diagnosis must not hide the failure
            pass
        raise AssertionError(f"student {student.index} during {student.phase}: {error!r}; "
                             f"url {page.url}; page: {body[:600]!r}; browser log: {log[-15:]}") from error
    finally:
        await context.close()


def niced_chromium(folder: Path, nice: int = STUDENT_BROWSER_NICE, executable: str = CHROMIUM,
                   cgroup: Path | None = None) -> str:
    """A wrapper script that starts chromium (``executable``) at CPU priority ``nice``, in ``cgroup`` if given."""
    if nice == 0 and cgroup is None:
        return executable
    wrapper = folder / (f"chromium-nice{int(nice)}" + (f"-{cgroup.name}" if cgroup else ""))
    # Linux shares the CPU between sessions (autogroups) before nice counts, and chromium, run as root,
    # re-nices its own processes: so the wrapper also lowers its session's autogroup when it leads a
    # session of its own (Playwright starts each browser with setsid), never the caller's.
    # Every process chromium starts inherits the cgroup the wrapper moves itself into.
    wrapper.write_text(
        "#!/bin/sh\n"
        + (f'echo $$ > "{cgroup}/cgroup.procs" || exit 1\n' if cgroup else "")
        + f'if [ "$(cut -d" " -f6 /proc/$$/stat)" = "$$" ] && [ -w /proc/self/autogroup ]; then '
        f"echo {int(nice)} > /proc/self/autogroup; fi\n"
        f'exec nice -n {int(nice)} "{executable}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


#: Where a CPU cgroup can be made: cgroup v1's cpu hierarchy, or v2's unified one when it offers ``cpu``.
CGROUP_ROOTS = (Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup"))


def _cpu_cgroup_root() -> Path | None:
    for root in CGROUP_ROOTS:
        v2 = (root / "cgroup.controllers").exists()
        if (root / "cpu.shares").exists() or (v2 and "cpu" in (root / "cgroup.subtree_control").read_text().split()):
            if os.access(root, os.W_OK):
                return root
    return None


@contextlib.contextmanager
def idle_cpu_cgroup(name: str):
    """A CPU cgroup whose processes run only on cores nothing else wants (``cpu.idle``; else the least weight).

    The students' browsers go there to stand for browsers on the students' own machines: they still drive
    every session, but take no CPU time the server and the trainings want. Yields the cgroup's folder;
    raises ``RuntimeError`` (saying why) where no CPU cgroup can be made, e.g. not root or no cpu controller.
    """
    root = _cpu_cgroup_root()
    if root is None:
        raise RuntimeError(f"no writable CPU cgroup hierarchy at {' or '.join(map(str, CGROUP_ROOTS))} "
                           "(needs root and the cpu controller)")
    group = root / f"{name}-{os.getpid()}"
    group.mkdir()
    try:
        if (group / "cpu.idle").exists():
            (group / "cpu.idle").write_text("1")
        elif (group / "cpu.shares").exists():
            (group / "cpu.shares").write_text("2")  # v1's least weight, against 1,024 for everything else
        else:
            (group / "cpu.weight").write_text("1")
        yield group
    finally:
        for pid in (group / "cgroup.procs").read_text().split():  # stragglers back to the root, so it can go
            with contextlib.suppress(OSError):
                (root / "cgroup.procs").write_text(pid)
        group.rmdir()


async def run_load(home: Path, *, sessions: int, cap: int = DEFAULT_CAP, timeout: float = 300.0,
                   student_nice: int = STUDENT_BROWSER_NICE, probe_nice: int = 0,
                   students_cgroup: Path | None = None, probe_cgroup: Path | None = None) -> LoadReport:
    """Start a server in ``home``, warm it up with one student, then let ``sessions`` students in at once.

    ``students_cgroup``, ``probe_cgroup``: a cgroup for the students' browser, the Home probe's (e.g.
    :func:`idle_cpu_cgroup`).
    """
    from playwright.async_api import async_playwright

    t_setup = time.monotonic()
    server = start_server(home, cap)
    try:
        async with async_playwright() as pw:
            students_chromium = niced_chromium(home, student_nice, cgroup=students_cgroup)
            probe_chromium = niced_chromium(home, probe_nice, cgroup=probe_cgroup)
            browser = await pw.chromium.launch(executable_path=students_chromium, headless=True, args=CHROMIUM_ARGS)
            probe_browser = await pw.chromium.launch(executable_path=probe_chromium, headless=True, args=CHROMIUM_ARGS)
            rss_before = rss_mb(server.proc.pid)[0]
            # Warm-up: TensorFlow, the digits data, Plotly and the Evaluate caches load once per server;
            # the baseline is taken after them so the memory check measures what the class adds.
            warm = Student(index=0, seed=0)
            await _student(browser, server.url, warm, asyncio.Barrier(1), timeout)
            # The probe's first visit downloads and compiles Streamlit's JavaScript, which a student's
            # browser does once and then caches: done here, before the class, so the figure is the server's.
            probe_context = await probe_browser.new_context(viewport={"width": 1200, "height": 900})
            first = await probe_context.new_page()
            home_url = f"{server.url}/?key={await register(first, server.url, 'Home visitor')}"
            await first.close()
            await _load_home(probe_context, home_url)
            await asyncio.sleep(3)
            rss_warm = statistics.median(rss_mb(server.proc.pid)[0] for _ in range(3))
            setup_s = time.monotonic() - t_setup

            stop, rss_samples, loads, idle, starts = asyncio.Event(), [], [], [], []
            sampler = asyncio.create_task(_rss_sampler(server.proc.pid, rss_samples, stop))
            probe = asyncio.create_task(_home_probe(probe_context, home_url, loads, idle, stop, starts))
            students = [Student(index=i, seed=100 + i) for i in range(1, sessions + 1)]
            ready = asyncio.Barrier(sessions)
            outcomes = await asyncio.gather(*(_student(browser, server.url, s, ready, timeout) for s in students),
                                            return_exceptions=True)
            t_end = time.monotonic()
            stop.set()
            await asyncio.gather(probe, return_exceptions=True)
            await asyncio.sleep(SETTLE_AFTER_CLOSE_S)
            rss_end = statistics.median(rss_mb(server.proc.pid)[0] for _ in range(3))
            await sampler
            _, hwm = rss_mb(server.proc.pid)
            await probe_context.close()
            await browser.close()
            await probe_browser.close()
        failures = [f"student {s.index}: {o!r}" for s, o in zip(students, outcomes) if isinstance(o, BaseException)]
        if failures:
            raise AssertionError("; ".join(failures))
        first_click = min(s.clicked for s in students)
        return LoadReport(
            sessions=sessions, cap=cap, students=students, wall_s=t_end - first_click,
            training_wall_s=max(s.done for s in students) - first_click, page_loads_s=loads,
            page_loads_idle_s=idle, rss_warm_mb=rss_warm, rss_peak_mb=max(rss_samples, default=rss_warm),
            rss_hwm_mb=hwm, rss_end_mb=rss_end, rss_before_warmup_mb=rss_before,
            events=read_job_log(server.job_log), setup_s=setup_s,
            page_load_starts=starts[:len(loads)], first_click=first_click,
        )
    finally:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


def run_load_in_thread(home: Path, **kwargs) -> LoadReport:
    """:func:`run_load` on its own event loop in a worker thread (safe next to a sync Playwright in pytest)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run_load(home, **kwargs)).result()
