"""vae.priors.dgauss (its coder): exact coding under the discrete-Gaussian prior (``prior=dgauss``).

Untrained seeded models with perturbed scales and mixture weights (no data set needed), and
the committed trained MNIST runs where present.  Tolerances: the conditional chain equals the
model's pmf to float64 round-off (1e-11 in log, over <= 9 steps of log-sum-exp); coded bits
exceed the code length by at most the 24-bit quantization of each coded pmf (the bound
:func:`_quantization_bound`); the payload adds the ANS flush (<= 64 bits) and the 32-bit sentinel.
"""
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from theory.discrete_gaussian_prior import DiscreteGaussianPrior
from vae import codec
from vae.codec.api import decode_payload, measure
from vae.codec.container import unpack
from vae.priors.dgauss import DGaussPriorCoder
from vae.codec.latent_coders import CodecError
from vae.entropy_coding import PRECISION
from vae.latents.proxy import ProxyLatticeLatent
from vae.models import VAE, ModelConfig
from validation.bitstream import mismatched_model

from shared_data import needs_data
from conftest import compress_with_threads  # tests/conftest.py

LATTICES = ["z2", "a2", "d4", "e8"]
ROOT = Path(__file__).resolve().parents[1]
TRAINED = {"e8": "h32/e8/lr0.001/seed0", "a2": "h32/a2/lr0.001/seed0", "z2": "h32/z2/lr0.001/seed2"}


def _model(lattice, hidden=16, seed=0, components=2):
    """A seeded untrained model whose prior has unequal scales (both theta branches) and weights."""
    torch.manual_seed(seed)
    if lattice == "d4":
        model = VAE(ModelConfig(latent="z2", hidden=hidden, latent_options={"prior": "dgauss"}))
        model.latent = ProxyLatticeLatent(hidden, lattice="d4", prior="dgauss", prior_components=components)
    else:
        model = VAE(ModelConfig(latent=lattice, hidden=hidden,
                                latent_options={"prior": "dgauss", "prior_components": components}))
    g = torch.Generator().manual_seed(100 + seed)
    p = model.latent.prior
    with torch.no_grad():
        p.log_scale.add_(torch.randn(p.log_scale.shape, generator=g, dtype=p.log_scale.dtype) * 0.3)
        p.mix_logits.copy_(torch.randn(p.mix_logits.shape, generator=g, dtype=p.mix_logits.dtype))
    return model.eval()


