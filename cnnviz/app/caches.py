"""Everything the pages load or compute more than once, cached for all sessions.

Objects shared by all sessions (datasets, Keras models) go in ``st.cache_resource`` and are never
trained or changed; arrays and results go in ``st.cache_data``. Arguments Streamlit would hash
slowly or wrongly get a ``hash_funcs`` key instead: a run by its id and its model's sha256 (plus its
dataset's fingerprint when its test images are involved), so a run deleted and replaced is never
served stale; an image by the sha256 of its pixels, because Streamlit hashes big arrays by sampling
them and two images could collide. Uploaded bytes are hashed whole by Streamlit. Inference on a
shared model goes through its one compiled forward pass (:mod:`cnnviz.inspect.inference`) and holds
its lock (Keras inference on one model is not thread-safe, tensorflow#61298). Results that take
seconds and want a progress bar while they are computed (Evaluate, the Robustness copies, ResNet50 itself and its
photos' Grad-CAM) are kept in a :class:`ResultStore` in ``st.cache_resource`` instead of ``st.cache_data``,
whose cached functions would replay their progress bars.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Callable, Hashable, Iterator

import numpy as np
import streamlit as st

from cnnviz.classroom.people import Person
from cnnviz.data import datasets, images, stored
from cnnviz.data import samples as data_samples
from cnnviz.errors import InvalidArgument, Unavailable
from cnnviz.inspect import evaluation, features, gradcam, inference
from cnnviz.inspect import imagenet as inspect_imagenet
from cnnviz.inspect import pretrained
from cnnviz.models.resnet50 import build_resnet50
from cnnviz.runs import predictions, rundata
from cnnviz.runs import store as runs
from cnnviz.runs.rundata import input_scaling, prepare_inputs


# --- keys ------------------------------------------------------------------------------------


def image_digest(image: np.ndarray) -> str:
    """sha256 of an image's shape, dtype and pixels: the cache key for one image."""
    img = np.ascontiguousarray(image)
    return hashlib.sha256(f"{img.shape}{img.dtype}".encode() + img.tobytes()).hexdigest()


def model_key(info: runs.RunInfo) -> tuple[str, str]:
    """A run's cache key where only its model matters: ``(run_id, model sha256)``."""
    return info.run_id, info.model_sha256


def run_key(info: runs.RunInfo) -> tuple[str, str, str]:
    """A run's cache key where its test images matter too: its model key and its dataset's fingerprint."""
    return (*model_key(info), stored.fingerprint(info.spec.dataset))


