"""Block-batched and escape-extended lattice prior (theory.lattice_prior.LatticePrior, n_blocks / escape)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import lattices
from theory import lattice_prior as prior

# (lattice, K, t): small supports so that enumeration and the loops below stay fast
CASES = [("z2", 9, 3), ("a2", 7, 4), ("e8", 4, 3)]


def _randomize(p, seed=0):
    """Non-trivial parameters (the init has psi = 0), reproducibly."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for q in p.parameters():
            q.copy_(torch.randn(q.shape, generator=g, dtype=q.dtype))
    return p


def _set_escape(p, eps, rho):
    with torch.no_grad():
        p.escape_logit.fill_(math.log(eps / (1 - eps)))
        p.ratio_logit.fill_(math.log(rho / (1 - rho)))


def _log_esc_numpy(coords, rho):
    """Independent reference: log prod_i (1-rho)/(1+rho) rho^{|c_i|}, the two-sided geometric pmf."""
    coords = np.asarray(coords)
    return coords.shape[-1] * math.log((1 - rho) / (1 + rho)) + np.abs(coords).sum(-1) * math.log(rho)


def _reference_log_prob(p, block, coords, u):
    """Naive Sec. 3.4 pmf of one block, point by point (dict lookup of head points, explicit MLP)."""
    head = {tuple(c): i for i, c in enumerate(p.support_coords()[p.support_norms() < p.threshold_t])}
    G = p.lattice.gram / p.unit
    x = u / math.sqrt(p.unit)
    out = []
    for c, xi in zip(coords, x):
        k = int(round(float(c @ G @ c)))
        if k > p.max_norm:
            out.append(-math.inf)
            continue
        hvec = torch.tanh(xi @ p.w1[block] + p.b1[block]) if p.has_mlp else None
        flag = float(hvec @ p.w_flag[block] + p.b_flag[block]) if p.has_flag else None
        if k < p.threshold_t:
            logits = hvec @ p.w2[block] + p.b2[block]
            lp = float(torch.log_softmax(logits, 0)[head[tuple(c)]])
            out.append(lp + (math.log(1 / (1 + math.exp(-flag))) if flag is not None else 0.0))
        else:
            shells = [j for j in range(p.threshold_t, p.max_norm + 1) if p.lattice.theta_series(p.max_norm)[j]]
            lsm = torch.log_softmax(p.psi[block], 0)
            lp = float(lsm[shells.index(k)]) - math.log(p.lattice.theta_series(p.max_norm)[k])
            out.append(lp + (math.log(1 / (1 + math.exp(flag))) if flag is not None else 0.0))
    return np.array(out)


@pytest.mark.parametrize("name,K,t", CASES)
def test_blocks_match_naive_reference(name, K, t):
    L = lattices.get(name)
    torch.manual_seed(0)
    p = _randomize(prior.LatticePrior(L, K, t, u_hidden=6, n_blocks=3))
    coords = p.support_coords()
    rng = np.random.default_rng(1)
    pick = np.concatenate([rng.choice(len(coords), 12), [0]])                 # head, tail, origin
    far = np.full((1, L.dim), 9)                                              # beyond K
    c = np.concatenate([coords[pick], far])                                   # (N, m)
    u = L.sample_cell(len(c) * 3, rng=2).reshape(len(c), 3, L.dim)           # (N, R, m)
    cc = torch.as_tensor(np.repeat(c[:, None, :], 3, 1))                      # (N, R, m)
    with torch.no_grad():
        lp = p.log_prob_coords(cc, torch.as_tensor(u)).numpy()               # (N, R)
        for b in range(3):
            ref = _reference_log_prob(p, b, c, torch.as_tensor(u[:, b]))
            # same float64 arithmetic in a different order: agreement to 1e-12
            assert np.allclose(lp[:, b], ref, rtol=0, atol=1e-12, equal_nan=False)
            assert np.array_equal(np.isinf(lp[:, b]), np.isinf(ref))
    # the point API gives the same numbers as the coefficient API
    pts = torch.as_tensor(c @ L.basis)[:, None, :].expand(-1, 3, -1)
    with torch.no_grad():
        assert torch.equal(p.log_prob(pts, torch.as_tensor(u)), torch.as_tensor(lp))