def _images(n=120, seed=0):
    return (torch.rand(n, 784, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


def _quantization_bound(coder, window, n_img):
    """Largest excess of coded over ideal bits per image: each coded pmf of A symbols gives
    every symbol f >= p (2^24 - A), i.e. at most -log2(1 - A/2^24) bits more than -log2 p."""
    steps = coder.n + (coder.H > 1)
    per_step = -math.log2(1 - (2 * window + 2) / 2 ** PRECISION)
    return coder.R * steps * per_step + 1e-9 * n_img


def _step_log_probs(coder, symbols, dither, window):
    """log p of every coded symbol (coset, then coordinates) and its alphabet size, per image:
    (n_img, R * steps) each."""
    h, k = coder.split(symbols)
    chain = coder.conditionals(np.asarray(dither).reshape(-1, coder.n), 0)
    rows = np.arange(len(h))
    logs, sizes = [], []
    if coder.H > 1:
        logs.append(chain.coset_log_pmf()[rows, h])
        sizes.append(np.full(len(h), coder.H))
    chain.choose_coset(h)
    for i in range(coder.n):
        log_pmf, lc = chain.coordinate_log_pmf(i, window)
        logs.append(log_pmf[rows, k[:, i] + window])
        sizes.append(np.full(len(h), 2 * window + 2))
        chain.advance(k[:, i], log_pmf, lc, window)
    shape = (len(symbols), -1)
    return np.stack(logs, 1).reshape(shape), np.stack(sizes, 1).reshape(shape)


def _check_coded_bits(coder, m, dither, window):
    """Per image: the coded bits lie within the quantization rule's bounds around the ideal
    bits of the chain (pmfs/module notes of vae.entropy_coding): a symbol of probability p and an
    alphabet of A gets a frequency f with p (P - A) <= f <= p (P - A) + A + 1, P = 2^24."""
    log_p, sizes = _step_log_probs(coder, m["symbols"], dither, window)
    P = 2.0 ** PRECISION
    p = np.exp(log_p)
    upper = (-log_p / math.log(2) - np.log2(1 - sizes / P)).sum(1)
    lower = (-np.log2(np.minimum(p + (sizes + 1) / P, 1.0))).sum(1)
    np.testing.assert_allclose(-log_p.sum(1) / math.log(2), m["ideal_bits"], rtol=1e-12, atol=1e-9)
    assert np.all(m["coded_bits"] <= upper + 1e-9) and np.all(m["coded_bits"] >= lower - 1e-9)


def _chain_log_prob(coder, h, k, v, window):
    """log of the product of the coder's conditionals (coset, then coordinates) for rows (h, k, v)."""
    chain = coder.conditionals(v, 0)
    rows = np.arange(len(h))
    total = chain.coset_log_pmf()[rows, h] if coder.H > 1 else np.zeros(len(h))
    chain.choose_coset(h)
    for i in range(coder.n):
        log_pmf, lc = chain.coordinate_log_pmf(i, window)
        total = total + log_pmf[rows, k[:, i] + window]
        chain.advance(k[:, i], log_pmf, lc, window)
    return total


def _box_points(coder, radius):
    """Every (h, k) with |k_i| <= radius (and even sum for D_n / E8), with its coefficients."""
    grid = np.array(list(itertools.product(range(-radius, radius + 1), repeat=coder.n)), dtype=np.int64)
    if coder.parity:
        grid = grid[grid.sum(1) % 2 == 0]
    h = np.repeat(np.arange(coder.H), len(grid))
    k = np.tile(grid, (coder.H, 1))
    return h, k, coder.join(h, k)


# ------------------------------------------------------------------ round trips and lengths
@pytest.mark.parametrize("lattice", LATTICES)
def test_round_trip_is_exact_and_bits_are_the_code_length(lattice):
    model, x = _model(lattice), _images()
    coder = codec.coder_for(model.latent)
    assert type(coder.prior_coder) is DGaussPriorCoder
    data = model.compress(x, seed=7, chunk=50)
    out = model.decompress(data)
    m = measure(model, x, seed=7, chunk=50)
    assert (out["symbols"] == m["symbols"]).all()
    dither = coder.dither(len(x), 7)
    assert torch.equal(out["decoder_input"], coder.decoder_input(m["symbols"], dither))
    ideal, coded = m["ideal_bits"], m["coded_bits"]
    # the model's code length is the prior's own log_prob (eq. (10)), not the chain's
    with torch.no_grad():
        lp = model.latent.prior.log_prob_coords(torch.as_tensor(m["symbols"]).reshape(len(x), coder.R, coder.n),
                                                dither)
    np.testing.assert_allclose(ideal, -lp.sum(-1).numpy() / math.log(2), rtol=0, atol=1e-9)
    window = unpack(data)[0]["coder_params"]["window"]
    assert np.all(coded - ideal <= _quantization_bound(coder, window, 1))
    _check_coded_bits(coder, m, dither, window)
    assert coded.sum() - 1 <= m["payload_bits"] <= coded.sum() + 64 + 32


@pytest.mark.parametrize("components", [1, 3])
def test_other_component_counts_round_trip(components):
    model, x = _model("e8", components=components), _images(40)
    data = model.compress(x, seed=2)
    m = measure(model, x, seed=2)
    assert (model.decompress(data)["symbols"] == m["symbols"]).all()
    coder = codec.coder_for(model.latent)
    _check_coded_bits(coder, m, coder.dither(len(x), 2), unpack(data)[0]["coder_params"]["window"])


@pytest.mark.parametrize("lattice", ["a2", "e8"])
def test_large_window_and_points_far_in_the_tail(lattice):
    """Hand-placed symbols far from the prior's mass (|k| = 40 at scale 1/2: probability about
    e^-3000, below float64's range in the pmf, frequency 1) still round-trip, at most the
    quantization bound above the code length."""
    model = _model(lattice, hidden=8)
    with torch.no_grad():
        model.latent.prior.log_scale.fill_(math.log(0.5))
    coder = codec.coder_for(model.latent)
    rng = np.random.default_rng(0)
    h = rng.integers(0, coder.H, 30 * coder.R)
    k = rng.integers(-3, 4, (30 * coder.R, coder.n))
    k[::7, 0] = 40
    if coder.parity:
        k[:, -1] += k.sum(1) % 2                                             # even sum
    symbols = coder.join(h, k).reshape(30, -1)
    assert all((a == b).all() for a, b in zip(coder.split(symbols), (h, k)))
    dither = coder.dither(30, 5)
    import constriction

    coder.set_params(coder.file_params(symbols))
    assert coder.params["window"] >= 40
    ans = constriction.stream.stack.AnsCoder()
    bits = coder.push(ans, symbols, dither)
    assert (coder.pop(ans, 30, dither) == symbols).all() and ans.is_empty()
    ideal = coder.ideal_bits(symbols, dither)
    assert np.all(bits <= ideal + _quantization_bound(coder, coder.params["window"], 1))
    assert np.isfinite(ideal).all() and ideal.max() > 1000


# ------------------------------------------------------------------ the conditional chain is the model
#: One block per model (hidden = the block dimension), so every enumerated row is block 0.
BLOCK_DIM = {"z2": 2, "a2": 2, "d4": 4, "e8": 8}


@pytest.mark.parametrize("lattice, radius, scale, shrink", [("z2", 12, 1.3, 1.0), ("a2", 10, 1.3, 1.0),
                                                             ("d4", 7, 0.7, 1.0), ("e8", 1, 0.15, 0.2)])
def test_chain_of_conditionals_is_the_models_pmf_by_enumeration(lattice, radius, scale, shrink):
    """Brute force over every point of a box: the product of the coded conditionals equals
    p(a|u) of the prior to round-off, and both sum to 1 over the box.  The scales (components
    0.74x and 1x ``scale``, 5 % noise) put less than 1e-13 of the mass beyond the box for
    dithers u = ``shrink`` V (E8: 6562 points in the box |k_i| <= 1 of each coset, so u is
    shrunk towards 0; the pmf is defined for any u)."""
    model = _model(lattice, hidden=BLOCK_DIM[lattice])
    p = model.latent.prior
    assert p.n_blocks == 1
    with torch.no_grad():
        noise = torch.randn(p.log_scale.shape, generator=torch.Generator().manual_seed(3), dtype=p.log_scale.dtype)
        offsets = torch.linspace(-0.3, 0.0, p.components, dtype=p.log_scale.dtype)[None, :, None]
        p.log_scale.copy_(math.log(scale) + offsets + 0.05 * noise.clamp(-2, 2))
    coder = codec.coder_for(model.latent)
    h, k, coeffs = _box_points(coder, radius)
    for seed in range(2):
        v = shrink * coder.dither(1, seed)[0, 0].numpy()
        rows = np.tile(v, (len(h), 1))
        chain = _chain_log_prob(coder, h, k, rows, radius)
        with torch.no_grad():
            model_lp = p.log_prob_coords(torch.as_tensor(coeffs)[:, None, :], torch.as_tensor(rows)[:, None, :])[:, 0]
        np.testing.assert_allclose(chain, model_lp.numpy(), rtol=0, atol=1e-11)
        assert abs(np.exp(chain).sum() - 1) < 1e-11
        assert abs(np.exp(model_lp.numpy()).sum() - 1) < 1e-11


@pytest.mark.parametrize("lattice", LATTICES)
def test_every_conditional_is_normalized_and_quantizes_to_the_total(lattice):
    """Each conditional (coset, then every coordinate after random prefixes) sums to 1 over a
    wide window, and its quantized frequencies (window plus the mass beyond) to 2^24, each >= 1."""
    from vae.entropy_coding import with_outside_mass as _with_outside
    from vae.entropy_coding import quantize_pmf

    model = _model(lattice, hidden=2 * BLOCK_DIM[lattice])
    coder = codec.coder_for(model.latent)
    v = coder.dither(100, 1).reshape(-1, coder.n).numpy()
    chain = coder.conditionals(v, 0)
    rng = np.random.default_rng(1)
    coset = np.exp(chain.coset_log_pmf())
    np.testing.assert_allclose(coset.sum(1), 1.0, rtol=0, atol=1e-13)
    chain.choose_coset(rng.integers(0, coder.H, len(v)))
    window = 400                                           # 400 / max scale: beyond is below 1e-300
    assert coder.scales.max() < 40
    for i in range(coder.n):
        log_pmf, lc = chain.coordinate_log_pmf(i, window)
        pmf = np.exp(log_pmf)
        np.testing.assert_allclose(pmf.sum(1), 1.0, rtol=0, atol=1e-13)
        if coder.parity and i == coder.n - 1:               # the last coordinate's parity is forced
            wrong = (chain.par[:, None] + np.arange(-window, window + 1)[None, :]) % 2 == 1
            assert np.all(pmf[wrong] == 0)
        freqs = quantize_pmf(_with_outside(pmf))
        assert np.all(freqs.sum(1) == 2 ** PRECISION) and freqs.min() >= 1
        drawn = np.array([rng.choice(2 * window + 1, p=row / row.sum()) for row in pmf]) - window
        chain.advance(drawn, log_pmf, lc, window)
        assert np.all(np.isfinite(chain.lw))
        np.testing.assert_allclose(np.exp(chain.lw).sum(1), 1.0, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ determinism and loud failures
@pytest.mark.parametrize("lattice", ["a2", "e8"])
@pytest.mark.parametrize("threads", [1, 2])
def test_bytes_do_not_depend_on_the_thread_count(threads, lattice):
    model, x = _model(lattice), _images(60)
    assert compress_with_threads(model, x, threads) == model.compress(x, seed=1)


def test_another_model_or_seed_is_refused():
    model, x = _model("e8"), _images(100)
    data = model.compress(x, seed=0)
    with pytest.raises(CodecError, match="another model"):
        _model("e8", seed=1).decompress(data)                            # the header's model hash
    header, payload = unpack(data)
    try:                                                                 # another dither seed
        other = decode_payload(model, payload, 100, 1, header["chunk"], header["coder_params"])
        reproduced = bool((other == measure(model, x, seed=0)["symbols"]).all())
    except CodecError:                                                   # the sentinel or the window
        reproduced = False
    assert not reproduced


def test_dispatch_and_a_wrong_prior_type_are_clear():
    model = _model("z2", hidden=4)
    assert type(codec.coder_for(model.latent).prior_coder) is DGaussPriorCoder
    with pytest.raises(TypeError, match="needs a DiscreteGaussianPrior"):
        DGaussPriorCoder(ProxyLatticeLatent(4, lattice="z2", max_norm=8, threshold_t=3).prior)
    assert isinstance(model.latent.prior, DiscreteGaussianPrior)


# ------------------------------------------------------------------ the committed trained runs
@needs_data
@pytest.mark.usefixtures("vae_data_env")
@pytest.mark.parametrize("lattice", sorted(TRAINED))
def test_trained_runs_round_trip_at_the_code_length(lattice):
    from vae.codec.cli import load_model, select

    run = ROOT / "runs" / "mnist-linear-40-dgauss" / "mnist" / "linear" / TRAINED[lattice]
    if not (run / "best.pt").is_file():
        pytest.skip(f"trained run {run} not present")
    model, config = load_model(run)
    x, _ = select(config, "test", 300, None, 0)
    data = model.compress(x, seed=0)
    m = measure(model, x, seed=0)
    assert (model.decompress(data)["symbols"] == m["symbols"]).all()
    coder = codec.coder_for(model.latent)
    window = unpack(data)[0]["coder_params"]["window"]
    assert np.all(m["coded_bits"] - m["ideal_bits"] <= _quantization_bound(coder, window, 1))
    _check_coded_bits(coder, m, coder.dither(len(x), 0), window)
    # a trained prior puts no symbol in the quantizer's floor: coded = ideal to 1e-4 relative
    assert abs(m["coded_bits"].sum() - m["ideal_bits"].sum()) <= 1e-4 * m["ideal_bits"].sum()
    assert m["payload_bits"] <= m["ideal_bits"].sum() * 1.005 + 96
    # negative control: the untrained prior (validation.bitstream's) on the same symbols
    bad = measure(model, x, seed=0, coding_model=mismatched_model(model))
    assert (bad["symbols"] == m["symbols"]).all()
    assert bad["payload_bits"] > 1.02 * m["payload_bits"] + 96


@needs_data
@pytest.mark.usefixtures("vae_data_env")
def test_command_lines_on_a_trained_dgauss_run(tmp_path, capsys):
    """vae.compress, vae.decompress and validation.bitstream (exit 0: confirmed, controls refuted)."""
    import json

    from vae import compress, decompress
    from validation import bitstream

    run = ROOT / "runs" / "mnist-linear-40-dgauss" / "mnist" / "linear" / TRAINED["e8"]
    if not (run / "best.pt").is_file():
        pytest.skip(f"trained run {run} not present")
    f, npz = tmp_path / "d.lrlb", tmp_path / "d.npz"
    assert compress.main([str(run), "--images", "200", "--out", str(f), "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["latent"] == "e8" and abs(summary["payload_overhead_percent"]) < 1.5   # 96 fixed bits / ~11 000
    assert decompress.main([str(f), str(run), "--out", str(npz), "--no-progress"]) == 0
    with np.load(npz) as z:
        assert z["reconstruction"].shape == (200, 784)
    capsys.readouterr()
    assert bitstream.main([str(run), "--images", "500", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["confirmed"] is True and not any(c["passed"] for c in report["negative_controls"])


@needs_data
@pytest.mark.usefixtures("vae_data_env")
def test_evaluate_reports_measured_bits_of_a_dgauss_run(tmp_path, capsys):
    """vae.evaluate's measured bits (a copy of the run: evaluate writes eval.json beside it)."""
    import json
    import shutil

    from vae import evaluate

    run = ROOT / "runs" / "mnist-linear-40-dgauss" / "mnist" / "linear" / TRAINED["a2"]
    if not (run / "best.pt").is_file():
        pytest.skip(f"trained run {run} not present")
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("best.pt", "config.json"):
        shutil.copy(run / name, copy / name)
    capsys.readouterr()
    assert evaluate.main([str(copy), "--samples", "1", "--limit", "100", "--json", "--no-progress",
                          "--device", "cpu"]) == 0
    bits = json.loads(capsys.readouterr().out)["bits"]
    assert bits["images"] == 100 and "unavailable" not in bits
    assert bits["code_length_bits_per_image"] <= bits["payload_bits_per_image"] \
        <= bits["code_length_bits_per_image"] + 96 / 100 + 1e-3
