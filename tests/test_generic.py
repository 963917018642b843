"""Tests of lattices._generic: LLL, exact closest point, ball enumeration, relevant vectors."""
from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lattices._generic import (
    GenericDecoder,
    enumerate_ball,
    lll_reduce,
    relevant_coefficients,
    relevant_vectors,
)

SETTINGS = settings(deadline=None, max_examples=60,
                    suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(min_value=0, max_value=2**32 - 1)


# ---------------------------------------------------------------------------
# lattices and helpers
# ---------------------------------------------------------------------------
def e8_basis():
    B = np.zeros((8, 8))
    B[0, 0] = 2.0
    for i in range(1, 7):
        B[i, i] = 1.0
        B[i, i - 1] = -1.0
    B[7, :] = 0.5
    return B


A2 = np.array([[0.0, 1.0], [np.sqrt(0.75), 0.5]])
D4 = np.array([(-1, -1, 0, 0), (1, -1, 0, 0), (0, 1, -1, 0), (0, 0, 1, -1)], dtype=float)
D3 = np.array([(1, 1, 0), (1, -1, 0), (0, 1, -1)], dtype=float)
A3STAR = np.array([(1, 1, -1), (1, -1, 1), (-1, 1, 1)], dtype=float)  # body-centred cubic
E8 = e8_basis()


def exact_det(M):
    """Exact integer determinant (Bareiss fraction-free elimination)."""
    A = [[int(v) for v in row] for row in np.asarray(M)]
    n = len(A)
    sign, prev = 1, 1
    for k in range(n - 1):
        if A[k][k] == 0:
            for r in range(k + 1, n):
                if A[r][k] != 0:
                    A[k], A[r] = A[r], A[k]
                    sign = -sign
                    break
            else:
                return 0
        for i in range(k + 1, n):
            for j in range(k + 1, n):
                A[i][j] = (A[i][j] * A[k][k] - A[i][k] * A[k][j]) // prev
        prev = A[k][k]
    return sign * A[n - 1][n - 1]


def _unitri_inverse(T):
    """Exact inverse of a unit lower-triangular integer matrix (Python ints)."""
    n = T.shape[0]
    X = [[int(i == j) for j in range(n)] for i in range(n)]
    for i in range(n):
        for j in range(i):
            X[i][j] = -sum(int(T[i, k]) * X[k][j] for k in range(j, i))
    return np.array(X, dtype=object)


def random_unimodular(rng, n, mag=12, with_inverse=False):
    """Random unimodular integer matrix P @ L @ R (entries of order ~100).

    With ``with_inverse`` also its exact inverse (int64, checked)."""
    L = np.tril(rng.integers(-mag, mag + 1, size=(n, n)), -1) + np.eye(n, dtype=np.int64)
    R = np.triu(rng.integers(-mag, mag + 1, size=(n, n)), 1) + np.eye(n, dtype=np.int64)
    P = np.eye(n, dtype=np.int64)[rng.permutation(n)]
    U = (P @ L @ R).astype(np.int64)
    if not with_inverse:
        return U
    Rinv = _unitri_inverse(R.T).T
    Linv = _unitri_inverse(L)
    Uinv = Rinv.dot(Linv).dot(P.T.astype(object))
    assert max(abs(int(v)) for v in Uinv.ravel()) < 2**62
    Uinv = Uinv.astype(np.int64)
    assert np.array_equal(U @ Uinv, np.eye(n, dtype=np.int64))
    return U, Uinv


def random_lattice(rng, n, skew):
    """Returns (B, B0, U0inv) with B = U0 @ B0, B0 well conditioned, U0 unimodular.

    B0 has dyadic entries (multiples of 1/64) so that B and moderate integer
    combinations of its rows are exact in float64; U0inv is the exact inverse."""
    while True:
        B0 = np.eye(n) + np.rint(0.3 * 64 * rng.normal(size=(n, n))) / 64
        if np.linalg.cond(B0) < 4.0:  # keeps brute-force boxes small
            break
    if skew:
        U0, U0inv = random_unimodular(rng, n, with_inverse=True)
    else:
        U0 = U0inv = np.eye(n, dtype=np.int64)
    return U0.astype(float) @ B0, B0, U0inv


def brute_closest(B0, x):
    """All lattice points of B0 (coefficients) in a box provably containing the closest one.

    Returns (coefficients m sorted by distance, squared distances)."""
    B0inv = np.linalg.inv(B0)
    z = x @ B0inv
    r = np.linalg.norm(np.rint(z) @ B0 - x) * (1 + 1e-9)
    h = r * np.linalg.norm(B0inv, axis=0)
    ranges = [np.arange(np.ceil(z[j] - h[j]), np.floor(z[j] + h[j]) + 1) for j in range(len(x))]
    M = np.array(list(itertools.product(*ranges)))
    d2 = np.sum((M @ B0 - x) ** 2, axis=1)
    o = np.argsort(d2, kind="stable")
    return M[o].astype(np.int64), d2[o]


def gso(B):
    """Gram-Schmidt: mu (lower, unit diagonal) and squared norms of b*_i."""
    n = B.shape[0]
    Bs = np.zeros_like(B)
    mu = np.eye(n)
    for i in range(n):
        v = B[i].copy()
        for j in range(i):
            mu[i, j] = B[i] @ Bs[j] / (Bs[j] @ Bs[j])
            v -= mu[i, j] * Bs[j]
        Bs[i] = v
    return mu, np.sum(Bs * Bs, axis=1)


# ---------------------------------------------------------------------------
# LLL
# ---------------------------------------------------------------------------
@pytest.mark.theorem
@SETTINGS
@given(seed=seeds, n=st.integers(2, 10), skew=st.booleans())
def test_lll_reduced_and_unimodular(seed, n, skew):
    rng = np.random.default_rng(seed)
    B, _, _ = random_lattice(rng, n, skew)
    delta = 0.99
    B_red, U = lll_reduce(B, delta)
    assert U.dtype == np.int64 and U.shape == (n, n)
    assert abs(exact_det(U)) == 1
    # B_red == U @ B, checked in exact rational arithmetic (U may have huge entries)
    Bf = [[Fraction(float(v)) for v in row] for row in B]
    exact = np.array([[float(sum(int(U[i, k]) * Bf[k][j] for k in range(n))) for j in range(n)]
                      for i in range(n)])
    np.testing.assert_allclose(B_red, exact, rtol=0, atol=1e-12 * np.abs(exact).max())
    mu, bs2 = gso(B_red)
    assert np.all(np.abs(mu[np.tril_indices(n, -1)]) <= 0.5 + 1e-6)
    for k in range(1, n):
        assert bs2[k] >= (delta - mu[k, k - 1] ** 2) * bs2[k - 1] * (1 - 1e-8)
    # a skewed basis really gets shorter
    if skew:
        assert np.max(np.linalg.norm(B_red, axis=1)) < np.max(np.linalg.norm(B, axis=1))


def test_lll_skewed_Zn_recovers_short_basis():
    rng = np.random.default_rng(3)
    U0 = random_unimodular(rng, 4)
    assert np.abs(U0).max() >= 30  # really skewed
    B_red, U = lll_reduce(U0.astype(float))
    # Z^4 has no vector shorter than 1: first reduced vector within the LLL bound
    assert np.linalg.norm(B_red[0]) ** 2 <= (1 / (0.99 - 0.25)) ** 3 + 1e-9
    assert abs(exact_det(U)) == 1
    assert abs(abs(np.linalg.det(B_red)) - 1.0) < 1e-9


def test_lll_trivial_and_bad_delta():
    B_red, U = lll_reduce([[3.0]])
    assert B_red.shape == (1, 1) and U.tolist() == [[1]]
    with pytest.raises(ValueError):
        lll_reduce(np.eye(2), delta=0.2)


# ---------------------------------------------------------------------------
# GenericDecoder
# ---------------------------------------------------------------------------
@pytest.mark.theorem
@SETTINGS
@given(seed=seeds, n=st.integers(2, 5), skew=st.booleans(),
       scale=st.sampled_from([1e-6, 1.0, 1e6]))
def test_decoder_matches_bruteforce(seed, n, skew, scale):
    rng = np.random.default_rng(seed)
    B, B0, U0inv = random_lattice(rng, n, skew)
    B, B0 = B * scale, B0 * scale
    dec = GenericDecoder(B)
    x = rng.normal(size=(30, n)) * 4 * scale
    k = dec.nearest_coefficients(x)
    p = dec.nearest(x)
    assert k.dtype == np.int64 and k.shape == x.shape
    # floating-point representation error of k @ B (B = U0 @ B0 is itself rounded,
    # so the lattices of B and B0 agree only up to this, amplified by the skew)
    err = 1e-15 * (1 + (np.abs(k) @ np.abs(B)).max(axis=1))
    np.testing.assert_allclose(p, k.astype(float) @ B, rtol=0, atol=err.max())
    for i in range(x.shape[0]):
        m, d2 = brute_closest(B0, x[i])
        d_dec = np.sum((p[i] - x[i]) ** 2)
        tol = 1e-12 * scale**2 + 4 * err[i] * (np.sqrt(d2[0]) + err[i])
        assert abs(d_dec - d2[0]) <= tol
        if len(d2) == 1 or d2[1] - d2[0] > max(1e-6 * scale**2, 100 * tol):  # unique
            assert np.array_equal(k[i], m[0] @ U0inv)


def test_decoder_result_is_lattice_point_and_types():
    rng = np.random.default_rng(11)
    B, _, _ = random_lattice(rng, 4, skew=True)
    dec = GenericDecoder(B)
    x = rng.normal(size=(500, 4)) * 10
    k = dec.nearest_coefficients(x)
    assert k.dtype == np.int64
    c = dec.nearest(x)
    assert c.dtype == np.float64 and c.shape == x.shape
    np.testing.assert_allclose(c @ dec.basis_inv, k, atol=1e-6)
    # single point API
    assert np.array_equal(dec.nearest_coefficients(x[3]), k[3])
    with pytest.raises(ValueError):
        dec.nearest_coefficients(np.zeros((2, 3)))


SKEW4 = random_lattice(np.random.default_rng(5), 4, True)[0]


@pytest.mark.parametrize("name,B", [("E8", E8), ("D4", D4), ("A2", A2), ("bcc", A3STAR),
                                     ("skew4", SKEW4)])
def test_decoder_voronoi_certificate(name, B):
    rng = np.random.default_rng(7)
    n = B.shape[0]
    dec = GenericDecoder(B)
    rel = relevant_vectors(B)
    x = rng.normal(size=(2000, n)) * 5
    c = dec.nearest(x)
    e = x - c
    d = np.sum(e * e, axis=1)
    dv = np.sum((e[:, None, :] - rel[None, :, :]) ** 2, axis=2).min(axis=1)
    assert np.all(dv >= d - 1e-9 * (1 + d))


@pytest.mark.theorem
@SETTINGS
@given(seed=seeds, n=st.integers(2, 5), skew=st.booleans())
def test_decoder_translation_equivariance(seed, n, skew):
    rng = np.random.default_rng(seed)
    B, _, _ = random_lattice(rng, n, skew)
    dec = GenericDecoder(B)
    x = rng.normal(size=(50, n)) * 3
    kv = rng.integers(-1000, 1001, size=(50, n))
    v = kv.astype(float) @ B
    k1 = dec.nearest_coefficients(x)
    k2 = dec.nearest_coefficients(x + v)
    assert np.array_equal(k2, k1 + kv)


def test_decoder_coefficient_overflow_is_reported():
    B = np.array([[1.0, 2.0**40], [0.0, 1.0]])  # basis of Z^2, U has entries ~2^40
    dec = GenericDecoder(B)
    x = np.array([[3.2e7, -1.4e7]])
    np.testing.assert_array_equal(dec.nearest(x), [[3.2e7, -1.4e7]])
    with pytest.raises(OverflowError):
        dec.nearest_coefficients(x)
    k = dec.nearest_coefficients(np.array([[3.2, -1.4]]))
    np.testing.assert_array_equal(k.astype(float) @ B, [[3.0, -1.0]])


@pytest.mark.parametrize("which", ["E8", "skew5"])
def test_decoder_large_magnitude(which):
    rng = np.random.default_rng(21)
    if which == "E8":
        B = E8
        packing = np.sqrt(2.0) / 2
    else:
        B, _, _ = random_lattice(rng, 5, True)
        short = enumerate_ball(B, np.zeros(5), 4.0)[1:].astype(float) @ B
        assert short.shape[0] > 0
        packing = np.sqrt(np.min(np.sum(short**2, axis=1))) / 2
    n = B.shape[0]
    dec = GenericDecoder(B)
    # lattice points of magnitude ~1e6 plus a perturbation strictly inside the Voronoi cell
    k = np.rint(rng.normal(size=(200, n)) * 1e6 @ np.linalg.inv(B)).astype(np.int64)
    p = k.astype(float) @ B
    assert np.abs(p).max() > 1e5
    e = rng.normal(size=(200, n))
    e *= (0.9 * packing * rng.uniform(size=(200, 1))) / np.linalg.norm(e, axis=1, keepdims=True)
    assert np.array_equal(dec.nearest_coefficients(p + e), k)
    # generic points near 1e6: same answer as decoding the (exact) small residual, shifted
    # (B is dyadic, so p = k @ B and x - p are exact in float64)
    x = p + rng.normal(size=(200, n)) * 3
    r = x - p
    assert np.array_equal(dec.nearest_coefficients(x), k + dec.nearest_coefficients(r))


def test_decoder_scale_invariance():
    rng = np.random.default_rng(8)
    B, _, _ = random_lattice(rng, 4, True)
    x = rng.normal(size=(1000, 4)) * 4
    k1 = GenericDecoder(B).nearest_coefficients(x)
    k_small = GenericDecoder(B * 1e-6).nearest_coefficients(x * 1e-6)
    k_big = GenericDecoder(B * 1e6).nearest_coefficients(x * 1e6)
    assert np.array_equal(k1, k_small)
    assert np.array_equal(k1, k_big)
    y = rng.normal(size=(500, 8)) * 3
    assert np.array_equal(GenericDecoder(E8 * 1e-6).nearest_coefficients(y * 1e-6),
                          GenericDecoder(E8).nearest_coefficients(y))
    # lattice points of a tiny-scale lattice decode to themselves
    kz = rng.integers(-5, 6, size=(500, 8))
    assert np.array_equal(GenericDecoder(E8 * 1e-6).nearest_coefficients(kz @ (E8 * 1e-6)), kz)


def test_decoder_deterministic_ties():
    dec = GenericDecoder(np.eye(2))
    x = np.array([[0.5, 0.5], [0.5, 0.5], [-1.5, 2.5], [0.0, 0.5]])
    k = dec.nearest_coefficients(x)
    assert np.array_equal(k, dec.nearest_coefficients(x))
    assert np.array_equal(k[0], k[1])
    assert tuple(k[0]) in {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert np.sum((k[2] - x[2]) ** 2) == pytest.approx(0.5)
    assert np.sum((k[3] - x[3]) ** 2) == pytest.approx(0.25)
    # batch composition and thread scheduling do not matter
    rng = np.random.default_rng(0)
    dE = GenericDecoder(E8)
    y = np.rint(rng.normal(size=(3000, 8)) * 4) / 2  # many ties (half-integer points)
    ky = dE.nearest_coefficients(y)
    assert np.array_equal(ky[::7], dE.nearest_coefficients(y[::7].copy()))
    assert np.array_equal(ky, dE.nearest_coefficients(y))


# ---------------------------------------------------------------------------
# enumerate_ball
# ---------------------------------------------------------------------------
def test_enumerate_ball_counts():
    z2 = enumerate_ball(np.eye(2), np.zeros(2), 25.0)
    assert z2.dtype == np.int64 and z2.shape == (81, 2)
    assert len({tuple(r) for r in z2}) == 81
    e0 = enumerate_ball(E8, np.zeros(8), 2.0)
    assert e0.shape[0] == 241
    e1 = enumerate_ball(E8, np.zeros(8), 4.0)
    assert e1.shape[0] == 1 + 240 + 2160
    norms = np.round(np.sum((e1.astype(float) @ E8) ** 2, axis=1), 9)
    assert np.count_nonzero(norms == 2.0) == 240 and np.count_nonzero(norms == 4.0) == 2160
    assert np.all(np.diff(norms) >= 0)  # sorted by distance
    assert np.array_equal(e1[0], np.zeros(8))
    # empty ball (centre at a deep hole of Z^2)
    assert enumerate_ball(np.eye(2), [0.5, 0.5], 0.4).shape == (0, 2)


def test_enumerate_ball_order_is_lexicographic_within_shells():
    k = enumerate_ball(np.eye(3), np.zeros(3), 3.0)
    d = np.sum(k * k, axis=1)
    assert np.all(np.diff(d) >= 0)
    for s in np.unique(d):
        shell = [tuple(r) for r in k[d == s]]
        assert shell == sorted(shell)
    assert [tuple(r) for r in k[:7]] == [(0, 0, 0), (-1, 0, 0), (0, -1, 0), (0, 0, -1),
                                         (0, 0, 1), (0, 1, 0), (1, 0, 0)]


@pytest.mark.theorem
@SETTINGS
@given(seed=seeds, n=st.integers(1, 4), skew=st.booleans())
def test_enumerate_ball_matches_bruteforce(seed, n, skew):
    rng = np.random.default_rng(seed)
    B, B0, U0inv = random_lattice(rng, n, skew)
    center = rng.normal(size=n) * 3
    r2 = float(rng.uniform(0.5, 6.0))
    k = enumerate_ball(B, center, r2)
    assert len({tuple(r) for r in k}) == k.shape[0]
    d = np.sum((k.astype(float) @ B - center) ** 2, axis=1)
    assert np.all(d <= r2 * (1 + 1e-7))
    assert np.all(np.diff(d) >= -1e-9)
    # brute force over a box of B0 coefficients containing the ball
    B0inv = np.linalg.inv(B0)
    z = center @ B0inv
    h = np.sqrt(r2) * np.linalg.norm(B0inv, axis=0)
    ranges = [np.arange(np.floor(z[j] - h[j]), np.ceil(z[j] + h[j]) + 1) for j in range(n)]
    M = np.array(list(itertools.product(*ranges)), dtype=np.int64)
    dm = np.sum((M.astype(float) @ B0 - center) ** 2, axis=1)
    inside = {tuple(r) for r in (M[dm <= r2 - 1e-9] @ U0inv)}
    near = {tuple(r) for r in (M[dm <= r2 + 1e-9] @ U0inv)}
    got = {tuple(r) for r in k}
    assert inside <= got <= near


# ---------------------------------------------------------------------------
# relevant vectors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name,B,count", [
    ("Z1", np.eye(1), 2), ("Z2", np.eye(2), 4), ("Z3", np.eye(3), 6), ("Z5", np.eye(5), 10),
    ("A2", A2, 6), ("D3", D3, 12), ("A3*", A3STAR, 14), ("A3*/2", A3STAR / 2, 14),
    ("D4", D4, 24), ("E8", E8, 240),
])
def test_relevant_counts(name, B, count):
    V = relevant_vectors(B)
    C = relevant_coefficients(B)
    assert V.shape == (count, B.shape[0]) and C.shape == V.shape and C.dtype == np.int64
    np.testing.assert_allclose(C.astype(float) @ B, V, atol=1e-12)
    # symmetric, distinct, sorted by norm
    keys = {tuple(np.round(v, 9)) for v in V}
    assert len(keys) == count
    assert all(tuple(np.round(-v, 9) + 0.0) in keys for v in V)
    n2 = np.sum(V * V, axis=1)
    assert np.all(np.diff(n2) >= -1e-12)


