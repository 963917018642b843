"""vae.codec: exact round trips, bits equal to the model's code length, deterministic pmfs, bad files.

Untrained models (random weights) on random binary images: no data set needed.
"""
import math

import numpy as np
import pytest
import torch

import lattices
from theory.lattice_prior import enumerate_points
from vae import codec
from vae.codec.api import decode_payload, measure
from vae.codec.container import unpack
from vae.codec.latent_coders import CodecError, LatticeCoder
from vae.priors.paper import PaperPriorCoder
from vae.entropy_coding import PRECISION, push_uniform, pop_uniform, quantize_pmf
from vae.models import VAE, ModelConfig
from conftest import compress_with_threads  # tests/conftest.py

DISCRETE = ["z-laplace", "z2", "a2", "e8", "vq", "concrete"]


def _model(latent, hidden=16, seed=0, **options):
    torch.manual_seed(seed)
    model = VAE(ModelConfig(latent=latent, hidden=hidden, latent_options=options))
    if latent == "vq":                                     # a non-uniform prior to code under
        with torch.no_grad():
            model.latent.prior_logits.normal_(0, 2, generator=torch.Generator().manual_seed(1))
            model.latent.initialized.fill_(True)
    if latent == "concrete":
        with torch.no_grad():
            model.latent.prior_logits.normal_(0, 2, generator=torch.Generator().manual_seed(1))
    return model.eval()


def _images(n=120, seed=0):
    return (torch.rand(n, 784, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


@pytest.mark.parametrize("latent", DISCRETE)
def test_round_trip_is_exact_and_bits_match_the_code_length(latent):
    model, x = _model(latent), _images()
    data = model.compress(x, seed=7, chunk=50)
    out = model.decompress(data)
    m = measure(model, x, seed=7, chunk=50)
    assert (out["symbols"] == m["symbols"]).all()
    # the decoder input is the latent layer's own decode of the symbols with the same dither
    coder = codec.coder_for(model.latent)
    dither = coder.dither(len(x), 7)
    assert torch.equal(out["decoder_input"], coder.decoder_input(m["symbols"], dither))
    with torch.no_grad():
        assert torch.allclose(out["reconstruction"], torch.sigmoid(model.decoder(out["decoder_input"])))
    ideal, coded = m["ideal_bits"], m["coded_bits"]
    # coded = ideal up to the 24-bit quantization of the pmfs (< 1e-3 relative here)
    assert abs(coded.sum() - ideal.sum()) <= 1e-3 * ideal.sum()
    # the payload adds at most the state flush (64) and the sentinel (32) to the coded bits
    assert coded.sum() - 1 <= m["payload_bits"] <= coded.sum() + 96
    assert m["payload_bits"] <= 1.005 * ideal.sum() + 96


@pytest.mark.parametrize("latent", ["z2", "a2", "e8"])
def test_lattice_ideal_bits_are_the_models_code_length(latent):
    """ideal_bits is minus log2 of the model's own log_ratio: the code length (10)."""
    model, x = _model(latent), _images(20)
    coder = codec.coder_for(model.latent)
    v = coder.dither(len(x), 3)
    sym = coder.symbols(model.encoder(x), v)
    layer = model.latent
    u = (layer.delta().detach().double()[:, None] * v).reshape(len(x), -1)
    nats = -layer.log_prob(torch.as_tensor(sym), u)
    assert np.allclose(coder.ideal_bits(sym, v), nats.detach().numpy() / math.log(2), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("latent", ["z2", "a2", "e8"])
def test_hierarchical_code_of_every_support_point_is_the_prior(latent):
    """For every lattice point up to K (and some beyond), the coder's factorization (component,
    head/shell symbol, 1/theta_k rank, escape coefficients) multiplies to p_{Z^|U} exactly."""
    K = {"z2": 10, "a2": 10, "e8": 6}[latent]
    t = {"z2": 5, "a2": 4, "e8": 3}[latent]
    model = _model(latent, hidden=8 if latent == "e8" else 4, max_norm=K, threshold_t=t)
    coder = _paper_coder(model.latent)
    lat = lattices.get(latent)
    coords, _, norms = enumerate_points(lat, K + 4)
    R = coder.R
    v = coder.dither(1, 0)                                             # (1, R, n)
    for b in range(R):
        c = coords
        dv = v.expand(len(c), R, coder.n)
        tabs = coder._tables(dv)
        rows = np.arange(len(c)) * R + b
        tab = tuple(a[rows] for a in tabs)
        inside = norms <= K
        sym, _ = coder._trunc_symbol(c[inside], norms[inside])
        lt, le = coder._component_logits(c[inside], norms[inside], sym, tuple(a[inside] for a in tab))
        ours = np.full(len(c), -np.inf)
        ours[inside] = np.logaddexp(lt, le)
        _, log_eps, _, log_rho, log_geo = tab
        ours[~inside] = (log_eps + coder.n * log_geo + log_rho * np.abs(c).sum(1))[~inside]
        full = torch.zeros(len(c), R, coder.n, dtype=torch.int64)
        full[:, b] = torch.as_tensor(c)
        lp = model.latent.prior.log_prob_coords(full, dv)[:, b].detach().numpy()
        assert np.allclose(ours, lp, rtol=0, atol=1e-10)
        # the truncated part's symbol pmf (head points + shells) sums to 1
        assert np.allclose(np.exp(tab[0]).sum(1), 1.0, atol=1e-12)


def test_quantized_pmf_is_normalized_and_positive():
    rng = np.random.default_rng(0)
    for size in (2, 3, 241, 4097):
        p = rng.dirichlet(np.full(size, 0.2), size=50)
        p[:, 0] = 0.0
        f = quantize_pmf(p / p.sum(1, keepdims=True))
        assert (f.sum(1) == 2 ** PRECISION).all() and (f >= 1).all()
        # rounding loses little: KL(p || f) is below 1e-3 bits
        q = f / 2 ** PRECISION
        kl = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1) / q), 0).sum(1)
        assert kl.max() < 1e-3
    with pytest.raises(ValueError, match="non-negative"):
        quantize_pmf(np.array([0.5, -0.1]))


