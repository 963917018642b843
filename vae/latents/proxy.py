r"""``z2``, ``a2``, ``e8``: training by Gaussian proxy (Sec. 3.5, 3.6.2) on a product lattice.

The hidden size ``m`` is split into ``R = m/n`` blocks of the ``n``-dimensional base lattice
:math:`\Lambda` (:math:`\mathbb Z^2`, :math:`A_2` or :math:`E_8`); block ``b`` uses the scaled
lattice :math:`\Delta_b\Lambda`, so the latent lattice is the product
:math:`\mathrm{diag}(\Delta_1 B, \ldots, \Delta_R B)` of Sec. 4.1.  Per block there are two
learned variances, :math:`\sigma^2_{U_G,b}` and :math:`\sigma^2_{S_G,b}` (log-parametrized),
and one learned prior :math:`p_{\hat Z|U}` with one parameter set per block: a
:class:`vae.priors.Prior` object of the family ``prior`` (Sec. 3.4's by default), which owns its
options, its log-pmf (eager and fused) and its coder.

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
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

import lattices
from theory.scaling import matched_log_delta
from vae.priors import DEFAULT_PRIOR, PriorContext, build_prior, family_of_state, prior_class

from .base import (InferenceSamples, LatentLayer, TrainTerms, check_dim, check_positive_float,
                   check_sample_count, require_dither)
from .proxy_fused import proxy_terms, proxy_terms_supported

__all__ = ["ProxyLatticeLatent", "ProxyOptions", "Z2Latent", "A2Latent", "E8Latent", "BW16Latent",
           "LeechLatent"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64,
           torch.float32: torch.float32, torch.float64: torch.float64}


@dataclass(frozen=True)
class ProxyOptions:
    """The latent's own options (the prior family's options are the prior's: :mod:`vae.priors`).

    lattice : str
        Base lattice name (:func:`lattices.get`).
    init_sigma2_u, init_sigma2_s : float
        Initial proxy variances (Sec. 3.6.2).
    prior_dtype : "float64" or "float32"
    prior : str or None
        Prior family (:mod:`vae.priors`: a registered name or ``"module:Class"``); ``None``:
        :data:`vae.priors.DEFAULT_PRIOR`.
    """

    lattice: str = "e8"
    init_sigma2_u: float = 0.1
    init_sigma2_s: float = 1.0
    prior_dtype: str = "float64"
    prior: str | None = None

    def __post_init__(self):
        if not isinstance(self.lattice, str):
            raise ValueError(f"lattice must be a lattice name such as 'z2', 'a2', 'e8', got {self.lattice!r}")
        check_positive_float(self.init_sigma2_u, "init_sigma2_u")
        check_positive_float(self.init_sigma2_s, "init_sigma2_s")
        if self.prior_dtype not in _DTYPES:
            raise ValueError(f"prior_dtype must be 'float32' or 'float64', got {self.prior_dtype!r}")


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
    init_sigma2_u : float, default 0.1
        Initial :math:`\sigma^2_{U_G}` of every block: a dither 10x weaker than the
        prior, so the decoder sees an informative input from the first step (the rate at
        ``e = 0`` is then about 0.7 nats per coordinate).
    init_sigma2_s : float, default 1.0
        Initial :math:`\sigma^2_{S_G}`: the unit-variance prior of a standard Gaussian VAE.
    prior_dtype : "float64" (default) or "float32"
        dtype of the prior's parameters and code lengths (float64: exact normalization to
        round-off; measured not to be the bottleneck, see the tests' timing notes).
    prior : str, default :data:`vae.priors.DEFAULT_PRIOR` (``"paper"``)
        The prior family (:mod:`vae.priors`): ``"paper"`` (Sec. 3.4 with the escape component;
        options ``max_norm``, ``threshold_t``, ``u_hidden``: :class:`vae.priors.paper.PaperOptions`),
        ``"dgauss"`` (a mixture of discrete Gaussians on :math:`\Lambda - u`, exactly normalized;
        option ``prior_components``: :class:`vae.priors.dgauss.DGaussOptions`), a family added with
        :func:`vae.priors.register_prior`, or the ``"module:Class"`` of a :class:`vae.priors.Prior`.
    **prior_options
        The family's options (checked by its options dataclass: unknown keys are a ``ValueError``
        that lists the valid ones).

    Attributes
    ----------
    log_sigma2_u, log_sigma2_s : nn.Parameter, shape (R,)
    prior : vae.priors.Prior (``R`` blocks; ``prior.family`` names it)

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
    Options = ProxyOptions

    def __init__(self, dim: int, lattice: str = "e8", init_sigma2_u: float = 0.1,
                 init_sigma2_s: float = 1.0, prior_dtype="float64", prior: str | None = None,
                 **prior_options):
        opts = ProxyOptions(lattice, init_sigma2_u, init_sigma2_s, prior_dtype, prior)
        try:
            base = lattices.get(lattice)
        except (ValueError, KeyError) as err:
            raise ValueError(f"unknown lattice {lattice!r} ({err}); valid: any name of "
                             f"lattices.get, e.g. z2, a2, e8, d4, bw16, leech") from None
        super().__init__(check_dim(dim, base.dim))
        key = lattice.strip().lower()
        family = DEFAULT_PRIOR if prior is None else prior
        if type(self) is ProxyLatticeLatent:
            self.name = key
        self.base = base
        self.block_dim = n = base.dim
        self.n_blocks = R = dim // n
        #: train on the CPU through :mod:`vae.latents.proxy_fused` (the proxy KL and the decoder
        #: input as one autograd node); ``False``: the torch formulation of :meth:`proxy_rate`
        #: (per instance: :meth:`use_kernels`).
        self.fused = True
        # eq. (8) with sigma2_U = 1: log Delta_b = 0.5 log sigma2_U,b + _log_delta0.  Computed
        # once: matched_log_delta evaluates G(Lambda) exactly (sympy), too slow per step.
        self._log_delta0 = float(matched_log_delta(1.0, base))
        self.log_sigma2_u = nn.Parameter(torch.full((R,), math.log(opts.init_sigma2_u)))
        self.log_sigma2_s = nn.Parameter(torch.full((R,), math.log(opts.init_sigma2_s)))
        context = PriorContext(sigma2_lattice=math.exp(-2 * self._log_delta0),   # per-dim second moment
                               init_sigma2_u=opts.init_sigma2_u, init_sigma2_s=opts.init_sigma2_s,
                               dtype=_DTYPES[prior_dtype])
        #: the prior p_{Z^|U} (a :class:`vae.priors.Prior`: its log-pmf, kernels and coder)
        self.prior = build_prior(family, base, R, prior_options, context)
        self.register_buffer("_basis", torch.as_tensor(np.array(base.basis), dtype=torch.float64))
        self.register_buffer("_basis_inv", torch.as_tensor(np.linalg.inv(base.basis), dtype=torch.float64))

    @classmethod
    def check_options(cls, options) -> None:
        """Typed check without building: :class:`ProxyOptions` for the latent's own keys, the prior
        family's options dataclass (:meth:`vae.priors.Prior.parse_options`) for the rest."""
        if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
            raise ValueError(f"latent_options must be a dict of option names to values, got {options!r}")
        own = [f.name for f in dataclasses.fields(ProxyOptions)]
        fixed = cls is not ProxyLatticeLatent                  # z2, a2, e8, ...: the lattice is the name
        if fixed and "lattice" in options:
            raise ValueError(f"the {cls.name!r} latent fixes lattice={cls.name!r}, got lattice={options['lattice']!r}")
        family = prior_class(DEFAULT_PRIOR if options.get("prior") is None else options["prior"])
        theirs = [f.name for f in dataclasses.fields(family.Options)]
        unknown = sorted(set(options) - set(own) - set(theirs))
        if unknown:
            valid = [k for k in own if not (fixed and k == "lattice")] + theirs
            raise ValueError(f"{', '.join(map(repr, unknown))}: not an option of latent {cls.name!r} with "
                             f"prior {family.family!r} (valid: {', '.join(valid)})")
        ProxyOptions(**{k: v for k, v in options.items() if k in own})
        family.parse_options({k: v for k, v in options.items() if k not in own})

    @classmethod
    def options_for_state(cls, options: dict, state: dict) -> dict:
        """Options under which a saved ``state`` (the layer's ``state_dict``, keys without the
        ``latent.`` prefix) loads: a state saved without ``prior`` loads with the family that
        recognizes it, and the family reads what its own defaults do not fix (the paper prior's K)."""
        sub = {k[len("prior."):]: v for k, v in state.items() if k.startswith("prior.")}
        family = options.get("prior")
        if family is None:
            family = family_of_state(sub)
            if family is None:
                return options
            options = {**options, "prior": family}
        return prior_class(family).options_for_state(options, sub)

    def use_kernels(self, prior: str = "auto", step: str = "fused") -> "ProxyLatticeLatent":
        """Select this layer's kernels: the prior's (``"auto"`` or ``"eager"``, :meth:`vae.priors.Prior.use_kernel`)
        and the proxy step's (``"fused"``: one autograd node on the CPU, ``"torch"``: torch operations)."""
        if step not in ("fused", "torch"):
            raise ValueError(f"step must be 'fused' or 'torch', got {step!r}")
        self.prior.use_kernel(prior)
        self.fused = step == "fused"
        return self

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

    def blocks(self, x) -> torch.Tensor:
        """``x`` (..., m) as (..., R, n): the coordinates of each block."""
        return x.reshape(*x.shape[:-1], self.n_blocks, self.block_dim)    # (..., R, n)

    def cell_samples(self, lead, generator, device) -> torch.Tensor:
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

    def quantize_blocks(self, e_blocks, v, delta) -> torch.Tensor:
        """Integer coefficients of K_Lambda(e/Delta + V), shape like ``v`` (int64), no autograd;
        ``e_blocks`` (..., R, n) (:meth:`blocks`), ``delta`` (R,)."""
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
        return self.cell_samples((n,), generator, "cpu")

    def block_coefficients(self, e: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        r"""Integer coefficients (n, R, block_dim) int64 of :math:`K_\Lambda(e_b/\Delta_b + V_b)` per
        block for encoder outputs ``e`` (n, m) and de-scaled dithers ``v`` (n, R, block_dim)."""
        delta = self.delta().detach().double().to(v.device)
        return self.quantize_blocks(self.blocks(e.detach().double()), v, delta)

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
        v = self.cell_samples((batch,), generator, device)                      # (batch, R, n)
        u = self.delta().detach().double()[:, None] * v
        return u.reshape(batch, self.dim).to(dtype)

    # ------------------------------------------------------------------ training
    def proxy_rate(self, e, u_g):
        r"""Sec. 3.6.2 step 2: the proxy KL summed over blocks, (batch,); vectorized over blocks."""
        s2u, s2s = self.log_sigma2_u.exp(), self.log_sigma2_s.exp()    # (R,)
        tot = s2u + s2s
        d2 = (self.blocks(e - u_g) ** 2).sum(-1)                        # (batch, R)
        u2 = (self.blocks(u_g) ** 2).sum(-1)
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
        v = self.cell_samples((e.shape[0],), generator, e.device)               # U = Delta V
        coeffs = self.quantize_blocks(self.blocks(e), v, delta)               # z = Delta K((e + U)/Delta)
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
        v = self.cell_samples((B, k), generator, e.device)                       # (B, k, R, n)
        eb = self.blocks(e)[:, None]                                     # (B, 1, R, n)
        coeffs = self.quantize_blocks(eb.expand(B, k, self.n_blocks, self.block_dim), v, delta)
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
        v = self.blocks(u.detach().double()) / delta[:, None]
        return self.quantize_blocks(self.blocks(e), v, delta).reshape(e.shape[0], self.dim)

    def decode(self, symbols, u=None):
        """Decoder input ``z - u`` (batch, m) from the coefficients of :meth:`encode`."""
        require_dither(u, "decode")
        delta = self.delta().detach().double()
        z = delta[:, None] * (self.blocks(symbols).double() @ self._basis)   # (batch, R, n)
        return (z.reshape(u.shape) - u.double()).to(u.dtype)

    def log_prob(self, symbols, u):
        """log p_{Z^|U} of the coefficients of :meth:`encode` given the dither ``u``: minus (10), (batch,)."""
        delta = self.delta().detach().double()
        v = self.blocks(u.detach().double()) / delta[:, None]
        return -self._code_length(self.blocks(symbols), v)

    def points_from_coefficients(self, coeffs) -> torch.Tensor:
        """De-scaled block points ``coeffs @ B`` (float64) of integer coefficients (..., R, n)."""
        return torch.as_tensor(coeffs).double() @ self._basis.to(torch.as_tensor(coeffs).device)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, lattice={self.base.name!r}, blocks={self.n_blocks}, "
                f"prior={self.prior.describe()!r}")


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