def test_relevant_known_sets():
    V = relevant_vectors(D4)
    assert np.allclose(np.sum(V * V, axis=1), 2.0)  # D4: all 24 minimal vectors
    V8 = relevant_vectors(E8)
    assert np.allclose(np.sum(V8 * V8, axis=1), 2.0)
    Vb = relevant_vectors(A3STAR)
    n2 = np.round(np.sum(Vb * Vb, axis=1), 9)
    assert np.count_nonzero(n2 == 3.0) == 8 and np.count_nonzero(n2 == 4.0) == 6
    # skewed basis of Z^3: relevant vectors are +-e_i in the deterministic order
    U0 = random_unimodular(np.random.default_rng(2), 3)
    Vz = relevant_vectors(U0.astype(float))
    expect = np.array([(-1, 0, 0), (0, -1, 0), (0, 0, -1), (0, 0, 1), (0, 1, 0), (1, 0, 0)], float)
    np.testing.assert_allclose(Vz, expect, atol=1e-9)
    # scale invariance (same order)
    np.testing.assert_allclose(relevant_vectors(D4 * 1e-6), V * 1e-6, rtol=0, atol=1e-15)
    np.testing.assert_allclose(relevant_vectors(D4 * 1e6), V * 1e6, rtol=0, atol=1e-3)


