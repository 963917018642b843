"""BW16 and the Leech lattice: codes, decoders (contract suite), exact constants, theta series.

Decoder optimality for Leech, whose 16,969,680 Voronoi-relevant vectors are not
materialized: every contract batch is checked against the exact generic decoder
(LLL + Schnorr-Euchner; 12 examples x 64 points x 3 decodings, about 2300 points,
plus 3000 random points against the eager path) and against a relevant-vector
certificate restricted to the 196560 minimal vectors (a necessary condition). On
a smaller sample (the first 8 points of each batch) a complete certificate is
given by Fincke-Pohst enumeration of the open ball around x through K(x): it
holds no lattice point.  BW16 runs the full contract suite, its certificate over
all 65760 relevant vectors.
"""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lattices
from lattices import codes, geometry
from lattices._generic import enumerate_ball
from lattices.modular import bw16_theta, leech_theta
from lattices.theta_exact import _block_theta
from test_decoder_contract import KINDS, RTOL, DecoderContract, _sqdist

#: The contract's draw, with fewer examples for the 24-dimensional classes (the generic
#: reference decoder and the ball enumeration dominate their time).
_DRAW = dict(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(KINDS),
             log_scale=st.sampled_from([0.0, 0.0, -6.0, 3.0]))


# ----------------------------------------------------------------------------- codes
def test_golay_code_is_the_24_12_8_code():
    G = codes.golay_code().astype(np.int64)
    assert G.shape == (4096, 24) and len({tuple(r) for r in G}) == 4096
    assert codes.binary_rank(G) == 12
    weights = np.bincount(G.sum(1), minlength=25)
    # weight enumerator of G24: 1 + 759 x^8 + 2576 x^12 + 759 x^16 + x^24 (SPLAG ch. 3)
    assert {w: int(c) for w, c in enumerate(weights) if c} == {0: 1, 8: 759, 12: 2576, 16: 759, 24: 1}
    gens = codes.generator_rows(G)
    span = {tuple(np.zeros(24, int))}
    for g in gens:  # closure of the 12 generators is exactly the 4096 words
        span |= {tuple((np.array(s) + g) % 2) for s in span}
    assert span == {tuple(r) for r in G}


def test_rm14_and_hexacode():
    R = codes.rm14_code().astype(np.int64)
    assert R.shape == (32, 16) and codes.binary_rank(R) == 5
    assert sorted(set(R.sum(1).tolist())) == [0, 8, 16]
    H = codes.hexacode()
    assert H.shape == (64, 6) and len({tuple(h) for h in H}) == 64
    assert min(int((h != 0).sum()) for h in H if h.any()) == 4  # [6, 3, 4] over GF(4)


# ----------------------------------------------------------------------------- decoders
def _brute_force_closest(y, code):
    """Closest point of U_c (c + 2 D_n): every codeword's coset decoded (C&S 1982 D_n rule)."""
    best, best_d = None, np.inf
    for c in code.astype(float):
        t = (y - c) / 2
        f = np.rint(t)
        if int(f.sum()) % 2:
            i = np.argmax(np.abs(t - f))
            f[i] += 1 if t[i] - f[i] >= 0 else -1
        z = 2 * f + c
        d = ((y - z) ** 2).sum()
        if d < best_d:
            best, best_d = z, d
    return best, best_d


@pytest.mark.parametrize("name, code, factor", [("bw16", "rm14_code", np.sqrt(2.0)),
                                                ("leech", "golay_code", np.sqrt(8.0))])
def test_decoder_matches_brute_force_over_all_codewords(name, code, factor):
    """Against the 32 / 4096-coset brute force (Leech: both cosets of 2 H24)."""
    lat = lattices.get(name)
    C = getattr(codes, code)()
    glue = lattices.leech.GLUE if name == "leech" else None
    rng = np.random.default_rng(7)
    for _ in range(25 if name == "leech" else 200):
        x = rng.normal(scale=1.5, size=lat.dim)
        y = x * factor
        if glue is None:
            z, d = _brute_force_closest(y, C)
        else:
            z0, d0 = _brute_force_closest(y / 2, C)
            z1, d1 = _brute_force_closest((y - glue) / 2, C)
            d = min(4 * d0, 4 * d1)
        c = lat.nearest(x[None])[0]
        assert abs(((y - c * factor) ** 2).sum() - d) < 1e-9 * (1 + d)


class TestBW16(DecoderContract):
    name = "bw16"

    @settings(max_examples=20)
    @given(**_DRAW)
    def test_contract(self, seed, kind, log_scale):
        self.check_contract(seed, kind, log_scale)

    # covering radius sqrt(3) (SPLAG ch. 6): the listed hole, canonical / sqrt(2)
    deep_holes = [(np.array(lattices.bw16.DEEP_HOLE_CANONICAL) / np.sqrt(2.0), 3.0)]


