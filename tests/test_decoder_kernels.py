"""The throughput kernels of lattices._kernels against the per-point reference, and ``out=``.

``decode_tiles`` (structure-of-arrays tiles) and the elementwise Z^n kernels
must give the output of the per-point reference ``decode_blocks`` bit for
bit, ties included: they perform the same floating-point operations in the
same order for every point.  The inputs include exact ties (midpoints between
neighbours, Voronoi-vertex-like points) where any change of the arithmetic
would show up as a different choice.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lattices
from benchmarks.decoders import reference_decoder
from test_decoder_contract import _rotation, points


def reference_nearest(lat, x):
    """``lat.nearest(x)`` through the per-point reference kernel ``decode_blocks`` (the
    benchmark's baseline: one definition for both)."""
    return reference_decoder(lat)(x)


def _lattices():
    out = {n: lattices.get(n) for n in ["z", "z8", "a2", "a3", "a4*", "d4", "d5*", "e6", "e6*",
                                        "e7", "e7*", "e8"]}
    out["a2^3 scaled"] = lattices.product([lattices.get("a2")] * 3, scales=[0.5, 1.0, 2.0])
    out["e8 x d4* x z"] = lattices.product(["e8", "d4*", "z"], scales=[0.7, 1.3, 0.2])
    out["z4^2 scaled"] = lattices.product(["z4", "z4"], scales=[0.5, 3.0])
    out["rotated e8"] = lattices.from_basis(1.7 * lattices.get("e8").basis @ _rotation(8, 0),
                                            like="e8")
    return out


LATTICES = _lattices()


@pytest.mark.parametrize("name", list(LATTICES))
def test_bit_for_bit_with_reference(name):
    lat = LATTICES[name]
    for scale in (1.0, 0.37):
        L = lat if scale == 1.0 else lat.scaled(scale)
        for seed, kind in enumerate(["random", "near_tie", "exact_tie", "vertex", "large"]):
            x = points(L, np.random.default_rng(seed), kind, n=150)  # > 2 tiles, a partial one
            for dtype in (np.float64, np.float32):
                xx = x.astype(dtype)
                got, ref = L.nearest(xx), reference_nearest(L, xx)
                # compare the bits: -0.0 and 0.0 differ here
                assert np.array_equal(got.view(np.uint8), ref.view(np.uint8)), (name, scale, kind)


@pytest.mark.parametrize("name", ["e8^4", "a2^16", "e6^2", "d4*^3", "e7^2", "d4^3"])
def test_products_at_one_scale_bit_for_bit(name):
    """Copies at one scale are decoded as consecutive points of one copy: same bytes."""
    lat = lattices.parse(name)
    rng = np.random.default_rng(5)
    for kind in ["random", "near_tie", "exact_tie"]:
        x = points(lat, rng, kind, n=3000)  # several parallel chunks of copies
        for L in (lat, lat.scaled(0.37)):
            for dtype in (np.float64, np.float32):
                xx = x.astype(dtype)
                got, ref = L.nearest(xx), reference_nearest(L, xx)
                assert np.array_equal(got.view(np.uint8), ref.view(np.uint8)), (name, kind, dtype)


def test_rounding_paths_agree():
    """Z^n: the contiguous unit-scale, contiguous scaled and strided kernels give one answer."""
    rng = np.random.default_rng(4)
    z8 = lattices.get("z8")
    x = rng.normal(scale=3, size=(5000, 8))
    x[:10] = np.array([0.5, -0.5, 1.5, -2.5, -0.2, 0.0, -0.0, 2.5])  # ties and signed zeros
    expect = np.rint(x) + 0.0  # round half to even, no -0.0
    got = z8.nearest(x)
    assert np.array_equal(got.view(np.uint8), expect.view(np.uint8))
    assert np.array_equal(z8.nearest(x.astype(np.float32)), expect.astype(np.float32))
    wide = np.repeat(x, 2, axis=1)[:, ::2]  # the same values, strided
    assert np.array_equal(z8.nearest(wide).view(np.uint8), expect.view(np.uint8))
    half = z8.scaled(0.5)
    assert np.array_equal(half.nearest(x), (np.rint(x * 2.0) + 0.0) * 0.5)


def test_out_in_place_and_errors():
    rng = np.random.default_rng(5)
    for name in ["e8", "a2", "z8", "e8 x d4* x z"]:
        lat = LATTICES[name] if name in LATTICES else lattices.get(name)
        x = rng.normal(size=(3, 70, lat.dim))
        expect = lat.nearest(x)
        y = x.copy()
        assert lat.nearest(y, out=y) is y  # in place
        np.testing.assert_array_equal(y, expect)
        o = np.empty_like(x)
        assert lat.nearest(x, out=o) is o
        np.testing.assert_array_equal(o, expect)
        t = torch.from_numpy(x.copy())
        assert lat.nearest(t, out=t) is t
        np.testing.assert_array_equal(t.numpy(), expect)
        te = torch.empty_like(t)
        assert lat._nearest_torch(torch.from_numpy(x), force_eager=True, out=te) is te
        np.testing.assert_allclose(te.numpy(), expect, rtol=0, atol=1e-12)
    e8 = lattices.get("e8")
    x = np.zeros((4, 8))
    with pytest.raises(ValueError, match="shape"):
        e8.nearest(x, out=np.empty((4, 7)))
    with pytest.raises(ValueError, match="dtype"):
        e8.nearest(x, out=np.empty((4, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        e8.nearest(x, out=np.empty((8, 8))[::2])
    with pytest.raises(TypeError, match="out must be"):
        e8.nearest(x, out=torch.empty(4, 8, dtype=torch.float64))
    with pytest.raises(TypeError, match="out must be"):
        e8.nearest(torch.zeros(4, 8), out=np.empty((4, 8), dtype=np.float32))
    ro = np.empty((4, 8))
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        e8.nearest(x, out=ro)


def test_coordinate_functions_range():
    """to_coordinates / from_coordinates refuse NaN, inf and integers float64 cannot hold."""
    e8 = lattices.get("e8")
    with pytest.raises(ValueError, match="non-finite"):
        e8.to_coordinates(np.array([[0.0] * 7 + [np.inf]]))
    with pytest.raises(ValueError, match="non-finite"):
        e8.from_coordinates(np.array([[np.nan] * 8]))
    with pytest.raises(ValueError, match="2\\^53"):
        e8.from_coordinates(np.array([[2**53 + 1] + [0] * 7]))
    with pytest.raises(ValueError, match="2\\^53"):
        e8.from_coordinates([[2**70] + [0] * 7])
    with pytest.raises(ValueError, match="2\\^53"):
        e8.from_coordinates(torch.tensor([[2**60] + [0] * 7]))
    # the largest exact integers pass, and round-trip through nearest_coordinates
    k = np.array([[2**40, -(2**40), 3, 0, 0, 0, 0, 2]])
    p = e8.from_coordinates(k)
    np.testing.assert_array_equal(e8.nearest_coordinates(p), k)


def test_benchmark_reports_ratios_and_targets(capsys):
    import json

    from benchmarks import decoders as bench

    assert bench.main(["--json", "--points", "3000", "--generic-points", "100",
                       "--eager-points", "100", "--repeats", "1", "--threads", "1",
                       "--lattices", "z8,e8"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["results"]
    assert {(r["lattice"], r["backend"], r["threads"]) for r in rows} >= {
        ("z8", "numpy", 1), ("e8", "torch", 1), ("e8", "torch-eager", 1)}
    for r in rows:
        assert r["ratio_to_copy"] > 0 and r["ratio_to_rint"] > 0 and r["speedup_vs_generic"] > 0
        assert (r["speedup_vs_per_point"] is not None) == (r["backend"] == "numpy")
    assert {(t["lattice"], t["anchor"]) for t in out["targets"]} == {("z8", "rint"), ("e8", "copy")}
    assert bench.main(["--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err
    assert bench.main(["--megabytes", "-1"]) == 2
