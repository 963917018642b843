"""Names, bases, exact facts, products, scalings and bad-input errors of the lattice core."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lattices


def test_readme_example():
    out = lattices.get("e8").nearest([[0.3] * 8])
    assert isinstance(out, np.ndarray) and out.tolist() == [[0.5] * 8]


def test_paper_bases():
    # paper, Sec. 2: A2 = [[0, 1], [sqrt(3/4), 1/2]]; E8 = 2e1, e2-e1, ..., (1/2)^8
    np.testing.assert_array_equal(lattices.get("a2").basis, [[0, 1], [np.sqrt(3 / 4), 0.5]])
    e8 = lattices.get("e8").basis
    assert e8[0].tolist() == [2, 0, 0, 0, 0, 0, 0, 0]
    assert e8[1].tolist() == [-1, 1, 0, 0, 0, 0, 0, 0]
    assert e8[7].tolist() == [0.5] * 8
    assert abs(np.linalg.det(e8) - 1.0) < 1e-12


def test_names_case_insensitive_and_cached():
    assert lattices.get("E8") is lattices.get("e8")
    assert lattices.get(" D4* ").name == "d4*"
    assert lattices.get("Z").dim == 1 and lattices.get("z7").dim == 7


@pytest.mark.parametrize("name, dim, volume, min_norm, kissing, n_relevant", [
    # volumes: SPLAG ch. 4 (det A_n = n+1, det D_n = 4, det E_n = 9 - n; duals invert)
    ("z", 1, 1.0, 1.0, 2, 2),
    ("z5", 5, 1.0, 1.0, 10, 10),               # Z^n: 2n relevant vectors
    ("a2", 2, np.sqrt(3) / 2, 1.0, 6, 6),      # the paper's hexagonal lattice
    ("a3", 3, 2.0, 2.0, 12, 12),               # fcc
    ("a3*", 3, 0.5, 0.75, 8, 14),              # bcc: truncated octahedron, 14 faces
    ("a4", 4, np.sqrt(5), 2.0, 20, 20),
    ("d4", 4, 2.0, 2.0, 24, 24),               # the 24-cell
    ("d4*", 4, 0.5, 1.0, 24, 24),
    ("d5", 5, 2.0, 2.0, 40, 40),
    ("d5*", 5, 0.5, 1.0, 10, 42),
    ("e6", 6, np.sqrt(3), 2.0, 72, 72),
    ("e6*", 6, 1 / np.sqrt(3), 4 / 3, 54, 126),
    ("e7", 7, np.sqrt(2), 2.0, 126, 126),
    ("e7*", 7, 1 / np.sqrt(2), 1.5, 56, 182),
    ("e8", 8, 1.0, 2.0, 240, 240),
])
def test_exact_facts(name, dim, volume, min_norm, kissing, n_relevant):
    """Kissing numbers: SPLAG Table 1.2; relevant-vector counts: SPLAG ch. 21 / Table 21.1
    (A_n*: 2^{n+1} - 2; D_n*, n >= 5: 2^n + 2n; root lattices: their roots)."""
    lat = lattices.get(name)
    assert lat.dim == dim
    assert abs(lat.volume - volume) < 1e-12 * max(1.0, volume)
    np.testing.assert_allclose(lat.gram, lat.basis @ lat.basis.T)
    R = lat.relevant_vectors()
    assert R.shape == (n_relevant, dim)
    norms = (R ** 2).sum(-1)
    assert abs(norms.min() - min_norm) < 1e-12
    assert np.isclose(norms, norms.min(), rtol=1e-9).sum() == kissing
    # closed under negation, and every relevant vector is a lattice point
    np.testing.assert_allclose(np.sort(np.round(-R, 9), axis=0), np.sort(np.round(R, 9), axis=0))
    c = lat.to_coordinates(R)
    np.testing.assert_allclose(c, np.rint(c), atol=1e-9)


def test_coordinates_round_trip():
    lat = lattices.get("e7*")
    rng = np.random.default_rng(0)
    i = rng.integers(-9, 10, size=(50, 7))
    p = lat.from_coordinates(i)
    np.testing.assert_allclose(lat.to_coordinates(p), i, atol=1e-10)
    x = rng.normal(size=(50, 7))
    np.testing.assert_array_equal(lat.nearest_coordinates(x),
                                  np.rint(lat.to_coordinates(lat.nearest(x))).astype(np.int64))
    t = lat.from_coordinates(torch.from_numpy(i.astype(float)))
    np.testing.assert_allclose(t.numpy(), p, atol=1e-12)
    np.testing.assert_allclose(lat.to_coordinates(t).numpy(), i, atol=1e-10)


def test_scaled():
    e8 = lattices.get("e8")
    half = e8.scaled(0.5)
    np.testing.assert_array_equal(half.basis, 0.5 * e8.basis)
    assert abs(half.volume - 0.5 ** 8) < 1e-15
    assert lattices.get("e8", scale=0.5).name == half.name == "0.5*e8"
    x = np.random.default_rng(0).normal(size=(100, 8))
    np.testing.assert_allclose(half.nearest(x), 0.5 * e8.nearest(2 * x))


def test_product_structure():
    a2 = lattices.get("a2")
    p = lattices.product([a2, a2, lattices.get("e8")], scales=[0.5, 2.0, 1.5])
    assert p.dim == 12 and p.name == "0.5*a2 x 2*a2 x 1.5*e8"
    B = p.basis
    np.testing.assert_array_equal(B[:2, :2], 0.5 * a2.basis)
    np.testing.assert_array_equal(B[2:4, 2:4], 2.0 * a2.basis)
    np.testing.assert_array_equal(B[4:, 4:], 1.5 * lattices.get("e8").basis)
    assert np.count_nonzero(B[:2, 2:]) == 0 and np.count_nonzero(B[4:, :4]) == 0
    assert len(p._segments) == 2  # the two a2 factors share one fused kernel call
    x = np.random.default_rng(1).normal(size=(300, 12))
    c = p.nearest(x)
    np.testing.assert_array_equal(c[:, :2], a2.scaled(0.5).nearest(x[:, :2]))
    np.testing.assert_array_equal(c[:, 2:4], a2.scaled(2.0).nearest(x[:, 2:4]))
    np.testing.assert_array_equal(c[:, 4:], lattices.get("e8").scaled(1.5).nearest(x[:, 4:]))
    assert p.relevant_vectors().shape == (6 + 6 + 240, 12)
    assert abs(p.volume - (0.25 * 4.0 * 1.5 ** 8) * a2.volume ** 2) < 1e-9
    # names are accepted, products of products flatten
    q = lattices.product(["z", p])
    assert q.dim == 13
    np.testing.assert_array_equal(q.nearest(np.c_[x[:, :1], x])[:, 1:], c)


def test_product_with_generic_factor():
    g = lattices.from_basis([[1.0, 0.3], [0.0, 1.1]])
    p = lattices.product([g, "d4"], scales=[2.0, 1.0])
    x = np.random.default_rng(2).normal(size=(200, 6)) * 3
    c = p.nearest(x)
    np.testing.assert_array_equal(c[:, :2], g.scaled(2.0).nearest(x[:, :2]))
    np.testing.assert_array_equal(c[:, 2:], lattices.get("d4").nearest(x[:, 2:]))


def test_int_and_list_input():
    lat = lattices.get("d4")
    assert lat.nearest([1, 2, 3, 4]).dtype == np.float64
    np.testing.assert_array_equal(lat.nearest(np.array([[1, 2, 3, 4]])), [[1, 2, 3, 4]])


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", ["q5", "e9", "e5", "", "a-1", "leech2"])
def test_unknown_name(name):
    with pytest.raises(ValueError, match="valid names"):
        lattices.get(name)


def test_name_out_of_range():
    with pytest.raises(ValueError, match="n >= 2"):
        lattices.get("d1")
    with pytest.raises(ValueError, match="n >= 1"):
        lattices.get("a0")
    with pytest.raises(TypeError, match="string"):
        lattices.get(8)


@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), float("inf")])
def test_bad_scale(scale):
    with pytest.raises(ValueError, match="positive"):
        lattices.get("e8", scale=scale)
    with pytest.raises(ValueError, match="positive"):
        lattices.get("e8").scaled(scale)
    with pytest.raises(ValueError, match="positive"):
        lattices.product(["e8"], scales=[scale])


def test_bad_scale_type():
    with pytest.raises(TypeError, match="real number"):
        lattices.get("e8", scale="big")
    with pytest.raises(TypeError, match="real number"):
        lattices.get("e8").scaled(True)


@pytest.mark.parametrize("B, match", [
    ([[1.0, 2.0], [2.0, 4.0]], "singular"),
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "square"),
    ([[1.0, np.nan], [0.0, 1.0]], "non-finite"),
    ([[1.0, np.inf], [0.0, 1.0]], "non-finite"),
    ([1.0, 2.0], "square"),
    ([[0.0]], "singular"),
])
def test_bad_basis(B, match):
    with pytest.raises(ValueError, match=match):
        lattices.from_basis(B)


def test_bad_basis_dtype():
    with pytest.raises(TypeError, match="real numbers"):
        lattices.from_basis([["a", "b"], ["c", "d"]])
    with pytest.raises(TypeError, match="real numbers"):
        lattices.from_basis(np.eye(2, dtype=complex))


def test_bad_points():
    e8 = lattices.get("e8")
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 8\)"):
        e8.nearest(np.zeros((3, 7)))
    with pytest.raises(ValueError, match="non-finite"):
        e8.nearest(np.array([[0.0] * 7 + [np.nan]]))
    with pytest.raises(ValueError, match="non-finite"):
        e8.nearest(np.array([[np.inf] * 8]))
    with pytest.raises(ValueError, match="non-finite"):
        lattices.from_basis(np.eye(3)).nearest([[0.0, np.nan, 1.0]])
    with pytest.raises(TypeError, match="dtype"):
        e8.nearest(np.array([["a"] * 8]))
    with pytest.raises(TypeError, match="dtype"):
        e8.nearest(np.zeros((2, 8), dtype=complex))
    with pytest.raises(TypeError, match="dtype"):
        e8.nearest(np.zeros((2, 8), dtype=bool))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 8\)"):
        e8.nearest(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="non-finite"):
        e8.nearest(torch.full((2, 8), float("nan")))
    with pytest.raises(TypeError, match="dtype"):
        e8.nearest(torch.zeros(2, 8, dtype=torch.bool))


def test_bad_product_and_sampling():
    with pytest.raises(ValueError, match="one entry per factor"):
        lattices.product(["e8", "a2"], scales=[1.0])
    with pytest.raises(ValueError, match="empty"):
        lattices.product([])
    with pytest.raises(TypeError, match="sequence"):
        lattices.product("e8")
    with pytest.raises(TypeError, match="Lattice or a lattice name"):
        lattices.product([np.eye(2)])
    with pytest.raises(ValueError, match="non-negative"):
        lattices.get("e8").sample_cell(-1)
    with pytest.raises(TypeError, match="integer"):
        lattices.get("e8").sample_cell(2.5)
    with pytest.raises(TypeError, match="rng"):
        lattices.get("e8").sample_cell(3, rng="seed")


def test_sample_cell_seeded():
    lat = lattices.get("a2")
    np.testing.assert_array_equal(lat.sample_cell(10, rng=3), lat.sample_cell(10, rng=3))
    assert not np.array_equal(lat.sample_cell(10, rng=3), lat.sample_cell(10, rng=4))
    a = lat.sample_cell_torch(10, generator=7)
    b = lat.sample_cell_torch(10, generator=7)
    assert torch.equal(a, b)
    g = torch.Generator().manual_seed(7)
    assert torch.equal(lat.sample_cell_torch(10, generator=g), a)
    assert lat.sample_cell_torch(5, generator=1, dtype=torch.float32).dtype == torch.float32


def test_from_basis_like_mismatch():
    with pytest.raises(ValueError, match="not a rotated/scaled copy of the e8 basis"):
        lattices.from_basis(np.eye(8), like="e8")
    with pytest.raises(ValueError, match="not a rotated/scaled copy"):
        lattices.from_basis(np.eye(2), like="e8")
    with pytest.raises(ValueError, match="valid names"):
        lattices.from_basis(np.eye(2), like="nope")
    # rows must correspond: a reordered basis has a permuted Gram matrix and is refused
    with pytest.raises(ValueError, match="not a rotated/scaled copy"):
        lattices.from_basis(lattices.get("d4").basis[::-1], like="d4")


def test_parse_specs():
    assert lattices.parse("e8") is lattices.get("e8")
    p = lattices.parse("A2^3 x z", scale=0.5)
    assert p.dim == 7 and np.allclose(p.basis[:2, :2], 0.5 * lattices.get("a2").basis)
    with pytest.raises(ValueError, match="positive integer"):
        lattices.parse("a2^0")
    with pytest.raises(ValueError, match="valid names"):
        lattices.parse("a2xq9")
    with pytest.raises(TypeError, match="string"):
        lattices.parse(8)
