"""The views of docs/notebooks.md: which page, and what to do there first, before a row's answer shows."""

from __future__ import annotations


def _layers(at):
    at.segmented_control(key="train_source").set_value("Layer by layer").run()
    at.selectbox(key="lb_template").set_value("seed003_q32").run()
    at.button(key="lb_load").click().run()


def _weights(at):
    at.toggle(key="train_class_weights").set_value(True).run()  # the counts and weights of the run's images


def _builder(at):
    at.segmented_control(key="train_source").set_value("My own network").run()


SETUPS = {  # view: (page file, what to do there first, needs a trained run)
    "convolution": ("convolution", None, False), "datasets": ("datasets", None, False),
    "build": ("build_train", None, False), "weights": ("build_train", _weights, False),
    "builder": ("build_train", _builder, False),
    "layers": ("build_train", _layers, False), "experiments": ("experiments", None, False),
    "runs": ("runs", None, True), "evaluate": ("evaluate", None, True), "inside": ("inside", None, True),
    "explain": ("explain", None, True), "robustness": ("robustness", None, True),
    "pretrained": ("pretrained", None, False), "transfer": ("transfer", None, False),
}
