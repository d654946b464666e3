"""cnnviz.data.datasets: load/status/download/import, subsets, splits and scaling."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

from cnnviz import storage
from cnnviz.data import cifar10, datasets, selection, stored, subsets
from cnnviz.data.scaling import channel_stats, scale
from cnnviz.errors import CnnvizError, InvalidArgument, Unavailable
from cnnviz.training import pipeline
from tests.support.archives import tiny_archive_bytes, tiny_files, write_tiny_dir
from tests.support.http import Route, md5


@pytest.fixture
def tiny_cifar(tmp_path):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(tiny_archive_bytes())
    datasets.import_cifar10(archive)
    return datasets.load("cifar10")


def _balanced(n_per_class=30, classes=5, side=4, channels=3, seed=0) -> datasets.Dataset:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    x = rng.integers(0, 256, (len(y), side, side, channels), dtype=np.uint8)
    y_test = np.tile(np.arange(classes), 4)
    x_test = rng.integers(0, 256, (len(y_test), side, side, channels), dtype=np.uint8)
    return datasets.Dataset("test", x, y, x_test, y_test,
                            tuple(f"c{i}" for i in range(classes)), "made in the test")


# --- load / status ----------------------------------------------------------------------
def test_digits_is_always_present_and_loads():
    ds = datasets.load("digits")
    assert ds.x_train.shape == (1437, 8, 8, 1) and ds.x_train.dtype == np.uint8
    assert len(ds.y_test) == 360 and ds.num_classes == 10
    assert stored.status()[0] == {
        "name": "digits", "title": "scikit-learn digits", "present": True,
        "detail": stored.SOURCES["digits"].description, "how_to_get": ""}


def test_missing_dataset_is_unavailable_with_how_to_get():
    with pytest.raises(Unavailable) as err:
        datasets.load("cifar10")
    assert str(err.value) == f"CIFAR-10 is not on this machine. {stored.SOURCES['cifar10'].how_to_get}"
    assert "python -m cnnviz data import cifar10 PATH" in str(err.value)
    cifar = [s for s in stored.status() if s["name"] == "cifar10"][0]
    assert cifar["present"] is False and "download cifar10" in cifar["how_to_get"]


def test_unknown_names_and_options():
    with pytest.raises(InvalidArgument, match="unknown dataset 'imagenet'; choose one of digits, cifar10"):
        datasets.load("imagenet")
    with pytest.raises(InvalidArgument, match="unknown dataset 'folder:../x'"):
        datasets.load("folder:../x")
    with pytest.raises(InvalidArgument, match=r"cifar10 takes no options, got \['seed'\]"):
        datasets.load("cifar10", seed=1)


def test_import_cifar10_round_trip_without_pickle(tmp_path, cnnviz_home, tiny_cifar):
    ds = tiny_cifar
    expected = cifar10.read_any(write_tiny_dir(tmp_path / "d").parent)
    np.testing.assert_array_equal(ds.x_train, expected.x_train)
    np.testing.assert_array_equal(ds.y_test, expected.y_test)
    assert ds.class_names == cifar10.CLASS_NAMES and ds.y_train.dtype == np.int64
    npz = cnnviz_home / "data" / "cifar10.npz"
    with np.load(npz, allow_pickle=False) as f:  # readable with pickle off
        assert f["x_train"].shape == (100, 32, 32, 3)
    assert [p.name for p in (cnnviz_home / "data").iterdir()] == ["cifar10.npz"]
    cifar = [s for s in stored.status() if s["name"] == "cifar10"][0]
    assert cifar["present"] and "100 training and 20 test images" in cifar["detail"]


def test_import_from_directory(tmp_path):
    summary = datasets.import_cifar10(write_tiny_dir(tmp_path))
    assert summary.startswith("Installed CIFAR-10 binary version from ")
    assert datasets.load("cifar10").x_test.shape == (20, 32, 32, 3)


def test_failed_import_keeps_previous_copy(tmp_path, tiny_cifar, cnnviz_home):
    before = stored.fingerprint("cifar10")
    files = tiny_files()
    files["data_batch_5.bin"] = b"\x00" * 100
    with pytest.raises(cifar10.FormatError):
        datasets.import_cifar10(write_tiny_dir(tmp_path / "bad", files))
    assert stored.fingerprint("cifar10") == before
    assert sorted(p.name for p in (cnnviz_home / "data").iterdir()) == ["cifar10.npz"]


def test_damaged_store_is_reported(cnnviz_home):
    storage.ensure_dir(cnnviz_home / "data")
    (cnnviz_home / "data" / "cifar10.npz").write_bytes(b"garbage")
    with pytest.raises(CnnvizError, match=r"The stored copy of CIFAR-10 .* is damaged"):
        datasets.load("cifar10")


@pytest.mark.parametrize("cut", ["to nothing", "in half"])
def test_a_stored_copy_cut_short_is_reported_as_damaged(tiny_cifar, cnnviz_home, cut):
    # A copy or restore that stopped early: EOFError or BadZipFile, so "internal error" on the pages and a
    # traceback from `python -m cnnviz train`, where a wrong array already said what to do.
    path = cnnviz_home / "data" / "cifar10.npz"
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2] if cut == "in half" else b"")
    for mapped in (False, True):
        with pytest.raises(CnnvizError, match=rf"The stored copy of CIFAR-10 \({re.escape(str(path))}\) is damaged .*"
                                              r"python -m cnnviz data remove cifar10"):
            datasets.load("cifar10", mapped=mapped)


def test_remove_and_fingerprint(tiny_cifar):
    assert stored.fingerprint("cifar10") != "missing"
    assert datasets.remove("cifar10") is True
    assert stored.fingerprint("cifar10") == "missing" and datasets.remove("cifar10") is False
    with pytest.raises(InvalidArgument, match="digits ships with scikit-learn"):
        datasets.remove("digits")


# --- download ---------------------------------------------------------------------------
def test_download_cifar10_from_a_mirror_installs_and_deletes_archive(loopback, cnnviz_home):
    body = tiny_archive_bytes()
    loopback.routes["/mirror/cifar.tar.gz"] = Route(body)
    events = []
    summary = datasets.download("cifar10", url=loopback.url("/mirror/cifar.tar.gz"), expected_size=len(body),
                                expected_md5=md5(body), progress=lambda d, t: events.append((d, t)))
    assert summary.startswith(f"Installed CIFAR-10 binary version from {loopback.url('/mirror/cifar.tar.gz')}")
    assert events[-1] == (len(body), len(body))
    assert datasets.load("cifar10").x_train.shape == (100, 32, 32, 3)
    assert [p.name for p in (cnnviz_home / "data").iterdir()] == ["cifar10.npz"]


def test_an_archive_left_by_a_killed_import_is_imported_not_fetched_again(loopback, cnnviz_home):
    body = tiny_archive_bytes()
    loopback.routes["/mirror/cifar.tar.gz"] = Route(body)
    (cnnviz_home / "data").mkdir(parents=True)
    (cnnviz_home / "data" / cifar10.ARCHIVE_NAME).write_bytes(body)  # downloaded, then the process was killed
    events = []
    datasets.download("cifar10", url=loopback.url("/mirror/cifar.tar.gz"), expected_size=len(body),
                      expected_md5=md5(body), progress=lambda d, t: events.append((d, t)))
    assert loopback.hits == [] and events == [(len(body), len(body))]
    assert [p.name for p in (cnnviz_home / "data").iterdir()] == ["cifar10.npz"]
    assert datasets.load("cifar10").x_train.shape == (100, 32, 32, 3)
    datasets.remove("cifar10")
    (cnnviz_home / "data" / cifar10.ARCHIVE_NAME).write_bytes(body[:-10])  # cut short: fetched again
    datasets.download("cifar10", url=loopback.url("/mirror/cifar.tar.gz"), expected_size=len(body),
                      expected_md5=md5(body))
    assert loopback.hits == ["/mirror/cifar.tar.gz"] and stored.is_present("cifar10")


def test_a_download_under_way_survives_another_process_cleaning_up(loopback, cnnviz_home):
    """The first dataset listing of another process (a second server, `python -m cnnviz data status`) cleans
    up what killed writers left in data/: a download still under way is not one of them."""
    body = tiny_archive_bytes()
    loopback.routes["/mirror/cifar.tar.gz"] = Route(body)
    removed = []

    def another_process_starts(done, total):
        if done:  # the temporary file is being written: cleanup meets it as another process would
            removed.extend(stored.cleanup())

    datasets.download("cifar10", url=loopback.url("/mirror/cifar.tar.gz"), expected_size=len(body),
                      expected_md5=md5(body), progress=another_process_starts)
    assert removed == [] and stored.is_present("cifar10")


def test_download_of_a_non_cifar_file_keeps_nothing(loopback, cnnviz_home):
    loopback.routes["/junk"] = Route(b"hello")
    with pytest.raises(cifar10.FormatError):
        datasets.download("cifar10", url=loopback.url("/junk"), expected_size=None, expected_md5=None)
    assert list((cnnviz_home / "data").iterdir()) == []


def test_download_http_error_keeps_nothing(loopback, cnnviz_home):
    with pytest.raises(Unavailable, match="HTTP 404"):
        datasets.download("cifar10", url=loopback.url("/nothing"))
    assert not stored.is_present("cifar10")
    assert list((cnnviz_home / "data").iterdir()) == []


def test_only_one_download_at_a_time(monkeypatch):
    entered, release = threading.Event(), threading.Event()

    def slow(name):
        entered.set()
        release.wait(5)
        raise RuntimeError("offline")

    monkeypatch.setattr(datasets, "_keras_load", slow)
    errors = []
    t = threading.Thread(target=lambda: errors.append(pytest.raises(Unavailable, datasets.download, "mnist")))
    t.start()
    assert entered.wait(5)
    with pytest.raises(Unavailable, match="Another download is already running on this server"):
        datasets.download("fashion_mnist")
    release.set()
    t.join(5)
    assert len(errors) == 1


def test_digits_cannot_be_downloaded():
    with pytest.raises(InvalidArgument, match="digits cannot be downloaded; downloadable: cifar10, mnist, fashion_mnist"):
        datasets.download("digits")


def test_keras_offline_becomes_unavailable(monkeypatch, cnnviz_home):
    def offline(name):
        raise Exception("URL fetch failure on https://storage.googleapis.com/x: None -- [Errno -3] "
                        "Temporary failure in name resolution")

    monkeypatch.setattr(datasets, "_keras_load", offline)
    with pytest.raises(Unavailable) as err:
        datasets.download("mnist")
    assert str(err.value).startswith("Could not get MNIST through keras.datasets (URL fetch failure")
    assert str(err.value).endswith("This machine looks offline; try again with internet.")
    assert not stored.is_present("mnist")


def test_keras_download_is_stored_as_npz(monkeypatch):
    rng = np.random.default_rng(0)
    x_tr = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    x_te = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    fake = ((x_tr, np.arange(30) % 10), (x_te, np.arange(10) % 10))
    monkeypatch.setattr(datasets, "_keras_load", lambda name: fake)
    assert datasets.download("fashion_mnist") == ("Installed Fashion-MNIST through keras.datasets "
                                                  "(30 training and 10 test images).")
    ds = datasets.load("fashion_mnist")
    assert ds.x_train.shape == (30, 28, 28, 1)
    np.testing.assert_array_equal(ds.x_train[..., 0], x_tr)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


# --- subsets and splits -----------------------------------------------------------------
def _subset(ds, **sizes):
    """A run's stratified subset of ``ds`` (what training takes)."""
    return pipeline.load_training_data(ds.name, full=ds, **{"seed": 0, **sizes})


