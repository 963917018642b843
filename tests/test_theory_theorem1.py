"""Lemma 1 (Crypto-Lemma), Lemma 2 and Theorem 1 (eq. (4)): property tests and CLIs.

Tolerances: Monte Carlo comparisons use 4 standard errors (+ the quadrature's own refinement
error); quadrature identities are checked to round-off.
"""
import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import lattices
from theory.crypto_lemma import crypto_lemma_samples, parallelepiped_is_cell, sample_dither
from theory.densities import Gaussian, Laplace, Mixture, laplace_log_interval
from theory.theorem1 import (cell_rule, f_s_minus_u, laplace_log_f_s_minus_u, laplace_log_p_z_given_u,
                             laplace_theorem1_exact, log_f_s_minus_u, log_p_z_given_u, p_z_given_u,
                             theorem1_sides)
from validation import crypto_lemma as crypto_cli
from validation import theorem1 as theorem1_cli


# ------------------------------------------------------------------ strategies
@st.composite
def lattices_2d(draw):
    """A random well-conditioned 2-D lattice (from_basis, half-integer entries: the exact cell
    geometry needs a rational Gram matrix), or a scaled named one."""
    kind = draw(st.sampled_from(["random", "a2", "z2"]))
    if kind != "random":
        return lattices.get(kind, draw(st.floats(0.5, 2.0)))
    B = np.array([[draw(st.integers(-3, 3)) / 2 for _ in range(2)] for _ in range(2)])
    det = abs(np.linalg.det(B))
    assume(det > 0.3 and np.linalg.cond(B) < 6)
    return lattices.from_basis(B)


def make_prior(kind, scale, dim):
    if kind == "gaussian":
        return Gaussian(scale, dim)
    if kind == "laplace":
        return Laplace(scale, dim)
    loc = np.array([np.full(dim, 0.3 * scale), np.full(dim, -0.5 * scale)])
    return Mixture([Gaussian(scale, dim), Laplace(scale, dim)], [0.7, 0.3], loc)


priors = st.sampled_from(["gaussian", "laplace", "mixture"])


# ------------------------------------------------------------------ priors
def test_prior_parameters_are_validated():
    with pytest.raises(ValueError, match="-1"):
        Gaussian(-1.0, 2)
    with pytest.raises(ValueError, match="0"):
        Laplace(1.0, 0)
    with pytest.raises(ValueError, match="sum to 1"):
        Mixture([Gaussian(1.0, 1), Laplace(1.0, 1)], [0.5, 0.6])
    with pytest.raises(ValueError, match="same dim"):
        Mixture([Gaussian(1.0, 1), Laplace(1.0, 2)])
    with pytest.raises(ValueError, match="shape"):
        Gaussian(1.0, 2).log_density(np.zeros(3))


@pytest.mark.parametrize("prior", [Gaussian(0.7, 1), Laplace(0.4, 1),
                                   Mixture([Gaussian(0.5, 1), Laplace(1.0, 1)], [0.3, 0.7],
                                           [[1.0], [-0.5]])])
def test_prior_density_integrates_to_one_and_matches_its_sampler(prior):
    x = np.linspace(-30, 30, 600_001)
    assert np.trapezoid(prior.density(x[:, None]), x) == pytest.approx(1.0, abs=1e-6)
    s = prior.sample(200_000, 0)[:, 0]
    mean = np.trapezoid(x * prior.density(x[:, None]), x)
    assert abs(s.mean() - mean) < 4 * s.std() / math.sqrt(s.size)


def test_laplace_log_interval_is_stable_far_in_the_tail():
    # P(1000 <= T < 1001) for alpha = 1: log = log(1/2) - 1000 + log1p(-e^-1), no underflow
    v = laplace_log_interval(1000.0, 1001.0, 1.0)
    assert v == pytest.approx(math.log(0.5) - 1000 + math.log1p(-math.exp(-1)), rel=1e-14)
    assert laplace_log_interval(-1001.0, -1000.0, 1.0) == pytest.approx(v, rel=1e-14)


# ------------------------------------------------------------------ quadrature rule
@pytest.mark.parametrize("name", ["z", "a2", "a3*", "d4"])
def test_cell_rule_integrates_polynomials_exactly(name):
    L = lattices.get(name)
    nodes, w = cell_rule(L)
    assert w.sum() == pytest.approx(L.volume, rel=1e-12)
    # the second moment of the cell, against the exact value of the lattice core
    assert float(w @ np.sum(nodes**2, axis=1)) == pytest.approx(L.second_moment() * L.dim * L.volume,
                                                                rel=1e-10)


