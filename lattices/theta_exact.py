r"""Theta series: exact counts of lattice vectors by squared norm.

For a lattice :math:`\Lambda` whose squared norms are integers,

.. math::  \Theta_\Lambda(q) = \sum_{x \in \Lambda} q^{x \cdot x} = \sum_{k \ge 0} N_k\, q^k,
           \qquad N_k = \#\{x \in \Lambda : x \cdot x = k\}

(Conway & Sloane, SPLAG ch. 2 §2.3; the series of the named lattices are in
ch. 4).  :func:`theta_series` returns ``[N_0, ..., N_K]`` as Python ints,
computed by enumerating every vector of norm at most ``K`` (Fincke & Pohst
1985) on the LLL-reduced Gram matrix; products are handled by the identity
:math:`\Theta_{\Lambda_1 \times \Lambda_2} = \Theta_{\Lambda_1}\Theta_{\Lambda_2}`
(SPLAG ch. 2 §2.3), i.e. by convolving the factors' series.

The command line is :mod:`lattices.theta`; this module is the computation, below
:mod:`lattices.lattice` in the import order (``Lattice.theta_series`` calls it), so it
recognizes a lattice by its decoder segments instead of importing the class.

References
----------
[LLL82] A. K. Lenstra, H. W. Lenstra Jr., L. Lovász, "Factoring polynomials with
  rational coefficients", Math. Ann. 261 (1982), 515-534.
[FP85] U. Fincke, M. Pohst, "Improved methods for calculating vectors of short
  length in a lattice, including a complexity analysis", Math. Comp. 44
  (1985), 463-471.
[SE94] C. P. Schnorr, M. Euchner, "Lattice basis reduction: improved practical
  algorithms and solving subset sum problems", Math. Programming 66 (1994),
  181-199.
[SPLAG] J. H. Conway, N. J. A. Sloane, "Sphere Packings, Lattices and Groups",
  3rd ed., Springer 1999: ch. 2 §2.3 (theta series, products), ch. 4 (the
  theta series of Z^n, A_n, D_n, E6, E7, E8 and their duals).
"""
from __future__ import annotations

import math
import numbers
import sys
from fractions import Fraction

import numpy as np
from numba import njit

from ._validation import check_lattice

__all__ = ["theta_series", "norm_unit", "expected_leaves", "expected_seconds", "expected_bytes"]

#: Absolute tolerance (relative for entries above 1) when deciding that a
#: Gram entry is an integer (diagonal) or a half-integer (off-diagonal).
_TOL = 1e-9

#: Largest denominator tried when suggesting a scaling that makes norms integral.
_MAX_DENOMINATOR = 1000

#: Relative slack of the floating-point pruning bound.  Pruning may only keep
#: too many nodes, never lose one: every leaf is then checked in exact integers.
_SLACK = 1e-7

#: Integer magnitudes the kernel may reach (int64 with a safety margin).
_INT_LIMIT = 2**62


# ---------------------------------------------------------------------------
# numba kernel: Fincke-Pohst enumeration of half the ball, exact integer norms
# ---------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _interval(c, rem, qkk):
    """Integers ``x`` with ``qkk (x - c)^2 <= rem`` as ``(lo, hi)`` (empty: lo > hi)."""
    if rem < 0.0:
        return 1, 0
    r = math.sqrt(rem / qkk)
    return int(math.ceil(c - r)), int(math.floor(c + r))


