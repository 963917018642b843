r"""The discrete-Gaussian mixture prior: ``--latent-option prior=dgauss`` (its math, options and coder).

:class:`DGaussPrior` is :class:`theory.discrete_gaussian_prior.DiscreteGaussianPrior` (the math,
its eager reference and its fused kernel, :mod:`theory.discrete_gaussian_fused`) as a
:class:`vae.priors.Prior`: its options (:class:`DGaussOptions`: ``prior_components``), its
supported lattices, its initial scale from the proxy variances, and its coder
(:class:`DGaussPriorCoder`, below).

The prior (:class:`theory.discrete_gaussian_prior.DiscreteGaussianPrior`) gives each block's
quantized point :math:`a` (de-scaled, a point of the base lattice :math:`\Lambda`, given the
de-scaled dither :math:`u`) the probability

.. math::  p(a|u) = \sum_c w_c\,p_c(a|u), \qquad
           p_c(a|u) = \frac{\prod_i g_{c,i}(a_i - u_i)}{Z_c(u)}, \quad
           g_{c,i}(x) = e^{-x^2/(2 s_{c,i}^2)} .

A mixture cannot be coded by sending the component first (that costs :math:`-\log_2 w_c`
more than :math:`-\log_2 p` unless the component is taken back by bits-back coding).  This
coder instead codes the point as a chain of exact conditionals of the *mixture*, whose
product is :math:`p(a|u)` (the chain rule), each conditional a mixture of the components'
conditionals with the posterior component weights given what is already coded:

.. math::  p(y_j | y_{<j}) = \sum_c w_c(y_{<j})\,p_c(y_j | y_{<j}), \qquad
           w_c(y_{\le j}) = \frac{w_c(y_{<j})\,p_c(y_j|y_{<j})}{p(y_j|y_{<j})} .

**The chain** follows the coset decomposition of the prior's normalizers
(:data:`theory.discrete_gaussian_prior.SUPPORTED`): :math:`\Lambda = \bigcup_h (\mathrm{diag}(d)
\mathbb Z^n + h)`, with the integer part restricted to an even coordinate sum for
:math:`D_n` and :math:`E_8` (SPLAG ch. 4, §§7.1, 8.1).  A point is :math:`a = d \odot k + h`:

1. the coset :math:`h` (``e8``: :math:`D_8` or :math:`D_8 + \tfrac12\mathbf 1`; ``a2``:
   :math:`\sqrt3\mathbb Z\times\mathbb Z` or its shift by :math:`(\sqrt3/2, \tfrac12)`, i.e.
   the even or odd rows of the hexagonal lattice), with
   :math:`p_c(h) = Z_{c,h}(u)/Z_c(u)`, :math:`Z_{c,h}` the coset's theta sum;
2. the integers :math:`k_1, \dots, k_n` one by one.  With :math:`x_i = (u_i - h_i)/d_i`,
   :math:`\sigma_{c,i} = s_{c,i}/d_i` and :math:`\gamma(k) = e^{-(k - x_i)^2/(2\sigma_{c,i}^2)}`:

   * ``z2``, ``a2`` (no parity): the coordinates are independent within a component,
     :math:`p_c(k_i | k_{<i}) = \gamma(k_i)/\vartheta(x_i; \sigma_{c,i})`
     (:func:`theory.discrete_gaussian_prior.log_theta_1d`);
   * ``d4``, ``e8`` (even sum): with the suffix sums :math:`S^\pi_i` of
     :math:`\prod_{j \ge i}\gamma_j(k_j)` over the suffixes of parity :math:`\pi`
     (:math:`S^\pi_{n+1} = [\pi = 0]`, :math:`S^\pi_i = E_i S^\pi_{i+1} + O_i S^{1-\pi}_{i+1}`,
     :math:`E_i = \vartheta(x_i/2; \sigma_{c,i}/2)`, :math:`O_i = \vartheta((x_i-1)/2; \sigma_{c,i}/2)`,
     the even and odd 1-D sums of the prior's normalizer) and :math:`\pi` the parity of
     :math:`k_1 + \dots + k_{i-1}`:
     :math:`p_c(k_i | k_{<i}) = \gamma(k_i)\,S^{(\pi + k_i) \bmod 2}_{i+1} / S^\pi_i`; the sum over
     :math:`k_i` is :math:`(E_i S^\pi_{i+1} + O_i S^{1-\pi}_{i+1})/S^\pi_i = 1` and the product over
     :math:`i` is :math:`\prod_i\gamma_i / S^0_1 = p_c(k)` since :math:`S^0_1 = Z_{c,h}`.  The
     last coordinate's parity is forced (its other parity has probability 0).

**The code lattices** ``bw16`` and ``leech`` (:class:`theory.discrete_gaussian_prior.CodedDecomposition`:
:math:`a = d\,j + t_g`, :math:`j \bmod 2` in the code, :math:`\sum\lfloor j_i/2\rfloor` even; SPLAG
ch. 4, §§10, 11) have 32 and 8192 cosets of :math:`\mathrm{diag}(d)\,2D_n`, too many to code
the coset first.  Their chain (:class:`DGaussCodedPriorCoder`, :class:`DGaussCodedConditionals`)
codes the glue :math:`g` (Leech only, :math:`p_c(g) = Z_{c,g}/Z_c`) and then the integers
:math:`j_i` one by one, in the trellis order, with :math:`p_c(j_i | g, j_{<i}) =
\gamma_i(j_i)\,\beta_{i+1}(\sigma', \pi')/\beta_i(\sigma, \pi)`: the backward sums of the code
trellis with the parity bit (:meth:`theory.code_trellis.CodeTrellis.log_suffix`) in place of the
parity suffix sums above, :math:`(\sigma, \pi)` the trellis state and parity that
:math:`j_{<i}` reached; a bit that leaves the code, or the wrong parity at the end, has
probability 0.

Everything is in log space (a point far in the tail has a finite log-probability even where
its probability underflows).  Each conditional is a pmf over all integers; the coded
alphabet is the window :math:`|k| \le W` (``window``, the largest :math:`|k|` of the file,
in the header) plus one never-coded symbol holding the mass beyond it, so every coded
:math:`k` keeps exactly its model probability (as the ``z-laplace`` coder).  The float64
conditionals are computed by the same code, on the same arrays, on both sides, with
deterministic arithmetic only (:mod:`vae.fixed_math`: the theta sums, ``logaddexp``,
``logsumexp`` and ``exp`` are fixed-order compositions of correctly rounded float64 operations;
the prior's scales and weights are recomputed from its float64 parameters the same way) and
quantized by :func:`vae.entropy_coding.quantize_log_pmf`: identical integers on any IEEE-754
machine and thread count.  Bits = :math:`-\log_2 p(a|u)` up to round-off, the 24-bit
quantization and the ANS flush.  No bits-back step is needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from theory.discrete_gaussian_prior import (DIRECT_TERMS, DUAL_TERMS, S_MAX, S_MIN, SUPPORTED_NAMES,
                                            SWITCH_SCALE, DiscreteGaussianPrior)
from vae import fixed_math as fm
from vae.entropy_coding import CodecError, coded_bits, pop, push, quantize_log_pmf, symbol_window

from .base import Prior, PriorCoder, PriorContext  # noqa: F401  (PriorContext: the doctest)

__all__ = ["DGaussPrior", "DGaussOptions", "DGaussPriorCoder", "DGaussConditionals",
           "DGaussCodedPriorCoder", "DGaussCodedConditionals"]

_LN2 = math.log(2.0)
#: Rows x components x window columns of one float64 conditional table (~16 MB).
_TABLE_BUDGET = 1 << 21


@dataclass(frozen=True)
class DGaussOptions:
    """Options of the discrete-Gaussian prior (flat ``latent_options`` keys).

    prior_components : int
        ``C``, the mixture components per block, in [1, 16].
    """

    prior_components: int = 2

    def __post_init__(self):
        c = self.prior_components
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 1 <= c <= 16:
            raise ValueError(f"prior_components must be an int in [1, 16], got {c!r}")


class DGaussPrior(DiscreteGaussianPrior, Prior):
    r"""A mixture of discrete Gaussians on :math:`\Lambda - u` per block, exactly normalized, as a prior object.

    Its scales start at the de-scaled standard deviation of :math:`a - u` under the initial proxy,
    :math:`\sqrt{\sigma^2_\Lambda(1 + \sigma^2_{S_G}/\sigma^2_{U_G})}` (:class:`PriorContext`).

    Examples
    --------
    >>> import lattices
    >>> p = DGaussPrior.from_options(lattices.get("e8"), 4, DGaussOptions(3), PriorContext())
    >>> p.describe(), tuple(p.log_scale.shape)
    ('dgauss C=3', (4, 3, 8))
    """

    family = "dgauss"
    Options = DGaussOptions

    @classmethod
    def supported_lattice(cls, lattice):
        if getattr(lattice, "name", None) in SUPPORTED_NAMES:
            return None
        return (f"prior='dgauss' supports the lattices {', '.join(SUPPORTED_NAMES)} (exact theta "
                f"normalizers), got lattice {getattr(lattice, 'name', lattice)!r}; use prior='paper'")

    @classmethod
    def from_options(cls, lattice, n_blocks, options, context):
        return cls(lattice, n_blocks=int(n_blocks), components=int(options.prior_components),
                   init_scale=context.init_scale, dtype=context.dtype)

    @classmethod
    def recognizes_state(cls, state):
        return "log_scale" in state and "mix_logits" in state

    def coder(self):
        return DGaussPriorCoder(self) if self.coded is None else DGaussCodedPriorCoder(self)

    def untrained(self, seed=0):
        """The untrained discrete-Gaussian prior: scales 1 and equal weights (no randomness)."""
        return type(self)(self.lattice, n_blocks=self.n_blocks, components=self.components,
                          dtype=self.log_scale.dtype)

    def describe(self):
        return f"dgauss C={self.components}"


def _logsumexp(a, axis):
    """log(sum(exp(a))) along ``axis``; -inf where every entry is -inf (deterministic, :mod:`vae.fixed_math`)."""
    return fm.logsumexp(a, axis)


#: ``0.5 * fm._log(2 pi)`` as a literal (tests/test_codec_portable.py checks it): no numba dispatch at import.
_HALF_LOG_2PI = 0.9189385332046727
_TWO_PI2 = 2.0 * math.pi ** 2


def _log_theta_1d(x, s):
    r""":func:`theory.discrete_gaussian_prior.log_theta_1d` (the same two fixed-length sums, the same
    branch rule) in deterministic float64 arithmetic (:mod:`vae.fixed_math`: its compiled
    elementwise kernels, sums left to right), numpy arrays (broadcasting)."""
    x, s = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.maximum(np.asarray(s, dtype=np.float64), S_MIN))
    r = x - np.rint(x)                                                   # in [-1/2, 1/2], exact
    sd = np.minimum(s, SWITCH_SCALE)
    c = -0.5 / (sd * sd)
    acc = np.zeros(x.shape)
    for j in range(-DIRECT_TERMS, DIRECT_TERMS + 1):                     # fixed order
        d = j - r
        acc = acc + fm.exp(d * d * c)
    direct = fm.log(acc)
    sp = np.maximum(s, SWITCH_SCALE)
    corr = np.zeros(x.shape)
    for n in range(1, DUAL_TERMS + 1):
        corr = corr + fm.exp((-_TWO_PI2) * (sp * sp) * float(n * n)) * fm.cos_2pi(n * r)
    dual = fm.log(sp) + _HALF_LOG_2PI + fm.log1p(2.0 * corr)
    return np.where(s < SWITCH_SCALE, direct, dual)


@numba.njit(cache=True, nogil=True)
def _coordinate_kernel(x, sc, adj, offset, lw, window, lc, log_pmf):  # pragma: no cover - compiled
    r"""One step of the chain for ``N`` rows in one pass: the components' conditionals
    ``lc[n, c, k] = -(1/2) ((k - W - x_n) / sc_{n,c})^2 + adj[n, c, (offset_n + k - W) mod P]``
    (``adj`` (N, C, P): the parity (P = 2) or residue (P = 4) dependent log-ratio of the suffix
    sums, or minus the 1-D theta (P = 1)) and the mixture ``log_pmf[n, k] = logsumexp_c(lw[n, c] +
    lc[n, c, k])`` (max-shifted, components summed in order; :mod:`vae.fixed_math`)."""
    N, C = sc.shape
    K = 2 * window + 1
    P = adj.shape[2]                                      # 1, 2 or 4: a power of two
    sums = np.empty(N * K)
    t = np.empty(K)
    a = np.empty(K)
    mk = np.empty(K)
    acc = np.empty(K)
    for n in range(N):
        xn = x[n]
        base = ((offset[n] - window) % P + P) % P         # (offset_n + k - W) mod P = (base + k) & (P - 1)
        for k in range(K):
            a[k] = (k - window) - xn
        for c in range(C):
            s = sc[n, c]
            ad = adj[n, c]
            row = lc[n, c]
            for k in range(K):
                t[k] = a[k] / s
            for k in range(K):
                row[k] = -0.5 * (t[k] * t[k]) + ad[(base + k) & (P - 1)]
        for k in range(K):
            mk[k] = -np.inf
            acc[k] = 0.0
        for c in range(C):                               # components in order, k innermost
            lwc = lw[n, c]
            row = lc[n, c]
            for k in range(K):
                mk[k] = max(mk[k], lwc + row[k])
        for c in range(C):
            lwc = lw[n, c]
            row = lc[n, c]
            for k in range(K):
                acc[k] += fm._exp((lwc + row[k]) - mk[k])
        for k in range(K):
            finite = mk[k] != -np.inf and mk[k] != np.inf
            log_pmf[n, k] = mk[k]
            sums[n * K + k] = acc[k] if finite else 1.0
    logs = np.empty(N * K)
    fm._map_log(sums, logs)
    for i in range(N * K):
        log_pmf.flat[i] = log_pmf.flat[i] + logs[i]


def _coordinate_step(x, sc, adj, offset, lw, window):
    """:func:`_coordinate_kernel` with fresh outputs: (log_pmf (N, 2W+1), lc (N, C, 2W+1))."""
    N, C = sc.shape
    lc = np.empty((N, C, 2 * window + 1))
    log_pmf = np.empty((N, 2 * window + 1))
    _coordinate_kernel(np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(sc, dtype=np.float64),
                       np.ascontiguousarray(adj, dtype=np.float64), np.ascontiguousarray(offset, dtype=np.int64),
                       np.ascontiguousarray(lw, dtype=np.float64), int(window), lc, log_pmf)
    return log_pmf, lc


class _MixtureChain:
    """What both conditional chains share: the first symbol (a coset or glue among ``G``) with the
    components' log-probabilities ``log_zh - log_z`` (``log_zh`` (G, N, C), ``log_z`` (N, C)), the
    posterior component weights ``lw`` (N, C) given the symbols so far, and their update."""

    def _coset_component_log_pmf(self):
        return self.log_zh - self.log_z[None]                                    # (G, N, C): log p_c(h)

    def coset_log_pmf(self) -> np.ndarray:
        """log p(h | u) of the mixture over the first symbol, (N, G)."""
        return _logsumexp(self.log_w[None] + self._coset_component_log_pmf(), 2).T

    def _condition_on_coset(self, h) -> None:
        lc = self._coset_component_log_pmf()[h, self.rows]                       # (N, C)
        joint = self.log_w + lc
        self.lw = joint - _logsumexp(joint, 1)[:, None]
        self.h = np.asarray(h, dtype=np.int64)

    def _condition_on_symbol(self, k, log_pmf, lc, window: int):
        """Posterior weights after the symbol ``k`` (N,) of this step; returns ``k`` as int64."""
        k = np.asarray(k, dtype=np.int64)
        idx = k + window
        self.lw = self.lw + lc[self.rows, :, idx] - log_pmf[self.rows, idx][:, None]
        return k


class DGaussConditionals(_MixtureChain):
    r"""The chain of exact conditionals of one group of blocks (module notes), step by step.

    Parameters
    ----------
    coder : DGaussPriorCoder
        Supplies the prior's scales, mixture weights and coset decomposition.
    v : ndarray (N, n) float64
        De-scaled dithers of the ``N`` block rows.
    blocks : ndarray (N,) int
        Block index of each row (its parameter set).

    Use: :meth:`coset_log_pmf`, :meth:`choose_coset`, then for ``i = 0 .. n-1``
    :meth:`coordinate_log_pmf` (i, W) and :meth:`advance`.  The encoder and the decoder call
    the same methods on the same arrays, so their float64 pmfs are identical.
    """

    def __init__(self, coder, v, blocks):
        self.n, self.parity = coder.n, coder.parity
        self.rows = np.arange(len(v))
        self.sc = coder.scales[blocks] / coder.spacing                        # (N, C, n)
        self.x = (v[None] - coder.shifts[:, None, :]) / coder.spacing           # (H, N, n)
        x = self.x[:, :, None, :]                                               # (H, N, 1, n)
        sc = self.sc[None]                                                      # (1, N, C, n)
        if self.parity:
            log_e = _log_theta_1d(x / 2, sc / 2)                                # (H, N, C, n)
            log_o = _log_theta_1d((x - 1) / 2, sc / 2)
        else:
            self.log_t = _log_theta_1d(x, sc)                                   # (H, N, C, n)
        if self.parity:
            suffix = np.empty(log_e.shape[:-1] + (self.n + 1, 2))                # (H, N, C, n+1, parity)
            suffix[..., self.n, 0], suffix[..., self.n, 1] = 0.0, -np.inf
            for i in range(self.n - 1, -1, -1):
                even, odd = suffix[..., i + 1, 0], suffix[..., i + 1, 1]
                suffix[..., i, 0] = fm.logaddexp(log_e[..., i] + even, log_o[..., i] + odd)
                suffix[..., i, 1] = fm.logaddexp(log_o[..., i] + even, log_e[..., i] + odd)
            self.suffix = suffix
            self.log_zh = suffix[..., 0, 0]                                      # (H, N, C)
        else:
            self.log_zh = fm.row_sum(self.log_t)
        self.log_z = _logsumexp(self.log_zh, 0)                                  # (N, C)
        self.log_w = coder.log_w[blocks]                                        # (N, C) prior weights

    # ------------------------------------------------------------------ step 1: the coset
    def choose_coset(self, h) -> None:
        """Condition on the cosets ``h`` (N,): posterior component weights, parity 0."""
        self._condition_on_coset(h)
        self.par = np.zeros(len(self.rows), dtype=np.int64)

    # ------------------------------------------------------------------ step 2: the integers
    def coordinate_log_pmf(self, i: int, window: int):
        """log p(k_i | h, k_<i) of the mixture over ``k = -W .. W``: (N, 2W + 1), and the
        components' conditionals (N, C, 2W + 1) for :meth:`advance`."""
        x = self.x[self.h, self.rows, i]                                         # (N,)
        sc = self.sc[:, :, i]                                                    # (N, C)
        if self.parity:
            # adj[n, c, q]: log S^{tail}_{i+1} - log S^{par}_i with tail = (par + k) mod 2 = q's parity
            nxt = self.suffix[self.h, self.rows, :, i + 1]                       # (N, C, 2)
            now = self.suffix[self.h, self.rows, :, i, self.par]                 # (N, C)
            adj = nxt - now[:, :, None]
            return _coordinate_step(x, sc, adj, self.par, self.lw, window)
        adj = -self.log_t[self.h, self.rows, :, i][:, :, None]                  # (N, C, 1)
        return _coordinate_step(x, sc, adj, np.zeros(len(x), dtype=np.int64), self.lw, window)

    def advance(self, k, log_pmf, lc, window: int) -> None:
        """Condition on ``k_i = k`` (N,) given this step's :meth:`coordinate_log_pmf` outputs."""
        k = self._condition_on_symbol(k, log_pmf, lc, window)
        self.par = (self.par + k) % 2


