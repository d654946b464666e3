"""cnnviz.app.caches: runs keyed by (run_id, model sha256), images by their full pixels, datasets shared
read-only (one copy per stored version), the scaling preview equal to the backend's."""

from __future__ import annotations

import numpy as np
import pytest
import streamlit as st

from cnnviz.app import caches
from cnnviz.data import datasets
from cnnviz.runs import predictions
from cnnviz.runs import store as runs
from cnnviz.training import loop as training
from tests.support.archives import tiny_batch, tiny_files, write_tiny_dir
from tests.support.models import tiny_build
from tests.support.specs import tiny_spec


def test_images_are_keyed_by_every_pixel_not_by_a_sample():
    seen = []

    @st.cache_data(hash_funcs=caches.BY_MODEL)
    def probe(image):
        seen.append(int(image.sum()))
        return int(image.sum())

    a = np.zeros((1000, 1000), dtype=np.uint8)  # 10^6 pixels: Streamlit alone would hash a sample of them
    b = a.copy()
    b[500, 500] = 1
    assert [probe(a), probe(b), probe(a.copy())] == [0, 1, 0]
    assert seen == [0, 1]


def test_a_run_is_keyed_by_its_id_and_model_checksum():
    run_id = training.train(tiny_spec(), build=tiny_build).run.run_id
    first, second = runs.load_run(run_id), runs.load_run(run_id)  # two objects, one stored run
    assert caches.model_key(first) == (run_id, runs.model_sha256(run_id))
    assert caches.run_key(first) == (*caches.model_key(first), "bundled")  # digits: the bundled dataset
    model, lock = caches.run_model(first)
    assert caches.run_model(second) == (model, lock)
    assert caches.run_test_set(first) is caches.run_test_set(second)


def test_shared_dataset_is_read_only_and_reused():
    a = caches.load_dataset("digits")
    assert caches.load_dataset("digits") is a
    assert not a.x_train.flags.writeable and not a.y_test.flags.writeable
    with pytest.raises(ValueError):
        a.x_train[0, 0, 0, 0] = 1


def test_reimport_gives_a_new_copy(tmp_path):
    datasets.import_cifar10(write_tiny_dir(tmp_path / "a"))
    first = caches.load_dataset("cifar10")
    files = tiny_files()
    files["test_batch.bin"] = tiny_batch(7, n=10)[2]
    datasets.import_cifar10(write_tiny_dir(tmp_path / "b", files))
    second = caches.load_dataset("cifar10")
    assert second is not first and len(second.y_test) == 10


def test_cached_scaling_preview_matches_backend():
    ds = caches.load_dataset("digits")
    opts = dict(train_size=500, test_size=100, validation_fraction=0.25, seed=1, sample=32)
    cached = caches.scaling_preview(ds, "standardize", **opts)
    direct = datasets.scaling_preview(ds, "standardize", **opts)
    np.testing.assert_array_equal(cached["scaled"], direct["scaled"])
    assert cached["stats"] == direct["stats"]


def test_image_digest_depends_on_pixels_and_shape():
    a = np.zeros((8, 8, 1), dtype=np.uint8)
    b = a.copy()
    b[3, 4, 0] = 1
    assert caches.image_digest(a) == caches.image_digest(a.copy())
    assert len({caches.image_digest(a), caches.image_digest(b), caches.image_digest(a.reshape(4, 16, 1))}) == 3


def test_every_inference_on_a_run_goes_through_its_one_compiled_pass():
    from cnnviz.inspect import evaluation, inference
    from cnnviz.runs.rundata import prepare_inputs

    info = runs.load_run(training.train(tiny_spec(), build=tiny_build).run.run_id)
    predictions.path(info.path).unlink()  # a run saved before the training job kept its answers
    model, _ = caches.run_model(info)
    forward = inference.compiled(model)
    data = caches.run_test_set(info)
    ev = caches.run_evaluation(info)
    assert forward.passes >= 1 and forward.images == len(data["x"])  # tested as trained (no TTA here)
    expected = model.predict(prepare_inputs(info, data["x"]), verbose=0)
    np.testing.assert_allclose(ev.probabilities, evaluation.as_probabilities(expected), atol=1e-5)
    np.testing.assert_allclose(caches.image_probabilities(info, data["x"][3]), ev.probabilities[3], atol=1e-5)
    assert forward.images == len(data["x"]) + 1
    assert forward._call.experimental_get_tracing_count() == 1  # traced once for every batch size


def test_store_forgets_the_least_recently_used():
    store = caches.ResultStore(max_entries=2)
    store.put("a", 1)
    store.put("b", 2)
    assert store.get("a") == 1  # now "b" is the oldest
    store.put("c", 3)
    assert (store.get("a"), store.get("b"), store.get("c"), len(store)) == (1, None, 3, 2)


