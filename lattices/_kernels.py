"""Fused numba kernels for the fast nearest-point decoders of Conway & Sloane.

Every structured lattice of the toolkit is decoded in *canonical coordinates*
``y in R^k`` where it is a union of cosets of a uniform product of root
lattices (Conway & Sloane 1982, "Fast quantizing and decoding algorithms for
lattice quantizers and codes", IEEE Trans. IT-28(2); SPLAG ch. 20)::

    L = U_g (base + g),   base = F_w x F_w x ... x F_w  (nb blocks of width w)

with ``F`` one of ``Z`` (rounding), ``A_n`` (in R^{n+1}, coordinate sum 0) or
``D_n`` (integer vectors of even sum).  E8 = D8 u (D8 + 1/2), D_n* = Z^n u
(Z^n + 1/2), A_n* = U_i (A_n + [i]), E7 = A7 u (A7 + [4]), E6 = A2^3 [1,1,1]...
The user's basis is related to the canonical one by an isometry ``T``
(``y = x T``, ``x = y T^T``).  One kernel call reads each input point once,
maps it, divides by the block's scale, decodes every coset, keeps the closest
candidate and writes the point back: a single pass over memory.

Tie-breaking (deterministic, identical in the torch path):

* ``Z``: ``rint`` (round half to even);
* ``D_n``: the coordinate re-rounded is the one with the largest rounding
  error, the lowest index among equals; an exact zero error is re-rounded up;
* ``A_n``: coordinates adjusted are taken in order of rounding error, the
  lowest index first among equals;
* cosets: the first glue vector (in the documented order) attaining the
  minimum squared distance wins (strict ``<``).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

FAMILY_Z = 0
FAMILY_A = 1
FAMILY_D = 2

#: Points handled per parallel work item (amortizes the per-item scratch).
CHUNK = 4096


@njit(cache=True, inline="always")
def _decode_z(y, z, start, w):
    for i in range(start, start + w):
        z[i] = np.rint(y[i])


@njit(cache=True, inline="always")
def _decode_d(y, z, start, w):
    """D_w: round, and if the coordinate sum is odd re-round the worst one (C&S Alg. 2)."""
    total = 0.0
    worst = start
    worst_err = -1.0
    for i in range(start, start + w):
        r = np.rint(y[i])
        z[i] = r
        total += r
        e = abs(y[i] - r)
        if e > worst_err:
            worst_err = e
            worst = i
    if total % 2.0 != 0.0:
        if y[worst] >= z[worst]:
            z[worst] += 1.0
        else:
            z[worst] -= 1.0


@njit(cache=True, inline="always")
def _decode_a(y, z, err, start, w):
    """A_{w-1} in R^w (coordinate sum zero): C&S 1982 Sec. III.

    Round every coordinate; the deficiency ``s = sum(round)`` is repaired by
    moving the ``|s|`` coordinates with the most extreme rounding errors
    (``y - round``) the other way.  ``err`` is scratch of length >= start + w.
    """
    total = 0.0
    for i in range(start, start + w):
        r = np.rint(y[i])
        z[i] = r
        total += r
        err[i] = y[i] - r
    s = int(total)
    while s > 0:
        # lower the coordinate with the most negative error
        best = start
        for i in range(start + 1, start + w):
            if err[i] < err[best]:
                best = i
        z[best] -= 1.0
        err[best] += 1.0
        s -= 1
    while s < 0:
        best = start
        for i in range(start + 1, start + w):
            if err[i] > err[best]:
                best = i
        z[best] += 1.0
        err[best] -= 1.0
        s += 1


@njit(cache=True, inline="always")
def _decode_base(family, y, z, err, w, nb):
    for b in range(nb):
        start = b * w
        if family == FAMILY_Z:
            _decode_z(y, z, start, w)
        elif family == FAMILY_D:
            _decode_d(y, z, start, w)
        else:
            _decode_a(y, z, err, start, w)


@njit(cache=True, inline="always")
def closest_in_cosets(y, glue, family, w, nb, t, z, err, best):
    """The closest point to ``y`` of the union of cosets ``glue[g] + base``.

    Writes it to ``best`` and returns the squared distance; the first glue vector
    attaining the minimum wins (strict ``<``).  ``t``, ``z``, ``err`` are scratch
    of length k = w * nb.
    """
    k = w * nb
    best_d = np.inf
    for g in range(glue.shape[0]):
        for q in range(k):
            t[q] = y[q] - glue[g, q]
        _decode_base(family, t, z, err, w, nb)
        d = 0.0
        for q in range(k):
            z[q] += glue[g, q]
            diff = y[q] - z[q]
            d += diff * diff
        if d < best_d:
            best_d = d
            for q in range(k):
                best[q] = z[q]
    return best_d


@njit(cache=True, inline="always")
def point_is_finite(x, p):
    """True when every coordinate of point ``p`` of ``x`` (N, r, m) is finite."""
    finite = True
    for j in range(x.shape[1]):
        for i in range(x.shape[2]):
            if not np.isfinite(x[p, j, i]):
                finite = False
    return finite


@njit(cache=True, inline="always")
def load_canonical(x, p, j, T, use_T, inv, y):
    """Canonical coordinates of copy ``j`` of point ``p``: ``y = x[p, j] T * inv``
    (``y = x[p, j] * inv`` unless ``use_T``); ``y`` has length k."""
    m = x.shape[2]
    if use_T:
        for q in range(y.shape[0]):
            acc = 0.0
            for i in range(m):
                acc += x[p, j, i] * T[i, q]
            y[q] = acc * inv
    else:
        for q in range(y.shape[0]):
            y[q] = x[p, j, q] * inv


@njit(cache=True, inline="always")
def store_user(out, p, j, best, scale, out_scale, use_T, Sinv, B, coef):
    """Write the canonical lattice point ``best`` as copy ``j`` of point ``p`` of ``out``.

    Without ``use_T`` it is ``best * scale``; with it, the integer coefficients
    ``coef = rint(best Sinv)`` (scratch of length m) are mapped through the user
    basis, ``out = (coef B) * out_scale``, so no round-off of the isometry
    reaches the output.
    """
    m = out.shape[2]
    k = best.shape[0]
    if use_T:
        for i in range(m):
            acc = 0.0
            for q in range(k):
                acc += best[q] * Sinv[q, i]
            coef[i] = np.rint(acc)
        for i in range(m):
            acc = 0.0
            for q in range(m):
                acc += coef[q] * B[q, i]
            out[p, j, i] = acc * out_scale
    else:
        for q in range(k):
            out[p, j, q] = best[q] * scale


@njit(cache=True, parallel=True)
def decode_blocks(x, out, scales, out_scales, T, use_T, Sinv, B, family, w, nb, glue, bad):
    """Decode ``x`` of shape (N, r, m) into ``out`` (same shape) in one pass.

    ``bad`` (int64, one entry per chunk of ``CHUNK`` points) receives 1 + the
    index of the first point of the chunk with a NaN or infinite coordinate
    (0 where there is none); such points are left undecoded.

    Parameters
    ----------
    x, out : arrays (N, r, m), float32 or float64, any strides
    scales : float64 (r,), the scale of each of the r product copies (times the
        intrinsic scale): canonical ``y = x T / scales[j]``
    out_scales : float64 (r,), the user scale of each copy
    T : float64 (m, k), user -> canonical isometry (ignored unless ``use_T``)
    Sinv : float64 (k, m), pseudo-inverse of the canonical basis: the integer
        coefficients of a canonical lattice point z are ``rint(z Sinv)``
    B : float64 (m, m), the user basis at unit scale; with ``use_T`` the output
        is ``out_scales[j] * (i B)``, the lattice point as exactly as the basis
        allows (no round-off from the isometry)
    family, w, nb : base lattice = nb copies of the family's width-w block
    glue : float64 (G, k) coset representatives, row 0 is the zero vector
    """
    N = x.shape[0]
    r = x.shape[1]
    m = x.shape[2]
    k = w * nb
    n_chunks = (N + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        y = np.empty(k)
        t = np.empty(k)
        z = np.empty(k)
        best = np.empty(k)
        err = np.empty(k)
        coef = np.empty(m)
        lo = c * CHUNK
        hi = min(N, lo + CHUNK)
        bad[c] = 0
        for p in range(lo, hi):
            if not point_is_finite(x, p):
                if bad[c] == 0:
                    bad[c] = p + 1
                continue
            for j in range(r):
                load_canonical(x, p, j, T, use_T, 1.0 / scales[j], y)
                closest_in_cosets(y, glue, family, w, nb, t, z, err, best)
                store_user(out, p, j, best, scales[j], out_scales[j], use_T, Sinv, B, coef)


# ---------------------------------------------------------------------------
# Throughput kernels.  The per-point code above is the reference formulation
# (and the Monte Carlo's inner loop); the kernels below compute the same
# floating-point operations in the same order for every point, so their output
# is bit for bit that of ``decode_blocks``, but they are laid out for the
# compiler's vectorizer:
#
# * ``round_flat`` / ``round_columns``: Z^n and its scalings are one
#   elementwise pass (read, scale, rint, rescale, write, range check);
# * ``decode_tiles``: the other lattices work on tiles of ``TILE`` points in
#   structure-of-arrays layout (coordinate-major scratch), so that every step
#   -- rint, the running coset distance, the D_n worst-coordinate search, the
#   A_n repair, the coset choice -- is a branch-free loop over the points of a
#   tile; only the D_n parity flip and the A_n repair touch one coordinate per
#   point.  No allocation happens per point, only per chunk.
#
# Range and NaN/inf check: every kernel counts, in the same pass, the input
# coordinates with ``not (|x| <= limit)`` (NaN fails the comparison); the
# limit is chosen by the caller (``FastSpec.coordinate_limits``) so that the
# decoding arithmetic stays exact.  Points that fail are decoded to garbage:
# the caller raises.

#: Points per structure-of-arrays tile of ``decode_tiles``.
TILE = 64
#: Elements per parallel work item of the elementwise kernels.
FLAT_CHUNK = 1 << 16


@njit(cache=True)
def round_span(x, out, inv, scale, limit):
    """Serial body of :func:`round_flat`: returns the number of bad elements."""
    nbad = 0
    for i in range(x.shape[0]):
        v = x[i]
        nbad += 0 if abs(v) <= limit else 1
        out[i] = (np.rint(v * inv) + 0.0) * scale  # + 0.0: no -0.0, as the glue adds
    return nbad


@njit(cache=True)
def round_unit_span(x, out, limit):
    """Serial body of :func:`round_unit`: returns the number of bad elements."""
    nbad = 0
    for i in range(x.shape[0]):
        v = x[i]
        nbad += 0 if abs(v) <= limit else 1
        out[i] = np.rint(v) + 0.0
    return nbad


# The parallel loops below only cut the work into chunks and call a serial
# function per chunk: numba's parallel loop bodies are not vectorized by LLVM
# (measured: 8x slower for the elementwise rounding), a plain njit function is.
# Callers with a single chunk of work call the serial function directly.

@njit(cache=True, parallel=True)
def round_flat(x, out, inv, scale, limit, bad):
    """``out = rint(x * inv) * scale`` elementwise (x, out 1-D, contiguous).

    ``bad`` (int64, one entry per chunk of ``FLAT_CHUNK`` elements) receives the
    number of elements with ``not (|x| <= limit)``.  ``out`` may be ``x``.
    """
    n = x.shape[0]
    n_chunks = (n + FLAT_CHUNK - 1) // FLAT_CHUNK
    for c in prange(n_chunks):
        lo = c * FLAT_CHUNK
        hi = min(n, lo + FLAT_CHUNK)
        bad[c] = round_span(x[lo:hi], out[lo:hi], inv, scale, limit)


@njit(cache=True, parallel=True)
def round_unit(x, out, limit, bad):
    """``out = rint(x) + 0`` elementwise in the input's own precision (scale 1).

    ``rint`` of a float32 equals ``rint`` of its float64 value rounded back, so
    this is :func:`round_flat` with ``inv = scale = 1`` bit for bit.  Adding 0
    turns ``-0.0`` into ``+0.0``, as adding the zero glue vector does in
    :func:`decode_blocks`.
    """
    n = x.shape[0]
    n_chunks = (n + FLAT_CHUNK - 1) // FLAT_CHUNK
    for c in prange(n_chunks):
        lo = c * FLAT_CHUNK
        hi = min(n, lo + FLAT_CHUNK)
        bad[c] = round_unit_span(x[lo:hi], out[lo:hi], limit)


@njit(cache=True)
def round_columns_span(x, out, inv, scale, limit):
    """Serial body of :func:`round_columns`: returns the number of bad elements."""
    nbad = 0
    for p in range(x.shape[0]):
        for j in range(x.shape[1]):
            inv_j = inv[j]
            scale_j = scale[j]
            lim = limit[j]
            for i in range(x.shape[2]):
                v = x[p, j, i]
                nbad += 0 if abs(v) <= lim else 1
                out[p, j, i] = (np.rint(v * inv_j) + 0.0) * scale_j
    return nbad


@njit(cache=True, parallel=True)
def round_columns(x, out, inv, scale, limit, bad):
    """``out[p, j, i] = rint(x[p, j, i] * inv[j]) * scale[j]`` for (N, r, m) arrays of any strides.

    Per-copy scales and limits (a product of differently scaled Z^m copies, or a
    non-contiguous input).  ``bad`` has one entry per chunk of ``CHUNK`` points.
    """
    N = x.shape[0]
    n_chunks = (N + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        lo = c * CHUNK
        hi = min(N, lo + CHUNK)
        bad[c] = round_columns_span(x[lo:hi], out[lo:hi], inv, scale, limit)


@njit(cache=True, inline="always")
def _round_coset(Y, Z, g, q0, q1, P):
    """Z[q] = rint(Y[q] - g[q]) for the coordinates q0..q1-1 of a tile."""
    for q in range(q0, q1):
        gq = g[q]
        yq = Y[q]
        zq = Z[q]
        for p in range(P):
            zq[p] = np.rint(yq[p] - gq)


@njit(cache=True, inline="always")
def _tile_d(Y, Z, g, q0, q1, P, tot, werr, widx, wup):
    """D_w block (C&S 1982 Alg. 2) on coordinates q0..q1-1 of a tile, in place in Z.

    Same operations as ``_decode_d``: the first coordinate with the largest
    ``|t - rint(t)|`` is moved towards ``t`` when the rounded sum is odd.
    """
    for p in range(P):
        tot[p] = 0.0
        werr[p] = -1.0
        widx[p] = q0
        wup[p] = 1.0
    for q in range(q0, q1):
        gq = g[q]
        yq = Y[q]
        zq = Z[q]
        for p in range(P):
            t = yq[p] - gq
            r = np.rint(t)
            zq[p] = r
            tot[p] += r
            e = abs(t - r)
            upd = e > werr[p]
            werr[p] = e if upd else werr[p]
            widx[p] = q if upd else widx[p]
            wup[p] = (1.0 if t >= r else -1.0) if upd else wup[p]
    for p in range(P):
        # tot is an integer below 2^53 in magnitude (the range check), so this
        # is ``tot % 2 != 0`` without a division
        if np.rint(0.5 * tot[p]) * 2.0 != tot[p]:
            Z[widx[p], p] += wup[p]


@njit(cache=True, inline="always")
def _tile_a(Y, Z, E, g, q0, q1, P, tot, key, widx, sgn):
    """A_{w-1} block (C&S 1982 Sec. III) on coordinates q0..q1-1 of a tile, in place in Z.

    Same operations as ``_decode_a``: while the deficiency s is nonzero, the
    first coordinate with the smallest (s > 0) or largest (s < 0) error moves.
    """
    for p in range(P):
        tot[p] = 0.0
    for q in range(q0, q1):
        gq = g[q]
        yq = Y[q]
        zq = Z[q]
        eq = E[q]
        for p in range(P):
            t = yq[p] - gq
            r = np.rint(t)
            zq[p] = r
            tot[p] += r
            eq[p] = t - r
    rounds = 0.0
    for p in range(P):
        rounds = max(rounds, abs(tot[p]))
    for _ in range(int(rounds)):
        for p in range(P):
            s = tot[p]
            sgn[p] = 1.0 if s > 0.0 else -1.0  # key = sgn * err: minimise
            key[p] = sgn[p] * E[q0, p]
            widx[p] = q0
        for q in range(q0 + 1, q1):
            eq = E[q]
            for p in range(P):
                kq = sgn[p] * eq[p]
                upd = kq < key[p]
                key[p] = kq if upd else key[p]
                widx[p] = q if upd else widx[p]
        for p in range(P):
            s = tot[p]
            if s > 0.0:
                Z[widx[p], p] -= 1.0
                E[widx[p], p] += 1.0
                tot[p] = s - 1.0
            elif s < 0.0:
                Z[widx[p], p] += 1.0
                E[widx[p], p] -= 1.0
                tot[p] = s + 1.0


@njit(cache=True, inline="always")
def _load_copy(x, Y, p0, P, j, k):
    """Y[q, p] = x[p0 + p, j, q] (converted to Y's dtype) for a tile of P points.

    A single copy of width 4 or 8 is written out with constant indices, so that
    the compiler sees a constant stride and vectorizes the transposition (about
    2.5x faster than the generic loop)."""
    if x.shape[1] == 1 and k == 8:
        for p in range(P):
            Y[0, p] = x[p0 + p, 0, 0]
            Y[1, p] = x[p0 + p, 0, 1]
            Y[2, p] = x[p0 + p, 0, 2]
            Y[3, p] = x[p0 + p, 0, 3]
            Y[4, p] = x[p0 + p, 0, 4]
            Y[5, p] = x[p0 + p, 0, 5]
            Y[6, p] = x[p0 + p, 0, 6]
            Y[7, p] = x[p0 + p, 0, 7]
    elif x.shape[1] == 1 and k == 4:
        for p in range(P):
            Y[0, p] = x[p0 + p, 0, 0]
            Y[1, p] = x[p0 + p, 0, 1]
            Y[2, p] = x[p0 + p, 0, 2]
            Y[3, p] = x[p0 + p, 0, 3]
    else:
        for p in range(P):
            for q in range(k):
                Y[q, p] = x[p0 + p, j, q]


@njit(cache=True, inline="always")
def _store_copy(out, Zs, best_g, p0, P, j, k, s):
    """out[p0 + p, j, q] = Zs[best_g[p], q, p] * s (the inverse of :func:`_load_copy`)."""
    if out.shape[1] == 1 and k == 8:
        for p in range(P):
            g = best_g[p]
            out[p0 + p, 0, 0] = Zs[g, 0, p] * s
            out[p0 + p, 0, 1] = Zs[g, 1, p] * s
            out[p0 + p, 0, 2] = Zs[g, 2, p] * s
            out[p0 + p, 0, 3] = Zs[g, 3, p] * s
            out[p0 + p, 0, 4] = Zs[g, 4, p] * s
            out[p0 + p, 0, 5] = Zs[g, 5, p] * s
            out[p0 + p, 0, 6] = Zs[g, 6, p] * s
            out[p0 + p, 0, 7] = Zs[g, 7, p] * s
    elif out.shape[1] == 1 and k == 4:
        for p in range(P):
            g = best_g[p]
            out[p0 + p, 0, 0] = Zs[g, 0, p] * s
            out[p0 + p, 0, 1] = Zs[g, 1, p] * s
            out[p0 + p, 0, 2] = Zs[g, 2, p] * s
            out[p0 + p, 0, 3] = Zs[g, 3, p] * s
    else:
        for p in range(P):
            g = best_g[p]
            for q in range(k):
                out[p0 + p, j, q] = Zs[g, q, p] * s


@njit(cache=True)
def decode_tiles_span(x, out, scales, out_scales, T, use_T, Sinv, B, family, w, nb, glue, limits):
    """The points of ``x`` (a chunk), tile by tile; returns the number of bad coordinates.

    Every coset's candidates stay in their own buffer ``Zs[g]``; a point keeps
    the index of its best coset (first strict minimum), and the winner is
    gathered once, when the tile is written back.
    """
    N = x.shape[0]
    r = x.shape[1]
    m = x.shape[2]
    k = w * nb
    G = glue.shape[0]
    X = np.empty((m, TILE))
    Y = np.empty((k, TILE))
    Zs = np.empty((G, k, TILE))
    E = np.empty((k, TILE))
    C = np.empty((m, TILE))
    d = np.empty(TILE)
    best_d = np.empty(TILE)
    best_g = np.zeros(TILE, dtype=np.int64)
    tot = np.empty(TILE)
    werr = np.empty(TILE)
    wup = np.empty(TILE)
    widx = np.empty(TILE, dtype=np.int64)
    nbad = 0
    for p0 in range(0, N, TILE):
        P = min(TILE, N - p0)
        for j in range(r):
            inv = 1.0 / scales[j]
            lim = limits[j]
            # load (transposed to coordinate-major) and check
            if use_T:
                for p in range(P):
                    for i in range(m):
                        v = x[p0 + p, j, i]
                        nbad += 0 if abs(v) <= lim else 1
                        X[i, p] = v
                for q in range(k):
                    yq = Y[q]
                    for p in range(P):
                        yq[p] = 0.0
                    for i in range(m):
                        tiq = T[i, q]
                        xi = X[i]
                        for p in range(P):
                            yq[p] += xi[p] * tiq
                    for p in range(P):
                        yq[p] = yq[p] * inv
            else:
                _load_copy(x, Y, p0, P, j, k)
                for q in range(k):
                    for p in range(P):
                        v = Y[q, p]
                        nbad += 0 if abs(v) <= lim else 1
                        Y[q, p] = v * inv
            # every coset: decode the base, add the glue, distance, keep the best
            for g in range(G):
                gv = glue[g]
                Z = Zs[g]
                if family == FAMILY_Z:
                    _round_coset(Y, Z, gv, 0, k, P)
                else:
                    for b in range(nb):
                        if family == FAMILY_D:
                            _tile_d(Y, Z, gv, b * w, b * w + w, P, tot, werr, widx, wup)
                        else:
                            _tile_a(Y, Z, E, gv, b * w, b * w + w, P, tot, werr, widx, wup)
                for p in range(P):
                    d[p] = 0.0
                for q in range(k):
                    gq = gv[q]
                    yq = Y[q]
                    zq = Z[q]
                    for p in range(P):
                        zz = zq[p] + gq
                        zq[p] = zz
                        diff = yq[p] - zz
                        d[p] += diff * diff
                if g == 0:
                    for p in range(P):
                        best_d[p] = d[p]
                        best_g[p] = 0
                else:
                    for p in range(P):
                        better = d[p] < best_d[p]
                        best_d[p] = d[p] if better else best_d[p]
                        best_g[p] = g if better else best_g[p]
            # write back
            if use_T:
                for i in range(m):
                    ci = C[i]
                    for p in range(P):
                        ci[p] = 0.0
                    for q in range(k):
                        s = Sinv[q, i]
                        for p in range(P):
                            ci[p] += Zs[best_g[p], q, p] * s
                    for p in range(P):
                        ci[p] = np.rint(ci[p])
                os_j = out_scales[j]
                for i in range(m):
                    yi = Y[i]  # reuse as scratch for the output coordinate i
                    for p in range(P):
                        yi[p] = 0.0
                    for q in range(m):
                        bqi = B[q, i]
                        cq = C[q]
                        for p in range(P):
                            yi[p] += cq[p] * bqi
                for p in range(P):
                    for i in range(m):
                        out[p0 + p, j, i] = Y[i, p] * os_j
            else:
                _store_copy(out, Zs, best_g, p0, P, j, k, scales[j])
    return nbad


@njit(cache=True, parallel=True)
def decode_tiles(x, out, scales, out_scales, T, use_T, Sinv, B, family, w, nb, glue,
                 limits, bad):
    """:func:`decode_blocks`, bit for bit, in structure-of-arrays tiles (see above).

    Parameters are those of :func:`decode_blocks`, except: ``limits`` float64
    (r,) is the largest accepted ``|x|`` of a coordinate of each copy, and
    ``bad`` (int64, one entry per chunk of ``CHUNK`` points) receives the number
    of input coordinates beyond it or not finite.  ``out`` may be ``x``.
    """
    N = x.shape[0]
    n_chunks = (N + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        lo = c * CHUNK
        hi = min(N, lo + CHUNK)
        bad[c] = decode_tiles_span(x[lo:hi], out[lo:hi], scales, out_scales, T, use_T, Sinv, B,
                                    family, w, nb, glue, limits)


# ---------------------------------------------------------------------------
# float32 kernel of the D_n-based lattices (D_n, E8 = D8 u (D8 + 1/2), their
# products): the same decisions as ``decode_tiles`` on float32 input, computed
# in float32 (twice the SIMD lanes), with a rigorous fallback.
#
# ``decode_tiles`` converts a float32 point to float64 and decodes it there.  On
# a *safe* coordinate -- 0 or 2^-20 <= |y| <= 2^20 -- every step of that float64
# decoding before the distances is exact, and its decisions are reproduced
# exactly in float32:
#
# * coset with glue 0: ``r = rint(y)`` and the D_n error ``e0 = |y - r|`` are
#   exact in float32 (y - rint(y) is always representable);
# * coset with glue 1/2: float64 rounds ``t = y - 1/2`` exactly; its rint is
#   ``floor(y)``, except for an integer y = n where the tie goes to the even of
#   n - 1 and n; so ``r = floor(y) - [y == floor(y) and floor(y) odd]``, exact.
#   The D_n error is ``|t - r| = 1/2 - e0`` (distance to the nearest
#   half-integer), so "first coordinate with the largest error" is "first
#   coordinate with the smallest e0", and ``t >= r`` is ``y >= r + 1/2``: both
#   exact comparisons of float32 numbers;
# * block sums of at most 16 integers below 2^20, their parity, the +-1 move
#   and the glue are exact in float32 (the caller takes k <= 16 coordinates).
#
# So the candidate of every coset is exactly the float64 one.  Only the
# squared distances are rounded: computed in float32 with relative error at
# most (k + 2) u <= 18 u (u = 2^-24; one rounding for y - z, two for the
# square, k - 1 for the sum, and no underflow since |y - z| >= 2^-43 or 0), a
# comparison ``d_g < d_best`` is taken only when ``|d_g - d_best| > 2^-19
# (d_g + d_best)`` (32 u): then the exact distances, and the float64 ones of
# ``decode_tiles`` (error (k + 2) 2^-53), are ordered the same way.  A tile with
# an unsafe coordinate (tiny, huge, NaN or infinite) or an undecided
# comparison -- exact ties included -- is decoded by ``decode_tiles_span``
# itself.  The output is therefore ``decode_tiles``'s bit for bit
# (tests/test_decoder_float32.py, which fails with a zero margin).  On Gaussian
# data the fallback is rare (a coordinate below 2^-20, or a comparison within
# the margin), and a float32 tile -- twice the SIMD lanes, and loads of
# constant stride for widths 4 and 8 -- costs about 0.57x a float64 one.

#: Safe float32 coordinates of :func:`decode_d_f32_span`: 0 or in [SAFE_LO, SAFE_HI].
SAFE_LO = np.float32(2.0 ** -20)
SAFE_HI = np.float32(2.0 ** 20)
#: Relative margin of a float32 distance comparison taken without fallback (32 u).
F32_MARGIN = np.float32(2.0 ** -19)


@njit(cache=True, inline="always")
def _tile_d_f32(Y, R0, E0, Z, q0, q1, P, half, S):
    """One D_w block of one coset of a float32 tile (see the comment above): the
    coset's base candidate in Z (before the glue), from ``R0 = rint(Y)`` and
    ``E0 = |Y - R0|``; ``half``: the coset's glue is 1/2 on this block (else 0).

    ``S`` (4, TILE) float32 scratch holds, per point, the block sum, the error
    kept, the coordinate it belongs to and the direction of its move (one array,
    so that the compiler's alias checks stay few and the loops vectorize).
    """
    one = np.float32(1.0)
    halfv = np.float32(0.5)
    for p in range(P):
        S[0, p] = np.float32(0.0)
        S[1, p] = np.float32(np.inf) if half else np.float32(-1.0)
        S[2, p] = np.float32(q0)
        S[3, p] = one
    for q in range(q0, q1):
        qf = np.float32(q)
        if half:
            for p in range(P):
                y = Y[q, p]
                f = np.floor(y)
                odd = f - np.float32(2.0) * np.floor(halfv * f)
                r = f - odd * np.float32(y == f)
                Z[q, p] = r
                S[0, p] += r
                e = E0[q, p]
                upd = e < S[1, p]  # first smallest e0 = first largest 1/2 - e0
                S[1, p] = e if upd else S[1, p]
                S[2, p] = qf if upd else S[2, p]
                S[3, p] = (one if y >= r + halfv else -one) if upd else S[3, p]
        else:
            for p in range(P):
                r = R0[q, p]
                Z[q, p] = r
                S[0, p] += r
                e = E0[q, p]
                upd = e > S[1, p]
                S[1, p] = e if upd else S[1, p]
                S[2, p] = qf if upd else S[2, p]
                S[3, p] = (one if Y[q, p] >= r else -one) if upd else S[3, p]
    for p in range(P):
        # branch-free (the parity is random): a move of 0 when the sum is even
        # can turn a -0.0 into +0.0, which the glue added afterwards does anyway
        odd = np.float32(np.rint(halfv * S[0, p]) * np.float32(2.0) != S[0, p])
        Z[int(S[2, p]), p] += S[3, p] * odd


@njit(cache=True, inline="always")
def _load_points(xf, Y, p0, P, k):
    """Y[q, p] = xf[(p0 + p) k + q]: a tile of k-dim points into coordinate-major
    scratch.  Widths 4 and 8 are written out so that the compiler sees a constant
    stride and vectorizes the transposition (3x faster than the generic loop)."""
    if k == 8:
        for p in range(P):
            b = (p0 + p) * 8
            Y[0, p] = xf[b]
            Y[1, p] = xf[b + 1]
            Y[2, p] = xf[b + 2]
            Y[3, p] = xf[b + 3]
            Y[4, p] = xf[b + 4]
            Y[5, p] = xf[b + 5]
            Y[6, p] = xf[b + 6]
            Y[7, p] = xf[b + 7]
    elif k == 4:
        for p in range(P):
            b = (p0 + p) * 4
            Y[0, p] = xf[b]
            Y[1, p] = xf[b + 1]
            Y[2, p] = xf[b + 2]
            Y[3, p] = xf[b + 3]
    else:
        for p in range(P):
            for q in range(k):
                Y[q, p] = xf[(p0 + p) * k + q]


@njit(cache=True, inline="always")
def _store_points(of, Zs, best_g, g32, p0, P, k):
    """of[(p0 + p) k + q] = Zs[best_g[p], q, p] + glue[best_g[p], q] (the inverse of
    :func:`_load_points`, gathering each point's coset)."""
    if k == 8:
        for p in range(P):
            g = best_g[p]
            b = (p0 + p) * 8
            of[b] = Zs[g, 0, p] + g32[g, 0]
            of[b + 1] = Zs[g, 1, p] + g32[g, 1]
            of[b + 2] = Zs[g, 2, p] + g32[g, 2]
            of[b + 3] = Zs[g, 3, p] + g32[g, 3]
            of[b + 4] = Zs[g, 4, p] + g32[g, 4]
            of[b + 5] = Zs[g, 5, p] + g32[g, 5]
            of[b + 6] = Zs[g, 6, p] + g32[g, 6]
            of[b + 7] = Zs[g, 7, p] + g32[g, 7]
    elif k == 4:
        for p in range(P):
            g = best_g[p]
            b = (p0 + p) * 4
            of[b] = Zs[g, 0, p] + g32[g, 0]
            of[b + 1] = Zs[g, 1, p] + g32[g, 1]
            of[b + 2] = Zs[g, 2, p] + g32[g, 2]
            of[b + 3] = Zs[g, 3, p] + g32[g, 3]
    else:
        for p in range(P):
            g = best_g[p]
            for q in range(k):
                of[(p0 + p) * k + q] = Zs[g, q, p] + g32[g, q]


@njit(cache=True)
def decode_d_f32_span(xf, of, w, nb, glue, limit, half):
    """Decode the float32 points of ``xf`` (flat, C order, ``k = w * nb`` coordinates
    a point) into ``of``, deciding in float32 (see above); returns the number of bad
    coordinates, as :func:`decode_tiles_span`.

    For a D_n-based lattice without isometry at total scale 1, with the glue
    constant, 0 or 1/2, on each block (``half[g, b]`` tells which) -- checked by
    the caller.  Every copy of a product is decoded alike, so the points are
    simply the consecutive k-tuples.  ``limit``: the range limit of a
    coordinate (:meth:`FastSpec.coordinate_limits`); a tile with an unsafe
    coordinate or an undecided comparison is decoded by
    :func:`decode_tiles_span` (which checks the range).  ``of`` may be ``xf``.
    """
    k = w * nb
    N = xf.shape[0] // k
    G = glue.shape[0]
    f32 = np.float32
    Y = np.empty((k, TILE), f32)
    R0 = np.empty((k, TILE), f32)
    E0 = np.empty((k, TILE), f32)
    Zs = np.empty((G, k, TILE), f32)
    S = np.empty((4, TILE), f32)
    g32 = glue.astype(f32)
    d = np.empty(TILE, f32)
    best_d = np.empty(TILE, f32)
    best_g = np.zeros(TILE, dtype=np.int32)
    one = np.ones(1)
    lims = np.full(1, limit)
    nothing = np.zeros((1, 1))
    nbad = 0
    for p0 in range(0, N, TILE):
        P = min(TILE, N - p0)
        _load_points(xf, Y, p0, P, k)
        unsafe = np.int32(0)
        for q in range(k):
            for p in range(P):
                y = Y[q, p]
                a = abs(y)
                unsafe += np.int32(0) if (a <= SAFE_HI and (a >= SAFE_LO or a == f32(0.0))) \
                    else np.int32(1)
                rr = np.rint(y)
                R0[q, p] = rr
                E0[q, p] = abs(y - rr)
        if unsafe == 0:
            for g in range(G):
                Z = Zs[g]
                for b in range(nb):
                    _tile_d_f32(Y, R0, E0, Z, b * w, b * w + w, P, half[g, b], S)
                if G == 1:
                    for p in range(P):
                        best_g[p] = 0
                    break  # one coset: no distance to compare
                for p in range(P):
                    d[p] = f32(0.0)
                for q in range(k):
                    gq = g32[g, q]
                    for p in range(P):
                        diff = Y[q, p] - (Z[q, p] + gq)
                        d[p] += diff * diff
                if g == 0:
                    for p in range(P):
                        best_d[p] = d[p]
                        best_g[p] = 0
                else:
                    for p in range(P):
                        dp = d[p]
                        bd = best_d[p]
                        unsafe += np.int32(0) if abs(dp - bd) > F32_MARGIN * (dp + bd) \
                            else np.int32(1)
                        better = dp < bd
                        best_d[p] = dp if better else bd
                        best_g[p] = np.int32(g) if better else best_g[p]
        if unsafe == 0:
            _store_points(of, Zs, best_g, g32, p0, P, k)
        else:
            lo = p0 * k
            hi = (p0 + P) * k
            nbad += decode_tiles_span(xf[lo:hi].reshape(P, 1, k), of[lo:hi].reshape(P, 1, k),
                                      one, one, nothing, False, nothing, nothing, FAMILY_D, w,
                                      nb, glue, lims)
    return nbad


@njit(cache=True, parallel=True)
def decode_d_f32(xf, of, w, nb, glue, limit, half, bad):
    """:func:`decode_d_f32_span` over chunks of ``CHUNK`` points in parallel (as
    :func:`decode_tiles`); ``bad`` receives each chunk's count of bad coordinates."""
    k = w * nb
    N = xf.shape[0] // k
    n_chunks = (N + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        lo = c * CHUNK
        hi = min(N, lo + CHUNK)
        bad[c] = decode_d_f32_span(xf[lo * k:hi * k], of[lo * k:hi * k], w, nb, glue, limit,
                                   half)


@njit(cache=True)
def indices_beyond(x2, threshold):
    """Indices (int64) of the rows of ``x2`` (N, m), any layout, with a coordinate whose
    magnitude exceeds ``threshold`` (NaN does not): the far points that
    :class:`lattices.Lattice` decodes through an exact lattice vector."""
    N, m = x2.shape
    flags = np.zeros(N, dtype=np.bool_)
    count = 0
    for i in range(N):
        for q in range(m):
            if abs(x2[i, q]) > threshold:
                flags[i] = True
                count += 1
                break
    out = np.empty(count, dtype=np.int64)
    k = 0
    for i in range(N):
        if flags[i]:
            out[k] = i
            k += 1
    return out
