"""The float32 kernel of the D_n-based lattices (``lattices._kernels.decode_d_f32_span``).

It decides in float32 what the float64 kernels decide on the same float32
input, and falls back to them when a coordinate is outside its safe range or a
coset comparison is within its error bound.  These inputs aim at every edge of
that argument: coset distances equal, apart by about one float32 ulp (where a
float32 comparison alone goes wrong: the test fails with a zero margin), or by
2^-30 .. 2^-14 (both sides of the 2^-19 margin), D_n worst-coordinate ties, half-integers (the 1/2-coset tie
rule), coordinates around the safe limits 2^-20 and 2^20, signed zeros, and
products.  The reference is the per-point float64 kernel ``decode_blocks``,
compared bit for bit, and the exact generic decoder (LLL + Schnorr-Euchner),
compared by distance.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lattices
from lattices import _kernels
from test_decoder_kernels import reference_nearest

NAMES = ["e8", "d4", "d5", "d8", "d16", "e8^3", "d4^2"]


def _lat(name):
    return lattices.parse(name)


def _coset_ties(lat, rng, n):
    """Points near the midpoint of two lattice points of different cosets (or any two
    neighbours), moved along their difference by +-2^-k, k = 14 .. 30, or not at all."""
    R = lat.relevant_vectors()
    base = lat.from_coordinates(rng.integers(-40, 41, size=(n, lat.dim)))
    v = R[rng.integers(len(R), size=n)]
    k = rng.integers(14, 31, size=n).astype(float)
    t = rng.choice([-1.0, 0.0, 1.0], size=n) * 2.0 ** -k
    # noise orthogonal to v keeps the tie; rounded to float32 it leaves the two
    # distances apart by about one float32 ulp of their size, either way
    noise = rng.normal(scale=0.05, size=(n, lat.dim))
    noise -= ((noise * v).sum(axis=1) / (v * v).sum(axis=1))[:, None] * v
    return base + v / 2 + t[:, None] * v + noise


def _inputs(lat, rng, n=700):
    dim = lat.dim
    out = {
        "random": rng.normal(scale=4.0, size=(n, dim)),
        "coset ties": _coset_ties(lat, rng, n),
        "half integers": np.round(rng.normal(scale=4.0, size=(n, dim)) * 2) / 2,
        "quarter integers": np.round(rng.normal(scale=4.0, size=(n, dim)) * 4) / 4,
        "near half integers": (np.round(rng.normal(scale=4.0, size=(n, dim)) * 2) / 2
                               + rng.choice([-1, 0, 1], size=(n, dim)) * 2.0 ** -21),
    }
    edge = np.array([0.0, -0.0, 2.0 ** -20, -(2.0 ** -20), 2.0 ** -21, 2.0 ** -20 * 1.5,
                     2.0 ** 20, -(2.0 ** 20), 2.0 ** 20 + 1, 2.0 ** 20 - 0.5, 3e-45, 0.5, -0.5])
    out["safe-range edges"] = np.where(rng.random((n, dim)) < 0.3,
                                       edge[rng.integers(len(edge), size=(n, dim))],
                                       rng.normal(scale=4.0, size=(n, dim)))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_float32_bit_for_bit_with_float64_reference(name):
    lat = _lat(name)
    assert lat._segments[0].spec.float32_glue_halves() is not None  # the kernel applies
    rng = np.random.default_rng(11)
    for kind, x in _inputs(lat, rng).items():
        x32 = x.astype(np.float32)
        got = lat.nearest(x32)
        ref = reference_nearest(lat, x32)
        assert got.dtype == np.float32
        # compare the bits: -0.0 and 0.0 differ here
        assert np.array_equal(got.view(np.uint8), ref.view(np.uint8)), (name, kind)
        # the same through the parallel path (several chunks), in place, and a CPU tensor
        big = np.tile(x32, (-(-3 * _kernels.CHUNK // len(x32)), 1))
        ref_big = np.tile(ref, (-(-3 * _kernels.CHUNK // len(x32)), 1))
        assert np.array_equal(lat.nearest(big).view(np.uint8), ref_big.view(np.uint8))
        inplace = big.copy()
        lat.nearest(inplace, out=inplace)
        assert np.array_equal(inplace.view(np.uint8), ref_big.view(np.uint8))
        t = lat.nearest(torch.from_numpy(x32))
        assert np.array_equal(t.numpy().view(np.uint8), ref.view(np.uint8))


@pytest.mark.parametrize("name", ["e8", "d4", "e8^3"])
def test_float32_is_a_closest_point(name):
    """Against the exact generic decoder: the distances agree (ties may pick either point)."""
    lat = _lat(name)
    gen = lattices.from_basis(lat.basis)
    rng = np.random.default_rng(12)
    for kind, x in _inputs(lat, rng, n=300).items():
        if kind == "safe-range edges":
            x = np.clip(x, -1e3, 1e3)  # the generic decoder's own range
        x64 = x.astype(np.float32).astype(np.float64)
        a = lat.nearest(x64.astype(np.float32)).astype(np.float64)
        b = gen.nearest(x64)
        da = ((x64 - a) ** 2).sum(axis=1)
        db = ((x64 - b) ** 2).sum(axis=1)
        # both are exact distances up to float64 round-off of a sum of squares (< 1e-12 here)
        np.testing.assert_allclose(da, db, rtol=1e-12, atol=1e-12, err_msg=f"{name} {kind}")


def test_float32_strided_and_scaled_inputs_use_the_float64_kernel():
    """A strided input or a scaled lattice takes the float64 kernel: same answer as before."""
    e8 = lattices.get("e8")
    rng = np.random.default_rng(13)
    x = rng.normal(scale=4.0, size=(500, 16)).astype(np.float32)[:, ::2]
    assert np.array_equal(e8.nearest(x).view(np.uint8),
                          reference_nearest(e8, np.ascontiguousarray(x)).view(np.uint8))
    half = e8.scaled(0.5)
    y = rng.normal(size=(500, 8)).astype(np.float32)
    assert np.array_equal(half.nearest(y).view(np.uint8), reference_nearest(half, y).view(np.uint8))


def test_float32_bad_input_still_refused():
    e8 = lattices.get("e8")
    x = np.zeros((200, 8), np.float32)
    x[137, 3] = np.nan
    with pytest.raises(ValueError, match="137"):
        e8.nearest(x)
    x[137, 3] = 3e38
    with pytest.raises(ValueError):
        e8.nearest(x)