class ResultStore:
    """A thread-safe mapping that forgets the least recently used entries beyond ``max_entries``."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = int(max_entries)
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value stored under ``key`` (now the most recently used), or None."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value`` under ``key``, forgetting the oldest entries beyond ``max_entries``."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


#: ``hash_funcs`` of the functions of a run's model (and of one image).
BY_MODEL = {runs.RunInfo: model_key, np.ndarray: image_digest}
#: ``hash_funcs`` of the functions of a run's model on its own test images.
BY_RUN = {runs.RunInfo: run_key}


# --- datasets --------------------------------------------------------------------------------
#: Shared read-only datasets: one memory map per process for every session (CIFAR-10 is ~180 MB).
DATASET_CACHE_ENTRIES = 3


def load_dataset(name: str, viewer: Person | None = None) -> datasets.Dataset:
    """The shared, read-only :class:`cnnviz.data.datasets.Dataset` ``name`` (raises Unavailable, also for
    another student's import when ``viewer`` is given: checked before the shared copy is handed out)."""
    datasets.check_visible(name, viewer)
    # The key includes the stored file's fingerprint, which no argument carries: data imported
    # meanwhile (e.g. with the CLI) is loaded afresh.
    return _stored_dataset(name, stored.fingerprint(name))


@st.cache_resource(max_entries=DATASET_CACHE_ENTRIES, show_spinner="Loading the dataset…")
def _stored_dataset(name: str, fingerprint: str) -> datasets.Dataset:
    ds = datasets.load(name, mapped=True)  # images read only where used (a run's test draw: 6 of 184 MB)
    for arr in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        arr.flags.writeable = False  # shared by all sessions: nobody may change it
    return ds


def forget_datasets() -> None:
    """Drop the shared datasets (after a download or import replaced one)."""
    _stored_dataset.clear()


@st.cache_data(max_entries=16, show_spinner=False,
               hash_funcs={datasets.Dataset: lambda ds: (ds.name, stored.fingerprint(ds.name))})
def scaling_preview(ds: datasets.Dataset, method: str, *, train_size: int, test_size: int,
                    validation_fraction: float, seed: int, sample: int,
                    selection: datasets.Selection = datasets.STRATIFIED) -> dict:
    """``datasets.scaling_preview`` of a stored dataset: the statistics of 7,500 CIFAR-10 images
    take a moment and depend only on these arguments."""
    return datasets.scaling_preview(ds, method, train_size=train_size, test_size=test_size,
                                    validation_fraction=validation_fraction, seed=seed, sample=sample,
                                    selection=selection)


# --- a run's model and what is computed from it -------------------------------------------------


@st.cache_resource(max_entries=4, show_spinner="Loading the trained network…", hash_funcs=BY_MODEL)
def run_model(info: runs.RunInfo) -> tuple:
    """A saved run's Keras model, shared by all sessions, and the lock to hold while using it.

    Never train or change it: ``model, lock = caches.run_model(info)``; ``with lock:
    evaluation.predict_probabilities(model, x)``. Inference goes through the model's compiled forward
    pass (:func:`cnnviz.inspect.inference.compiled`, made here and kept as long as this entry: traced
    once per run id and model sha256 for float inputs and once for uint8 inputs scaled in the graph),
    never ``model.predict``.
    """
    model = runs.load_model(info.run_id)
    inference.compiled(model)
    return model, threading.Lock()


#: What a progress bar says while another session's work holds the network.
WAITING_TEXT = "waiting for the network: another student is using it…"


@contextlib.contextmanager
def model_turn(lock: threading.Lock, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold a shared model's ``lock``, calling ``on_wait()`` first when another session holds it (a
    bar then says why it stands still). Work that keeps its results for every session re-checks them
    inside: a class asking for the same result at once computes it once, the others take it."""
    if not lock.acquire(blocking=False):
        if on_wait is not None:
            on_wait()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def computed_once(store: ResultStore, key: Hashable, lock: threading.Lock, text: str,
                  compute: Callable[[Callable[[int, int], None]], Any]) -> Any:
    """``store[key]``, else ``compute(step)`` under the model's ``lock`` with a bar that ``step(done, total)``
    moves, kept in ``store`` for every session (looked up again inside the lock: see :func:`model_turn`)."""
    found = store.get(key)
    if found is not None:
        return found
    bar = st.progress(0.0, text=text)

    def step(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"{text} {done:,} of {total:,}")

    with model_turn(lock, lambda: bar.progress(0.0, text=f"{text} {WAITING_TEXT}")):
        found = store.get(key)  # another session's, computed while this one waited
        if found is None:
            found = compute(step)
            store.put(key, found)
    bar.empty()
    return found


@st.cache_resource(max_entries=4, show_spinner="Re-creating the run's test images…", hash_funcs=BY_RUN)
def run_test_set(info: runs.RunInfo) -> dict:
    """The run's own test images (uint8, read-only), labels and class names: ``{"x", "y", "class_names"}``."""
    full = load_dataset(info.spec.dataset)
    x, y = rundata.run_test_images(info, full=full)  # the test draw alone, read from the mapped file
    x, y = np.asarray(x), np.asarray(y, dtype=np.int64)
    rundata.check_test_images(info, x, y)
    for arr in (x, y):
        arr.flags.writeable = False  # shared by all sessions
    return {"x": x, "y": y, "class_names": tuple(full.class_names)}


@st.cache_resource(max_entries=4, show_spinner=False, hash_funcs=BY_RUN)
def run_robustness_set(info: runs.RunInfo) -> dict:
    """The test images Robustness transforms: :func:`run_test_set` cut to
    :data:`~cnnviz.inspect.robustness.SAMPLE_IMAGES` evenly spaced images, plus ``"of"``: how many the run has,
    and ``"keep"``: which they are."""
    from cnnviz.inspect import robustness

    data = run_test_set(info)
    keep = robustness.sample_indices(len(data["y"]), robustness.SAMPLE_IMAGES)
    x, y = data["x"][keep], data["y"][keep]
    for arr in (x, y, keep):
        arr.flags.writeable = False  # shared by all sessions
    return {"x": x, "y": y, "class_names": data["class_names"], "of": len(data["y"]), "keep": keep}


EVAL_CACHE_ENTRIES = 8
IMAGE_CACHE_ENTRIES = 32


@st.cache_resource(show_spinner=False)
def _evaluations() -> ResultStore:
    return ResultStore(EVAL_CACHE_ENTRIES)


def run_evaluation(info: runs.RunInfo) -> evaluation.Evaluation:
    """:func:`cnnviz.inspect.evaluation.evaluate` of a run on its own test set, tested as in training
    (scaling and test-time augmentation), so the page's accuracy is the run's accuracy.

    The answers the training job kept (:mod:`cnnviz.runs.predictions`) when they are this model's on
    these test images; otherwise computed once per run key for all sessions, with a progress bar that
    moves with every batch (a fast preset's 10,000 test images with TTA take 10-25 s on two cores).
    """
    store, key = _evaluations(), run_key(info)
    found = store.get(key)
    if found is None:
        data = run_test_set(info)
        kept = predictions.load(info.path, info.model_sha256, data["y"])  # the training job's answers
        if kept is None:
            return _predicted_evaluation(info, data, store, key)
        found = _shared(evaluation.evaluation_from_probabilities(kept, data["y"], data["class_names"]))
        store.put(key, found)
    return found


def _shared(found: evaluation.Evaluation) -> evaluation.Evaluation:
    for arr in (found.probabilities, found.y_true, found.predicted, found.confusion, found.confusion_normalized):
        arr.flags.writeable = False  # shared by all sessions
    return found


def _predicted_evaluation(info: runs.RunInfo, data: dict, store: ResultStore, key: Hashable) -> evaluation.Evaluation:
    model, lock = run_model(info)
    return computed_once(store, key, lock, "Predicting every test image…", lambda step: _shared(
        evaluation.evaluate(model, data["x"], data["y"], data["class_names"], tta=info.spec.tta,
                            prepare=input_scaling(info), progress=step)))  # scaled batch by batch, in the graph


@st.cache_data(max_entries=EVAL_CACHE_ENTRIES, show_spinner=False, hash_funcs=BY_MODEL)
def run_layers(info: runs.RunInfo) -> dict:
    """``{"maps": feature-map layers, "convs": conv layers, "last_conv": Grad-CAM default or None}``
    of a run's model."""
    model, lock = run_model(info)
    with lock:
        try:
            last_conv = gradcam.last_conv_layer_name(model)
        except InvalidArgument:
            last_conv = None
        return {"maps": features.inspectable_layers(model), "convs": features.conv_layers(model),
                "last_conv": last_conv}


@st.cache_data(max_entries=8, show_spinner="Reading your image…")
def inspect_upload(data: bytes, name: str, input_shape: tuple[int, int, int]) -> images.LoadedImage:
    """An upload decoded by the safe loader and resized to the model's input (H×W×C uint8).

    Raises ``ImageError`` with the loader's message for a bad file.
    """
    height, width, channels = (int(d) for d in input_shape)
    loaded = images.load_image(data, name=name, mode="L" if channels == 1 else "RGB")
    array = loaded.array
    notes = list(loaded.notes)
    if array.shape[:2] != (height, width):
        notes.append(f"resized from {array.shape[1]}×{array.shape[0]} to {width}×{height} pixels, the size "
                     "the network was trained on")
    array = images.resize(array, (height, width))
    if channels == 1:
        array = array[..., None]
        notes.append("made grey, as the network's training images")
    return replace(loaded, array=array, notes=tuple(notes))


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner=False, hash_funcs=BY_MODEL)
def image_probabilities(info: runs.RunInfo, image: np.ndarray) -> np.ndarray:
    """Class probabilities of one uint8 image H×W×C (scaled as the run was trained)."""
    model, lock = run_model(info)
    with lock:
        return evaluation.predict_probabilities(model, prepare_inputs(info, image[None]))[0]


