r"""The paper's prior (Sec. 3.4) with the escape component: ``--latent-option prior=paper`` (default).

:class:`PaperPrior` is :class:`theory.lattice_prior.LatticePrior` (``escape=True``, one parameter
set per block: the math, its eager reference and its fused kernel,
:mod:`theory.lattice_prior_fused`) as a :class:`vae.priors.Prior`: its options
(:class:`PaperOptions`: ``max_norm`` K, ``threshold_t`` t, ``u_hidden``), the defaults per base
lattice (:data:`DEFAULTS`), how a run saved under an earlier default loads, and its coder.

**The coder** (:class:`PaperPriorCoder`) codes each block's point as a hierarchy whose
probabilities multiply to the prior's: the mixture component (truncated prior or escape), then
for the truncated prior one symbol among the head points (norm < t; flag times the
U-dependent softmax) and the norm shells (1 - flag times softmax(Psi)), then the rank within
the shell, uniform over its :math:`\theta_k` points (:mod:`lattices.shells`); for the escape
component the integer coefficients, two-sided geometric over :math:`|c| \le W` (the window, the
file's largest :math:`|c|`, in the header).  A point inside the support has both components; the
encoder chooses one by *bits-back* coding (Frey & Hinton 1997; Townsend et al. 2019): it decodes
the component from the stack with the posterior :math:`P(\text{component}|a, u)` and the decoder
re-encodes it, so the net cost is :math:`-\log_2 p(a|u)` of the mixture, not of one component.
The U-dependent tables are those of the prior
(:meth:`~theory.lattice_prior.LatticePrior.part_log_probs`,
:meth:`~theory.lattice_prior.LatticePrior.escape_log_params`), recomputed by the coder from the
prior's weights (float64, exact copies of the checkpoint's floats) with deterministic
arithmetic only (:mod:`vae.fixed_math`): the MLP :math:`u \to` logits is a compiled fixed-order
loop of float64 multiply-adds (no BLAS, no FMA; :func:`_head_table`), ``tanh``, ``logsigmoid``,
``logsoftmax`` and ``exp`` are :mod:`vae.fixed_math`'s, and the frequencies come from
:func:`vae.entropy_coding.quantize_pmf` (the head/shell symbol, whose probabilities the kernel
writes directly) and :func:`vae.entropy_coding.quantize_log_pmf` (component, bits-back
posterior, escape coefficients).  So the encoder and the decoder get identical
integers on any IEEE-754 machine and thread count (the *integer model*); its log-probabilities
differ from the float model's by round-off (~1e-15), its code length from the float model's (10)
by far less than 0.1 % (``validation.bitstream`` reports both).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import math

import numba

from lattices.shells import shell_ranker
from theory.lattice_prior import LatticePrior
from vae import fixed_math as fm
from vae.entropy_coding import (coded_bits, pop, pop_uniform, push, push_uniform, quantize_log_pmf,
                                quantize_pmf, symbol_window, uniform_bits)

from .base import Prior, PriorCoder, PriorContext  # noqa: F401  (PriorContext: the doctest)

__all__ = ["PaperPrior", "PaperOptions", "PaperPriorCoder", "DEFAULTS"]

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
#: default keep their K (:meth:`PaperPrior.options_for_state` reads it from the checkpoint).
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
DEFAULTS = {"z2": (64, 9), "a2": (64, 7), "e8": (64, 3), "d4": (64, 3), "e6": (64, 3),
            "e7": (64, 3), "bw16": (256, 1), "leech": (256, 1)}

#: The largest ``max_norm`` K, as a multiple of the lattice's default K (256 without a default).
#: The defaults already cover the 99.9th percentile of trained models (above), the escape
#: component codes anything farther, and the theta series that fixes the classes grows fast
#: with K (E8: 0.8 s at 64, 4.8 s at 128, 52 s at 256 on the development machine); a larger K
#: is refused before it is computed (``max_norm=1e8`` hung).
MAX_NORM_FACTOR = 2


def _non_negative_int_or_none(value, name):
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0):
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


@dataclass(frozen=True)
class PaperOptions:
    """Options of the paper's prior (flat ``latent_options`` keys).

    max_norm : int or None
        ``K``: support of the Sec. 3.4 part (de-scaled squared norm); ``None``: :data:`DEFAULTS`.
    threshold_t : int or None
        ``t``: points of norm < t get the U-dependent pmf; ``None``: :data:`DEFAULTS`.
    u_hidden : int
        Width of the prior's MLP ``u -> logits`` per block.
    """

    max_norm: int | None = None
    threshold_t: int | None = None
    u_hidden: int = 32

    def __post_init__(self):
        _non_negative_int_or_none(self.max_norm, "max_norm")
        _non_negative_int_or_none(self.threshold_t, "threshold_t")
        if isinstance(self.u_hidden, bool) or not isinstance(self.u_hidden, (int, np.integer)) or self.u_hidden < 1:
            raise ValueError(f"u_hidden must be a positive int, got {self.u_hidden!r}")


#: The state entry that fixes the support: one class index per norm 0..K.
_SUPPORT_KEY = "_class_of_norm"


class PaperPrior(LatticePrior, Prior):
    r"""The prior of Sec. 3.4 with the escape component, ``R`` blocks (module notes).

    Examples
    --------
    >>> import lattices
    >>> p = PaperPrior.from_options(lattices.get("e8"), 2, PaperOptions(), PriorContext())
    >>> p.describe(), p.n_head                      # the origin and the 240 roots of E8
    ('paper K=64 t=3', 241)
    """

    family = "paper"
    Options = PaperOptions

    @classmethod
    def from_options(cls, lattice, n_blocks, options, context):
        key = str(lattice.name).lower()
        K, t = options.max_norm, options.threshold_t
        if K is None or t is None:
            if key not in DEFAULTS:
                raise ValueError(f"lattice {lattice.name!r} has no default max_norm/threshold_t "
                                 f"(defaults exist for {', '.join(DEFAULTS)}): pass both")
            K = DEFAULTS[key][0] if K is None else K
            t = DEFAULTS[key][1] if t is None else t
        limit = MAX_NORM_FACTOR * DEFAULTS[key][0] if key in DEFAULTS else 256
        if K > limit:
            raise ValueError(f"max_norm {K} is too large for {lattice.name}: at most {limit} (twice the "
                             f"default; farther points are coded by the escape component)")
        return cls(lattice, int(K), int(t), u_hidden=int(options.u_hidden), dtype=context.dtype,
                   n_blocks=int(n_blocks), escape=True)

    @classmethod
    def options_for_state(cls, options, state):
        if _SUPPORT_KEY in state and options.get("max_norm") is None:
            return {**options, "max_norm": int(state[_SUPPORT_KEY].shape[0]) - 1}
        return options

    @classmethod
    def recognizes_state(cls, state):
        return _SUPPORT_KEY in state

    def coder(self):
        return PaperPriorCoder(self)

    def untrained(self, seed=0):
        torch.manual_seed(seed)
        u_hidden = self.w1.shape[-1] if self.has_mlp else 32
        return type(self)(self.lattice, self.max_norm, self.threshold_t, u_hidden=u_hidden,
                          dtype=self.psi.dtype, n_blocks=self.n_blocks, escape=self.escape)

    def describe(self):
        return f"paper K={self.max_norm} t={self.threshold_t}"

    def support_max_norm(self):
        return None if self.escape else self.max_norm

    def norm_shells(self):
        return self.max_norm, self.threshold_t

    def extra_repr(self):
        return f"lattice={self.lattice.name!r}, blocks={self.n_blocks}, K={self.max_norm}, t={self.threshold_t}"


_RANKERS: dict = {}


def _shell_ranker(lattice, K: int):
    """The shell ranker of ``lattice`` up to ``K``: it depends on the lattice alone, built once per process."""
    key = (lattice.name, np.asarray(lattice.basis, dtype=np.float64).tobytes(), int(K))
    if key not in _RANKERS:
        _RANKERS[key] = shell_ranker(lattice, K)
    return _RANKERS[key]


class _RowIndex:
    """Position of integer rows in a fixed table of distinct rows (mixed-radix keys, sorted)."""

    def __init__(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        self.off = int(np.abs(rows).max()) + 1 if rows.size else 1
        self.radix = (2 * self.off + 1) ** np.arange(rows.shape[1] if rows.ndim == 2 else 0, dtype=np.int64)
        keys = self._keys(rows) if rows.size else np.zeros(0, dtype=np.int64)
        self.order = np.argsort(keys)
        self.sorted = keys[self.order]

    def _keys(self, rows):
        return ((np.clip(rows, -self.off, self.off) + self.off) * self.radix).sum(1)

    def index(self, rows):
        """Table positions of ``rows`` (each must be in the table)."""
        keys = self._keys(np.asarray(rows, dtype=np.int64))
        pos = np.minimum(np.searchsorted(self.sorted, keys), len(self.sorted) - 1)
        if np.any(self.sorted[pos] != keys):                                  # internal invariant
            raise AssertionError("a row is not in the table")
        return self.order[pos]


_LATTICE_TABLES: dict = {}


def _lattice_tables(lattice, K: int, t: int):
    """The shell ranker up to ``K`` and the head points (norm < ``t``, in the prior's order) of a
    lattice: they depend on the lattice alone, so they are built once per process."""
    from theory.lattice_prior import enumerate_points

    key = (lattice.name, np.asarray(lattice.basis, dtype=np.float64).tobytes(), int(K), int(t))
    if key not in _LATTICE_TABLES:
        n_enum = min(K, t - 1)
        coords, _, norms = enumerate_points(lattice, max(n_enum, 0))
        head = coords[norms < t] if n_enum >= 0 else np.zeros((0, lattice.dim), np.int64)
        _LATTICE_TABLES[key] = (shell_ranker(lattice, K), head)
    return _LATTICE_TABLES[key]



@numba.njit(cache=True, nogil=True)
def _head_table(x, blk, w1, b1, w2, b2, wf, bf, has_flag, psi_lsm, psi_p, out, prob):  # pragma: no cover
    r"""Rows of the truncated part's log-pmf ``out`` and pmf ``prob``, (N, H + C): for row ``r`` of
    block ``b = blk[r]``, :math:`h = \tanh(b_1 + x W_1)`, logits :math:`g = b_2 + h W_2`, flag
    :math:`f = b_f + h w_f`; ``out[r, :H] = logsigmoid(f) + logsoftmax(g)``,
    ``out[r, H:] = logsigmoid(-f) + psi_lsm[b]``
    (:meth:`theory.lattice_prior.LatticePrior.part_log_probs`), ``prob`` the same as
    probabilities (``psi_p = exp(psi_lsm)``).  Every sum runs in a fixed order (the matmuls as
    loops over the input index with the output index innermost, which LLVM vectorizes without
    changing any element's order of operations; :mod:`vae.fixed_math`): the same bits on every
    IEEE-754 machine."""
    N, m = x.shape
    hid = w1.shape[2]
    H = w2.shape[2]
    C = psi_lsm.shape[1]
    h = np.empty(hid)
    g = np.empty(H)
    e = np.empty(H)
    for r in range(N):
        b = blk[r]
        w1b = w1[b]
        for k in range(hid):
            h[k] = b1[b, k]
        for i in range(m):
            xi = x[r, i]
            w1i = w1b[i]
            for k in range(hid):
                h[k] = h[k] + xi * w1i[k]
        for k in range(hid):
            h[k] = fm._tanh(h[k])
        w2b = w2[b]
        b2b = b2[b]
        for j in range(H):
            g[j] = b2b[j]
        for k in range(hid):
            hk = h[k]
            wk = w2b[k]
            for j in range(H):
                g[j] = g[j] + hk * wk[j]
        lf_head = 0.0
        lf_tail = 0.0
        if has_flag:
            f = bf[b]
            for k in range(hid):
                f = f + h[k] * wf[b, k]
            lf_head = fm._log_sigmoid(f)
            lf_tail = fm._log_sigmoid(-f)
        mx = -np.inf
        for j in range(H):
            mx = max(mx, g[j])
        for j in range(H):
            e[j] = fm._exp(g[j] - mx)
        s = 0.0
        for j in range(H):                                  # left to right
            s += e[j]
        lse = mx + fm._log(s)
        head_scale = fm._exp(lf_head) / s if H > 0 else 0.0
        tail_scale = fm._exp(lf_tail)
        o = out[r]
        q = prob[r]
        for j in range(H):
            o[j] = lf_head + (g[j] - lse)
            q[j] = e[j] * head_scale
        pl = psi_lsm[b]
        pp = psi_p[b]
        for c in range(C):
            o[H + c] = lf_tail + pl[c]
            q[H + c] = tail_scale * pp[c]


class PaperPriorCoder(PriorCoder):
    r"""Codes block symbols exactly under :class:`PaperPrior` (module notes)."""

    def __init__(self, prior):
        super().__init__(prior)
        self.K, self.t = prior.max_norm, prior.threshold_t
        self.ranker = _shell_ranker(prior.lattice, self.K)
        self.head_coords = prior.head_coords                                   # (H, n), the prior's order
        self.H = len(self.head_coords)
        self.theta = self.ranker.count(np.arange(self.K + 1))
        # Psi's classes: one logit per norm k in [t, K] with theta_k > 0, in increasing k (the
        # prior's documented rule, Sec. 3.4)
        self.class_norms = np.array([k for k in range(self.t, self.K + 1) if self.theta[k] > 0], dtype=np.int64)
        self.C = len(self.class_norms)
        if self.C != prior.n_classes:                                          # internal invariant
            raise AssertionError("norm classes disagree with the prior")
        self.class_of_norm = np.full(self.K + 1, -1, dtype=np.int64)
        self.class_of_norm[self.class_norms] = np.arange(self.C)
        self._head_lookup = _RowIndex(self.head_coords)
        self.gram = np.asarray(prior.lattice.gram, dtype=np.float64) / prior.unit
        self._adopt_weights(prior)

    def _adopt_weights(self, prior):
        """The prior's parameters as float64 numpy arrays (exact copies of the checkpoint's floats)
        and the U-independent tables, computed once with :mod:`vae.fixed_math`."""
        f64 = lambda t: np.ascontiguousarray(t.detach().cpu().double().numpy())   # noqa: E731
        R = self.R
        self.psi_lsm = fm.log_softmax_last(f64(prior.psi)) if self.C else np.zeros((R, 0))     # (R, C)
        self.psi_p = fm.exp(self.psi_lsm)
        if prior.has_mlp:
            self.w1, self.b1 = f64(prior.w1), f64(prior.b1).reshape(R, -1)                  # (R, m, h), (R, h)
            self.w2, self.b2 = f64(prior.w2), f64(prior.b2).reshape(R, -1)                  # (R, h, H), (R, H)
        else:
            self.w1, self.b1 = np.zeros((R, self.n, 1)), np.zeros((R, 1))
            self.w2, self.b2 = np.zeros((R, 1, 0)), np.zeros((R, 0))
        self.has_flag = bool(prior.has_flag)
        self.wf = f64(prior.w_flag) if self.has_flag else np.zeros((R, self.w1.shape[2]))
        self.bf = f64(prior.b_flag).reshape(R) if self.has_flag else np.zeros(R)
        self.inv_sqrt_unit = 1.0 / math.sqrt(prior.unit)                                    # IEEE sqrt and /
        e, r = f64(prior.escape_logit).reshape(R), f64(prior.ratio_logit).reshape(R)
        self.log_eps, self.log_1m_eps = fm.log_sigmoid(e), fm.log_sigmoid(-e)                 # (R,)
        self.log_rho = fm.log_sigmoid(r)
        self.log_geo = fm.log_sigmoid(-r) - fm.log1p(fm.exp(self.log_rho))                  # log (1-rho)/(1+rho)
        self.log_theta = fm.log(np.array([float(t) for t in self.theta]))                    # (K+1,), -inf at 0
        # the component's frequencies, per block (R, 2): 0 truncated part, 1 escape
        self.comp_freqs = quantize_log_pmf(np.stack([self.log_1m_eps, self.log_eps], 1))

    # -------------------------------------------------------------- the prior's tables
    def _tables(self, dither):
        """Per block row (N = n R rows, block-major per image): the log-pmf of the truncated
        part's symbol (N, H + C), deterministic (:func:`_head_table`), and log eps, log (1 - eps),
        log rho, log (1-rho)/(1+rho) of the row's block (N,) each."""
        return self._tables_and_probs(dither)[0]

    def _tables_and_probs(self, dither):
        """:meth:`_tables` and the truncated part's pmf (N, H + C) as probabilities (what is quantized)."""
        n_img = dither.shape[0]
        blk = np.tile(np.arange(self.R), n_img)
        v = np.asarray(dither, dtype=np.float64).reshape(n_img * self.R, self.n)
        x = np.ascontiguousarray(v * self.inv_sqrt_unit)
        cat = np.empty((len(x), self.H + self.C))
        probs = np.empty((len(x), self.H + self.C))                       # the same table as probabilities
        _head_table(x, blk, self.w1, self.b1, self.w2, self.b2, self.wf, self.bf, self.has_flag,
                    self.psi_lsm, self.psi_p, cat, probs)
        return (cat, self.log_eps[blk], self.log_1m_eps[blk], self.log_rho[blk], self.log_geo[blk]), probs

    def _norms(self, c):
        return np.rint(np.einsum("ni,ij,nj->n", c, self.gram, c)).astype(np.int64)

    def _trunc_symbol(self, c, norms):
        """Symbol of the truncated part (head index or H + class) and the shell rank, for in-support rows."""
        sym = np.full(len(c), -1, dtype=np.int64)
        rank = np.zeros(len(c), dtype=self.theta.dtype)                  # object: BW16/Leech shells > 2^63
        head = norms < self.t
        if np.any(head):
            sym[head] = self._head_lookup.index(c[head])
        tail = ~head
        if np.any(tail):
            sym[tail] = self.H + self.class_of_norm[norms[tail]]
            rank[tail] = self.ranker.rank(c[tail])[1]
        return sym, rank

    def _component_logits(self, c, norms, sym, tabs):
        """log of (1-eps) p_trunc(a) and eps p_esc(a) per row (in-support rows; ``tabs`` of
        :meth:`_tables` for these rows), deterministic."""
        cat, log_eps, log_1m_eps, log_rho, log_geo = tabs
        rows = np.arange(len(c))
        lt = log_1m_eps + cat[rows, sym] - np.where(sym >= self.H, self.log_theta[norms], 0.0)
        le = log_eps + self.n * log_geo + log_rho * np.abs(c).sum(1)
        return lt, le

    def _esc_freqs(self, w):
        """Frequencies (R, 2W + 2) of one escape coefficient per block: two-sided geometric over
        ``|c| <= w`` and the outside mass."""
        grid = np.abs(np.arange(-w, w + 1)).astype(np.float64)
        return quantize_log_pmf(self.log_geo[:, None] + self.log_rho[:, None] * grid[None, :], outside=True)

    # -------------------------------------------------------------- coding
    def file_params(self, symbols):
        return {"escape_window": symbol_window(symbols)}

    def push(self, coder, symbols, dither):
        n_img = len(symbols)
        c = symbols.reshape(-1, self.n)                                          # (N, nb) block-major per image
        N = len(c)
        tabs, probs = self._tables_and_probs(dither)
        blk = np.tile(np.arange(self.R), n_img)
        norms = self._norms(c)
        inside = norms <= self.K
        bits = np.zeros(N)
        sym = np.full(N, -1, dtype=np.int64)
        rank = np.zeros(N, dtype=self.theta.dtype)
        sym[inside], rank[inside] = self._trunc_symbol(c[inside], norms[inside])
        # 5': bits back, the component of in-support points drawn from the posterior
        comp = np.ones(N, dtype=np.int64)                                       # 1: escape
        lt, le = self._component_logits(c[inside], norms[inside], sym[inside], tuple(a[inside] for a in tabs))
        post = quantize_log_pmf(np.stack([lt, le], 1))
        comp[inside] = pop(coder, post)
        bits[inside] -= coded_bits(post, comp[inside])
        # 4': escape coefficients and their window
        esc = comp == 1
        if np.any(esc):
            w = self.params["escape_window"]
            freqs = np.repeat(self._esc_freqs(w)[blk[esc]], self.n, axis=0)
            flat = (c[esc] + w).reshape(-1)
            push(coder, flat, freqs)
            bits[esc] += coded_bits(freqs, flat).reshape(-1, self.n).sum(1)
        # 3': ranks within the shells
        trunc = comp == 0
        shell = trunc & (sym >= self.H)
        sizes = self.theta[norms[shell]]
        push_uniform(coder, rank[shell], sizes)
        bits[shell] += uniform_bits(sizes)
        # 2': the truncated part's symbol
        freqs = quantize_pmf(probs if trunc.all() else probs[trunc])
        push(coder, sym[trunc], freqs)
        bits[trunc] += coded_bits(freqs, sym[trunc])
        # 1': the component
        cfreq = self.comp_freqs[blk]
        push(coder, comp, cfreq)
        bits += coded_bits(cfreq, comp)
        return bits.reshape(n_img, self.R).sum(1)

    def pop(self, coder, n_img, dither):
        tabs, probs = self._tables_and_probs(dither)
        blk = np.tile(np.arange(self.R), n_img)
        N = n_img * self.R
        comp = pop(coder, self.comp_freqs[blk])                                              # 1
        trunc = comp == 0
        sym = np.full(N, -1, dtype=np.int64)
        sym[trunc] = pop(coder, quantize_pmf(probs if trunc.all() else probs[trunc]))  # 2
        c = np.zeros((N, self.n), dtype=np.int64)
        head = trunc & (sym < self.H)
        c[head] = self.head_coords[sym[head]]
        shell = trunc & (sym >= self.H)
        norms_shell = self.class_norms[sym[shell] - self.H]
        ranks = pop_uniform(coder, self.theta[norms_shell])                                   # 3
        c[shell] = self.ranker.unrank(norms_shell, ranks)
        esc = comp == 1
        if np.any(esc):                                                                       # 4
            w = self.params["escape_window"]
            freqs = np.repeat(self._esc_freqs(w)[blk[esc]], self.n, axis=0)
            c[esc] = (pop(coder, freqs) - w).reshape(-1, self.n)
        norms = self._norms(c)                                                                # 5: bits back
        inside = norms <= self.K
        s_in, _ = self._trunc_symbol(c[inside], norms[inside])
        lt, le = self._component_logits(c[inside], norms[inside], s_in, tuple(a[inside] for a in tabs))
        post = quantize_log_pmf(np.stack([lt, le], 1))
        push(coder, comp[inside], post)
        return c.reshape(n_img, self.R * self.n)
