r"""Rank and unrank of a lattice point within its norm shell (enumerative coding).

A norm shell :math:`\{a \in \Lambda : \|a\|^2 = k\}` has :math:`\theta_k` points (the
theta-series coefficient, :mod:`lattices.theta_exact`).  A *shell ranker* is a bijection between
the shell and :math:`\{0, \dots, \theta_k - 1\}`: :meth:`ShellRanker.rank` maps a point to
its index, :meth:`ShellRanker.unrank` maps an index back.  With it, "uniform within a norm
shell" (the lattice prior of Sec. 3.4, :math:`-\log\theta_k` nats) becomes an actual code:
send the norm, then the rank with a uniform distribution.

Three constructions, all vectorized over many points:

* **Product alphabets** (:class:`AlphabetEnumerator`): vectors :math:`y` with
  :math:`y_j \in A_j` (finite sets of integers) and :math:`\sum_j y_j^2 = s`, ranked in
  lexicographic order by counting (Cover 1973, "Enumerative source encoding"): with
  :math:`N_j(s)` the number of suffixes :math:`(y_j, \dots, y_{n-1})` of norm :math:`s`,

  .. math::  \mathrm{rank}(y) = \sum_{j=0}^{n-1} \sum_{v \in A_j,\, v < y_j}
             N_{j+1}\Bigl(s - \sum_{i<j} y_i^2 - v^2\Bigr),

  tabulated once (``max_norm`` by alphabet size per coordinate).
* **Z^n and D_n** in the standard coordinates: :math:`\mathbb Z^n` is one product alphabet;
  since :math:`x \equiv x^2 \pmod 2`, a point of :math:`\mathbb Z^n` has an even coordinate
  sum iff its norm is even, so the :math:`D_n` shell of an even norm *is* the
  :math:`\mathbb Z^n` shell and odd shells are empty (SPLAG ch. 4, Sec. 7.1).
* **E8** in the standard coordinates, :math:`E_8 = D_8 \cup (D_8 + \tfrac12\mathbf 1)`
  (SPLAG ch. 4, Sec. 8.1): the :math:`D_8` part is ranked as :math:`\mathbb Z^8`; a coset
  point is :math:`w/2` with :math:`w` odd, :math:`\sum w_i^2 = 4k` and
  :math:`\sum w_i \equiv 0 \pmod 4`.  Flipping the sign of one coordinate changes the sum by
  :math:`2w_i \equiv 2 \pmod 4`, so exactly one sign of :math:`w_8` satisfies the
  congruence: the coset part is the product alphabet (odd)\ :sup:`7` x (positive odd),
  the last sign being implied.  Coset points rank after the :math:`D_8` points.
* **BW16 and Leech** (:mod:`lattices.code_shells`, offered by their specs'
  :meth:`lattices.spec.LatticeSpec.shell_ranker`): cosets of the Reed-Muller and Golay codes, ranked by codeword and then lexicographically with a counting DP over norm and
  coordinate sum (ranks are Python ints: their shells exceed :math:`2^{63}` points).
* **Any lattice** (:class:`TableShells`): every point up to ``max_norm`` is enumerated
  (Fincke-Pohst, :func:`lattices._generic.enumerate_ball`) and sorted within its shell by
  its integer coefficients; fine for small shells (A2: 229 points up to norm 64).

:func:`shell_ranker` picks the construction: the one the lattice's spec offers (a single
block at scale 1), else the product-alphabet ones when the basis spans Z^n, D_n or E8 in the
standard coordinates (any basis of those lattices, e.g. the paper's E8 basis), the table
otherwise.  A new lattice needs either small shells (the table) or a decomposition into cosets
of scaled product alphabets, offered by its spec's ``shell_ranker`` (a code construction,
SPLAG ch. 5, is a :class:`lattices.code_shells.CodePiece` list, as BW16's and Leech's are).

Ranks are int64 (shells up to :math:`2^{62}` points), except the code constructions' (Python ints).
"""
from __future__ import annotations

import math

import numpy as np

from .shell_interface import ShellRanker

__all__ = ["AlphabetEnumerator", "ShellRanker", "CosetShells", "TableShells", "shell_ranker",
           "MAX_TABLE_POINTS"]

#: Largest support (points up to ``max_norm``) that :class:`TableShells` enumerates.
MAX_TABLE_POINTS = 2_000_000