@njit(cache=True, nogil=True)
def _count_half(qt, G2, max_norm, bound, top_lo, top_hi):
    """Histogram of the squared norms of one vector of each pair ``+-x``, ``0 < |x|^2 <= max_norm``,
    among the vectors whose last coordinate ``x_{n-1}`` lies in ``[top_lo, top_hi]``.

    ``G2`` is the integer matrix ``2 G`` (``G`` the Gram matrix of the
    LLL-reduced basis, so ``x G2 x^T = 2 |x|^2``).  ``qt`` holds the
    Fincke-Pohst form of ``G`` [FP85]: with ``G = R^T R`` (R upper triangular),

        |x|^2 = sum_i q_ii (x_i + sum_{j>i} q_ij x_j)^2,  q_ii = R_ii^2, q_ij = R_ij / R_ii,

    stored transposed (``qt[j, i] = q_ij``) so the updates read contiguous rows.
    Levels run from ``n-1`` down to ``0``; at level ``k`` the coordinates
    ``x_{>k}`` are fixed and ``x_k`` runs over the integer interval allowed by
    the float partial sum ``dist[k]`` and ``bound`` (slightly above
    ``max_norm``, so no vector of norm ``<= max_norm`` is pruned).

    With a fixed radius the set of visited nodes does not depend on the order
    in which a level's interval is scanned, so the interval is scanned in
    increasing order (the Schnorr-Euchner zig-zag [SE94] pays off only when the
    radius shrinks during the search).

    Each pair ``+-x`` is counted once: the last nonzero coordinate (the first
    one met, from level ``n-1`` down) is positive.  The slices ``x_{n-1} = v``
    partition the vectors, so the histograms of disjoint ranges add up (the
    caller may enumerate slice by slice to show progress).  Along the way the exact
    integer data ``y[k, i] = sum_{j>k} G2[i, j] x_j`` (``i <= k``) and
    ``T[k] = x_{>k} G2 x_{>k}^T`` are carried, so at the last level the norm of
    every leaf is the integer quadratic ``T[0] + x_0 (2 y[0, 0] + G2[0, 0] x_0)``:
    the histogram is exact whatever the rounding of the float pruning.
    """
    n = qt.shape[0]
    hist = np.zeros(max_norm + 1, np.int64)
    two_max = 2 * max_norm
    x = np.zeros(n, np.int64)
    hi = np.zeros(n, np.int64)
    dist = np.zeros(n)  # float partial norm of the levels > k
    s = np.zeros((n, n))  # s[k, i] = sum_{j>k} q_ij x_j, i <= k (minus the centre)
    y = np.zeros((n, n), np.int64)  # y[k, i] = sum_{j>k} G2[i, j] x_j, i <= k
    T = np.zeros(n, np.int64)  # T[k] = x_{>k} G2 x_{>k}^T
    zero = np.zeros(n, np.bool_)  # all x_{>k} are zero
    k = n - 1
    zero[k] = True
    lo, h = _interval(0.0, bound, qt[k, k])
    x[k] = max(lo, top_lo, 1 if k == 0 else 0)
    hi[k] = min(h, top_hi)
    if n == 1:
        for x0 in range(x[0], hi[0] + 1):
            N2 = G2[0, 0] * x0 * x0
            if N2 <= two_max:
                hist[N2 >> 1] += 1
        return hist
    while True:
        if x[k] > hi[k]:
            k += 1
            if k == n:
                break
            x[k] += 1
            continue
        xk = x[k]
        d = xk + s[k, k]  # x_k - centre
        km = k - 1
        for i in range(k):
            s[km, i] = s[k, i] + qt[k, i] * xk
            y[km, i] = y[k, i] + G2[k, i] * xk
        T[km] = T[k] + xk * (2 * y[k, k] + G2[k, k] * xk)
        dist[km] = dist[k] + qt[k, k] * d * d
        zero[km] = zero[k] and xk == 0
        if km == 0:
            # leaf level: x_0 runs over an interval, norms are exact integers
            lo, h = _interval(-s[0, 0], bound - dist[0], qt[0, 0])
            if zero[0]:
                lo = max(lo, 1)
            b = 2 * y[0, 0]
            g = G2[0, 0]
            t = T[0]
            for x0 in range(lo, h + 1):
                N2 = t + x0 * (b + g * x0)
                if N2 <= two_max:
                    hist[N2 >> 1] += 1
            x[k] += 1
            continue
        k = km
        lo, h = _interval(-s[k, k], bound - dist[k], qt[k, k])
        if zero[k]:
            lo = max(lo, 0)
        x[k] = lo
        hi[k] = h
    return hist


