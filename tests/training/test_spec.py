"""TrainSpec: typed settings, the saved dict format, old runs, the split-size rule, the factories."""

from __future__ import annotations

import pytest

from cnnviz.data.augment import AugmentConfig
from cnnviz.errors import InvalidArgument
from cnnviz.models.config import ModelConfig
from cnnviz.training import spec as specs
from cnnviz.training.spec import TrainSpec, twin_spec
from tests.support.runs import fake_run_info
from tests.support.specs import FLAT_MODEL


def test_model_and_augment_are_typed_and_saved_as_plain_dicts():
    spec = TrainSpec(model=ModelConfig(learning_rate=0.02), augment=AugmentConfig(rotation=10.0))
    saved = spec.to_dict()
    assert saved["model"] == ModelConfig(learning_rate=0.02).to_dict()
    assert saved["augment"] == AugmentConfig(rotation=10.0).to_dict()
    again = TrainSpec.from_dict({**saved, "input_shape": [8, 8, 1], "num_classes": 10})  # run keys are skipped
    assert again == spec and isinstance(again.model, ModelConfig) and isinstance(again.augment, AugmentConfig)


def test_settings_are_typed_a_dict_is_refused_outside_the_file_boundary():
    with pytest.raises(InvalidArgument, match="model must be a ModelConfig, got dict"):
        TrainSpec(model={"learning_rate": 0.5}).validate()
    with pytest.raises(InvalidArgument, match="augment must be an AugmentConfig or None, got"):
        TrainSpec(model=ModelConfig(), augment={"flip": "horizontal"}).validate()


def test_an_old_run_config_still_loads():
    old = {"model": {"architecture": "custom", "conv_layers": 1}, "dataset": "digits", "train_size": 60,
           "test_size": 30, "validation_fraction": 0.25, "scaling": "unit",
           "augment": {"rotation": 5.0, "flip": "none", "translate": 0.0, "zoom": 0.0, "seed": 0},
           "class_weights": False, "epochs": 1, "batch_size": 8, "early_stopping": False, "keep_best": False,
           "seed": 0, "preset": None, "scaling_affine": {"method": "unit", "scale": [1 / 255], "offset": [0.0]}}
    spec = TrainSpec.from_dict(old)  # saved before tta, crop and most model settings existed
    assert spec.tta == "none" and spec.augment.crop == 0 and spec.model.conv_layers == 1
    assert spec.model.learning_rate == ModelConfig().learning_rate
    spec.validate()
    with pytest.raises(InvalidArgument, match="needs its model settings"):
        TrainSpec.from_dict({"dataset": "digits"})


def test_split_size_rule_lives_in_validate():
    spec = TrainSpec(model=ModelConfig(), train_size=30, validation_fraction=0.25)
    spec.validate()  # without the number of classes the rule cannot apply
    with pytest.raises(InvalidArgument, match=r"With 10 classes and a validation share of 0\.25, training needs at "
                                              r"least 37 images \(every class on both sides of the split\), got 30\."):
        spec.validate(num_classes=10)
    TrainSpec(model=ModelConfig(), train_size=37, validation_fraction=0.25).validate(num_classes=10)
    TrainSpec(model=ModelConfig(), train_size=5, validation_fraction=0.0).validate(num_classes=10)


def test_frozen_and_unfrozen_change_only_freezing_and_learning_rate():
    from cnnviz.models import transfer

    base = specs.transfer_spec(transfer.config(weights="none"), dataset="digits", train_size=40, test_size=20,
                               epochs=1)
    frozen, unfrozen = specs.frozen_and_unfrozen(base)
    assert (frozen.model.frozen, frozen.model.learning_rate) == (True, 1e-3)
    assert (unfrozen.model.frozen, unfrozen.model.learning_rate) == (False, 1e-4)
    assert frozen.model.replace(frozen=False, learning_rate=1e-4) == unfrozen.model
    with pytest.raises(InvalidArgument, match="expected a transfer model configuration, got architecture 'custom'"):
        specs.transfer_spec(ModelConfig(), dataset="digits", train_size=None, test_size=None, epochs=1)


