"""Monte Carlo NSM (``lattices.montecarlo``) against exact values, with negative controls.

Verdict rule (the project's verification standard): |estimate - exact| < K_SE standard
errors, fixed seeds (the suite is deterministic).  With K_SE = 4 a correct
estimator fails a given test with probability 6e-5 (normal tail).  Each exact
test also bounds the standard error, so a test cannot pass by losing precision.

Exact values (G is scale invariant; sigma^2 = G V^{2/m}):

* G(Z^n) = 1/12 (SPLAG ch. 2, Table 2.3).
* G(A_n) = (n+1)^{-1/n} (1/12 + 1/(6(n+1))), G(D_n) = 2^{-2/n} (1/12 + 1/(2n(n+1)))
  (Conway & Sloane, "Voronoi regions of lattices, second moments of polytopes,
  and quantization", IEEE Trans. IT-28(2), 1982; SPLAG ch. 21).
* G(A2) = 5/(36 sqrt 3) = 0.0801875, G(D4) = 13/(120 sqrt 2) = 0.0766032,
  G(E8) = 929/12960 = 0.0716821 (SPLAG Table 2.3; the A_n / D_n formulas agree).

Products.  For k copies of an m-dimensional lattice with cell volume V and block
scales D_i, the cell is the product of the scaled cells, so

    sigma^2_prod = (1/(km)) sum_i m D_i^2 sigma^2 = mean_i(D_i^2) sigma^2,
    V_prod = prod_i D_i^m V^k,  V_prod^{2/(km)} = (prod_i D_i)^{2/k} V^{2/m},
    G_prod = mean_i(D_i^2) / (prod_i D_i)^{2/k} * G      (>= G by AM-GM).

For different factors, sigma^2_prod is the dimension-weighted mean of the
blocks' sigma^2 and V_prod the product of the volumes.
"""
from __future__ import annotations

import math

import numba
import numpy as np
import pytest

import lattices
from lattices import montecarlo as mc
from lattices.montecarlo import monte_carlo, nsm_monte_carlo, second_moment_monte_carlo

K_SE = 4.0
N = 1_000_000  # fused path: ~0.1 s per estimate


def g_an(n):  # Conway & Sloane 1982
    return (n + 1) ** (-1.0 / n) * (1 / 12 + 1 / (6 * (n + 1)))


def g_dn(n):  # Conway & Sloane 1982
    return 2 ** (-2.0 / n) * (1 / 12 + 1 / (2 * n * (n + 1)))


G_Z = 1 / 12
G_A2 = 5 / (36 * math.sqrt(3))  # SPLAG Table 2.3: 0.0801875
G_D4 = 13 / (120 * math.sqrt(2))  # SPLAG Table 2.3: 0.0766032
G_E8 = 929 / 12960  # SPLAG Table 2.3: 0.0716821

EXACT = {"z2": G_Z, "z3": G_Z, "a2": G_A2, "a3": g_an(3), "a4": g_an(4), "d4": G_D4,
         "d5": g_dn(5), "e8": G_E8}


def test_literature_values_are_consistent():
    """The closed forms reproduce SPLAG Table 2.3 (7 digits), and D3 = A3."""
    assert round(G_A2, 7) == 0.0801875 and abs(g_an(2) - G_A2) < 1e-15
    assert round(G_D4, 7) == 0.0766032 and abs(g_dn(4) - G_D4) < 1e-15
    assert round(G_E8, 7) == 0.0716821
    assert abs(g_dn(3) - g_an(3)) < 1e-15


def check(est, se, exact, max_rel_se):
    assert abs(est - exact) < K_SE * se, \
        f"{est} +- {se} vs exact {exact}: {(est - exact) / se:.2f} SE"
    assert 0 < se < max_rel_se * exact, f"standard error {se} too large (power)"


# ----------------------------------------------------------------------------- exact values
@pytest.mark.parametrize("control_variate", [True, False], ids=["cv", "plain"])
@pytest.mark.parametrize("name", sorted(EXACT))
def test_nsm_matches_exact(name, control_variate):
    est, se = nsm_monte_carlo(lattices.get(name), N, rng=101, control_variate=control_variate)
    check(est, se, EXACT[name], 3e-4 if control_variate else 1e-3)


def test_z_with_control_variate_is_exact():
    """For Z the inscribed ball is the whole cell [-1/2, 1/2]: the control-variate
    estimator is the exact 1/12 (zero variance), while plain MC is not."""
    r = monte_carlo(lattices.get("z"), 100_000, rng=102)
    assert abs(r.nsm - G_Z) < 1e-15 and r.nsm_se < 1e-15
    est, se = nsm_monte_carlo(lattices.get("z"), 100_000, rng=102, control_variate=False)
    check(est, se, G_Z, 3e-3)