def tested_answer(info: runs.RunInfo, index: int) -> np.ndarray | None:
    """Evaluate's answer (class probabilities) on test image ``index`` of a run tested with test-time
    augmentation, the answer its test accuracy counted; None for a run tested on each image as it is
    (then :func:`image_probabilities` is that answer)."""
    if info.spec.tta == "none":
        return None
    return run_evaluation(info).probabilities[index]


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner="Running the image through the network…",
               hash_funcs=BY_MODEL)
def feature_maps(info: runs.RunInfo, image: np.ndarray, layer: str, *, normalization: str, max_channels: int):
    """:func:`cnnviz.inspect.features.feature_maps` of one uint8 image."""
    model, lock = run_model(info)
    with lock:
        return features.feature_maps(model, prepare_inputs(info, image), layer, normalization=normalization,
                                     max_channels=int(max_channels))


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner=False, hash_funcs=BY_MODEL)
def layer_filters(info: runs.RunInfo, layer: str, *, max_filters: int, max_channels: int, scale: str):
    """:func:`cnnviz.inspect.features.layer_filters` of a run's model."""
    model, lock = run_model(info)
    with lock:
        return features.layer_filters(model, layer, max_filters=int(max_filters), max_channels=int(max_channels),
                                      scale=scale)


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner="Computing Grad-CAM…", hash_funcs=BY_MODEL)
def gradcam_heatmap(info: runs.RunInfo, image: np.ndarray, *, class_index: int | None,
                    layer: str | None) -> np.ndarray:
    """Grad-CAM heat map (H×W in [0, 1]) of one uint8 image for a class (None: the predicted one)."""
    model, lock = run_model(info)
    with lock:
        return gradcam.gradcam(model, prepare_inputs(info, image[None]),
                               class_index=None if class_index is None else int(class_index), layer_name=layer)