def test_job_label():
    assert TrainSpec(model=ModelConfig(), dataset="digits").label == "custom on digits"
    assert specs.spec_from_preset("seed000_model1", dataset="digits").label == "CNN Lab: 2 conv layers, 16 filters on digits"


def test_augmented_twin_keeps_everything_but_the_augmentation():
    info = fake_run_info(seed=7)
    spec = twin_spec(info, rotation=30, flip="horizontal_and_vertical")
    assert spec.augment.to_dict() == {"rotation": 30.0, "flip": "horizontal_and_vertical", "translate": 0.0, "zoom": 0.0,
                            "crop": 0, "seed": 7, "alternate_flip": False}
    original = info.config
    for key in ("model", "dataset", "train_size", "test_size", "epochs", "batch_size", "seed", "scaling"):
        assert spec.to_dict()[key] == original[key]


def test_twin_keeps_the_runs_other_augmentation_and_flip():
    info = fake_run_info(augment={"rotation": 0.0, "flip": "horizontal", "translate": 0.1, "zoom": 0.0, "seed": 3})
    spec = twin_spec(info, rotation=90)
    assert spec.augment.to_dict() == {"rotation": 90.0, "flip": "horizontal", "translate": 0.1, "zoom": 0.0, "crop": 0,
                            "seed": 3, "alternate_flip": False}


def test_size_agnostic_twin_changes_only_the_head():
    info = fake_run_info()
    spec = twin_spec(info, head="global_avg")
    assert spec.model.to_dict() == {**FLAT_MODEL, "head": "global_avg"}
    assert spec.augment is None


def test_twin_of_a_network_that_cannot_be_rebuilt_is_refused():
    with pytest.raises(InvalidArgument, match="architecture must be one of .*got 'test-tiny'"):
        twin_spec(fake_run_info(model={"architecture": "test-tiny", "filters": 4}), rotation=30)


def test_twin_with_an_impossible_rotation_repeats_it():
    with pytest.raises(InvalidArgument, match="rotation must be 0..180 degrees, got 400.0"):
        twin_spec(fake_run_info(), rotation=400)


# --- which images (cnnviz.data.selection) -----------------------------------------------------------
def test_the_selection_is_typed_saved_and_an_old_run_reads_as_stratified():
    from cnnviz.data.selection import FIRST_LAST, STRATIFIED

    spec = TrainSpec(model=ModelConfig(), selection=FIRST_LAST)
    saved = spec.to_dict()
    assert saved["selection"] == {"subset": "first", "split": "last"}
    assert TrainSpec.from_dict(saved) == spec
    saved.pop("selection")  # a run saved before selections existed drew a stratified subset
    assert TrainSpec.from_dict(saved).selection == STRATIFIED
    with pytest.raises(InvalidArgument, match="selection must be a Selection, got"):
        TrainSpec(model=ModelConfig(), selection={"subset": "first"}).validate()


def test_each_seed_preset_defaults_to_its_notebooks_images():
    seen = {name: specs.spec_from_preset(name).selection.to_dict() for name in
            ("seed000_model1", "seed001_cnn", "seed002_cnn_augmented", "seed003_cnn", "seed004_base", "fast_1min")}
    assert seen == {
        "seed000_model1": {"subset": "first", "split": "shuffled"},
        "seed001_cnn": {"subset": "first", "split": "last"},
        "seed002_cnn_augmented": {"subset": "first", "split": "first"},
        "seed003_cnn": {"subset": "first", "split": "last"},
        "seed004_base": {"subset": "stratified", "split": "stratified"},  # the report gives no set-up
        "fast_1min": {"subset": "stratified", "split": "stratified"},
    }
    # on another dataset (maybe sorted by class) the random stratified one
    assert specs.spec_from_preset("seed001_cnn", dataset="digits").selection.is_stratified