def _leech_minimal_coefficients():
    lat = lattices.get("leech")
    cache = lat.blocks()[0].spec.cache
    if "minimal_coefficients" not in cache:
        coef = enumerate_ball(lat.basis, np.zeros(24), 4.0)
        cache["minimal_coefficients"] = coef[np.any(coef != 0, axis=1)]
    return cache["minimal_coefficients"]


class LeechContract(DecoderContract):
    """Tie points from the minimal vectors; certificate as in the module docstring."""

    def tie_vectors(self, lat):
        return lat.from_coordinates(_leech_minimal_coefficients().astype(float))

    def check_certificate(self, lat, x, c, scale2):
        from test_decoder_contract import min_neighbour_sqdist

        d = _sqdist(x, c)
        tol = RTOL * (scale2 + (x ** 2).sum(-1))
        assert (min_neighbour_sqdist(x, c, self.tie_vectors(lat)) >= d - tol).all()
        for i in range(min(8, x.shape[0])):  # complete certificate: the open ball is empty
            inside = enumerate_ball(lat.basis, x[i], d[i] - tol[i], rtol=0.0)
            assert inside.shape[0] == 0, (x[i], c[i], d[i])


    @settings(max_examples=12)
    @given(**_DRAW)
    def test_contract(self, seed, kind, log_scale):
        self.check_contract(seed, kind, log_scale)


class TestLeech(LeechContract):
    name = "leech"
    # covering radius sqrt(2) (Conway, Parker & Sloane 1982): (4, 0^23) / sqrt(8)
    deep_holes = [(np.array(lattices.leech.DEEP_HOLE_CANONICAL) / np.sqrt(8.0), 2.0)]


@pytest.mark.slow
class TestRotatedLeechFast(LeechContract):
    """A rotated, scaled Leech basis keeps the fast decoder (``from_basis(..., like="leech")``)."""

    def make(self):
        q, r = np.linalg.qr(np.random.default_rng(4).normal(size=(24, 24)))
        return lattices.from_basis(0.8 * lattices.get("leech").basis @ (q * np.sign(np.diag(r))),
                                   like="leech")


class TestBW16TimesE8(DecoderContract):
    @settings(max_examples=10)
    @given(**_DRAW)
    def test_contract(self, seed, kind, log_scale):
        self.check_contract(seed, kind, log_scale)

    def make(self):
        return lattices.parse("bw16 x e8").scaled(0.5)


def test_eager_torch_matches_kernel_on_random_points():
    for name in ("bw16", "leech"):
        lat = lattices.get(name)
        x = torch.from_numpy(np.random.default_rng(3).normal(size=(3000, lat.dim)))
        c = lat.nearest(x)
        ce = lat._nearest_torch(x, force_eager=True)
        torch.testing.assert_close(ce, c, rtol=0, atol=1e-12)


def test_bad_input_names_the_point():
    x = np.zeros((3, 24))
    x[1, 5] = np.nan
    with pytest.raises(ValueError, match="point 1"):
        lattices.get("leech").nearest(x)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 16\)"):
        lattices.get("bw16").nearest(np.zeros((2, 8)))


# ----------------------------------------------------------------------------- constants
def test_exact_constants():
    bw, le = lattices.get("bw16"), lattices.get("leech")
    assert lattices.kissing_number(bw) == 4320 and lattices.kissing_number(le) == 196560
    assert str(lattices.packing_radius(bw)) == "1" and str(lattices.packing_radius(le)) == "1"
    assert str(lattices.covering_radius(bw)) == "sqrt(3)"
    assert str(lattices.covering_radius(le)) == "sqrt(2)"
    assert geometry.volume_exact(bw) == 16 and geometry.volume_exact(le) == 1
    assert abs(bw.volume - 16) < 1e-9 and abs(le.volume - 1) < 1e-12
    # the Gram matrices: even (norms), integral; Leech unimodular
    for lat in (bw, le):
        G = lat.gram
        assert np.abs(G - np.rint(G)).max() < 1e-9 and (np.rint(np.diag(G)) % 2 == 0).all()
    assert lattices.kissing_number(lattices.parse("leech^2")) == 2 * 196560
    assert lattices.kissing_number(lattices.parse("leech x e8")) == 240  # E8 is shorter
    assert str(lattices.covering_radius(le.scaled(2.0))) == "2*sqrt(2)"


def test_nsm_exact_raises_clearly():
    for name, published in (("bw16", "0.068297"), ("leech", "0.065771")):
        with pytest.raises(ValueError, match=f"nsm_monte_carlo.*{published}"):
            lattices.get(name).nsm_exact()