# --- the pretrained ResNet50 -------------------------------------------------------------------
# One ResNet50 per server, loaded from the weights on this machine only: cnnviz.app.downloads.resnet50
# downloads them first, with a progress bar. Loaded once for all sessions into a ResultStore in
# st.cache_resource, not by a cached function, whose note and bar Streamlit would replay at every hit; the lock
# makes a class opening the page at once load it once. Failures are not kept: missing weights are looked
# for again on the next rerun.

#: What the page says while ResNet50 is loaded, and why only the first time.
RESNET50_FIRST_LOAD = (
    "Loading ResNet50 into the server's memory: TensorFlow starts, the network's layers are built and its "
    "25.6 million weights are read from the disk, which takes a while on a small server. This happens once "
    "after the server starts; from then on every page and every student gets it at once."
)
#: What the bar says while another session loads it.
RESNET50_WAITING = "Another student's page is loading it: waiting for that load to end…"


@st.cache_resource(show_spinner=False)
def _resnet50_slot() -> tuple[ResultStore, threading.Lock]:
    return ResultStore(1), threading.Lock()


class _LoadNote:
    """The note and bar shown while a shared model loads: drawn at its first step (missing weights, found
    before any step, draw nothing), removed when the load ends or fails."""

    def __init__(self, why: str) -> None:
        self.why = why
        self.slot = self.bar = None

    def _bar(self):
        if self.slot is None:
            self.slot = st.empty()
            box = self.slot.container()
            box.info(self.why, icon=":material/hourglass_top:")
            self.bar = box.progress(0.0)
        return self.bar

    def step(self, done: int, total: int, words: str) -> None:
        self._bar().progress(min(1.0, done / max(total, 1)),
                             text=f"Step {min(done + 1, total)} of {total}: {words}…" if done < total else words)

    def waiting(self) -> None:
        self._bar().progress(0.0, text=RESNET50_WAITING)

    def remove(self) -> None:
        if self.slot is not None:
            self.slot.empty()


def resnet50() -> pretrained.SharedClassifier:
    """The shared :class:`cnnviz.inspect.pretrained.SharedClassifier`, loaded the first time with a note and a
    bar of the load's steps; raises Unavailable with how to fix it when its weights are not on this machine (it
    never downloads: see :func:`cnnviz.app.downloads.resnet50`)."""
    store, lock = _resnet50_slot()
    found = store.get("resnet50")
    if found is not None:
        return found
    note = _LoadNote(RESNET50_FIRST_LOAD)
    try:
        with model_turn(lock, note.waiting):
            found = store.get("resnet50")  # another session's, loaded while this one waited
            if found is None:
                found = pretrained.load_resnet50(download=False, progress=note.step)
                store.put("resnet50", found)
    finally:
        note.remove()
    return found


