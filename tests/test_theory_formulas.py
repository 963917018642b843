"""Tests of theory.laplace / kl / scaling / prior / errata and validation.kl_identity.

Sec. 3.3 closed forms against mpmath quadrature, eq. (7) exact and by Monte Carlo,
eq. (8) exactly (sympy), the Gaussian-proxy KL term of 3.6.2 against the Gaussian
log-ratio it abbreviates, and the lattice prior of 3.4 normalized over all points.
"""
import json
import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st

import lattices
from theory import kl, laplace, lattice_prior, scaling
from theory.errata import PAPER_ERRATA, add_erratum, errata_for
from validation import kl_identity

RTOL = 1e-12


def _close(x, ref, rtol=RTOL, atol=0.0):
    return abs(float(x) - ref) <= rtol * abs(ref) + atol


# ------------------------------------------------------------------ Sec. 3.3: Z + Laplace
CASES = [(0.1, 2.0, 1.0), (0.7, 2.0, 1.0), (-3.0, 0.5, 2.0), (0.49, 100.0, 1.0), (5.0, 1e-3, 1.0),
         (0.3, 1e3, 1.0), (0.0, 1e-6, 1.0), (0.5, 7.0, 1.0), (-0.2, 50.0, 0.4), (40.0, 30.0, 0.1)]


@pytest.mark.parametrize("eta,alpha,delta", CASES)
def test_log_fu_over_fsu_matches_quadrature(eta, alpha, delta):
    ref = laplace.log_fu_over_fsu_reference(eta, alpha, delta)
    assert _close(laplace.log_fu_over_fsu(eta, alpha, delta), ref)
    # the same in torch
    t = laplace.log_fu_over_fsu(torch.tensor(eta, dtype=torch.float64), alpha, delta)
    assert isinstance(t, torch.Tensor) and _close(t.item(), ref)


@pytest.mark.parametrize("z", [-3, -1, 0, 1, 2])
@pytest.mark.parametrize("u,alpha,delta", [(0.3, 2.0, 1.0), (-0.49, 40.0, 1.0), (0.0, 0.1, 3.0),
                                           (0.2, 1e3, 0.5)])
def test_neg_log_p_z_given_u_matches_quadrature(z, u, alpha, delta):
    ref = laplace.neg_log_p_z_given_u_reference(z, u, alpha, delta)
    assert _close(laplace.neg_log_p_z_given_u(z, u, alpha, delta), ref)


def test_printed_formulas_naive_evaluation_agrees_where_it_does_not_overflow():
    # the formulas exactly as printed, evaluated naively, on moderate arguments
    alpha, delta = 1.7, 0.8
    for eta in np.linspace(-2, 2, 41):
        if abs(eta) < delta / 2:
            naive = -math.log(1 - math.exp(-alpha * delta / 2) * math.cosh(alpha * eta))
        else:
            naive = alpha * abs(eta) - math.log(math.sinh(alpha * delta / 2))
        assert _close(laplace.log_fu_over_fsu(eta, alpha, delta), naive, rtol=1e-13)


def test_stable_for_large_alpha_times_distance():
    # alpha |s - u| ~ 1e3 and beyond: cosh/sinh overflow in float64, the stable forms do not.
    with np.errstate(over="ignore"):
        assert np.isinf(np.cosh(1e3))
    alpha, delta = 2000.0, 1.0
    v = laplace.log_fu_over_fsu(np.array([3.0, -0.5, 0.2]), alpha, delta)
    assert np.all(np.isfinite(v))
    # asymptotics: alpha(|eta| - Delta/2) + log 2 for large alpha Delta; e^{-alpha(Delta/2 - |eta|)}/2 inside
    assert _close(v[0], alpha * (3.0 - 0.5) + math.log(2))
    assert _close(v[1], math.log(2))
    assert v[2] > 0 and _close(v[2], 0.5 * math.exp(-alpha * 0.3), rtol=1e-12)
    nl = laplace.neg_log_p_z_given_u(np.array([0, 5]), 0.1, alpha, delta)
    assert np.all(np.isfinite(nl)) and _close(nl[1], alpha * (5 - 0.1 - 0.5) + math.log(2))