@njit(cache=True, nogil=True)
def _lll_gram(G2, delta, max_steps):
    """LLL reduction [LLL82] of the basis with integer Gram matrix ``G2 / 2``, in place.

    Works on the Gram matrix only: the Gram-Schmidt data come from a float
    Cholesky factorisation of the leading block (recomputed from the exact
    integer Gram matrix at each step), the row operations are applied exactly
    to ``G2`` (int64) and to the unimodular ``U``.  Only the speed of the
    enumeration depends on the quality of the reduction, never its result.
    Returns ``(U, ok)``; ``ok`` is False if ``max_steps`` was exceeded or an
    entry could leave int64 (the caller then falls back to the reference LLL).
    """
    n = G2.shape[0]
    U = np.eye(n, dtype=np.int64)
    L = np.zeros((n, n))  # L[k, j] = mu_kj (j < k), L[k, k] = |b*_k|^2
    L[0, 0] = 0.5 * G2[0, 0]
    steps = 0
    k = 1
    while k < n:
        steps += 1
        if steps > max_steps:
            return U, False
        for rep in range(2):  # size reduction, then refresh mu once more
            for j in range(k + 1):  # Gram-Schmidt coefficients of row k
                v = 0.5 * G2[k, j]
                for i in range(j):
                    v -= L[k, i] * L[j, i] * L[i, i]
                L[k, j] = v if j == k else v / L[j, j]
            changed = False
            for j in range(k - 1, -1, -1):
                q = np.rint(L[k, j])
                if q != 0.0:
                    # int64 guard: every entry touched stays below (1 + |q|)^2 max(rows j, k)
                    m = 1.0
                    for i in range(n):
                        m = max(m, abs(float(G2[j, i])), abs(float(G2[k, i])),
                                abs(float(U[j, i])), abs(float(U[k, i])))
                    if (1.0 + abs(q)) ** 2 * m >= 2.0**62:
                        return U, False
                    qi = np.int64(q)
                    for i in range(n):  # b_k -= q b_j
                        U[k, i] -= qi * U[j, i]
                    for i in range(n):
                        G2[k, i] -= qi * G2[j, i]
                    for i in range(n):
                        G2[i, k] -= qi * G2[i, j]
                    for i in range(j):
                        L[k, i] -= q * L[j, i]
                    L[k, j] -= q
                    changed = True
            if not changed:
                break
        # |b*_k|^2 after size reduction
        v = 0.5 * G2[k, k]
        for i in range(k):
            v -= L[k, i] * L[k, i] * L[i, i]
        L[k, k] = v
        m = L[k, k - 1]
        if L[k, k] >= (delta - m * m) * L[k - 1, k - 1]:
            k += 1
        else:  # swap b_k, b_{k-1}
            for i in range(n):
                U[k, i], U[k - 1, i] = U[k - 1, i], U[k, i]
            for i in range(n):
                G2[k, i], G2[k - 1, i] = G2[k - 1, i], G2[k, i]
            for i in range(n):
                G2[i, k], G2[i, k - 1] = G2[i, k - 1], G2[i, k]
            if k > 1:
                k -= 1
            else:  # row 0 changed: refresh its Gram-Schmidt norm
                L[0, 0] = 0.5 * G2[0, 0]
    return U, True


# ---------------------------------------------------------------------------
# integrality of the norms
# ---------------------------------------------------------------------------
def _gram2_or_none(gram):
    """``2 G`` as an int64 matrix if the norms ``x G x^T`` are integers, else None.

    Integral norms for all integer ``x`` <=> ``G_ii`` integers and ``2 G_ij``
    integers (SPLAG ch. 2 §2.3: an integral quadratic form).
    """
    G2f = 2.0 * np.asarray(gram, dtype=np.float64)
    G2 = np.rint(G2f)
    ok = np.abs(G2f - G2) <= _TOL * np.maximum(1.0, np.abs(G2f))
    if not ok.all() or np.any(np.abs(G2) >= _INT_LIMIT):
        return None
    G2 = G2.astype(np.int64)
    if np.any(np.diag(G2) % 2):
        return None
    return G2


def _offending_entries(gram, limit=6):
    """Up to ``limit`` strings ``G[i,j] = value`` for the non-integral norm entries."""
    G = np.asarray(gram, dtype=np.float64)
    n = G.shape[0]
    out = []
    for i in range(n):
        for j in range(i, n):
            v = G[i, j] if i == j else 2.0 * G[i, j]
            if abs(v - round(v)) > _TOL * max(1.0, abs(v)):
                out.append(f"G[{i},{j}] = {G[i, j]:.10g}")
                if len(out) == limit:
                    return out
    return out