def test_uniform_symbols_of_any_size_round_trip():
    import constriction

    rng = np.random.default_rng(1)
    sizes = np.concatenate([rng.integers(1, 5000, 200), rng.integers(4097, 2 ** 40, 200), [1, 2, 4096, 4097]])
    values = rng.integers(0, sizes)
    ans = constriction.stream.stack.AnsCoder()
    push_uniform(ans, values, sizes)
    ideal = np.log2(sizes.astype(float)).sum()
    assert ideal - 1 <= ans.num_bits() <= ideal + 64 + 1e-3 * ideal
    assert (pop_uniform(ans, sizes) == values).all() and ans.is_empty()


@pytest.mark.parametrize("latent, hidden", [("e8", 16), ("leech", 24)])
@pytest.mark.parametrize("threads", [1, 2])
def test_bytes_do_not_depend_on_the_thread_count(threads, latent, hidden):
    model, x = _model(latent, hidden=hidden), _images(60)
    assert compress_with_threads(model, x, threads) == model.compress(x, seed=1)


def test_same_seed_same_bytes_other_seed_other_bytes():
    model, x = _model("a2"), _images(30)
    assert model.compress(x, seed=4) == model.compress(x, seed=4)
    assert model.compress(x, seed=4) != model.compress(x, seed=5)


# ------------------------------------------------------------------ failures must be loud
@pytest.fixture(scope="module")
def e8_file():
    model, x = _model("e8"), _images(40)
    return model, model.compress(x, seed=2)


def test_gaussian_has_no_symbols():
    with pytest.raises(TypeError, match="continuous"):
        _model("gaussian").compress(_images(2))


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:-5], "checksum"), (lambda d: b"", "empty"), (lambda d: d[:3], "not a bitstream"),
    (lambda d: d[:40] + bytes([d[40] ^ 1]) + d[41:], "checksum"),
    (lambda d: d[:-30] + bytes([d[-30] ^ 0x80]) + d[-29:], "checksum"),
    (lambda d: d[:4] + (3).to_bytes(2, "little") + d[6:], "format version 3")])
def test_damaged_files_fail_loudly(e8_file, damage, message):
    model, data = e8_file
    with pytest.raises(CodecError, match=message):
        model.decompress(damage(data))


def test_another_model_is_refused(e8_file):
    _, data = e8_file
    with pytest.raises(CodecError, match="another model"):
        _model("e8", seed=1).decompress(data)