def _is_relevant(B, v):
    """Midpoint criterion: v is relevant iff 0 and v are the only closest points to v/2."""
    pts = enumerate_ball(B, v / 2, float(v @ v) / 4 * (1 + 1e-7))
    return pts.shape[0] == 2


@pytest.mark.theorem
@settings(deadline=None, max_examples=10)
@given(seed=seeds, skew=st.booleans())
def test_relevant_random_3d(seed, skew):
    rng = np.random.default_rng(seed)
    B, _, _ = random_lattice(rng, 3, skew)
    V = relevant_vectors(B)
    assert 6 <= V.shape[0] <= 14 and V.shape[0] % 2 == 0
    rel = {tuple(np.round(v, 7)) for v in V}
    assert all(_is_relevant(B, v) for v in V)
    # completeness among all lattice vectors up to twice the largest relevant norm
    rmax = float(np.max(np.sum(V * V, axis=1)))
    cand = enumerate_ball(B, np.zeros(3), 2 * rmax)[1:].astype(float) @ B
    for w in cand:
        assert _is_relevant(B, w) == (tuple(np.round(w, 7)) in rel)


def test_relevant_generic_high_dim():
    rng = np.random.default_rng(4)
    B = rng.normal(size=(6, 6))
    V = relevant_vectors(B)
    assert 12 <= V.shape[0] <= 2 * (2**6 - 1)
    # Voronoi cell property: the relevant vectors certify the decoder's answers
    dec = GenericDecoder(B)
    x = rng.normal(size=(3000, 6)) * 3
    e = x - dec.nearest(x)
    d = np.sum(e * e, axis=1)
    dv = np.sum((e[:, None, :] - V[None]) ** 2, axis=2).min(axis=1)
    assert np.all(dv >= d - 1e-9 * (1 + d))
    # every relevant vector's facet is touched: the midpoint v/2 is at distance |v|/2
    # from the lattice (0 and v are closest points)
    d_mid = np.sum((V / 2 - dec.nearest(V / 2)) ** 2, axis=1)
    assert np.allclose(d_mid, np.sum(V * V, axis=1) / 4)
