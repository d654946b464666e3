"""Pretrained ResNet50 backend with weights=None: class names, preprocessing, pipeline, facts,
weights files, the offline message, downloads from a loopback server, threads, uploads."""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import threading

import numpy as np
import pytest

from cnnviz import storage, weights
from cnnviz.data import samples
from cnnviz.errors import InvalidArgument, Unavailable
from cnnviz.inspect import imagenet, pretrained
from cnnviz.models import resnet50 as resnet50_model
from tests.support.http import loopback_server, md5, refused_url
from tests.support.images import photo, png_bytes


@pytest.fixture(scope="module")
def resnet():
    """ResNet50 with random weights, built once for the module (slow on 2 cores)."""
    return resnet50_model.build_resnet50()


@pytest.fixture(scope="module")
def clf(resnet):
    return pretrained.SharedClassifier(resnet, weights_source="random weights (test)")


# --- class names ------------------------------------------------------------------------------------


def test_class_index_is_keras_file_byte_for_byte():
    from keras.src.applications import imagenet_utils

    keras_hash = re.search(r'file_hash="([0-9a-f]{32})"', inspect.getsource(imagenet_utils.decode_predictions)).group(1)
    assert imagenet.CLASS_INDEX_MD5 == keras_hash
    assert hashlib.md5(imagenet.CLASS_INDEX_PATH.read_bytes()).hexdigest() == keras_hash
    names = imagenet.class_index()
    assert len(names) == 1000
    assert names[0] == ("n01440764", "tench") and names[-1] == ("n15075141", "toilet_tissue")
    wnids = [w for w, _ in names]
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000


def test_decode_equals_keras_decode_predictions(monkeypatch):
    import keras
    from keras.src.applications import imagenet_utils

    # The reference: Keras' own decode_predictions with CLASS_INDEX loaded from our file the way
    # it loads its download (json.load), so nothing is fetched.
    with open(imagenet.CLASS_INDEX_PATH) as fh:
        monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", json.load(fh))
    rng = np.random.default_rng(0)
    preds = rng.random((4, 1000)).astype(np.float32)
    preds[1, [5, 17, 900]] = 0.999  # ties keep Keras' order too
    preds /= preds.sum(axis=1, keepdims=True)
    for top in (1, 5, 10):
        ours = imagenet.decode(preds, top=top)
        theirs = keras.applications.resnet50.decode_predictions(preds, top=top)
        assert [[(w, lbl) for w, lbl, _ in row] for row in ours] == [[(w, lbl) for w, lbl, _ in row] for row in theirs]
        np.testing.assert_array_equal([[p for *_, p in row] for row in ours], [[p for *_, p in row] for row in theirs])


def test_decode_rejects_bad_shapes():
    with pytest.raises(InvalidArgument, match=r"expected predictions of shape \(N, 1000\), got \(3, 10\)"):
        imagenet.decode(np.zeros((3, 10)))
    with pytest.raises(InvalidArgument, match="top must be 1..1000, got 0"):
        imagenet.decode(np.zeros((1, 1000)), top=0)


# --- preprocessing -----------------------------------------------------------------------------------


def test_preprocess_equals_keras_preprocess_input():
    import keras

    batch = np.random.default_rng(1).integers(0, 256, size=(3, 224, 224, 3)).astype(np.uint8)
    reference = keras.applications.resnet50.preprocess_input(batch.astype(np.float32))
    ours = resnet50_model.preprocess_input(batch)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, reference)
    np.testing.assert_array_equal(resnet50_model.preprocess_input(batch[0]),
                                  keras.applications.resnet50.preprocess_input(batch[0].astype(np.float32)))
    with pytest.raises(InvalidArgument, match=r"3 channels last, got shape \(224, 224\)"):
        resnet50_model.preprocess_input(batch[0, ..., 0])


