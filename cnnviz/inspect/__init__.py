"""Looking at trained networks: what they get right, where, and why.

``evaluation`` (accuracy, confusion matrix, mistakes), ``features`` (feature maps and filters),
``gradcam``, ``saliency`` (gradients, SmoothGrad, Integrated Gradients), ``occlusion``, ``adversarial``
(FGSM, PGD), ``neuron`` (one convolution output's arithmetic), ``logits`` (pre-softmax scores),
``robustness`` (rotations, flips, shifts, sizes) with ``transforms`` (the transformed copies of a test set),
``inference`` (the one compiled forward pass every page predicts with), ``layers`` (layer kinds and shapes), ``topk``,
``imagenet`` (ImageNet classes and model facts) and ``pretrained`` (ResNet50 on uploads).
"""
