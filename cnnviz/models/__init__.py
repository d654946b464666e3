"""Networks: settings, architectures and building them in Keras.

``config`` (``ModelConfig`` and its options; no Keras), ``architectures`` and ``layerspec`` (the seed
networks as layer lists, parameter formulas), ``network`` (build any ``ModelConfig``), ``presets`` (the
notebooks' networks and the fast CIFAR-10 presets), ``notebookresults`` (a notebook's networks
side by side with the accuracies it printed), ``whitening`` (airbench's patch whitening),
``backbones`` and ``transfer`` (ImageNet backbones with a new head) and ``resnet50`` (the pretrained
classifier).
"""