@st.cache_resource(show_spinner=False)
def _classifications() -> ResultStore:
    """Every session's classified photos: a ResultStore, not st.cache_data, which would replay the progress bar."""
    return ResultStore(8)


def _classified(clf: pretrained.SharedClassifier, photos: list[np.ndarray], explain: bool) -> list:
    """The photos classified with their MAX_TOP classes, once for all sessions (keyed by the classifier's weights
    and the photos' pixels); with ``explain``, a bar that moves with each photo's Grad-CAM (about a second each:
    12 photos took 16 s on the 2-core machine)."""
    store = _classifications()
    key = (clf.weights_source, tuple(image_digest(p) for p in photos), explain)
    found = store.get(key)
    if found is not None:
        return found
    if not explain:  # one forward pass
        with st.spinner("ResNet50 is looking at the photos..."):
            found = pretrained.classify(clf, list(photos), top=pretrained.MAX_TOP, explain=False)
    else:
        text = "ResNet50 is looking at the photos: Grad-CAM of photo"
        bar = st.progress(0.0, text=f"{text} 1 of {len(photos)}")

        def step(done: int, total: int) -> None:
            bar.progress(done / total, text=f"{text} {min(done + 1, total)} of {total}")

        found = pretrained.classify(clf, list(photos), top=pretrained.MAX_TOP, progress=step)
        bar.empty()
    store.put(key, found)
    return found


def classify_photos(clf: pretrained.SharedClassifier, photos: list[np.ndarray], *, top: int = 5,
                    explain: bool = True) -> list:
    """:func:`cnnviz.inspect.pretrained.classify` of photos (uint8 arrays), with their ``top`` classes and, with
    ``explain``, their Grad-CAM (about a second per photo, under the lock every student's page shares: a page
    that draws no heat map asks for none).

    The photos are classified once with their :data:`~cnnviz.inspect.pretrained.MAX_TOP` classes and cut to
    ``top``: listing more or fewer classes does not run ResNet50 and its Grad-CAM again.
    """
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= pretrained.MAX_TOP:
        raise InvalidArgument(f"top must be 1..{pretrained.MAX_TOP}, got {top!r}")
    return [replace(result, top=result.top[:top]) for result in _classified(clf, photos, bool(explain))]


@st.cache_data(max_entries=8, show_spinner="Reading the photos...")
def load_photos(files: list[tuple[str, bytes]]) -> tuple[list, list[str]]:
    """:func:`cnnviz.inspect.pretrained.load_photos` of ``(name, bytes)`` uploads, so reruns do not decode again."""
    return pretrained.load_photos(list(files))


@st.cache_data(max_entries=1)
def sample_photos() -> dict:
    """The bundled sample photos, ``{name: uint8 array}``."""
    return data_samples.sample_photos()


def resnet50_facts() -> tuple[dict, list[dict]]:
    """``(model_facts, stage_table)`` of the shared model, or of the bare architecture when the
    weights are missing (the facts do not depend on the weights)."""
    try:
        clf = resnet50()
    except Unavailable:
        return _architecture_facts()
    return _classifier_facts(clf)


@st.cache_data(max_entries=4, hash_funcs={pretrained.SharedClassifier: lambda clf: (
    clf.model.name, clf.model.count_params(), clf.weights_source)})
def _classifier_facts(clf: pretrained.SharedClassifier) -> tuple[dict, list[dict]]:
    return inspect_imagenet.model_facts(clf.model), inspect_imagenet.stage_table(clf.model)


@st.cache_data(max_entries=1, show_spinner="Building ResNet50's layers to count them...")
def _architecture_facts() -> tuple[dict, list[dict]]:
    model = build_resnet50()
    return inspect_imagenet.model_facts(model), inspect_imagenet.stage_table(model)


@st.cache_data(max_entries=4, show_spinner="Picking CIFAR-10 images...")
def cifar_bridge_images(count: int, seed: int) -> list:
    """A few CIFAR-10 test images with their class names; raises Unavailable when CIFAR-10 is absent."""
    return pretrained.cifar_bridge_images(pretrained.load_cifar10_for_bridge(), count=count, seed=seed)
