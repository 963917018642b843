r"""Your own prior, defined outside the package: a two-sided geometric pmf on the integer coefficients.

A worked example of :mod:`vae.priors` (docs/vae.md, "Your own prior").  For each block ``b`` of a
lattice latent, the quantized point :math:`a = cB` (de-scaled, integer coefficients ``c``) gets

.. math::  p(a \mid u) = \prod_{i=1}^{n} \frac{1-\rho_{b,i}}{1+\rho_{b,i}}\, \rho_{b,i}^{|c_i|},
           \qquad \rho_{b,i} = \sigma(r_{b,i}),

with learned logits :math:`r`.  Since :math:`\sum_{k\in\mathbb Z}\rho^{|k|} = (1+\rho)/(1-\rho)` and
``c -> cB`` is a bijection of :math:`\mathbb Z^n` onto :math:`\Lambda`, the pmf is exactly normalized
over the whole lattice (it ignores the dither ``u``: a valid, if weak, :math:`p_{\hat Z|U}`).
Its coder codes each coefficient with the quantized pmf over the window :math:`|c| \le W` (``W``,
the file's largest :math:`|c|`, goes in the header) plus one never-coded symbol for the mass
beyond it, so every coded coefficient keeps exactly its model probability.

Use it with the project's commands (from the repository root, or with this folder's parent on
``PYTHONPATH``)::

    python -m vae.train --latent e8 --hidden 16 --out RUN \
        --latent-option prior=examples.geometric_prior:GeometricPrior
    python -m vae.evaluate RUN --samples 1
    python -m vae.compress RUN --out codes.lrlb && python -m vae.decompress codes.lrlb RUN --out recon.npz

or register it under a short name in your own code: ``vae.priors.register_prior("geometric",
GeometricPrior)``.  Check it with ``vae.testing.check_prior(prior)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vae.entropy_coding import (coded_bits, pop, push, quantize_pmf, single_thread, symbol_window,
                                with_outside_mass)
from vae.priors import Prior, PriorCoder

__all__ = ["GeometricPrior", "GeometricOptions", "GeometricCoder"]


@dataclass(frozen=True)
class GeometricOptions:
    """``init_ratio``: the initial :math:`\\rho` of every coefficient, in (0, 1)."""

    init_ratio: float = 0.5

    def __post_init__(self):
        if not (isinstance(self.init_ratio, (int, float)) and 0 < self.init_ratio < 1):
            raise ValueError(f"init_ratio must be a float in (0, 1), got {self.init_ratio!r}")


class GeometricPrior(Prior):
    """Two-sided geometric pmf per integer coefficient, one learned ratio per block and coordinate."""

    family = "geometric"
    Options = GeometricOptions

    def __init__(self, lattice, n_blocks: int, init_ratio: float = 0.5, dtype=torch.float64):
        super().__init__()
        self.lattice, self.dim, self.n_blocks = lattice, lattice.dim, int(n_blocks)
        logit = math.log(init_ratio / (1 - init_ratio))
        self.ratio_logit = nn.Parameter(torch.full((self.n_blocks, self.dim), logit, dtype=dtype))   # (R, n)

    @classmethod
    def from_options(cls, lattice, n_blocks, options, context):
        return cls(lattice, n_blocks, options.init_ratio, context.dtype)

    @classmethod
    def recognizes_state(cls, state):
        return set(state) == {"ratio_logit"}

    def log_terms(self):
        """Per block and coordinate (R, n): log (1-rho)/(1+rho) and log rho."""
        r = self.ratio_logit
        return nn.functional.logsigmoid(-r) - torch.log1p(torch.sigmoid(r)), nn.functional.logsigmoid(r)

    def log_prob_coords(self, coords, u):
        coords = torch.as_tensor(coords, device=self.ratio_logit.device)
        if coords.dtype.is_floating_point or coords.dtype.is_complex:
            raise ValueError(f"coords must be an integer tensor, got dtype {coords.dtype}")
        if tuple(coords.shape[-2:]) != (self.n_blocks, self.dim):
            raise ValueError(f"coords must have shape (..., {self.n_blocks}, {self.dim}), got {tuple(coords.shape)}")
        log_norm, log_rho = self.log_terms()
        return (log_norm + log_rho * coords.abs().to(log_rho.dtype)).sum(-1)        # (..., R)

    def coder(self):
        return GeometricCoder(self)

    def untrained(self, seed=0):
        return type(self)(self.lattice, self.n_blocks, dtype=self.ratio_logit.dtype)

    def describe(self):
        return "geometric"


class GeometricCoder(PriorCoder):
    """Each coefficient under its quantized windowed pmf (module notes)."""

    def __init__(self, prior):
        super().__init__(prior)
        with single_thread(), torch.no_grad():
            log_norm, log_rho = (t.detach().double().cpu().numpy().reshape(-1) for t in prior.log_terms())
        self.log_norm, self.log_rho = log_norm, log_rho                     # (R n,)

    def file_params(self, symbols):
        return {"window": symbol_window(symbols)}

    def _freqs(self, n_img):
        w = self.params["window"]
        grid = np.abs(np.arange(-w, w + 1))
        pmf = np.exp(self.log_norm[:, None] + self.log_rho[:, None] * grid[None, :])   # (R n, 2W + 1)
        return np.tile(quantize_pmf(with_outside_mass(pmf)), (n_img, 1))

    def push(self, ans, symbols, dither):
        flat = (np.asarray(symbols, dtype=np.int64) + self.params["window"]).reshape(-1)
        freqs = self._freqs(len(symbols))
        push(ans, flat, freqs)
        return coded_bits(freqs, flat).reshape(len(symbols), -1).sum(1)

    def pop(self, ans, n_img, dither):
        return (pop(ans, self._freqs(n_img)) - self.params["window"]).reshape(n_img, -1)
