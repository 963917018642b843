r"""Rank and unrank within the norm shells of BW16 and the Leech lattice (enumerative coding over their codes).

Both lattices are unions of cosets of :math:`2\mathbb Z^n`-like sets indexed by the words of a
binary code, after an integer scaling :math:`y = \sqrt{D}\,x \in \mathbb Z^n`:

* BW16 (SPLAG ch. 4 Sec. 10, ch. 5 Sec. 2.8), :math:`D = 2`:
  :math:`\sqrt2\,\Lambda_{16} = \{y \in \mathbb Z^{16} : y \bmod 2 \in RM(1,4),\ \sum y \equiv 0 \pmod 4\}`;
* Leech (SPLAG ch. 4 Sec. 11), :math:`D = 8`: :math:`\sqrt8\,\Lambda_{24} = 2H_{24} \cup (2H_{24} + a)`
  with :math:`H_{24} = \{h : h \bmod 2 \in G_{24},\ \sum h \equiv 0 \pmod 4\}`, :math:`a = (-3, 1^{23})`;
  i.e. the even part :math:`y_i \equiv 2c_i \pmod 4`, :math:`\sum y \equiv 0 \pmod 8`, and the odd
  part :math:`y_i \equiv 1 + 2c_i \pmod 4`, :math:`\sum y \equiv 4 \pmod 8`, for a Golay word :math:`c`.

So every point lies in exactly one *piece* (a residue pair ``r0, r1`` mod ``M`` and a sum
condition mod ``Q``) and, within it, one codeword :math:`c` (bit :math:`c_i = 1` iff
:math:`y_i \equiv r_1`).  The rank of :math:`y` in its shell :math:`\|y\|^2 = Dk` is

.. math::  \mathrm{rank}(y) = \sum_{\text{earlier pieces}} N_P(k)
     + \sum_{c' < c} N_{P,\mathrm{wt}(c')}(k) + \mathrm{lex}(y \mid c),

where :math:`N_{P,w}(k)` counts the points of one coset whose codeword has weight :math:`w`
(a permutation of coordinates maps cosets of equal weight onto each other, so the count
depends on the weight alone; the sum over earlier codewords is a weighted sum of
per-weight counts of codewords, tabulated once), and :math:`\mathrm{lex}` is the enumerative
(Cover 1973) rank of :math:`y` within its coset with the coordinates reordered as the
:math:`w` positions of :math:`c_i = 1`, then the others: the suffix counts
:math:`T_{b,a}(s, r)` (vectors of ``b`` class-1 then ``a`` class-0 coordinates, reduced norm
``s``, coordinate sum :math:`\equiv r \pmod Q`) are a counting DP over norm and residue, one
table per suffix shape actually used (:math:`n + \sum_w w` tables, not one per codeword).
Norms are reduced exactly: within a class every :math:`y_i^2` is the class minimum plus a
multiple of a common ``step`` (4 for BW16, 16 and 8 for the two Leech pieces), so the tables
have :math:`Dk_{\max}/\mathrm{step} + 1` rows.

Shells grow beyond :math:`2^{63}` (Leech :math:`\theta_{256} \approx 10^{25}`), so counts and
ranks are exact Python ints in ``object`` arrays; all operations are vectorized over points
(loops run over coordinates and alphabet values only).  The tests check the bijection against
brute-force enumeration (BW16 norms 4 and 6, the 196560 minimal Leech vectors), the counts
against the theta series (modular forms) up to ``max_norm``, and round trips on random ranks
of the large shells.

Each lattice declares its pieces in its own spec (:meth:`lattices.bw16.BW16Spec.code_pieces`,
:meth:`lattices.leech.LeechSpec.code_pieces`), whose ``shell_ranker`` builds the
:class:`CodeCosetShells` (:meth:`lattices.spec.LatticeSpec.shell_ranker`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .shell_interface import ShellRanker

__all__ = ["CodePiece", "CodeCosetShells"]


@dataclass(frozen=True)
class CodePiece:
    r"""One union of code cosets: :math:`y_i \equiv r_{c_i} \pmod M` for a codeword ``c``,
    :math:`\sum y \equiv` ``target`` :math:`\pmod Q`."""

    codewords: np.ndarray          # (W, n) 0/1
    modulus: int                   # M
    residues: tuple[int, int]      # (r0, r1): residue of y_i mod M for c_i = 0, 1
    sum_modulus: int               # Q
    sum_target: int


class _PieceTables:
    """Counting tables of one :class:`CodePiece` up to ``max_sq`` = max of :math:`\\|y\\|^2`."""

    def __init__(self, piece: CodePiece, max_sq: int):
        words = np.asarray(piece.codewords, dtype=np.int64)
        self.n = n = words.shape[1]
        self.M, self.Q = int(piece.modulus), int(piece.sum_modulus)
        self.r0, self.r1 = (int(r) % self.M for r in piece.residues)
        self.target = int(piece.sum_target) % self.Q
        bound = math.isqrt(max_sq)
        vals = np.arange(-bound, bound + 1, dtype=np.int64)
        self.alph = [vals[vals % self.M == self.r0], vals[vals % self.M == self.r1]]     # sorted
        self.offset = [int((a * a).min()) for a in self.alph]                           # o0, o1
        step = 0
        for a, o in zip(self.alph, self.offset):
            for v in a:
                step = math.gcd(step, int(v * v) - o)
        self.step = max(step, 1)
        self.wt = [(a * a - o) // self.step for a, o in zip(self.alph, self.offset)]
        self.S = max_sq // self.step                                                    # reduced norms 0..S
        # codewords: sorted integer keys, weights, and cumulative per-weight counts
        self.keys = (words << np.arange(n, dtype=np.int64)).sum(1)
        order = np.argsort(self.keys)
        self.words, self.keys = words[order], self.keys[order]
        self.weights = np.unique(self.words.sum(1))
        w_index = np.searchsorted(self.weights, self.words.sum(1))
        onehot = np.zeros((len(self.words) + 1, len(self.weights)), dtype=np.int64)
        onehot[np.arange(1, len(self.words) + 1), w_index] = 1
        self.cum_weights = np.cumsum(onehot, 0)                                         # (W + 1, n_w)
        self._build_tables()

    def _build_tables(self):
        """``T[(b, a)]``: (S + 1, Q) object counts of b class-1 then a class-0 coordinates."""
        zero = np.zeros((self.S + 1, self.Q), dtype=object)
        start = zero.copy()
        start[0, 0] = 1
        tables = {(0, 0): start}
        for a in range(1, self.n + 1):
            tables[(0, a)] = self._extend(tables[(0, a - 1)], 0)
        for w in self.weights.tolist():
            for b in range(1, w + 1):
                if (b, self.n - w) not in tables:
                    tables[(b, self.n - w)] = self._extend(tables[(b - 1, self.n - w)], 1)
        self.tid = {key: i for i, key in enumerate(tables)}
        self.tables = np.stack(list(tables.values()))                                   # (T, S + 1, Q)

    def _extend(self, table, cls):
        out = np.zeros_like(table)
        for v, wt in zip(self.alph[cls].tolist(), self.wt[cls].tolist()):
            if wt <= self.S:
                out[wt:] += np.roll(table[:self.S + 1 - wt], v % self.Q, axis=1)
        return out

    def reduced_norm(self, sq, w):
        """Reduced norm of a coset of weight ``w`` at :math:`\\|y\\|^2` = ``sq`` (int64 arrays); -1 where impossible."""
        rest = sq - w * self.offset[1] - (self.n - w) * self.offset[0]
        ok = (rest >= 0) & (rest % self.step == 0)
        return np.where(ok, rest // self.step, -1)

    def weight_counts(self, sq):
        """(n_w, N) object: points of one coset of each codeword weight at :math:`\\|y\\|^2` = ``sq``."""
        out = np.zeros((len(self.weights), len(sq)), dtype=object)
        for i, w in enumerate(self.weights.tolist()):
            s = self.reduced_norm(sq, w)
            ok = (s >= 0) & (s <= self.S)
            out[i, ok] = self.tables[self.tid[(w, self.n - w)], s[ok], self.target]
        return out

    def total(self, sq):
        """Points of the piece at :math:`\\|y\\|^2` = ``sq`` (N,) object."""
        per_weight = self.weight_counts(sq)
        n_words = self.cum_weights[-1].astype(object)
        return (per_weight * n_words[:, None]).sum(0) if len(sq) else np.zeros(0, dtype=object)

    def codeword_offset(self, idx, per_weight):
        """Points in the cosets of the codewords before index ``idx`` (N,) object."""
        return (self.cum_weights[idx].T.astype(object) * per_weight).sum(0)

    def member(self, y):
        """Rows of ``y`` (N, n) in this piece, and their codeword index (-1 elsewhere)."""
        res = y % self.M
        bits = (res == self.r1).astype(np.int64)
        ok = np.all((res == self.r0) | (res == self.r1), axis=1) & (y.sum(1) % self.Q == self.target)
        keys = (bits << np.arange(self.n, dtype=np.int64)).sum(1)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        ok &= self.keys[pos] == keys
        return ok, np.where(ok, pos, -1)

    def _suffix_tid(self, j, w):
        """Table ids of the suffix after reordered position ``j`` for codeword weights ``w`` (N,)."""
        b = np.maximum(w - j - 1, 0)
        a = np.where(j < w, self.n - w, self.n - j - 1)
        keys = list(zip(b.tolist(), a.tolist()))
        return np.array([self.tid[k] for k in keys], dtype=np.int64)

    def _reorder(self, idx):
        """Per row: the coordinate order (ones of the codeword first) and the weight."""
        bits = self.words[idx]
        order = np.argsort(1 - bits, axis=1, kind="stable")
        return order, bits.sum(1)

    def lex_rank(self, y, idx):
        """Rank of each row of ``y`` within its coset (codeword ``idx``), (N,) object."""
        order, w = self._reorder(idx)
        yp = np.take_along_axis(y, order, 1)
        s = self.reduced_norm((y * y).sum(1), w)
        res = np.full(len(y), self.target, dtype=np.int64)
        rank = np.zeros(len(y), dtype=object)
        for j in range(self.n):
            tid = self._suffix_tid(j, w)
            cls1 = j < w
            for cls, sel in ((0, ~cls1), (1, cls1)):
                if not sel.any():
                    continue
                top = yp[:, j]
                for v, wt in zip(self.alph[cls].tolist(), self.wt[cls].tolist()):
                    m = sel & (v < top) & (wt <= s)
                    if not m.any():
                        if v >= top[sel].max():
                            break
                        continue
                    rank[m] += self.tables[tid[m], s[m] - wt, (res[m] - v) % self.Q]
            step_wt = (yp[:, j] * yp[:, j] - np.where(cls1, self.offset[1], self.offset[0])) // self.step
            s = s - step_wt
            res = (res - yp[:, j]) % self.Q
        return rank

    def lex_unrank(self, sq, idx, rank):
        """Inverse of :meth:`lex_rank`: rows (N, n) int64 of the cosets ``idx`` at :math:`\\|y\\|^2` = ``sq``."""
        order, w = self._reorder(idx)
        s = self.reduced_norm(sq, w)
        res = np.full(len(sq), self.target, dtype=np.int64)
        rank = rank.copy()
        yp = np.zeros((len(sq), self.n), dtype=np.int64)
        for j in range(self.n):
            tid = self._suffix_tid(j, w)
            cls1 = j < w
            for cls, sel in ((0, ~cls1), (1, cls1)):
                open_ = sel.copy()
                for v, wt in zip(self.alph[cls].tolist(), self.wt[cls].tolist()):
                    m = open_ & (wt <= s)
                    if not m.any():
                        continue
                    cnt = self.tables[tid[m], s[m] - wt, (res[m] - v) % self.Q]
                    here = (rank[m] < cnt).astype(bool)
                    rows = np.flatnonzero(m)
                    yp[rows[here], j] = v
                    open_[rows[here]] = False
                    rank[rows[~here]] = rank[rows[~here]] - cnt[~here]
                    if not open_.any():
                        break
                if open_.any():                                                       # internal invariant
                    raise AssertionError("unrank ran out of alphabet values")
            step_wt = (yp[:, j] * yp[:, j] - np.where(cls1, self.offset[1], self.offset[0])) // self.step
            s = s - step_wt
            res = (res - yp[:, j]) % self.Q
        y = np.zeros_like(yp)
        np.put_along_axis(y, order, yp, 1)
        return y


class CodeCosetShells(ShellRanker):
    r"""Shell ranker of a lattice :math:`\{x : \sqrt{D}x \in \bigcup_P P\}` built from binary codes (module notes).

    Parameters
    ----------
    basis : (n, n) array
        The lattice basis (rows) whose integer coefficients are ranked; ``sqrt(scale2) * basis``
        must be an integer matrix whose rows lie in the pieces.
    max_norm : int
        Largest de-scaled norm :math:`k = \|x\|^2` supported.
    scale2 : int
        ``D``: :math:`\|y\|^2 = D k`.
    pieces : list of CodePiece
        Disjoint pieces, ranked in this order.

    Counts and ranks are exact Python ints (``object`` arrays): shells exceed :math:`2^{63}`.
    """

    def __init__(self, basis, max_norm: int, scale2: int, pieces):
        self.max_norm = int(max_norm)
        self.scale2 = int(scale2)
        self.basis = np.asarray(basis, dtype=np.float64)
        T = self.basis * math.sqrt(self.scale2)
        self.int_basis = np.rint(T).astype(np.int64)
        if np.abs(T - self.int_basis).max() > 1e-9:
            raise ValueError(f"sqrt({scale2}) * basis is not an integer matrix")
        self.int_basis_inv = np.linalg.inv(self.int_basis.astype(np.float64))
        self.pieces = [_PieceTables(p, self.scale2 * self.max_norm) for p in pieces]
        ok = np.zeros(len(self.int_basis), dtype=bool)
        for p in self.pieces:
            ok |= p.member(self.int_basis)[0]
        if not ok.all():
            raise ValueError("a basis row lies in none of the pieces: not this lattice")

    def count(self, norms):
        norms = self._check_norms(norms)
        flat = norms.reshape(-1)
        out = sum(p.total(self.scale2 * flat) for p in self.pieces)
        return np.asarray(out, dtype=object).reshape(norms.shape)

    def to_integer(self, coeffs):
        """The scaled integer vectors :math:`y = \\sqrt{D}\\,x` (N, n) of coefficient rows."""
        return np.asarray(coeffs, dtype=np.int64) @ self.int_basis

    def rank(self, coeffs):
        y = self.to_integer(coeffs)
        sq = (y * y).sum(1)
        if np.any(sq % self.scale2):
            raise ValueError("a point is not in this lattice (norm not a multiple of the scale)")
        norms = self._check_norms(sq // self.scale2)
        ranks = np.full(len(y), None, dtype=object)
        before = np.zeros(len(y), dtype=object)
        for p in self.pieces:
            mine, idx = p.member(y)
            if mine.any():
                per_weight = p.weight_counts(sq[mine])
                ranks[mine] = before[mine] + p.codeword_offset(idx[mine], per_weight) + p.lex_rank(y[mine], idx[mine])
            before = before + p.total(sq)
        if any(r is None for r in ranks):
            raise ValueError("a point is not in any coset of this lattice's code construction")
        return norms, ranks

    def unrank(self, norms, ranks):
        norms = self._check_norms(norms)
        ranks = np.array([int(r) for r in np.asarray(ranks, dtype=object).reshape(-1)], dtype=object)
        sq = self.scale2 * norms
        totals = self.count(norms)
        if len(ranks) and (any(r < 0 for r in ranks) or np.any((ranks >= totals).astype(bool))):
            raise ValueError("a rank is outside [0, theta_k)")
        y = np.zeros((len(norms), self.int_basis.shape[0]), dtype=np.int64)
        left = ranks.copy()
        done = np.zeros(len(norms), dtype=bool)
        for p in self.pieces:
            tot = p.total(sq)
            mine = ~done & (left < tot).astype(bool)
            if mine.any():
                per_weight = p.weight_counts(sq[mine])
                r = left[mine]
                lo = np.zeros(int(mine.sum()), dtype=np.int64)               # codeword index: largest
                hi = np.full(int(mine.sum()), len(p.words), dtype=np.int64)  # idx with offset(idx) <= r
                while np.any(hi - lo > 1):
                    mid = (lo + hi) // 2
                    go = (p.codeword_offset(mid, per_weight) <= r).astype(bool)
                    lo, hi = np.where(go, mid, lo), np.where(go, hi, mid)
                within = r - p.codeword_offset(lo, per_weight)
                y[mine] = p.lex_unrank(sq[mine], lo, within)
            left = np.where(done | mine, left, left - tot)
            done |= mine
        return np.rint(y @ self.int_basis_inv).astype(np.int64)