def _integralising_factor(gram):
    """The smallest integer d making ``d G_ii`` and ``2 d G_ij`` integers, or None.

    Only rationals with denominators up to ``_MAX_DENOMINATOR`` are tried.
    """
    G = np.asarray(gram, dtype=np.float64)
    n = G.shape[0]
    d = 1
    for i in range(n):
        for j in range(i, n):
            v = float(G[i, j] if i == j else 2.0 * G[i, j])
            f = Fraction(v).limit_denominator(_MAX_DENOMINATOR)
            if abs(v - f.numerator / f.denominator) > _TOL * max(1.0, abs(v)):
                return None
            d = d * f.denominator // math.gcd(d, f.denominator)
            if d > _MAX_DENOMINATOR:
                return None
    return d


def _not_integral_error(lattice, gram, why):
    bad = _offending_entries(gram)
    msg = (f"theta_series needs a lattice whose squared norms are integers (Gram diagonal "
           f"integral, 2 x off-diagonal integral); {lattice.name!r} has {', '.join(bad)}")
    if why:
        msg += f" ({why})"
    d = _integralising_factor(gram)
    if d is not None:
        r = math.isqrt(d)
        factor = str(r) if r * r == d else f"math.sqrt({d})"
        msg += (f"; its squared norms are multiples of 1/{d}, so use "
                f"lattice.scaled({factor}) (squared norms times {d})")
    else:
        msg += (f"; no scaling by sqrt(d) with d <= {_MAX_DENOMINATOR} makes them integral, "
                f"so no theta series with integer exponents is available")
    return ValueError(msg)


def _blocks(lattice):
    """The diagonal blocks: a list of ``(spec, scale)``, one per copy of each segment."""
    return [(block.spec, block.scale) for block in lattice.blocks()]


def _plan(lattice):
    """How to count: ``(unit, [(G2, multiplicity), ...])`` with ``G2 = 2 x Gram`` (int64).

    ``unit`` is the squared norm of exponent 1: 1.0 when the lattice's own
    norms are integral (rule a), ``s**2`` when every block has the common
    scale ``s`` and the unscaled lattice is integral (rule b).  Identical
    blocks (same spec, same scale) are grouped with their multiplicity.
    """
    blocks = _blocks(lattice)
    groups = {}
    for spec, s in blocks:
        key = (id(spec), s)
        if key in groups:
            groups[key][2] += 1
        else:
            groups[key] = [spec, s, 1]

    def attempt(use_scale):
        out = []
        for spec, s, mult in groups.values():
            B = np.asarray(spec.basis, dtype=np.float64) * (s if use_scale else 1.0)
            G2 = _gram2_or_none(B @ B.T)
            if G2 is None:
                return None
            out.append((G2, mult, spec, s if use_scale else 1.0))
        return out

    plan = attempt(True)
    if plan is not None:  # rule (a)
        return 1.0, plan
    scales = np.array([s for _, s in blocks])
    common = bool(np.all(np.abs(scales - scales[0]) <= 1e-12 * scales[0]))
    if common and scales[0] == 1.0:
        why = ""
    elif common:
        plan = attempt(False)
        if plan is not None:  # rule (b)
            return float(scales[0]) ** 2, plan
        why = f"nor has the unscaled lattice (common scale {scales[0]:g})"
    else:
        why = (f"the blocks have different scales {sorted(set(np.round(scales, 12).tolist()))}, "
               f"so no common unit of squared norm exists")
    raise _not_integral_error(lattice, lattice.gram, why)


def _check_max_norm(max_norm) -> int:
    if isinstance(max_norm, bool) or not isinstance(max_norm, (numbers.Integral, np.integer)):
        raise TypeError(f"max_norm must be a non-negative int, got {max_norm!r} "
                        f"of type {type(max_norm).__name__}")
    max_norm = int(max_norm)
    if max_norm < 0:
        raise ValueError(f"max_norm must be a non-negative int, got {max_norm}")
    return max_norm


# ---------------------------------------------------------------------------
# series of one block, products
# ---------------------------------------------------------------------------
def _components(G2):
    """Index sets of the orthogonal summands: connected components of ``G2 != 0``.

    Basis vectors in different components are orthogonal, so the lattice is
    the orthogonal sum of the sublattices they span (``Z^n``: n copies of Z).
    """
    n = G2.shape[0]
    label = [-1] * n
    comps = []
    for start in range(n):
        if label[start] >= 0:
            continue
        label[start] = len(comps)
        stack, comp = [start], []
        while stack:
            i = stack.pop()
            comp.append(i)
            for j in np.flatnonzero(G2[i]):
                if label[j] < 0:
                    label[j] = len(comps)
                    stack.append(int(j))
        comps.append(sorted(comp))
    return comps