def test_subset_is_deterministic_and_stratified():
    ds = _balanced(n_per_class=40, classes=5)
    a = _subset(ds, train_size=100, test_size=10, seed=3)
    b = _subset(ds, train_size=100, test_size=10, seed=3)
    c = _subset(ds, train_size=100, test_size=10, seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    assert subsets.class_counts(a.y_train, 5).tolist() == [20] * 5
    assert subsets.class_counts(a.y_test, 5).tolist() == [2] * 5
    assert "stratified subset (seed 3) of 100 training and 10 test images" in a.source
    # every kept image is one of the originals with its own label
    rows = {r.tobytes(): int(l) for r, l in zip(ds.x_train, ds.y_train)}
    assert all(rows[r.tobytes()] == int(l) for r, l in zip(a.x_train, a.y_train))


def test_subset_of_full_size_is_the_same_data():
    ds = _balanced()
    assert _subset(ds, train_size=len(ds.y_train), test_size=len(ds.y_test)) is ds


def test_subset_nearly_full_size_still_works():
    ds = _balanced(n_per_class=30, classes=5)
    s = _subset(ds, train_size=148, test_size=20, seed=0)
    assert len(s.y_train) == 148 and len(np.unique(s.x_train.reshape(148, -1), axis=0)) == 148


@pytest.mark.parametrize("size", [0, 151, -1, 2.5])
def test_subset_size_validation(size):
    ds = _balanced()
    with pytest.raises(InvalidArgument, match=f"training size must be 1..150, got {size}"):
        _subset(ds, train_size=size, test_size=5)


def test_subset_smaller_than_the_number_of_classes():
    with pytest.raises(InvalidArgument, match="cannot take a stratified training subset of 3 images"):
        _subset(_balanced(), train_size=3, test_size=5)


def test_seed_sizes_on_cifar_shaped_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 50_000)
    tr, te = subsets.subset_indices(y, rng.integers(0, 10, 10_000), train_size=10_000, test_size=2_000)
    assert len(tr) == 10_000 and len(te) == 2_000 and len(set(tr.tolist())) == 10_000
    share = subsets.class_counts(y[tr], 10) / 10_000
    np.testing.assert_allclose(share, subsets.class_counts(y, 10) / 50_000, atol=1e-4)