def test_torch_gradients_finite_in_all_branches():
    eta = torch.tensor([0.0, 0.2, 0.5, 3.0, -700.0], dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    delta = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    laplace.log_fu_over_fsu(eta, alpha, delta).sum().backward()
    for g in (eta.grad, alpha.grad, delta.grad):
        assert torch.all(torch.isfinite(g))
    # gradcheck against finite differences (double precision)
    f = lambda e, a, d: laplace.log_fu_over_fsu(e, a, d)  # noqa: E731
    x = torch.tensor([0.1, -0.3, 0.9, 2.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (x, alpha.detach().requires_grad_(), delta.detach().requires_grad_()))
    u = torch.tensor([0.1, -0.3, 0.2], dtype=torch.float64, requires_grad=True)
    z = torch.tensor([0, 1, -2])
    laplace.neg_log_p_z_given_u(z, u, 5.0, 1.0).sum().backward()
    assert torch.all(torch.isfinite(u.grad))
    big = torch.tensor([1e3], dtype=torch.float64, requires_grad=True)
    laplace.log_fu_over_fsu(big, 1e3, 1.0).sum().backward()
    assert torch.isfinite(big.grad).all() and big.grad.item() == pytest.approx(1e3)


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        laplace.log_fu_over_fsu(0.1, -1.0, 1.0)
    with pytest.raises(ValueError):
        laplace.neg_log_p_z_given_u(1, 0.7, 1.0, 1.0)  # u outside the cell


@pytest.mark.theorem
@given(alpha=st.floats(1e-2, 200.0), delta=st.floats(0.05, 5.0), s=st.floats(-20.0, 20.0),
       frac=st.floats(-0.499, 0.499))
def test_closed_forms_property(alpha, delta, s, frac):
    u = frac * delta
    ref = laplace.log_fu_over_fsu_reference(s - u, alpha, delta)
    assert _close(laplace.log_fu_over_fsu(s - u, alpha, delta), ref, rtol=1e-11, atol=1e-300)
    # Theorem 1 for Z + Laplace: log 1/p_{Z|U}(z|u) = log f_U/f_{S-U}(z Delta - u)
    z = int(round(s / delta))
    assert _close(laplace.neg_log_p_z_given_u(z, u, alpha, delta),
                  float(laplace.log_fu_over_fsu(z * delta - u, alpha, delta)), rtol=1e-12, atol=1e-300)
    # p_{Z|U}(.|u) sums to 1 over z
    zs = np.arange(-60, 61)
    if alpha * delta > 0.5:
        tot = np.exp(-laplace.neg_log_p_z_given_u(zs, u, alpha, delta)).sum()
        assert abs(tot - 1) < 1e-9


def test_no_sec33_erratum_recorded():
    # finding: both closed forms of Sec. 3.3 hold as printed (checked above against quadrature)
    assert errata_for("Sec. 3.3") == []


# ------------------------------------------------------------------ eq. (7)
@pytest.mark.parametrize("name,seed", [("z", 1), ("a2", 2), ("d4", 3), ("e8", 4)])
def test_kl_mc_matches_corrected_formula(name, seed):
    L = lattices.get(name)
    est, se = kl.kl_uniform_gaussian_mc(L, 100_000, seed)
    exact = kl.kl_uniform_gaussian_exact(L)
    assert abs(est - exact) < 4 * se
    if L.dim == 1:
        assert kl.kl_as_printed(L) == pytest.approx(exact, rel=1e-15)
    else:  # printed (7) is the per-dimension KL: refuted by many standard errors
        assert abs(est - kl.kl_as_printed(L)) > 50 * se
        assert kl.kl_per_dimension(L) == pytest.approx(kl.kl_as_printed(L), rel=1e-15)


def test_kl_exact_symbolic_derivation():
    # -log V + (m/2) log(2 pi sigma^2) + m/2 == (m/2) log(2 pi e G), exactly, for E8 and A2
    for name in ("e8", "a2"):
        L = lattices.get(name)
        m, V, s2, G = L.dim, L.volume_exact(), L.second_moment_exact(), L.nsm_exact()
        lhs = -sp.log(V) + sp.Rational(m, 2) * sp.log(2 * sp.pi * s2) + sp.Rational(m, 2)
        rhs = sp.Rational(m, 2) * sp.log(2 * sp.pi * sp.E * G)
        assert abs(float(sp.N(lhs - rhs, 50))) < 1e-40
    e8 = lattices.get("e8")
    assert kl.kl_uniform_gaussian_exact(e8) == pytest.approx(8 * kl.kl_as_printed(e8), rel=1e-14)
    assert kl.kl_uniform_gaussian_exact(e8) == pytest.approx(0.809451, abs=1e-6)
    assert kl.kl_as_printed(e8) == pytest.approx(0.101181, abs=1e-6)


def test_kl_limit_claims():
    assert kl.sphere_nsm(1) == sp.Rational(1, 12)
    # total KL >= (m/2) log(2 pi e G*_m) grows without bound: the printed total limit 0 is false
    bounds = [kl.total_kl_lower_bound(m) for m in (1, 8, 100, 10**4, 10**6)]
    assert all(b2 > b1 for b1, b2 in zip(bounds, bounds[1:])) and bounds[-1] > 6
    assert bounds[-1] == pytest.approx(0.5 * math.log(math.pi * 10**6) - 1, abs=1e-3)
    # Z attains the bound (its cell is the 1-ball)
    assert bounds[0] == pytest.approx(kl.kl_uniform_gaussian_exact(lattices.get("z")), rel=1e-14)
    # per dimension the bound tends to 0, as (7) per dimension claims
    assert kl.total_kl_lower_bound(10**6) / 10**6 < 1e-5
    # the printed limit 1/(2 pi e^2) lies below the printed lower bound 1/(2 pi e)
    assert 1 / (2 * math.pi * math.e ** 2) < 1 / (2 * math.pi * math.e)
    assert float(kl.sphere_nsm(2000)) == pytest.approx(1 / (2 * math.pi * math.e), rel=5e-3)


def test_kl_negative_control_parallelepiped_refuted():
    L = lattices.get("a2")
    B = L.basis
    est, se = kl.kl_uniform_gaussian_mc(L, 20_000, 0, cell_sampler=lambda n, r: r.random((n, 2)) @ B)
    assert abs(est - kl.kl_uniform_gaussian_exact(L)) > 20 * se


def test_errata_recorded():
    wheres = {e["where"] for e in PAPER_ERRATA}
    for w in ("eq. (7)", "eq. (7), limit", "Sec. 3.5, NSM limit", "Sec. 3.6.2, step 2", "Sec. 3.6.2"):
        assert w in wheres
    for e in PAPER_ERRATA:
        assert set(e) >= {"where", "statement", "printed", "corrected", "evidence"}
    n = len(PAPER_ERRATA)
    first = errata_for("eq. (7)")[0]
    assert add_erratum(first["where"], first["statement"], "x", "y", "z") is first
    assert len(PAPER_ERRATA) == n  # idempotent
    with pytest.raises(TypeError):
        add_erratum("", "s", "p", "c", "e")


# ------------------------------------------------------------------ eq. (8) and Sec. 3.6.2
@pytest.mark.parametrize("name", ["z", "a2", "e8", "d4"])
def test_matched_scaling_exact(name):
    L = lattices.get(name)
    assert scaling.check_matched_scaling_exact(L)                 # for every sigma^2 (symbol)
    assert scaling.check_matched_scaling_exact(L, sp.Rational(3, 7))
    s2 = 0.37
    delta = float(scaling.matched_delta(s2, L))
    assert delta ** 2 * L.second_moment() == pytest.approx(s2, rel=1e-13)
    assert L.scaled(delta).second_moment() == pytest.approx(s2, rel=1e-12)
    t = torch.tensor(s2, dtype=torch.float64, requires_grad=True)
    scaling.matched_log_delta(t, L).backward()
    assert t.grad.item() == pytest.approx(0.5 / s2)


@pytest.mark.theorem
@given(m=st.integers(1, 16), s2u=st.floats(1e-3, 1e2), s2s=st.floats(1e-3, 1e2), seed=st.integers(0, 2**31))
def test_proxy_kl_equals_gaussian_log_ratio(m, s2u, s2s, seed):
    r = np.random.default_rng(seed)
    e, ug = r.normal(size=(4, m)) * 3, r.normal(size=(4, m)) * math.sqrt(s2u)
    a = scaling.proxy_kl(e, ug, s2u, s2s)
    b = scaling.gaussian_log_ratio(e, ug, s2u, s2s)
    assert np.allclose(a, b, rtol=1e-12, atol=1e-12 * (1 + np.abs(b).max()))
    # torch, differentiable
    tu = torch.tensor(s2u, dtype=torch.float64, requires_grad=True)
    out = scaling.proxy_kl(torch.tensor(e), torch.tensor(ug), tu, torch.tensor(s2s, dtype=torch.float64))
    assert np.allclose(out.detach().numpy(), b, rtol=1e-12, atol=1e-12 * (1 + np.abs(b).max()))
    out.sum().backward()
    assert math.isfinite(tu.grad.item())


def test_proxy_kl_other_reading_of_sigma_g_breaks_identity():
    # reading the printed sigma_G^2 as sigma_U^2 + sigma_S^2 does not give the log-ratio
    r = np.random.default_rng(0)
    e, ug, s2u, s2s = r.normal(size=8), r.normal(size=8), 0.5, 2.0
    tot = s2u + s2s
    other = 0.5 * (((e - ug) ** 2).sum() / tot - (ug ** 2).sum() / tot - 8 * math.log(s2u / tot))
    assert abs(other - scaling.gaussian_log_ratio(e, ug, s2u, s2s)) > 1e-3


# ------------------------------------------------------------------ Sec. 3.4 prior
PRIOR_CASES = [("z", 9, 3), ("z2", 5, 2), ("a2", 7, 3), ("e8", 4, 3), ("z2", 4, 0), ("a2", 2, 9)]


@pytest.mark.parametrize("name,max_norm,t", PRIOR_CASES)
def test_prior_normalized(name, max_norm, t):
    L = lattices.get(name)
    torch.manual_seed(0)
    P = lattice_prior.LatticePrior(L, max_norm, t, u_hidden=8)
    with torch.no_grad():
        for p in P.parameters():
            p.normal_()
    pts = torch.as_tensor(P.support_points())                       # (N, m)
    assert len(pts) == sum(L.theta_series(max_norm))
    for s in range(3):
        u = torch.as_tensor(L.sample_cell(1, s))                     # (1, m): broadcasts over points
        lp = P.log_prob(pts, u)
        assert torch.all(torch.isfinite(lp))
        assert abs(torch.logsumexp(lp.detach(), 0).item()) < 1e-12
    # a point beyond max_norm has probability 0
    far = torch.as_tensor(L.from_coordinates(np.full((1, L.dim), 7)))
    assert P.log_prob(far, u).item() == -math.inf


def test_prior_scaled_lattice_and_gradients():
    L = lattices.get("e8", scale=0.5)
    P = lattice_prior.LatticePrior(L, 6, 3, u_hidden=8)                       # tail shells 4 and 6
    pts = torch.as_tensor(P.support_points())
    u = torch.as_tensor(L.sample_cell(5, 0))[:, None, :]             # (5, 1, 8) x (N, 8) -> (5, N)
    lp = P.log_prob(pts, u)
    assert lp.shape == (5, len(pts))
    assert torch.allclose(torch.logsumexp(lp.detach(), 1), torch.zeros(5, dtype=torch.float64), atol=1e-12)
    idx = torch.tensor([0, 1, 300, 301, 9000])
    (-P.log_prob(pts[idx], u[:, 0, :])).sum().backward()          # code length, Sec. 3.4 / (6)
    grads = [p.grad for p in P.parameters()]
    assert all(g is not None and torch.all(torch.isfinite(g)) for g in grads)
    assert P.psi.grad.abs().sum() > 0 and any(g.abs().sum() > 0 for g in grads[1:])
    with pytest.raises(ValueError):
        P.log_prob(pts[:1] + 0.1, u[0])                                # not a lattice point


def test_prior_tail_uniform_within_shell():
    P = lattice_prior.LatticePrior(lattices.get("e8"), 4, 3)
    pts = torch.as_tensor(P.support_points())
    lp = P.log_prob(pts, torch.zeros(8, dtype=torch.float64))
    norms = torch.round((pts ** 2).sum(-1)).long()
    shell = lp[norms == 4]
    assert len(shell) == 2160 and torch.allclose(shell, shell[0].expand_as(shell))


def test_product_prior_factorizes_and_normalizes():
    z = lattices.get("z")
    P = lattice_prior.ProductLatticePrior([z, z], max_norm=4, threshold_t=2, u_hidden=4)
    one = P.blocks[0].support_points()[:, 0]
    grid = torch.as_tensor(np.stack(np.meshgrid(one, one, indexing="ij"), -1).reshape(-1, 2))
    u = torch.tensor([0.1, -0.3], dtype=torch.float64)
    lp = P.log_prob(grid, u)
    assert abs(torch.logsumexp(lp.detach(), 0).item()) < 1e-12
    expect = P.blocks[0].log_prob(grid[:, :1], u[:1]) + P.blocks[1].log_prob(grid[:, 1:], u[1:])
    assert torch.allclose(lp, expect)


def test_enumerate_points_matches_theta():
    for name, k in (("a2", 12), ("d4", 6), ("e8", 4)):
        L = lattices.get(name)
        _, pts, norms = lattice_prior.enumerate_points(L, k)
        assert np.bincount(norms, minlength=k + 1).tolist() == L.theta_series(k)
        assert np.allclose(L.nearest(pts), pts)


# ------------------------------------------------------------------ CLI
def test_cli_e8_refutes_printed_and_confirms_corrected(capsys):
    assert kl_identity.main(["--lattice", "e8", "--samples", "50000", "--seed", "0", "--json"]) == 1
    rep = json.loads(capsys.readouterr().out)
    assert rep["confirmed"] is False and rep["checks"][0]["passed"] is False
    assert rep["corrected"]["confirmed"] is True
    assert all(not c["passed"] for c in rep["negative_controls"])
    assert rep["seed"] == 0 and rep["samples"] == 50000


def test_cli_z_confirms_printed_and_table(capsys):
    assert kl_identity.main(["--lattice", "z", "--samples", "20000"]) == 0
    out = capsys.readouterr().out
    assert "CONFIRMED" in out and "| claim |" in out


def test_cli_bad_usage():
    assert kl_identity.main(["--lattice", "nope"]) == 2
    assert kl_identity.main(["--samples", "1"]) == 2
    assert kl_identity.main(["--bogus"]) == 2
