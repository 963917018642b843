"""Lattice latent layers: ``z-laplace`` (Sec. 3.3, 3.6.1) and the Gaussian-proxy ``z2``/``a2``/``e8`` (3.6.2)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from theory import laplace, scaling
from vae.latents import build_latent
from vae.latents.proxy import A2Latent, E8Latent, ProxyLatticeLatent, Z2Latent
from vae.latents.z_laplace import ZLaplaceLatent

PROXIES = [("z2", Z2Latent), ("a2", A2Latent), ("e8", E8Latent)]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def zlap(dim=6, **kw):
    layer = ZLaplaceLatent(dim, **kw).double()
    with torch.no_grad():                                       # distinct Delta per coordinate
        layer.log_delta.copy_(torch.linspace(-1.0, 0.5, dim, dtype=torch.float64))
    return layer


@pytest.fixture(scope="module")
def proxies():
    """One float64 layer per lattice at hidden 16 (8, 8, 2 blocks), distinct sigma^2 per block."""
    out = {}
    for name, cls in PROXIES:
        torch.manual_seed(0)
        layer = cls(16).double()
        R = layer.n_blocks
        with torch.no_grad():
            layer.log_sigma2_u.copy_(torch.linspace(-3.0, -1.0, R, dtype=torch.float64))
            layer.log_sigma2_s.copy_(torch.linspace(-0.5, 0.5, R, dtype=torch.float64))
        out[name] = layer
    return out


# ============================================================== z-laplace
def test_zlaplace_train_rate_is_eq5_closed_form():
    layer = zlap()
    e = torch.randn(50, 6, generator=gen(1), dtype=torch.float64) * 2
    t = layer.train_terms(e, gen(7))
    v = torch.rand(e.shape, generator=gen(7), dtype=torch.float64)      # the same draw
    delta = layer.delta.detach()
    u = delta * (v - 0.5)
    assert torch.equal(t["decoder_input"], e - u)
    expect = laplace.log_fu_over_fsu(e - u, layer.alpha, delta).sum(-1)
    # same float64 formula, so only round-off separates them
    assert torch.allclose(t["rate"].detach(), expect, rtol=1e-12, atol=1e-12)
    assert torch.equal(t["aux"], torch.zeros(50, dtype=torch.float64))
    t["rate"].sum().backward()                                            # Delta is learned (reparametrized U)
    assert layer.log_delta.grad is not None and (layer.log_delta.grad.abs() > 0).all()


def test_zlaplace_inference_is_exact_code_length_and_nearest_point():
    layer = zlap(alpha=2.0)
    e = torch.randn(20, 6, generator=gen(2), dtype=torch.float64) * 2
    s = layer.inference_samples(e, 7, gen(3))
    assert s["decoder_input"].shape == (20, 7, 6) and s["log_ratio"].shape == (20, 7)
    assert s["log_ratio"].dtype == torch.float64
    delta = layer.delta.detach()
    u = delta * (torch.rand((20, 7, 6), generator=gen(3), dtype=torch.float64) - 0.5)
    zd = s["decoder_input"] + u                                           # z Delta
    z = zd / delta
    assert torch.allclose(z, z.round(), atol=1e-9)                        # a point of Delta Z (round-off only)
    assert ((e[:, None] + u - zd).abs() <= delta / 2 + 1e-12).all()      # and the nearest one
    expect = -laplace.neg_log_p_z_given_u(z.round(), u, 2.0, delta).sum(-1)
    assert torch.allclose(s["log_ratio"], expect, rtol=1e-12, atol=1e-12)


def test_zlaplace_crypto_lemma_and_theorem1_moments():
    """z Delta - U has the law of e - U (Crypto Lemma) and E[-log p(z|U)] = E[rate] (Theorem 1).

    n = 40000 draws for one fixed e.  Per coordinate, e - U is uniform on e +- Delta/2:
    mean e, variance Delta^2/12, SE(mean) = Delta/sqrt(12 n), SE(sample variance) =
    sqrt(Var((X-mu)^2)/n) = sqrt(4 h^4/45 / n) with h = Delta/2.  Tolerances are 5 SE
    (two-sided false alarm ~6e-7 per comparison; the seeds are fixed anyway).
    """
    n = 40000
    layer = zlap(dim=4)
    e0 = torch.tensor([0.3, -1.7, 2.2, 0.05], dtype=torch.float64)
    delta = layer.delta.detach()
    with torch.no_grad():
        inf = layer.inference_samples(e0[None], n, gen(11))
        tr = layer.train_terms(e0.expand(n, 4), gen(12))
    x_inf, x_tr = inf["decoder_input"][0], tr["decoder_input"]              # (n, 4)
    h = delta / 2
    se_mean, se_var = delta / math.sqrt(12 * n), torch.sqrt(4 * h ** 4 / 45 / n)
    for x in (x_inf, x_tr):
        assert ((x.mean(0) - e0).abs() < 5 * se_mean).all()
        assert ((x.var(0) - delta ** 2 / 12).abs() < 5 * se_var).all()
    # the inference inputs really are different from the training ones (quantized, then dither removed)
    assert not torch.allclose(x_inf, x_tr)
    # Theorem 1: expected code length = expected rate; SE from the two sample std's
    code, rate = -inf["log_ratio"][0], tr["rate"]
    se = math.sqrt(code.var().item() / n + rate.var().item() / n)
    assert abs(code.mean().item() - rate.mean().item()) < 5 * se
    # negative controls (the checks above can fail): (a) the decoder input without the dither
    # removed, K(e+U), is not distributed as e - U; (b) the code length of the quantized point
    # evaluated at an unshared dither (U permuted across draws) is not the rate in expectation
    u = delta * (torch.rand(n, 4, generator=gen(11), dtype=torch.float64) - 0.5)
    z = torch.round((e0 + u) / delta)
    assert ((z * delta).var(0) - delta ** 2 / 12).abs().max() > 5 * se_var.max()
    perm = torch.randperm(n, generator=gen(13))
    wrong = laplace.neg_log_p_z_given_u(z, u[perm], layer.alpha, delta).sum(-1)
    se_w = math.sqrt(wrong.var().item() / n + rate.var().item() / n)
    assert abs(wrong.mean().item() - rate.mean().item()) > 5 * se_w


def test_zlaplace_encode_decode_roundtrip_and_seed():
    layer = zlap()
    e = torch.randn(9, 6, generator=gen(4), dtype=torch.float64)
    u = layer.sample_dither(9, gen(5), dtype=torch.float64)
    assert (u.abs() <= layer.delta.detach() / 2).all()
    z = layer.encode(e, u)
    assert z.dtype == torch.int64 and z.shape == (9, 6)
    assert torch.equal(z, torch.round((e + u) / layer.delta.detach()).long())
    assert torch.allclose(layer.decode(z, u), z * layer.delta.detach() - u, atol=0)
    a = layer.inference_samples(e, 3, gen(8))
    b = layer.inference_samples(e, 3, gen(8))
    assert torch.equal(a["decoder_input"], b["decoder_input"]) and torch.equal(a["log_ratio"], b["log_ratio"])
    assert torch.equal(layer.train_terms(e, gen(8))["rate"], layer.train_terms(e, gen(8))["rate"])


def test_zlaplace_defaults_registry_and_bad_options():
    layer = build_latent("z-laplace", 5)
    assert isinstance(layer, ZLaplaceLatent) and layer.alpha == 1.0
    assert torch.allclose(layer.delta, torch.ones(5))
    t = layer.train_terms(torch.zeros(3, 5), gen())
    assert t["decoder_input"].dtype == torch.float32 and t["rate"].shape == (3,)
    for bad in (dict(alpha=0.0), dict(alpha=-1.0), dict(alpha=float("nan")), dict(init_delta=0),
                dict(init_delta=float("inf")), dict(alpha="1")):
        with pytest.raises(ValueError):
            ZLaplaceLatent(5, **bad)
    with pytest.raises(ValueError, match="hidden"):
        ZLaplaceLatent(0)
    with pytest.raises(ValueError, match=r"k \(samples per input\) must"):
        layer.inference_samples(torch.zeros(3, 5), 0)
    with pytest.raises(ValueError, match="dither"):
        layer.encode(torch.zeros(3, 5))


# ============================================================== Gaussian proxy
@pytest.mark.parametrize("name", [n for n, _ in PROXIES])
def test_proxy_rate_is_blockwise_proxy_kl(proxies, name):
    layer = proxies[name]
    n, R = layer.block_dim, layer.n_blocks
    e = torch.randn(30, 16, generator=gen(1), dtype=torch.float64)
    t = layer.train_terms(e, gen(2))
    u_g = e - t["decoder_input"]                                              # (30, 16)
    s2u, s2s = layer.log_sigma2_u.detach().exp(), layer.log_sigma2_s.detach().exp()
    # U_G is the reparametrized N(0, sigma2_U,b I): sigma_b times the generator's first normals
    eps = torch.randn(e.shape, generator=gen(2), dtype=torch.float64)
    assert torch.allclose(u_g, eps * s2u.sqrt().repeat_interleave(n), rtol=1e-12, atol=1e-12)
    per_block = sum(scaling.proxy_kl(e[:, b * n:(b + 1) * n], u_g[:, b * n:(b + 1) * n], s2u[b], s2s[b])
                    for b in range(R))
    gauss = sum(scaling.gaussian_log_ratio(e[:, b * n:(b + 1) * n], u_g[:, b * n:(b + 1) * n], s2u[b], s2s[b])
                for b in range(R))
    # float64 throughout; the sums differ only in association order
    assert torch.allclose(t["rate"].detach(), per_block, rtol=1e-10, atol=1e-10)
    assert torch.allclose(t["rate"].detach(), gauss, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", [n for n, _ in PROXIES])
def test_proxy_delta_matches_eq8(proxies, name):
    layer = proxies[name]
    s2u = layer.log_sigma2_u.detach().exp()
    delta = layer.delta().detach()
    assert torch.allclose(delta ** 2 * layer.base.second_moment(), s2u, rtol=1e-12)   # D^2 sigma^2_L = sigma^2_U
    assert torch.allclose(delta, scaling.matched_delta(s2u, layer.base), rtol=1e-12)
    assert len(set(delta.tolist())) == layer.n_blocks                     # per-block scales


@pytest.mark.parametrize("name", [n for n, _ in PROXIES])
def test_proxy_inference_nearest_point_and_code_length(proxies, name):
    layer = proxies[name]
    base, n, R = layer.base, layer.block_dim, layer.n_blocks
    B, k = 6, 5
    e = torch.randn(B, 16, generator=gen(3), dtype=torch.float64) * 0.5
    with torch.no_grad():
        s = layer.inference_samples(e, k, gen(4))
    assert s["decoder_input"].shape == (B, k, 16) and s["log_ratio"].shape == (B, k)
    assert s["log_ratio"].dtype == torch.float64 and torch.isfinite(s["log_ratio"]).all()
    delta = layer.delta().detach()
    v = base.sample_cell_torch(B * k * R, generator=gen(4)).reshape(B, k, R, n)   # the same dithers
    u = delta[:, None] * v
    z = s["decoder_input"].reshape(B, k, R, n) + u                           # lattice points of Delta_b Lambda
    zs = z / delta[:, None]
    c = base.to_coordinates(zs)
    assert torch.allclose(c, c.round(), atol=1e-9)                         # integral coefficients
    x = (e.reshape(B, 1, R, n) + u) / delta[:, None]
    assert torch.allclose(zs, base.nearest(x), atol=1e-9)                   # K_Lambda((e + U)/Delta)
    # code length through the point API of the prior (lattice-point check included)
    with torch.no_grad():
        lp = layer.prior.log_prob(zs.reshape(-1, R, n), v.reshape(-1, R, n)).sum(-1).reshape(B, k)
    assert torch.allclose(s["log_ratio"], lp, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", [n for n, _ in PROXIES])
def test_proxy_encode_decode_roundtrip(proxies, name):
    layer = proxies[name]
    e = torch.randn(7, 16, generator=gen(5), dtype=torch.float64)
    u = layer.sample_dither(7, gen(6), dtype=torch.float64)
    sym = layer.encode(e, u)
    assert sym.dtype == torch.int64 and sym.shape == (7, 16)
    delta = layer.delta().detach()
    blocks = lambda x: x.reshape(7, layer.n_blocks, layer.block_dim)  # noqa: E731
    expect = layer.base.nearest_coordinates((blocks(e) + blocks(u)) / delta[:, None])
    assert np.array_equal(sym.reshape(7, layer.n_blocks, -1).numpy(), expect)
    x = layer.decode(sym, u)                                                 # z - u
    z = blocks(x + u)
    assert torch.allclose(z, delta[:, None] * layer.base.nearest((blocks(e) + blocks(u)) / delta[:, None]),
                          atol=1e-12)
    # dither in the cell of the scaled blocks: it is its own nearest-point residual
    assert torch.allclose(layer.base.nearest(blocks(u) / delta[:, None]), torch.zeros(7, layer.n_blocks,
                                                                                      layer.block_dim, dtype=torch.float64))
    lp = layer.log_prob(sym, u)
    assert lp.shape == (7,) and torch.isfinite(lp).all()


def test_proxy_aux_gradient_reaches_only_the_prior():
    layer = E8Latent(16)
    e = torch.randn(10, 16, generator=gen(7), requires_grad=True)
    t = layer.train_terms(e, gen(8))
    assert torch.equal(t["aux"].detach(), t["code_length"])
    t["aux"].sum().backward()                                               # eq. (6): code length
    assert e.grad is None                                                   # no path to the encoder
    assert layer.log_sigma2_u.grad is None and layer.log_sigma2_s.grad is None   # Delta is detached
    grads = {nm: q.grad for nm, q in layer.prior.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["psi"].abs().sum() + grads["w2"].abs().sum() > 0 and grads["escape_logit"].abs().sum() > 0
    layer.zero_grad()
    layer.train_terms(e, gen(8))["rate"].sum().backward()                  # the rate trains e and sigma^2
    assert e.grad is not None and e.grad.abs().sum() > 0
    assert (layer.log_sigma2_u.grad.abs() > 0).all() and (layer.log_sigma2_s.grad.abs() > 0).all()
    assert all(q.grad is None or q.grad.abs().sum() == 0 for q in layer.prior.parameters())


def test_proxy_far_point_has_finite_code_length(proxies):
    layer = proxies["e8"]
    e = torch.full((2, 16), 300.0, dtype=torch.float64)                     # norms far beyond K = 10
    with torch.no_grad():
        far = layer.inference_samples(e, 3, gen(9))["log_ratio"]
        near = layer.inference_samples(torch.zeros(2, 16, dtype=torch.float64), 3, gen(9))["log_ratio"]
    assert torch.isfinite(far).all()
    assert (far < near.min()).all()                                         # and it costs more


def test_proxy_seed_reproducible_and_float32_default():
    layer = build_latent("a2", 8)
    assert isinstance(layer, A2Latent) and layer.n_blocks == 4
    e = torch.randn(4, 8, generator=gen(1))
    a, b = layer.train_terms(e, gen(3)), layer.train_terms(e, gen(3))
    assert all(torch.equal(a[k], b[k]) for k in ("decoder_input", "rate", "aux", "code_length"))
    assert a["decoder_input"].dtype == torch.float32 and a["rate"].dtype == torch.float32
    assert a["aux"].shape == (4,)
    s, s2 = layer.inference_samples(e, 2, gen(3)), layer.inference_samples(e, 2, gen(3))
    assert torch.equal(s["log_ratio"], s2["log_ratio"]) and s["log_ratio"].dtype == torch.float64
    assert s["decoder_input"].dtype == torch.float32
    assert not torch.equal(layer.train_terms(e, gen(4))["decoder_input"], a["decoder_input"])


def test_proxy_defaults_and_bad_options():
    assert [(c(16).prior.max_norm, c(16).prior.threshold_t) for _, c in PROXIES[:2]] == [(64, 9), (64, 7)]
    base = ProxyLatticeLatent(8, lattice="e8")
    assert base.name == "e8" and base.prior.max_norm == 64 and base.prior.threshold_t == 3
    assert torch.allclose(base.log_sigma2_u.exp(), torch.full((1,), 0.1))
    assert torch.allclose(base.log_sigma2_s.exp(), torch.ones(1))
    bad = [(lambda: E8Latent(12), "multiple of 8"),
           (lambda: Z2Latent(3), "multiple of 2"),
           (lambda: ProxyLatticeLatent(8, lattice="q9"), "q9"),
           (lambda: ProxyLatticeLatent(3, lattice="a3"), "max_norm"),  # no default K, t for a3
           (lambda: Z2Latent(4, init_sigma2_u=0.0), "init_sigma2_u"),
           (lambda: Z2Latent(4, init_sigma2_s=-1.0), "init_sigma2_s"),
           (lambda: Z2Latent(4, prior_dtype="float16"), "prior_dtype"),
           (lambda: Z2Latent(4, max_norm=-1), "max_norm"),
           (lambda: Z2Latent(4, threshold_t=-2), "threshold_t"),
           (lambda: Z2Latent(4, u_hidden=0), "u_hidden"),
           (lambda: Z2Latent(4, lattice="e8"), "fixes lattice")]
    for make, msg in bad:
        with pytest.raises(ValueError, match=msg):
            make()
    with pytest.raises(ValueError, match="dither"):
        base.encode(torch.zeros(2, 8))
