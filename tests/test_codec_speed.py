"""The batched coder paths (issue 31, speed): whole batches of images give the same integers as one
image at a time, the fused kernels equal the priors' own definitions, and the benchmark runs.

No timings are asserted here: speed is measured by ``python -m benchmarks.bitstream``
(docs/performance.md, "Bitstreams").
"""
import json

import numpy as np
import pytest
import torch

from vae import codec
from vae.entropy_coding import quantize_log_pmf, quantize_pmf
from vae.models import VAE, ModelConfig


def _coder(latent, hidden, options):
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent=latent, hidden=hidden, latent_options=options)).eval()
    return model, codec.coder_for(model.latent)


@pytest.mark.parametrize("latent, hidden, options", [("e8", 16, {}), ("bw16", 16, {})])
def test_paper_tables_of_a_batch_equal_those_of_single_images_and_the_prior(latent, hidden, options):
    """The fused head kernel on a batch of 30 images gives, row for row, the bits it gives on
    each image alone (no reduction across rows), and the prior's part_log_probs to 1e-12."""
    model, coder = _coder(latent, hidden, options)
    v = coder.dither(30, 4)
    (cat, *rest), probs = coder.prior_coder._tables_and_probs(v)
    for i in (0, 7, 29):
        (cat1, *_), probs1 = coder.prior_coder._tables_and_probs(v[i:i + 1])
        rows = slice(i * coder.R, (i + 1) * coder.R)
        assert cat[rows].tobytes() == cat1.tobytes() and probs[rows].tobytes() == probs1.tobytes()
    prior = model.latent.prior
    with torch.no_grad():
        lh, head, lt = prior.part_log_probs(v)                                # (R, n), (R, n, H), (R, n)
        lsm = torch.log_softmax(prior.psi, -1)                                # (R, C)
    H = coder.prior_coder.H
    ref_head = (lh[..., None] + head).transpose(0, 1).reshape(-1, H).double().numpy()
    ref_tail = (lt[..., None] + lsm[:, None, :]).transpose(0, 1).reshape(-1, lsm.shape[1]).double().numpy()
    assert np.allclose(cat[:, :H], ref_head, rtol=0, atol=1e-12)
    assert np.allclose(cat[:, H:], ref_tail, rtol=0, atol=1e-12)
    assert np.allclose(probs, np.exp(cat), rtol=1e-13, atol=0)
    assert (quantize_pmf(probs) == quantize_log_pmf(cat)).mean() > 0.999   # two roundings of one pmf


@pytest.mark.parametrize("latent, hidden", [("e8", 16), ("leech", 24)])
def test_dgauss_conditionals_of_a_batch_equal_those_of_single_rows(latent, hidden):
    """The discrete-Gaussian chain on a batch of block rows gives each row the bits it gets alone."""
    _, coder = _coder(latent, hidden, {"prior": "dgauss"})
    pc = coder.prior_coder
    v = coder.dither(12, 2).reshape(-1, pc.n).numpy()
    x = torch.zeros(12, hidden)
    symbols = coder.symbols(x, coder.dither(12, 2))
    h, k = pc.split(symbols)
    w = max(3, int(np.abs(k).max()))

    def run(rows):
        chain = pc.conditionals(v[rows], rows.start)
        out = [chain.coset_log_pmf()] if pc.H > 1 else []
        chain.choose_coset(h[rows])
        for i in range(pc.n):
            lp, lc = chain.coordinate_log_pmf(i, w)
            out.append(lp)
            chain.advance(k[rows, i], lp, lc, w)
        return out

    whole = run(slice(0, len(v)))
    for r in (0, 5, len(v) - 1):
        one = run(slice(r, r + 1))
        assert all(a[r:r + 1].tobytes() == b.tobytes() for a, b in zip(whole, one))


def test_scaled_trellis_sums_equal_the_log_domain_recursion():
    """The linear-domain trellis sums with per-depth scales (multiply-adds only) equal the
    log-domain recursion of theory.code_trellis to round-off, -inf where it is -inf."""
    from theory.discrete_gaussian_prior import DiscreteGaussianPrior
    import lattices
    from vae.priors.dgauss import _suffix_scaled

    tr = DiscreteGaussianPrior(lattices.get("leech"), n_blocks=1, components=2).coded.trellis
    lw = np.random.default_rng(0).normal(size=(3, 5, 24, 4)) * 3
    ref = tr.log_suffix(lw)
    lin, off = _suffix_scaled(tr, lw)
    with np.errstate(divide="ignore"):
        ours = [np.log(a) + off[..., i, None, None] for i, a in enumerate(lin)]
    for a, b in zip(ours, ref):
        assert (np.isinf(a) == np.isinf(b)).all()
        fin = np.isfinite(b)
        assert np.allclose(a[fin], b[fin], rtol=0, atol=1e-12)


def test_benchmark_reports_ratios_threads_and_targets(capsys):
    from benchmarks import bitstream

    assert bitstream.main(["--latents", "e8", "--images", "20", "--repeats", "1", "--threads", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    row = out["rows"][0]
    assert row["threads"] == 1 and row["roundtrip_ratio"] > 0
    assert set(out["meta"]) >= {"load_average_before", "load_average_after", "threads"}
    assert bitstream.main(["--latents", "e8", "--images", "5", "--threads", "0"]) == 2