# ------------------------------------------------------------------ p_{Z|U} and f_{S-U}
@pytest.mark.theorem
@given(L=lattices_2d(), kind=priors, scale=st.floats(0.3, 2.0), seed=st.integers(0, 2**31))
def test_quadrature_agrees_with_monte_carlo(L, kind, scale, seed):
    prior = make_prior(kind, scale, 2)
    rng = np.random.default_rng(seed)
    u = L.sample_cell(3, rng)
    z = L.nearest(rng.normal(scale=scale, size=(3, 2)))
    q = p_z_given_u(L, prior, z, u)
    mc = p_z_given_u(L, prior, z, u, method="monte-carlo", n=20_000, rng=rng)
    assert np.all(np.abs(q.value - mc.value) < 4 * mc.error + 2 * q.error + 1e-12)
    eta = z - u + rng.normal(scale=0.3, size=(3, 2))
    fq = f_s_minus_u(L, prior, eta)
    fm = f_s_minus_u(L, prior, eta, method="monte-carlo", n=20_000, rng=rng)
    assert np.all(np.abs(fq.value - fm.value) < 4 * fm.error + 2 * fq.error + 1e-12)


@pytest.mark.theorem
@given(L=lattices_2d(), kind=priors, scale=st.floats(0.2, 2.0), seed=st.integers(0, 2**31))
def test_pointwise_identity_p_equals_volume_times_f(L, kind, scale, seed):
    # K(S+u) = z  <=>  S - (z - u) in -P_0 = P_0, so p_{Z|U}(z|u) = V f_{S-U}(z - u)
    prior = make_prior(kind, scale, 2)
    rng = np.random.default_rng(seed)
    u = L.sample_cell(5, rng)
    z = L.nearest(rng.normal(scale=2 * scale, size=(5, 2)))
    lp = log_p_z_given_u(L, prior, z, u, refine=True)
    lf = log_f_s_minus_u(L, prior, z - u, refine=True)
    # exact identity, checked to the quadrature's refinement error (round-off for smooth priors;
    # the Laplace kinks leave an algebraically small error)
    # The refinement difference estimates (does not bound) the error; with the Laplace kinks the
    # convergence is algebraic and irregular, so allow 8x the estimate plus a small floor.
    tol = 8 * (lp.error + lf.error) + (1e-9 if kind == "gaussian" else 1e-5)
    assert np.all(np.abs(lp.value - (math.log(L.volume) + lf.value)) < tol)


@pytest.mark.parametrize("name", ["a3*", "d4"])
def test_pointwise_identity_in_three_and_four_dimensions(name):
    L = lattices.get(name)
    prior = Gaussian(0.8, L.dim)
    rng = np.random.default_rng(1)
    u = L.sample_cell(4, rng)
    z = L.nearest(rng.normal(size=(4, L.dim)))
    lp = log_p_z_given_u(L, prior, z, u)
    mc = log_p_z_given_u(L, prior, z, u, method="monte-carlo", n=40_000, rng=rng)
    lf = log_f_s_minus_u(L, prior, z - u).value
    np.testing.assert_allclose(lp.value, math.log(L.volume) + lf, atol=1e-9)
    assert np.all(np.abs(lp.value - mc.value) < 4 * mc.error + 1e-6)


@pytest.mark.theorem
@given(kind=priors, scale=st.floats(0.2, 2.0), delta=st.floats(0.3, 2.0), u=st.floats(-0.5, 0.5))
def test_probabilities_sum_to_one_in_one_dimension(kind, scale, delta, u):
    L = lattices.get("z", delta)
    prior = make_prior(kind, scale, 1)
    k = math.ceil(40 * scale / delta) + 2
    z = (np.arange(-k, k + 1) * delta)[:, None]
    total = p_z_given_u(L, prior, z, [u * delta]).value.sum()
    assert total == pytest.approx(1.0, abs=1e-9)