def test_split_validation_is_stratified_and_repeatable():
    ds = _balanced(n_per_class=40, classes=5)
    x_tr, x_val, y_tr, y_val = subsets.split_validation(ds.x_train, ds.y_train, fraction=0.25, seed=0)
    assert len(y_val) == 50 and len(y_tr) == 150
    assert subsets.class_counts(y_val, 5).tolist() == [10] * 5
    again = subsets.split_validation(ds.x_train, ds.y_train, fraction=0.25, seed=0)
    np.testing.assert_array_equal(again[1], x_val)
    with pytest.raises(InvalidArgument, match="validation fraction must be between 0 and 1, got 1.5"):
        subsets.split_validation(ds.x_train, ds.y_train, fraction=1.5)
    with pytest.raises(InvalidArgument, match="images and labels must have the same length, got 200 and 3"):
        subsets.split_validation(ds.x_train, ds.y_train[:3])


def test_count_rows_match_the_real_split():
    ds = _balanced(n_per_class=40, classes=5, seed=1)
    rows = selection.count_rows(ds.y_train, ds.y_test, ds.class_names, train_size=120, test_size=10,
                                validation_fraction=0.25, seed=2)
    sub = _subset(ds, train_size=120, test_size=10, seed=2)
    _, _, y_fit, y_val = subsets.split_validation(sub.x_train, sub.y_train, fraction=0.25, seed=2)
    assert [r["train"] for r in rows[:-1]] == subsets.class_counts(y_fit, 5).tolist()
    assert [r["validation"] for r in rows[:-1]] == subsets.class_counts(y_val, 5).tolist()
    assert rows[-1] == {"class": "total", "subset": 120, "train": 90, "validation": 30, "test": 10, "weight": None}


