"""The fused CPU discrete Gaussian prior (theory.discrete_gaussian_fused) against its eager formulation.

Tolerance: relative 1e-12 of the values and gradients (float64; the code lengths reach
O(10^3) nats at the smallest scales, the gradients O(10^4); the two paths sum the same terms
in different orders, the fused one drops terms below 1e-18 of the largest, and its direct
theta terms come from a ratio recurrence with a few ulps of error each).
"""
from __future__ import annotations

import pytest
import torch

import lattices
from theory import discrete_gaussian_fused as fused
from theory.discrete_gaussian_prior import S_MAX, S_MIN, DiscreteGaussianPrior


def _prior(name, scale, components=3, seed=0):
    torch.manual_seed(seed)
    p = DiscreteGaussianPrior(lattices.get(name), n_blocks=3, components=components, init_scale=scale)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        p.mix_logits.copy_(torch.randn(p.mix_logits.shape, generator=g, dtype=torch.float64))
        p.log_scale.add_(0.3 * torch.randn(p.log_scale.shape, generator=g, dtype=torch.float64))
    return p


def _inputs(p, n=30, seed=1):
    g = torch.Generator().manual_seed(seed)
    coords = torch.randint(-3, 4, (n, p.n_blocks, p.dim), generator=g)
    u = torch.rand((n, p.n_blocks, p.dim), generator=g, dtype=torch.float64) - 0.5
    return coords, u


def _run(p, coords, u, use_fused, weights):
    p.fused = use_fused
    p.zero_grad(set_to_none=True)
    out = p.log_prob_coords(coords, u)
    (out * weights).sum().backward()
    return out.detach(), p.log_scale.grad.clone(), p.mix_logits.grad.clone()


def _close(a, b, rel=1e-12):
    scale = max(1.0, float(b.abs().max()))
    torch.testing.assert_close(a, b, rtol=0, atol=rel * scale)


@pytest.mark.parametrize("name", ["z2", "a2", "d4", "e8"])
@pytest.mark.parametrize("scale", [0.06, 0.3, 0.9, 1.5, 20.0])     # both theta branches, small and wide
def test_fused_matches_eager(name, scale):
    p = _prior(name, scale)
    coords, u = _inputs(p)
    w = torch.randn(coords.shape[:2], generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ref = _run(p, coords, u, False, w)
    got = _run(p, coords, u, True, w)
    for a, b in zip(got, ref):
        _close(a, b)


@pytest.mark.parametrize("name", ["z2", "a2", "d4", "e8"])
def test_fused_dual_branch_between_the_two_switches(name):
    """1-D scales in [FUSED_SWITCH, SWITCH_SCALE) = [0.3, 0.5): the fused kernel takes the Poisson
    dual (4 terms), the eager formulation the direct sum; they agree to 1e-14 of the values and
    1e-13 of the gradients (the dual's derivative loses a digit to cancellation near s = 0.3)."""
    from theory.discrete_gaussian_prior import SWITCH_SCALE

    assert fused.FUSED_SWITCH < SWITCH_SCALE
    p = _prior(name, 1.0, components=2)
    g = torch.Generator().manual_seed(4)
    one_d = 0.3 + 0.2 * torch.rand(p.log_scale.shape, generator=g, dtype=torch.float64)   # [0.3, 0.5)
    with torch.no_grad():                  # s = (1-D scale) x spacing (x 2 for the parity split)
        p.log_scale.copy_(torch.log(one_d * p._spacing * (2.0 if p.parity else 1.0)))
    coords, u = _inputs(p, n=200)
    w = torch.randn(coords.shape[:2], generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ref = _run(p, coords, u, False, w)
    got = _run(p, coords, u, True, w)
    _close(got[0], ref[0], rel=1e-14)
    _close(got[1], ref[1], rel=1e-13)
    _close(got[2], ref[2], rel=1e-13)


def test_clamped_scales_get_no_gradient_in_both_paths():
    p = _prior("z2", 1.0, components=2)
    with torch.no_grad():
        p.log_scale[0, 0, 0] = torch.log(torch.tensor(S_MIN)) - 1.0       # below the clamp
        p.log_scale[1, 1, 1] = torch.log(torch.tensor(S_MAX)) + 1.0       # above it
    coords, u = _inputs(p)
    w = torch.ones(coords.shape[:2], dtype=torch.float64)
    for use_fused in (False, True):
        _, g, _ = _run(p, coords, u, use_fused, w)
        assert g[0, 0, 0] == 0 and g[1, 1, 1] == 0 and g.abs().sum() > 0


def test_fused_taken_on_cpu_and_eager_when_u_needs_a_gradient():
    p = _prior("e8", 0.5)
    coords, u = _inputs(p)
    assert fused.fused_supported(p, coords, u)
    assert not fused.fused_supported(p, coords, u.clone().requires_grad_(True))
    with torch.no_grad():                                              # no derivative buffers needed
        a = p.log_prob_coords(coords, u)
    _close(a, p.log_prob_coords(coords, u).detach())


@pytest.mark.parametrize("name,scale", [("a2", 0.4), ("e8", 0.7), ("z2", 2.0)])
def test_fused_backward_against_finite_differences(name, scale):
    p = _prior(name, scale, components=2)
    coords, u = _inputs(p, n=6)
    a = (coords.double() @ p._basis).contiguous()
    leaves = [p.log_scale.detach().clone().requires_grad_(True), p.mix_logits.detach().clone().requires_grad_(True)]
    f = lambda ls, mix: fused._FusedDGauss.apply(ls, mix, a, u.contiguous(), p, True)   # noqa: E731
    assert torch.autograd.gradcheck(f, leaves, eps=1e-6, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("name", ["d4", "e8"])
@pytest.mark.parametrize("scale", [0.1, 0.3, 1.2])
def test_parity_split_where_both_coordinates_take_their_smaller_class(name, scale):
    """The even and odd sums of a coordinate are computed together (one grid of half-integers):
    at the smallest scales the class a coordinate does not favour is ~1e-22 of the other, and
    with u = (0, 1, 0, ...) + jitter the even-parity sum is dominated by products of two such
    small classes; the fused value must still match the eager one to 1e-12 relative."""
    p = _prior(name, scale)
    g = torch.Generator().manual_seed(4)
    n = 40
    base = torch.zeros(n, p.n_blocks, p.dim, dtype=torch.float64)
    base[..., 1] = 1.0
    u = base + 0.02 * (torch.rand(base.shape, generator=g, dtype=torch.float64) - 0.5)
    coords = torch.zeros(n, p.n_blocks, p.dim, dtype=torch.int64)
    w = torch.randn(coords.shape[:2], generator=g, dtype=torch.float64)
    ref = _run(p, coords, u, False, w)
    got = _run(p, coords, u, True, w)
    for a, b in zip(got, ref):
        _close(a, b)