class AlphabetEnumerator:
    r"""Lexicographic rank of integer vectors :math:`y \in A_0 \times\dots\times A_{n-1}` of a given norm.

    Parameters
    ----------
    alphabets : list of 1-D int arrays
        The allowed values of each coordinate (sorted here; values with
        :math:`v^2 >` ``max_sq`` are dropped).
    max_sq : int
        Largest :math:`\sum_j y_j^2` to support.

    Examples
    --------
    >>> z = np.arange(-2, 3)
    >>> en = AlphabetEnumerator([z, z], 4)
    >>> en.count(np.array([0, 1, 2, 4])).tolist()          # Z^2: 1, 4, 4, 4 points
    [1, 4, 4, 4]
    >>> en.unrank(np.array([1, 1, 1, 1]), np.arange(4)).tolist()
    [[-1, 0], [0, -1], [0, 1], [1, 0]]
    """

    def __init__(self, alphabets, max_sq: int):
        self.max_sq = int(max_sq)
        self.alphabets = []
        for a in alphabets:
            a = np.unique(np.asarray(a, dtype=np.int64))
            self.alphabets.append(a[a * a <= self.max_sq])
        n = len(self.alphabets)
        S = self.max_sq + 1
        suffix = np.zeros((n + 1, S), dtype=np.int64)                 # suffix[j, s] = N_j(s)
        suffix[n, 0] = 1
        for j in range(n - 1, -1, -1):
            for v in self.alphabets[j]:
                sq = int(v * v)
                suffix[j, sq:] += suffix[j + 1, :S - sq]
        self.suffix = suffix
        self.tables = []                                              # (S, |A_j| + 1) each
        for j, a in enumerate(self.alphabets):
            table = np.zeros((S, len(a) + 1), dtype=np.int64)
            for i, v in enumerate(a):
                sq = int(v * v)
                shifted = np.zeros(S, dtype=np.int64)
                shifted[sq:] = suffix[j + 1, :S - sq]
                table[:, i + 1] = table[:, i] + shifted
            self.tables.append(table)

    def count(self, s) -> np.ndarray:
        """Number of vectors of norm ``s`` (int64, any shape)."""
        s = np.asarray(s, dtype=np.int64)
        out = np.zeros(s.shape, dtype=np.int64)
        ok = (s >= 0) & (s <= self.max_sq)
        out[ok] = self.suffix[0, s[ok]]
        return out

    def rank(self, y) -> np.ndarray:
        """Ranks (N,) int64 of the vectors ``y`` (N, n) within their norm (values must be in the alphabets)."""
        y = np.asarray(y, dtype=np.int64)
        rem = (y * y).sum(1)
        if rem.size and int(rem.max()) > self.max_sq:
            raise ValueError(f"a vector has norm {int(rem.max())} > max_sq={self.max_sq}")
        r = np.zeros(len(y), dtype=np.int64)
        for j, (a, table) in enumerate(zip(self.alphabets, self.tables)):
            idx = np.searchsorted(a, y[:, j])
            if np.any(idx >= len(a)) or np.any(a[np.minimum(idx, len(a) - 1)] != y[:, j]):
                raise ValueError(f"coordinate {j} has a value outside its alphabet")
            r += table[rem, idx]
            rem = rem - y[:, j] * y[:, j]
        return r

    def unrank(self, s, r) -> np.ndarray:
        """Vectors (N, n) of norms ``s`` (N,) and ranks ``r`` (N,): the inverse of :meth:`rank`."""
        rem = np.asarray(s, dtype=np.int64).copy()
        r = np.asarray(r, dtype=np.int64).copy()
        total = self.count(rem)
        if np.any((r < 0) | (r >= total)):
            raise ValueError("a rank is outside [0, count(norm))")
        y = np.zeros((len(rem), len(self.alphabets)), dtype=np.int64)
        for j, (a, table) in enumerate(zip(self.alphabets, self.tables)):
            rows = table[rem, :len(a)]                                 # (N, |A_j|), non-decreasing
            idx = (rows <= r[:, None]).sum(1) - 1
            y[:, j] = a[idx]
            r -= rows[np.arange(len(rem)), idx]
            rem -= y[:, j] * y[:, j]
        return y


