"""Generic algorithms for an arbitrary full-rank lattice given by a basis.

Conventions: a basis ``B`` is a float64 ``(n, n)`` array whose **rows** are
the basis vectors; the lattice point with integer coefficient (row) vector
``i`` is ``i @ B``.  The caller is responsible for validating the basis
(square, finite, full rank); only cheap sanity checks are made here.

Contents
--------
lll_reduce
    Lenstra-Lenstra-Lovász reduction with an exact integer unimodular
    transformation (Lenstra, Lenstra & Lovász 1982).
GenericDecoder
    Exact closest-point search (Schnorr-Euchner enumeration, algorithm
    "DECODE" of Agrell, Eriksson, Vardy & Zeger 2002) after LLL reduction,
    vectorised over points with a parallel numba kernel.
enumerate_ball
    All lattice points in a ball (Fincke & Pohst 1985 enumeration, visited in
    Schnorr-Euchner zig-zag order).
relevant_vectors, relevant_coefficients
    The Voronoi-relevant vectors, computed with Voronoi's theorem on the
    cosets of ``2 L`` (Conway & Sloane, SPLAG ch. 2 and ch. 21; AEVZ 2002,
    section "Voronoi-relevant vectors").

References
----------
[LLL82] A. K. Lenstra, H. W. Lenstra Jr., L. Lovász, "Factoring polynomials
  with rational coefficients", Math. Ann. 261 (1982), 515-534.
[AEVZ02] E. Agrell, T. Eriksson, A. Vardy, K. Zeger, "Closest point search
  in lattices", IEEE Trans. Inform. Theory 48(8) (2002), 2201-2214.
[FP85] U. Fincke, M. Pohst, "Improved methods for calculating vectors of
  short length in a lattice, including a complexity analysis", Math. Comp.
  44 (1985), 463-471.
[SE94] C. P. Schnorr, M. Euchner, "Lattice basis reduction: improved
  practical algorithms and solving subset sum problems", Math. Programming
  66 (1994), 181-199.
[SPLAG] J. H. Conway, N. J. A. Sloane, "Sphere Packings, Lattices and
  Groups", 3rd ed., Springer 1999, ch. 2 (Voronoi cells, Voronoi's theorem on
  relevant vectors) and ch. 21.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "lll_reduce",
    "GenericDecoder",
    "enumerate_ball",
    "relevant_vectors",
    "relevant_coefficients",
]

#: Points handled per parallel work item of the decoder (amortises scratch).
_BLOCK = 256

#: Relative resolution used to quantise norms / coordinates for sorting.
_SORT_RES = 1e-9


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _as_basis(basis) -> np.ndarray:
    B = np.array(basis, dtype=np.float64, copy=True)
    if B.ndim != 2 or B.shape[0] != B.shape[1] or B.shape[0] == 0:
        raise ValueError(f"basis must be a non-empty square 2-d array, got shape {B.shape}")
    if not np.all(np.isfinite(B)):
        raise ValueError("basis must be finite")
    return np.ascontiguousarray(B)


def _lower_triangular(B_red: np.ndarray):
    """Rotate a basis to lower-triangular form.

    Returns ``(Q, G)`` with ``Q`` orthogonal, ``G = B_red @ Q`` lower
    triangular with a positive diagonal (``G[k, k]`` is the length of the
    k-th Gram-Schmidt vector).  This is the generator matrix form used by
    [AEVZ02] (their ``G`` after the rotation ``Q``).
    """
    Q, R = np.linalg.qr(B_red.T)
    s = np.where(np.diag(R) < 0.0, -1.0, 1.0)
    Q = Q * s[None, :]
    G = np.tril((R * s[:, None]).T)
    return np.ascontiguousarray(Q), np.ascontiguousarray(G)


def _sort_order(norms2: np.ndarray, lex: np.ndarray) -> np.ndarray:
    """Deterministic order: by squared norm, then lexicographically by ``lex`` rows.

    The squared norms are quantised to a relative resolution of ``1e-9`` of
    the largest one, so that floating-point noise does not decide the order
    of equal values; ``lex`` must already be exact (integers or quantised).
    """
    if norms2.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    scale2 = float(np.max(np.abs(norms2)))
    if not scale2 > 0.0:
        scale2 = 1.0
    qn = np.rint(norms2 / (_SORT_RES * scale2))
    keys = tuple(lex[:, j] for j in range(lex.shape[1] - 1, -1, -1)) + (qn,)
    return np.lexsort(keys)


def _quantise_points(V: np.ndarray) -> np.ndarray:
    """Coordinates rounded to ``1e-9`` times the largest vector length (sort keys)."""
    if V.shape[0] == 0:
        return V
    scale = float(np.sqrt(np.max(np.sum(V * V, axis=1))))
    if not scale > 0.0:
        scale = 1.0
    return np.rint(V / (_SORT_RES * scale))


# ---------------------------------------------------------------------------
# LLL
# ---------------------------------------------------------------------------
def lll_reduce(B, delta=0.99):
    """LLL-reduce the rows of a basis, with an exact integer transformation.

    Textbook LLL [LLL82] (size reduction + Lovász swap condition) on the
    rows of ``B``.  The Gram-Schmidt data are recomputed in floating point
    (QR factorisation of the leading rows) from the current basis, which is
    itself always recomputed from the exact integer matrix ``U`` as
    ``U[k] @ B``; size reduction of a row is repeated until no rounding
    coefficient changes, which makes the procedure robust for badly skewed
    inputs.  ``U`` is kept in exact int64 arithmetic and is unimodular by
    construction (it is a product of elementary integer row operations and
    row swaps).

    Parameters
    ----------
    B : array_like, shape (n, n)
        Basis, rows are basis vectors (full rank).
    delta : float, optional
        Lovász parameter, ``1/4 < delta <= 1`` (default 0.99).

    Returns
    -------
    B_red : ndarray of float64, shape (n, n)
        The reduced basis, ``B_red = U @ B`` (computed in extended precision
        ``np.longdouble`` and rounded to float64).
        It satisfies ``|mu_kj| <= 1/2`` (up to rounding) and
        ``|b*_k|^2 >= (delta - mu_{k,k-1}^2) |b*_{k-1}|^2``.
    U : ndarray of int64, shape (n, n)
        Unimodular integer matrix (``|det U| = 1``).

    References
    ----------
    [LLL82] Lenstra, Lenstra & Lovász, Math. Ann. 261 (1982), 515-534.
    """
    B = _as_basis(B)
    delta = float(delta)
    if not (0.25 < delta <= 1.0):
        raise ValueError(f"delta must satisfy 1/4 < delta <= 1, got {delta!r}")
    n = B.shape[0]
    U = np.eye(n, dtype=np.int64)
    Bc = B.copy()
    BL = B.astype(np.longdouble)  # extended precision where available (x86: 64-bit mantissa)
    k = 1
    max_swaps = 100000 + 1000 * n * n
    swaps = 0
    while k < n:
        # --- size reduction of row k (repeated until stable) ---
        for _ in range(100):
            R = np.linalg.qr(Bc[: k + 1].T, mode="r")
            d = np.diag(R).copy()
            mu_k = R[:k, k] / d[:k]  # mu_{k,j}, j < k
            changed = False
            for j in range(k - 1, -1, -1):
                q = np.rint(mu_k[j])
                if q != 0.0:
                    U[k] -= np.int64(q) * U[j]
                    mu_k[:j] -= q * (R[:j, j] / d[:j])
                    mu_k[j] -= q
                    changed = True
            if not changed:
                break
            Bc[k] = (U[k].astype(np.longdouble) @ BL).astype(np.float64)
        # --- Lovász condition ---
        m = mu_k[k - 1]
        if d[k] * d[k] >= (delta - m * m) * d[k - 1] * d[k - 1]:
            k += 1
        else:
            U[[k - 1, k]] = U[[k, k - 1]]
            Bc[[k - 1, k]] = Bc[[k, k - 1]]
            k = max(k - 1, 1)
            swaps += 1
            if swaps > max_swaps:  # pragma: no cover - safety net
                raise RuntimeError("LLL did not terminate (basis numerically singular?)")
    B_red = (U.astype(np.longdouble) @ BL).astype(np.float64)
    return B_red, U


# ---------------------------------------------------------------------------
# numba kernels: Schnorr-Euchner enumeration
# ---------------------------------------------------------------------------
@njit(cache=True, fastmath=False, nogil=True)
def _se_closest(G, y, ubest, res, u, step, dist):
    """Schnorr-Euchner closest point search, algorithm DECODE of [AEVZ02].

    ``G`` is lower triangular with positive diagonal (rows = basis vectors),
    ``y`` the target in the same rotated frame.  Levels are processed from
    ``n-1`` (the row touching every coordinate) down to 0.  ``res[k, :k+1]``
    holds ``y - sum_{i>k} u_i g_i`` restricted to coordinates ``<= k``;
    ``dist[k]`` the squared distance contributed by levels ``> k``.

    The search radius is infinite at the start, so the first leaf reached is
    the Babai nearest-plane point, whose distance becomes the initial radius.
    Updates require a *strict* improvement (``newdist < best``), hence among
    equidistant closest points the first one met in Schnorr-Euchner order
    (centre rounded with ``floor(c + 1/2)``, then zig-zag towards the side
    of the centre first, ``sgn*(0) = -1``) is returned.

    Writes the coefficient vector (as floats) to ``ubest`` and returns the
    squared distance.
    """
    n = G.shape[0]
    for j in range(n):
        res[n - 1, j] = y[j]
    best = np.inf
    k = n - 1
    dist[k] = 0.0
    c = res[k, k] / G[k, k]
    u[k] = np.floor(c + 0.5)
    step[k] = 1.0 if c - u[k] > 0.0 else -1.0
    while True:
        diff = res[k, k] - u[k] * G[k, k]
        nd = dist[k] + diff * diff
        if nd < best:
            if k > 0:
                uk = u[k]
                for j in range(k):
                    res[k - 1, j] = res[k, j] - uk * G[k, j]
                k -= 1
                dist[k] = nd
                c = res[k, k] / G[k, k]
                u[k] = np.floor(c + 0.5)
                step[k] = 1.0 if c - u[k] > 0.0 else -1.0
                continue
            # leaf: strict improvement
            best = nd
            for j in range(n):
                ubest[j] = u[j]
            if n == 1:
                break
            # remaining siblings at level 0 are farther: move up (AEVZ02)
            k = 1
        else:
            if k == n - 1:
                break
            k += 1
        s = step[k]
        u[k] += s
        step[k] = -s - (1.0 if s > 0.0 else -1.0)
    return best


@njit(cache=True, fastmath=False, nogil=True)
def _se_ball(G, y, bound, out, dout, limit):
    """Enumerate every ``u`` with ``||u @ G - y||^2 <= bound`` [FP85], [SE94].

    Nodes are visited in Schnorr-Euchner zig-zag order (so along each level
    distances are non-decreasing and the level is left as soon as the bound
    is exceeded).  The first ``out.shape[0]`` points are written to ``out``
    (coefficients, as floats) and their squared distances to ``dout``.  The
    total count is returned; if ``limit >= 0`` the enumeration stops as soon
    as the count exceeds ``limit``.
    """
    n = G.shape[0]
    cap = out.shape[0]
    res = np.empty((n, n))
    u = np.empty(n)
    step = np.empty(n)
    dist = np.empty(n)
    for j in range(n):
        res[n - 1, j] = y[j]
    count = 0
    k = n - 1
    dist[k] = 0.0
    c = res[k, k] / G[k, k]
    u[k] = np.floor(c + 0.5)
    step[k] = 1.0 if c - u[k] > 0.0 else -1.0
    while True:
        diff = res[k, k] - u[k] * G[k, k]
        nd = dist[k] + diff * diff
        if nd <= bound:
            if k > 0:
                uk = u[k]
                for j in range(k):
                    res[k - 1, j] = res[k, j] - uk * G[k, j]
                k -= 1
                dist[k] = nd
                c = res[k, k] / G[k, k]
                u[k] = np.floor(c + 0.5)
                step[k] = 1.0 if c - u[k] > 0.0 else -1.0
                continue
            if count < cap:
                for j in range(n):
                    out[count, j] = u[j]
                dout[count] = nd
            count += 1
            if limit >= 0 and count > limit:
                return count
            # stay at level 0: next sibling
        else:
            if k == n - 1:
                break
            k += 1
        s = step[k]
        u[k] += s
        step[k] = -s - (1.0 if s > 0.0 else -1.0)
    return count


@njit(cache=True, fastmath=False, parallel=True)
def _closest_batch(Y, G, out):
    """Parallel (over blocks of points) exact closest-point search."""
    N = Y.shape[0]
    n = G.shape[0]
    nblocks = (N + _BLOCK - 1) // _BLOCK
    for b in prange(nblocks):
        res = np.empty((n, n))
        u = np.empty(n)
        step = np.empty(n)
        dist = np.empty(n)
        ub = np.zeros(n)
        lo = b * _BLOCK
        hi = min(N, lo + _BLOCK)
        for p in range(lo, hi):
            _se_closest(G, Y[p], ub, res, u, step, dist)
            for j in range(n):
                out[p, j] = np.int64(ub[j])


@njit(cache=True, fastmath=False, parallel=True)
def _relevant_kernel(G, rtol, counts, coefs):
    """Voronoi's theorem, one coset of ``L / 2L`` per iteration.

    For coset index ``m`` (bits = coefficient vector ``c`` in {0,1}^n) the
    shortest vectors of ``c + 2L`` are ``c + 2j`` where ``j`` runs over the
    lattice points closest to ``t = -(c @ G) / 2``.  ``counts[m]`` receives
    the number of such closest points within the relative tolerance (capped
    at 3) and, when it is exactly 2, ``coefs[m]`` the two vectors ``c + 2j``.
    """
    n = G.shape[0]
    M = counts.shape[0]
    for m in prange(1, M):
        c = np.empty(n)
        for j in range(n):
            c[j] = float((m >> j) & 1)
        t = np.zeros(n)
        for i in range(n):
            if c[i] != 0.0:
                for j in range(i + 1):
                    t[j] -= 0.5 * G[i, j]
        res = np.empty((n, n))
        u = np.empty(n)
        step = np.empty(n)
        dist = np.empty(n)
        ub = np.zeros(n)
        best = _se_closest(G, t, ub, res, u, step, dist)
        buf = np.empty((3, n))
        dbuf = np.empty(3)
        cnt = _se_ball(G, t, best * (1.0 + rtol), buf, dbuf, 2)
        counts[m] = cnt
        if cnt == 2:
            for r in range(2):
                for j in range(n):
                    coefs[m, r, j] = np.int64(c[j] + 2.0 * buf[r, j])


# ---------------------------------------------------------------------------
# decoder
# ---------------------------------------------------------------------------
class GenericDecoder:
    """Exact nearest-point (closest vector) decoder for an arbitrary lattice.

    Precomputation (once per lattice): LLL reduction ``B_red = U @ B``
    [LLL82], the rotation ``Q`` making ``G = B_red @ Q`` lower triangular
    (the enumeration representation of [AEVZ02]), the inverses of the
    original and of the reduced basis.

    Decoding of a point ``x`` (vectorised, numba ``prange`` over points):

    1. Babai rounding in the reduced basis, ``t = rint(x @ B_red^{-1})``, and
       translation to the residual ``r = x - t @ B_red``; this keeps the
       enumeration in small numbers, so inputs of magnitude ~1e6 do not lose
       precision in the search itself.
    2. Exact Schnorr-Euchner closest-point search on ``r @ Q`` (algorithm
       DECODE of [AEVZ02], [SE94]).  The initial radius is infinite, so the
       first leaf is Babai's nearest-plane point and its distance is the
       initial radius; the radius then shrinks on every strict improvement.
    3. The coefficients w.r.t. the original basis are ``(t + u) @ U``.

    Tie-breaking (deterministic: the same input always gives the same
    output, independently of threads and batch composition): among lattice
    points at exactly the same computed distance, the first one reached in
    Schnorr-Euchner order is kept (updates need a strict improvement).  At
    each level the order is ``floor(c + 1/2)`` first, then zig-zag starting
    on the side of the centre ``c`` (towards ``-inf`` when ``c`` is exactly
    an integer), levels ordered from the last Gram-Schmidt vector of the
    LLL-reduced basis down to the first.  At exact ties the chosen point
    depends on this order (and the Babai translation), so translation
    equivariance ``K(x + v) = K(x) + v`` is guaranteed only off ties.

    Parameters
    ----------
    basis : array_like, shape (n, n)
        Basis, rows are basis vectors; full rank.

    Attributes
    ----------
    basis, basis_inv : ndarray
        Original basis and its inverse.
    reduced_basis : ndarray
        LLL-reduced basis, ``reduced_basis = U @ basis``.
    U : ndarray of int64
        Unimodular change of basis.
    Q, G : ndarray
        Rotation and lower-triangular generator, ``G = reduced_basis @ Q``.

    References
    ----------
    [AEVZ02] Agrell, Eriksson, Vardy & Zeger, "Closest point search in
      lattices", IEEE Trans. IT 48(8), 2002 (algorithm DECODE).
    [LLL82] Lenstra, Lenstra & Lovász, Math. Ann. 261 (1982).
    """

    def __init__(self, basis):
        B = _as_basis(basis)
        self.n = B.shape[0]
        self.basis = B
        self.basis_inv = np.linalg.inv(B)
        B_red, U = lll_reduce(B)
        self.reduced_basis = np.ascontiguousarray(B_red)
        self.U = U
        self.reduced_inv = np.linalg.inv(B_red)
        self.Q, self.G = _lower_triangular(B_red)

    def _prepare(self, x):
        X = np.ascontiguousarray(x, dtype=np.float64)
        single = X.ndim == 1
        if single:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.n:
            raise ValueError(f"points must have shape (N, {self.n}), got {np.shape(x)}")
        if not np.all(np.isfinite(X)):
            raise ValueError("points must be finite")
        return X, single

    def _reduced_coefficients(self, x):
        """Coefficients w.r.t. the reduced basis (and whether x was a single point)."""
        X, single = self._prepare(x)
        T = np.rint(X @ self.reduced_inv)
        Y = np.ascontiguousarray((X - T @ self.reduced_basis) @ self.Q)
        out = np.empty(X.shape, dtype=np.int64)
        if X.shape[0]:
            _closest_batch(Y, self.G, out)
        out += T.astype(np.int64)
        return out, single

    def nearest_coefficients(self, x):
        """Integer coefficients (original basis) of the closest lattice points.

        Parameters
        ----------
        x : array_like of float64, shape (N, n)
            Points in ambient coordinates (a single point of shape ``(n,)`` is
            also accepted and gives a result of shape ``(n,)``).

        Returns
        -------
        ndarray of int64, shape (N, n)
            ``k`` such that ``k @ basis`` is a closest lattice point to ``x``
            in the Euclidean norm (ties broken as documented in the class).

        Raises
        ------
        OverflowError
            If the coefficients might not fit in int64 (extremely skewed
            basis combined with very large points).
        """
        red, single = self._reduced_coefficients(x)
        if red.size:
            bound = float(np.abs(red).max()) * float(np.abs(self.U).sum(axis=0).max())
            if bound >= 2.0**62:
                raise OverflowError("coefficients w.r.t. the original basis may not fit in "
                                    "int64 (basis too skewed for points this large); use "
                                    "nearest() instead")
        coef = red @ self.U
        return coef[0] if single else coef

    def nearest(self, x):
        """Closest lattice points, ``nearest_coefficients(x) @ basis``.

        The points are evaluated as (reduced coefficients) ``@ reduced_basis``,
        which is mathematically identical but avoids the cancellation that
        ``coefficients @ basis`` suffers for badly skewed bases.

        Parameters
        ----------
        x : array_like of float64, shape (N, n)

        Returns
        -------
        ndarray of float64, shape (N, n)
        """
        red, single = self._reduced_coefficients(x)
        pts = red.astype(np.float64) @ self.reduced_basis
        return pts[0] if single else pts


# ---------------------------------------------------------------------------
# ball enumeration
# ---------------------------------------------------------------------------
def enumerate_ball(basis, center, radius2, rtol=1e-9):
    """All lattice points in a closed ball (Fincke-Pohst enumeration).

    Returns every integer coefficient vector ``i`` (w.r.t. ``basis``) with
    ``||i @ basis - center||^2 <= radius2``.  The enumeration [FP85] runs on
    the LLL-reduced basis in lower-triangular form, in Schnorr-Euchner
    order [SE94], around the Babai-rounded centre (small residual numbers);
    a numba kernel does the search.  To keep points lying exactly on the
    sphere (e.g. integer norms), the comparison uses the slightly enlarged
    bound ``radius2 + rtol * max(|radius2|, s2)``, where ``s2`` is the largest
    squared length of a reduced basis vector.

    Parameters
    ----------
    basis : array_like, shape (n, n)
        Basis, rows are basis vectors; full rank.
    center : array_like, shape (n,)
        Centre of the ball (ambient coordinates).
    radius2 : float
        Squared radius.
    rtol : float, optional
        Relative slack of the bound (default ``1e-9``).

    Returns
    -------
    ndarray of int64, shape (K, n)
        Coefficient vectors, sorted by squared distance to ``center``
        (quantised to a relative resolution 1e-9 of the largest one), then
        lexicographically by coefficients.

    References
    ----------
    [FP85] Fincke & Pohst, Math. Comp. 44 (1985), 463-471.
    """
    B = _as_basis(basis)
    n = B.shape[0]
    center = np.asarray(center, dtype=np.float64).reshape(-1)
    if center.shape[0] != n:
        raise ValueError(f"center must have length {n}, got {center.shape[0]}")
    radius2 = float(radius2)
    B_red, U = lll_reduce(B)
    Q, G = _lower_triangular(B_red)
    s2 = float(np.max(np.sum(B_red * B_red, axis=1)))
    bound = radius2 + float(rtol) * max(abs(radius2), s2)
    t = np.rint(center @ np.linalg.inv(B_red))
    y = np.ascontiguousarray((center - t @ B_red) @ Q)
    cap = 4096
    while True:
        buf = np.empty((cap, n))
        dbuf = np.empty(cap)
        cnt = _se_ball(G, y, bound, buf, dbuf, -1)
        if cnt <= cap:
            break
        cap = cnt
    coef_red = buf[:cnt].astype(np.int64) + t.astype(np.int64)
    coef = coef_red @ U
    order = _sort_order(dbuf[:cnt], coef)
    return np.ascontiguousarray(coef[order])


# ---------------------------------------------------------------------------
# Voronoi-relevant vectors
# ---------------------------------------------------------------------------
def relevant_coefficients(basis, rtol=1e-9):
    """Coefficient vectors of the Voronoi-relevant vectors.

    Voronoi's theorem ([SPLAG] ch. 2 and ch. 21, [AEVZ02] sec. on
    Voronoi-relevant vectors): a nonzero ``v`` in ``L`` is relevant iff
    ``+-v`` are the only shortest vectors of the coset ``v + 2L``.  Every
    nonzero class of ``L / 2L`` (``c @ B_red`` with ``c`` in ``{0,1}^n``,
    ``B_red`` the LLL-reduced basis) is examined: its shortest vectors
    ``c + 2j`` correspond to the lattice points ``j`` closest to
    ``-(c @ B_red) / 2`` (exact Schnorr-Euchner search), and they are counted
    by a ball enumeration with radius ``min * (1 + rtol)``.  Cosets with
    exactly two minimal vectors contribute both.  The ``2^n - 1`` cosets are
    processed in parallel in a numba kernel (fine for ``n <= 12``, cost
    grows like ``2^n``).

    Parameters
    ----------
    basis : array_like, shape (n, n)
        Basis, rows are basis vectors; full rank.
    rtol : float, optional
        Relative tolerance on squared norms when deciding that two coset
        vectors are equally short (default ``1e-9``).

    Returns
    -------
    ndarray of int64, shape (M, n)
        Coefficients w.r.t. ``basis``, in the order of
        :func:`relevant_vectors`.
    """
    B = _as_basis(basis)
    n = B.shape[0]
    if n > 20:
        raise ValueError(f"relevant vectors need 2^n coset searches; n = {n} is too large")
    B_red, U = lll_reduce(B)
    Q, G = _lower_triangular(B_red)
    M = 1 << n
    counts = np.zeros(M, dtype=np.int64)
    coefs = np.zeros((M, 2, n), dtype=np.int64)
    _relevant_kernel(G, float(rtol), counts, coefs)
    sel = coefs[counts == 2].reshape(-1, n)
    coef = sel @ U
    V = coef.astype(np.float64) @ B
    order = _sort_order(np.sum(V * V, axis=1), _quantise_points(V))
    return np.ascontiguousarray(coef[order])


def relevant_vectors(basis, rtol=1e-9):
    """Voronoi-relevant vectors of the lattice, computed (not tabulated).

    See :func:`relevant_coefficients` for the algorithm (Voronoi's theorem
    on the cosets of ``2L``; [SPLAG] ch. 2, [AEVZ02]).  The Voronoi cell is
    ``{x : <x, v> <= |v|^2 / 2 for all relevant v}``; there are between
    ``2n`` and ``2(2^n - 1)`` of them.

    Parameters
    ----------
    basis : array_like, shape (n, n)
        Basis, rows are basis vectors; full rank.
    rtol : float, optional
        Relative tolerance for comparing squared norms (default ``1e-9``).

    Returns
    -------
    ndarray of float64, shape (M, n)
        The relevant vectors (ambient coordinates), sorted by squared norm,
        then lexicographically by coordinates (both quantised to a relative
        resolution of 1e-9 for sorting).
    """
    B = _as_basis(basis)
    return relevant_coefficients(B, rtol).astype(np.float64) @ B
