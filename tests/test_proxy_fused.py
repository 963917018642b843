"""The fused proxy KL and decoder input (vae.latents.proxy_fused) against the torch formulation.

Tolerances: float64, 1e-12 relative to the largest magnitude (the two paths add the same
terms in a different order); float32, 2e-5 relative (the fused kernel accumulates in float64
and rounds once, the torch formulation rounds every operation to float32: a few ulps of
float32, 1.2e-7 each, over sums of up to 8 terms and their derivatives).
"""
from __future__ import annotations

import pytest
import torch

from vae.latents import proxy_fused
from vae.latents.proxy import ProxyLatticeLatent


def _layer(name, prior, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    layer = ProxyLatticeLatent(16 if name != "e8" else 24, lattice=name, prior=prior)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():                                    # unequal blocks
        layer.log_sigma2_u.add_(0.5 * torch.randn(layer.log_sigma2_u.shape, generator=g))
        layer.log_sigma2_s.add_(0.5 * torch.randn(layer.log_sigma2_s.shape, generator=g))
    return layer.to(dtype) if dtype == torch.float64 else layer


def _step(layer, e, fused, seed=3):
    layer.fused = fused
    layer.zero_grad(set_to_none=True)
    e = e.clone().requires_grad_()
    terms = layer.train_terms(e, torch.Generator().manual_seed(seed))
    w = torch.linspace(-1, 2, terms["decoder_input"].numel(), dtype=e.dtype).reshape(e.shape)
    loss = (terms["rate"] * torch.arange(1, len(e) + 1, dtype=e.dtype)).sum() + terms["aux"].sum() \
        + (w * terms["decoder_input"]).sum()
    loss.backward()
    grads = {k: p.grad.clone() for k, p in layer.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in terms.items()}, e.grad.clone(), grads


def _close(a, b, rel):
    torch.testing.assert_close(a, b, rtol=0, atol=rel * max(1.0, float(b.abs().max())))


@pytest.mark.parametrize("name", ["z2", "a2", "e8"])
@pytest.mark.parametrize("prior", ["paper", "dgauss"])
@pytest.mark.parametrize("dtype,rel", [(torch.float32, 2e-5), (torch.float64, 1e-12)])
def test_fused_step_matches_torch_formulation(name, prior, dtype, rel):
    layer = _layer(name, prior, dtype)
    e = 2 * torch.randn(50, layer.dim, generator=torch.Generator().manual_seed(1), dtype=dtype)
    got, got_e, got_g = _step(layer, e, True)
    ref, ref_e, ref_g = _step(layer, e, False)
    assert got.keys() == ref.keys() and got_g.keys() == ref_g.keys()
    for k in ref:
        _close(got[k], ref[k], rel)
    _close(got_e, ref_e, rel)
    for k in ref_g:
        _close(got_g[k], ref_g[k], rel)
    assert got_g["log_sigma2_u"].abs().max() > 0 and got_g["log_sigma2_s"].abs().max() > 0


def test_fused_step_is_the_default_and_draws_the_same_dither():
    layer = _layer("e8", "dgauss")
    assert layer.fused is True
    e = torch.randn(7, layer.dim, generator=torch.Generator().manual_seed(1))
    a = layer.train_terms(e, torch.Generator().manual_seed(5))
    layer.fused = False
    b = layer.train_terms(e, torch.Generator().manual_seed(5))
    assert torch.equal(a["code_length"], b["code_length"])          # same U_G and U draws, same points


def test_gradcheck_of_the_hand_written_backward():
    g = torch.Generator().manual_seed(0)
    e = torch.randn(5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    lu = (0.3 * torch.randn(3, generator=g, dtype=torch.float64)).requires_grad_()
    ls = (0.3 * torch.randn(3, generator=g, dtype=torch.float64)).requires_grad_()
    eps = torch.randn(5, 6, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, b, c: proxy_fused.proxy_terms(a, b, c, eps, 2), (e, lu, ls))


def test_only_the_rate_or_only_the_decoder_input_used():
    g = torch.Generator().manual_seed(0)
    e = torch.randn(4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    lu = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    ls = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    eps = torch.randn(4, 4, generator=g, dtype=torch.float64)
    dec, rate = proxy_fused.proxy_terms(e, lu, ls, eps, 2)
    rate.sum().backward()
    assert torch.allclose(e.grad, dec.detach() / 2)                 # tau = 1 + 1: d rate / d e = d / tau
    e.grad = ls.grad = None
    dec, rate = proxy_fused.proxy_terms(e, lu, ls, eps, 2)
    dec.sum().backward()
    assert torch.equal(e.grad, torch.ones_like(e)) and float(ls.grad.abs().sum()) == 0.0


def test_not_used_off_the_cpu_path_conditions():
    e = torch.zeros(2, 4)
    assert proxy_fused.proxy_terms_supported(e, torch.zeros(2), torch.zeros(2, 4))
    assert not proxy_fused.proxy_terms_supported(e, torch.zeros(2), torch.zeros(2, 4, requires_grad=True))
    assert not proxy_fused.proxy_terms_supported(e.half(), torch.zeros(2), torch.zeros(2, 4))


@pytest.mark.parametrize("name", ["z2", "a2", "e8"])
def test_cell_dither_is_the_draw_of_sample_cell_torch(name):
    """The step draws its dither inline (no per-call checks): bit for bit Lattice.sample_cell_torch."""
    layer = _layer(name, "dgauss")
    v = layer.cell_dither(9, torch.Generator().manual_seed(7))
    ref = layer.base.sample_cell_torch(9 * layer.n_blocks, generator=torch.Generator().manual_seed(7))
    assert torch.equal(v.reshape(-1, layer.block_dim), ref)
