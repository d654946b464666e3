"""One run label implementation (runs.labels) and RunInfo's typed accessors."""

from __future__ import annotations

from cnnviz.models.config import ModelConfig
from cnnviz.runs import labels
from cnnviz.runs.store import RunInfo
from cnnviz.training.spec import TrainSpec
from tests.support.runs import fake_run_info
from tests.support.specs import FLAT_MODEL


def _info(**changes) -> RunInfo:
    spec = TrainSpec(model=ModelConfig(conv_layers=1, filters=4, batch_norm=False), dataset="digits", train_size=60,
                     test_size=30, seed=2)
    config = {**spec.to_dict(), "input_shape": [8, 8, 1], "num_classes": 10,
              "class_names": [str(d) for d in range(10)],
              "scaling_affine": {"method": "unit", "scale": [1 / 255], "offset": [0.0]}, "labels": "one_hot"}
    config.update(changes)
    return RunInfo(run_id="20250101-120000-0123abcd", config=config, history={}, metrics={"test_accuracy": 0.5},
                   created="2025-01-01T12:00:00+00:00", status="finished", model_sha256="ab" * 32)


def test_labels():
    info = _info(model={**ModelConfig(head="global_avg").to_dict()},
                 augment={"rotation": 30.0, "flip": "none", "translate": 0.0, "zoom": 0.0, "seed": 0})
    assert info.label == labels.label(info) == "custom on digits (0123abcd)"
    assert labels.picker_label(info) == "custom on digits (0123abcd) · global-average head · rotate ±30° · 50.0%"
    assert labels.legend_label(info) == "custom, global-average head (0123abcd), rotate ±30°"
    assert labels.legend_label(_info()) == "custom (0123abcd), no augmentation"
    named = _info(preset="seed000_model1")  # issue 14: the name a class knows, not the preset id
    assert named.label == "CNN Lab: 2 conv layers, 16 filters on digits (0123abcd)"
    assert labels.picker_label(named).startswith("CNN Lab: 2 conv layers, 16 filters on digits (0123abcd) · ")
    assert labels.legend_label(named) == "CNN Lab: 2 conv layers, 16 filters (0123abcd), no augmentation"
    assert labels.network_id(named.spec) == "seed000_model1"  # what the command line takes
    assert _info(preset="seed999_gone").label == "seed999_gone on digits (0123abcd)"  # an unknown id never fails


def test_typed_accessors():
    info = _info()
    assert isinstance(info.spec, TrainSpec) and info.spec.seed == 2
    assert info.model_config == ModelConfig(conv_layers=1, filters=4, batch_norm=False)
    assert info.input_shape == (8, 8, 1) and info.num_classes == 10 and info.class_names[:2] == ("0", "1")
    assert info.scaling_affine["method"] == "unit" and info.model_sha256 == "ab" * 32


def test_labels_name_head_augmentation_and_accuracy():
    info = fake_run_info(augment={"rotation": 30.0, "flip": "none", "translate": 0.0, "zoom": 0.0, "seed": 0},
                 model={**FLAT_MODEL, "head": "global_avg"})
    assert labels.picker_label(info) == "custom on digits (0123abcd) · global-average head · rotate ±30° · 50.0%"
    assert labels.legend_label(info) == "custom, global-average head (0123abcd), rotate ±30°"
    assert labels.legend_label(fake_run_info()) == "custom (0123abcd), no augmentation"


def _with_metrics(info: RunInfo, **metrics) -> RunInfo:
    return RunInfo(run_id=info.run_id, config=info.config, history={}, metrics=metrics, created=info.created,
                   status="finished")


def test_test_loss_text_says_what_the_loss_includes():
    plain = fake_run_info()
    assert labels.loss_kind(plain.spec) == "cross-entropy"
    assert labels.test_loss_text(plain) is None  # not measured
    assert labels.test_loss_text(_with_metrics(plain, test_loss=1.06641, test_cross_entropy=1.06641)) == (
        "test loss 1.0664 (cross-entropy, the number Evaluate shows)")
    smoothed = fake_run_info(model={**FLAT_MODEL, "label_smoothing": 0.2}, tta="flip")
    assert labels.loss_kind(smoothed.spec) == "cross-entropy with label smoothing 0.2"
    assert labels.test_loss_text(_with_metrics(smoothed, test_loss=1.465, test_cross_entropy=1.0664)) == (
        "test loss 1.4650 (cross-entropy with label smoothing 0.2 of the answers with test-time augmentation, the "
        "training loss); plain cross-entropy 1.0664, the number Evaluate shows")
    # a run saved before test_cross_entropy existed still says what its number is
    assert labels.test_loss_text(_with_metrics(smoothed, test_loss=1.465)) == (
        "test loss 1.4650 (cross-entropy with label smoothing 0.2 of the answers with test-time augmentation, the "
        "training loss)")
    mse = fake_run_info(model={**FLAT_MODEL, "loss": "mean_squared_error"})
    assert labels.loss_kind(mse.spec) == "mean squared error"


def test_accuracy_gap_note_says_why_training_accuracy_trails_the_test():
    from cnnviz.training.spec import spec_from_preset

    assert labels.accuracy_gap_note(fake_run_info().spec) is None  # plain training: nothing to explain
    note = labels.accuracy_gap_note(spec_from_preset("fast_1min", seed=0))
    assert note == ("Why the training accuracy can be lower than the test accuracy: during training the network "
                    "saw randomly changed images (flip horizontal (alternating epochs), crop ±2 px); was taught with label smoothing "
                    "0.2, which counts a sure right answer as only partly right. The test uses the plain images, "
                    "and averages the network's answers over a few changed copies of each (test-time "
                    "augmentation).")
    dropout = fake_run_info(model={**FLAT_MODEL, "dropout": 0.5}).spec
    assert "had 50% of some layers' nodes switched off at random (dropout)" in labels.accuracy_gap_note(dropout)
    conv_only = fake_run_info(model={**FLAT_MODEL, "conv_dropout": 0.25}).spec  # after the conv blocks: counts too
    assert "had 25% of some layers' nodes switched off at random (dropout)" in labels.accuracy_gap_note(conv_only)
    both = fake_run_info(model={**FLAT_MODEL, "dropout": 0.1, "conv_dropout": 0.3}).spec  # the larger share
    assert "had 30% of some layers' nodes" in labels.accuracy_gap_note(both)


def test_a_transfer_run_is_named_by_its_backbone_and_whether_it_was_frozen():
    # The Transfer page trains a frozen and an unfrozen run "to compare on the Runs page"; both were called
    # "transfer on digits (id)" in every picker and legend (their jobs said "MobileNetV2 frozen on digits").
    from tests.support.specs import tiny_transfer_spec

    frozen, unfrozen = (fake_run_info(**tiny_transfer_spec(frozen=f).to_dict()) for f in (True, False))
    assert frozen.label == "MobileNetV2 frozen on digits (0123abcd)"
    assert unfrozen.label == "MobileNetV2 unfrozen on digits (0123abcd)"
    assert labels.legend_label(unfrozen).startswith("MobileNetV2 unfrozen")
    assert labels.network_id(frozen.spec) == "transfer"  # what the command line takes stays