def test_an_unshuffled_split_needs_no_class_on_both_sides_but_an_image_on_each():
    from cnnviz.data.selection import FIRST_FIRST

    TrainSpec(model=ModelConfig(), train_size=8, validation_fraction=0.25, selection=FIRST_FIRST).validate(
        num_classes=10)  # a stratified split would need 37
    with pytest.raises(InvalidArgument, match="needs at least 37 images"):
        TrainSpec(model=ModelConfig(), train_size=8, validation_fraction=0.25).validate(num_classes=10)
    with pytest.raises(InvalidArgument, match="of 1 training images leaves no images for validation or none"):
        TrainSpec(model=ModelConfig(), train_size=1, validation_fraction=0.25, selection=FIRST_FIRST).validate()


def test_prepare_data_uses_the_selected_images():
    import numpy as np

    from cnnviz.data.datasets import Dataset
    from cnnviz.data.selection import FIRST_LAST
    from cnnviz.training.pipeline import prepare_data

    x = np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1)
    ds = Dataset("tiny", x, np.arange(20) % 2, x[:6], np.arange(6) % 2, ("even", "odd"), "hand-made")
    spec = TrainSpec(model=ModelConfig(), dataset="tiny", train_size=10, test_size=4, validation_fraction=0.2,
                     selection=FIRST_LAST)
    data = prepare_data(spec, full=ds)
    assert data.x_train.ravel().tolist() == list(range(8)) and data.x_val.ravel().tolist() == [8, 9]
    assert data.x_test.ravel().tolist() == [0, 1, 2, 3]


def test_standardize_takes_its_statistics_from_the_images_trained_on_not_the_validation_ones():
    """The validation images are held out: like the test images they are scaled with the training part's mean
    and std (the first 8 pixels 0..7: mean 3.5, std √5.25), not with numbers that include them (0..9)."""
    import numpy as np

    from cnnviz.data.datasets import Dataset
    from cnnviz.data.selection import FIRST_LAST
    from cnnviz.training.pipeline import prepare_data

    x = np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1)
    ds = Dataset("tiny", x, np.arange(20) % 2, x[:6], np.arange(6) % 2, ("even", "odd"), "hand-made")
    spec = TrainSpec(model=ModelConfig(), dataset="tiny", train_size=10, test_size=4, validation_fraction=0.2,
                     selection=FIRST_LAST, scaling="standardize")
    data = prepare_data(spec, full=ds)
    assert data.affine["stats"]["mean"] == pytest.approx([3.5])
    assert data.affine["stats"]["std"] == pytest.approx([np.sqrt(5.25)])
    assert data.affine["offset"] == pytest.approx([-3.5 / np.sqrt(5.25)])


def test_prepadded_and_alternating_flip_round_trip_and_are_checked():
    aug = AugmentConfig(flip="horizontal", crop=2, alternate_flip=True)
    spec = TrainSpec(model=ModelConfig(), augment=aug, prepadded=True)
    spec.validate()
    again = TrainSpec.from_dict(spec.to_dict())
    assert again == spec and again.augment.alternate_flip and again.prepadded
    assert TrainSpec.from_dict({"model": {}}).prepadded is False  # older runs
    with pytest.raises(InvalidArgument, match="alternate flip needs the pre-padded data path"):
        TrainSpec(model=ModelConfig(), augment=aug).validate()
    with pytest.raises(InvalidArgument, match="only horizontal flips and crops, got augment 'rotate ±10°'"):
        TrainSpec(model=ModelConfig(), augment=AugmentConfig(rotation=10.0), prepadded=True).validate()
    with pytest.raises(InvalidArgument, match="alternate flip needs flip='horizontal', got flip='none'"):
        AugmentConfig(alternate_flip=True)
    # a fast preset trained with another augmentation leaves the pre-padded path
    fast = specs.spec_from_preset("fast_1min", augment=AugmentConfig(rotation=10.0))
    assert not fast.prepadded and specs.spec_from_preset("fast_1min").prepadded


def test_a_fast_runs_rotation_twin_leaves_the_pre_padded_path():
    fast = specs.spec_from_preset("fast_1min")
    info = fake_run_info(augment=fast.augment.to_dict(), prepadded=True)
    twin = twin_spec(info, rotation=30)
    assert not twin.prepadded and twin.augment.rotation == 30 and not twin.augment.alternate_flip