def _block_theta(G2, max_norm, bar=None):
    """Theta series of the lattice with integer Gram matrix ``G2 / 2``.

    Orthogonal summands are enumerated separately (identical ones once) and
    their series multiplied (SPLAG ch. 2 §2.3).  ``bar``: see :func:`_enumerate_theta`.
    """
    if max_norm == 0:
        return [1]
    comps = _components(G2)
    if len(comps) == 1:
        return _enumerate_theta(G2, max_norm, bar)
    groups = {}
    for c in comps:
        Gc = np.ascontiguousarray(G2[np.ix_(c, c)])
        key = (len(c), Gc.tobytes())
        if key in groups:
            groups[key][1] += 1
        else:
            groups[key] = [Gc, 1]
    result = None
    for Gc, mult in groups.values():
        block = _power(_enumerate_theta(Gc, max_norm, bar), mult, max_norm)
        result = block if result is None else _convolve(result, block, max_norm)
    return result


def _slice_weights(qt, bound, values):
    """Expected share of the enumeration's leaves in each slice ``x_{n-1} = v`` (for a
    progress bar only): the volume ``V_{n-1} rem^{(n-1)/2} / prod_{i<n-1} sqrt(q_ii)`` of the
    slice of the ellipsoid, ``rem = bound - q_{n-1,n-1} v^2``, halved at ``v = 0``."""
    n = qt.shape[0]
    q = np.diag(qt)
    rem = np.maximum(bound - q[-1] * np.asarray(values, dtype=float) ** 2, 0.0)
    log_unit = ((n - 1) / 2) * math.log(math.pi) - math.lgamma((n - 1) / 2 + 1) \
        - 0.5 * float(np.log(q[:-1]).sum())
    w = np.exp(np.minimum(log_unit + ((n - 1) / 2) * np.log(np.maximum(rem, 1e-300)), 700.0))
    return np.where(np.asarray(values) == 0, 0.5 * w, w)


def _enumerate_theta(G2, max_norm, bar=None):
    """Theta series of one orthogonally indecomposable block, by enumeration.

    ``bar``: None, or a tqdm bar; then the enumeration runs slice by slice of
    its last coordinate (the same vectors, so the same counts) and the bar
    advances by each slice's expected number of vectors (:func:`_slice_weights`).
    """
    n = G2.shape[0]
    G2r = np.array(G2, dtype=np.int64, copy=True)
    U, ok = _lll_gram(G2r, 0.99, 100000 + 1000 * n * n)
    Uo = U.astype(object)
    exact = Uo @ G2.astype(object) @ Uo.T  # the reduced Gram matrix (times 2) in exact integers
    if not ok or not np.array_equal(exact, G2r.astype(object)):
        # int64 range or step limit hit in the fast path: the reference LLL of _generic
        from ._generic import lll_reduce

        _, U = lll_reduce(np.linalg.cholesky(G2.astype(np.float64) / 2.0))
        Uo = U.astype(object)
        exact = Uo @ G2.astype(object) @ Uo.T
        if np.max(np.abs(exact)) >= _INT_LIMIT:  # pragma: no cover - absurd bases only
            raise ValueError("the reduced Gram matrix does not fit in int64")
        G2r = np.array(exact.tolist(), dtype=np.int64)
    G = G2r.astype(np.float64) / 2.0
    R = np.linalg.cholesky(G).T  # G = R^T R, R upper triangular
    diag = np.diag(R)
    qt = np.ascontiguousarray((R / diag[:, None]).T)  # qt[j, i] = q_ij = R_ij / R_ii
    qt[np.diag_indices(n)] = diag * diag  # q_ii
    bound = max_norm * (1.0 + _SLACK) + _SLACK
    # |x_i| <= sqrt(bound (G^-1)_ii): keep every integer the kernel forms inside int64
    xmax = np.sqrt(bound * np.maximum(np.diag(np.linalg.inv(G)), 0.0)).max() + 2.0
    if float(n) * n * (np.abs(G2r).max() + 1) * xmax * xmax >= _INT_LIMIT:
        raise ValueError(f"max_norm = {max_norm} is too large for exact int64 enumeration")
    top_lo, top_hi = _interval(0.0, bound, qt[n - 1, n - 1])
    if bar is None or n == 1:
        half = _count_half(qt, G2r, max_norm, bound, top_lo, top_hi)
    else:
        values = list(range(max(top_lo, 0), top_hi + 1))
        weights = _slice_weights(qt, bound, values)
        bar.total = (bar.total or 0) + float(weights.sum())
        bar.refresh()
        half = np.zeros(max_norm + 1, np.int64)
        for v, wv in zip(values, weights):
            half += _count_half(qt, G2r, max_norm, bound, v, v)
            bar.update(float(wv))
    half[0] = 0
    theta = (2 * half).tolist()  # each pair +-x was counted once
    theta[0] = 1
    return theta


