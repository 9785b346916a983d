"""MNIST information-plane experiment (the seed project's Figure 3) on the CPU.

The subpackage reproduces the seed's experiment: a small convolutional
classifier is trained on MNIST and, at a schedule of epochs, the information
plane of its layers is measured on the 10,000 test images

* with Sliced Mutual Information, SMI(X;L) and SMI(L;Y), on the raw
  representations (:func:`fastsmi.mnist.infoplane.measure_infoplane`);
* with full-dimensional MI after compressing X by a convolutional autoencoder
  and every layer L by PCA to 4 components (the "AE+MI" variant).

Only :mod:`fastsmi.mnist.data`, :mod:`fastsmi.mnist.config` and
:mod:`fastsmi.mnist.cli` are importable without PyTorch; the other
modules need the ``fastsmi[mnist]`` extra (``torch``). ``import fastsmi`` never
imports this subpackage, and importing this subpackage does not import torch.
"""
from __future__ import annotations

__all__ = ["data", "config", "model", "autoencoder", "infoplane", "checkpoint", "run", "cli"]
