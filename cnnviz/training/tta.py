"""Test-time augmentation: a model's predictions averaged over mirrored and shifted copies of each image.

airbench's trick: a second forward pass on the mirror image adds 0.5 to 1 point on CIFAR-10.
TensorFlow is imported inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from cnnviz.data.augment import flip_images
from cnnviz.data.scaling import Affine
from cnnviz.errors import InvalidArgument
from cnnviz.inspect.inference import compiled


if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

#: Test-time augmentation: "flip" averages the predictions on each test image and its mirror
#: image (airbench's tta_level 1; +0.5 to 1 point on CIFAR-10 for a second forward pass);
#: "flip_translate" is airbench's tta_level 2: half the flip mean, plus a quarter each of the flip
#: means of the image shifted one pixel up-left and down-right (mirrored edges): six forward passes.
TTA_MODES = ("none", "flip", "flip_translate")
#: What each mode averages the predictions over, for pages ("the mean over {}").
TTA_SHORT = {
    "flip": "each test image and its mirror image",
    "flip_translate": "each test image and its mirror image, and both shifted by one pixel (weighted 2:1:1)",
}
#: How the run's metrics describe each mode (``test_tta``).
TTA_DESCRIPTIONS = {
    "flip": "flip: mean of the predictions on each test image and its mirror image",
    "flip_translate": "flip and translate: half the mean of the predictions on each test image and its mirror "
                      "image, a quarter each the same mean for the image shifted one pixel up-left and down-right",
}
#: Batch size for the test predictions (inference only; larger batches are cheaper per image).
PREDICT_BATCH = 500
#: The single views behind the TTA answers, kept beside a run (:mod:`cnnviz.runs.predictions`): each is
#: also one of Robustness' copies of the test set, which then need no forward pass (issue 19).
PLAIN_VIEW, MIRRORED_VIEW = "original", "flip_horizontal"


def translate_images(x: tf.Tensor, dy: int, dx: int) -> Any:
    """Shift images N×H×W×C by (``dy``, ``dx``) pixels, at most 1, filling the edge by mirroring."""
    import tensorflow as tf

    if abs(dy) > 1 or abs(dx) > 1:
        raise InvalidArgument(f"translate_images shifts by at most one pixel, got ({dy}, {dx})")
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
    height, width = x.shape[1], x.shape[2]
    return padded[:, 1 - dy:1 - dy + height, 1 - dx:1 - dx + width, :]


def predict_tta(model: keras.Model, x: np.ndarray | tf.data.Dataset, *, tta: str = "flip",
                batch_size: int = PREDICT_BATCH, prepare: Any = None, progress: Any = None) -> np.ndarray:
    """The model's class probabilities, with test-time augmentation.

    Args:
        model: a trained classifier (softmax output).
        x: scaled images N×H×W×C (float), or a ``tf.data`` pipeline of (images, labels)
            batches such as :func:`cnnviz.training.pipeline.make_pipeline` gives.
        tta: "flip": the mean of the predictions on each image and on its mirror image;
            "flip_translate": half that mean plus a quarter each of the same mean for the image
            shifted one pixel down-right and up-left (see ``TTA_MODES``); "none": plain predictions.
        batch_size: images per forward pass (arrays only).
        prepare: applied to each batch of an array first (e.g. the run's scaling of uint8 pixels).
        progress: for an array, called as ``progress(images done, N)`` after each batch.
    Returns:
        Probabilities N×classes (float32).
    """
    plain, _, augmented = _predictions(model, x, tta=tta, batch_size=batch_size, prepare=prepare, progress=progress)
    return plain if augmented is None else augmented


def _predictions(model: Any, x: Any, *, tta: str, batch_size: int, prepare: Any = None,
                 progress: Any = None,
                 count: int | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Plain, (with TTA) mirrored and augmented predictions, batch by batch through the model's compiled
    forward pass.

    ``progress(done, total)`` hears after each batch how many images are done: of ``len(x)`` for an array, of
    ``count`` for a dataset (none without it).

    A plain loop over a traced forward pass (:func:`cnnviz.inspect.inference.compiled`, traced once per
    model): ``model.predict`` cost here about twice as much for the 10,000 CIFAR-10 test images (issue 8).
    """
    if tta not in TTA_MODES:
        raise InvalidArgument(f"test-time augmentation must be one of {', '.join(TTA_MODES)}, got {tta!r}")
    if isinstance(x, np.ndarray) and x.ndim != 4:
        raise InvalidArgument(f"images must be N×H×W×C, got shape {x.shape}")
    import tensorflow as tf

    forward = compiled(model)
    if isinstance(x, np.ndarray):
        batches: Any = (x[i:i + batch_size] for i in range(0, len(x), batch_size))
    else:
        batches, prepare = (b[0] if isinstance(b, tuple) else b for b in x), None
    # Batch by batch: scaling all images at once costs more than a small network. The run's scaling of uint8
    # images (an Affine) happens inside the compiled pass, after the flips and shifts (pixel copies: same result).
    in_graph = isinstance(prepare, Affine) and isinstance(x, np.ndarray) and x.dtype == np.uint8
    if prepare is not None and not in_graph:
        batches = (prepare(b) for b in batches)

    def predict(images: Any) -> np.ndarray:
        return forward.batch(images, prepare if in_graph else None)

    def mirror_mean(images: Any) -> np.ndarray:
        return (predict(images) + predict(flip_images(images))) / 2

    plain, mirrored, augmented = [], [], []
    for images in batches:
        images = tf.convert_to_tensor(images, dtype=tf.uint8 if in_graph else tf.float32)
        plain.append(predict(images))
        if tta != "none":
            mirrored.append(predict(flip_images(images)))
            both = (plain[-1] + mirrored[-1]) / 2
            if tta == "flip":
                augmented.append(both)
            else:  # halving twice is exact: the same numbers as (plain + mirrored) / 4
                shifted = mirror_mean(translate_images(images, 1, 1)) + mirror_mean(translate_images(images, -1, -1))
                augmented.append(both / 2 + shifted / 4)
        if progress is not None and (isinstance(x, np.ndarray) or count is not None):
            progress(sum(len(p) for p in plain), len(x) if isinstance(x, np.ndarray) else count)
    classes = int(model.output_shape[-1])

    def stack(parts: list) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros((0, classes), np.float32)

    if tta == "none":
        return stack(plain), None, None
    return stack(plain), stack(mirrored), stack(augmented)


def evaluate_tta(model: Any, test_ds: Any, y: np.ndarray, *, tta: str, one_hot: bool, num_classes: int,
                 progress: Any = None) -> dict:
    """Test loss and accuracy of the TTA predictions (the plain ones for "none"), the accuracy without TTA,
    the tested ``probabilities`` (N×C) and the single ``views`` computed on the way (``{PLAIN_VIEW: N×C}``,
    and ``MIRRORED_VIEW`` with TTA). ``progress(done, len(y))`` hears after each batch how many images are done."""
    plain, mirrored, augmented = _predictions(model, test_ds, tta=tta, batch_size=PREDICT_BATCH, progress=progress,
                                              count=len(y))
    probs = augmented if augmented is not None else plain
    target = np.eye(num_classes, dtype=np.float32)[y] if one_hot else y
    import keras  # lazy: as TensorFlow in _predictions

    loss_fn = model.loss if callable(model.loss) else keras.losses.get(model.loss)  # compiled with a name
    loss = float(np.mean(np.asarray(loss_fn(target, probs))))
    return {"loss": loss, "accuracy": float(np.mean(probs.argmax(1) == y)),
            "accuracy_plain": float(np.mean(plain.argmax(1) == y)), "probabilities": probs,
            "views": {PLAIN_VIEW: plain, **({} if mirrored is None else {MIRRORED_VIEW: mirrored})}}
