"""cnnviz.inspect.robustness and cnnviz.plots.robustness on models whose behaviour is known."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import ndimage

from cnnviz.data import augment
from cnnviz.errors import InvalidArgument
from cnnviz.inspect import evaluation, robustness
from cnnviz.plots import robustness as plots
from tests.support.models import invariant_data, invariant_model, quadrant_data, quadrant_model


QUAD_NAMES = ("top-left", "top-right", "bottom-right", "bottom-left")
BIN_NAMES = ("no", "yes")
RNG = np.random.default_rng(0)
X_U8 = RNG.integers(0, 256, size=(3, 6, 6, 2), dtype=np.uint8)


# --- transforms -------------------------------------------------------------------------
def test_right_angles_are_exact_rot90():
    x = RNG.normal(size=(3, 5, 5, 2))
    for k, angle in enumerate((0, 90, 180, 270)):
        np.testing.assert_array_equal(robustness.rotate_images(x, angle), np.rot90(x, k, axes=(1, 2)))
    np.testing.assert_array_equal(robustness.rotate_images(x, -90), np.rot90(x, 3, axes=(1, 2)))
    np.testing.assert_array_equal(robustness.rotate_images(x, 450), np.rot90(x, 1, axes=(1, 2)))
    np.testing.assert_array_equal(robustness.rotate_images(x, 360), x)


def test_rot90_is_counter_clockwise_and_scipy_agrees():
    x = np.zeros((1, 4, 4, 1))
    x[0, 0, 3, 0] = 1  # top-right corner
    r = robustness.rotate_images(x, 90)
    assert r[0, 0, 0, 0] == 1  # counter-clockwise: top-right goes to top-left
    np.testing.assert_allclose(ndimage.rotate(x, 90, axes=(1, 2), reshape=False, order=1), r, atol=1e-12)


def test_other_angles_use_scipy_with_the_chosen_fill():
    x = RNG.uniform(0, 1, size=(2, 9, 9, 3)).astype(np.float32)
    for fill in robustness.FILLS:
        want = ndimage.rotate(x, 30, axes=(1, 2), reshape=False, order=1, mode=fill, cval=-1.0)
        np.testing.assert_allclose(robustness.rotate_images(x, 30, fill=fill, cval=-1.0), want, rtol=1e-6)
    corner = robustness.rotate_images(x, 45, fill="constant", cval=-1.0)[:, 0, 0]
    np.testing.assert_array_equal(corner, -1.0)
    u8 = robustness.rotate_images(X_U8, 20)
    assert u8.dtype == np.uint8 and u8.shape == X_U8.shape
    with pytest.raises(InvalidArgument, match="fill must be one of constant, reflect, nearest, got 'wrap'"):
        robustness.rotate_images(x, 30, fill="wrap")
    with pytest.raises(InvalidArgument, match="angle must be a finite number of degrees, got nan"):
        robustness.rotate_images(x, float("nan"))


def test_flips_and_shifts_are_exact():
    np.testing.assert_array_equal(augment.flip_images(X_U8, "horizontal"), X_U8[:, :, ::-1])
    np.testing.assert_array_equal(augment.flip_images(X_U8, "vertical"), X_U8[:, ::-1])
    s = robustness.shift_images(X_U8, 2, -1, fill="constant", cval=7)
    assert s.dtype == np.uint8
    np.testing.assert_array_equal(s[:, 2:, :-1], X_U8[:, :-2, 1:])
    assert np.all(s[:, :2] == 7) and np.all(s[:, :, -1] == 7)
    near = robustness.shift_images(X_U8, 0, 2, fill="nearest")
    np.testing.assert_array_equal(near[:, :, 0], X_U8[:, :, 0])
    np.testing.assert_array_equal(near[:, :, 1], X_U8[:, :, 0])
    with pytest.raises(InvalidArgument, match=r"a shift of \(6, 0\) pixels moves a 6×6 image out of view"):
        robustness.shift_images(X_U8, 6, 0)
    with pytest.raises(InvalidArgument, match="flip direction must be 'horizontal' or 'vertical', got 'diagonal'"):
        augment.flip_images(X_U8, "diagonal")


def test_resize_upscale_matches_scipy_zoom_and_pad_centres():
    x = RNG.uniform(size=(2, 6, 6, 3))
    up = robustness.resize_images(x, 15)
    want = ndimage.zoom(x, (1, 15 / 6, 15 / 6, 1), order=1, mode="nearest", grid_mode=True)
    np.testing.assert_allclose(up, want, atol=1e-9)
    down = robustness.resize_images(x, 4)
    assert down.shape == (2, 4, 4, 3)
    pad = robustness.resize_images(X_U8, 11, method="pad", cval=9)
    assert pad.shape == (3, 11, 11, 2) and pad.dtype == np.uint8
    np.testing.assert_array_equal(pad[:, 2:8, 2:8], X_U8)  # (11 - 6) // 2 = 2 before, 3 after
    assert np.all(pad[:, :2] == 9) and np.all(pad[:, 8:] == 9)
    refl = robustness.resize_images(X_U8, 8, method="pad", fill="reflect")
    np.testing.assert_array_equal(refl[:, 0, 1:7], X_U8[:, 0])  # edge pixel repeated, as scipy "reflect"
    with pytest.raises(InvalidArgument, match="cannot pad 6×6 images to the smaller size 5×5"):
        robustness.resize_images(X_U8, 5, method="pad")
    with pytest.raises(InvalidArgument, match="size must be a whole number of pixels 4..512, got 1000"):
        robustness.resize_images(X_U8, 1000)
    with pytest.raises(InvalidArgument, match="method must be one of upscale, pad, got 'crop'"):
        robustness.resize_images(X_U8, 8, method="crop")


def _old_bilinear_resize(x: np.ndarray, size: int) -> np.ndarray:
    """The hand-written resize that scipy.ndimage.zoom replaced (issue 13), kept as the reference."""
    def matrix(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), lo] += 1 - (src - lo)
        m[np.arange(n_out), hi] += src - lo
        return m

    return np.einsum("ih,nhwc,jw->nijc", matrix(x.shape[1], size), x.astype(np.float64), matrix(x.shape[2], size),
                     optimize=True)


@pytest.mark.parametrize("shape, size", [((4, 32, 32, 3), 48), ((4, 32, 32, 3), 64), ((3, 28, 28, 1), 45),
                                         ((2, 17, 23, 3), 100), ((2, 32, 32, 3), 4), ((2, 6, 6, 2), 512)])
def test_resize_gives_the_old_hand_written_numbers(shape, size):
    x = RNG.integers(0, 256, size=shape, dtype=np.uint8)
    old = _old_bilinear_resize(x, size)
    new_float = robustness.resize_images(x.astype(np.float64), size)
    np.testing.assert_allclose(new_float, old, rtol=0, atol=1e-9)  # float64 in: the same numbers
    new_u8 = robustness.resize_images(x, size)
    want_u8 = np.clip(np.round(old), 0, 255).astype(np.uint8)
    # uint8 in: rounded from float64 as before, but a value that is exactly k + 0.5 (frequent at 1.5x:
    # weights in sixteenths) lands a hair either side of it when summed in another order, so it may
    # round the other way: at most 1 grey level apart, on a few pixels
    assert new_u8.dtype == np.uint8 and new_u8.shape == want_u8.shape
    assert np.abs(new_u8.astype(int) - want_u8).max() <= 1
    assert np.mean(new_u8 != want_u8) < 0.01


def test_flip_images_handles_tensors_and_checks_its_input():
    tf = pytest.importorskip("tensorflow")
    x = RNG.normal(size=(2, 3, 4, 1)).astype(np.float32)
    np.testing.assert_array_equal(augment.flip_images(tf.constant(x)).numpy(), x[:, :, ::-1])
    np.testing.assert_array_equal(augment.flip_images(tf.constant(x), "vertical").numpy(), x[:, ::-1])
    with pytest.raises(InvalidArgument, match=r"images must be a batch N×H×W×C, got an array of shape \(3, 4\)"):
        augment.flip_images(np.zeros((3, 4)))


def test_rotation_examples():
    x = RNG.uniform(size=(20, 6, 6, 1))
    idx, orig, rot = robustness.rotation_examples(x, 90, n=5, seed=3)
    assert len(idx) == 5 == len(set(idx.tolist()))
    np.testing.assert_array_equal(orig, x[idx])
    np.testing.assert_array_equal(rot, np.rot90(x[idx], 1, axes=(1, 2)))
    np.testing.assert_array_equal(idx, robustness.rotation_examples(x, 90, n=5, seed=3)[0])


# --- accuracy under rotation ------------------------------------------------------------
@pytest.fixture(scope="module")
def quad():
    return quadrant_model(), *quadrant_data(40)


@pytest.mark.slow
def test_rot90_accuracy_equals_accuracy_on_manually_rotated_arrays(quad):
    model, x, y = quad
    r = robustness.rot90_test(model, x, y, QUAD_NAMES)
    assert r.angles == (0.0, 90.0, 180.0, 270.0)
    for k, acc in enumerate(r.accuracy):
        manual = evaluation.evaluate(model, np.rot90(x, k, axes=(1, 2)), y, QUAD_NAMES).accuracy
        assert acc == manual
    # By hand: quadrant q moves to (q + 3) % 4 per quarter turn; 1 in 4 labels is (q + 2) % 4.
    np.testing.assert_allclose(r.accuracy, [0.75, 0.0, 0.25, 0.0])
    assert r.unrotated_accuracy == 0.75


@pytest.mark.slow
def test_rotation_invariant_model_scores_the_same_at_every_right_angle():
    model = invariant_model()
    x, y = invariant_data(40)
    r = robustness.rot90_test(model, x, y, BIN_NAMES)
    assert 0.0 < r.accuracy[0] < 1.0  # a non-trivial accuracy, so equality means something
    np.testing.assert_array_equal(r.accuracy, np.full(4, r.accuracy[0]))
    np.testing.assert_array_equal(r.per_class, np.tile(r.per_class[0], (4, 1)))
    probs = [evaluation.predict_probabilities(model, np.rot90(x, k, axes=(1, 2))) for k in range(4)]
    for p in probs[1:]:
        np.testing.assert_allclose(p, probs[0], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_sweep_has_one_accuracy_per_angle_and_class(quad):
    model, x, y = quad
    keep = y != 3  # leave one class without test images: its per-class accuracy is NaN
    r = robustness.rotation_sweep(model, x[keep], y[keep], QUAD_NAMES, fill="nearest")
    assert r.angles == tuple(float(a) for a in range(0, 360, 15))
    assert r.accuracy.shape == (24,) and r.per_class.shape == (24, 4)
    assert np.all(np.isnan(r.per_class[:, 3])) and not np.any(np.isnan(r.per_class[:, :3]))
    np.testing.assert_array_equal(r.support, [np.sum(y[keep] == c) for c in range(4)])
    manual = ndimage.rotate(x[keep], 45, axes=(1, 2), reshape=False, order=1, mode="nearest")
    ev = evaluation.evaluate(model, manual, y[keep], QUAD_NAMES)
    i45 = r.angles.index(45.0)
    assert r.accuracy[i45] == pytest.approx(ev.accuracy)
    np.testing.assert_allclose(r.per_class[i45, :3], [p["accuracy"] for p in ev.per_class[:3]])
    # per-class rows average back to the overall accuracy, weighted by support
    w = r.support[:3] / r.support[:3].sum()
    np.testing.assert_allclose(r.per_class[:, :3] @ w, r.accuracy)


@pytest.mark.slow
def test_compare_models_on_the_same_sweep(quad):
    model, x, y = quad
    inv = invariant_model()
    yb = (y % 2).astype(np.int64)
    both = robustness.compare_rotation({"quadrant": model, "quadrant again": model}, x, y, QUAD_NAMES,
                                       angles=(0, 90, 30))
    assert list(both) == ["quadrant", "quadrant again"]
    single = robustness.rotation_sweep(model, x, y, QUAD_NAMES, angles=(0, 90, 30))
    for r in both.values():
        np.testing.assert_array_equal(r.accuracy, single.accuracy)
    # one prepare function per model name, each called for its own model
    seen = []
    robustness.compare_rotation({"a": inv, "b": inv}, x, yb, BIN_NAMES, angles=(0,),
                                prepare={"a": lambda v: seen.append("a") or v, "b": lambda v: seen.append("b") or v})
    assert seen == ["a", "b"]
    with pytest.raises(InvalidArgument, match="no prepare function for model 'b'; got ones for a"):
        robustness.compare_rotation({"a": inv, "b": inv}, x, yb, BIN_NAMES, angles=(0,), prepare={"a": lambda v: v})
    with pytest.raises(InvalidArgument, match="give 1..72 angles, got 0"):
        robustness.rotation_sweep(model, x, y, QUAD_NAMES, angles=())


@pytest.mark.slow
def test_prepare_turns_uint8_into_model_input(quad):
    model, x, y = quad
    raw = np.round(x * 255).astype(np.uint8)
    r = robustness.rot90_test(model, raw, y, QUAD_NAMES, prepare=lambda v: v.astype(np.float32) / 255)
    np.testing.assert_allclose(r.accuracy, [0.75, 0.0, 0.25, 0.0])


@pytest.mark.slow
def test_flips_and_shifts_accuracy(quad):
    model, x, y = quad
    r = robustness.transform_test(model, x, y, QUAD_NAMES, shifts=(1,))
    assert r.names == ("original", "flip left-right", "flip upside down", "shift right 1 px", "shift left 1 px",
                       "shift down 1 px", "shift up 1 px")
    assert r.per_class.shape == (7, 4)
    assert r.accuracy[0] == pytest.approx(0.75)
    flipped = evaluation.evaluate(model, x[:, :, ::-1], y, QUAD_NAMES).accuracy
    assert r.accuracy[1] == pytest.approx(flipped)
    shifted = evaluation.evaluate(model, robustness.shift_images(x, 0, 1), y, QUAD_NAMES).accuracy
    assert r.accuracy[3] == pytest.approx(shifted)
    with pytest.raises(InvalidArgument, match=r"shifts must be whole pixels 1..7, got 8"):
        robustness.transform_test(model, x, y, QUAD_NAMES, shifts=(8,))


# --- other sizes ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def flatten_model():
    """8×8×1 → conv 3×3 (6×6×4) → max pool (3×3×4) → Flatten (36) → Dense 2."""
    import keras

    L = keras.layers
    model = keras.Sequential([L.Conv2D(4, 3, activation="relu", name="conv"), L.MaxPooling2D(2, name="pool"),
                              L.Flatten(name="flatten"), L.Dense(2, activation="softmax", name="dense")],
                             name="flatten_model")
    model.predict(np.zeros((1, 8, 8, 1), np.float32), verbose=0)  # built without an Input layer
    return model


@pytest.mark.slow
def test_flatten_model_at_64_gets_an_explanation(flatten_model):
    x, y = invariant_data(8)
    before = [w.copy() for w in flatten_model.get_weights()]
    (r,) = robustness.other_sizes(flatten_model, x, y, BIN_NAMES, sizes=(64,))
    assert not r.works and r.accuracy is None and r.per_class is None
    # 64×64 → conv 62×62×4 → pool 31×31×4 → Flatten 3,844 numbers; Dense was trained on 36.
    m = r.mismatch
    assert m["layer"] == "dense" and m["flatten_layer"] == "flatten"
    assert m["trained_weight_shape"] == (36, 2) and m["needed_weight_shape"] == (3844, 2)
    assert m["flatten_input_trained"] == (3, 3, 4) and m["flatten_input_new"] == (31, 31, 4)
    assert (m["flatten_output_trained"], m["flatten_output_new"]) == (36, 3844)
    for part in ("64×64", "31×31×4", "3×3×4", "3,844", "36×2", "'dense'", "global average pooling"):
        assert part in r.explanation
    for a, b in zip(before, flatten_model.get_weights()):  # the model passed in is untouched
        np.testing.assert_array_equal(a, b)
    assert flatten_model.get_layer("flatten").output.shape[-1] == 36


@pytest.mark.slow
@pytest.mark.parametrize("functional", [False, True])
def test_global_pooling_model_returns_accuracies_at_other_sizes(functional):
    model = invariant_model(functional=functional)  # Input fixed at 8×8
    flexible = invariant_model(flexible=True)  # same weights, any size: the reference
    x, y = invariant_data(30)
    results = robustness.other_sizes(model, x, y, BIN_NAMES, sizes=(16, 64), method="upscale")
    assert [r.size for r in results] == [16, 64]
    for r in results:
        assert r.works and r.mismatch is None
        up = robustness.resize_images(x, r.size)
        manual = evaluation.evaluate(flexible, up, y, BIN_NAMES)
        assert r.accuracy == pytest.approx(manual.accuracy)
        np.testing.assert_allclose(r.per_class, [p["accuracy"] for p in manual.per_class])
        assert "global pooling layer 'gap'" in r.explanation and f"{r.size}×{r.size}×2" in r.explanation
    (padded,) = robustness.other_sizes(model, x, y, BIN_NAMES, sizes=(12,), method="pad")
    manual = evaluation.evaluate(flexible, robustness.resize_images(x, 12, method="pad"), y, BIN_NAMES)
    assert padded.works and padded.accuracy == pytest.approx(manual.accuracy)
    assert model.inputs[0].shape[1:3] == (8, 8)  # the original still takes 8×8


@pytest.mark.slow
def test_the_explanation_names_what_the_global_pooling_does():
    """"global pooling averages each of the maps" was said of a layer named global_max (issue 14)."""
    import keras

    x, y = invariant_data(10)
    average = robustness.other_sizes(invariant_model(), x, y, BIN_NAMES, sizes=(16,))[0]
    assert "global pooling turns each of the 2 maps into one number (its average)" in average.explanation
    model = keras.Sequential([keras.Input((8, 8, 1), name="image"),
                              keras.layers.Conv2D(2, 3, padding="same", name="conv"),
                              keras.layers.GlobalMaxPooling2D(name="global_max"),
                              keras.layers.Dense(2, activation="softmax", name="dense")], name="maxed")
    (r,) = robustness.other_sizes(model, x, y, BIN_NAMES, sizes=(16,))
    assert r.works and "global pooling layer 'global_max'" in r.explanation
    assert "turns each of the 2 maps into one number (its largest value)" in r.explanation
    assert "averages" not in r.explanation



@pytest.mark.slow
def test_a_network_without_convolutions_is_not_told_to_pool_its_feature_maps():
    """A seed MLP (Flatten straight after the input) has no feature maps: what reaches Flatten is the image,
    and global average pooling of its colour channels is no way out (it said "its Dense layer gets 1 numbers
    at any image size", and the page offered a twin that cannot be built)."""
    import keras

    x, y = invariant_data(10)
    mlp = keras.Sequential([keras.Input((8, 8, 1), name="image"), keras.layers.Flatten(name="flat"),
                            keras.layers.Dense(2, activation="softmax", name="output")], name="mlp")
    (r,) = robustness.other_sizes(mlp, x, y, BIN_NAMES, sizes=(12,))
    assert not r.works and r.mismatch["flatten_layer"] == "flat"
    assert "the images reaching Flatten layer 'flat' are 12×12×1 instead of 8×8×1" in r.explanation
    assert "feature maps" not in r.explanation and "global average pooling" not in r.explanation
    assert "no convolution layer" in r.explanation



@pytest.mark.slow
def test_a_network_that_resizes_its_input_says_so_not_that_its_maps_changed():
    """A transfer run resizes every image to its backbone's size first: it said "the feature maps reaching global
    pooling layer 'head_pool' are 1×1×1,280 instead of 1×1×1,280"."""
    import keras

    x, y = invariant_data(10)
    model = keras.Sequential([keras.Input((8, 8, 1), name="image"), keras.layers.Resizing(16, 16, name="resize"),
                              keras.layers.Conv2D(2, 3, padding="same", name="conv"),
                              keras.layers.GlobalAveragePooling2D(name="gap"),
                              keras.layers.Dense(2, activation="softmax", name="dense")], name="resized")
    (r,) = robustness.other_sizes(model, x, y, BIN_NAMES, sizes=(12,))
    assert r.works
    assert "Resizing layer 'resize' makes every image 16×16" in r.explanation
    assert "instead of" not in r.explanation


# --- figures ----------------------------------------------------------------------------
@pytest.mark.slow
def test_robustness_figures(quad):
    model, x, y = quad
    results = robustness.compare_rotation({"plain": model, "twin": model}, x, y, QUAD_NAMES, angles=(0, 90, 180))
    fig = plots.accuracy_vs_angle_figure(results)
    lines = [t for t in fig.data if t.type == "scatter"]
    assert [t.name for t in lines] == ["plain", "twin"]
    np.testing.assert_allclose(lines[0].y, [0.75, 0.0, 0.25])
    assert [s.y0 for s in fig.layout.shapes] == [0.75, 0.75]  # unrotated accuracy marked per model
    assert fig.layout.shapes[0].line.color == lines[0].line.color
    heat = plots.per_class_angle_figure(results["plain"])
    np.testing.assert_allclose(np.array(heat.data[0].z, dtype=float), results["plain"].per_class.T)
    assert list(heat.data[0].x) == ["0°", "90°", "180°"] and list(heat.data[0].y) == list(QUAD_NAMES)
    idx, orig, rot = robustness.rotation_examples(x, 90, n=4)
    ex = plots.rotated_examples_figure(orig, rot, 90)
    assert len(ex.data) == 8
    assert [a.text for a in ex.layout.annotations] == ["Original"] * 4 + ["Rotated 90°"] * 4
    tr = plots.transforms_figure({"plain": robustness.transform_test(model, x, y, QUAD_NAMES, shifts=(1,))})
    assert len(tr.data[0].x) == 7


def test_sizes_figure_labels_sizes_that_cannot_run():
    rows = [robustness.SizeResult(48, "upscale", False, None, None, "no"),
            robustness.SizeResult(64, "upscale", True, 0.5, np.array([0.5, 0.5]), "yes")]
    fig = plots.sizes_figure({"m": rows})
    assert list(fig.data[0].text) == ["cannot run", "50%"]
    assert list(fig.data[0].y) == [0.0, 0.5]


def test_variant_scores_stream_every_copy_in_batches_of_one_compiled_pass(quad):
    from cnnviz.inspect import inference, transforms

    model, x, y = quad
    variants = [transforms.original(), transforms.rotation(90), transforms.flip("vertical"), transforms.rotation(90),
                transforms.shift(0, 1)]
    forward = inference.Forward(model)
    seen = []
    scores = robustness.variant_scores(forward, x, y, 4, variants, batch_size=3,
                                       progress=lambda done, total: seen.append((done, total)))
    assert list(scores) == list(dict.fromkeys(variants))  # the repeated 90° is computed once
    batches = -(-len(x) // 3)
    assert forward.passes == 4 * batches and seen[-1] == (4 * len(x), 4 * len(x))
    assert forward._call.experimental_get_tracing_count() == 1
    for variant, (acc, per_class) in scores.items():
        predicted = evaluation.predict_probabilities(model, variant.apply(x)).argmax(1)
        assert acc == pytest.approx(np.mean(predicted == y))
        expected = [np.mean(predicted[y == c] == c) if np.any(y == c) else np.nan for c in range(4)]
        np.testing.assert_allclose(per_class, expected)
    done = []
    again = robustness.variant_scores(forward, x, y, 4, variants, batch_size=3,
                                      progress=lambda d, t: done.append(d),
                                      finished=lambda variant, score: done.append((variant, score)))
    told = [item for item in done if isinstance(item, tuple)]
    assert [v for v, _ in told] == list(again)  # each copy as soon as it is done, in order, once
    assert [done.index(item) for item in told] == [k * (batches + 1) + batches for k in range(4)]
    for variant, (acc, per_class) in told:
        assert acc == again[variant][0] and np.array_equal(per_class, again[variant][1], equal_nan=True)


def test_coarse_to_fine_spreads_each_first_few_angles_round_the_circle():
    from cnnviz.inspect import transforms

    assert transforms.coarse_to_fine(range(0, 360, 45)) == [0, 180, 90, 270, 45, 135, 225, 315]
    assert transforms.coarse_to_fine((30, 60, 30)) == [30, 60]
    order = transforms.coarse_to_fine(range(0, 360, 15))
    assert sorted(order) == list(range(0, 360, 15)) and order[:4] == [0, 180, 90, 270]
    assert transforms.coarse_to_fine(()) == []


class _LoggedVariant:
    """A copy whose transform logs which slice it made, in which thread (or raises on one slice)."""

    def __init__(self, name, log, fail_at=None):
        self.name, self.log, self.fail_at = name, log, fail_at

    def apply(self, images):
        import threading

        start = int(images[0, 0, 0, 0])  # the images below hold their own index
        if start == self.fail_at:
            raise InvalidArgument(f"cannot transform slice {start}")
        self.log.append(("made", self.name, start, threading.current_thread().name))
        return images + 1000


def test_transformed_batches_make_the_next_slice_in_another_thread_before_this_one_is_used():
    import threading

    log = []
    x = np.arange(7, dtype=np.int64).reshape(7, 1, 1, 1) * np.ones((1, 2, 2, 1), np.int64)
    variants = [_LoggedVariant("a", log), _LoggedVariant("b", log)]
    order = [("a", 0), ("a", 3), ("a", 6), ("b", 0), ("b", 3), ("b", 6)]
    got = []
    for variant, start, images in robustness.transformed_batches(x, variants, 3):
        got.append((variant.name, start))
        np.testing.assert_array_equal(images, x[start:start + 3] + 1000)
        if len(got) < len(order):  # the next slice is made while this one is in the caller's hands
            deadline = time.monotonic() + 10
            while not any(e[1:3] == order[len(got)] for e in list(log)) and time.monotonic() < deadline:
                time.sleep(0.001)
            assert any(e[1:3] == order[len(got)] for e in list(log)), f"slice {order[len(got)]} not made ahead"
    assert got == order
    assert len(log) == len(order) and all(e[3] != threading.current_thread().name for e in log)
    assert list(robustness.transformed_batches(x, [], 3)) == []


def test_a_transform_error_reaches_the_caller_and_no_thread_is_left_behind():
    import threading

    x = np.arange(6, dtype=np.int64).reshape(6, 1, 1, 1)
    with pytest.raises(InvalidArgument, match="cannot transform slice 4"):
        for _ in robustness.transformed_batches(x, [_LoggedVariant("a", [], fail_at=4)], 2):
            pass
    batches = robustness.transformed_batches(x, [_LoggedVariant("a", [])], 2)
    next(batches)
    batches.close()  # the caller stops early (e.g. its forward pass failed)
    assert not [t for t in threading.enumerate() if t.name.startswith("cnnviz-transform")]


def test_sample_indices_are_evenly_spaced_and_refuse_nonsense():
    assert robustness.sample_indices(10_000).tolist() == list(range(0, 10_000, 5))
    assert robustness.sample_indices(7, 3).tolist() == [0, 2, 4]
    assert robustness.sample_indices(3, 3).tolist() == [0, 1, 2]
    assert robustness.sample_indices(0).tolist() == []
    classes = np.repeat(np.arange(10), 1000)  # a test set sorted by class keeps its proportions
    assert np.bincount(classes[robustness.sample_indices(len(classes))]).tolist() == [200] * 10
    for count, limit in ((-1, 5), (2.5, 5), (True, 5), (10, 0)):
        with pytest.raises(InvalidArgument, match=repr(count) if limit else "got 0"):
            robustness.sample_indices(count, limit)


def test_each_shift_is_named_by_the_way_the_picture_moves(quad):
    """"shift down 2 px" is the test set moved 2 pixels down (scipy.ndimage.shift by +2 rows), and so on: each
    named copy's accuracy per class is that of the images moved that way."""
    model, x, y = quad
    r = robustness.transform_test(model, x, y, QUAD_NAMES, shifts=(2,))
    moves = {"shift right 2 px": (0, 2), "shift left 2 px": (0, -2), "shift down 2 px": (2, 0),
             "shift up 2 px": (-2, 0)}
    for name, (dy, dx) in moves.items():
        moved = ndimage.shift(x, (0, dy, dx, 0), order=0, mode="constant", cval=0.0)
        ev = evaluation.evaluate(model, moved, y, QUAD_NAMES)
        row = r.names.index(name)
        assert r.accuracy[row] == pytest.approx(ev.accuracy), name
        np.testing.assert_allclose(r.per_class[row], [c["recall"] for c in ev.per_class], err_msg=name)


def test_the_training_jobs_kept_views_are_the_test_set_as_it_is_and_mirrored_left_right():
    """The job keeps its answers on each test image and on its mirror image (``flip_images``' default, left-right):
    Robustness reuses them as exactly those copies, so its "flip left-right" bar is that mirror's accuracy."""
    from cnnviz.training import tta

    kept = robustness.KEPT_VIEWS
    np.testing.assert_array_equal(kept[tta.PLAIN_VIEW].apply(X_U8), X_U8)
    np.testing.assert_array_equal(kept[tta.MIRRORED_VIEW].apply(X_U8), X_U8[:, :, ::-1])
    named = dict(robustness.transform_variants((1,), fill="constant"))
    assert kept[tta.MIRRORED_VIEW] == named["flip left-right"] and kept[tta.PLAIN_VIEW] == named["original"]


def test_robustness_doctests():
    import doctest

    assert doctest.testmod(robustness).failed == 0


def test_a_sweep_without_0_degrees_has_no_upright_accuracy():
    names = ("a", "b")
    y = np.array([0, 1])
    scores = [(0.5, np.array([1.0, 0.0])), (0.25, np.array([0.5, 0.0]))]
    assert robustness.sweep_result((180, 90), scores, names, y, "constant").unrotated_accuracy is None
    assert robustness.sweep_result((360, 90), scores, names, y, "constant").unrotated_accuracy == 0.5


def test_figures_write_each_accuracy_on_its_own_bar_and_line():
    sweep = robustness.sweep_result((0, 90), [(0.75, np.array([1.0, 0.5])), (0.25, np.array([0.5, 0.0]))],
                                    ("a", "b"), np.array([0, 1]), "constant")
    fig = plots.accuracy_vs_angle_figure({"plain": sweep})
    assert [a.text for a in fig.layout.annotations] == ["plain upright 75%"]
    result = robustness.TransformResult(("original", "flip left-right"), np.array([0.75, 0.25]),
                                        np.zeros((2, 2)), ("a", "b"))
    bars = plots.transforms_figure({"plain": result}).data[0]
    assert list(bars.x) == ["original", "flip left-right"] and list(bars.text) == ["75%", "25%"]
