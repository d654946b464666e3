"""The pages of the lab, in teaching order: file, title, icon and what each one teaches.

``app.py`` routes from this list and the Home page describes it, so a page is added in
exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    path: str
    title: str
    icon: str
    teaches: str


PAGES: tuple[PageInfo, ...] = (
    PageInfo("app_pages/home.py", "Home", ":material/home:",
             "What is in this lab, and what data and weights this machine has."),
    PageInfo("app_pages/convolution.py", "Convolution", ":material/blur_on:",
             "Apply Gaussian, Sobel and your own kernels by hand; see the full, same and valid sizes, "
             "what a Conv2D filter does with colour, and how much faster a GPU convolves."),
    PageInfo("app_pages/datasets.py", "Datasets", ":material/photo_library:",
             "Browse CIFAR-10 and other datasets: classes, pixels, subsets, scaling and augmentation."),
    PageInfo("app_pages/build_train.py", "Build & train", ":material/model_training:",
             "Build a CNN with sliders or pick a notebook's network, see its parameters, train it live."),
    PageInfo("app_pages/experiments.py", "Experiments", ":material/science:",
             "Why mini-batches, batch norm's batch size, data larger than memory, dense against convolutional "
             "networks, dropout at test time: tiny networks trained side by side to answer the notebooks' whys."),
    PageInfo("app_pages/runs.py", "Runs", ":material/history:",
             "Every trained run: compare curves and settings, download or delete."),
    PageInfo("app_pages/evaluate.py", "Evaluate", ":material/fact_check:",
             "How good is a trained network, and where does it fail? Accuracy, the confusion matrix and "
             "the images behind each of its cells, per-class results, the most confident mistakes."),
    PageInfo("app_pages/inside.py", "Inside the network", ":material/layers:",
             "What a trained network sees: the feature maps of any layer for one image, the learned "
             "filters, and where it looked to decide (Grad-CAM)."),
    PageInfo("app_pages/explain.py", "Explain", ":material/lightbulb:",
             "Why it answered that: saliency, SmoothGrad and Integrated Gradients beside Grad-CAM, hiding parts "
             "of the image, fooling it with invisible changes (FGSM, PGD), and one neuron's arithmetic."),
    PageInfo("app_pages/robustness.py", "Robustness", ":material/rotate_right:",
             "Rotate, flip, shift and resize the test images: how much accuracy is left, and does "
             "training with rotated images (augmentation) help?"),
    PageInfo("app_pages/pretrained.py", "Pretrained ResNet50", ":material/psychology:",
             "Show your own photos to a network trained on 1.28 million ImageNet photos: its top guesses, "
             "how sure it is, where it looks (Grad-CAM) and why it is called ResNet50."),
    PageInfo("app_pages/transfer.py", "Transfer learning", ":material/move_up:",
             "Reuse an ImageNet network's layers (MobileNetV2, ResNet50 or VGG16) with a new head for your own "
             "classes; train it frozen and unfrozen and compare the two runs."),
    PageInfo("app_pages/class_room.py", "Class", ":material/school:",
             "For the teacher: who is training and who is waiting, stop a training, how many train at once, "
             "which runs the class sees, and the class's results table."),
)