@pytest.mark.parametrize("tta, selection", [("none", None), ("flip", None),
                                            ("none", {"subset": "first", "split": "shuffled"})])  # the notebooks'
def test_evaluate_reads_the_answers_the_training_job_kept_without_a_forward_pass(tta, selection):
    from cnnviz.inspect import evaluation, inference
    from cnnviz.runs.rundata import prepare_inputs

    info = runs.load_run(training.train(tiny_spec(tta=tta, selection=selection), build=tiny_build).run.run_id)
    model, _ = caches.run_model(info)
    forward = inference.compiled(model)
    data = caches.run_test_set(info)
    before = forward.images
    ev = caches.run_evaluation(info)
    assert forward.images == before  # not one image predicted again
    reference = evaluation.evaluate(model, data["x"], data["y"], data["class_names"], tta=tta,
                                    prepare=lambda b: prepare_inputs(info, b))
    np.testing.assert_allclose(ev.probabilities, reference.probabilities, atol=1e-5)
    assert ev.accuracy == pytest.approx(info.test_accuracy, abs=1e-6)  # the run's own accuracy, as it was tested
    assert abs(ev.loss - reference.loss) < 1e-5 and not ev.probabilities.flags.writeable


def _pictures_zip(offset: int) -> bytes:
    from tests.support.archives import make_zip
    from tests.support.images import photo, png_bytes

    return make_zip({f"{name}/{i:03d}.png": png_bytes(photo(16, 16, seed=offset + 100 * c + i))
                     for c, name in enumerate(("cats", "dogs")) for i in range(12)})


def test_a_replaced_dataset_is_refused_in_words_not_taken_for_the_runs_own_test_images():
    from cnnviz.errors import Unavailable
    from cnnviz.report import inputs as report_inputs
    from cnnviz.runs import rundata

    datasets.import_folder_zip(_pictures_zip(0), name="pics", image_size=16)
    info = runs.load_run(training.train(tiny_spec(dataset="folder:pics", train_size=None, test_size=None),
                                        build=tiny_build).run.run_id)
    ds = datasets.load("folder:pics")
    assert info.config["test_sha256"] == rundata.test_digest(ds.x_test, ds.y_test)
    assert caches.run_evaluation(info).accuracy == pytest.approx(info.test_accuracy, abs=1e-6)
    datasets.remove("folder:pics")
    datasets.import_folder_zip(_pictures_zip(5000), name="pics", image_size=16)  # the same labels, other pictures
    st.cache_data.clear()
    st.cache_resource.clear()
    message = "The dataset 'folder:pics' was replaced after this run was trained"
    with pytest.raises(Unavailable, match=message):
        caches.run_test_set(info)
    with pytest.raises(Unavailable, match=message):
        caches.run_evaluation(info)
    with pytest.raises(Unavailable, match=message):
        report_inputs.gather(info, rotate=False)
    info.config.pop("test_sha256")  # a run saved before the checksum existed: not checked, as before
    assert len(caches.run_test_set(info)["y"]) == len(ds.y_test)


def test_evaluate_predicts_again_when_the_kept_answers_are_another_models_or_damaged():
    from cnnviz.inspect import inference

    info = runs.load_run(training.train(tiny_spec(), build=tiny_build).run.run_id)
    model, _ = caches.run_model(info)
    forward = inference.compiled(model)
    n = len(caches.run_test_set(info)["y"])
    kept = predictions.path(info.path)
    with np.load(kept) as f:
        probs = f["probabilities"]
    predictions.save(info.path, "0" * 64, caches.run_test_set(info)["y"], probs)  # another model file's
    caches._evaluations().clear()
    caches.run_evaluation(info)
    assert forward.images == n
    kept.write_bytes(b"PK\x03\x04 not a zip")
    caches._evaluations().clear()
    caches.run_evaluation(info)
    assert forward.images == 2 * n


