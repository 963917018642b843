"""Fused numba kernels: exact maximum-likelihood decoders of BW16 and the Leech lattice.

Both lattices are decoded in integer coordinates where they are Construction-B
lattices (SPLAG ch. 5 Sec. 2.8 and ch. 20):

* ``sqrt(2) BW16 = U_{c in RM(1,4)} (c + 2 D16)``;
* ``H24 = U_{c in G24} (c + 2 D24)`` (the "half-Leech" lattice) and
  ``sqrt(8) Leech = 2 H24 u (2 H24 + a)``, ``a = (-3, 1^23)``.

For a coset ``c + 2 D_n`` the closest point is found coordinate by coordinate
(the nearest point of ``2Z + c_i``), and when the D-parity ``sum (x_i - c_i)/2``
comes out odd, the coordinate that is cheapest to move to its second-nearest
point is moved (Conway & Sloane 1982, Algorithm for D_n).  Instead of running
this for every codeword (32 resp. 4096), the code's structure is used:

* the 24 (16) coordinates form 6 (4) *columns* of 4; a codeword restricted to
  a column is one of 16 patterns, and each column contributes a state
  ``(t, k)`` in Z_2^2: its top-row bit (BW16: its affine constant) and the
  parity of its D-coordinates.  Per column the best cost of each state is
  ``cost(pattern) + [k != natural parity] * (cheapest move in the column)``;
* a codeword is a choice of column patterns satisfying the code's two parity
  constraints, ``sum t = pi`` (Golay: top-row parity; RM: ``sum e_j = 0``)
  and ``sum k = 0`` (the D-parity).  For a fixed hexacode word and ``pi``
  (Golay; 128 cases) or a fixed linear part (RM; 4 cases) the minimum over all
  compatible column states is a min-plus convolution over Z_2^2, done by pairs
  of columns.  For the Golay code the 16 column pairs of each of the three
  pairs (01), (23), (45) are tabulated once per ``pi`` and each of the 64
  hexacode words costs 16 additions (every pair of hexacode positions takes all
  16 values, the hexacode being MDS).  This is the exact soft-decision decoding
  of Conway & Sloane, "Soft decoding techniques for codes and lattices,
  including the Golay code and the Leech lattice", IEEE IT-32 (1986), with the
  two parity constraints of the half-Leech lattice handled jointly as in
  Vardy & Be'ery, "Maximum likelihood decoding of the Leech lattice", IEEE
  IT-39 (1993); no coset of more than one codeword is searched by brute force.

Deterministic tie-breaking: the first minimum in the documented scan order
wins everywhere (strict ``<``): cosets in order (Leech: ``2 H24`` first),
then ``pi = 0`` before 1 and hexacode words in :func:`lattices.codes.hexacode`
order (RM: linear parts 0..3), then column states in increasing index;
coordinates round half to even; a D-parity move goes away from the rounded
value towards the input, upwards on an exact tie, at the first cheapest
coordinate of its column.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._kernels import load_canonical, point_is_finite, store_user
from .codes import hexacode, mog_patterns

#: Points handled per parallel work item.
CHUNK = 4096

#: The branch of :func:`decode_coded_blocks` (a compile-time constant for numba), named by the
#: spec class that uses it (``lattices.bw16.BW16Spec.KERNEL``, ``lattices.leech.LeechSpec.KERNEL``).
BW16 = 0
LEECH = 1

HEXACODE = np.ascontiguousarray(hexacode())
MOG = np.ascontiguousarray(mog_patterns())
#: RM(1,4) restricted to a column: the affine functions of (r0, r1) as 4-bit
#: masks: RM_COLUMN[L, e] for linear part L = (a0, a1) and constant e.
RM_COLUMN = np.array([[sum(((((L & 1) * (r & 1)) ^ (((L >> 1) & 1) * (r >> 1))) ^ e) << r
                            for r in range(4)) for e in (0, 1)] for L in range(4)], dtype=np.int64)


@njit(cache=True, inline="always")
def _coordinate_tables(y, n, v, e, p, dl):
    """For each coordinate i and bit b: nearest point of 2Z + b, its squared error,
    the parity of (v - b)/2 and the extra cost of the second-nearest point."""
    for i in range(n):
        for b in range(2):
            q = np.rint((y[i] - b) * 0.5)
            vv = 2.0 * q + b
            d = y[i] - vv
            v[i, b] = vv
            e[i, b] = d * d
            p[i, b] = int(q - 2.0 * np.floor(q * 0.5))
            dl[i, b] = 4.0 - 4.0 * abs(d)


@njit(cache=True, inline="always")
def _column_patterns(ncols, e, p, dl, pc, pp, pd, even_only):
    """Cost, D-parity, cheapest move and its row of the 4-bit patterns of each column
    (all 16 for the Golay code; BW16 needs the 8 of even weight, see RM_COLUMN).

    Patterns come in complementary pairs (m, 15 - m): the cost and parity of 15 - m follow
    from those of m and the column totals; only the cheapest move is recomputed.
    """
    for j in range(ncols):
        tot = 0.0
        ptot = 0
        for r in range(4):
            i = 4 * j + r
            tot += e[i, 0] + e[i, 1]
            ptot ^= p[i, 0] ^ p[i, 1]
        for m in range(8):
            if even_only and ((m ^ (m >> 1) ^ (m >> 2)) & 1):
                continue
            c = 0.0
            par = 0
            best = np.inf
            best_c = np.inf
            for r in range(4):  # branch-free: the row of the move is found when it is made
                b = (m >> r) & 1
                i = 4 * j + r
                c += e[i, b]
                par ^= p[i, b]
                best = min(best, dl[i, b])
                best_c = min(best_c, dl[i, 1 - b])
            mc = 15 - m
            pc[j, m] = c
            pp[j, m] = par
            pd[j, m] = best
            pc[j, mc] = tot - c
            pp[j, mc] = ptot ^ par
            pd[j, mc] = best_c


@njit(cache=True, inline="always")
def _state_cost(j, m, state, pc, pp, pd):
    """Cost of column j with pattern m in D-parity ``state & 1``."""
    return pc[j, m] + ((state & 1) ^ pp[j, m]) * pd[j, m]  # branch-free


@njit(cache=True, inline="always")
def _pair_split(ca, cb, u):
    """The first state v of column a with ca[v] + cb[u ^ v] minimal, and that minimum."""
    best = np.inf
    arg = 0
    for v in range(4):
        s = ca[v] + cb[u ^ v]
        if s < best:
            best = s
            arg = v
    return arg, best


@njit(cache=True, inline="always")
def _write_column(j, m, k, y, v, pp, dl, z):
    """Write column j: pattern m, moving one coordinate when D-parity k is not natural
    (the first row of the column with the cheapest move)."""
    for r in range(4):
        i = 4 * j + r
        z[i] = v[i, (m >> r) & 1]
    if k != pp[j, m]:
        i = 4 * j
        best = dl[i, m & 1]
        for r in range(1, 4):
            if dl[4 * j + r, (m >> r) & 1] < best:
                best = dl[4 * j + r, (m >> r) & 1]
                i = 4 * j + r
        if y[i] >= z[i]:
            z[i] += 2.0
        else:
            z[i] -= 2.0


@njit(cache=True)
def half_leech_closest(y, z, v, e, p, dl, pc, pp, pd, col, pair, pairs, hexa, mog):
    """The closest point z of H24 = U_{c in G24} (c + 2 D24) to y; returns |y - z|^2.

    Scratch: v, e, dl float (24, 2); p int (24, 2); pc, pd float (6, 16);
    pp int (6, 16); col float (6, 4, 4); pair float (3, 16, 4); pairs float (3, 4).
    """
    _coordinate_tables(y, 24, v, e, p, dl)
    _column_patterns(6, e, p, dl, pc, pp, pd, False)
    best = np.inf
    best_pi = 0
    best_w = 0
    for pi in range(2):
        for j in range(6):
            for s in range(4):
                for st in range(4):
                    col[j, s, st] = _state_cost(j, mog[s, pi, st >> 1], st, pc, pp, pd)
        for q in range(3):
            for a in range(4):
                for b in range(4):
                    for u in range(4):
                        acc = np.inf
                        for w in range(4):  # branch-free min (unpredictable comparisons)
                            acc = min(acc, col[2 * q, a, w] + col[2 * q + 1, b, u ^ w])
                        pair[q, 4 * a + b, u] = acc
        target = 2 * pi
        for h in range(hexa.shape[0]):
            i01 = 4 * hexa[h, 0] + hexa[h, 1]
            i23 = 4 * hexa[h, 2] + hexa[h, 3]
            i45 = 4 * hexa[h, 4] + hexa[h, 5]
            t = np.inf
            for u in range(4):  # branch-free min over the 16 state splits of the word
                pu = pair[0, i01, u]
                for w in range(4):
                    t = min(t, pu + pair[1, i23, w] + pair[2, i45, target ^ u ^ w])
            if t < best:
                best = t
                best_pi = pi
                best_w = h
    # reconstruct the winner: states of the three pairs, then of each column
    pi = best_pi
    for j in range(6):
        for st in range(4):
            col[j, 0, st] = _state_cost(j, mog[hexa[best_w, j], pi, st >> 1], st, pc, pp, pd)
    for q in range(3):
        for u in range(4):
            pairs[q, u] = _pair_split(col[2 * q, 0], col[2 * q + 1, 0], u)[1]
    target = 2 * pi
    bu = 0
    bw = 0
    acc = np.inf
    for u in range(4):
        for w in range(4):
            t = pairs[0, u] + pairs[1, w] + pairs[2, target ^ u ^ w]
            if t < acc:
                acc = t
                bu = u
                bw = w
    for q in range(3):
        sq = bu if q == 0 else (bw if q == 1 else target ^ bu ^ bw)
        sa = _pair_split(col[2 * q, 0], col[2 * q + 1, 0], sq)[0]
        for jj in range(2):
            j = 2 * q + jj
            st = sa if jj == 0 else sq ^ sa
            m = mog[hexa[best_w, j], pi, st >> 1]
            _write_column(j, m, st & 1, y, v, pp, dl, z)
    d = 0.0
    for i in range(24):
        t = y[i] - z[i]
        d += t * t
    return d


@njit(cache=True, inline="always")
def _bw16_columns(L, pc, pp, pd, col, rmcol):
    """State costs col[j, 2 e + k] of the 4 columns for the linear part L (branch-free)."""
    for j in range(4):
        for st in range(4):
            m = rmcol[L, st >> 1]
            col[j, st] = pc[j, m] + ((st & 1) ^ pp[j, m]) * pd[j, m]


@njit(cache=True, inline="always")
def _bw16_pair_value(col, a, u):
    """min over w of col[a, w] + col[a + 1, u ^ w] (branch-free)."""
    return min(min(col[a, 0] + col[a + 1, u], col[a, 1] + col[a + 1, u ^ 1]),
               min(col[a, 2] + col[a + 1, u ^ 2], col[a, 3] + col[a + 1, u ^ 3]))


@njit(cache=True, inline="always")
def _bw16_pair(col, a, u):
    """min over w of col[a, w] + col[a + 1, u ^ w], and the first w attaining it."""
    best = np.inf
    arg = 0
    for w in range(4):
        t = col[a, w] + col[a + 1, u ^ w]
        if t < best:
            best = t
            arg = w
    return best, arg


@njit(cache=True)
def bw16_closest(y, z, v, e, p, dl, pc, pp, pd, col, rmcol):
    """The closest point z of U_{c in RM(1,4)} (c + 2 D16) (= sqrt(2) BW16) to y.

    Scratch as :func:`half_leech_closest` with 4 columns, col float (4, 4);
    returns |y - z|^2.  (Plain indexing throughout: array views in the inner
    loop cost more than the arithmetic.)
    """
    _coordinate_tables(y, 16, v, e, p, dl)
    _column_patterns(4, e, p, dl, pc, pp, pd, True)
    best = np.inf
    best_L = 0
    for L in range(4):
        _bw16_columns(L, pc, pp, pd, col, rmcol)
        t = min(min(_bw16_pair_value(col, 0, 0) + _bw16_pair_value(col, 2, 0),
                    _bw16_pair_value(col, 0, 1) + _bw16_pair_value(col, 2, 1)),
                min(_bw16_pair_value(col, 0, 2) + _bw16_pair_value(col, 2, 2),
                    _bw16_pair_value(col, 0, 3) + _bw16_pair_value(col, 2, 3)))
        if t < best:
            best = t
            best_L = L
    L = best_L
    _bw16_columns(L, pc, pp, pd, col, rmcol)
    bu = 0
    acc = np.inf
    for u in range(4):
        t = _bw16_pair(col, 0, u)[0] + _bw16_pair(col, 2, u)[0]
        if t < acc:
            acc = t
            bu = u
    for q in range(2):
        sa = _bw16_pair(col, 2 * q, bu)[1]
        for jj in range(2):
            j = 2 * q + jj
            st = sa if jj == 0 else bu ^ sa
            _write_column(j, rmcol[L, st >> 1], st & 1, y, v, pp, dl, z)
    d = 0.0
    for i in range(16):
        t = y[i] - z[i]
        d += t * t
    return d


@njit(cache=True, inline="always")
def _leech_closest(y, t, z, best, glue, v, e, p, dl, pc, pp, pd, col, pair, pairs, hexa,
                   mog):
    """sqrt(8) Leech = 2 H24 u (2 H24 + glue): decode (y - g) / 2 in H24 for both."""
    best_d = np.inf
    for g in range(2):
        for i in range(24):
            t[i] = (y[i] - g * glue[i]) * 0.5
        half_leech_closest(t, z, v, e, p, dl, pc, pp, pd, col, pair, pairs, hexa, mog)
        d = 0.0
        for i in range(24):
            z[i] = 2.0 * z[i] + g * glue[i]
            diff = y[i] - z[i]
            d += diff * diff
        if d < best_d:
            best_d = d
            for i in range(24):
                best[i] = z[i]
    return best_d


@njit(cache=True, parallel=True)
def decode_coded_blocks(x, out, scales, out_scales, T, use_T, Sinv, B, which, glue, bad):
    """Decode ``x`` (N, r, m) into ``out``: ``which`` is :data:`BW16` (m = 16) or :data:`LEECH` (m = 24).

    Same contract as :func:`lattices._kernels.decode_blocks`: canonical
    ``y = x T / scales[j]`` (``T`` ignored unless ``use_T``), the canonical
    point is mapped back exactly through integer coefficients when ``use_T``;
    ``bad[c]`` = 1 + the first point of chunk c with a non-finite coordinate.
    """
    N = x.shape[0]
    r = x.shape[1]
    m = x.shape[2]
    n_chunks = (N + CHUNK - 1) // CHUNK
    hexa = HEXACODE
    mog = MOG
    rmcol = RM_COLUMN
    for c in prange(n_chunks):
        y = np.empty(m)
        t = np.empty(m)
        z = np.empty(m)
        best = np.empty(m)
        coef = np.empty(m)
        v = np.empty((m, 2))
        e = np.empty((m, 2))
        dl = np.empty((m, 2))
        p = np.empty((m, 2), np.int64)
        nc = m // 4
        pc = np.empty((nc, 16))
        pd = np.empty((nc, 16))
        pp = np.empty((nc, 16), np.int64)
        col = np.empty((6, 4, 4))
        col16 = np.empty((4, 4))
        pair = np.empty((3, 16, 4))
        pairs = np.empty((3, 4))
        lo = c * CHUNK
        hi = min(N, lo + CHUNK)
        bad[c] = 0
        for pt in range(lo, hi):
            if not point_is_finite(x, pt):
                if bad[c] == 0:
                    bad[c] = pt + 1
                continue
            for j in range(r):
                load_canonical(x, pt, j, T, use_T, 1.0 / scales[j], y)
                if which == BW16:
                    bw16_closest(y, best, v, e, p, dl, pc, pp, pd, col16, rmcol)
                else:
                    _leech_closest(y, t, z, best, glue, v, e, p, dl, pc, pp, pd, col,
                                   pair, pairs, hexa, mog)
                store_user(out, pt, j, best, scales[j], out_scales[j], use_T, Sinv, B, coef)