def test_another_seed_does_not_reproduce_the_symbols(e8_file):
    model, data = e8_file
    header, payload = unpack(data)
    right = decode_payload(model, payload, header["n_images"], header["seed"], header["chunk"],
                           header["coder_params"])
    try:
        wrong = decode_payload(model, payload, header["n_images"], header["seed"] + 1, header["chunk"],
                               header["coder_params"])
    except CodecError:
        return                                                  # the sentinel caught it: loud
    assert not np.array_equal(wrong, right)


def test_bad_arguments():
    model = _model("vq")
    with pytest.raises(ValueError, match="seed"):
        model.compress(_images(2), seed=-1)
    with pytest.raises(ValueError, match="shape"):
        model.compress(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="chunk"):
        model.compress(_images(2), chunk=0)


def test_audit_row_of_the_premise_is_verified():
    from validation.audit import bitstream

    row = bitstream(quick=True)
    assert row.status == "verified", row.result
    assert "round trip exact" in row.result and "does not reproduce" in row.result


def test_any_proxy_lattice_latent_is_coded():
    """A Gaussian-proxy latent on another lattice (D4, through the generic coder and D_n ranks)."""
    from vae.latents.proxy import ProxyLatticeLatent

    model = _model("e8", hidden=8)
    model.latent = ProxyLatticeLatent(8, lattice="d4", max_norm=12, threshold_t=3)
    x = _images(40)
    data = model.compress(x, seed=0)
    m = measure(model, x, seed=0)
    assert (model.decompress(data)["symbols"] == m["symbols"]).all()
    assert abs(m["coded_bits"].sum() - m["ideal_bits"].sum()) <= 1e-3 * m["ideal_bits"].sum()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_a_file_written_with_a_gpu_model_decodes_on_the_cpu():
    model, x = _model("e8"), _images(100)
    cpu_model = _model("e8")
    data = model.cuda().compress(x, seed=0)
    assert (cpu_model.decompress(data)["symbols"] == measure(cpu_model, x, seed=0)["symbols"]).all()