def test_second_moment_paper_a2():
    """The paper's A2 (minimal norm 1, V = sqrt(3)/2): sigma^2 = G V = 5/72."""
    s2, se = second_moment_monte_carlo(lattices.get("a2"), N, rng=103)
    check(s2, se, 5 / 72, 1e-4)
    assert abs(lattices.get("a2").volume - math.sqrt(3) / 2) < 1e-15


def test_results_are_python_floats():
    est, se = nsm_monte_carlo("e8", 10_000, rng=1)
    assert type(est) is float and type(se) is float


# ------------------------------------------------------------------------- scalings and products
@pytest.mark.parametrize("name,delta", [("e8", 0.37), ("a2", 5.0), ("d4", 1e-3)])
def test_scaled_lattice_same_nsm(name, delta):
    lat = lattices.get(name)
    r1 = monte_carlo(lat, N, rng=104)
    r2 = monte_carlo(lat.scaled(delta), N, rng=104)
    check(r2.nsm, r2.nsm_se, EXACT[name], 3e-4)
    # same streams, same canonical points: the same numbers up to round-off
    assert r2.nsm == pytest.approx(r1.nsm, rel=1e-12)
    assert r2.sigma2 == pytest.approx(delta ** 2 * r1.sigma2, rel=1e-12)


