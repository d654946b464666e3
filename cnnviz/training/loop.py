"""Training one run: data, model, fit with progress and stop, test, save the run.

:func:`train` does the work synchronously; the worker processes of :mod:`cnnviz.training.worker`
call it for every job (training never runs in the web server's process). Its parts:
:mod:`~cnnviz.training.spec` (what to train), :mod:`~cnnviz.training.pipeline` (the data),
:mod:`~cnnviz.training.callbacks` (progress, stop, best weights, learning rate) and
:mod:`~cnnviz.training.tta` (test-time augmentation). A stopped run keeps its partial history
and is saved as ``"stopped"``. Keras is imported inside :func:`train`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from cnnviz.data import augment as augmentation
from cnnviz.data import scaling
from cnnviz.errors import InvalidArgument
from cnnviz.models import network, presets
from cnnviz.runs import notebook, predictions, rundata, saving, store
from cnnviz.training import callbacks as callbacks_
from cnnviz.training import checkpoint
from cnnviz.training import airbench, fastdata, pipeline, tta
from cnnviz.training.callbacks import Progress
from cnnviz.training.spec import TrainSpec


if TYPE_CHECKING:  # pragma: no cover
    import keras

    from cnnviz.data.datasets import Dataset

log = logging.getLogger("cnnviz.training.loop")

#: Training images the data-dependent first layer (patch whitening) is computed from (airbench: 5,000).
DATA_INIT_IMAGES = 5000


BuildFn = Callable[[tuple[int, int, int], int], "keras.Model"]

#: Seeding touches process-wide generators (Python, NumPy, TensorFlow): seed and build under it.
_SEED_LOCK = threading.Lock()


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did: the saved run (None when stopped before any batch)."""

    run: store.RunInfo | None
    stopped: bool