@pytest.mark.parametrize("name,K,t", CASES)
def test_truncated_part_normalized_per_block(name, K, t):
    L = lattices.get(name)
    torch.manual_seed(0)
    p = _randomize(prior.LatticePrior(L, K, t, u_hidden=5, n_blocks=2))
    pts = torch.as_tensor(p.support_points())                                # (N, m)
    assert len(pts) == sum(L.theta_series(K))
    u = torch.as_tensor(L.sample_cell(2, rng=3))                             # (R=2, m)
    lp = p.log_prob(pts[:, None, :].expand(-1, 2, -1), u)                     # (N, 2)
    # sum of N <= 26641 probabilities in float64: round-off well below 1e-12
    assert torch.allclose(torch.logsumexp(lp.detach(), 0), torch.zeros(2, dtype=torch.float64), atol=1e-12)
    # the two blocks have independent parameters, hence different pmfs
    assert (lp[:, 0] - lp[:, 1]).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["z2", "a2"])
def test_escape_mixture_normalized_on_big_ball(name):
    """sum over the ball of norm <= K_big of the mixture = 1 - eps P_esc(outside), bounded below.

    Bound: outside the ball, c^T G c > K_big with c the integer coefficients, hence
    |c|_2^2 > K_big / lambda_max(G) and |c|_inf > r = sqrt(K_big / (n lambda_max(G))).
    With P_esc(|c_i| >= j) = 2 rho^j / (1 + rho) and a union bound over the n coefficients,
    P_esc(outside) <= n * 2 rho^(floor(r) + 1) / (1 + rho).
    """
    L = lattices.get(name)
    K_big, eps, rho = 2000, 0.3, 0.4
    torch.manual_seed(0)
    p = _randomize(prior.LatticePrior(L, 6, 2, u_hidden=4, escape=True))
    _set_escape(p, eps, rho)
    coords, _, _ = prior.enumerate_points(L, K_big)                           # ~7000 points
    u = torch.as_tensor(L.sample_cell(1, rng=4))
    with torch.no_grad():
        total = p.log_prob_coords(torch.as_tensor(coords), u).exp().sum().item()
    lam = np.linalg.eigvalsh(L.gram).max()
    r = math.sqrt(K_big / (L.dim * lam))
    tail = L.dim * 2 * rho ** (math.floor(r) + 1) / (1 + rho)
    assert tail < 1e-9                                                        # the check is sharp
    assert 1 - eps * tail - 1e-12 <= total <= 1 + 1e-12                      # 1e-12: float64 sum of ~7000 terms
    # and the mass splits as (1 - eps) * 1 + eps * P_esc(ball), P_esc from an independent formula
    esc_ball = np.exp(_log_esc_numpy(coords, rho)).sum()
    assert abs(total - ((1 - eps) + eps * esc_ball)) < 1e-12


def test_escape_keeps_truncated_part_exact_and_far_points_finite():
    L = lattices.get("e8")
    torch.manual_seed(0)
    p = _randomize(prior.LatticePrior(L, 4, 3, u_hidden=4, n_blocks=2, escape=True))
    _set_escape(p, 0.05, 0.5)
    trunc = prior.LatticePrior(L, 4, 3, u_hidden=4, n_blocks=2)              # same parameters, no escape
    missing = trunc.load_state_dict(p.state_dict(), strict=False)
    assert missing.missing_keys == [] and set(missing.unexpected_keys) == {"escape_logit", "ratio_logit"}
    pts = torch.as_tensor(p.support_points())[:, None, :].expand(-1, 2, -1)
    u = torch.as_tensor(L.sample_cell(2, rng=5))
    with torch.no_grad():
        lt = trunc.log_prob(pts, u)
        assert torch.allclose(torch.logsumexp(lt, 0), torch.zeros(2, dtype=torch.float64), atol=1e-12)
        # a far point: p_trunc = 0, so log p = log eps + log p_esc exactly (finite)
        far = torch.full((1, 2, 8), 1000, dtype=torch.int64)
        lf = p.log_prob_coords(far, u)
        expect = math.log(0.05) + _log_esc_numpy(np.full(8, 1000), 0.5)
        assert torch.isfinite(lf).all() and torch.allclose(lf, torch.full_like(lf, expect), rtol=1e-12)
        assert trunc.log_prob_coords(far, u).isneginf().all()