def test_prepare_keeps_every_step():
    import keras

    from cnnviz.data.images import fit_within, resize

    img = photo(600, 800)
    prep = pretrained.prepare(img)
    assert prep.original_size == (600, 800) and prep.thumbnail.shape == (336, 448, 3)
    np.testing.assert_array_equal(prep.thumbnail, fit_within(img, pretrained.THUMBNAIL_PX))
    np.testing.assert_array_equal(prep.resized, resize(img, (224, 224)))
    np.testing.assert_array_equal(prep.bgr, prep.resized[..., ::-1])
    np.testing.assert_array_equal(prep.input, keras.applications.resnet50.preprocess_input(prep.resized.astype(np.float32)))
    grey = pretrained.prepare(img[..., 0], size=(32, 48))
    assert grey.resized.shape == (32, 48, 3) and grey.thumbnail.shape == (336, 448, 3)
    with pytest.raises(InvalidArgument, match="expected a uint8 image, got dtype float32"):
        pretrained.prepare(img.astype(np.float32))
    with pytest.raises(InvalidArgument, match=r"expected an RGB image H×W×3, got shape \(4, 4, 2\)"):
        pretrained.prepare(np.zeros((4, 4, 2), np.uint8))


# --- the pipeline on ResNet50(weights=None) ----------------------------------------------------------


def test_full_pipeline_on_generated_photos(clf):
    photos = [photo(300, 400, seed=1), photo(224, 224, seed=2), photo(50, 90, seed=3)]
    results = pretrained.classify(clf, photos, top=5)
    assert len(results) == 3
    for img, res in zip(photos, results):
        assert res.prepared.original_size == img.shape[:2]
        assert res.prepared.resized.shape == (224, 224, 3) and res.prepared.input.shape == (224, 224, 3)
        assert res.probabilities.shape == (1000,)
        assert res.probabilities.sum() == pytest.approx(1.0, abs=1e-4)
        probs = [p for *_, p in res.top]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
        assert res.top[0][0] == imagenet.class_index()[int(np.argmax(res.probabilities))][0]
        assert res.heatmap.shape == (224, 224) and res.heatmap.min() >= 0 and res.heatmap.max() <= 1
    # A batch gives what each photo gives alone.
    alone = pretrained.classify(clf, [photos[2]], top=5, explain=False)[0]
    np.testing.assert_allclose(alone.probabilities, results[2].probabilities, rtol=1e-4, atol=1e-6)
    assert alone.heatmap is None


def test_classify_and_classifier_validate(clf):
    with pytest.raises(InvalidArgument, match=r"give 1\.\.12 photos at a time, got 0"):
        pretrained.classify(clf, [])
    with pytest.raises(InvalidArgument, match=r"top must be 1\.\.20, got 21"):
        pretrained.classify(clf, [photo(10, 10)], top=21)
    with pytest.raises(InvalidArgument, match=r"expected a batch N×224×224×3, got shape \(1, 32, 32, 3\)"):
        clf.probabilities(np.zeros((1, 32, 32, 3)))


def test_concurrent_predictions_equal_serial_ones(clf):
    batches = [resnet50_model.preprocess_input(photo(224, 224, seed=s)[None]) for s in range(4)]
    serial = [clf.probabilities(b) for b in batches]
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = clf.probabilities(batches[i])
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    for i in range(4):
        np.testing.assert_allclose(results[i], serial[i], rtol=1e-6, atol=1e-7)


def test_shared_classifier_requires_1000_classes():
    import keras

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(name="f"),
                              keras.layers.Dense(10, name="d")], name="ten")
    with pytest.raises(InvalidArgument, match=r"1000 ImageNet outputs, got \(None, 10\)"):
        pretrained.SharedClassifier(model, weights_source="x")


# --- facts --------------------------------------------------------------------------------------------


def test_resnet50_facts(resnet):
    facts = imagenet.model_facts(resnet)
    assert facts["conv_layers"] == 53 and facts["dense_layers"] == 1
    assert facts["weighted_depth"] == 50  # 49 convolutions + 1 dense on the longest path
    assert facts["side_weighted_layers"] == [f"conv{s}_block1_0_conv" for s in (2, 3, 4, 5)]
    assert facts["total_params"] == 25_636_712
    assert facts["trainable_params"] == 25_583_592 and facts["non_trainable_params"] == 53_120
    assert facts["input_shape"] == (224, 224, 3) and facts["classes"] == 1000
    assert facts["keras_layers"] == 177
    text = imagenet.depth_explanation(facts)
    assert "50 layers that have weights (49 convolutions and 1 dense)" in text
    assert "The other 4 convolutions (conv2_block1_0_conv" in text
    assert "25,583,592² ≈ 6.5e+14 entries: about 2.6 petabytes" in imagenet.hessian_note(facts)


