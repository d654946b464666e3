"""cnnviz.inspect.inference: one compiled forward pass per model, equal to model.predict."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from cnnviz.data import scaling
from cnnviz.errors import InvalidArgument
from cnnviz.inspect import evaluation, inference
from tests.support.models import tiny_build


@pytest.fixture(scope="module")
def model():
    return tiny_build((8, 8, 3), 5)


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 8, 8, 3)).astype(np.float32)


def test_outputs_equal_predict_across_batch_boundaries(model):
    x = _images(600)
    expected = model.predict(x, batch_size=256, verbose=0)
    got = inference.model_outputs(model, x, batch_size=256)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(evaluation.predict_probabilities(model, x), expected, atol=1e-5)


def test_traced_once_per_model_for_every_batch_size(model):
    forward = inference.compiled(model)
    assert inference.compiled(model) is forward and inference.compiled(forward) is forward
    for n in (1, 7, 256, 300):
        forward.outputs(_images(n, seed=n))
    assert forward._call.experimental_get_tracing_count() == 1


def test_counts_one_pass_per_batch_and_reports_progress(model):
    forward = inference.Forward(model)
    seen = []
    forward.outputs(_images(600), batch_size=256, progress=lambda done, total: seen.append((done, total)))
    assert forward.passes == 3 and forward.images == 600
    assert seen == [(256, 600), (512, 600), (600, 600)]


def test_the_cache_does_not_keep_a_model_alive():
    temporary = tiny_build((8, 8, 3), 2)
    inference.compiled(temporary).outputs(_images(2))
    assert temporary in inference._compiled
    alive = weakref.ref(temporary)
    del temporary
    gc.collect()  # other tests' models may go in the same collection: follow this one only
    assert alive() is None  # the cache held no strong reference (its entry went with the model)


@pytest.mark.parametrize("x, batch_size, message", [
    (np.zeros((8, 8, 3)), 4, "N×H×W×C, got an array of shape (8, 8, 3)"),
    (np.zeros((0, 8, 8, 3)), 4, "no images"),
    (np.zeros((2, 8, 8, 3)), 0, "got 0"),
    (np.zeros((2, 8, 8, 3)), True, "got True"),
])
def test_bad_arguments_repeat_what_was_received(model, x, batch_size, message):
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        inference.model_outputs(model, x, batch_size=batch_size)


@pytest.mark.parametrize("tta", ["none", "flip", "flip_translate"])
def test_preparing_batch_by_batch_equals_preparing_everything_first(model, tta):
    x_u8 = np.random.default_rng(1).integers(0, 256, (300, 8, 8, 3), dtype=np.uint8)
    y = np.arange(300) % 5
    scale = lambda images: images.astype(np.float32) / 127.5 - 1  # noqa: E731 - a run's scaling
    names = [str(c) for c in range(5)]
    whole = evaluation.evaluate(model, scale(x_u8), y, names, tta=tta, batch_size=128)
    batched = evaluation.evaluate(model, x_u8, y, names, tta=tta, batch_size=128, prepare=scale)
    np.testing.assert_allclose(batched.probabilities, whole.probabilities, atol=1e-6)
    assert batched.loss == pytest.approx(whole.loss, abs=1e-6)


@pytest.mark.parametrize("tta", ["none", "flip"])
def test_evaluate_reports_progress_batch_by_batch(model, tta):
    seen = []
    evaluation.evaluate(model, _images(300), np.arange(300) % 5, [str(c) for c in range(5)], tta=tta,
                        batch_size=128, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(128, 300), (256, 300), (300, 300)]


@pytest.mark.parametrize("tta", ["none", "flip", "flip_translate"])
def test_a_runs_scaling_on_uint8_images_runs_inside_the_compiled_pass(model, tta):
    """An Affine on uint8 batches is applied in the graph: the same answers as scaling in NumPy first."""
    x_u8 = np.random.default_rng(2).integers(0, 256, (300, 8, 8, 3), dtype=np.uint8)
    y = np.arange(300) % 5
    names = [str(c) for c in range(5)]
    affine = scaling.Affine((1 / 51.0, 1 / 102.0, 1 / 25.5), (-2.5, 0.0, -5.0))  # per channel, as standardize
    forward = inference.compiled(model)
    in_graph = evaluation.evaluate(model, x_u8, y, names, tta=tta, batch_size=128, prepare=affine)
    in_numpy = evaluation.evaluate(model, x_u8, y, names, tta=tta, batch_size=128, prepare=lambda b: affine(b))
    np.testing.assert_allclose(in_graph.probabilities, in_numpy.probabilities, atol=1e-5)
    assert forward._scaled_call.experimental_get_tracing_count() == 1  # taken, and traced once for every call
    # Float images, or a batch whose channels do not match, are scaled in NumPy as before.
    floats = x_u8.astype(np.float32)
    np.testing.assert_allclose(forward.batch(floats[:5], affine), forward.batch(affine(floats[:5])), atol=1e-6)


def _xla_compiled_calls(forward) -> list[bool]:
    graph = forward._scaled_call.get_concrete_function().graph
    return [op.get_attr("_XlaMustCompile") for op in graph.get_operations() if "_XlaMustCompile" in op.node_def.attr]


def test_the_scaling_of_uint8_pixels_is_compiled_by_xla_unless_asked_not_to(model):
    affine = scaling.Affine((1 / 51.0, 1 / 102.0, 1 / 25.5), (-2.5, 0.0, -5.0))
    fused, unfused = inference.Forward(model), inference.Forward(model, fuse_scaling=False)
    for forward in (fused, unfused):
        forward.batch(np.zeros((3, 8, 8, 3), np.uint8), affine)
    assert _xla_compiled_calls(fused) == [True]  # one fused pass: cast, multiply, add
    assert _xla_compiled_calls(unfused) == [False]


def test_without_xla_the_scaled_pass_falls_back_to_tensorflows_own_kernels(model):
    """A TensorFlow build that cannot compile the fused scaling still answers, the same numbers."""
    import tensorflow as tf

    x_u8 = np.random.default_rng(3).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    affine = scaling.Affine((1 / 51.0, 1 / 102.0, 1 / 25.5), (-2.5, 0.0, -5.0))
    forward = inference.Forward(model)
    fused = forward.batch(x_u8, affine)
    np.testing.assert_allclose(inference.Forward(model, fuse_scaling=False).batch(x_u8, affine), fused, atol=1e-5)

    def no_xla(*args):
        raise tf.errors.UnimplementedError(None, None, "Could not find compiler for platform Host")

    forward._scaled_call = no_xla
    np.testing.assert_allclose(forward.batch(x_u8, affine), fused, atol=1e-5)
    assert forward._scaled_call is not no_xla and forward._scaled_call.experimental_get_tracing_count() == 1
    assert _xla_compiled_calls(forward) == [False]
    np.testing.assert_allclose(forward.batch(x_u8, affine), fused, atol=1e-5)  # and stays on it


def test_an_error_of_the_unfused_pass_is_not_swallowed(model):
    import tensorflow as tf

    forward = inference.Forward(model, fuse_scaling=False)

    def broken(*args):
        raise tf.errors.InternalError(None, None, "out of memory")

    forward._scaled_call = broken
    with pytest.raises(tf.errors.InternalError, match="out of memory"):
        forward.batch(np.zeros((2, 8, 8, 3), np.uint8), scaling.Affine((1.0,) * 3, (0.0,) * 3))