# --- scaling ----------------------------------------------------------------------------
def test_scale_unit_and_symmetric_hand_values():
    x = np.array([0, 51, 255], dtype=np.uint8).reshape(1, 1, 3, 1)
    np.testing.assert_allclose(scale(x, "unit").ravel(), [0.0, 0.2, 1.0], rtol=1e-6)
    np.testing.assert_allclose(scale(x, "symmetric").ravel(), [-1.0, -0.6, 1.0], rtol=1e-6)
    assert scale(x, "unit").dtype == np.float32


def test_standardize_uses_given_train_stats():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (50, 4, 4, 3), dtype=np.uint8)
    test = rng.integers(0, 256, (20, 4, 4, 3), dtype=np.uint8)
    stats = channel_stats(train)
    flat = train.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(stats["mean"], flat.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], flat.std(axis=0), rtol=1e-9)
    floats = channel_stats(train.astype(np.float32), chunk=7)  # the float path, chunked
    np.testing.assert_allclose(floats["mean"], stats["mean"], rtol=1e-12)
    np.testing.assert_allclose(floats["std"], stats["std"], rtol=1e-9)
    z = scale(train, "standardize", stats)
    np.testing.assert_allclose(z.reshape(-1, 3).mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.reshape(-1, 3).std(axis=0), 1, atol=1e-4)
    zt = scale(test, "standardize", stats)
    expected = (test.astype(np.float64) - flat.mean(axis=0)) / flat.std(axis=0)
    np.testing.assert_allclose(zt, expected, rtol=1e-5, atol=1e-5)