def test_block_gradients_are_independent():
    L = lattices.get("a2")
    torch.manual_seed(0)
    p = _randomize(prior.LatticePrior(L, 7, 4, u_hidden=5, n_blocks=3, escape=True))
    coords = torch.as_tensor(p.support_coords()[[0, 3, 10, 20]])             # head and tail points
    c = coords[:, None, :].expand(-1, 3, -1)
    u = torch.as_tensor(L.sample_cell(12, rng=6)).reshape(4, 3, 2)
    p.log_prob_coords(c, u)[:, 1].sum().backward()                            # block 1 only
    for name, q in p.named_parameters():
        g = q.grad
        assert g is not None and torch.isfinite(g).all(), name
        assert g[1].abs().sum() > 0, name                                     # block 1 learns
        assert g[0].abs().sum() == 0 and g[2].abs().sum() == 0, name          # the others do not


def test_legacy_shapes_and_validation():
    L = lattices.get("z2")
    p = prior.LatticePrior(L, 4, 2)                                           # n_blocks=None: (..., m) -> (...)
    assert p.log_prob(torch.zeros(5, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)).shape == (5,)
    q = prior.LatticePrior(L, 4, 2, n_blocks=3)
    out = q.log_prob_coords(torch.zeros(5, 3, 2, dtype=torch.int64), torch.zeros(3, 2, dtype=torch.float64))
    assert out.shape == (5, 3)
    with pytest.raises(ValueError, match="n_blocks"):
        prior.LatticePrior(L, 4, 2, n_blocks=0)
    with pytest.raises(ValueError, match="escape"):
        prior.LatticePrior(L, 4, 2, escape="yes")
    with pytest.raises(ValueError, match="shape"):
        q.log_prob_coords(torch.zeros(5, 2, 2, dtype=torch.int64), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="integer"):
        q.log_prob_coords(torch.zeros(5, 3, 2), torch.zeros(3, 2))


def test_large_max_norm_enumerates_only_the_head():
    """E8 with K = 40 (4.8e6 points of norm <= 32 alone) is built from theta coefficients only:
    the support is not listed until support_points() is asked for, and norms up to K are coded."""
    p = prior.LatticePrior(lattices.get("e8"), 40, 3, n_blocks=2, escape=False)
    assert p._support is None and p.n_head == 241
    c = torch.tensor([[[2, 2, 2, 2, 2, 2, 2, 2]] * 2])          # a point of squared norm 24
    k = float(np.sum((np.full(8, 2.0) @ lattices.get("e8").basis) ** 2))
    assert k == pytest.approx(24.0, abs=1e-9)                  # 24 <= K = 40: in the norm part
    lp = p.log_prob_coords(c, torch.zeros(1, 2, 8, dtype=torch.float64))
    assert torch.isfinite(lp).all()
    far = torch.tensor([[[5, 5, 5, 5, 5, 5, 5, 5]] * 2])        # squared norm 150 > K: no mass
    assert p.log_prob_coords(far, torch.zeros(1, 2, 8, dtype=torch.float64)).isneginf().all()


def test_theta_series_is_computed_once_per_basis_and_K():
    from theory import lattice_prior as tp

    e8 = lattices.get("e8")
    first = tp._theta_series(e8, 12)
    assert first == e8.theta_series(12)
    key = ("e8", np.asarray(e8.basis, dtype=float).tobytes(), 12)
    assert tp._THETA_CACHE[key] == tuple(first)
    first[2] = -1                                          # a caller's copy: the cache is untouched
    assert tp._theta_series(e8, 12)[2] == 240
    scaled = lattices.get("e8", scale=0.5)                 # another basis: its own entry
    assert tp._theta_series(scaled, 4) == scaled.theta_series(4)
