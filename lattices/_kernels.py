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
            finite = True
            for j in range(r):
                for i in range(m):
                    if not np.isfinite(x[p, j, i]):
                        finite = False
            if not finite:
                if bad[c] == 0:
                    bad[c] = p + 1
                continue
            for j in range(r):
                inv = 1.0 / scales[j]
                if use_T:
                    for q in range(k):
                        acc = 0.0
                        for i in range(m):
                            acc += x[p, j, i] * T[i, q]
                        y[q] = acc * inv
                else:
                    for q in range(k):
                        y[q] = x[p, j, q] * inv
                closest_in_cosets(y, glue, family, w, nb, t, z, err, best)
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
                        out[p, j, i] = acc * out_scales[j]
                else:
                    for q in range(k):
                        out[p, j, q] = best[q] * scales[j]