def test_resnet50_stage_table(resnet):
    rows = imagenet.stage_table(resnet)
    assert [r["stage"] for r in rows] == ["input", "conv1 (stem)", "conv2", "conv3", "conv4", "conv5", "head"]
    assert [r["blocks"] for r in rows] == [0, 0, 3, 4, 6, 3, 0]
    assert sum(r["params"] for r in rows) == 25_636_712
    assert sum(r["conv_layers"] for r in rows) == 53
    assert [r["output_shape"] for r in rows] == ["224×224×3", "56×56×64", "56×56×256", "28×28×512",
                                                 "14×14×1024", "7×7×2048", "1000"]
    assert rows[-1]["params"] == 2048 * 1000 + 1000


def test_facts_of_small_sequential_by_hand():
    import keras

    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(2, 3, name="c1"),  # 3*3*1*2 + 2 = 20
        keras.layers.BatchNormalization(name="bn"),  # 4*2 = 8 (4 trainable)
        keras.layers.Conv2D(3, 3, name="c2"),  # 3*3*2*3 + 3 = 57
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(4, name="out"),  # 4*4*3*4 + 4 = 196
    ], name="small")
    facts = imagenet.model_facts(model)
    assert facts["weighted_depth"] == 3 and facts["side_weighted_layers"] == []
    assert facts["conv_layers"] == 2 and facts["dense_layers"] == 1
    assert facts["total_params"] == 20 + 8 + 57 + 196 and facts["trainable_params"] == 20 + 4 + 57 + 196


# --- weights on disk ------------------------------------------------------------------------------------


def test_weights_file_by_path_gives_identical_predictions_step_by_step(resnet, clf, tmp_path, keras_home, monkeypatch):
    path = tmp_path / "random.weights.h5"
    resnet.save_weights(str(path))
    x = resnet50_model.preprocess_input(np.stack([photo(224, 224, seed=9), photo(224, 224, seed=10)]))
    steps = []
    loaded = pretrained.load_resnet50(weights_path=path, download=False,
                                      progress=lambda *step: steps.append(step))
    assert loaded.weights_source == f"weights from {path}"
    megabytes = f"{path.stat().st_size / 1e6:,.0f}"
    assert steps == [(0, 3, "starting TensorFlow"), (1, 3, "building the network's layers"),
                     (2, 3, f"reading its {megabytes} MB of ImageNet weights from the disk"), (3, 3, "ready")]
    np.testing.assert_array_equal(loaded.probabilities(x), clf.probabilities(x))
    monkeypatch.setenv(weights.RESNET50.env, str(path))  # the same file through the environment
    assert weights.resolve_weights(weights.RESNET50, download=False) == path


def test_explicit_weights_errors(tmp_path, keras_home, monkeypatch):
    with pytest.raises(Unavailable, match=re.escape(f"the ResNet50 weights file {tmp_path / 'no.h5'} does not exist")):
        weights.resolve_weights(weights.RESNET50, tmp_path / "no.h5")
    monkeypatch.setenv(weights.RESNET50.env, str(tmp_path / "env.h5"))
    with pytest.raises(Unavailable, match=re.escape(f"env.h5 (from {weights.RESNET50.env}) does not exist")):
        weights.resolve_weights(weights.RESNET50)
    with pytest.raises(InvalidArgument, match="must be a path on this machine, got 'https://x/y.h5'"):
        weights.resolve_weights(weights.RESNET50, "https://x/y.h5")
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(InvalidArgument, match=re.escape(f"could not read ResNet50 weights from {junk}:")):
        pretrained.load_resnet50(weights_path=junk)


def test_offline_without_weights_says_what_and_how(keras_home, cnnviz_home):
    with pytest.raises(Unavailable) as err:
        pretrained.load_resnet50(download=False)
    expected = (
        "ResNet50's ImageNet weights are not on this machine: resnet50_weights_tf_dim_ordering_tf_kernels.h5 "
        f"(about 100 MB) is not in {cnnviz_home / 'weights'} or {keras_home / 'models'}. "
        "To fix it, run `python -m cnnviz download resnet50` on this machine while it is online (it saves the "
        f"file to {cnnviz_home / 'weights'}), or copy the file there from another machine "
        "(`python -m cnnviz download resnet50 --from FILE` checks and copies it), or set CNNVIZ_RESNET50_WEIGHTS "
        "to the file's path. Every other page of the lab works without it."
    )
    assert str(err.value) == expected


