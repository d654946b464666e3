"""Issue 18's measurement: the time to the next answered click of one session while another session
uploads the worst file of each kind (target ≤ 3 s on 2 cores).

One `streamlit run app.py` on 127.0.0.1 (tests/e2e/conftest.py's ``running_app``) with a fresh CNNVIZ_HOME;
Debian chromium through Playwright's async API, one browser context per session:

- the uploader sends one worst file (built by tests/support/hostile_decode.py): a progressive JPEG with
  thousands of repeated scans on Convolution, a zip of 20 such JPEGs on Datasets' Make dataset, and 100
  tiny lossless WebPs that each decode to 6300×6300 on Pretrained ResNet50; its own time runs from
  handing the file(s) to the page to the page's answer (its message boxes change);
- meanwhile the clicker, on another page, clicks a control every 0.25 s and times each click in the page
  (``performance.now``) until the server's answer changes the DOM: Datasets' Reshuffle (new sample
  pictures) or Convolution's "Input size N" + (the shrinking chart redrawn). Its clicks before the
  upload, on the same warm page, are the quiet baseline.

Run from the repository root (loopback only):

    PYTHONPATH=. python benchmarks/hostile_click.py                   # all three kinds
    PYTHONPATH=. python benchmarks/hostile_click.py --kinds jpeg zip  # some of them
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, running_app  # noqa: E402
from tests.e2e.load_driver import open_from_sidebar, page_errors, wait_idle  # noqa: E402
from tests.support.hostile_decode import repeated_scan_jpeg, scan_zip, tiny_huge_webp  # noqa: E402
from benchmarks.scratch import scratch_dir  # noqa: E402

CLICK_EVERY_S = 0.25
QUIET_CLICKS = 8  # baseline clicks before the upload starts
TAIL_S = 2.0  # the clicker goes on this long after the upload was answered
ANSWER_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Clicker:
    """A control whose click the server answers by redrawing ``answer`` (a CSS selector)."""

    page_title: str
    control: str
    answer: str
    prepare: str = ""  # text to click first (e.g. to open an expander), "" for none


RESHUFFLE = Clicker("Datasets", ".st-key-datasets_reshuffle button", ".st-key-datasets_samples .js-plotly-plot")
SHRINK_N = Clicker("Convolution", '.st-key-conv_shrink_n [data-testid="stNumberInputStepUp"]',
                   ".st-key-conv_shrink_fig .js-plotly-plot")


@dataclass(frozen=True)
class Kind:
    """One worst file: where it is uploaded and where the other session clicks meanwhile."""

    name: str
    page_title: str
    upload_key: str  # the file uploader's widget key
    files: tuple  # Playwright's file payloads
    clicker: Clicker
    described: str


@dataclass
class Measured:
    kind: str
    quiet: list[float] = field(default_factory=list)
    during: list[float] = field(default_factory=list)
    unanswered: int = 0
    upload_s: float = float("nan")
    upload_answer: str = ""
    load: tuple[float, float] = (0.0, 0.0)

    def line(self) -> str:
        def stats(xs):
            return f"worst {max(xs):.2f} s, median {statistics.median(xs):.2f} s" if xs else "none"
        return (f"{self.kind}: upload answered in {self.upload_s:.1f} s; {len(self.during)} clicks during it: "
                f"{stats(self.during)}" + (f", {self.unanswered} unanswered" if self.unanswered else "")
                + f"; quiet before: {stats(self.quiet)}; load average {self.load[0]:.2f} → {self.load[1]:.2f}"
                + f"\n    the page said: {self.upload_answer[:200]!r}")


def kinds(selected: list[str]) -> list[Kind]:
    jpeg = repeated_scan_jpeg(6000, 20000)
    webp = tiny_huge_webp()
    zip_file = {"name": "scans.zip", "mimeType": "application/zip", "buffer": scan_zip(20, 6000, 5000)}
    webps = tuple({"name": f"{i:03d}.webp", "mimeType": "image/webp", "buffer": webp} for i in range(100))
    every = [
        Kind("jpeg", "Convolution", "conv_upload", ({"name": "scans.jpg", "mimeType": "image/jpeg", "buffer": jpeg},),
             RESHUFFLE, f"progressive JPEG 6000×6000 with 20,000 repeated scans ({len(jpeg):,} bytes) on Convolution"),
        Kind("zip", "Datasets", "datasets_zip", (zip_file,), SHRINK_N,
             "zip of 20 JPEGs 6000×6000 with 5,000 scans each on Datasets' Make dataset"),
        Kind("webp", "Pretrained ResNet50", "pre_upload", webps, RESHUFFLE,
             f"100 lossless WebPs of {len(webp)} bytes, each 6300×6300, on Pretrained ResNet50"),
    ]
    return [k for k in every if k.name in selected]


_TIMED_CLICK = """async ([control, answer, timeout]) => {
  const snapshot = () => { const el = document.querySelector(answer); return el ? el.innerHTML : null; };
  const before = snapshot();
  const button = document.querySelector(control);
  if (!button) return -1;
  const t0 = performance.now();
  button.click();
  while (performance.now() - t0 < timeout) {
    await new Promise(resolve => setTimeout(resolve, 20));
    const now = snapshot();
    if (now !== null && now !== before) return (performance.now() - t0) / 1000;
  }
  return null;
}"""


async def timed_click(page, clicker: Clicker) -> float | None:
    """Seconds from the click to the server's answer in the DOM (None: none within the timeout)."""
    took = await page.evaluate(_TIMED_CLICK, [clicker.control, clicker.answer, ANSWER_TIMEOUT_S * 1000])
    if took == -1:
        raise RuntimeError(f"no control {clicker.control!r} on {clicker.page_title}: {await page_errors(page)}")
    return took


