r"""The interface every latent layer shares (training terms, inference samples, symbols).

A VAE here is ``encoder -> latent layer -> decoder`` with a Bernoulli likelihood on the
pixels (:mod:`vae.models`).  The latent layer owns everything between the encoder output
``e`` and the decoder input, in both regimes of the paper:

**Training** (:meth:`LatentLayer.train_terms`): a differentiable, quantization-free
objective.  The model's loss per example is

.. math::  \text{loss} = \underbrace{-\log p_{X|\cdot}(x\,|\,\text{decoder\_input})}_{\text{recon}}
           + \text{rate} + \text{aux}

where ``rate`` is the representation cost that belongs to the bound being trained
(eq. (5)'s first term for ``z-laplace``, the Gaussian-proxy KL of Sec. 3.6.2, the
Gaussian KL, ...) and ``aux`` are terms added to the loss that are *not* part of that bound:
the code-length term of eq. (6) (gradient only into the prior), VQ-VAE's codebook and
commitment losses.

**Inference** (:meth:`LatentLayer.inference_samples`): the discrete (or, for
``gaussian``, continuous) model that is actually evaluated.  For ``k`` samples per input
it returns the decoder inputs and ``log_ratio`` :math:`= \log p(z) - \log q(z|x)` in
float64, so the importance weight is :math:`\log w = \text{log\_ratio} + \log p(x|\cdot)`
and :math:`\log p(x) \ge \log \frac1k\sum_i w_i` (Burda et al. 2016).  For the lattice
layers the ``k`` samples are ``k`` dithers and ``log_ratio`` is minus the code length
(10): :math:`q_{Z|X,U}` is a point mass and the dither is shared randomness, the bound of
Sec. 3.6.3.

**Symbols** (:meth:`LatentLayer.encode`, :meth:`LatentLayer.decode`): the discrete
representation of an input (lattice coordinates, codebook indices, bits) and back, for
a codec.  Continuous layers (``gaussian``) raise ``TypeError``: they have no symbols.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

__all__ = ["LatentLayer", "TrainTerms", "InferenceSamples", "check_dim", "check_positive_float",
           "check_sample_count", "check_encoder_output", "require_dither"]


class TrainTerms(dict):
    """``dict`` returned by :meth:`LatentLayer.train_terms`.

    Keys
    ----
    decoder_input : (batch, dim) tensor fed to the decoder.
    rate : (batch,) representation cost in nats, part of the trained bound.
    aux : (batch,) terms added to the loss that are not part of the bound (zeros if none).
    Further keys: (batch,) diagnostics logged per epoch (e.g. ``code_length``).
    """


class InferenceSamples(dict):
    """``dict`` returned by :meth:`LatentLayer.inference_samples`.

    Keys
    ----
    decoder_input : (batch, k, dim) tensor.
    log_ratio : (batch, k) float64, :math:`\\log p(z) - \\log q(z|x)` of each sample.
    """


def check_dim(dim, multiple: int = 1, name: str = "hidden") -> int:
    """Validate a latent size: a positive int divisible by ``multiple`` (block size)."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"{name} must be a positive integer, got {dim!r}")
    if dim % multiple:
        raise ValueError(f"{name}={dim} must be a multiple of {multiple} for this latent "
                         f"(the product lattice is made of {multiple}-dimensional blocks): valid "
                         f"sizes are {multiple}, {2 * multiple}, {3 * multiple}, ...; the nearest "
                         f"are {max(multiple, dim - dim % multiple)} and {dim - dim % multiple + multiple}")
    return dim


def check_positive_float(value, name: str) -> float:
    """``value`` as a finite float > 0, else ``ValueError`` naming it (the one validation helper)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_encoder_output(e: torch.Tensor, width: int) -> torch.Tensor:
    """``e`` if it is a (batch, width) tensor, else ``ValueError`` naming the shape received."""
    if not isinstance(e, torch.Tensor) or e.dim() != 2 or e.shape[1] != width:
        got = tuple(e.shape) if isinstance(e, torch.Tensor) else type(e).__name__
        raise ValueError(f"encoder output must have shape (batch, {width}), got {got}")
    return e


def check_sample_count(k) -> int:
    """``k`` (importance samples / dithers per input) as a positive int, else ``ValueError``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (samples per input) must be a positive integer, got {k!r}")
    return k