@pytest.mark.parametrize("factors", [["e8", "e8"], ["a2"] * 3, ["d4", "d4"]])
def test_product_of_equal_lattices_same_nsm(factors):
    est, se = nsm_monte_carlo(lattices.product(factors), N // 2, rng=105)
    check(est, se, EXACT[factors[0]], 3e-4)


@pytest.mark.parametrize("name,scales", [("a2", [1.0, 2.0, 3.0]), ("e8", [1.0, 0.5]),
                                         ("d4", [0.3, 0.3, 1.2])])
def test_product_unequal_scales_formula(name, scales):
    k = len(scales)
    D = np.array(scales)
    exact = np.mean(D ** 2) / np.prod(D) ** (2 / k) * EXACT[name]  # module docstring
    est, se = nsm_monte_carlo(lattices.product([name] * k, scales=scales), N // 2, rng=106)
    check(est, se, exact, 3e-4)
    # the naive "a product keeps G" is refuted: the test can tell the difference
    assert abs(est - EXACT[name]) > K_SE * se


def test_product_of_different_lattices():
    """a2 x (0.5 e8): sigma^2 = (2 sigma_a2 + 8 (0.5^2) sigma_e8) / 10, V = V_a2 0.5^8."""
    a2 = lattices.get("a2")
    p = lattices.product(["a2", "e8"], scales=[1.0, 0.5])
    s_a2 = G_A2 * a2.volume  # sigma^2 = G V^{2/m}, m = 2
    s_e8 = G_E8 * 1.0  # V(E8) = 1
    sigma2 = (2 * s_a2 + 8 * 0.25 * s_e8) / 10
    exact = sigma2 / (a2.volume * 0.5 ** 8) ** (2 / 10)
    est, se = nsm_monte_carlo(p, N // 2, rng=107)
    check(est, se, exact, 3e-4)
    s2, s2_se = second_moment_monte_carlo(p, N // 2, rng=107)
    check(s2, s2_se, sigma2, 3e-4)


# ----------------------------------------------------------------------------- negative controls
@pytest.mark.parametrize("control_variate", [False, True], ids=["plain", "cv"])
@pytest.mark.parametrize("name", ["a2", "d4", "e8"])
def test_negative_control_parallelepiped_is_refuted(name, control_variate):
    """U uniform on the centred fundamental parallelepiped (same volume, wrong shape)
    must be refuted by the same estimator and verdict rule."""
    r = mc._monte_carlo(lattices.get(name), N, rng=108, control_variate=control_variate,
                        _region="parallelepiped")
    assert abs(r.nsm - EXACT[name]) > K_SE * r.nsm_se, (r.nsm, r.nsm_se)
    # ... and its own (plain) second moment is that of the parallelepiped: trace(B B^T)/(12 m)
    if not control_variate:
        lat = lattices.get(name)
        exact_pp = np.trace(lat.gram) / (12 * lat.dim) / lat.volume ** (2 / lat.dim)
        check(r.nsm, r.nsm_se, exact_pp, 1e-3)


def test_parallelepiped_of_z2_is_its_cell():
    """Sanity of the control: for Z^2 the centred parallelepiped *is* the Voronoi
    cell, so the 'wrong' region must pass there."""
    r = mc._monte_carlo(lattices.get("z2"), N, rng=109, control_variate=False,
                        _region="parallelepiped")
    check(r.nsm, r.nsm_se, G_Z, 1e-3)


def test_negative_control_generic_path():
    r = mc._monte_carlo(lattices.from_basis(lattices.get("a2").basis), 50_000, rng=110,
                        control_variate=False, _region="parallelepiped")
    assert r.method == "numpy"
    assert abs(r.nsm - G_A2) > K_SE * r.nsm_se


# ----------------------------------------------------------------------------- honesty of the SE
@pytest.mark.parametrize("name,control_variate", [("a2", True), ("e8", True), ("d4", False)])
def test_standard_error_is_calibrated(name, control_variate):
    """Over 300 independent seeds the z-scores (est - exact) / SE must look standard
    normal: mean(z^2) = 1 +- 0.08 (sd of the mean of 300 chi^2_1 draws).  An SE
    that is too small by sqrt(2) gives mean(z^2) ~ 2 and fails."""
    lat = lattices.get(name)
    z = np.array([(lambda r: (r[0] - EXACT[name]) / r[1])(
        nsm_monte_carlo(lat, 8192, rng=1000 + i, control_variate=control_variate))
        for i in range(300)])
    assert 0.72 < np.mean(z ** 2) < 1.35, np.mean(z ** 2)
    assert abs(np.mean(z)) < 4 / np.sqrt(300), np.mean(z)


def test_control_variate_agrees_with_plain_and_reduces_variance():
    for name, min_factor in (("a2", 50.0), ("d4", 8.0), ("e8", 2.5)):
        r = monte_carlo(name, N, rng=111)
        assert abs(r.nsm - r.plain_nsm) < K_SE * r.plain_nsm_se
        assert r.variance_reduction > min_factor, (name, r.variance_reduction)
        assert r.pilot_samples == mc.PILOT_SAMPLES


# ----------------------------------------------------------------------------- generic (numpy) path
def rotation(m, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(m, m)))
    return q


@pytest.mark.parametrize("name,n", [("a2", 100_000), ("e8", 60_000)])
def test_generic_lattice_numpy_path(name, n):
    B = lattices.get(name).basis @ rotation(lattices.get(name).dim, 5)
    lat = lattices.from_basis(B)
    r = monte_carlo(lat, n, rng=112)
    assert r.method == "numpy"
    check(r.nsm, r.nsm_se, EXACT[name], 3e-3)
    fast = lattices.from_basis(B, like=name)  # rotated copy through the fused kernel
    r2 = monte_carlo(fast, N, rng=112)
    assert r2.method == "fused"
    check(r2.nsm, r2.nsm_se, EXACT[name], 3e-4)


def test_mixed_generic_and_fast_product():
    a2 = lattices.get("a2")
    p = lattices.product([lattices.from_basis(a2.basis), a2], scales=[1.0, 2.0])
    r = monte_carlo(p, 60_000, rng=113)
    assert r.method == "numpy"
    exact = G_A2 * (1 + 4) / 2 / 2  # mean(D^2) / (prod D)^{2/k} G with D = (1, 2), k = 2
    check(r.nsm, r.nsm_se, exact, 3e-3)


# ----------------------------------------------------------------------------- reproducibility
def test_same_seed_same_result_different_seed_different():
    a = nsm_monte_carlo("e8", 200_000, rng=7)
    assert a == nsm_monte_carlo("e8", 200_000, rng=7)
    assert a != nsm_monte_carlo("e8", 200_000, rng=8)
    g = nsm_monte_carlo(lattices.from_basis(lattices.get("a2").basis), 20_000, rng=7)
    assert g == nsm_monte_carlo(lattices.from_basis(lattices.get("a2").basis), 20_000, rng=7)


def test_independent_of_thread_count_and_batch_size():
    n = 10 * mc.CHUNK + 123  # several chunks and a partial one
    lat = lattices.product(["a2", "e8"], scales=[1.0, 0.7])
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = monte_carlo(lat, n, rng=9)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = monte_carlo(lat, n, rng=9)
    finally:
        numba.set_num_threads(before)
    small_batches = monte_carlo(lat, n, rng=9, batch_size=1)
    odd_batches = monte_carlo(lat, n, rng=9, batch_size=3 * mc.CHUNK)
    for r in (two, small_batches, odd_batches):
        assert (r.nsm, r.nsm_se, r.plain_sigma2, r.plain_sigma2_se) == (
            one.nsm, one.nsm_se, one.plain_sigma2, one.plain_sigma2_se)


def test_seed_is_reported_and_reproduces():
    r = monte_carlo("d4", 50_000)  # fresh entropy
    assert isinstance(r.seed, int) and 0 <= r.seed < 2 ** 64
    again = monte_carlo("d4", 50_000, rng=r.seed)
    assert (again.nsm, again.nsm_se) == (r.nsm, r.nsm_se)
    # a Generator contributes one 64-bit draw
    g1 = monte_carlo("d4", 50_000, rng=np.random.default_rng(5))
    g2 = monte_carlo("d4", 50_000, rng=np.random.default_rng(5))
    expected_seed = int(np.random.default_rng(5).integers(0, 2 ** 64 - 1, dtype=np.uint64,
                                                           endpoint=True))
    assert g1.seed == g2.seed == expected_seed and g1.nsm == g2.nsm
    assert monte_carlo("d4", 50_000, rng=np.random.SeedSequence(3)).nsm == \
        monte_carlo("d4", 50_000, rng=np.random.SeedSequence(3)).nsm


# ----------------------------------------------------------------------------- the generator
def test_xoshiro_reference_vector():
    """xoshiro256** from state (1, 2, 3, 4): the reference implementation's first ten
    outputs (Blackman & Vigna; the test vector of the rand_xoshiro crate,
    ``xoshiro256starstar.rs``, test ``reference``)."""
    u = np.uint64
    out = mc._raw_from_state(u(1), u(2), u(3), u(4), 10)
    assert out.tolist() == [11520, 0, 1509978240, 1215971899390074240, 1216172134540287360,
                            607988272756665600, 16172922978634559625, 8476171486693032832,
                            10595114339597558777, 2904607092377533576]


def test_splitmix_and_seeding_match_python_reference():
    """splitmix64 seeded with 0 first outputs 0xe220a8397b1dcdaf (Vigna's splitmix64.c);
    the numba seeding equals a pure-Python transcription (no silent float promotion)."""
    M = (1 << 64) - 1
    golden = 0x9E3779B97F4A7C15
    assert mc._mix64_py(golden) == 0xE220A8397B1DCDAF
    assert int(mc._mix64(np.uint64(golden))) == 0xE220A8397B1DCDAF

    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M

    key, chunk = mc._stream_key(12345, 1, 0), 77
    x = mc._mix64_py(key ^ mc._mix64_py((chunk + golden) & M))
    s = []
    for _ in range(4):
        x = (x + golden) & M
        s.append(mc._mix64_py(x))
    ref = []
    for _ in range(6):
        ref.append((rotl((s[1] * 5) & M, 7) * 9) & M)
        t = (s[1] << 17) & M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    assert mc._raw_stream(np.uint64(key), chunk, 6).tolist() == ref


def test_streams_are_distinct_and_uniform():
    key = np.uint64(mc._stream_key(0, 0, 0))
    a, b = mc._raw_stream(key, 0, 200_000), mc._raw_stream(key, 1, 200_000)
    assert not np.intersect1d(a, b).size
    assert mc._stream_key(0, 0, 0) != mc._stream_key(0, 0, 1) != mc._stream_key(0, 1, 0)
    u = (a >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    assert abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / u.size)
    assert abs(np.mean(u ** 2) - 1 / 3) < 4 * np.sqrt((1 / 5 - 1 / 9) / u.size)


# ------------------------------------------------------------------------- input checks, progress
@pytest.mark.parametrize("n,exc", [(1, ValueError), (0, ValueError), (-5, ValueError),
                                   (2.5, TypeError), ("100", TypeError), (True, TypeError),
                                   (None, TypeError)])
def test_bad_n_samples(n, exc):
    with pytest.raises(exc, match="n_samples"):
        nsm_monte_carlo("e8", n)


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"rng": "abc"}, TypeError, "rng"), ({"rng": -1}, ValueError, "seed"),
    ({"rng": 2 ** 64}, ValueError, "seed"), ({"rng": True}, TypeError, "rng"),
    ({"batch_size": 0}, ValueError, "batch_size"), ({"batch_size": 1.5}, TypeError, "batch_size"),
    ({"progress": "yes"}, TypeError, "progress"),
    ({"control_variate": 1}, TypeError, "control_variate"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        nsm_monte_carlo("e8", 100, **kwargs)


def test_bad_lattice():
    with pytest.raises(TypeError, match="Lattice"):
        nsm_monte_carlo(np.eye(2), 100)
    with pytest.raises(ValueError, match="unknown lattice"):
        nsm_monte_carlo("nope", 100)


def test_progress_bar(capsys):
    nsm_monte_carlo("e8", 3 * mc.CHUNK, rng=1, progress=True, batch_size=mc.CHUNK)
    assert "MC NSM e8" in capsys.readouterr().err
    nsm_monte_carlo("e8", 3 * mc.CHUNK, rng=1, progress=False)
    nsm_monte_carlo("e8", 3 * mc.CHUNK, rng=1)  # None: small run, no bar
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- the benchmark target
@pytest.mark.slow
def test_e8_to_relative_se_1e5():
    """E8 to a relative standard error of 1e-5 (the benchmark's target), exact within 4 SE."""
    r = monte_carlo("e8", 150_000_000, rng=2020)
    assert r.nsm_se / G_E8 < 1e-5
    check(r.nsm, r.nsm_se, G_E8, 1e-5)