def test_offline_download_attempt_is_reported(keras_home, cnnviz_home):
    url = refused_url()
    with pytest.raises(Unavailable) as err:
        pretrained.load_resnet50(url=url)
    msg = str(err.value)
    assert (f", and downloading it failed: could not download {url}: [Errno 111] Connection refused (this machine "
            "looks offline, or the address is wrong). To fix it") in msg
    assert "run `python -m cnnviz download resnet50`" in msg
    assert not (cnnviz_home / "weights" / weights.RESNET50.file).exists()


def test_download_from_loopback_server(keras_home, cnnviz_home):
    payload = bytes(range(256)) * 12_000  # 3 MB: several chunks
    seen = []
    with loopback_server({"/w.h5": payload}) as mirror:
        path = weights.download_weights(weights.RESNET50, url=mirror.base + "/w.h5", md5=md5(payload),
                                           progress=lambda done, total: seen.append((done, total)))
        assert path == cnnviz_home / "weights" / weights.RESNET50.file
        assert path.read_bytes() == payload
        assert seen[-1] == (len(payload), len(payload)) and len(seen) >= 3
        # A good copy is not fetched again; resolve_weights finds it (checksum) without the network.
        assert weights.download_weights(weights.RESNET50, url=mirror.base + "/w.h5", md5=md5(payload)) == path
        assert weights.resolve_weights(weights.RESNET50, md5=md5(payload), download=False) == path
        assert mirror.hits == ["/w.h5"]
    assert storage.remove_temporaries(cnnviz_home) == []


def test_download_rejects_a_wrong_checksum_and_keeps_nothing(keras_home, cnnviz_home):
    with loopback_server({"/w.h5": b"corrupted"}) as mirror:
        with pytest.raises(Unavailable, match=re.escape(f"has MD5 {md5(b'corrupted')}, not the expected {'0' * 32}")):
            weights.download_weights(weights.RESNET50, url=mirror.base + "/w.h5", md5="0" * 32)
        with pytest.raises(Unavailable, match=re.escape(f"could not download {mirror.base}/missing.h5: the server answered HTTP 404 (Not Found)")):
            weights.download_weights(weights.RESNET50, url=mirror.base + "/missing.h5", md5="0" * 32)
    folder = cnnviz_home / "weights"
    assert not folder.exists() or list(folder.iterdir()) == []
    with pytest.raises(InvalidArgument, match="must start with http:// or https://, got 'file:///etc/passwd'"):
        weights.download_weights(weights.RESNET50, url="file:///etc/passwd")
    with pytest.raises(InvalidArgument, match="the expected MD5 must be 32 hex digits, got 'abc'"):
        weights.download_weights(weights.RESNET50, url="http://127.0.0.1/x", md5="abc")


def test_resolve_skips_a_damaged_copy_and_downloads(keras_home, cnnviz_home):
    payload = b"good weights" * 1000
    damaged = keras_home / "models" / weights.RESNET50.file
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"half a download")
    with pytest.raises(Unavailable, match=re.escape(f"({damaged} is there but its checksum is wrong)")):
        weights.resolve_weights(weights.RESNET50, md5=md5(payload), download=False)
    with loopback_server({"/w.h5": payload}) as mirror:
        path = weights.resolve_weights(weights.RESNET50, url=mirror.base + "/w.h5", md5=md5(payload), download=True)
    assert path == cnnviz_home / "weights" / weights.RESNET50.file and path.read_bytes() == payload


def test_cli_download_and_copy(keras_home, cnnviz_home, tmp_path, capsys):
    from cnnviz.cli import main

    payload = b"weights" * 50_000
    dest = cnnviz_home / "weights" / weights.RESNET50.file
    with loopback_server({"/w.h5": payload}) as mirror:
        assert main(["download", "resnet50", "--url", mirror.base + "/w.h5", "--md5", md5(payload)]) == 0
        assert dest.read_bytes() == payload
        assert main(["download", "resnet50", "--url", mirror.base + "/w.h5", "--md5", md5(payload)]) == 0
        assert mirror.hits == ["/w.h5"]
    out = capsys.readouterr().out
    assert f"ResNet50 ImageNet weights downloaded and checked: {dest}" in out and f"already here: {dest}" in out
    dest.unlink()
    brought = tmp_path / "usb.h5"
    brought.write_bytes(payload)
    assert main(["download", "resnet50", "--from", str(brought), "--md5", md5(payload)]) == 0
    assert dest.read_bytes() == payload
    assert main(["download", "resnet50", "--from", str(brought)]) == 2
    assert f"error: {brought} has MD5 {md5(payload)}, but Keras'" in capsys.readouterr().err
    assert main(["download", "resnet50", "--url", refused_url()]) == 2
    assert "Connection refused" in capsys.readouterr().err