def require_dither(u, op: str) -> torch.Tensor:
    """The dither of :meth:`LatentLayer.encode` / ``decode``: required for lattice latents."""
    if u is None:
        raise ValueError(f"{op} needs the dither u (batch, m) shared by encoder and decoder, "
                         "e.g. from sample_dither()")
    return u


class LatentLayer(nn.Module, ABC):
    """Base class of the latent layers (registry: :data:`vae.latents.LATENTS`).

    Attributes
    ----------
    name : str
        Registry name (``"gaussian"``, ``"z-laplace"``, ``"e8"``, ...).
    dim : int
        The hidden size ``m``: width of the decoder input.
    encoder_dim : int
        Width the encoder must produce (``2 m`` for ``gaussian``: mean and log-variance).
    discrete : bool
        Whether :meth:`encode` / :meth:`decode` exist.
    """

    name: ClassVar[str] = ""
    discrete: ClassVar[bool] = True

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    @property
    def encoder_dim(self) -> int:
        return self.dim

    @classmethod
    def option_names(cls) -> list[str]:
        """The keyword options of the constructor (after ``dim``), through ``**options`` to the parents."""
        import inspect

        valid = []
        for klass in cls.__mro__:                    # subclasses pass **options to their parents
            if "__init__" not in vars(klass):
                continue
            params = list(inspect.signature(klass.__init__).parameters.values())[2:]  # after self, dim
            valid += [q.name for q in params if q.kind in (q.KEYWORD_ONLY, q.POSITIONAL_OR_KEYWORD)
                      and q.name not in valid]
            if not any(q.kind is q.VAR_KEYWORD for q in params):
                break
        return valid

    @classmethod
    def check_options(cls, options) -> None:
        """``ValueError`` naming the valid keys when ``options`` (a model config's ``latent_options``)
        is not a dict of this layer's options; values are checked by the layer (a layer with typed
        options, e.g. :class:`vae.latents.proxy.ProxyLatticeLatent`, checks them here too)."""
        if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
            raise ValueError(f"latent_options must be a dict of option names to values, got {options!r}")
        valid = cls.option_names()
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(f"{', '.join(map(repr, unknown))}: not an option of latent {cls.name!r} "
                             f"(valid: {', '.join(valid) or 'none'})")

    @classmethod
    def options_for_state(cls, options: dict, state: dict) -> dict:
        """The options under which a saved ``state`` (this layer's ``state_dict``) loads; by
        default ``options`` unchanged (a layer whose defaults changed overrides it)."""
        return options

    @abstractmethod
    def train_terms(self, e: torch.Tensor, generator: torch.Generator | None = None) -> TrainTerms:
        """Differentiable training-time terms for encoder outputs ``e`` (batch, encoder_dim)."""

    @abstractmethod
    def inference_samples(self, e: torch.Tensor, k: int,
                          generator: torch.Generator | None = None) -> InferenceSamples:
        """``k`` samples per input of the evaluated model (see the module notes)."""

    def sample_dither(self, batch: int, generator: torch.Generator | None = None, device=None,
                      dtype=torch.float32) -> torch.Tensor:
        """Dithers U (batch, dim) uniform over the cell of the latent lattice (lattice layers only)."""
        raise TypeError(f"the {self.name!r} latent is not a dithered lattice quantizer: it has no dither")

    def encode(self, e: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """Discrete symbols of encoder outputs ``e`` (given the dither ``u`` for lattices)."""
        raise TypeError(f"the {self.name!r} latent is continuous: it has no discrete symbols")

    def decode(self, symbols: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder input (batch, dim) from the symbols returned by :meth:`encode`."""
        raise TypeError(f"the {self.name!r} latent is continuous: it has no discrete symbols")

    def extra_repr(self) -> str:
        return f"name={self.name!r}, dim={self.dim}"