def _known_theta(spec, s, max_norm):
    """The exact series of a block whose spec has a closed form (BW16, Leech: a modular form;
    :meth:`lattices.spec.LatticeSpec.theta_exact`), or None.

    Norms of the block scaled by ``s`` are ``s**2`` times its unit-scale norms;
    the known series is used when ``s**2`` times the unit-scale factor is an integer.
    """
    k = round(s * s)
    if abs(s * s - k) > 1e-9 * s * s or k < 1:
        return None
    base = spec.theta_exact(max_norm // k)
    if base is None:
        return None
    out = [0] * (max_norm + 1)
    for n, c in enumerate(base):
        out[k * n] = c
    return out


def _convolve(a, b, max_norm):
    """Coefficients of the product of two series, truncated at ``q^max_norm`` (exact ints)."""
    out = [0] * (max_norm + 1)
    for i, ai in enumerate(a):
        if ai:
            for j in range(min(len(b), max_norm + 1 - i)):
                out[i + j] += ai * b[j]
    return out


def _power(a, r, max_norm):
    """``a**r`` (r >= 1) truncated at ``q^max_norm``, by repeated squaring."""
    result = None
    base = list(a)
    while r:
        if r & 1:
            result = base if result is None else _convolve(result, base, max_norm)
        r >>= 1
        if r:
            base = _convolve(base, base, max_norm)
    return result


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------
def norm_unit(lattice) -> float:
    """The squared norm counted by exponent 1 of :func:`theta_series`.

    1.0 when the lattice's own squared norms are integers; ``s**2`` when all
    blocks share one scale ``s`` and the unscaled lattice is integral (e.g.
    ``lattices.get("e8", scale=0.5)`` gives 0.25).  Raises ``ValueError`` as
    :func:`theta_series` does otherwise.

    >>> import lattices
    >>> norm_unit(lattices.get("e8", scale=0.5))
    0.25
    """
    check_lattice(lattice)
    return _plan(lattice)[0]


def theta_series(lattice, max_norm, progress=False) -> list:
    r"""Exact number of lattice vectors of each squared norm ``0..max_norm``.

    .. math::  \Theta_\Lambda(q) = \sum_{x \in \Lambda} q^{x \cdot x}
               = \sum_{k} N_k q^k  \qquad \text{(SPLAG ch. 2 §2.3)}

    Parameters
    ----------
    lattice : :class:`lattices.Lattice`
    max_norm : int
        Largest squared norm counted (non-negative; ``bool`` is rejected).
    progress : bool
        Show a tqdm bar on stderr (in expected vectors); the counts do not
        depend on it.

    Returns
    -------
    list of int
        ``theta[k]`` = number of vectors ``x`` with ``x . x = k`` (so
        ``theta[0] == 1``), exact Python integers.  If the lattice's squared
        norms are not integers but all its blocks carry one common scale ``s``
        and the unscaled lattice is integral (``lattices.get("e8", scale=0.5)``),
        entry ``k`` counts the vectors of squared norm ``k * s**2`` (see
        :func:`norm_unit`).

    Raises
    ------
    TypeError
        ``max_norm`` is not an int, or ``lattice`` is not a Lattice.
    ValueError
        ``max_norm < 0``, or the squared norms are not integral (not even
        after removing a common scale).  The message names the offending Gram
        entries and, when the norms are rational with a small denominator
        ``d``, the scaling ``lattice.scaled(sqrt(d))`` that makes them integral
        (``a3*``: multiples of 1/4, use ``scaled(2)``).

    Notes
    -----
    Algorithm: the basis is LLL-reduced and its exact integer Gram matrix
    ``2 G`` formed; then a numba kernel runs the Fincke-Pohst enumeration
    [FP85] of all vectors with ``x G x^T <= max_norm`` over the Cholesky form
    of ``G``, on half of space (one vector of each pair ``+-x``; the counts are
    doubled), and histograms the exact integer norms without storing any point.
    The float Cholesky form is used only to prune, with a slack that can only
    keep extra nodes; each leaf's norm is an exact integer quadratic, so the
    result is exact.  A product (several blocks, e.g. ``product([a2, e8])``
    or ``a2^16``) is the product of its blocks' series (SPLAG ch. 2 §2.3),
    computed by exact convolution; identical blocks are enumerated once.

    The work grows like the number of vectors counted (about
    ``V_n max_norm^{n/2} / vol``): E8 up to norm 40 visits 5 * 10^6 leaves.

    References
    ----------
    U. Fincke, M. Pohst, Math. Comp. 44 (1985), 463-471.
    J. H. Conway, N. J. A. Sloane, SPLAG, 3rd ed. (1999), ch. 2 §2.3 and ch. 4.

    Examples
    --------
    >>> import lattices
    >>> theta_series(lattices.get("e8"), 4)  # 240 roots, 2160 vectors of norm 4
    [1, 0, 240, 0, 2160]
    >>> theta_series(lattices.get("a2"), 3)  # hexagonal lattice, minimal norm 1
    [1, 6, 0, 6]
    """
    check_lattice(lattice)
    max_norm = _check_max_norm(max_norm)
    _, plan = _plan(lattice)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="vector", unit_scale=True, file=sys.stderr, leave=False,
                   desc=f"theta series of {lattice.name}", dynamic_ncols=True)
    result = None
    try:
        for G2, mult, spec, s in plan:
            block = _power(_known_theta(spec, s, max_norm) or _block_theta(G2, max_norm, bar),
                           mult, max_norm)
            result = block if result is None else _convolve(result, block, max_norm)
    finally:
        if bar is not None:
            bar.close()
    return result


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------
def expected_leaves(lattice, max_norm: int) -> float:
    """Vectors the enumeration visits, about half the lattice points in the ball of squared
    radius ``max_norm`` of each distinct block: ``V_n K^{n/2} / (2 sqrt(det Gram))``."""
    total = 0.0
    for G2, _, spec, _ in _plan(lattice)[1]:
        if spec.theta_exact(0) is not None:
            continue                        # BW16, Leech: a modular form, no enumeration
        n = G2.shape[0]
        det = float(np.linalg.det(np.asarray(G2, dtype=float) / 2.0))
        log_ball = (n / 2) * math.log(math.pi) - math.lgamma(n / 2 + 1) + (n / 2) * math.log(max(max_norm, 1))
        total += 0.5 * math.exp(min(log_ball - 0.5 * math.log(det), 700.0))
    return total


def expected_bytes(lattice, max_norm: int) -> float:
    """Bytes ``theta_series(lattice, max_norm)`` holds: about six float64/int64 arrays of
    ``max_norm + 1`` coefficients per distinct block, plus two for the product (the size rule
    of ``python -m lattices.theta``, checked with :func:`lattices.cli.check_memory`)."""
    return 48.0 * (max_norm + 1) * (len(_plan(lattice)[1]) + 2)


def expected_seconds(lattice, max_norm: int) -> float:
    """Seconds ``theta_series(lattice, max_norm)`` should take here: the vectors to visit
    (:func:`expected_leaves`) at the rate of a timed pilot of about 10^5 vectors."""
    import time

    leaves = expected_leaves(lattice, max_norm)
    if leaves < 1e6:
        return 0.0
    pilot = max(1, int(max_norm * (1e5 / leaves) ** (2.0 / max(lattice.dim, 1))))
    theta_series(lattice, min(pilot, 4))                    # compile the kernel
    t0 = time.perf_counter()
    theta_series(lattice, pilot)
    rate = expected_leaves(lattice, pilot) / max(time.perf_counter() - t0, 1e-6)
    return leaves / rate
