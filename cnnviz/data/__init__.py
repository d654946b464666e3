"""Datasets and images: what a network is shown.

``datasets`` (CIFAR-10, MNIST, Fashion-MNIST, digits, own zips: load, import), ``stored`` (which are here:
names, files, status; no numpy, for Home), ``cifar10`` (the official archive), ``npzmap`` (stored images
memory-mapped, read only where used), ``folderdata`` (class folders in a zip), ``images`` (safe decoding of uploads),
``augment`` (random flips, rotations, shifts, zooms), ``scaling`` (the one pixel scaling), ``subsets``
(stratified subsets and validation splits), ``selection`` (the notebooks' first images and their
validation splits beside the stratified ones; images per class, class weights) and ``samples``
(scikit-learn's sample photos).
"""