async def alerts(page) -> str:
    return "\n".join(await page.locator('[data-testid="stMain"] [data-testid="stAlert"]').all_inner_texts())


async def open_page(context, url: str, title: str):
    page = await context.new_page()
    await page.goto(url, wait_until="commit", timeout=120_000)  # through the root: st.navigation runs once
    await wait_idle(page, timeout=180)
    await open_from_sidebar(page, title)
    return page


async def upload(page, kind: Kind, result: Measured, done: asyncio.Event) -> None:
    """Hand the file(s) to the page (and press Make dataset for the zip); time until the messages change."""
    try:
        before = await alerts(page)
        t0 = time.monotonic()
        await page.locator(f'.st-key-{kind.upload_key} [data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            list(kind.files))
        if kind.name == "zip":
            make = page.locator(".st-key-datasets_zip_import button:not([disabled])")
            await make.wait_for(timeout=ANSWER_TIMEOUT_S * 1000)
            await make.click()
        deadline = t0 + ANSWER_TIMEOUT_S
        while (now := await alerts(page)) == before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        result.upload_s = time.monotonic() - t0
        result.upload_answer = now.replace("\n", " ")
        await wait_idle(page, timeout=ANSWER_TIMEOUT_S)
    finally:
        done.set()


async def click_on(page, clicker: Clicker, out: list[float], result: Measured, stop) -> None:
    while not stop():
        started = time.monotonic()
        took = await timed_click(page, clicker)
        if took is None:
            result.unanswered += 1
        else:
            out.append(took)
        await asyncio.sleep(max(0.0, CLICK_EVERY_S - (time.monotonic() - started)))


async def measure(browser, url: str, kind: Kind) -> Measured:
    result = Measured(kind.name)
    up_ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    click_ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        uploader = await open_page(up_ctx, url, kind.page_title)
        if kind.name == "zip":
            await uploader.get_by_text("Make a dataset from your own images").click()
        else:
            await uploader.get_by_text("Upload", exact=True).first.click()
        await wait_idle(uploader)
        clicker = await open_page(click_ctx, url, kind.clicker.page_title)
        for _ in range(2):  # warm-up: the page's first answers load its caches
            await timed_click(clicker, kind.clicker)
        await click_on(clicker, kind.clicker, result.quiet, result, lambda: len(result.quiet) >= QUIET_CLICKS)
        result.unanswered = 0
        done = asyncio.Event()
        result.load = (os.getloadavg()[0], 0.0)
        ended = []

        def stop() -> bool:
            if done.is_set() and not ended:
                ended.append(time.monotonic())
            return bool(ended) and time.monotonic() - ended[0] > TAIL_S

        await asyncio.gather(upload(uploader, kind, result, done),
                             click_on(clicker, kind.clicker, result.during, result, stop))
        result.load = (result.load[0], os.getloadavg()[0])
        for page in (uploader, clicker):
            if problems := await page_errors(page):
                raise RuntimeError(f"{kind.name}: {problems}")
    finally:
        await up_ctx.close()
        await click_ctx.close()
    return result


async def run(url: str, selected: list[Kind]) -> list[Measured]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            results = []
            for kind in selected:
                print(f"{kind.name}: {kind.described}; the other session clicks on {kind.clicker.page_title}",
                      flush=True)
                results.append(await measure(browser, url, kind))
                print(results[-1].line(), flush=True)
            return results
        finally:
            await browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", choices=["jpeg", "zip", "webp"], default=["jpeg", "zip", "webp"])
    args = parser.parse_args(argv)
    selected = kinds(args.kinds)
    print(f"{os.cpu_count()} CPUs; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    home = Path(scratch_dir(prefix="cnnviz-hostile-click-"))
    with running_app(home, log_name="streamlit-hostile-click.log") as url:
        results = asyncio.run(run(url, selected))
    worst = max(max(r.during, default=float("nan")) for r in results)
    print(f"worst answered click during any upload: {worst:.2f} s (target ≤ 3 s); load average after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
