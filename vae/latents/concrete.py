r"""``concrete``: binary latent variables trained through the binary Concrete relaxation.

The paper's Concrete baseline (Lastras 2020, Sec. 4.1: "Concrete's implementation follows
[40] with a temperature of 0.1"; Sec. 8.2): :math:`m` independent binary latent variables
:math:`b \in \{0,1\}^m`, the setting of REBAR (Tucker et al. 2017, ref. [40]), relaxed with
the binary Concrete distribution (Maddison, Mnih & Teh 2017, ref. [38]) during training.

Model
-----
* encoder output :math:`a(x) \in \mathbb R^m`: logits of
  :math:`q(b_j = 1 | x) = \sigma(a_j)`, independent over :math:`j`;
* prior :math:`p(b) = \prod_j \mathrm{Bern}(b_j; \sigma(\ell_j))` with learned logits
  :math:`\ell \in \mathbb R^m` (:attr:`ConcreteLatent.prior_logits`, zeros: uniform);
* decoder :math:`p(x|b)` (elsewhere), fed the bits as floats.

Training (relaxed; **not a bound**)
-----------------------------------
With logistic noise :math:`L = \log U - \log(1-U)`, :math:`U \sim \mathcal U(0,1)`, and
temperature :math:`\lambda` (``temperature``, 0.1 in the paper), the decoder is fed the
binary Concrete sample (Maddison et al. 2017, Sec. 3.3 / Appendix)

.. math::  y = \sigma\bigl((a + L)/\lambda\bigr) \in (0,1)^m ,

and the rate is the analytic KL of the *discrete* distributions

.. math::  \mathrm{KL}\bigl(q(\cdot|x)\,\|\,p\bigr) = \sum_{j=1}^{m} \Bigl[
           \sigma(a_j)\log\frac{\sigma(a_j)}{\sigma(\ell_j)}
           + \sigma(-a_j)\log\frac{\sigma(-a_j)}{\sigma(-\ell_j)}\Bigr] ;

``aux`` is zero.  ``recon(y) + KL`` is the objective the paper used (Sec. 8.2: "an
expression that is not guaranteed to be a lower bound on the log likelihood, yet in
practice, appears to work well"; the idea is from the REBAR TensorFlow code): it is
*neither* an upper bound on :math:`-\log p(x)` of the discrete model (the decoder is
evaluated at relaxed points :math:`y \notin \{0,1\}^m` that model never produces) *nor*
of a continuous model with latent :math:`y` (its KL would be between Concrete densities).
As :math:`\lambda \to 0`, :math:`y \to \mathbb 1[a + L > 0]`, which is distributed as
:math:`b \sim q(\cdot|x)`, and the objective tends to the discrete negative ELBO.

Inference (a proper bound on the discrete model)
------------------------------------------------
:meth:`ConcreteLatent.inference_samples` draws hard bits :math:`b = \mathbb 1[a + L > 0]
\sim q(\cdot|x)` (exactly :math:`\mathrm{Bern}(\sigma(a))`) and returns

.. math::  \text{log\_ratio} = \log p(b) - \log q(b|x) = \sum_j \Bigl[ b_j
           \bigl(\log\sigma(\ell_j) - \log\sigma(a_j)\bigr) + (1 - b_j)
           \bigl(\log\sigma(-\ell_j) - \log\sigma(-a_j)\bigr)\Bigr]

in float64 (``logsigmoid``, stable for large logits).  With
:math:`w_i = p(x|b_i)\,p(b_i)/q(b_i|x)`, :math:`\mathbb E\,w_i = p(x)` exactly and
:math:`\mathbb E \log\frac1k\sum_{i=1}^k w_i \le \log p(x)`: the IWAE bound
(Burda et al. 2016) on the discrete latent variable model, the number the paper reports
for Concrete in Table 2.

.. warning::
   Concrete is not an *explicit* discrete representation (Appendix 6.1, Table 1): its
   encoder is stochastic, and its rate is a KL, not a code length.  :meth:`encode` returns
   the most probable (MAP) bits :math:`\mathbb 1[a > 0]` for convenience; coding them
   costs :math:`-\log p(b)`, which is not the ``rate`` that was trained.

References
----------
C. J. Maddison, A. Mnih, Y. W. Teh, "The Concrete Distribution: A Continuous Relaxation
of Discrete Random Variables", ICLR 2017 (ref. [38]).  G. Tucker, A. Mnih, C. J. Maddison,
D. Lawson, J. Sohl-Dickstein, "REBAR: Low-variance, unbiased gradient estimates for
discrete latent variable models", NeurIPS 2017 (ref. [40]).  L. Lastras, "Lattice
Representation Learning", 2020, Sec. 4, 4.1, 8.2, Appendix 6.1.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lattices.utils.rng import as_torch_generator

from .base import InferenceSamples, LatentLayer, TrainTerms, check_dim, check_sample_count

__all__ = ["ConcreteLatent", "bernoulli_kl"]


def bernoulli_kl(q_logits: torch.Tensor, p_logits: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathrm{KL}(\mathrm{Bern}(\sigma(a))\,\|\,\mathrm{Bern}(\sigma(\ell)))` per
    coordinate (broadcast), in nats, from logits (``logsigmoid``: stable for large logits).

    >>> round(bernoulli_kl(torch.tensor(math.log(3.0)), torch.tensor(0.0)).item(), 6)
    0.130812
    """
    log_q1, log_q0 = F.logsigmoid(q_logits), F.logsigmoid(-q_logits)
    log_p1, log_p0 = F.logsigmoid(p_logits), F.logsigmoid(-p_logits)
    return log_q1.exp() * (log_q1 - log_p1) + log_q0.exp() * (log_q0 - log_p0)