def _default_build(spec: TrainSpec) -> BuildFn:
    def build(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
        return network.build_model(spec.model, input_shape=input_shape, num_classes=num_classes)

    return build


def _preset_reference(spec: TrainSpec) -> dict:
    """The seed's result for a preset run, to show next to ours: its accuracy only when the run was set
    up as the notebook did (:func:`cnnviz.runs.notebook.notebook_figure` decides)."""
    if not spec.preset:
        return {}
    preset = presets.PRESETS.get(spec.preset)
    if preset is None:
        return {}
    if preset.family == "fast":  # not from a notebook: what it reaches on this kind of machine
        return {"preset_expected_test_accuracy": preset.expected.get("test_accuracy"),
                "preset_expected_seconds": preset.expected.get("seconds")}
    figure = notebook.notebook_figure(spec)
    return {"seed_test_accuracy": figure.shown_accuracy, "seed_result": figure.result,
            "seed_source": figure.source, "seed_dataset": preset.training.get("dataset"),
            "same_dataset_as_seed": preset.training.get("dataset") == spec.dataset,
            "notebook_differences": list(figure.differences)}


def train(
    spec: TrainSpec,
    *,
    build: BuildFn | None = None,
    stop_event: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    callbacks: Sequence[Any] = (),
    dataset: Dataset | None = None,
    checkpoint_dir: Path | None = None,
    resume_from: checkpoint.Checkpoint | None = None,
    owner: tuple[str, str] | None = None,
    job_id: str | None = None,
) -> TrainResult:
    """Train one run to the end (or until ``stop_event`` is set), test it and save it.

    Args:
        spec: what to train (validated first).
        build: ``build(input_shape, num_classes) -> compiled keras.Model``; default builds
            ``spec.model`` with :func:`cnnviz.models.network.build_model`.
        stop_event: set it to stop within one batch; the partial run is saved as "stopped".
        on_progress: receives a :class:`Progress` at most once a second (from this thread).
        callbacks: extra Keras callbacks (run before the progress callback).
        dataset: the full dataset ``spec.dataset`` if already loaded (read only).
        checkpoint_dir: save a checkpoint there after every finished epoch (:mod:`~cnnviz.training.checkpoint`).
        resume_from: go on from this checkpoint (its model, optimiser state, random states and history)
            instead of building a new model; the saved run's history and training time then start with the
            checkpoint's epochs, and it ends as the uninterrupted training would have when the checkpoint
            is exact (``resumed_exactly`` in its metrics).
        owner: ``(user id, display name)`` of whom the run belongs to (default: the teacher).
        job_id: the training job this run is saved for, kept in its config (a worker killed after saving it
            leaves a job the table ends by its saved run: :meth:`cnnviz.training.jobtable.JobTable.reap`).
    Returns:
        The saved run and whether it was stopped.
    """
    spec.validate()
    if owner is not None and not (isinstance(owner, tuple) and len(owner) == 2
                                  and all(isinstance(o, str) and o for o in owner)):
        raise InvalidArgument(f"a run's owner is (user id, display name), got {owner!r}")
    stop_event = stop_event or threading.Event()
    last = [Progress(phase="loading data", epochs=spec.epochs)]

    def publish(snapshot: Progress) -> None:
        last[0] = snapshot
        if on_progress is not None:
            on_progress(snapshot)

    def publish_phase(phase: str) -> None:  # keep the last numbers, so the bar does not jump back
        publish(dataclasses.replace(last[0], phase=phase, eta_s=None, elapsed_s=time.monotonic() - t_start,
                                    curve=callbacks_.final_curve(progress), note=""))

    t_start = time.monotonic()
    publish(last[0])
    data = pipeline.prepare_data(spec, full=dataset)
    if stop_event.is_set():
        return TrainResult(run=None, stopped=True)

    publish(Progress(phase="building", epochs=spec.epochs, elapsed_s=time.monotonic() - t_start))
    import keras

    own_build = build is None and resume_from is None  # data-dependent layers are ours to initialise
    build = build or _default_build(spec)
    done_before = resume_from.epochs_done if resume_from is not None else 0
    seconds_before = resume_from.fit_seconds if resume_from is not None else 0.0  # None: not known
    with _SEED_LOCK:  # the weights and the dropout layers' seeds follow spec.seed (a resumed run's, its checkpoint)
        keras.utils.set_random_seed(spec.seed)
        if resume_from is None:
            model = build(data.input_shape, data.num_classes)
        else:
            model = checkpoint.load_model(resume_from)
        augmenter = None
        if spec.augment is not None and not spec.augment.is_identity and not spec.prepadded:
            augmenter = augmentation.build_augmenter(spec.augment)
        one_hot = pipeline.wants_one_hot(model)
        common = dict(batch_size=spec.batch_size, affine=data.affine, num_classes=data.num_classes, one_hot=one_hot)
        if spec.prepadded:
            train_ds = fastdata.epoch_pipeline(data.x_train, data.y_train, seed=spec.seed, epochs=spec.epochs,
                                               first_epoch=done_before, **_fast_augment(spec.augment), **common)
        else:
            train_ds = pipeline.training_pipeline(
                data.x_train, data.y_train, seed=spec.seed, epochs=spec.epochs, first_epoch=done_before,
                augmenter=augmenter, augment_seed=spec.augment.seed if augmenter is not None else 0, **common)
        val_ds = pipeline.make_pipeline(data.x_val, data.y_val, **common) if data.x_val is not None else None
        if spec.tta != "none":  # predictions only: larger batches are cheaper
            common["batch_size"] = tta.PREDICT_BATCH
        test_ds = pipeline.make_pipeline(data.x_test, data.y_test, **common)
    t_init = time.monotonic()
    data_init = _init_from_data(spec, model, data) if own_build else []
    init_s = time.monotonic() - t_init

    steps = math.ceil(len(data.y_train) / spec.batch_size)
    kept = checkpoint.load_arrays(resume_from) if resume_from is not None else {}  # beside the model
    exact = resume_from is None or resume_from.exact  # these epochs are the uninterrupted training's
    progress, best = callbacks_.make_callbacks(
        epochs=spec.epochs, steps=steps, n_train=len(data.y_train), batch_size=spec.batch_size,
        stop_event=stop_event, publish=publish, keep_best=spec.keep_best,
        initial_history=resume_from.history if resume_from is not None else None,
        initial_best_weights=kept.get("best"),
    )
    fit_callbacks = [*callbacks, progress]
    fit_started = [0.0]  # set just before fit: a checkpoint keeps the training time of its epochs

    def fit_seconds_so_far() -> float | None:
        return None if seconds_before is None else seconds_before + time.monotonic() - fit_started[0]

    lookahead = None
    if spec.model.lookahead:
        lookahead = airbench.lookahead_callback(spec.epochs * steps, start_step=done_before * steps,
                                                average=kept.get("lookahead"))
        fit_callbacks.insert(0, lookahead)

    def beside_the_model() -> dict[str, list[np.ndarray]]:  # what a resumed run needs besides model.keras
        arrays = {}
        if lookahead is not None:
            arrays["lookahead"] = lookahead.average
        if spec.keep_best and best.weights is not None:
            arrays["best"] = best.weights
        return arrays

    airbench.scale_bias_learning_rate(model, spec.model.bn_bias_lr)  # not saved with the model: every time
    if spec.model.lr_schedule != "constant":
        fit_callbacks.insert(0, callbacks_.schedule_callback(spec.model.lr_schedule, spec.model.learning_rate,
                                                             spec.epochs * steps, start_step=done_before * steps))
    if val_ds is not None:
        fit_callbacks.append(best)
    if checkpoint_dir is not None:  # after the progress and best-weights callbacks: the epoch's history and weights
        fit_callbacks.append(checkpoint.callback(checkpoint_dir, progress, fit_seconds=fit_seconds_so_far,
                                                 arrays=beside_the_model, exact=exact))
    early = None
    if spec.early_stopping:
        early = callbacks_.early_stopping_callback(spec.patience, resume_from.history if resume_from else None)
        fit_callbacks.append(early)
    class_weight = pipeline.balanced_class_weights(data.y_train, data.num_classes) if spec.class_weights else None

    t_fit = fit_started[0] = time.monotonic()
    model.fit(
        train_ds, validation_data=val_ds, epochs=spec.epochs, callbacks=fit_callbacks,
        class_weight=class_weight, shuffle=False, verbose=0, initial_epoch=done_before,
        steps_per_epoch=steps,  # the pipeline holds every epoch left
    )
    fit_s = time.monotonic() - t_fit
    trained_batches = progress._done
    if trained_batches == 0:
        return TrainResult(run=None, stopped=True)

    publish_phase("testing")
    t_test = time.monotonic()
    published = [t_test]

    def testing(done: int, total: int) -> None:  # 10,000 images with test-time augmentation take 5-20 s
        if done >= total or time.monotonic() - published[0] >= callbacks_.PUBLISH_INTERVAL_S:  # as the batches do
            published[0] = time.monotonic()
            publish(dataclasses.replace(last[0], note=f"{done:,} of {total:,} test images",
                                        elapsed_s=time.monotonic() - t_start))

    # Predictions, not model.evaluate, even without TTA: the cross-entropy below needs them.
    test = tta.evaluate_tta(model, test_ds, data.y_test, tta=spec.tta, one_hot=one_hot, num_classes=data.num_classes,
                            progress=testing)
    tta_metrics = {} if spec.tta == "none" else {
        "test_tta": tta.TTA_DESCRIPTIONS[spec.tta],
        "test_accuracy_without_tta": round(test["accuracy_plain"], 6),
    }
    test_losses = _test_losses(spec, test, data.y_test)
    test_s = time.monotonic() - t_test

    history = dict(progress.history)
    completed = len(history["loss"]) - (1 - progress.partial_epoch if progress.partial_epoch else 0)
    metrics = {
        **test_losses,
        "test_accuracy": callbacks_.accuracy_from_logs(test),
        "epochs_completed": round(completed, 3),
        "best_epoch": best.best_epoch,
        "best_val_loss": callbacks_.finite(best.best) if best.best_epoch else None,
        "restored_best_weights": bool(spec.keep_best and best.weights is not None),  # a checkpoint keeps them
        "early_stopped": bool(early is not None and early.stopped_epoch > 0),
        **_fit_timing(fit_s, progress.images_done(), seconds_before=seconds_before, epochs_before=done_before,
                      n_train=len(data.y_train)),
        "test_seconds": round(test_s, 2),
        "n_train": int(len(data.y_train)),
        "n_val": 0 if data.y_val is None else int(len(data.y_val)),
        "n_test": int(len(data.y_test)),
        "params_total": int(model.count_params()),
        "params_trainable": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        **tta_metrics,
        **({"data_init_layers": data_init, "data_init_seconds": round(init_s, 2)} if data_init else {}),
        **_preset_reference(spec),
        **({"resumed_after_epoch": done_before, "resumed_exactly": exact} if resume_from is not None else {}),
    }
    config = {
        **spec.to_dict(),
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "scaling_affine": data.affine,
        "test_sha256": rundata.test_digest(data.x_test, data.y_test),  # pages refuse a replaced dataset's images
        "labels": "one_hot" if one_hot else "integer",
        **({"owner": owner[0], "owner_name": owner[1]} if owner else {}),
        **({"job_id": job_id} if job_id else {}),
    }
    publish_phase("saving")
    status = "stopped" if progress.stopped else "finished"
    info = saving.save_run(model, config=config, history=history, metrics=metrics, status=status)
    # Evaluate reads the answers, Robustness the single views (its original and mirrored copies).
    predictions.save(info.path, info.model_sha256, data.y_test, test["probabilities"], views=test["views"])
    return TrainResult(run=info, stopped=progress.stopped)


def _fit_timing(fit_s: float, images: int, *, seconds_before: float | None, epochs_before: int,
                n_train: int) -> dict:
    """``train_seconds`` and ``images_per_s`` of every epoch trained, a resumed run's earlier ones too, as
    ``epochs_completed`` counts them. When their time is not known (``seconds_before`` None: a checkpoint
    written before it was kept), both cover this part only and ``train_seconds_after_epoch`` says so."""
    if seconds_before is None:
        seconds, note = fit_s, {"train_seconds_after_epoch": epochs_before}
    else:  # a checkpoint holds whole epochs only: n_train images each
        seconds, images, note = seconds_before + fit_s, images + n_train * epochs_before, {}
    return {"train_seconds": round(seconds, 2), "images_per_s": round(images / seconds, 1) if seconds > 0 else None,
            **note}


def _fast_augment(augment: Any) -> dict:
    """The crop and flip of the pre-padded data path (:mod:`~cnnviz.training.fastdata`)."""
    if augment is None:
        return {"crop": 0, "flip": "none"}
    flip = "none" if augment.flip == "none" else "alternating" if augment.alternate_flip else "random"
    return {"crop": augment.crop, "flip": flip}


def _init_from_data(spec: TrainSpec, model: Any, data: pipeline.PreparedData) -> list[str]:
    """Compute the data-dependent weights (patch whitening) from the first training images."""
    if not network.data_init_layers(spec.model, data.num_classes):
        return []
    x = scaling.apply(data.x_train[:DATA_INIT_IMAGES], data.affine)
    return network.init_from_data(model, spec.model, x)


def _test_losses(spec: TrainSpec, test: dict, y: np.ndarray) -> dict:
    """``test_loss``: the training loss on the test set (label smoothing and all); ``test_cross_entropy``:
    the plain cross-entropy of the same predictions, the number the Evaluate page shows."""
    # lazy: evaluation imports scikit-learn (~1.6 s at start-up), needed only once a run is tested
    from cnnviz.inspect import evaluation

    probs = evaluation.as_probabilities(test["probabilities"])
    plain = evaluation.cross_entropy(probs, y)
    if spec.model.loss == "mean_squared_error":
        return {"test_loss": callbacks_.finite(test["loss"]), "test_cross_entropy": callbacks_.finite(plain)}
    smoothed = evaluation.cross_entropy(probs, y, label_smoothing=spec.model.label_smoothing)
    return {"test_loss": callbacks_.finite(smoothed), "test_cross_entropy": callbacks_.finite(plain)}