@pytest.mark.theorem
@settings(max_examples=max(5, settings.default.max_examples // 4))
@given(L=lattices_2d(), kind=priors, seed=st.integers(0, 2**31))
def test_probabilities_sum_to_one_in_two_dimensions(L, kind, seed):
    prior = make_prior(kind, 0.35 * L.volume ** 0.5, 2)
    sigma = prior.components[0].scale if kind == "mixture" else prior.scale
    u = L.sample_cell(1, seed)[0]
    # window: Gaussian tail beyond 9 sigma < 1e-16; Laplace tail beyond 16 sigma ~ 1e-6
    R = (9 if kind == "gaussian" else 16) * sigma
    k = int(np.ceil((R + 2) * np.abs(np.linalg.inv(L.basis)).sum(axis=0).max())) + 1
    ij = np.array(np.meshgrid(np.arange(-k, k + 1), np.arange(-k, k + 1))).reshape(2, -1).T
    z = ij @ L.basis
    z = z[np.linalg.norm(z, axis=1) < R + 2]
    if kind == "gaussian":
        assert p_z_given_u(L, prior, z, u, refine=False).value.sum() == pytest.approx(1.0, abs=1e-9)
    else:  # the Laplace kinks: tolerance from the quadrature's refinement error, plus the tail
        p = p_z_given_u(L, prior, z, u)
        assert abs(p.value.sum() - 1) < 4 * np.abs(p.error).sum() + 1e-5


@pytest.mark.theorem
@given(delta=st.floats(0.1, 3.0), alpha=st.floats(0.2, 20.0), u=st.floats(-0.4999, 0.4999),
       zi=st.integers(-4, 4), eta=st.floats(-5, 5))
def test_z_laplace_quadrature_matches_laplace_cdf_closed_form(delta, alpha, u, zi, eta):
    L = lattices.get("z", delta)
    prior = Laplace(1 / alpha, 1)
    q = log_p_z_given_u(L, prior, [[zi * delta]], [[u * delta]]).value[0]
    assert q == pytest.approx(float(laplace_log_p_z_given_u(zi, u * delta, delta, alpha)), abs=1e-9, rel=1e-10)
    f = log_f_s_minus_u(L, prior, [[eta]]).value[0]
    assert f == pytest.approx(float(laplace_log_f_s_minus_u(eta, delta, alpha)), abs=1e-9, rel=1e-10)


# ------------------------------------------------------------------ Theorem 1, eq. (4)
def _sides_and_control(L, prior, e, n, seed, method="auto", control=None):
    control = control or ("corner" if parallelepiped_is_cell(L) else "parallelepiped")
    r = theorem1_sides(L, prior, e, n, seed, method=method)
    c = theorem1_sides(L, prior, e, n, seed + 1, method=method, dither=control)
    return r, c


@pytest.mark.theorem
@pytest.mark.parametrize("name, prior, e, n", [
    ("a2", Gaussian(0.25 * 0.866**0.5, 2), 0.3 * np.array([0.8660254, 1.5]), 4000),
    ("a2", theorem1_cli.make_prior("mixture", 0.25 * 0.866**0.5, 2), 0.3 * np.array([0.8660254, 1.5]),
     6000),
    ("z", Laplace(0.25, 1), np.array([0.3]), 4000),
    ("a3*", Gaussian(0.2, 3), None, 800),
])
def test_theorem1_both_sides_agree_and_the_wrong_dither_is_refuted(name, prior, e, n):
    L = lattices.get(name)
    e = 0.3 * L.basis.sum(axis=0) if e is None else e
    r, c = _sides_and_control(L, prior, e, n, 7)
    assert abs(r.difference) < 4 * r.difference_se
    assert r.quadrature_error < 0.1 * r.difference_se  # quadrature error negligible vs MC error
    assert abs(c.difference) > 4 * c.difference_se  # the negative control must fail


def test_theorem1_z_laplace_exact_value():
    delta, alpha, e = 0.5, 1.25, 0.37
    lhs, rhs, err = laplace_theorem1_exact(e, delta, alpha)
    assert lhs == pytest.approx(rhs, abs=1e-10)  # eq. (4), exactly
    r = theorem1_sides(lattices.get("z", delta), Laplace(1 / alpha, 1), [e], 4000, 3)
    assert abs(r.lhs - lhs) < 4 * r.lhs_se and abs(r.rhs - rhs) < 4 * r.rhs_se


def test_theorem1_monte_carlo_inner_warns_and_agrees():
    L = lattices.get("a2")
    with pytest.warns(RuntimeWarning, match="biased"):
        r = theorem1_sides(L, Gaussian(0.5, 2), [0.3, 0.4], 400, 0, n_inner=512, method="monte-carlo")
    q = theorem1_sides(L, Gaussian(0.5, 2), [0.3, 0.4], 400, 0)
    assert abs(r.difference) < 4 * r.difference_se
    assert abs(r.lhs - q.lhs) < 0.05  # the same dithers; MC log bias ~ Var/(2n) is small here


def test_theorem1_rejects_bad_arguments():
    L = lattices.get("a2")
    with pytest.raises(ValueError, match="dim"):
        theorem1_sides(L, Gaussian(1.0, 3), [0.0, 0.0], 10, 0)
    with pytest.raises(ValueError, match="dither"):
        theorem1_sides(L, Gaussian(1.0, 2), [0.0, 0.0], 10, 0, dither="cube")
    with pytest.raises(ValueError, match="method"):
        p_z_given_u(L, Gaussian(1.0, 2), [0, 0], [0, 0], method="simpson")
    with pytest.raises(ValueError, match="dimension <= 4"):
        cell_rule(lattices.get("e8"))


# ------------------------------------------------------------------ Lemma 1
@pytest.mark.theorem
@given(L=lattices_2d(), y=st.lists(st.floats(-5, 5), min_size=2, max_size=2), seed=st.integers(0, 2**31))
def test_crypto_lemma_sides_differ_by_lattice_points(L, y, seed):
    a, b = crypto_lemma_samples(L, y, 50, seed, paired=True)
    d = L.to_coordinates(a - b + y)
    np.testing.assert_allclose(d, np.round(d), atol=1e-8)  # a + U = K(y + U) is in the lattice
    # and a = y - E with E = (y + U) - K(y + U) in P_0: a is in y - P_0
    np.testing.assert_allclose(L.nearest(y - a), 0.0, atol=1e-9)


def test_dithers_cover_their_domains():
    L = lattices.get("a2")
    for d in ("voronoi", "parallelepiped", "corner"):
        U = sample_dither(L, 2000, 0, d)
        c = U @ np.linalg.inv(L.basis)
        if d == "voronoi":
            np.testing.assert_allclose(L.nearest(U), 0.0)
        else:
            lo = -0.5 if d == "parallelepiped" else 0.0
            assert c.min() >= lo and c.max() < lo + 1
    with pytest.raises(ValueError, match="dither"):
        sample_dither(L, 3, 0, "ball")
    assert parallelepiped_is_cell(lattices.get("z2")) and not parallelepiped_is_cell(L)


@pytest.mark.theorem
def test_crypto_lemma_two_sample_tests_and_negative_control():
    L = lattices.get("e8")
    y = np.linspace(-1, 2, 8)
    a, b = crypto_lemma_samples(L, y, 1000, 0)
    stat, p, *_ = crypto_cli.energy_test(a, b, 100, 1)
    _, pks, _ = crypto_cli.ks_test(a, b)
    assert p >= 0.01 and pks >= 0.01
    ac, bc = crypto_lemma_samples(L, y, 1000, 2, dither="parallelepiped")
    _, pc, *_ = crypto_cli.energy_test(ac, bc, 100, 1)
    _, pksc, _ = crypto_cli.ks_test(ac, bc)
    assert pc < 0.01 and pksc < 0.01


# ------------------------------------------------------------------ CLIs
def test_theorem1_cli_z_laplace_json(capsys):
    rc = theorem1_cli.main(["--lattice", "z", "--prior", "laplace", "--dithers", "3000", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["confirmed"]
    assert out["negative_controls"][0]["passed"] is False
    assert abs(out["exact_lhs_rhs"][0] - out["exact_lhs_rhs"][1]) < 1e-10


def test_theorem1_cli_a2_table(capsys):
    rc = theorem1_cli.main(["--lattice", "a2", "--dithers", "4000"])
    out = capsys.readouterr().out
    assert rc == 0 and "CONFIRMED" in out and "refuted (as it must be)" in out


def test_theorem1_cli_product_lattice(capsys):
    assert theorem1_cli.main(["--lattice", "a2^2", "--dithers", "800", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dim"] == 4


def test_theorem1_cli_without_power_exits_1(capsys):
    # 3 dithers: the negative control cannot be refuted, so the check proves nothing -> 1
    assert theorem1_cli.main(["--lattice", "a2", "--dithers", "3"]) == 1


@pytest.mark.parametrize("argv", [["--lattice", "nope"], ["--dithers", "1"], ["--prior", "cauchy"],
                                  ["--lattice", "a2", "--e", "1,2,3"], ["--scale", "-1"],
                                  ["--lattice", "e8", "--method", "quadrature"]])
def test_theorem1_cli_bad_usage_exits_2(argv, capsys):
    assert theorem1_cli.main(argv) == 2


def test_crypto_cli_json_and_exit_codes(capsys):
    rc = crypto_cli.main(["--lattice", "a2", "--samples", "1500", "--permutations", "100", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["confirmed"] and len(out["y"]) == 2
    assert all(not c["passed"] for c in out["negative_controls"])
    assert crypto_cli.main(["--lattice", "a2", "--samples", "20", "--permutations", "100"]) == 1
    assert crypto_cli.main(["--lattice", "a2", "--y", "1"]) == 2
    assert crypto_cli.main(["--samples", "5"]) == 2


@pytest.mark.slow
def test_cli_defaults_e8():
    assert crypto_cli.main(["--lattice", "e8"]) == 0
    assert theorem1_cli.main(["--lattice", "e8"]) == 0
    assert theorem1_cli.main(["--lattice", "d4"]) == 0