def test_standardize_constant_channel_and_errors():
    x = np.full((2, 2, 2, 1), 7, dtype=np.uint8)
    np.testing.assert_array_equal(scale(x, "standardize"), np.zeros((2, 2, 2, 1), np.float32))
    with pytest.raises(InvalidArgument, match="scaling must be one of unit, symmetric, standardize, got 'minmax'"):
        scale(x, "minmax")
    with pytest.raises(InvalidArgument, match=r"need one mean and std per channel \(1\), got mean \[1.0, 2.0\]"):
        scale(x, "standardize", {"mean": [1.0, 2.0], "std": [1.0, 1.0]})


def test_scaling_preview_uses_training_part_stats():
    ds = _balanced(n_per_class=40, classes=5)
    out = datasets.scaling_preview(ds, "standardize", train_size=100, test_size=10, seed=0, sample=16)
    assert out["raw"].shape == (16, 4, 4, 3) and out["scaled"].dtype == np.float32
    tr, _ = subsets.subset_indices(ds.y_train, ds.y_test, train_size=100, test_size=10, seed=0)
    fit, _, _, _ = subsets.split_validation(tr, ds.y_train[tr], fraction=0.25, seed=0)
    assert out["stats"] == channel_stats(ds.x_train[np.sort(fit)])
    assert datasets.scaling_preview(ds, "unit", train_size=100, test_size=10)["stats"] is None


# --- looking ----------------------------------------------------------------------------
def test_random_per_class_picks_each_class_repeatably():
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 0])
    groups = subsets.random_per_class(y, 3, num_classes=4, seed=5)
    assert [len(g) for g in groups] == [3, 3, 2, 0]
    assert all((y[g] == c).all() for c, g in enumerate(groups))
    # no image twice: a class with no more images than asked for shows each of them once
    assert sorted(groups[1].tolist()) == [1, 4, 7] and sorted(groups[2].tolist()) == [2, 5]
    assert len(set(groups[0].tolist())) == 3
    again = subsets.random_per_class(y, 3, num_classes=4, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(groups, again))
    with pytest.raises(InvalidArgument, match="images per class must be 1..50, got 0"):
        subsets.random_per_class(y, 0)


def test_sample_indices():
    idx = subsets.sample_indices(10, 4, seed=1)
    assert len(set(idx.tolist())) == 4 and idx.max() < 10
    assert np.array_equal(idx, subsets.sample_indices(10, 4, seed=1))
    assert sorted(subsets.sample_indices(3, 8).tolist()) == [0, 1, 2]  # each image once
    assert sorted(subsets.sample_indices(6, 6, seed=2).tolist()) == list(range(6))