def logistic_noise(shape, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
    r"""Standard logistic noise :math:`\log U - \log(1-U)`, :math:`U \sim \mathcal U(0,1)`.

    :math:`U` is clamped to ``[tiny, 1)`` so that the noise is finite; the draws use
    ``generator`` (same seed, same numbers).
    """
    u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
    u = u.clamp(min=torch.finfo(dtype).tiny)
    return torch.log(u) - torch.log1p(-u)


class ConcreteLatent(LatentLayer):
    r"""``dim`` independent binary latents; binary Concrete relaxation in training.

    Parameters
    ----------
    dim : int
        Number :math:`m` of binary latent variables (= decoder input width).
    temperature : float, default 0.1
        Temperature :math:`\lambda > 0` of the binary Concrete relaxation (the paper: 0.1).

    Attributes
    ----------
    prior_logits : nn.Parameter, shape (dim,)
        Logits of the learned Bernoulli prior (zeros: :math:`p(b_j = 1) = 1/2`).

    Examples
    --------
    An encoder output of :math:`\log 3` (:math:`q = 3/4`) against the uniform prior costs
    :math:`\tfrac34\log\tfrac32 + \tfrac14\log\tfrac12 = 0.130812` nats per bit:

    >>> layer = ConcreteLatent(2)
    >>> e = torch.full((1, 2), math.log(3.0))
    >>> round(layer.train_terms(e, torch.Generator().manual_seed(0))["rate"].item(), 6)
    0.261624
    >>> layer.encode(torch.tensor([[1.5, -0.2]]))
    tensor([[1, 0]])
    """

    name = "concrete"
    discrete = True

    def __init__(self, dim: int, temperature: float = 0.1):
        check_dim(dim)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
                or not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
        super().__init__(dim)
        self.temperature = float(temperature)
        self.prior_logits = nn.Parameter(torch.zeros(dim))

    def _check(self, e: torch.Tensor) -> torch.Tensor:
        if e.dim() != 2 or e.shape[1] != self.dim:
            raise ValueError(f"encoder output must have shape (batch, {self.dim}), "
                             f"got {tuple(e.shape)}")
        return e

    def train_terms(self, e, generator=None):
        """Relaxed sample, analytic discrete KL as ``rate``, zero ``aux`` (not a bound).

        Extra diagnostic: ``kl`` (= ``rate``, detached).
        """
        a = self._check(e)                                                   # (batch, m)
        noise = logistic_noise(a.shape, as_torch_generator(generator, a.device),
                               a.device, a.dtype)
        y = torch.sigmoid((a + noise) / self.temperature)                    # binary Concrete
        kl = bernoulli_kl(a, self.prior_logits).sum(-1)                      # (batch,)
        return TrainTerms(decoder_input=y, rate=kl, aux=torch.zeros_like(kl), kl=kl.detach())

    def inference_samples(self, e, k, generator=None):
        r"""``k`` hard samples :math:`b \sim q(\cdot|x)`, ``log_ratio`` = log p(b) - log q(b|x)."""
        k = check_sample_count(k)
        a = self._check(e)
        noise = logistic_noise((a.shape[0], k, self.dim),
                               as_torch_generator(generator, a.device), a.device, a.dtype)
        b = (a[:, None, :] + noise > 0)                                      # (batch, k, m)
        a64 = a.detach().double()[:, None, :]                                # (batch, 1, m)
        l64 = self.prior_logits.detach().double()                            # (m,)
        one = F.logsigmoid(l64) - F.logsigmoid(a64)                          # b_j = 1 term
        zero = F.logsigmoid(-l64) - F.logsigmoid(-a64)                       # b_j = 0 term
        log_ratio = torch.where(b, one, zero).sum(-1)                        # (batch, k)
        return InferenceSamples(decoder_input=b.to(a.dtype), log_ratio=log_ratio)

    def encode(self, e, u=None):
        r"""The MAP bits :math:`\mathbb 1[a_j > 0]` (batch, dim) int64.

        Concrete is not an explicit representation (Appendix 6.1): the encoder defines a
        distribution :math:`q(b|x)`, not a code; the most probable bits are returned.
        """
        return (self._check(e) > 0).long()

    def decode(self, symbols, u=None):
        """The bits (batch, dim) as floats (the decoder input)."""
        bits = torch.as_tensor(symbols, device=self.prior_logits.device)
        if bits.dim() != 2 or bits.shape[1] != self.dim:
            raise ValueError(f"bits must have shape (batch, {self.dim}), got {tuple(bits.shape)}")
        if not bool(((bits == 0) | (bits == 1)).all()):
            raise ValueError("bits must be 0 or 1")
        return bits.to(self.prior_logits.dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, temperature={self.temperature}"
