"""PyTorch VAEs with lattice latents and the paper's baselines.

So far: ``vae.data`` (static binarized MNIST and OMNIGLOT 28x28, verified
against the published checksums, cached, with fresh binarization of the
OMNIGLOT training images at every draw).  The models, training and
importance-weighted evaluation are the subject of a later issue.
"""
from . import data  # noqa: F401

__all__ = ["data"]
