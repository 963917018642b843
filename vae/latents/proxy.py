r"""``z2``, ``a2``, ``e8``: training by Gaussian proxy (Sec. 3.5, 3.6.2) on a product lattice.

The hidden size ``m`` is split into ``R = m/n`` blocks of the ``n``-dimensional base lattice
:math:`\Lambda` (:math:`\mathbb Z^2`, :math:`A_2` or :math:`E_8`); block ``b`` uses the scaled
lattice :math:`\Delta_b\Lambda`, so the latent lattice is the product
:math:`\mathrm{diag}(\Delta_1 B, \ldots, \Delta_R B)` of Sec. 4.1.  Per block there are two
learned variances, :math:`\sigma^2_{U_G,b}` and :math:`\sigma^2_{S_G,b}` (log-parametrized),
and one learned prior :math:`p_{\hat Z|U}` (:class:`theory.lattice_prior.LatticePrior`, Sec. 3.4, with
``n_blocks=R`` and the escape component).

**Training** (Sec. 3.6.2):

1. :math:`\Delta_b` from eq. (8): :math:`\log\Delta_b = \tfrac12\log\sigma^2_{U_G,b} - \tfrac12\log G(\Lambda)
   - \tfrac1n\log V_\Lambda`, i.e. :math:`\Delta_b^2\sigma^2_\Lambda = \sigma^2_{U_G,b}`;
   :math:`U_G \sim \mathcal N(0, \sigma^2_{U_G,b} I)` (reparametrized).
2. Decoder input :math:`e - U_G`; ``rate`` = the proxy KL of Sec. 3.6.2 summed over blocks,

   .. math::  \sum_b \tfrac12\Bigl(\frac{\|e_b - U_{G,b}\|^2}{\sigma^2_{U_G,b} + \sigma^2_{S_G,b}}
              - \frac{\|U_{G,b}\|^2}{\sigma^2_{U_G,b}}
              - n\log\frac{\sigma^2_{U_G,b}}{\sigma^2_{U_G,b} + \sigma^2_{S_G,b}}\Bigr)

   (the printed :math:`\sigma^2_G`, :math:`\sigma^2_{U_S}` read as :math:`\sigma^2_{U_G}`,
   :math:`\sigma^2_{S_G}`: :mod:`theory.scaling`, :mod:`theory.errata`).
3. With :math:`U` uniform over the cell of :math:`\Delta_b\Lambda` (:math:`\Delta` detached),
   :math:`z_b = \Delta_b K_\Lambda((e_b + U_b)/\Delta_b)` and ``aux`` = the code length
   :math:`-\log p_{\hat Z|U}(z|U)`, the trick of eq. (6): ``e`` is detached and
   :math:`K_\Lambda` has no autograd path, so only the prior's parameters learn from it.

**Inference** (Sec. 3.6.3): ``k`` dithers :math:`U` uniform over the scaled cell, the same
:math:`z`, decoder input :math:`z - U` (9), ``log_ratio`` = minus the code length (10), float64.

The prior is evaluated in de-scaled units: the point :math:`z_b/\Delta_b \in \Lambda` (as its
integer coefficients w.r.t. the base basis) and the dither :math:`U_b/\Delta_b \in P_0(\Lambda)`;
a pmf over lattice points is unchanged by the common scaling.

.. warning:: The training rate is the Gaussian proxy's, not the lattice code length: the
   bound evaluated at inference (Sec. 3.6.3) is a different number, close only as far as
   the cell of :math:`\Lambda` is Gaussian-like (eq. (7)) and the learned prior fits.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

import lattices
from theory.discrete_gaussian_prior import SUPPORTED as DGAUSS_LATTICES
from theory.discrete_gaussian_prior import DiscreteGaussianPrior
from theory.lattice_prior import LatticePrior
from theory.scaling import matched_log_delta

from .base import (InferenceSamples, LatentLayer, TrainTerms, check_dim, check_positive_float,
                   check_sample_count, require_dither)
from .proxy_fused import proxy_terms, proxy_terms_supported

__all__ = ["ProxyLatticeLatent", "Z2Latent", "A2Latent", "E8Latent", "BW16Latent", "LeechLatent",
           "PRIOR_DEFAULTS", "PRIOR_FAMILIES", "DEFAULT_PRIOR"]

#: The prior families of ``prior=``: ``"paper"`` (Sec. 3.4, :class:`theory.lattice_prior.LatticePrior`
#: with the escape component: the reproduction setting of every paper-prior number in
#: docs/results.md) and ``"dgauss"`` (a mixture of discrete Gaussians on the shifted lattice,
#: :class:`theory.discrete_gaussian_prior.DiscreteGaussianPrior`; z2, a2, d4, e8 only).
PRIOR_FAMILIES = ("paper", "dgauss")
#: The family used when ``prior`` is not given (a saved run without the option always loads
#: as ``"paper"``: vae.models.model_for_state).
DEFAULT_PRIOR = "paper"

#: Default (max_norm K, threshold t) per base lattice, de-scaled squared norms.
#: K: the support of the norm-shell part of Sec. 3.4.  Only the theta coefficients up to K
#: are needed (the points below t are enumerated, the rest never listed), so K is set by
#: the data: for a block with s = sigma2_S / sigma2_U the mean de-scaled norm of the
#: quantized point is about n sigma2_Lambda (1 + s) (0.17 (1+s) for Z2, 0.14 (1+s) for A2,
#: 0.57 (1+s) for E8).  Measured on an E8 model trained 8 epochs on MNIST (linear, hidden
#: 32, s ~ 9-12): median norm 6, 99th percentile 18; with K = 10 (an earlier default) 12 %
#: of the points fell to the escape component and the code length was ~11 nats above the
#: proxy KL.  K = 24 (the next default) covered that model's 99.9th percentile, but training
#: keeps raising s: after 40 epochs (hidden 16 and 24) 1-11 % of the E8 blocks lay beyond
#: K = 24 (99.9th percentile up to 44) and the code length was 1-5 nats above the ideal
#: (validation.train_vs_inference, prior_support; docs/results.md).  K = 64, as for Z2/A2
#: (s up to ~300 there, ~100 for E8), costs 0.5 s once per process (the theta series).
#: Beyond K the escape component keeps the code length finite.  Runs saved under an earlier
#: default keep their K (vae.models.model_for_state reads it from the checkpoint).
#: t: the U-dependent pmf covers the first few shells, where the dependence on U matters
#: most (Sec. 3.4): z2 t=9 -> 25 points (norms 0,1,2,4,5,8), a2 t=7 -> 19 points
#: (norms 0,1,3,4), e8 t=3 -> 241 points (0 and the 240 roots; t=5 would be 2401 logits
#: per block and sample).
#: d4, e6, e7 t=3: the origin and the roots (25, 73, 127 points).  bw16, leech t=1: the
#: U-dependent head is the origin alone (its probability pi(u) = P(Z^ = 0 | u) is the learned,
#: U-dependent flag); every shell from norm 4 on (4320 resp. 196560, 61440 resp. 16773120,
#: ... points) is uniform within the shell with one learned logit per norm, so the head stays
#: one logit per block however large the shells (t = 5 would be 4321 resp. 196561 logits).
#: K = 256: the mean de-scaled norm is about n sigma2_Lambda (1 + s) = 1.55 (1 + s) for both
#: (s up to ~100 in trained models); the theta coefficients come from the modular forms.
PRIOR_DEFAULTS = {"z2": (64, 9), "a2": (64, 7), "e8": (64, 3), "d4": (64, 3), "e6": (64, 3),
                  "e7": (64, 3), "bw16": (256, 1), "leech": (256, 1)}

_DTYPES = {"float32": torch.float32, "float64": torch.float64,
           torch.float32: torch.float32, torch.float64: torch.float64}


class ProxyLatticeLatent(LatentLayer):
    r"""Gaussian-proxy training (Sec. 3.6.2) on the product of ``dim / n`` scaled copies of a lattice.

    Parameters
    ----------
    dim : int
        Hidden size ``m``; a multiple of the block dimension ``n`` (2 for z2/a2, 8 for e8,
        16 for bw16, 24 for leech).
    lattice : str, default "e8"
        Name of the base lattice (:func:`lattices.get`), integral up to a common scale, with
        a theta series (any named lattice: enumeration, or the modular forms of bw16/leech).
    max_norm, threshold_t : int or None
        ``K`` and ``t`` of the prior (:class:`theory.lattice_prior.LatticePrior`); ``None``: the
        defaults of :data:`PRIOR_DEFAULTS` (required for other lattices).
    u_hidden : int, default 32
        Width of the prior's MLP ``u -> logits`` per block.
    init_sigma2_u : float, default 0.1
        Initial :math:`\sigma^2_{U_G}` of every block: a dither 10x weaker than the
        prior, so the decoder sees an informative input from the first step (the rate at
        ``e = 0`` is then about 0.7 nats per coordinate).
    init_sigma2_s : float, default 1.0
        Initial :math:`\sigma^2_{S_G}`: the unit-variance prior of a standard Gaussian VAE.
    prior_dtype : "float64" (default) or "float32"
        dtype of the prior's parameters and code lengths (float64: exact normalization to
        round-off; measured not to be the bottleneck, see the tests' timing notes).
    prior : "paper" or "dgauss", default :data:`DEFAULT_PRIOR`
        The prior family (:data:`PRIOR_FAMILIES`): ``"paper"``, Sec. 3.4 with the escape
        component (``max_norm``, ``threshold_t``, ``u_hidden`` apply); ``"dgauss"``, a
        mixture of ``prior_components`` discrete Gaussians on :math:`\Lambda - u`, exactly
        normalized over the whole lattice (z2, a2, d4, e8; its scales start at the de-scaled
        standard deviation :math:`\sqrt{\sigma^2_\Lambda(1 + \sigma^2_{S_G}/\sigma^2_{U_G})}` of
        :math:`a - u` under the initial proxy).
    prior_components : int, default 2
        ``C`` of ``prior="dgauss"``.

    Attributes
    ----------
    log_sigma2_u, log_sigma2_s : nn.Parameter, shape (R,)
    prior : theory.lattice_prior.LatticePrior with ``n_blocks=R, escape=True`` (``prior="paper"``)
        or theory.discrete_gaussian_prior.DiscreteGaussianPrior (``prior="dgauss"``)

    Examples
    --------
    Eq. (8) makes the dither of each block as strong as :math:`U_G`,
    :math:`\Delta_b^2\sigma^2_\Lambda = \sigma^2_{U_G,b}` (for :math:`\mathbb Z^2`,
    :math:`\sigma^2_\Lambda = 1/12`, so :math:`\sigma^2_{U_G} = 1/12` gives :math:`\Delta = 1`):

    >>> layer = Z2Latent(4, init_sigma2_u=1 / 12)
    >>> [round(d, 12) for d in layer.delta().tolist()]
    [1.0, 1.0]
    """

    name = "proxy"
    #: train on the CPU through :mod:`vae.latents.proxy_fused` (the proxy KL and the decoder
    #: input as one autograd node); ``False``: the torch formulation of :meth:`proxy_rate`.
    fused = True

    def __init__(self, dim: int, lattice: str = "e8", max_norm: int | None = None,
                 threshold_t: int | None = None, u_hidden: int = 32, init_sigma2_u: float = 0.1,
                 init_sigma2_s: float = 1.0, prior_dtype="float64", prior: str | None = None,
                 prior_components: int = 2):
        if not isinstance(lattice, str):
            raise ValueError(f"lattice must be a lattice name such as 'z2', 'a2', 'e8', got {lattice!r}")
        try:
            base = lattices.get(lattice)
        except (ValueError, KeyError) as err:
            raise ValueError(f"unknown lattice {lattice!r} ({err}); valid: any name of "
                             f"lattices.get, e.g. {', '.join(PRIOR_DEFAULTS)}") from None
        super().__init__(check_dim(dim, base.dim))
        key = lattice.strip().lower()
        prior = DEFAULT_PRIOR if prior is None else prior
        if prior not in PRIOR_FAMILIES:
            raise ValueError(f"prior must be one of {', '.join(map(repr, PRIOR_FAMILIES))}, got {prior!r}")
        if prior == "dgauss" and key not in DGAUSS_LATTICES:
            raise ValueError(f"prior='dgauss' supports the lattices {', '.join(DGAUSS_LATTICES)} "
                             f"(closed-form theta normalizers), got lattice {lattice!r}; use prior='paper'")
        if prior == "dgauss" and (isinstance(prior_components, bool) or not isinstance(prior_components, int)
                                  or not 1 <= prior_components <= 16):
            raise ValueError(f"prior_components must be an int in [1, 16], got {prior_components!r}")
        self.prior_family = prior
        if max_norm is None or threshold_t is None:
            if key not in PRIOR_DEFAULTS:
                raise ValueError(f"lattice {lattice!r} has no default max_norm/threshold_t "
                                 f"(defaults exist for {', '.join(PRIOR_DEFAULTS)}): pass both")
            max_norm = PRIOR_DEFAULTS[key][0] if max_norm is None else max_norm
            threshold_t = PRIOR_DEFAULTS[key][1] if threshold_t is None else threshold_t
        if isinstance(max_norm, bool) or not isinstance(max_norm, int) or max_norm < 0:
            raise ValueError(f"max_norm must be a non-negative int, got {max_norm!r}")
        if prior_dtype not in _DTYPES:
            raise ValueError(f"prior_dtype must be 'float32' or 'float64', got {prior_dtype!r}")
        s2u = check_positive_float(init_sigma2_u, "init_sigma2_u")
        s2s = check_positive_float(init_sigma2_s, "init_sigma2_s")
        if type(self) is ProxyLatticeLatent:
            self.name = key
        self.base = base
        self.block_dim = n = base.dim
        self.n_blocks = R = dim // n
        # eq. (8) with sigma2_U = 1: log Delta_b = 0.5 log sigma2_U,b + _log_delta0.  Computed
        # once: matched_log_delta evaluates G(Lambda) exactly (sympy), too slow per step.
        self._log_delta0 = float(matched_log_delta(1.0, base))
        self.log_sigma2_u = nn.Parameter(torch.full((R,), math.log(s2u)))
        self.log_sigma2_s = nn.Parameter(torch.full((R,), math.log(s2s)))
        if prior == "paper":
            self.prior = LatticePrior(base, max_norm, threshold_t, u_hidden=u_hidden,
                                      dtype=_DTYPES[prior_dtype], n_blocks=R, escape=True)
        else:
            sigma2_lattice = math.exp(-2 * self._log_delta0)              # per-dim second moment of Lambda
            scale = math.sqrt(sigma2_lattice * (1 + s2s / s2u))
            self.prior = DiscreteGaussianPrior(base, n_blocks=R, components=prior_components,
                                               init_scale=scale, dtype=_DTYPES[prior_dtype])
        self.register_buffer("_basis", torch.as_tensor(np.array(base.basis), dtype=torch.float64))
        self.register_buffer("_basis_inv", torch.as_tensor(np.linalg.inv(base.basis), dtype=torch.float64))

    # ------------------------------------------------------------------ scales
    def log_delta(self) -> torch.Tensor:
        r"""Eq. (8): :math:`\log\Delta_b = \tfrac12\log\sigma^2_{U_G,b} - \tfrac12\log G - \tfrac1n\log V`, (R,)."""
        return 0.5 * self.log_sigma2_u + self._log_delta0                  # eq. (8)

    def delta(self) -> torch.Tensor:
        r""":math:`\Delta_b`, shape (R,), differentiable in :math:`\sigma^2_{U_G}`."""
        return self.log_delta().exp()

    # ------------------------------------------------------------------ helpers
    def _check_e(self, e):
        if e.dim() != 2 or e.shape[-1] != self.dim:
            raise ValueError(f"e must have shape (batch, {self.dim}), got {tuple(e.shape)}")

    def _blocks(self, x):
        return x.reshape(*x.shape[:-1], self.n_blocks, self.block_dim)    # (..., R, n)

    def _cell(self, lead, generator, device):
        """De-scaled dithers V uniform over P_0(Lambda), float64, shape (*lead, R, n)."""
        count = int(np.prod(lead)) * self.n_blocks
        # the same draw as Lattice.sample_cell_torch (uniform coefficients times the basis, minus
        # the nearest point), without its per-call checks and basis conversion; off the CPU
        # without a host synchronisation (_decode)
        w = torch.rand((count, self.block_dim), generator=generator, device=device,
                       dtype=torch.float64) @ self._basis
        v = w - self._decode(w)
        return v.reshape(*lead, self.n_blocks, self.block_dim)

    def _decode(self, x):
        """K_Lambda(x) of the base lattice; off the CPU without the range check of
        :meth:`lattices.Lattice.nearest` (a host synchronisation per call): ``x`` is finite in a
        training step (a non-finite encoder output makes the loss non-finite, which the
        training loop reports), and the range limits (about 2^52) are far above it."""
        if x.device.type == "cpu":
            return self.base.nearest(x)
        return self.base.nearest_torch_unchecked(x)

    def _quantize(self, e_blocks, v, delta):
        """Integer coefficients of K_Lambda(e/Delta + V), shape like ``v`` (int64), no autograd."""
        x = e_blocks.detach().double() / delta[:, None] + v              # (e + U)/Delta, U = Delta V
        pts = self._decode(x)                                            # K_Lambda, de-scaled
        return torch.round(pts @ self._basis_inv).to(torch.int64)

    def _code_length(self, coeffs, v):
        """-log p_{Z^|U}(z|U) summed over blocks (Sec. 3.4, eq. (10)); coeffs, v (..., R, n)."""
        return -self.prior.log_prob_coords(coeffs, v).sum(-1)

    # ------------------------------------------------------------------ codec interface
    # What an entropy coder (vae.codec) needs, in the de-scaled block coordinates of the prior:
    # the shared dither, the symbols, and the decoder input from the symbols (Sec. 3.6.3).
    def cell_dither(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """De-scaled dithers V uniform over the base cell, (n, R, block_dim) float64 on the CPU
        (the scaled dither is U = Delta V); the same draws as inference with this generator."""
        return self._cell((n,), generator, "cpu")

    def block_coefficients(self, e: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        r"""Integer coefficients (n, R, block_dim) int64 of :math:`K_\Lambda(e_b/\Delta_b + V_b)` per
        block for encoder outputs ``e`` (n, m) and de-scaled dithers ``v`` (n, R, block_dim)."""
        delta = self.delta().detach().double().to(v.device)
        return self._quantize(self._blocks(e.detach().double()), v, delta)

    def decoder_input_from(self, coeffs, v) -> torch.Tensor:
        r"""Decoder input :math:`z - U = \Delta (c B - V)` (9), (n, m) float64, from block coefficients
        ``coeffs`` (n, R, block_dim) and de-scaled dithers ``v`` (as :meth:`inference_samples`)."""
        delta = self.delta().detach().double().to(v.device)
        z_minus_u = delta[:, None] * (torch.as_tensor(coeffs).double() @ self._basis.to(v.device) - v)
        return z_minus_u.reshape(len(v), self.dim)

    def sample_dither(self, batch: int, generator: torch.Generator | None = None,
                      device=None, dtype=torch.float32) -> torch.Tensor:
        r"""Dithers :math:`U` uniform over the cell of the scaled product lattice, shape (batch, m)."""
        device = self.log_sigma2_u.device if device is None else device
        v = self._cell((batch,), generator, device)                      # (batch, R, n)
        u = self.delta().detach().double()[:, None] * v
        return u.reshape(batch, self.dim).to(dtype)

    # ------------------------------------------------------------------ training
    def proxy_rate(self, e, u_g):
        r"""Sec. 3.6.2 step 2: the proxy KL summed over blocks, (batch,); vectorized over blocks."""
        s2u, s2s = self.log_sigma2_u.exp(), self.log_sigma2_s.exp()    # (R,)
        tot = s2u + s2s
        d2 = (self._blocks(e - u_g) ** 2).sum(-1)                        # (batch, R)
        u2 = (self._blocks(u_g) ** 2).sum(-1)
        kl = 0.5 * (d2 / tot - u2 / s2u - self.block_dim * torch.log(s2u / tot))   # Sec. 3.6.2
        return kl.sum(-1)

    def train_terms(self, e, generator=None):
        """Sec. 3.6.2: decoder input ``e - U_G``, the proxy KL as rate, the code length of (6) as aux.

        On the CPU steps 1-2 are one autograd node (:mod:`vae.latents.proxy_fused`, same
        numbers to float round-off; ``fused = False`` selects the torch formulation)."""
        self._check_e(e)
        eps = torch.randn(e.shape, generator=generator, device=e.device, dtype=e.dtype)
        if self.fused and proxy_terms_supported(e, self.log_sigma2_u, eps):
            decoder_input, rate = proxy_terms(e, self.log_sigma2_u, self.log_sigma2_s, eps, self.block_dim)
        else:
            sigma_u = (0.5 * self.log_sigma2_u).exp().repeat_interleave(self.block_dim).to(e.dtype)   # (m,)
            u_g = sigma_u * eps                                          # step 1: U_G ~ N(0, sigma2_U I)
            rate = self.proxy_rate(e, u_g)                               # step 2
            decoder_input = e - u_g
        delta = self.delta().detach().double()                           # step 3: eq. (8), detached
        v = self._cell((e.shape[0],), generator, e.device)               # U = Delta V
        coeffs = self._quantize(self._blocks(e), v, delta)               # z = Delta K((e + U)/Delta)
        code = self._code_length(coeffs, v)                              # eq. (6), second term
        return TrainTerms(decoder_input=decoder_input, rate=rate, aux=code.to(rate.dtype),
                          code_length=code.detach().to(rate.dtype))

    # ------------------------------------------------------------------ inference
    def inference_samples(self, e, k, generator=None):
        """Sec. 3.6.3: ``k`` dithers, decoder input ``z - U`` (9), ``log_ratio`` = minus (10) (float64)."""
        self._check_e(e)
        check_sample_count(k)
        B = e.shape[0]
        delta = self.delta().detach().double()                           # (R,)
        v = self._cell((B, k), generator, e.device)                       # (B, k, R, n)
        eb = self._blocks(e)[:, None]                                     # (B, 1, R, n)
        coeffs = self._quantize(eb.expand(B, k, self.n_blocks, self.block_dim), v, delta)
        z_minus_u = delta[:, None] * (coeffs.double() @ self._basis - v)  # z - U = Delta (K - V)
        log_ratio = -self._code_length(coeffs, v).double()               # eq. (10)
        decoder_input = z_minus_u.reshape(B, k, self.dim).to(e.dtype)
        return InferenceSamples(decoder_input=decoder_input, log_ratio=log_ratio)

    # ------------------------------------------------------------------ symbols
    def encode(self, e, u=None):
        r"""Integer coefficients (batch, m) int64 of :math:`z_b/\Delta_b` w.r.t. the base basis, per block."""
        self._check_e(e)
        require_dither(u, "encode")
        delta = self.delta().detach().double()
        v = self._blocks(u.detach().double()) / delta[:, None]
        return self._quantize(self._blocks(e), v, delta).reshape(e.shape[0], self.dim)

    def decode(self, symbols, u=None):
        """Decoder input ``z - u`` (batch, m) from the coefficients of :meth:`encode`."""
        require_dither(u, "decode")
        delta = self.delta().detach().double()
        z = delta[:, None] * (self._blocks(symbols).double() @ self._basis)   # (batch, R, n)
        return (z.reshape(u.shape) - u.double()).to(u.dtype)

    def log_prob(self, symbols, u):
        """log p_{Z^|U} of the coefficients of :meth:`encode` given the dither ``u``: minus (10), (batch,)."""
        delta = self.delta().detach().double()
        v = self._blocks(u.detach().double()) / delta[:, None]
        return -self._code_length(self._blocks(symbols), v)

    def extra_repr(self) -> str:
        if self.prior_family == "dgauss":
            return (f"{super().extra_repr()}, lattice={self.base.name!r}, blocks={self.n_blocks}, "
                    f"prior='dgauss', C={self.prior.components}")
        return (f"{super().extra_repr()}, lattice={self.base.name!r}, blocks={self.n_blocks}, "
                f"K={self.prior.max_norm}, t={self.prior.threshold_t}")


def _fixed_lattice(name, options):
    """The block lattice of a named subclass; passing ``lattice`` to it is an error."""
    if "lattice" in options:
        raise ValueError(f"the {name!r} latent fixes lattice={name!r}, got lattice={options['lattice']!r}; "
                         "use ProxyLatticeLatent(dim, lattice=...) for another block lattice")
    return name


class Z2Latent(ProxyLatticeLatent):
    r"""``z2``: Gaussian proxy on a product of :math:`\mathbb Z^2` blocks (K=64, t=9 by default)."""

    name = "z2"

    def __init__(self, dim: int, **options):
        super().__init__(dim, lattice=_fixed_lattice("z2", options), **options)


class A2Latent(ProxyLatticeLatent):
    r"""``a2``: Gaussian proxy on a product of :math:`A_2` blocks (K=64, t=7 by default)."""

    name = "a2"

    def __init__(self, dim: int, **options):
        super().__init__(dim, lattice=_fixed_lattice("a2", options), **options)


class E8Latent(ProxyLatticeLatent):
    r"""``e8``: Gaussian proxy on a product of :math:`E_8` blocks (K=64, t=3 by default)."""

    name = "e8"

    def __init__(self, dim: int, **options):
        super().__init__(dim, lattice=_fixed_lattice("e8", options), **options)


class BW16Latent(ProxyLatticeLatent):
    r"""``bw16``: Gaussian proxy on a product of BW16 blocks (K=256, t=1 by default)."""

    name = "bw16"

    def __init__(self, dim: int, **options):
        super().__init__(dim, lattice=_fixed_lattice("bw16", options), **options)


class LeechLatent(ProxyLatticeLatent):
    r"""``leech``: Gaussian proxy on a product of Leech blocks (K=256, t=1 by default)."""

    name = "leech"

    def __init__(self, dim: int, **options):
        super().__init__(dim, lattice=_fixed_lattice("leech", options), **options)