class CosetShells(ShellRanker):
    r"""Shells of a lattice that is a union of cosets, each a scaled product alphabet.

    ``pieces`` is a list of ``(alphabets, denom, sign_fix)``: the points :math:`y/\mathrm{denom}`
    with :math:`y` in the product alphabet (norm :math:`\mathrm{denom}^2 k`); ``sign_fix``
    (E8 coset): the last alphabet holds magnitudes and the sign of the last coordinate is
    the one that makes :math:`\sum_j y_j \equiv 0 \pmod 4`.  ``parity``: ``"even"`` when
    only even norms exist (:math:`D_n` from :math:`\mathbb Z^n`).  Pieces rank in order.
    """

    def __init__(self, basis, max_norm: int, pieces, parity: str | None = None):
        self.max_norm = int(max_norm)
        self.basis = np.asarray(basis, dtype=np.float64)
        self.basis_inv = np.linalg.inv(self.basis)
        self.parity = parity
        self.pieces = []
        for alphabets, denom, sign_fix in pieces:
            max_sq = denom * denom * self.max_norm
            bound = math.isqrt(max_sq)
            full = [np.arange(-bound, bound + 1)] * len(alphabets)
            alph = [a if a is not None else f for a, f in zip(alphabets, full)]
            alph = [a[np.abs(a) <= bound] for a in alph]
            self.pieces.append((AlphabetEnumerator(alph, max_sq), int(denom), bool(sign_fix)))

    def _piece_counts(self, norms):
        counts = []
        for en, denom, _ in self.pieces:
            c = en.count(norms * denom * denom)
            if self.parity == "even":
                c = np.where(norms % 2 == 0, c, 0)
            counts.append(c)
        return counts

    def count(self, norms):
        norms = self._check_norms(norms)
        return sum(self._piece_counts(norms))

    def _ambient(self, coeffs):
        return np.asarray(coeffs, dtype=np.int64) @ self.basis

    def rank(self, coeffs):
        x = self._ambient(coeffs)                                          # (N, n) ambient
        norms = np.rint((x * x).sum(1)).astype(np.int64)
        norms = self._check_norms(norms)
        counts = self._piece_counts(norms)
        ranks = np.full(len(x), -1, dtype=np.int64)
        offset = np.zeros(len(x), dtype=np.int64)
        for (en, denom, sign_fix), cnt in zip(self.pieces, counts):
            y = np.rint(x * denom).astype(np.int64)
            mine = (ranks < 0) & np.all(np.abs(x * denom - y) < 1e-6, axis=1)
            if sign_fix:
                mine &= np.all(y % 2 != 0, axis=1)
                y[:, -1] = np.abs(y[:, -1])
            if np.any(mine):
                ranks[mine] = offset[mine] + en.rank(y[mine])
            offset += cnt
        if np.any(ranks < 0):
            raise ValueError("a point is not in any coset of this lattice's shell decomposition")
        return norms, ranks

    def unrank(self, norms, ranks):
        norms = self._check_norms(norms)
        ranks = np.asarray(ranks, dtype=np.int64).copy()
        counts = self._piece_counts(norms)
        if np.any((ranks < 0) | (ranks >= sum(counts))):
            raise ValueError("a rank is outside [0, theta_k)")
        x = np.zeros((len(norms), self.basis.shape[1]))
        done = np.zeros(len(norms), dtype=bool)
        for (en, denom, sign_fix), cnt in zip(self.pieces, counts):
            mine = ~done & (ranks < cnt)
            if np.any(mine):
                y = en.unrank(norms[mine] * denom * denom, ranks[mine])
                if sign_fix:
                    flip = (y.sum(1) % 4) != 0
                    y[flip, -1] = -y[flip, -1]
                x[mine] = y / denom
            done |= mine
            ranks = np.where(done, ranks, ranks - cnt)
        return np.rint(x @ self.basis_inv).astype(np.int64)


