"""Gaussian-proxy latents on BW16, Leech and any registered lattice with a theta series."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import lattices
from lattices.modular import leech_theta
from vae.latents import build_latent


@pytest.mark.parametrize("name, dim, options", [("leech", 24, {}), ("bw16", 32, {}),
                                                ("proxy", 8, {"lattice": "d4"}),
                                                ("proxy", 14, {"lattice": "e7"})])
def test_train_and_inference_terms(name, dim, options):
    layer = build_latent(name, dim, **options)
    e = torch.randn(6, dim, generator=torch.Generator().manual_seed(0))
    terms = layer.train_terms(e, generator=torch.Generator().manual_seed(1))
    assert terms["decoder_input"].shape == (6, dim)
    assert torch.isfinite(terms["rate"]).all() and torch.isfinite(terms["aux"]).all()
    terms["aux"].sum().backward()  # the prior learns from the code length
    assert layer.prior.psi.grad is not None and layer.prior.psi.grad.abs().sum() > 0
    samples = layer.inference_samples(e, 4, generator=torch.Generator().manual_seed(2))
    assert samples["decoder_input"].shape == (6, 4, dim)
    assert torch.isfinite(samples["log_ratio"]).all()
    # encode / decode round trip with one dither
    u = layer.sample_dither(6, generator=torch.Generator().manual_seed(3))
    sym = layer.encode(e, u)
    z_minus_u = layer.decode(sym, u)
    assert torch.allclose(z_minus_u + u, layer.decode(sym, torch.zeros_like(u)), atol=1e-5)


def test_leech_prior_uses_exact_theta_and_a_one_point_head():
    layer = build_latent("leech", 48)
    prior = layer.prior
    assert prior.n_head == 1 and prior.threshold_t == 1 and prior.max_norm == 256
    theta = leech_theta(256)
    k = torch.arange(257)
    nonzero = [n for n in range(257) if theta[n] > 0]
    assert prior.n_classes == len(nonzero) - 1  # every nonempty shell from norm 4 on
    assert torch.allclose(prior._log_theta[4], torch.tensor(math.log(196560), dtype=torch.float64))
    assert torch.allclose(prior._log_theta[6], torch.tensor(math.log(16773120), dtype=torch.float64))
    assert k.numel() == 257


def test_leech_prior_is_normalized_over_its_shells():
    """p(0|u) + sum_k theta_k p(a_k|u) = 1 (no escape part), a_k one point of norm k: the shells of
    16773120, 398034000, ... points are never listed, their theta coefficients suffice."""
    from theory.lattice_prior import LatticePrior, enumerate_points

    leech = lattices.get("leech")
    prior = LatticePrior(leech, max_norm=12, threshold_t=1, escape=False)
    with torch.no_grad():
        prior.psi.normal_(generator=torch.Generator().manual_seed(0))
    coords, _, norms = enumerate_points(leech, 4)
    minimal = coords[norms == 4]
    minimal = minimal[np.random.default_rng(0).permutation(len(minimal))[:400]]
    reps = {0: np.zeros(24, dtype=np.int64)}
    G = torch.as_tensor(leech.gram)
    for i in range(len(minimal)):  # sums of two minimal vectors reach norms 6, 8, 10, 12
        s = torch.as_tensor(minimal[0] + minimal[i])
        k = int(round(float(s.double() @ G @ s.double())))
        if k <= 12:
            reps.setdefault(k, s.numpy())
    theta = leech_theta(12)
    assert sorted(reps) == [k for k in range(13) if theta[k]]
    u = torch.tensor(leech.sample_cell(3, rng=1))  # (3, 24)
    total = torch.zeros(3, dtype=torch.float64)
    for k, a in reps.items():
        logp = prior.log_prob_coords(torch.as_tensor(a)[None].expand(3, 24), u)
        total += theta[k] * logp.exp()
    assert torch.allclose(total, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)


def test_hidden_size_not_a_multiple_names_the_valid_sizes():
    with pytest.raises(ValueError, match="multiple of 24.*24, 48, 72.*nearest are 24 and 48"):
        build_latent("leech", 32)
    with pytest.raises(ValueError, match="multiple of 16"):
        build_latent("bw16", 24)


def test_proxy_unknown_lattice_and_fixed_lattice():
    with pytest.raises(ValueError, match="unknown lattice"):
        build_latent("proxy", 8, lattice="nope")
    with pytest.raises(ValueError, match="fixes lattice"):
        build_latent("leech", 24, lattice="e8")


def test_train_cli_rejects_bad_hidden(capsys, tmp_path):
    from vae.train import main

    assert main(["--latent", "leech", "--hidden", "30", "--epochs", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "multiple of 24" in err