def test_status_without_and_with_weights(keras_home, cnnviz_home):
    item = weights.status()[0]
    assert item["present"] is False and item["how_to_get"] == "`python -m cnnviz download resnet50`"
    storage.atomic_write_bytes(cnnviz_home / "weights" / weights.RESNET50.file, b"x")
    item = weights.status()[0]
    assert item["present"] is True and str(cnnviz_home / "weights") in item["detail"]


# --- photos -------------------------------------------------------------------------------------------


def test_bad_uploads_get_the_loaders_messages():
    from cnnviz.data.images import ImageError, load_image

    good = png_bytes(photo(20, 30))
    bad = [("empty.png", b""), ("notes.txt", b"hello, this is text"), ("cut.png", good[:40])]
    photos, messages = pretrained.load_photos([("ok.png", good), *bad])
    assert [p.name for p in photos] == ["ok.png"] and photos[0].array.shape == (20, 30, 3)
    expected = []
    for name, data in bad:
        with pytest.raises(ImageError) as err:
            load_image(data, name=name)
        expected.append(str(err.value))
    assert messages == expected


def test_big_uploads_are_shrunk_on_load():
    from cnnviz.data.images import fit_within

    big = photo(1500, 2000)
    [p], messages = pretrained.load_photos([("big.png", png_bytes(big))])
    assert messages == [] and p.array.shape == (768, 1024, 3)
    np.testing.assert_array_equal(p.array, fit_within(big, 1024))


def test_too_many_photos_are_cut_with_a_message():
    data = png_bytes(photo(8, 8))
    photos, messages = pretrained.load_photos([(f"p{i}.png", data) for i in range(14)])
    assert len(photos) == 12
    assert messages == ["ResNet50 looks at 12 photos at a time: left out `p12.png`, `p13.png`."]


def test_sample_photos_are_bundled():
    photos = samples.sample_photos()
    assert list(photos) == ["china.jpg", "flower.jpg"]
    assert all(a.dtype == np.uint8 and a.shape == (427, 640, 3) for a in photos.values())


def test_cifar_bridge_picks_one_image_per_class():
    from cnnviz.data.datasets import Dataset

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 3)
    x = rng.integers(0, 256, (30, 32, 32, 3)).astype(np.uint8)
    names = tuple(f"class{i}" for i in range(10))
    ds = Dataset("cifar10", x, y, x, y, names, "test")
    picked = pretrained.cifar_bridge_images(ds, count=4, seed=1)
    assert [name for _, name in picked] == ["class0", "class1", "class2", "class3"]
    for (img, name) in picked:
        i = next(i for i in range(30) if np.array_equal(x[i], img))
        assert names[y[i]] == name
    with pytest.raises(InvalidArgument, match=r"count must be 1\.\.10, got 11"):
        pretrained.cifar_bridge_images(ds, count=11)


def test_size_notes_say_what_this_page_does_with_the_photo():
    """The Convolution page's notes ('valid' mode kernels, 'a thin line' on screen) are not ResNet50's: a photo
    is shrunk on loading (its own size is said, since the preprocessing figure shows the shrunk one) and
    squeezed to the network's square input."""
    files = [("big.png", png_bytes(photo(1500, 2000))), ("tiny.png", png_bytes(photo(5, 6))),
             ("strip.png", png_bytes(photo(30, 900))), ("fine.png", png_bytes(photo(300, 400)))]
    photos, messages = pretrained.load_photos(files)
    assert messages == []
    notes = {p.name: p.notes for p in photos}
    assert notes == {
        "big.png": ("2,000 pixels wide, 1,500 tall: shrunk to 1,024 wide, 768 tall on loading",),
        "tiny.png": ("very small (6 pixels wide, 5 tall): blown up to the network's input size, it is a blur",),
        "strip.png": ("extreme shape (900 pixels wide, 30 tall): squeezed into the network's square input, "
                      "everything in it is stretched 30×",),
        "fine.png": (),
    }
    assert pretrained.prepare(photos[0].array).original_size == (768, 1024)  # what the figure's title says