class TableShells(ShellRanker):
    """Any lattice: every point up to ``max_norm`` enumerated, ranked by its coefficients within its shell.

    ``ValueError`` when the support has more than :data:`MAX_TABLE_POINTS` points.
    """

    def __init__(self, lattice, max_norm: int):
        from ._generic import enumerate_ball
        from .theta_exact import norm_unit

        self.max_norm = int(max_norm)
        unit = float(norm_unit(lattice))
        theta = [int(t) for t in lattice.theta_series(self.max_norm)]
        if sum(theta) > MAX_TABLE_POINTS:
            raise ValueError(f"{lattice!r} has {sum(theta)} points up to norm {max_norm}: too many "
                             f"to tabulate (limit {MAX_TABLE_POINTS}); it needs a coset construction")
        basis = np.asarray(lattice.basis, dtype=np.float64)
        coeffs = enumerate_ball(basis, np.zeros(basis.shape[1]), self.max_norm * unit)
        pts = coeffs @ basis
        norms = np.rint((pts * pts).sum(1) / unit).astype(np.int64)
        keep = norms <= self.max_norm
        coeffs, norms = coeffs[keep], norms[keep]
        order = np.lexsort(tuple(coeffs[:, j] for j in range(coeffs.shape[1] - 1, -1, -1)) + (norms,))
        self.coeffs, self.norms = coeffs[order], norms[order]
        self.theta = np.bincount(self.norms, minlength=self.max_norm + 1).astype(np.int64)
        if self.theta.tolist() != theta:                                   # internal invariant
            raise AssertionError(f"enumeration {self.theta.tolist()} disagrees with theta {theta}")
        self.start = np.concatenate([[0], np.cumsum(self.theta)[:-1]])
        self.unit = unit
        self.basis = basis
        self._off = int(np.abs(self.coeffs).max()) + 1 if len(self.coeffs) else 1
        self._radix = (2 * self._off + 1) ** np.arange(basis.shape[0], dtype=np.int64)
        keys = self._keys(self.coeffs)
        self._order = np.argsort(keys)
        self._keys_sorted = keys[self._order]

    def _keys(self, coeffs):
        return ((np.clip(coeffs, -self._off, self._off) + self._off) * self._radix).sum(1)

    def count(self, norms):
        norms = self._check_norms(norms)
        return self.theta[norms]

    def rank(self, coeffs):
        coeffs = np.asarray(coeffs, dtype=np.int64)
        keys = self._keys(coeffs)
        pos = np.minimum(np.searchsorted(self._keys_sorted, keys), len(self._keys_sorted) - 1)
        idx = self._order[pos]
        if np.any(self._keys_sorted[pos] != keys) or np.any(np.any(self.coeffs[idx] != coeffs, axis=1)):
            raise ValueError(f"a point lies beyond max_norm={self.max_norm}")
        norms = self.norms[idx]
        return norms, idx - self.start[norms]

    def unrank(self, norms, ranks):
        norms = self._check_norms(norms)
        ranks = np.asarray(ranks, dtype=np.int64)
        if np.any((ranks < 0) | (ranks >= self.theta[norms])):
            raise ValueError("a rank is outside [0, theta_k)")
        return self.coeffs[self.start[norms] + ranks].copy()


def _is_integer_matrix(B, tol=1e-9):
    return bool(np.all(np.abs(B - np.rint(B)) < tol))


def shell_ranker(lattice, max_norm: int) -> ShellRanker:
    """The shell ranker of ``lattice`` up to de-scaled norm ``max_norm`` (see the module notes).

    Recognizes Z^n (integer basis, determinant 1), D_n (integer basis, even sums,
    determinant 2) and E8 (rows in D8 or D8 + 1/2, determinant 1) in the standard
    coordinates, at norm unit 1; a single block at scale 1 whose spec offers a ranker
    (:meth:`lattices.spec.LatticeSpec.shell_ranker`: ``bw16`` and ``leech`` in their textbook
    basis, by their code constructions, :mod:`lattices.code_shells`: exact Python-int counts
    and ranks, shells beyond :math:`2^{63}`) gets it; any other lattice gets a :class:`TableShells`.

    >>> r = shell_ranker(__import__("lattices").get("e8"), 4)
    >>> r.count([0, 2, 4]).tolist()
    [1, 240, 2160]
    """
    from .theta_exact import norm_unit

    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, np.integer)) or max_norm < 0:
        raise ValueError(f"max_norm must be a non-negative int, got {max_norm!r}")
    blocks = lattice.blocks()
    if len(blocks) == 1 and blocks[0].scale == 1.0:
        offered = blocks[0].spec.shell_ranker(int(max_norm))
        if offered is not None:
            return offered
    B = np.asarray(lattice.basis, dtype=np.float64)
    n = B.shape[0]
    det = abs(float(np.linalg.det(B)))
    unit = float(norm_unit(lattice))
    if B.shape[0] == B.shape[1] and abs(unit - 1.0) < 1e-12:
        if _is_integer_matrix(B) and abs(det - 1) < 1e-9:
            return CosetShells(B, max_norm, [([None] * n, 1, False)])
        if _is_integer_matrix(B) and abs(det - 2) < 1e-9 and np.all(np.rint(B).sum(1) % 2 == 0):
            return CosetShells(B, max_norm, [([None] * n, 1, False)], parity="even")
        half = _is_integer_matrix(2 * B) and np.all(
            [(_is_integer_matrix(row[None]) and round(row.sum()) % 2 == 0)
             or (np.all(np.abs(2 * row - np.rint(2 * row)) < 1e-9) and np.all(np.rint(2 * row) % 2 != 0)
                 and round(2 * row.sum()) % 4 == 0) for row in B])
        if n == 8 and half and abs(det - 1) < 1e-9:
            bound = math.isqrt(4 * int(max_norm))
            odd = np.arange(-bound, bound + 1)
            odd = odd[odd % 2 != 0]
            pieces = [([None] * 8, 1, False), ([odd] * 7 + [odd[odd > 0]], 2, True)]
            return CosetShells(B, max_norm, pieces, parity="even")
    return TableShells(lattice, max_norm)