def test_bw16_relevant_vectors_by_voronoi_criterion():
    """The 65760 vectors of norm 4 and 6 are exactly the relevant vectors found by the
    generic Voronoi criterion (+-v alone shortest in v + 2 BW16, lattices._generic)."""
    from lattices._generic import relevant_coefficients

    lat = lattices.get("bw16")
    rel = lat.relevant_vectors()
    norms = np.rint((rel ** 2).sum(1)).astype(int)
    assert np.unique(norms, return_counts=True)[1].tolist() == [4320, 61440]
    mine = {tuple(r) for r in np.rint(lat.to_coordinates(rel)).astype(np.int64)}
    assert mine == {tuple(r) for r in relevant_coefficients(lat.basis)}


# ----------------------------------------------------------------------------- theta
def test_theta_series_modular_forms():
    """The modular-form series against SPLAG's printed coefficients."""
    assert leech_theta(12) == [1, 0, 0, 0, 196560, 0, 16773120, 0, 398034000, 0, 4629381120, 0,
                               34417656000]
    assert bw16_theta(10) == [1, 0, 0, 0, 4320, 0, 61440, 0, 522720, 0, 2211840]
    assert lattices.get("leech").theta_series(8)[-1] == 398034000
    # a scaled copy shifts the norms
    assert lattices.get("bw16").scaled(np.sqrt(2.0)).theta_series(8) == [1] + [0] * 7 + [4320]


def test_theta_series_against_enumeration():
    """Direct Fincke-Pohst enumeration on the Gram matrix (first shells)."""
    bw, le = lattices.get("bw16"), lattices.get("leech")
    G2 = np.rint(2 * bw.gram).astype(np.int64)
    assert _block_theta(G2, 8) == bw16_theta(8)
    G2 = np.rint(2 * le.gram).astype(np.int64)
    assert _block_theta(G2, 4) == leech_theta(4)


@pytest.mark.slow
def test_leech_theta_norm6_by_enumeration():
    G2 = np.rint(2 * lattices.get("leech").gram).astype(np.int64)
    assert _block_theta(G2, 6) == leech_theta(6)


def _qfrep(gram, half_max):
    mat = "[" + ";".join(",".join(str(int(v)) for v in row) for row in gram) + "]"
    out = subprocess.run(["gp", "-q", "-s", "200000000"], input=f"print(Vec(qfrep({mat},{half_max},1)))",
                         capture_output=True, text=True, timeout=600, check=True).stdout
    return [int(v) for v in out.strip().strip("[]").split(",")]


@pytest.mark.skipif(shutil.which("gp") is None, reason="PARI/GP not installed")
def test_theta_series_against_pari_qfrep():
    """PARI's qfrep(G, B, 1): counts of vectors of norm 2, 4, ..., 2B, one per pair +-x."""
    bw = lattices.get("bw16")
    reps = _qfrep(np.rint(bw.gram), 4)
    assert [2 * r for r in reps] == bw16_theta(8)[2::2]
    le = lattices.get("leech")
    reps = _qfrep(np.rint(le.gram), 2)
    assert [2 * r for r in reps] == leech_theta(4)[2::2]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gp") is None, reason="PARI/GP not installed")
def test_leech_theta_norm6_against_pari_qfrep():
    reps = _qfrep(np.rint(lattices.get("leech").gram), 3)
    assert [2 * r for r in reps] == leech_theta(6)[2::2]


def test_dither_sample_cell_is_in_the_cell():
    for name in ("bw16", "leech"):
        lat = lattices.get(name)
        u = lat.sample_cell(3000, rng=11)
        assert (lat.nearest(u) == 0).all()
        # mean 0 (the cell is centrally symmetric): |mean| within 5 standard errors
        se = u.std(0) / np.sqrt(len(u))
        assert (np.abs(u.mean(0)) < 5 * se).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on the CI machine)")
def test_cuda_tensors_stay_on_device_and_agree():
    for name in ("bw16", "leech"):
        lat = lattices.get(name)
        x = torch.from_numpy(np.random.default_rng(5).normal(size=(2000, lat.dim)))
        c = lat.nearest(x.cuda())
        assert c.device.type == "cuda" and c.dtype == torch.float64
        ref = lat.nearest(x)
        d_gpu = ((x - c.cpu()) ** 2).sum(-1)
        d_cpu = ((x - ref) ** 2).sum(-1)
        torch.testing.assert_close(d_gpu, d_cpu, rtol=1e-9, atol=1e-12)


def test_coset_brute_force_baseline_agrees():
    """The benchmark's baseline (all 32 / 2 x 4096 cosets) is exact: same distances."""
    from benchmarks.coset_baseline import CosetBruteForce

    for name in ("bw16", "leech"):
        lat = lattices.get(name)
        x = np.random.default_rng(8).normal(size=(15, lat.dim))
        d_fast = _sqdist(x, lat.nearest(x))
        d_brute = _sqdist(x, CosetBruteForce(name).nearest(x))
        np.testing.assert_allclose(d_fast, d_brute, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="valid: 'bw16', 'leech'"):
        CosetBruteForce("e8")
