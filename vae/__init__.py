"""PyTorch VAEs with lattice latents and the paper's baselines (Sec. 3.3-3.6, 4.1).

* :mod:`vae.data`: static binarized MNIST and OMNIGLOT 28x28 (checksums, cache, fresh
  binarization of the OMNIGLOT training images at every draw);
* :mod:`vae.latents`: the latent layers (``gaussian``, ``z-laplace``, ``z2``, ``a2``, ``e8``,
  ``vq``, ``concrete``) behind one interface;
* :mod:`vae.models`: linear and gated encoders/decoders, Bernoulli likelihood, :class:`VAE`;
* :mod:`vae.train`: ``python -m vae.train`` (Adam, the paper's schedule, atomic checkpoints,
  exact resume);
* :mod:`vae.evaluate`: ``python -m vae.evaluate RUN_DIR --samples 1 5000`` (importance-weighted
  test NLL, real dithered quantization for the lattice latents);
* :mod:`vae.sweep`: ``python -m vae.sweep CONFIG`` (a grid of runs on Dask, restartable; the
  ``sweep`` extra);
* :mod:`vae.callbacks`: training callbacks, ``logging``, TensorBoard;
* :mod:`vae.testing`: :func:`~vae.testing.check_latent`, the contract a latent layer meets.

Your own networks and latents: ``VAE(config, encoder=..., decoder=...)``,
:func:`vae.latents.register_latent`.

See docs/vae.md.
"""
from . import callbacks, data, latents, models, testing  # noqa: F401

__all__ = ["callbacks", "data", "latents", "models", "testing"]
