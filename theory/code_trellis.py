r"""The syndrome (Wolf) trellis of a binary linear code, with a parity bit: exact sums over
codewords of products of per-coordinate weights, in log space, without cancellation.

For a binary linear code :math:`C \subseteq \mathbb F_2^n` with parity-check matrix
:math:`H` (columns :math:`h_i`), the *syndrome trellis* (Wolf 1978; Forney 1988, "Coset
codes II", Sec. IV) has at depth :math:`i` the states :math:`\sigma_i = \sum_{j<i} c_j h_j`
(the partial syndromes) and from :math:`\sigma` the edge with bit :math:`b` to
:math:`\sigma + b\,h_i`.  A word is a codeword iff its path ends in :math:`\sigma_n = 0`.
Pruning every state that no codeword passes (kept: the partial syndromes of codeword
prefixes) leaves each codeword exactly one path, and every path of the pruned trellis is a
codeword; for a given coordinate order the result is the minimal trellis (McEliece, IEEE
IT-42 (1996), Thm. 4.1), with :math:`|S_i| = 2^{k - \dim C_{<i} - \dim C_{\ge i}}`
(:math:`C_{<i}`, :math:`C_{\ge i}`: the subcodes supported on the first :math:`i`, the last
:math:`n - i` coordinates).

The sums this module computes add one more bit per coordinate, :math:`\kappa_i \in \{0, 1\}`,
with an even total :math:`\sum_i\kappa_i \equiv 0`: given log-weights
:math:`\ell_i(b, \kappa)`, indexed by the *residue* :math:`r = b + 2\kappa \in \{0,1,2,3\}`,

.. math::

   \log \sum_{c\in C}\ \sum_{\kappa \in \{0,1\}^n,\ \sum\kappa \equiv 0}\ \prod_i e^{\ell_i(c_i, \kappa_i)},

by the forward recursion over the states :math:`(\sigma, \pi)`, :math:`\pi` the parity of
:math:`\kappa_1 + \dots + \kappa_{i}` (:meth:`CodeTrellis.log_sum`; the backward sums of the
same recursion: :meth:`CodeTrellis.log_suffix`).  Every term is positive (a log-sum-exp of
at most four terms per state and step): no cancellation at any scale.  The discrete
Gaussian prior on BW16 and the Leech lattice (:mod:`theory.discrete_gaussian_prior`) uses it
with :math:`e^{\ell_i(b,\kappa)}` the 1-D theta sums over the integers :math:`j \equiv b +
2\kappa \pmod 4` (SPLAG ch. 4, §§10, 11: Construction B, :math:`x \bmod 2 \in C`, :math:`\sum
(x - c)/2` even).

State counts of the pruned trellis in the codes' natural coordinate order
(:func:`lattices.codes.rm14_code`, :func:`lattices.codes.golay_code`, MOG order), measured:

* RM(1,4): ``1 2 4 8 8 16 16 16 8 16 16 16 8 8 4 2 1`` (max 16, 150 states in all);
* Golay G24: ``1 2 4 8 16 32 64 128 64 128 256 512 256 512 256 128 64 128 64 32 16 8 4 2 1``
  (max 512, 2686 in all; the minimal trellis over all orders has max 256, Forney 1988; a
  search over swaps of coordinates from the MOG order found no better order).

References
----------
J. K. Wolf, "Efficient maximum likelihood decoding of linear block codes using a trellis",
IEEE Trans. IT-24 (1978), 76-80.
G. D. Forney, Jr., "Coset codes -- Part II: Binary lattices and related codes", IEEE Trans.
IT-34 (1988), 1152-1187.
R. J. McEliece, "On the BCJR trellis for linear block codes", IEEE Trans. IT-42 (1996), 1072-1092.

Examples
--------
The even-weight code of length 3 with all weights 1: 4 codewords times 4 even
:math:`\kappa` patterns.

>>> import numpy as np, torch
>>> t = CodeTrellis(np.array([[0, 0, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1]]))
>>> t.profile
(1, 2, 2, 1)
>>> round(float(t.log_sum(torch.zeros(3, 4, dtype=torch.float64)).exp()), 9)
16.0
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["CodeTrellis", "parity_check_matrix"]


def parity_check_matrix(codewords) -> np.ndarray:
    r"""A parity-check matrix :math:`H` ((n - k), n) uint8 of the binary linear code spanned by ``codewords``.

    Gaussian elimination over GF(2) to the reduced form :math:`[I_k\ A]` up to a column
    permutation; :math:`H = [A^T\ I_{n-k}]` on the same columns.
    """
    G = (np.asarray(codewords, dtype=np.int64) % 2).copy()
    n = G.shape[1]
    pivots, row = [], 0
    for col in range(n):
        hit = np.nonzero(G[row:, col])[0]
        if hit.size == 0:
            continue
        p = row + hit[0]
        G[[row, p]] = G[[p, row]]
        for r in range(len(G)):
            if r != row and G[r, col]:
                G[r] ^= G[row]
        pivots.append(col)
        row += 1
        if row == len(G):
            break
    G = G[:row]
    free = [c for c in range(n) if c not in pivots]
    H = np.zeros((len(free), n), dtype=np.uint8)
    for t, f in enumerate(free):
        H[t, f] = 1
        H[t, pivots] = G[:, f]          # x_pivot(r) = sum_f G[r, f] x_f for every codeword
    if np.any((np.asarray(codewords, dtype=np.int64) @ H.T.astype(np.int64)) % 2):  # internal invariant
        raise AssertionError("parity-check matrix does not annihilate the code")
    return H


class CodeTrellis:
    r"""The pruned syndrome trellis of a binary linear code, with the even-:math:`\kappa` bit (module notes).

    Parameters
    ----------
    codewords : array_like (M, n) of 0/1
        The code's words (all of them: the pruning keeps the partial syndromes of their prefixes),
        in the lattice's coordinate order.
    order : array_like (n,) of int, optional
        The order in which the trellis visits the coordinates (default: ``0 .. n-1``).  The
        weights given to :meth:`log_sum` and :meth:`log_suffix` are in the lattice's
        coordinate order; depth ``i`` of the trellis is coordinate ``order[i]``.

    Attributes
    ----------
    n : int
    order : ndarray (n,) int64
    profile : tuple of int
        ``|S_0|, ..., |S_n|`` (``|S_0| = |S_n| = 1``: the zero syndrome).
    pred : list of ndarray
        ``pred[i]`` (|S_{i+1}|, 2) int64: the index in :math:`S_i` of the state that reaches
        state ``t`` of :math:`S_{i+1}` with bit ``b``, or ``|S_i|`` (a padding index) if none.
    succ : list of ndarray
        ``succ[i]`` (|S_i|, 2) int64: the index in :math:`S_{i+1}` reached from state ``s`` with
        bit ``b``, or -1 if that edge lies on no codeword.
    """

    def __init__(self, codewords, order=None):
        words = np.asarray(codewords, dtype=np.int64) % 2
        if words.ndim != 2:
            raise ValueError(f"codewords must be a (M, n) 0/1 array, got shape {words.shape}")
        n = words.shape[1]
        self.n = n
        self.order = np.arange(n, dtype=np.int64) if order is None else np.asarray(order, dtype=np.int64)
        if sorted(self.order.tolist()) != list(range(n)):
            raise ValueError(f"order must be a permutation of 0..{n - 1}, got {order!r}")
        words = np.unique(words, axis=0)
        self.size = len(words)
        H = parity_check_matrix(words)[:, self.order].astype(np.int64)          # (n-k, n), trellis order
        w = words[:, self.order]                                                  # (M, n)
        # partial syndromes of every codeword prefix, as integers: bit t = row t of H
        cols = (H * (1 << np.arange(len(H), dtype=np.int64))[:, None]).sum(0)     # (n,) h_i as ints
        syn = np.zeros((len(w), n + 1), dtype=np.int64)
        for i in range(n):
            syn[:, i + 1] = syn[:, i] ^ (w[:, i] * cols[i])
        if np.any(syn[:, n]):                                                     # internal invariant
            raise AssertionError("a codeword has a nonzero syndrome")
        states = [np.unique(syn[:, i]) for i in range(n + 1)]                     # sorted, pruned
        self.profile = tuple(len(s) for s in states)
        self.pred, self.succ = [], []
        for i in range(n):
            a = np.searchsorted(states[i], syn[:, i])
            b = np.searchsorted(states[i + 1], syn[:, i + 1])
            pred = np.full((len(states[i + 1]), 2), len(states[i]), dtype=np.int64)
            succ = np.full((len(states[i]), 2), -1, dtype=np.int64)
            pred[b, w[:, i]] = a
            succ[a, w[:, i]] = b
            self.pred.append(pred)
            self.succ.append(succ)
        self._pred_t = {torch.device("cpu"): [torch.from_numpy(p) for p in self.pred]}   # per device

    def __repr__(self):
        return f"CodeTrellis(n={self.n}, codewords={self.size}, max states={max(self.profile)})"

    def state_path(self, bits) -> np.ndarray:
        """State indices (N, n + 1) of the paths of the words ``bits`` (N, n) (lattice order); -1 off the code."""
        bits = np.asarray(bits, dtype=np.int64)[:, self.order] % 2
        out = np.zeros((len(bits), self.n + 1), dtype=np.int64)
        for i in range(self.n):
            prev = out[:, i]
            nxt = np.where(prev >= 0, self.succ[i][np.maximum(prev, 0), bits[:, i]], -1)
            out[:, i + 1] = nxt
        return out

    def log_sum(self, log_w: torch.Tensor) -> torch.Tensor:
        r"""The log of the sum over codewords and even :math:`\kappa` (module notes), differentiable.

        The log-space reference; :func:`theory.code_trellis_fused.log_sum_glued` computes the same
        sums (added over glue rows) in linear space, some 20 times faster with its gradient.

        Parameters
        ----------
        log_w : Tensor (..., n, 4)
            :math:`\ell_i(r)` for residue ``r = b + 2 kappa``, coordinate ``i`` in the lattice order.

        Returns
        -------
        Tensor (...)
        """
        lead = log_w.shape[:-2]
        w = log_w[..., self.order, :]                                         # trellis order
        ninf = torch.full((), -torch.inf, dtype=log_w.dtype, device=log_w.device)
        alpha = torch.stack([torch.zeros((), dtype=log_w.dtype, device=log_w.device), ninf])
        alpha = alpha.expand(*lead, 1, 2)                                     # (..., |S_0|=1, parity)
        if log_w.device not in self._pred_t:
            self._pred_t[log_w.device] = [p.to(log_w.device) for p in self._pred_t[torch.device("cpu")]]
        preds = self._pred_t[log_w.device]
        for i in range(self.n):
            pad = torch.cat([alpha, ninf.expand(*lead, 1, 2)], -2)            # (..., |S_i| + 1, 2)
            pred = preds[i]
            a0 = pad.index_select(-2, pred[:, 0])                             # (..., |S_i+1|, 2) bit 0
            a1 = pad.index_select(-2, pred[:, 1])                             # bit 1
            wi = w[..., i, None, :]                                           # (..., 1, 4)
            w0e, w1e, w0o, w1o = wi[..., 0], wi[..., 1], wi[..., 2], wi[..., 3]
            even = torch.logsumexp(torch.stack([a0[..., 0] + w0e, a0[..., 1] + w0o,
                                                a1[..., 0] + w1e, a1[..., 1] + w1o]), 0)
            odd = torch.logsumexp(torch.stack([a0[..., 1] + w0e, a0[..., 0] + w0o,
                                               a1[..., 1] + w1e, a1[..., 0] + w1o]), 0)
            alpha = torch.stack([even, odd], -1)                              # (..., |S_i+1|, 2)
        return alpha[..., 0, 0]

    def log_suffix(self, log_w: np.ndarray) -> list:
        r"""The backward (suffix) sums :math:`\beta_i(\sigma, \pi)`, float64 numpy, for ``i = 0 .. n``.

        :math:`\beta_i(\sigma, \pi)` is the log of the sum over the paths from state :math:`\sigma`
        at depth ``i`` to the zero state at depth ``n`` of the products of the weights of depths
        ``i .. n-1``, with :math:`\kappa_{i} + \dots + \kappa_{n-1} \equiv \pi`;
        :math:`\beta_n = (0, -\infty)` and :math:`\beta_0(0, 0)` = :meth:`log_sum`.

        Parameters
        ----------
        log_w : ndarray (..., n, 4)
            As :meth:`log_sum` (lattice coordinate order).

        Returns
        -------
        list of ``n + 1`` ndarrays (..., |S_i|, 2), depth ``i`` of the trellis.
        """
        w = np.asarray(log_w, dtype=np.float64)[..., self.order, :]
        lead = w.shape[:-2]
        beta = [None] * (self.n + 1)
        last = np.full(lead + (1, 2), -np.inf)
        last[..., 0, 0] = 0.0
        beta[self.n] = last
        for i in range(self.n - 1, -1, -1):
            nxt = np.concatenate([beta[i + 1], np.full(lead + (1, 2), -np.inf)], -2)   # pad: index -1
            b0 = nxt[..., self.succ[i][:, 0], :]                                 # (..., |S_i|, 2)
            b1 = nxt[..., self.succ[i][:, 1], :]
            wi = w[..., i, None, :]
            terms_e = np.stack([b0[..., 0] + wi[..., 0], b0[..., 1] + wi[..., 2],
                                b1[..., 0] + wi[..., 1], b1[..., 1] + wi[..., 3]])
            terms_o = np.stack([b0[..., 1] + wi[..., 0], b0[..., 0] + wi[..., 2],
                                b1[..., 1] + wi[..., 1], b1[..., 0] + wi[..., 3]])
            beta[i] = np.stack([_logsumexp0(terms_e), _logsumexp0(terms_o)], -1)
        return beta


def _logsumexp0(a):
    """log(sum(exp(a), 0)); -inf where every entry is -inf (no warning)."""
    m = a.max(0)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - m).sum(0)) + m
