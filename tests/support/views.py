"""The views of docs/notebooks.md: which page, what the home needs first (a trained run, a tiny CIFAR-10),
and what to do on the page, before a row's answer shows."""

from __future__ import annotations

from tests.support.runs import copy_runs, train_runs
from tests.support.specs import FLAT_MODEL, page_spec


def _layers(at):
    at.segmented_control(key="train_source").set_value("Layer by layer").run()
    at.selectbox(key="lb_template").set_value("seed003_q32").run()
    at.button(key="lb_load").click().run()


def _weights(at):
    at.toggle(key="train_class_weights").set_value(True).run()  # the counts and weights of the run's images


def _builder(at):
    at.segmented_control(key="train_source").set_value("My own network").run()


def _presets(at):
    at.segmented_control(key="train_source").set_value("A network from the notebooks").run()
    _weights(at)


def tiny_cifar(home) -> None:
    """CIFAR-10 with 100 training and 20 test images (tests/support/archives.py) in ``home``."""
    from cnnviz.data import datasets
    from tests.support.archives import tiny_archive_bytes

    archive = home.parent / "cifar-10-binary.tar.gz"
    archive.write_bytes(tiny_archive_bytes())
    datasets.import_cifar10(archive)


def _run(request) -> None:
    copy_runs(request.getfixturevalue("stored_runs")[0], request.getfixturevalue("cnnviz_home"))


def _cifar(request) -> None:
    tiny_cifar(request.getfixturevalue("cnnviz_home"))


def train_stored(home):
    """One tiny trained digits run (tests/support/specs.py's page run) in ``home``: (home, {"flat": run id})."""
    return home, train_runs(home, {"flat": page_spec(FLAT_MODEL)})


SETUPS = {  # view: (page file, what to do there first, what the home needs before the page opens)
    "convolution": ("convolution", None, None), "datasets": ("datasets", None, None),
    "build": ("build_train", None, None),
    "builder": ("build_train", _builder, None), "presets": ("build_train", _presets, _cifar),
    "layers": ("build_train", _layers, None), "experiments": ("experiments", None, None),
    "runs": ("runs", None, _run), "evaluate": ("evaluate", None, _run), "inside": ("inside", None, _run),
    "explain": ("explain", None, _run), "robustness": ("robustness", None, _run),
    "pretrained": ("pretrained", None, None), "transfer": ("transfer", None, None),
}


def open_view(view: str, app_path: str, request):
    """The page of ``view``, prepared and driven to where its rows' answers show."""
    from tests.support.pages import open_page

    page, setup, prepare = SETUPS[view]
    if prepare:
        prepare(request)
    at = open_page(app_path, f"app_pages/{page}.py")
    if setup:
        setup(at)
    assert not at.exception, at.exception
    return at
