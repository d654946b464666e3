"""Patches of Streamlit internals the app needs, applied explicitly by ``app.py``, and the helpers that reach into
them (:func:`release_uploads`).

Each patch names the versions it was written against; :func:`install` logs a warning (and still
patches what it can) when the installed ones differ, so an upgrade is checked rather than trusted.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from importlib import metadata
from pathlib import Path

from streamlit.commands import page_config
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.scriptrunner import get_script_run_ctx, script_runner
from streamlit.runtime.uploaded_file_manager import DeletedFile, UploadedFile


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


#: The classroom settings (README, "For teachers"), which Streamlit reads from ``.streamlit/config.toml`` in the folder
#: it is started in: those of them that keep students safe, and the values the file gives them.
CONFIG_FILE = Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"
SAFE_SETTINGS = {"client.showErrorDetails": lambda value: value in ("none", False),
                 "server.maxUploadSize": lambda value: value <= 10}  # MB: the pages say "up to 10 MB"


def settings_warnings() -> list[str]:
    """One line when the safety settings of :data:`CONFIG_FILE` are not in effect (the server started elsewhere)."""
    from streamlit import config

    off = {name: config.get_option(name) for name, safe in SAFE_SETTINGS.items() if not safe(config.get_option(name))}
    if not off:
        return []
    return [f"Streamlit runs without cnnviz's classroom settings ({', '.join(f'{k} = {v!r}' for k, v in off.items())}: "
            f"students would see error details, or upload more than the pages say): start it from {CONFIG_FILE.parents[1]} "
            f"so that it reads {CONFIG_FILE}, or pass the settings as --options"]


@functools.cache
def install() -> None:
    """Apply every patch and warn about version drift or missing classroom settings, once per process (``app.py``
    calls it on every run)."""
    for line in version_warnings() + settings_warnings():
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


def release_uploads(files) -> int:
    """Let go of uploaded files the page will not use: the server keeps every upload in memory until the session
    ends or the student removes it in the browser, and ``st.file_uploader`` has no cap on how many (streamlit 1.67).

    The files are removed from the session's ``MemoryUploadedFileManager``, as Streamlit's own ``st.chat_input``
    does once it has read its attachments (``chat._pop_upload_files``), and emptied: session state keeps the
    ``UploadedFile`` objects until the browser next sends the uploader's state, and a widget returns deep copies of
    them, so pass the ones in ``st.session_state[key]``. (Emptied, not closed: Streamlit deep-copies them again
    when a run starts without the browser's state, e.g. after ``st.rerun()``, and a closed one cannot be copied.)
    The browser still lists them; later runs get them as ``DeletedFile`` (:func:`released_count`), which
    ``st.file_uploader`` leaves out.

    Args:
        files: ``UploadedFile`` objects.
    Returns:
        How many were released (0 where Streamlit keeps uploads some other way: nothing is done).
    """
    released = release_upload_ids([file.file_id for file in files])
    if released:
        for file in files:
            file.seek(0)
            file.truncate()
    return released


def release_upload_ids(file_ids) -> int:
    """Remove the session's uploaded files with these ids from the server's memory (:func:`release_uploads`), for
    files whose ``UploadedFile`` objects are gone with their widget's state; returns how many ids were given
    (0 where Streamlit keeps uploads some other way: nothing is done)."""
    file_ids = list(file_ids)
    if not file_ids:
        return 0
    ctx = get_script_run_ctx()
    manager = None if ctx is None else ctx.uploaded_file_mgr
    if not isinstance(manager, MemoryUploadedFileManager):
        log.warning("streamlit keeps uploads in %s, not in memory: unused uploads are not released "
                    "(cnnviz.app.compat)", type(manager).__name__)
        return 0
    for file_id in file_ids:
        manager.remove_file(session_id=ctx.session_id, file_id=file_id)
    return len(file_ids)


def held_uploads(value) -> list:
    """The ``UploadedFile`` objects of an uploader's value, ``st.session_state[key]``."""
    return [f for f in (value if isinstance(value, list) else [value]) if isinstance(f, UploadedFile)]


def released_count(value) -> int:
    """How many files of an uploader's value (``st.session_state[key]``) were released (:func:`release_uploads`)
    or are otherwise gone from the server while the browser still lists them."""
    return sum(isinstance(f, DeletedFile) for f in value) if isinstance(value, list) else 0
