"""The GPU path: decoders, dithers, priors, a training step and an evaluation of every latent on
CUDA, a resume across devices, and no host synchronisation in a Gaussian-proxy training step.

Every test is marked ``gpu`` and skips cleanly without a CUDA device (``pytest -m gpu``
collects them).  CUDA results are compared with the CPU (numba / numpy) results of the same
inputs: exactly where the computation is exact (decoders, integer coefficients), to stated
float64 round-off elsewhere.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import lattices
from vae.latents import LATENTS
from vae.models import VAE, ModelConfig

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch sees none)")]

CUDA = torch.device("cuda")
DECODER_NAMES = ["z2", "z3", "a2", "a3", "a3*", "d4", "d4*", "d5", "e6", "e6*", "e7", "e7*", "e8", "bw16", "leech"]
PROXY = ["z2", "a2", "e8"]


def _hidden(latent):
    return {"leech": 24, "bw16": 16}.get(latent, 16)


@pytest.mark.parametrize("name", DECODER_NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_decoder_on_cuda_matches_cpu(name, dtype):
    """Device and dtype preserved; the CUDA point is the CPU kernel's point (equal distance on ties)."""
    lat = lattices.get(name)
    x = (torch.randn(2000, lat.dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3).to(dtype)
    got = lat.nearest(x.to(CUDA))
    assert got.device.type == CUDA.type and got.dtype == dtype and got.shape == x.shape
    ref = torch.from_numpy(lat.nearest(x.numpy()))
    d_got = ((x.double() - got.cpu().double()) ** 2).sum(-1)
    d_ref = ((x.double() - ref.double()) ** 2).sum(-1)
    tol = 1e-9 if dtype == torch.float64 else 1e-4              # float32 output rounding of the point
    assert torch.allclose(d_got, d_ref, rtol=0, atol=tol)
    # the same point up to the rounding of its coordinates: lattices with an isometry (a3, e6, e7
    # and their duals) rotate on the device with another summation order than the CPU kernel
    rt = 1e-12 if dtype == torch.float64 else 1e-5
    same = torch.isclose(got.cpu(), ref, rtol=rt, atol=rt).all(-1).double().mean().item()
    assert same > 0.99                                            # differing points are exact ties only


@pytest.mark.parametrize("name", DECODER_NAMES)
def test_dither_on_cuda(name):
    """sample_cell_torch on CUDA: device and dtype kept, every sample decodes to the origin."""
    lat = lattices.get(name)
    for dtype in (torch.float32, torch.float64):
        g = torch.Generator(device=CUDA).manual_seed(0)
        u = lat.sample_cell_torch(1000, generator=g, device=CUDA, dtype=dtype)
        assert u.device.type == CUDA.type and u.dtype == dtype and u.shape == (1000, lat.dim)
        back = lat.nearest(u.double().cpu().numpy())
        assert (np.abs(back) < 1e-9).all()


@pytest.mark.parametrize("prior", ["paper", "dgauss"])
@pytest.mark.parametrize("latent", PROXY)
def test_prior_on_cuda_matches_cpu(latent, prior):
    """The eager prior on CUDA against the CPU path (fused kernels) for the same points and dithers."""
    torch.manual_seed(0)
    layer = LATENTS_BUILD(latent, prior)
    gen = torch.Generator().manual_seed(1)
    e = torch.randn(64, layer.dim, generator=gen)
    v = layer.cell_samples((64,), gen, "cpu")
    coeffs = layer.quantize_blocks(layer.blocks(e), v, layer.delta().detach().double())
    ref = layer.prior.log_prob_coords(coeffs, v)
    ref.sum().backward()
    ref_grads = [p.grad.clone() for p in layer.prior.parameters()]
    layer.zero_grad(set_to_none=True)
    layer_cuda = layer.to(CUDA)
    got = layer_cuda.prior.log_prob_coords(coeffs.to(CUDA), v.to(CUDA))
    got.sum().backward()
    assert got.device.type == CUDA.type
    torch.testing.assert_close(got.cpu().detach(), ref.detach(), rtol=1e-12, atol=1e-10)
    for p, r in zip(layer_cuda.prior.parameters(), ref_grads):
        torch.testing.assert_close(p.grad.cpu(), r, rtol=1e-10, atol=1e-10)


def LATENTS_BUILD(latent, prior):
    from vae.latents import build_latent

    return build_latent(latent, _hidden(latent), prior=prior)


def _variants():
    out = []
    for name in LATENTS:
        if name in PROXY:
            out += [(name, "paper"), (name, "dgauss")]
        else:
            out.append((name, None))
    return out


@pytest.mark.parametrize("latent,prior", _variants())
def test_training_step_and_evaluation_on_cuda(latent, prior):
    """One Adam step and a k = 8 evaluation of every latent on CUDA: finite, on the device."""
    from vae.evaluate import iwae_nll
    from vae.train import epoch_generator, make_optimizer

    torch.manual_seed(0)
    options = {"prior": prior} if prior else {}
    model = VAE(ModelConfig(latent=latent, hidden=_hidden(latent), latent_options=options)).to(CUDA)
    opt = make_optimizer(model, 1e-3)
    x = (torch.rand(32, 784, generator=torch.Generator().manual_seed(0)) < 0.3).float().to(CUDA)
    terms = model(x, generator=epoch_generator(0, 1, 0, CUDA))
    assert terms["loss"].device.type == CUDA.type
    opt.zero_grad()
    terms["loss"].backward()
    opt.step()
    assert math.isfinite(float(terms["loss"].detach()))
    assert all(p.device.type == CUDA.type for p in model.parameters())
    nll = iwae_nll(model, x[:4], 8, generator=epoch_generator(0, 8, 2, CUDA))
    assert nll.shape == (4,) and torch.isfinite(nll).all()


@pytest.mark.parametrize("prior", ["paper", "dgauss"])
@pytest.mark.parametrize("latent", PROXY)
def test_no_host_sync_in_a_proxy_training_step(latent, prior):
    """The forward and backward pass of a Gaussian-proxy model on CUDA never waits for the device."""
    from vae.train import epoch_generator

    torch.manual_seed(0)
    model = VAE(ModelConfig(latent=latent, hidden=_hidden(latent), latent_options={"prior": prior})).to(CUDA)
    x = (torch.rand(32, 784, generator=torch.Generator().manual_seed(0)) < 0.3).float().to(CUDA)
    gen = epoch_generator(0, 1, 0, CUDA)
    model(x, generator=gen)["loss"].backward()                   # warm-up (lazy init may sync)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss = model(x, generator=gen)["loss"]
        loss.backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert math.isfinite(float(loss.detach()))


def test_cuda_trained_run_resumes_and_evaluates_on_cpu(tmp_path):
    """A run trained on CUDA loads on the CPU, evaluates, and resumes there."""
    import os
    from pathlib import Path

    from shared_data import SHARED
    from vae import evaluate, train

    data = Path(os.environ.get("LRL_DATA_DIR") or SHARED)
    if not data.is_dir():
        pytest.skip(f"data folder not found ({data})")
    out = tmp_path / "run"
    common = ["--train-limit", "300", "--valid-limit", "100", "--batch-size", "50", "--no-progress",
              "--data-dir", str(data)]
    assert train.main(["--out", str(out), "--latent", "e8", "--hidden", "16", "--epochs", "1",
                       "--device", "cuda", *common]) == 0
    model, _ = train.load_run(out, "best", "cpu")
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert evaluate.main([str(out), "--samples", "1", "5", "--limit", "3", "--no-progress", "--device", "cpu",
                          "--data-dir", str(data)]) == 0
    assert train.main(["--out", str(out), "--resume", "--epochs", "1", "--device", "cpu", *common]) == 0
