"""Fixtures for the transfer-learning tests: tiny weights-free specs and a fake official weights file."""

from __future__ import annotations

from pathlib import Path

from cnnviz.models import transfer
from cnnviz.training.spec import transfer_spec


#: The smallest MobileNetV2 Keras builds: α 0.35 at 32×32 (random weights: nothing to download).
TINY = dict(backbone="mobilenetv2", alpha=0.35, image_size=32, weights="none")


def tiny_spec(*, frozen: bool = True, **changes):
    """60 digits (45 train + 15 validation), 30 test, one epoch, batch 8, through the normal job."""
    cfg = transfer.config(frozen=frozen, **{**TINY, **changes})
    return transfer_spec(cfg, dataset="digits", train_size=60, test_size=30, epochs=1, batch_size=8)


def legacy_weights_file(path: Path, *, alpha: float = 0.35, image_size: int = 96, seed: int = 1) -> Path:
    """A weights file in the legacy HDF5 layout Keras publishes (random values), for a MobileNetV2 base."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(seed)
    base = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=alpha,
                                          input_shape=(image_size, image_size, 3))
    with h5py.File(path, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, base)
    return path
