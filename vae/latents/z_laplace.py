r"""``z-laplace``: direct lattice training on :math:`\Delta\mathbb Z` with a Laplacian S (Sec. 3.3, 3.6.1).

Each of the ``m`` latent coordinates is quantized on its own scaled integer lattice
:math:`\Delta_j\mathbb Z` (a learned :math:`\Delta_j`, parametrized as
:math:`\log\Delta_j`); the prior of the auxiliary vector is
:math:`f_S(s) = \prod_j \tfrac\alpha2 e^{-\alpha|s_j|}` with a fixed decay ``alpha``.

**Training** (Sec. 3.6.1): :math:`U_j = \Delta_j(V_j - \tfrac12)`, :math:`V_j \sim
\mathrm{Unif}(0, 1)` (reparametrized, so :math:`\Delta` gets gradients), the decoder
sees :math:`e - U` and the rate is the first term of eq. (5), in closed form (Sec. 3.3):

.. math::  \text{rate} = \sum_j \log\frac{f_U(U_j)}{f_{S-U}(e_j - U_j)}
           \qquad (5)

(:func:`theory.laplace.log_fu_over_fsu`).  No auxiliary term: :math:`p_{Z|U}` is exact.

**Inference** (Sec. 3.6.3): ``k`` dithers per input,
:math:`z_j = \mathrm{round}((e_j + U_j)/\Delta_j)` (the nearest point of
:math:`\Delta_j\mathbb Z` is :math:`z_j\Delta_j`), decoder input :math:`z\Delta - U`
(9) and ``log_ratio`` :math:`= \log p_{Z|U}(z|U) = -\sum_j \log 1/p_{Z|U}(z_j|U_j)`,
the exact code length (10) (:func:`theory.laplace.neg_log_p_z_given_u`), in float64.
By Theorem 1 the expected code length equals the expected rate of (5), and by the
Crypto Lemma :math:`z\Delta - U` has the law of :math:`e - U`.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from theory.laplace import log_fu_over_fsu, neg_log_p_z_given_u

from .base import (InferenceSamples, LatentLayer, TrainTerms, check_dim, check_positive_float,
                   check_sample_count, require_dither)

__all__ = ["ZLaplaceLatent"]


class ZLaplaceLatent(LatentLayer):
    r"""Scaled integer lattice per dimension, Laplace prior for S, learned scales :math:`\Delta`.

    Parameters
    ----------
    dim : int
        Hidden size ``m`` (any positive int: the lattice is :math:`\mathbb Z` per coordinate).
    alpha : float, default 1.0
        Decay rate of the Laplace prior :math:`f_S(s) = \tfrac\alpha2 e^{-\alpha|s|}`
        (fixed, Sec. 3.6.1: "f_S is a fixed distribution"); its variance is
        :math:`2/\alpha^2`, matching the unit scale of a standard VAE prior up to a factor 2.
    init_delta : float, default 1.0
        Initial :math:`\Delta` of every coordinate.  The dither variance
        :math:`\Delta^2/12 = 1/12` against the prior variance :math:`2/\alpha^2 = 2` gives
        a moderate initial rate (about 0.9 nats per coordinate at ``e = 0``), neither
        posterior collapse nor a saturated code from the first step.

    Attributes
    ----------
    log_delta : nn.Parameter, shape (m,)
        :math:`\log\Delta_j`, learned.

    Examples
    --------
    At ``e = 0``, :math:`V = 1/2` (so ``U = 0``) the rate per coordinate is
    :math:`-\log(1 - e^{-\alpha\Delta/2})` (Sec. 3.3, first branch):

    >>> layer = ZLaplaceLatent(3).double()
    >>> t = layer._terms_from_v(torch.zeros(2, 3, dtype=torch.float64), torch.full((2, 3), 0.5))
    >>> round(t["rate"][0].item() / 3, 12)                     # -log(1 - e^{-1/2})
    0.932752129567
    """

    name = "z-laplace"

    def __init__(self, dim: int, alpha: float = 1.0, init_delta: float = 1.0):
        super().__init__(check_dim(dim))
        self.alpha = check_positive_float(alpha, "alpha")
        init_delta = check_positive_float(init_delta, "init_delta")
        self.log_delta = nn.Parameter(torch.full((dim,), math.log(init_delta)))   # (m,)

    @property
    def delta(self) -> torch.Tensor:
        r""":math:`\Delta_j = \exp(\log\Delta_j)`, shape (m,)."""
        return self.log_delta.exp()

    def _check_e(self, e):
        if e.dim() != 2 or e.shape[-1] != self.dim:
            raise ValueError(f"e must have shape (batch, {self.dim}), got {tuple(e.shape)}")

    def _uniform(self, shape, e, generator):
        """V ~ Unif[0, 1) of ``shape`` on ``e``'s device and dtype."""
        return torch.rand(shape, generator=generator, device=e.device, dtype=e.dtype)

    def sample_dither(self, batch: int, generator: torch.Generator | None = None,
                      device=None, dtype=torch.float32) -> torch.Tensor:
        r"""Dithers :math:`U = \Delta(V - \tfrac12)`, shape (batch, m), uniform over the cell of :math:`\Delta\mathbb Z^m`."""
        v = torch.rand((batch, self.dim), generator=generator, device=device, dtype=dtype)
        return self.delta.detach().to(device=v.device, dtype=dtype) * (v - 0.5)

    def _terms_from_v(self, e, v):
        delta = self.delta.to(e.dtype)                           # (m,)
        u = delta * (v - 0.5)                                    # (batch, m), Sec. 3.6.1 step 1
        eta = e - u                                              # decoder input, step 2
        rate = log_fu_over_fsu(eta, self.alpha, delta).sum(-1)  # eq. (5), first term, Sec. 3.3
        return TrainTerms(decoder_input=eta, rate=rate, aux=torch.zeros_like(rate))

    def train_terms(self, e, generator=None):
        """Sec. 3.6.1: decoder input ``e - U`` and the rate of eq. (5), differentiable in ``e`` and Delta."""
        self._check_e(e)
        return self._terms_from_v(e, self._uniform(e.shape, e, generator))

    def inference_samples(self, e, k, generator=None):
        """Sec. 3.6.3: ``k`` dithers, decoder input ``z Delta - U`` (9), ``log_ratio`` = minus (10)."""
        self._check_e(e)
        check_sample_count(k)
        delta = self.delta.to(e.dtype)
        v = self._uniform((e.shape[0], k, self.dim), e, generator)
        u = delta * (v - 0.5)                                    # (batch, k, m), step 1
        z = torch.round((e[:, None, :] + u) / delta)             # K(e + U) = z Delta
        decoder_input = z * delta - u                            # eq. (9)
        d64 = self.delta.detach().double()
        log_ratio = -neg_log_p_z_given_u(z.detach().double(), u.detach().double(),
                                         self.alpha, d64).sum(-1)   # eq. (10), exact p_{Z|U}
        return InferenceSamples(decoder_input=decoder_input, log_ratio=log_ratio)

    def encode(self, e, u=None):
        r"""Integer indices :math:`z = \mathrm{round}((e + u)/\Delta)`, int64 (batch, m); ``u`` is required."""
        self._check_e(e)
        require_dither(u, "encode")
        delta = self.delta.detach().to(e.dtype)
        return torch.round((e.detach() + u) / delta).to(torch.int64)

    def decode(self, symbols, u=None):
        r"""Decoder input :math:`z\Delta - u` from the indices of :meth:`encode` (eq. (9))."""
        require_dither(u, "decode")
        return symbols.to(u.dtype) * self.delta.detach().to(u.dtype) - u

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha={self.alpha}"
