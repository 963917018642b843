r"""``gaussian``: the standard Gaussian VAE baseline (Kingma & Welling 2014).

The encoder produces a mean and a log-variance per latent dimension,
:math:`q(z|x) = \mathcal N(\mu(x), \mathrm{diag}\,\sigma^2(x))`; the prior is
:math:`\mathcal N(0, I_m)`.  Training uses the reparametrized sample
:math:`z = \mu + \sigma\epsilon` and the analytic KL

.. math::  \mathrm{KL}(q\,\|\,p) = \tfrac12\sum_j \bigl(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\bigr).

Inference draws ``k`` samples from :math:`q` with
:math:`\text{log\_ratio} = \log\mathcal N(z;0,I) - \log\mathcal N(z;\mu,\sigma^2)` (IWAE).
"""
from __future__ import annotations

import math

import torch

from .base import (InferenceSamples, LatentLayer, TrainTerms, check_dim, check_encoder_output,
                   check_sample_count)

__all__ = ["GaussianLatent"]

_LOG_2PI = math.log(2 * math.pi)


class GaussianLatent(LatentLayer):
    """Gaussian posterior with data-dependent mean and variance, standard normal prior.

    >>> layer = GaussianLatent(4)
    >>> e = torch.zeros(3, 8)                       # mean 0, log-variance 0: q = prior
    >>> float(layer.train_terms(e, torch.Generator().manual_seed(0))["rate"].abs().max())
    0.0
    """

    name = "gaussian"
    discrete = False

    def __init__(self, dim: int):
        super().__init__(check_dim(dim))

    @property
    def encoder_dim(self) -> int:
        return 2 * self.dim

    def _split(self, e):
        check_encoder_output(e, 2 * self.dim)
        mu, logvar = e[..., :self.dim], e[..., self.dim:]
        return mu, logvar.clamp(-30.0, 20.0)                # (batch, m) each; clamp: no exp overflow

    def train_terms(self, e, generator=None):
        mu, logvar = self._split(e)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)          # (batch,)
        return TrainTerms(decoder_input=z, rate=kl, aux=torch.zeros_like(kl))

    def inference_samples(self, e, k, generator=None):
        check_sample_count(k)
        mu, logvar = self._split(e)
        mu, logvar = mu[:, None, :], logvar[:, None, :]                     # (batch, 1, m)
        eps = torch.randn((mu.shape[0], k, self.dim), generator=generator,
                          device=mu.device, dtype=mu.dtype)                  # (batch, k, m)
        z = mu + torch.exp(0.5 * logvar) * eps
        eps64, z64, logvar64 = eps.double(), z.double(), logvar.double()
        log_q = -0.5 * (eps64.pow(2) + logvar64 + _LOG_2PI).sum(-1)        # log N(z; mu, sigma^2)
        log_p = -0.5 * (z64.pow(2) + _LOG_2PI).sum(-1)                     # log N(z; 0, I)
        return InferenceSamples(decoder_input=z, log_ratio=log_p - log_q)
