"""Home's inventory lists every dataset's status from cnnviz.data.datasets, without TensorFlow."""

from __future__ import annotations

from cnnviz import inventory

from cnnviz.data import datasets
from tests.support.archives import write_tiny_dir


def test_inventory_lists_dataset_status(cnnviz_home):
    report = inventory.report()
    assert report["home"] == str(cnnviz_home)
    by_name = {i["name"]: i for i in report["items"]}
    assert list(by_name)[:4] == ["scikit-learn digits", "CIFAR-10", "MNIST", "Fashion-MNIST"]
    assert by_name["scikit-learn digits"]["present"] is True
    assert by_name["CIFAR-10"]["present"] is False
    assert "python -m cnnviz data import cifar10 PATH" in by_name["CIFAR-10"]["detail"]


def test_inventory_sees_an_imported_dataset(tmp_path):
    datasets.import_cifar10(write_tiny_dir(tmp_path))
    cifar = [i for i in inventory.report()["items"] if i["name"] == "CIFAR-10"][0]
    assert cifar["present"] is True and "100 training and 20 test images" in cifar["detail"]


def test_inventory_lists_resnet50_weights_and_how_to_get_them(cnnviz_home, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(cnnviz_home / "no-keras-cache"))
    weights = [i for i in inventory.report()["items"] if i["name"] == "ResNet50 ImageNet weights"]
    assert len(weights) == 1 and weights[0]["present"] is False
    assert "python -m cnnviz download resnet50" in weights[0]["detail"]


def test_inventory_lists_transfer_backbone_weights(cnnviz_home, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(cnnviz_home / "no-keras-cache"))
    items = {i["name"]: i for i in inventory.report()["items"]}
    mobilenet = items["MobileNetV2 ImageNet weights (no top)"]
    assert mobilenet["present"] is False and "python -m cnnviz download mobilenetv2" in mobilenet["detail"]
    assert "python -m cnnviz download resnet50-notop" in items["ResNet50 ImageNet weights (no top)"]["detail"]
