"""Patches of Streamlit internals the app needs, applied explicitly by ``app.py``.

Each patch names the versions it was written against; :func:`install` logs a warning (and still
patches what it can) when the installed ones differ, so an upgrade is checked rather than trusted.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from importlib import metadata

from streamlit.commands import page_config
from streamlit.runtime.scriptrunner import script_runner


log = logging.getLogger("cnnviz")

#: ``major.minor`` of the packages whose internals the patches below (and the bit-identical resume's reads of
#: Keras layers' seed generators: cnnviz/training/checkpoint.py, cnnviz/data/augment.py) were written against.
WRITTEN_FOR = {"streamlit": "1.67", "keras": "3.15"}


def version_warnings() -> list[str]:
    """One line per patched package whose installed ``major.minor`` is not :data:`WRITTEN_FOR`'s."""
    lines = []
    for package, expected in WRITTEN_FOR.items():
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if ".".join(installed.split(".")[:2]) != expected:
            lines.append(f"cnnviz.app.compat was written for {package} {expected}, found {installed}: "
                         "check that its patches still apply (tests/app/test_compat.py)")
    return lines


@functools.cache
def install() -> None:
    """Apply every patch and warn about version drift, once per process (``app.py`` calls it on every run)."""
    for line in version_warnings():
        log.warning(line)
    spare_keras_after_script_runs()
    send_data_uri_icons_as_they_are()


def spare_keras_after_script_runs() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every script run.

    Streamlit's script runner does so after each run, fragment runs included, once Keras is
    imported (``script_runner._clean_problem_modules``, streamlit 1.67). With TensorFlow that resets
    the default graph, clears the process-wide eager kernel cache and runs ``gc.collect()``
    (keras ``global_state.clear_session``), under every training job on the server. The live
    panel reruns its fragment every second, so one student watching made a 5 s training take
    150-190 s (tests/e2e/test_load.py found it; benchmarks/README.md). Models here are built in job
    threads and shared read-only, so nothing needs that reset. Streamlit's other clean-up (closing
    matplotlib figures) is kept. Where Streamlit no longer has that function, a warning says so and
    nothing is patched.
    """
    if not hasattr(script_runner, "_clean_problem_modules"):
        log.warning("streamlit's script_runner has no _clean_problem_modules any more: the Keras patch is not needed "
                    "or must be rewritten (cnnviz.app.compat)")
        return
    if getattr(script_runner._clean_problem_modules, "spares_keras", False):
        return

    def clean_problem_modules_but_keras() -> None:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            with contextlib.suppress(Exception):  # as Streamlit: a failed clean-up must not break the page
                pyplot.close("all")

    clean_problem_modules_but_keras.spares_keras = True  # type: ignore[attr-defined]
    script_runner._clean_problem_modules = clean_problem_modules_but_keras


def send_data_uri_icons_as_they_are() -> None:
    """Give a page icon that is already a ``data:image/`` address to the browser as it is.

    Streamlit turns any image page icon into such an address with ``image_utils.image_to_url``, which imports
    numpy first (``page_config._get_favicon_string``, streamlit 1.67): ~60 ms of Home's first paint on a fresh
    server, for an icon that needs no conversion. Other icons go through Streamlit's own code.
    """
    real = getattr(page_config, "_get_favicon_string", None)
    if real is None:
        log.warning("streamlit's page_config has no _get_favicon_string any more: the page icon patch is not "
                    "applied (cnnviz.app.compat)")
        return
    if getattr(real, "passes_data_uris", False):
        return

    def favicon_string(page_icon):
        if isinstance(page_icon, str) and page_icon.startswith("data:image/"):
            return page_icon
        return real(page_icon)

    favicon_string.passes_data_uris = True  # type: ignore[attr-defined]
    favicon_string.__wrapped__ = real  # type: ignore[attr-defined]
    page_config._get_favicon_string = favicon_string


@functools.cache
def icon_data_uri(path: str) -> str:
    """The SVG file at ``path`` as a ``data:image/svg+xml`` address (what Streamlit would send for it)."""
    import base64
    from pathlib import Path

    return "data:image/svg+xml;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