class DGaussPriorCoder(PriorCoder):
    r"""Codes block symbols exactly under :class:`DGaussPrior` (module notes): a chain of exact
    conditionals of the mixture, no bits-back step."""

    def __init__(self, prior):
        if not isinstance(prior, DiscreteGaussianPrior):
            raise TypeError(f"the dgauss coder needs a DiscreteGaussianPrior, got {type(prior).__name__}")
        spacing, shifts, parity = prior.coset_decomposition()
        self._adopt(prior, len(shifts), parity)
        self.spacing, self.shifts = spacing, shifts                             # (n,), (H, n)

    def _adopt(self, prior, cosets: int, parity: bool) -> None:
        """The prior's parameters as float64 arrays on the CPU, and its basis."""
        PriorCoder.__init__(self, prior)
        self.H, self.C, self.parity = cosets, prior.components, bool(parity)
        # the prior's scales() and log-softmax weights, recomputed deterministically (:mod:`vae.fixed_math`)
        log_scale = prior.log_scale.detach().cpu().double().numpy()
        lo = fm.log(np.asarray(prior.scale_floor, dtype=np.float64))
        self.scales = fm.exp(np.minimum(np.maximum(log_scale, lo), fm.log(np.float64(S_MAX))))   # (R, C, n)
        self.log_w = fm.log_softmax_last(prior.mix_logits.detach().cpu().double().numpy())        # (R, C)
        self.basis = np.asarray(prior.lattice.basis, dtype=np.float64)
        self.basis_inv = np.linalg.inv(self.basis)

    # -------------------------------------------------------------- coset coordinates
    def _coset_split(self, symbols, shifts, spacing, member):
        """Coset index (N,) and integers (N, n) of the blocks of ``symbols``: the first coset
        ``h`` whose grid ``spacing * k + shifts[h]`` holds the point with ``member(k)`` true."""
        a = np.asarray(symbols, dtype=np.int64).reshape(-1, self.n).astype(np.float64) @ self.basis
        h = np.full(len(a), -1, dtype=np.int64)
        k = np.zeros(a.shape, dtype=np.int64)
        for j in range(len(shifts)):
            y = (a - shifts[j]) / spacing
            yi = np.rint(y)
            ok = (h < 0) & np.all(np.abs(y - yi) < 1e-6, axis=1)
            yi = yi.astype(np.int64)
            ok &= member(yi)
            h[ok], k[ok] = j, yi[ok]
        if np.any(h < 0):                                                        # internal invariant
            raise AssertionError("a block's point lies in no coset of the decomposition")
        return h, k

    def split(self, symbols):
        """Coset index ``h`` (N,) and integers ``k`` (N, n) of the blocks of ``symbols`` (point = d k + h)."""
        even = (lambda k: k.sum(1) % 2 == 0) if self.parity else (lambda k: np.ones(len(k), dtype=bool))
        return self._coset_split(symbols, self.shifts, self.spacing, even)

    def join(self, h, k):
        """Inverse of :meth:`split`: integer coefficients (N, n)."""
        a = np.asarray(k, dtype=np.float64) * self.spacing + self.shifts[h]
        return np.rint(a @ self.basis_inv).astype(np.int64)

    def conditionals(self, v, first_block: int = 0) -> DGaussConditionals:
        """The conditional chain of the block rows ``v`` (N, n); row ``r`` is block ``(first_block + r) % R``."""
        return DGaussConditionals(self, v, (first_block + np.arange(len(v))) % self.R)

    # -------------------------------------------------------------- coding
    def file_params(self, symbols):
        _, k = self.split(symbols)
        return {"window": symbol_window(k)}

    def _row_floats(self) -> int:
        """float64 entries of the conditional tables per block row."""
        return self.C * (2 * self.params["window"] + 2)

    def _groups(self, N):
        """Row groups (whole images) whose conditional tables stay within :data:`_TABLE_BUDGET`."""
        per_row = self._row_floats()
        size = max(1, _TABLE_BUDGET // (per_row * self.R)) * self.R
        return [slice(a, min(a + size, N)) for a in range(0, N, size)]

    def push(self, coder, symbols, dither):
        w = self.params["window"]
        h_all, k_all = self.split(symbols)
        v_all = np.asarray(dither, dtype=np.float64).reshape(-1, self.n)
        bits = np.zeros(len(h_all))
        for rows in reversed(self._groups(len(h_all))):
            h, k = h_all[rows], k_all[rows]
            chain = self.conditionals(v_all[rows], rows.start)
            steps = []
            if self.H > 1:
                freqs = quantize_log_pmf(chain.coset_log_pmf())
                steps.append((h, freqs))
            chain.choose_coset(h)
            for i in range(self.n):
                log_pmf, lc = chain.coordinate_log_pmf(i, w)
                steps.append((k[:, i] + w, quantize_log_pmf(log_pmf, outside=True)))
                chain.advance(k[:, i], log_pmf, lc, w)
            for sym, freqs in reversed(steps):
                push(coder, sym, freqs)
                bits[rows] += coded_bits(freqs, sym)
        return bits.reshape(len(symbols), self.R).sum(1)

    def pop(self, coder, n_img, dither):
        w = self.params["window"]
        v_all = np.asarray(dither, dtype=np.float64).reshape(-1, self.n)
        N = n_img * self.R
        h_all = np.zeros(N, dtype=np.int64)
        k_all = np.zeros((N, self.n), dtype=np.int64)
        for rows in self._groups(N):
            chain = self.conditionals(v_all[rows], rows.start)
            h = pop(coder, quantize_log_pmf(chain.coset_log_pmf())) if self.H > 1 \
                else np.zeros(rows.stop - rows.start, dtype=np.int64)
            chain.choose_coset(h)
            for i in range(self.n):
                log_pmf, lc = chain.coordinate_log_pmf(i, w)
                idx = pop(coder, quantize_log_pmf(log_pmf, outside=True))
                if np.any(idx > 2 * w) or not np.all(np.isfinite(log_pmf[chain.rows, np.minimum(idx, 2 * w)])):
                    raise CodecError("decoded a symbol beyond the window or of probability 0: another model or seed, "
                                     "or a corrupted file")
                chain.advance(idx - w, log_pmf, lc, w)
                k_all[rows, i] = idx - w
            h_all[rows] = h
        return self.join(h_all, k_all).reshape(n_img, self.R * self.n)


def _suffix_scaled(trellis, log_w):
    r"""The backward trellis sums (:meth:`theory.code_trellis.CodeTrellis.log_suffix`) in the linear
    domain with a log-scale per row and depth (:func:`vae.fixed_math.trellis_step_linear`): ``lin`` (n+1 arrays (..., |S_i|, 2),
    largest entry 1) and ``off`` (..., n+1) with :math:`\log\beta_i = \log\mathrm{lin}_i + \mathrm{off}_i`."""
    w = np.asarray(log_w, dtype=np.float64)[..., trellis.order, :]
    lead = w.shape[:-2]
    L = int(np.prod(lead))
    w = np.ascontiguousarray(w.reshape(L, trellis.n, 4))
    lin = [None] * (trellis.n + 1)
    off = np.zeros((L, trellis.n + 1))
    last = np.zeros((L, 1, 2))
    last[:, 0, 0] = 1.0
    lin[trellis.n] = last
    step = np.empty(L)
    for i in range(trellis.n - 1, -1, -1):
        nxt = np.concatenate([lin[i + 1], np.zeros((L, 1, 2))], 1)              # pad: index -1, weight 0
        succ = np.asarray(trellis.succ[i], dtype=np.int64)
        out = np.empty((L, len(succ), 2))
        fm.trellis_step_linear(nxt, np.where(succ < 0, nxt.shape[1] - 1, succ), np.ascontiguousarray(w[:, i]),
                               out, step)
        off[:, i] = off[:, i + 1] + step                                        # fixed order: depth by depth
        lin[i] = out
    return [b.reshape(lead + b.shape[1:]) for b in lin], off.reshape(lead + (trellis.n + 1,))


class DGaussCodedConditionals(_MixtureChain):
    r"""The chain of exact conditionals for the code lattices ``bw16``, ``leech`` (module notes), step by step.

    A point is :math:`a = d\,j + t_g` (:class:`theory.discrete_gaussian_prior.CodedDecomposition`):
    first the glue :math:`g` (Leech only), with :math:`p_c(g) = Z_{c,g}/Z_c`, then the integers
    :math:`j_i` in the trellis order.  With the residue sums :math:`T_i(r)` (the prior's
    :meth:`~theory.discrete_gaussian_prior.DiscreteGaussianPrior.log_residue_sums`), the
    backward trellis sums :math:`\beta_i(\sigma, \pi)` (:meth:`theory.code_trellis.CodeTrellis.log_suffix`),
    the trellis state :math:`\sigma` and the parity :math:`\pi` of :math:`\sum_{i'<i}\kappa_{i'}`
    reached by :math:`j_{<i}`:

    .. math::  p_c(j_i | g, j_{<i}) = \gamma_i(j_i)\,
               \frac{\beta_{i+1}(\sigma + b\,h_i,\ \pi + \kappa)}{\beta_i(\sigma, \pi)}, \qquad
               b = j_i \bmod 2,\ \kappa = \lfloor j_i/2 \rfloor \bmod 2,

    :math:`\gamma_i(j) = e^{-(j - x_i)^2/(2\sigma_{c,i}^2)}`; the sum over :math:`j_i` is
    :math:`\sum_{b,\kappa} T_i(b + 2\kappa)\,\beta_{i+1}(\cdot)/\beta_i(\sigma,\pi) = 1` and the
    product over :math:`i` is :math:`\prod_i\gamma_i / \beta_0(0, 0) = \prod_i\gamma_i/Z_{c,g}`.
    A bit that leaves the code (no edge) has probability 0, as does the wrong parity at the last
    coordinate.  Same interface as :class:`DGaussConditionals` (the glue plays the coset).
    """

    def __init__(self, coder, v, blocks):
        dec = coder.decomposition
        self.n, self.trellis = coder.n, dec.trellis
        order = self.trellis.order
        self.rows = np.arange(len(v))
        d = dec.spacing
        self.sc = (coder.scales[blocks] / d)[:, :, order]                       # (N, C, n) trellis order
        self.x = ((v[None] - dec.shifts[:, None, :]) / d)[:, :, order]          # (G, N, n) trellis order
        x = ((v[None] - dec.shifts[:, None, :]) / d)[:, :, None, :, None]       # (G, N, 1, n, 1)
        sc = (coder.scales[blocks] / d)[None, :, :, :, None]                    # (1, N, C, n, 1)
        r = np.arange(4, dtype=np.float64)
        log_t = _log_theta_1d((x - r) / 4, sc / 4)                              # (G, N, C, n, 4) lattice order
        # n+1 x (G, N, C, |S_i|, 2) scaled sums and (G, N, C, n+1) their log-scales
        self.lin, self.off = _suffix_scaled(self.trellis, log_t)
        self.log_zh = fm.log(self.lin[0][..., 0, 0]) + self.off[..., 0]        # (G, N, C)
        self.log_z = _logsumexp(self.log_zh, 0)                                 # (N, C)
        self.log_w = coder.log_w[blocks]                                        # (N, C)

    def choose_coset(self, h) -> None:
        """Condition on the glue ``h`` (N,): posterior component weights, the trellis's start state."""
        self._condition_on_coset(h)
        self.state = np.zeros(len(self.rows), dtype=np.int64)                   # index in S_i
        self.par = np.zeros(len(self.rows), dtype=np.int64)
        self.depth = 0                                                          # the next trellis depth

    def coordinate_log_pmf(self, i: int, window: int):
        """log p(j_i | g, j_<i) (trellis depth ``i``) of the mixture over ``j = -W .. W``: (N, 2W + 1),
        and the components' conditionals (N, C, 2W + 1) for :meth:`advance`."""
        if i != self.depth:                                                     # internal invariant
            raise AssertionError(f"trellis depth {i} asked, the chain is at depth {self.depth}")
        x = self.x[self.h, self.rows, i]                                        # (N,)
        sc = self.sc[:, :, i]                                                   # (N, C)
        nxt_lin = self.lin[i + 1]                                               # (G, N, C, |S_i+1|, 2)
        succ = self.trellis.succ[i][self.state]                                 # (N, 2) bits; -1: no edge
        nb = np.empty(sc.shape + (4,))                                          # (N, C, residue)
        for r in range(4):
            b, kappa = r & 1, r >> 1
            s = succ[:, b]
            val = nxt_lin[self.h, self.rows, :, np.maximum(s, 0), self.par ^ kappa]   # (N, C)
            nb[:, :, r] = np.where((s >= 0)[:, None], val, 0.0)
        nb = fm.log(nb) + self.off[self.h, self.rows, :, i + 1][:, :, None]     # log beta_{i+1}
        now = fm.log(self.lin[i][self.h, self.rows, :, self.state, self.par]) + self.off[self.h, self.rows, :, i]
        adj = nb - now[:, :, None]                                              # (N, C, 4): residue j mod 4
        return _coordinate_step(x, sc, adj, np.zeros(len(x), dtype=np.int64), self.lw, window)

    def advance(self, k, log_pmf, lc, window: int) -> None:
        """Condition on ``j_i = k`` (N,) given this step's :meth:`coordinate_log_pmf` outputs."""
        k = self._condition_on_symbol(k, log_pmf, lc, window)
        i, self.depth = self.depth, self.depth + 1
        self.state = self.trellis.succ[i][self.state, k % 2]
        self.par = self.par ^ ((k // 2) % 2)


class DGaussCodedPriorCoder(DGaussPriorCoder):
    r"""Codes block symbols exactly under :class:`DGaussPrior` on ``bw16`` / ``leech``: the glue
    (Leech), then the integers :math:`j_i` of :math:`a = d\,j + t_g` in the trellis order
    (:class:`DGaussCodedConditionals`), each with a windowed pmf and the never-coded outside
    symbol; the push/pop loop of :class:`DGaussPriorCoder`."""

    def __init__(self, prior):
        if not isinstance(prior, DiscreteGaussianPrior) or prior.coded is None:
            raise TypeError(f"the coded dgauss coder needs a DiscreteGaussianPrior on bw16 or leech, "
                            f"got {type(prior).__name__} on {getattr(getattr(prior, 'lattice', None), 'name', None)!r}")
        self.decomposition = dec = prior.coded
        self._adopt(prior, len(dec.shifts), True)

    def split(self, symbols):
        """Glue index ``g`` (N,) and integers ``j`` (N, n), trellis order, of the blocks of ``symbols``."""
        dec = self.decomposition

        def member(j):                                  # j mod 2 a codeword, sum of floor(j/2) even
            return (dec.trellis.state_path(j % 2)[:, -1] == 0) & (((j // 2).sum(1) % 2) == 0)

        h, k = self._coset_split(symbols, dec.shifts, dec.spacing, member)
        return h, k[:, dec.trellis.order]

    def join(self, h, k):
        """Inverse of :meth:`split`: integer coefficients (N, n)."""
        dec = self.decomposition
        j = np.empty_like(np.asarray(k, dtype=np.int64))
        j[:, dec.trellis.order] = k
        a = j.astype(np.float64) * dec.spacing + dec.shifts[h]
        return np.rint(a @ self.basis_inv).astype(np.int64)

    def conditionals(self, v, first_block: int = 0) -> DGaussCodedConditionals:
        """The conditional chain of the block rows ``v`` (N, n); row ``r`` is block ``(first_block + r) % R``."""
        return DGaussCodedConditionals(self, v, (first_block + np.arange(len(v))) % self.R)

    def _row_floats(self) -> int:
        """float64 entries per block row: the windowed tables and the backward trellis sums."""
        states = sum(self.decomposition.trellis.profile)
        return self.C * (2 * self.params["window"] + 2) + self.H * self.C * states * 2
