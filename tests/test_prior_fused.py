"""The fused CPU prior (theory.lattice_prior_fused) against the eager reference formulation.

Tolerances: float64 agreement to 1e-12 absolute (the two paths order the same float64
operations differently, and the fused tanh is 2 sigmoid(2x) - 1, exact to 4e-16; the
code lengths are O(10) nats, so a few hundred ulps); float32 to 2e-4 (float32 round-off
of logits of size O(10) through a log-softmax of up to 241 terms).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import lattices
from theory import lattice_prior as lp
from theory import lattice_prior_fused as fused

# (lattice, K, t, escape): head + shells + flag, no head (t = 0), no shells (t > K), the origin only
CASES = [("z2", 64, 9, True), ("a2", 64, 7, True), ("e8", 64, 3, True), ("e8", 6, 3, False),
         ("z2", 8, 0, True), ("a2", 4, 9, False), ("d4", 10, 1, True)]


def _prior(name, K, t, escape, n_blocks=3, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    p = lp.LatticePrior(lattices.get(name), K, t, u_hidden=8, n_blocks=n_blocks, escape=escape, dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for q in p.parameters():                           # non-trivial parameters (psi starts at 0)
            q.copy_(torch.randn(q.shape, generator=g, dtype=q.dtype))
    return p


def _inputs(p, n=40, spread=2, seed=1):
    """Coefficients around the origin (head, shells and, for small K, beyond K) and dithers."""
    g = torch.Generator().manual_seed(seed)
    R = p.n_blocks or 1
    coords = torch.randint(-spread, spread + 1, (n, R, p.dim), generator=g)
    coords[: n // 4] = 0                                     # the origin: always a head point when t > 0
    u = torch.rand((n, R, p.dim), generator=g, dtype=torch.float64) - 0.5
    return coords, u


def _run(p, coords, u, use_fused, weights):
    p.fused = use_fused
    p.zero_grad(set_to_none=True)
    out = p.log_prob_coords(coords, u)
    finite = torch.isfinite(out)
    (torch.where(finite, out, 0.0) * weights).sum().backward()
    grads = {n: (q.grad if q.grad is not None else torch.zeros_like(q)).clone() for n, q in p.named_parameters()}
    return out.detach(), grads


@pytest.mark.parametrize("name,K,t,escape", CASES)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-4)])
def test_fused_matches_eager_values_and_gradients(name, K, t, escape, dtype, tol):
    p = _prior(name, K, t, escape, dtype=dtype)
    coords, u = _inputs(p)
    weights = torch.randn(coords.shape[:2], generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ref, ref_grads = _run(p, coords, u, False, weights.to(dtype))
    out, grads = _run(p, coords, u, True, weights.to(dtype))
    assert torch.equal(torch.isfinite(ref), torch.isfinite(out))
    if not escape:
        assert not torch.isfinite(ref).all() or K >= 64 or t > K   # the small-K cases do leave the support
    fin = torch.isfinite(ref)
    assert fin.any()
    torch.testing.assert_close(out[fin], ref[fin], rtol=0, atol=tol)
    for n in ref_grads:
        scale = max([1.0, *ref_grads[n].abs().flatten().tolist()])
        torch.testing.assert_close(grads[n], ref_grads[n], rtol=0, atol=tol * scale, msg=n)


def test_fused_only_when_a_gradient_is_recorded(monkeypatch):
    """Training (grad enabled) takes the fused path; evaluation under no_grad the eager one."""
    p = _prior("z2", 16, 4, True)
    coords, u = _inputs(p)
    calls = []
    real = lp.fused_log_prob
    monkeypatch.setattr(lp, "fused_log_prob", lambda *a: calls.append(1) or real(*a))
    with_grad = p.log_prob_coords(coords, u)
    assert calls == [1]
    with torch.no_grad():
        without = p.log_prob_coords(coords, u)
    assert calls == [1]
    torch.testing.assert_close(without, with_grad.detach(), rtol=0, atol=1e-12)


def test_fused_is_taken_on_cpu_and_eager_when_u_needs_a_gradient():
    p = _prior("a2", 16, 4, True)
    coords, u = _inputs(p)
    assert fused.fused_supported(p, coords, u)
    u_grad = u.clone().requires_grad_(True)
    assert not fused.fused_supported(p, coords, u_grad)
    out = p.log_prob_coords(coords, u_grad)                 # the eager path: gradient with respect to u
    out.sum().backward()
    assert u_grad.grad is not None and u_grad.grad.abs().sum() > 0
    torch.testing.assert_close(out.detach(), p.log_prob_coords(coords, u), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name,K,t", [("z2", 9, 3), ("a2", 7, 4), ("e8", 4, 3)])
def test_fused_normalized_over_enumerated_support(name, K, t):
    """Sum over every point of norm <= K (no escape): 1 to round-off, per block and dither."""
    p = _prior(name, K, t, False, n_blocks=2)
    pts = torch.as_tensor(p.support_coords())                       # (N, m)
    coords = pts[:, None, :].expand(-1, 2, -1)
    for seed in range(3):
        u = torch.rand((1, 2, p.dim), generator=torch.Generator().manual_seed(seed), dtype=torch.float64) - 0.5
        total = p.log_prob_coords(coords, u.expand(len(pts), -1, -1)).detach().exp().sum(0)   # fused: grad on
        torch.testing.assert_close(total, torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name,K,t,escape", [("a2", 12, 4, True), ("e8", 6, 3, True), ("z2", 9, 3, False)])
def test_fused_backward_against_finite_differences(name, K, t, escape):
    """torch.autograd.gradcheck of the hand-written backward (float64, central differences)."""
    p = _prior(name, K, t, escape, n_blocks=2)
    coords, u = _inputs(p, n=12)
    coords[-3:] = 0
    x = u.transpose(0, 1).div(math.sqrt(p.unit)).contiguous()
    empty = torch.zeros(2, dtype=torch.float64)
    params = [p.psi, p.escape_logit if escape else empty, p.ratio_logit if escape else empty,
              p.w1, p.b1, p.w2, p.b2, p.w_flag, p.b_flag]
    leaves = [q.detach().clone().requires_grad_(q is not empty) for q in params]

    def f(*args):
        out = fused._FusedPrior.apply(*args, coords.contiguous(), x, p, True)
        return torch.where(torch.isfinite(out), out, 0.0)

    assert torch.autograd.gradcheck(f, leaves, eps=1e-6, atol=1e-7, rtol=1e-6)