@pytest.mark.parametrize("num_classes, fraction", [(10, 0.25), (10, 0.05), (2, 0.5), (10, 0.5), (3, 0.1), (7, 0.3)])
def test_smallest_split_size_is_what_scikit_learn_accepts(num_classes, fraction):
    n = subsets.smallest_split_size(num_classes, fraction)
    labels = lambda k: np.arange(k) % num_classes  # noqa: E731 - balanced classes, the easiest case
    subsets.split_validation(labels(n), labels(n), fraction=fraction)  # n works ...
    with pytest.raises(InvalidArgument, match=f"cannot split {n - 1:,} images"):  # ... and one fewer does not
        subsets.split_validation(labels(n - 1), labels(n - 1), fraction=fraction)


def test_datasets_doctests():
    import doctest

    assert doctest.testmod(datasets).failed == 0


def test_subsets_doctests():
    import doctest

    result = doctest.testmod(subsets)
    assert result.attempted >= 1 and result.failed == 0


def test_runs_with_the_same_test_draw_key_get_the_same_test_images_and_others_do_not():
    import itertools
    from types import SimpleNamespace

    from cnnviz.runs import rundata
    from tests.support.specs import tiny_spec

    full = datasets.load("digits")
    drawn = {}
    for selection, train_size, test_size, seed in itertools.product(
            (None, {"subset": "first", "split": "shuffled"}), (None, 300, 500), (None, 100, 120), (0, 3)):
        spec = tiny_spec(dataset="digits", selection=selection, train_size=train_size, test_size=test_size, seed=seed)
        x, y = rundata.run_test_images(SimpleNamespace(spec=spec), full=full)
        drawn.setdefault(rundata.test_draw(spec), []).append((x, y))
    for same in drawn.values():  # the training size never counts, nor the seed of the first images or of all
        for x, y in same[1:]:
            np.testing.assert_array_equal(x, same[0][0])
            np.testing.assert_array_equal(y, same[0][1])
    firsts = [same[0] for same in drawn.values()]
    for (xa, _), (xb, _) in itertools.combinations(firsts, 2):  # and different keys, different test images
        assert xa.shape != xb.shape or not np.array_equal(xa, xb)
    assert len(drawn) == 1 + 2 * 1 + 2 * 2  # all; first 100/120; stratified 100/120 × seeds 0/3


def test_a_mapped_dataset_equals_the_read_one_and_its_test_draw_equals_the_run_data(tmp_path):
    from types import SimpleNamespace

    from cnnviz.runs import rundata
    from tests.support.archives import write_tiny_dir
    from tests.support.specs import tiny_spec

    datasets.import_cifar10(write_tiny_dir(tmp_path / "cifar"))
    read, mapped = datasets.load("cifar10"), datasets.load("cifar10", mapped=True)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(mapped, key), getattr(read, key))
    assert isinstance(mapped.x_train.base, np.memmap) and not mapped.x_test.flags.writeable
    for sizes in (dict(train_size=50, test_size=10), dict(train_size=None, test_size=None),
                  dict(train_size=40, test_size=None), dict(train_size=50, test_size=10, selection={"subset": "first", "split": "shuffled"}),
                  dict(train_size=40, test_size=None, selection={"subset": "first", "split": "first"})):
        info = SimpleNamespace(spec=tiny_spec(dataset="cifar10", seed=3, **sizes))
        whole = rundata.run_dataset(info, full=read)
        if "selection" in sizes and sizes["test_size"] is not None:  # the notebooks' first test images, in order
            np.testing.assert_array_equal(whole.y_test, read.y_test[:sizes["test_size"]])
        x, y = rundata.run_test_images(info, full=mapped)
        np.testing.assert_array_equal(x, whole.x_test)
        np.testing.assert_array_equal(y, whole.y_test)
        np.testing.assert_array_equal(rundata.run_test_images(info)[0], whole.x_test)
