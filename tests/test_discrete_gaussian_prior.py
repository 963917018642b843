"""The discrete-Gaussian lattice prior (theory.discrete_gaussian_prior) and its wiring (prior='dgauss')."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import lattices
from theory import discrete_gaussian_prior as dg
from theory.lattice_prior import enumerate_points


def _long_log_theta(x, s, terms=20000):
    """Reference: the direct float64 sum over |k| <= 20000 (the omitted terms are below e^-2000 for s <= 300)."""
    k = np.arange(-terms, terms + 1, dtype=np.float64)
    expo = -((k[:, None] - x[None, :]) ** 2) / (2 * s * s)
    top = expo.max(0)
    return top + np.log(np.exp(expo - top).sum(0))


@pytest.mark.parametrize("s", [0.05, 0.2, 0.4999999, 0.5, 0.7, 1.0, 3.0, 17.0, 300.0])
def test_log_theta_matches_a_long_direct_sum(s):
    # Both branches' truncation errors are < 1e-17 relative (docstring); what remains is round-off:
    # a few ulps of log theta (|log theta| up to ~50 at s = 0.05, hence the relative part).
    x = np.linspace(-3.7, 3.7, 41)
    got = dg.log_theta_1d(torch.as_tensor(x), torch.full((41,), s, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, _long_log_theta(x, s), rtol=1e-15, atol=4e-15)


def test_log_theta_is_periodic_and_continuous_at_the_switch():
    x = torch.linspace(-0.5, 0.5, 11, dtype=torch.float64)
    s = torch.full_like(x, 0.8)
    assert torch.allclose(dg.log_theta_1d(x + 7, s), dg.log_theta_1d(x, s), rtol=0, atol=1e-14)
    below = dg.log_theta_1d(x, torch.full_like(x, dg.SWITCH_SCALE * (1 - 1e-12)))
    at = dg.log_theta_1d(x, torch.full_like(x, dg.SWITCH_SCALE))
    assert (below - at).abs().max() < 1e-11                    # d log theta / ds ~ 1/s: 1e-12 s-steps


def _random_prior(name, C, s_lo, s_hi, seed):
    lat = lattices.get(name)
    p = dg.DiscreteGaussianPrior(lat, n_blocks=2, components=C)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        p.log_scale.copy_(torch.empty(p.log_scale.shape, dtype=torch.float64)
                          .uniform_(math.log(s_lo), math.log(s_hi), generator=g))
        p.mix_logits.copy_(torch.randn(p.mix_logits.shape, generator=g, dtype=torch.float64))
    return p


def _tail_bound(n, K, s_min, s_max, u_norm, d_min):
    r"""Rigorous bound on the mass beyond de-scaled norm K, for every component and block.

    A point ``a`` with :math:`|a|^2 > K` has :math:`\prod_i g(a_i-u_i) \le e^{-(|a|-|u|)^2/(2 s_{max}^2)}`,
    :math:`Z(u) \ge g(0 - u) \ge e^{-|u|^2/(2 s_{min}^2)}` (the term of the origin), and at most
    :math:`(2\sqrt{k}/d + 1)^n` lattice points of minimum distance ``d`` lie in the ball of
    radius :math:`\sqrt k` (disjoint balls of radius d/2); summing over integer norm bounds k
    (every norm here is an integer) over-counts each shell at most once per k.
    """
    k = np.arange(K + 1, 200000, dtype=np.float64)
    count = (2 * np.sqrt(k) / d_min + 1) ** n
    decay = np.exp(-np.maximum(np.sqrt(k) - u_norm, 0) ** 2 / (2 * s_max ** 2))
    return float((count * decay).sum() * math.exp(u_norm ** 2 / (2 * s_min ** 2)))


# (lattice, K, scale range, |u_i| bound, minimum distance): small scales exercise the direct
# sums, scales >= 1/2 the Poisson-dual ones (for D_n/E_8 the parity sums use s/2).
NORMALIZATION_CASES = [
    ("z2", 400, (0.6, 1.6), 0.5, 1.0),
    ("a2", 400, (0.6, 1.6), 0.5, 1.0),
    ("d4", 144, (1.0, 1.3), 0.35, math.sqrt(2)),
    ("d4", 30, (0.15, 0.4), 0.35, math.sqrt(2)),
    ("e8", 12, (0.2, 0.3), 0.1, math.sqrt(2)),
    # below every lattice's scale floor (clamped to it: 0.05 z2, 0.087 a2, 0.1 d4/e8); before the
    # floor, the 1-D sums clamped s/2 at 0.05 alone and E8's pmf summed to 0.0045 at s = 0.06
    ("z2", 8, (0.01, 0.04), 0.5, 1.0),
    ("a2", 8, (0.01, 0.06), 0.5, 1.0),
    ("d4", 8, (0.01, 0.08), 0.35, math.sqrt(2)),
    ("e8", 8, (0.01, 0.08), 0.1, math.sqrt(2)),
]


@pytest.mark.parametrize("name,K,scales,umax,dmin", NORMALIZATION_CASES)
def test_pmf_sums_to_one_over_enumerated_points(name, K, scales, umax, dmin):
    p = _random_prior(name, 3, *scales, seed=K)
    coords, _, _ = enumerate_points(p.lattice, K)
    n = p.dim
    g = torch.Generator().manual_seed(1)
    u = (torch.rand(1, 2, n, generator=g, dtype=torch.float64) * 2 - 1) * umax
    with torch.no_grad():
        lp = p.log_prob_coords(torch.as_tensor(coords)[:, None, :].expand(-1, 2, -1), u)   # (N, 2)
    total = torch.logsumexp(lp, 0).exp().numpy()
    s = p.scales().detach()
    bound = _tail_bound(n, K, float(s.min()), float(s.max()), float(u.norm(dim=-1).max()), dmin)
    assert bound < 1e-7                                         # the check below is sharp
    # 1 - tail <= total <= 1, up to round-off of a sum of N terms (N * 1e-16 relative)
    tol = len(coords) * 2e-16 + 1e-13
    assert np.all(total <= 1 + tol) and np.all(total >= 1 - bound - tol), (total, bound)


def test_normalization_check_detects_a_wrong_normalizer():
    # negative control: E8's normalizer without its second coset D8 + 1/2 (the D8 sum alone), at
    # u = (1/4)^8, as close to (1/2)^8 as to 0: the sum over E8 is then far from 1
    p = _random_prior("e8", 2, 0.2, 0.3, seed=5)
    coords, _, _ = enumerate_points(p.lattice, 8)
    u = torch.full((1, 2, 8), 0.25, dtype=torch.float64)
    batch = torch.as_tensor(coords)[:, None, :].expand(-1, 2, -1)
    with torch.no_grad():
        right = torch.logsumexp(p.log_prob_coords(batch, u), 0).exp()
        p._shifts = p._shifts[:1]
        wrong = torch.logsumexp(p.log_prob_coords(batch, u), 0).exp()
    assert (right - 1).abs().max() < 1e-6 and (wrong - 1).abs().min() > 0.1


def test_coset_tables_are_checked_against_the_basis():
    with pytest.raises(AssertionError):
        dg._check_cosets(lattices.get("a2"), *dg.SUPPORTED["z2"])
    with pytest.raises(AssertionError):
        dg._check_cosets(lattices.get("e8"), (1.0,) * 8, ((0.0,) * 8,), True)         # D8 alone
    for name in dg.SUPPORTED:
        dg._check_cosets(lattices.get(name), *dg.SUPPORTED[name])


def test_single_wide_component_matches_the_continuous_gaussian():
    # s = 4 on Z^2 at u = 0: Z = (s sqrt(2 pi))^2 (1 + O(e^{-2 pi^2 s^2})), so log p(0) = -log(2 pi s^2)
    p = dg.DiscreteGaussianPrior(lattices.get("z2"), n_blocks=1, components=1, init_scale=4.0)
    lp = p.log_prob_coords(torch.zeros(1, 1, 2, dtype=torch.int64), torch.zeros(1, 1, 2))
    assert abs(lp.item() + math.log(2 * math.pi * 16)) < 1e-12


@pytest.mark.parametrize("name", ["z2", "a2", "e8"])
def test_gradients_match_finite_differences(name):
    p = _random_prior(name, 2, 0.3, 1.4, seed=3)        # both branches of log_theta
    n = p.dim
    g = torch.Generator().manual_seed(2)
    coords, _, _ = enumerate_points(p.lattice, 2 if name == "e8" else 4)
    pick = torch.as_tensor(coords[torch.randint(len(coords), (5, 2), generator=g).numpy()])   # (5, 2, n)
    u = torch.rand(5, 2, n, generator=g, dtype=torch.float64) - 0.5

    log_scale = p.log_scale.detach().clone().requires_grad_(True)
    mix = p.mix_logits.detach().clone().requires_grad_(True)

    def functional(ls, ml):
        del p.log_scale, p.mix_logits
        p.log_scale, p.mix_logits = ls, ml
        try:
            return p.log_prob_coords(pick, u)
        finally:
            del p.log_scale, p.mix_logits
            p.log_scale = torch.nn.Parameter(log_scale.detach().clone())
            p.mix_logits = torch.nn.Parameter(mix.detach().clone())

    assert torch.autograd.gradcheck(functional, (log_scale, mix), eps=1e-6, atol=1e-8, rtol=1e-6)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="z2, a2, d4, e8"):
        dg.DiscreteGaussianPrior(lattices.get("e6"), n_blocks=1)
    with pytest.raises(ValueError, match="components"):
        dg.DiscreteGaussianPrior(lattices.get("z2"), n_blocks=1, components=0)
    with pytest.raises(ValueError, match="init_scale"):
        dg.DiscreteGaussianPrior(lattices.get("z2"), n_blocks=1, init_scale=0.0)
    p = dg.DiscreteGaussianPrior(lattices.get("a2"), n_blocks=3)
    with pytest.raises(ValueError, match="integer"):
        p.log_prob_coords(torch.zeros(1, 3, 2), torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match="n_blocks"):
        p.log_prob_coords(torch.zeros(1, 2, 2, dtype=torch.int64), torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="lattice points"):
        p.log_prob(torch.full((1, 3, 2), 0.3, dtype=torch.float64), torch.zeros(1, 3, 2))


# ------------------------------------------------------------------ wiring (vae.latents.proxy)
@pytest.mark.parametrize("name,dim", [("z2", 4), ("a2", 6), ("e8", 16)])
def test_proxy_latent_with_dgauss_passes_the_contract(name, dim):
    from vae.testing import check_latent

    assert "symbols" in check_latent(name, dim, prior="dgauss", prior_components=3)


def test_proxy_inference_log_ratio_is_minus_the_dgauss_code_length():
    from vae.latents import build_latent

    layer = build_latent("e8", 16, prior="dgauss")
    g = torch.Generator().manual_seed(0)
    e = torch.randn(3, 16, generator=g)
    u = layer.sample_dither(3, generator=g)
    sym = layer.encode(e, u)
    delta = layer.delta().detach().double()
    v = layer.blocks(u.double()) / delta[:, None]
    want = layer.prior.log_prob_coords(layer.blocks(sym), v).sum(-1)
    assert torch.allclose(layer.log_prob(sym, u), want, rtol=0, atol=1e-12)
    assert torch.isfinite(layer.log_prob(sym * 50, u)).all()            # full support: no escape needed


def test_proxy_prior_options_are_validated():
    from vae.latents import build_latent

    with pytest.raises(ValueError, match="unknown prior"):
        build_latent("e8", 8, prior="gauss")
    with pytest.raises(ValueError, match="bw16"):                   # the message lists the supported ones
        build_latent("proxy", 14, lattice="e7", prior="dgauss")
    assert build_latent("bw16", 16, prior="dgauss").prior.coded is not None    # supported since issue 30
    with pytest.raises(ValueError, match="prior_components"):
        build_latent("a2", 4, prior="dgauss", prior_components=0)
    paper = build_latent("e8", 8)                                       # the default stays the paper's
    assert paper.prior.family == "paper" and paper.prior.norm_shells() == (64, 3)


def test_saved_paper_runs_load_as_paper_whatever_the_default(monkeypatch):
    from vae import models
    from vae.latents import proxy

    config = models.ModelConfig(latent="e8", arch="linear", hidden=8)
    state = models.VAE(config).state_dict()
    monkeypatch.setattr(proxy, "DEFAULT_PRIOR", "dgauss")
    assert models.VAE(config).latent.prior.family == "dgauss"            # the patched default applies
    model = models.model_for_state(config, state)
    assert model.latent.prior.family == "paper"
    model.load_state_dict(state)


def test_dgauss_model_saves_and_loads(tmp_path):
    from vae import models

    config = models.ModelConfig(latent="a2", arch="linear", hidden=4,
                                latent_options={"prior": "dgauss", "prior_components": 3})
    model = models.VAE(config)
    with torch.no_grad():
        model.latent.prior.log_scale.add_(0.25)
    model.save(tmp_path / "m")
    back = models.VAE.load(tmp_path / "m")
    assert back.latent.prior.family == "dgauss" and back.latent.prior.components == 3
    assert torch.equal(back.latent.prior.log_scale, model.latent.prior.log_scale)


def test_codec_codes_each_prior_family_with_its_own_coder():
    from vae.codec.dispatch import coder_for
    from vae.latents import build_latent
    from vae.priors.dgauss import DGaussPriorCoder
    from vae.priors.paper import PaperPriorCoder

    assert type(coder_for(build_latent("e8", 8, prior="dgauss")).prior_coder) is DGaussPriorCoder
    assert type(coder_for(build_latent("e8", 8)).prior_coder) is PaperPriorCoder      # the paper prior