def test_the_fgsm_curve_moves_a_progress_bar_once_and_is_then_kept_for_every_session(monkeypatch):
    from cnnviz.app import explain as explain_cache
    from cnnviz.inspect import adversarial

    info = runs.load_run(training.train(tiny_spec(), build=tiny_build).run.run_id)
    shown = []

    class Bar:
        def progress(self, value, text=""):
            shown.append((value, text))

        def empty(self):
            shown.append("emptied")

    monkeypatch.setattr(st, "progress", lambda value, text="": Bar())
    monkeypatch.setattr(adversarial, "BATCH", 4)  # the tiny run's test images in several batches
    calls = []
    real = adversarial.accuracy_curve
    monkeypatch.setattr(adversarial, "accuracy_curve", lambda *a, **k: calls.append(k) or real(*a, batch_size=4, **k))
    curve = explain_cache.epsilon_curve(info, (0, 1, 2))
    n = len(caches.run_robustness_set(info)["y"])
    assert curve.count == n and curve.epsilons == (0.0, 1.0, 2.0) and len(calls) == 1
    assert shown[-2][0] == 1.0 and shown[-2][1].endswith(f"{n:,} of {n:,}") and shown[-1] == "emptied"
    assert len(shown) == -(-n // 4) + 1  # one move per batch, then gone
    assert explain_cache.epsilon_curve(info, (0, 1, 2)) is curve and len(calls) == 1  # kept: no attack again
    assert explain_cache.epsilon_curve(info, (0, 1)).epsilons == (0.0, 1.0) and len(calls) == 2


def _asked_at_once(monkeypatch, module, name: str, request) -> tuple[int, list]:
    """Two sessions make ``request()`` at once: the first computes (``module.name`` held up until the second
    waits for the network), the second waits. Returns how often ``module.name`` ran and both answers."""
    import threading

    inside, waiting = threading.Event(), threading.Event()
    calls = []

    class Bar:
        def progress(self, value, text=""):
            if caches.WAITING_TEXT in text:
                waiting.set()

        def empty(self):
            pass

    monkeypatch.setattr(st, "progress", lambda value=0.0, text="": Bar())
    real = getattr(module, name)

    def held_up(*args, **kwargs):
        calls.append(1)
        inside.set()
        assert waiting.wait(30), "the second session never said it waits for the network"
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, held_up)
    answers = [None, None]

    def ask(k):
        answers[k] = request()

    first = threading.Thread(target=ask, args=(0,))
    first.start()
    assert inside.wait(60)
    second = threading.Thread(target=ask, args=(1,))
    second.start()
    first.join(60)
    second.join(60)
    return len(calls), answers


def test_a_class_asking_for_the_same_robustness_copies_at_once_computes_them_once(monkeypatch):
    from cnnviz.app import sweeps
    from cnnviz.inspect import robustness

    info = runs.load_run(training.train(tiny_spec(), build=tiny_build).run.run_id)
    calls, (a, b) = _asked_at_once(monkeypatch, robustness, "variant_scores",
                                   lambda: sweeps.rotation_sweeps([info], (30, 60), fill="constant"))
    assert calls == 1
    (ra,), (rb,) = a.values(), b.values()
    np.testing.assert_array_equal(ra.accuracy, rb.accuracy)


def test_a_rotation_sweep_is_drawn_coarse_to_fine_while_it_is_computed_every_point_final():
    from cnnviz.app import sweeps

    info = runs.load_run(training.train(tiny_spec(), build=tiny_build).run.run_id)
    drawn = []
    angles = tuple(range(0, 360, 45))
    (final,) = sweeps.rotation_sweeps([info], angles, fill="constant", draw=drawn.append, draw_every_s=0).values()
    assert final.angles == tuple(float(a) for a in angles)
    assert [tuple(r.angles) for (r,) in (d.values() for d in drawn)] == [
        (0.0, 180.0), (0.0, 90.0, 180.0), (0.0, 90.0, 180.0, 270.0), (0.0, 45.0, 90.0, 180.0, 270.0),
        (0.0, 45.0, 90.0, 135.0, 180.0, 270.0), (0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0)]  # then the whole
    for (partial,) in (d.values() for d in drawn):
        at = [angles.index(int(a)) for a in partial.angles]
        np.testing.assert_array_equal(partial.accuracy, final.accuracy[at])
    drawn.clear()
    sweeps.rotation_sweeps([info], angles, fill="constant", draw=drawn.append, draw_every_s=0)
    assert drawn == []  # all stored: nothing to wait for


def test_a_class_asking_for_the_same_evaluation_at_once_predicts_once(monkeypatch):
    from cnnviz.inspect import evaluation

    info = runs.load_run(training.train(tiny_spec(), build=tiny_build).run.run_id)
    predictions.path(info.path).unlink()  # no kept answers: the network predicts them
    calls, (a, b) = _asked_at_once(monkeypatch, evaluation, "evaluate", lambda: caches.run_evaluation(info))
    assert calls == 1 and a is b


def test_a_class_asking_for_the_same_fgsm_curve_at_once_attacks_once(monkeypatch):
    from cnnviz.app import explain as explain_cache
    from cnnviz.inspect import adversarial

    info = runs.load_run(training.train(tiny_spec(), build=tiny_build).run.run_id)
    calls, (a, b) = _asked_at_once(monkeypatch, adversarial, "accuracy_curve",
                                   lambda: explain_cache.epsilon_curve(info, (0, 1)))
    assert calls == 1 and a is b