def _large_shell_symbols(coder, n_img, seed):
    """Per block: random points of random shells up to K (ranks beyond 2^63 for Leech), the
    origin, and a few points beyond K (escape), as coefficient symbols (n_img, R n)."""
    rng = np.random.default_rng(seed)
    counts = coder.ranker.count(np.arange(coder.K + 1))
    shells = [k for k in range(1, coder.K + 1) if counts[k] > 0]
    N = n_img * coder.R
    norms = rng.choice(shells, N)
    norms[:3] = coder.K                                                   # the largest shell
    ranks = np.array([int(counts[k]) * int(rng.integers(0, 2 ** 62)) // 2 ** 62 for k in norms], dtype=object)
    c = coder.ranker.unrank(norms, ranks)
    c[3] = 0                                                              # the head (origin)
    c[4] = 3 * c[5]                                                       # beyond K: escape only
    return c.reshape(n_img, coder.R * coder.n), norms


@pytest.mark.parametrize("latent, hidden", [("bw16", 32), ("leech", 24)])
def test_bw16_leech_large_shells_round_trip_at_the_code_length(latent, hidden):
    """Points of shells up to K = 256 (Leech: 10^25 points, ranks coded as Python ints) round
    trip through the ANS stack, and the coded bits equal the model's code length (10)."""
    import constriction

    model = _model(latent, hidden=hidden)
    coder = codec.coder_for(model.latent)
    assert coder.K == 256 and coder.t == 1
    symbols, norms = _large_shell_symbols(coder, 40, seed=1)
    assert norms.max() == 256
    v = coder.dither(len(symbols), 5)
    coder.set_params(coder.file_params(symbols))
    ans = constriction.stream.stack.AnsCoder()
    bits = coder.push(ans, symbols, v)
    payload = ans.num_bits()
    assert (coder.pop(ans, len(symbols), v) == symbols).all() and ans.is_empty()
    ideal = coder.ideal_bits(symbols, v)
    esc = np.zeros(len(symbols), dtype=bool)
    esc[4 // coder.R] = True                     # the escape window |c| <= W renormalizes: never more
    assert np.allclose(bits[~esc], ideal[~esc], rtol=1e-4, atol=0.05)     # 24-bit pmf quantization
    assert (bits[esc] <= ideal[esc] + 0.05).all()
    assert abs(payload - bits.sum()) <= 96                                 # state flush and words
    assert ideal.mean() > 60                                               # large shells: many bits each


@pytest.mark.parametrize("latent, hidden", [("bw16", 16), ("leech", 24)])
def test_bw16_leech_hierarchical_code_is_the_prior(latent, hidden):
    """The coder's factorization (component, origin/shell symbol, 1/theta_k rank, escape
    coefficients) multiplies to p_{Z^|U} on sampled points of every kind (origin, shells up
    to K, beyond K); the shell sizes enter as exact ints."""
    model = _model(latent, hidden=hidden)
    coder = _paper_coder(model.latent)
    symbols, norms = _large_shell_symbols(coder, 200, seed=2)
    c = symbols.reshape(-1, coder.n)
    dv = coder.dither(len(c), 0)
    tabs = coder._tables(dv)
    norms = coder._norms(c)
    inside = norms <= coder.K
    assert (~inside).sum() >= 1 and (norms == 0).sum() >= 1
    sym, _ = coder._trunc_symbol(c[inside], norms[inside])
    lt, le = coder._component_logits(c[inside], norms[inside], sym, tuple(a[inside] for a in tabs))
    ours = np.empty(len(c))
    ours[inside] = np.logaddexp(lt, le)
    _, log_eps, _, log_rho, log_geo = tabs
    ours[~inside] = (log_eps + coder.n * log_geo + log_rho * np.abs(c).sum(1))[~inside]
    lp = model.latent.prior.log_prob_coords(torch.as_tensor(c)[:, None, :], dv[:, :1]).detach().numpy()[:, 0]
    assert np.allclose(ours, lp, rtol=0, atol=1e-9)


@pytest.mark.parametrize("latent, hidden", [("bw16", 32), ("leech", 24)])
def test_bw16_leech_files_round_trip(latent, hidden):
    model, x = _model(latent, hidden=hidden), _images(60)
    data = model.compress(x, seed=4, chunk=20)
    m = measure(model, x, seed=4, chunk=20)
    assert (model.decompress(data)["symbols"] == m["symbols"]).all()
    assert abs(m["coded_bits"].sum() - m["ideal_bits"].sum()) <= 1e-3 * m["ideal_bits"].sum()
    assert m["payload_bits"] <= 1.005 * m["ideal_bits"].sum() + 96


def test_quantization_kernel_is_the_documented_rule():
    """The one-pass kernel gives exactly f = floor(p (2^24 - A)) + 1 with the remainder on the first
    largest entry (the rule the file format fixes), on random pmfs of several shapes and edge cases."""
    total = 1 << PRECISION

    def rule(p):
        f = np.floor(p * (total - p.shape[-1])).astype(np.int64) + 1
        top = np.argmax(f, axis=-1)[..., None]
        np.put_along_axis(f, top, np.take_along_axis(f, top, -1) + total - f.sum(-1, keepdims=True), -1)
        return f

    rng = np.random.default_rng(11)
    for shape in [(500, 272), (4, 3, 9), (6, 1), (5, 2)]:
        p = rng.exponential(size=shape) ** 6
        p /= p.sum(-1, keepdims=True)
        assert (quantize_pmf(p) == rule(p)).all()
    ties = np.array([[0.25, 0.25, 0.25, 0.25], [0.0, 1.0, 0.0, 0.0]])
    assert (quantize_pmf(ties) == rule(ties)).all()
    for bad in ([0.5, np.nan], [1.5, -0.5], [np.inf, 0.0]):
        with pytest.raises(ValueError, match="finite and non-negative"):
            quantize_pmf(np.array(bad))


def test_codec_interface_of_the_lattice_latent_matches_inference():
    """cell_dither, block_coefficients and decoder_input_from (the public interface the coder
    uses) reproduce inference_samples' dither, symbols and decoder input (9) exactly."""
    model, x = _model("e8", hidden=16), _images(30)
    layer = model.latent
    with torch.no_grad():
        e = model.encoder(x)
        inf = layer.inference_samples(e, 1, torch.Generator().manual_seed(5))
        v = layer.cell_dither(len(x), torch.Generator().manual_seed(5))
        c = layer.block_coefficients(e, v)
        z = layer.decoder_input_from(c, v)
    assert c.shape == (30, 2, 8) and c.dtype == torch.int64
    assert torch.equal(z.float(), inf["decoder_input"][:, 0].float())
    assert torch.allclose(-layer.log_prob(c.reshape(30, -1), (layer.delta()[:, None] * v).reshape(30, -1)).double(),
                          -inf["log_ratio"][:, 0], rtol=0, atol=1e-9)


def _paper_coder(layer):
    """The paper prior's own coder of a lattice layer, with the layer's dither (for white-box checks)."""
    coder = layer.prior.coder()
    assert type(coder) is PaperPriorCoder
    coder.dither = LatticeCoder(layer).dither
    return coder


def test_coder_dispatch_asks_the_prior_object_for_its_coder(monkeypatch):
    """A lattice latent is coded by LatticeCoder, whose pmf coder is the prior object's own
    (``prior.coder()``), whatever the family; register_coder adds a coder by latent name."""
    from vae.codec import dispatch

    model = _model("z2", hidden=4)
    coder = codec.coder_for(model.latent)
    assert type(coder) is LatticeCoder and type(coder.prior_coder) is PaperPriorCoder

    class OtherCoder(PaperPriorCoder):
        pass

    monkeypatch.setattr(model.latent.prior, "coder", lambda: OtherCoder(model.latent.prior))
    assert type(codec.coder_for(model.latent).prior_coder) is OtherCoder      # the object decides
    dispatch.register_coder("vae.codec.latent_coders:CategoricalCoder", latent="other-vq")
    try:
        assert dispatch._resolve(dispatch._CODERS["other-vq"]).__name__ == "CategoricalCoder"
    finally:
        dispatch._CODERS.pop("other-vq")
    with pytest.raises(ValueError, match="latent="):
        dispatch.register_coder(OtherCoder, latent="")


def _flat_vq(scale=0.05):
    """A vq model whose 4 x 512 prior is nearly uniform (a 2-epoch run's): each codeword ~1/512."""
    model = _model("vq")
    with torch.no_grad():
        model.latent.prior_logits.normal_(0, scale, generator=torch.Generator().manual_seed(2))
    return model


def test_categorical_integer_pmf_is_within_a_count_of_the_float_model():
    """The vq integer pmfs (a nearly uniform prior over 512 codewords) lie within one count of
    p 2^24 for every codeword: the argmax rule gave the argmax the whole remainder (up to 511
    counts, ~1 % of its mass), and a run whose encoder favours it coded 0.14 % below (10)."""
    from vae.codec.latent_coders import CategoricalCoder
    import constriction

    coder = CategoricalCoder(_flat_vq().latent)
    coder.set_params(coder.file_params(None))
    exact = np.exp(coder.logp) * 2.0 ** PRECISION
    assert np.abs(coder.freqs - exact).max() < 1.0 + 1e-6
    # every image coding the argmax codeword of each codebook: coded bits = the float model's
    top = np.argmax(coder.logp, 1)
    symbols = np.tile(top, (300, 1)).astype(np.int64)
    bits = coder.push(constriction.stream.stack.AnsCoder(), symbols, None)
    ideal = coder.ideal_bits(symbols, None)
    assert abs(bits.sum() - ideal.sum()) <= 1e-5 * ideal.sum()


def test_a_categorical_file_without_the_spread_parameter_decodes_with_the_argmax_rule():
    """Format-2 files written before the spread rule (no ``spread`` coder parameter) still decode."""
    from vae.codec.api import _encode, model_hash
    from vae.codec.container import pack

    model, x = _flat_vq(), _images(40)
    new = model.compress(x, seed=3, chunk=16)
    assert unpack(new)[0]["coder_params"] == {"spread": 1}
    coder = codec.coder_for(model.latent)
    m = measure(model, x, seed=3, chunk=16)
    coder.set_params({})                                        # the argmax rule of the older files
    payload, _ = _encode(coder, m["symbols"], None, 16)
    old = pack(model_hash=model_hash(model), seed=3, n_images=len(x), chunk=16, coder_params={},
               payload=payload, meta=None)
    for data in (new, old):
        assert (model.decompress(data)["symbols"] == m["symbols"]).all()
    with pytest.raises(CodecError):                             # an unknown rule is refused
        coder.set_params({"spread": 2})
