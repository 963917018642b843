"""Exact geometry: two independent exact methods, published values, cells, radii."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import lattices
from lattices import geometry

pytestmark = pytest.mark.theorem

SMALL = ["z", "z2", "z3", "z4", "a1", "a2", "a3", "a4", "a1*", "a3*", "a4*",
         "d2", "d3", "d4", "d2*", "d3*", "d4*"]


@pytest.mark.parametrize("name", SMALL)
def test_generic_and_structured_agree_exactly(name):
    """Method 1 (whole cell, simplex decomposition) == method 2 (Weyl-chamber piece)."""
    lat = lattices.get(name)
    s1 = lat.second_moment_exact(method="generic")
    s2 = lat.second_moment_exact(method="structured")
    assert isinstance(s1, sympy.Rational) and s1 == s2


# Published normalized second moments: SPLAG (Conway & Sloane, 3rd ed.) Table 2.3 and
# Agrell & Allen, "On the best lattice quantizers", IEEE Trans. IT 69 (2023), Table I,
# both to 7 significant digits (so the tolerance is half a unit in the 7th digit).
PUBLISHED = {
    "z": 0.0833333,    # Z^1
    "a2": 0.0801875,   # hexagonal
    "a3*": 0.0785433,  # bcc (best in dimension 3)
    "d4": 0.0766032,   # best in dimension 4
    "d5*": 0.0756254,  # best in dimension 5
    "e6*": 0.0742437,  # best in dimension 6
    "e7*": 0.0731165,  # best in dimension 7
    "e8": 0.0716821,   # best in dimension 8
}


@pytest.mark.parametrize("name, value", sorted(PUBLISHED.items()))
def test_published_nsm(name, value):
    G = float(lattices.get(name).nsm_exact())
    assert abs(G - value) <= 0.5e-7, (name, G, value)


# Closed forms (Conway & Sloane 1982, "Voronoi regions of lattices, second moments of
# polytopes, and quantization", IEEE Trans. IT-28, Sec. III-IV; SPLAG ch. 21):
#   G(Z^n) = 1/12;  G(A_n) = (n+1)^{-1/n} (1/12 + 1/(6(n+1)));
#   G(D_n) = 2^{-2/n} (1/12 + 1/(2n(n+1)));  G(E8) = 929/12960.
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8])
def test_closed_forms_root_lattices(n):
    N = sympy.Integer(n)
    assert lattices.get(f"z{n}").nsm_exact() == sympy.Rational(1, 12)
    GA = (N + 1) ** (-1 / N) * (sympy.Rational(1, 12) + 1 / (6 * (N + 1)))
    assert sympy.simplify(lattices.get(f"a{n}").nsm_exact() - GA) == 0
    if n >= 2:
        GD = 2 ** (-2 / N) * (sympy.Rational(1, 12) + 1 / (2 * N * (N + 1)))
        assert sympy.simplify(lattices.get(f"d{n}").nsm_exact() - GD) == 0


def test_e8_exact_and_paper_values():
    assert lattices.get("e8").nsm_exact() == sympy.Rational(929, 12960)
    # paper, Sec. 3.5 / 4.1: "0.0833, 0.0802 and 0.0717" for Z, A2 and E8
    for name, printed in (("z", 0.0833), ("a2", 0.0802), ("e8", 0.0717)):
        assert round(float(lattices.get(name).nsm_exact()), 4) == printed


def test_exceptional_exact_values():
    """Exact rational forms, cross-checked against the decimals of SPLAG Table 2.3."""
    assert lattices.get("e7*").second_moment_exact() == sympy.Rational(21361, 322560)
    assert lattices.get("e6*").second_moment_exact() == sympy.Rational(12619, 204120)
    assert lattices.get("e6").second_moment_exact() == sympy.Rational(5, 56)
    assert lattices.get("e7").second_moment_exact() == sympy.Rational(163, 2016)


@pytest.mark.parametrize("name", ["a2", "d4", "e8"])
def test_scaling_and_products(name):
    lat = lattices.get(name)
    G = lat.nsm_exact()
    assert lat.scaled(0.25).nsm_exact() == G
    assert lat.scaled(3.0).second_moment_exact() == 9 * lat.second_moment_exact()
    assert sympy.simplify(lattices.product([lat] * 3).nsm_exact() - G) == 0
    scales = [0.5, 1.0, 2.0]
    p = lattices.product([lat] * 3, scales=scales)
    closed = geometry.product_nsm(G, scales)
    assert sympy.simplify(p.nsm_exact() - closed) == 0
    assert float(closed) > float(G)  # AM-GM: unequal scales cost NSM
    assert abs(float(p.volume_exact()) - p.volume) < 1e-9 * p.volume


def test_mixed_product_second_moment():
    p = lattices.product(["z", "a2"], scales=[2.0, 1.0])
    # sigma^2 is the dimension-weighted mean of the blocks' Delta^2 sigma^2
    expected = sympy.Rational(1, 3) * 4 * sympy.Rational(1, 12) + sympy.Rational(2, 3) * sympy.Rational(5, 72)
    assert p.second_moment_exact() == expected
    assert abs(p.second_moment() - float(expected)) < 1e-15


@pytest.mark.parametrize("name, volume", [
    ("a2", sympy.sqrt(3) / 2), ("a3*", sympy.Rational(1, 2)), ("e6", sympy.sqrt(3)),
    ("e7*", 1 / sympy.sqrt(2)), ("e8", sympy.Integer(1)), ("d5", sympy.Integer(2)),
])
def test_volume_exact(name, volume):
    assert sympy.simplify(lattices.get(name).volume_exact() - volume) == 0


def test_from_basis_generic_only():
    """A from_basis lattice gets method 1; the paper's A2 typed in by hand gives 5/72."""
    B = [[0.0, 1.0], [np.sqrt(0.75), 0.5]]
    g = lattices.from_basis(B)
    assert g.second_moment_exact() == sympy.Rational(5, 72)
    with pytest.raises(ValueError, match="method='structured' needs a named lattice"):
        g.second_moment_exact(method="structured")
    skew = lattices.from_basis([[2, 1, 0], [1, 3, 1], [0, 1, 4]])
    assert skew.second_moment_exact("generic") == skew.second_moment_exact("auto")
    with pytest.raises(ValueError, match="not rational"):
        lattices.from_basis([[1.0, 0.0], [np.pi / 7, np.e / 3]]).second_moment_exact()
    with pytest.raises(ValueError, match="dimension <= 4"):
        lattices.from_basis(np.eye(5) + 0.5 * np.eye(5, k=1)).second_moment_exact()
    with pytest.raises(ValueError, match="method must be"):
        lattices.get("e8").nsm_exact(method="fast")


def test_generic_random_lattice_vs_monte_carlo():
    """An arbitrary rational 3-d lattice: exact sigma^2 against a seeded Monte Carlo
    estimate of the same cell (within 5 standard errors)."""
    lat = lattices.from_basis([[1.0, 0.0, 0.0], [0.5, 1.5, 0.0], [0.25, -0.5, 1.25]])
    exact = float(lat.second_moment_exact())
    u = lat.sample_cell(200_000, rng=3)
    s = (u ** 2).sum(-1) / 3
    assert abs(s.mean() - exact) < 5 * s.std(ddof=1) / np.sqrt(len(s))
    # negative control: the centred fundamental parallelepiped (same volume) is refuted
    w = (np.random.default_rng(4).random((200_000, 3)) - 0.5) @ lat.basis
    sw = (w ** 2).sum(-1) / 3
    assert abs(sw.mean() - exact) > 5 * sw.std(ddof=1) / np.sqrt(len(sw))


# ----------------------------------------------------------------------- cells
@pytest.mark.parametrize("name, f_vector", [
    ("z2", [4, 4, 1]),                # square
    ("a2", [6, 6, 1]),                # hexagon
    ("z3", [8, 12, 6, 1]),            # cube
    ("a3", [14, 24, 12, 1]),          # rhombic dodecahedron (fcc)
    ("a3*", [24, 36, 14, 1]),         # truncated octahedron (bcc)
    ("d4", [24, 96, 96, 24, 1]),      # 24-cell
    ("z4", [16, 32, 24, 8, 1]),       # tesseract
    ("a4*", [120, 240, 150, 30, 1]),  # permutohedron of order 5
])
def test_voronoi_cell_face_lattice(name, f_vector):
    lat = lattices.get(name)
    cell = geometry.voronoi_cell(lat)
    assert cell.f_vector == f_vector
    n = lat.dim
    # Euler-Poincare for the boundary of a convex n-polytope
    assert sum((-1) ** d * f_vector[d] for d in range(n)) == 1 - (-1) ** n
    # face lattice: every d-face is the intersection of the (d+1)-faces containing it
    for d in range(n - 1):
        for F in cell.faces[d]:
            ups = [H for H in cell.faces[d + 1] if F <= H]
            assert len(ups) >= 2 and frozenset.intersection(*ups) == F
    # every vertex is a Voronoi vertex: the decoder finds a lattice point exactly as far
    V = cell.vertices_float
    d2 = ((V - lat.nearest(V)) ** 2).sum(-1)
    np.testing.assert_allclose(d2, (V ** 2).sum(-1), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------- radii
@pytest.mark.parametrize("name, packing2, covering2, kissing", [
    # SPLAG ch. 4: Z^n R^2 = n/4; A_n R^2 = a(n+1-a)/(n+1), a = floor((n+1)/2);
    # A_n* R^2 = n(n+2)/(12(n+1)); D_n (n >= 4) R^2 = n/4; E6 4/3, E7 3/2, E8 1;
    # kissing numbers: SPLAG Table 1.2.
    ("z3", "1/4", "3/4", 6),
    ("a2", "1/4", "1/3", 6),
    ("a4", "1/2", "6/5", 20),
    ("a3*", "3/16", "5/16", 8),
    ("a5*", "5/24", "35/72", 12),
    ("d4", "1/2", "1", 24),
    ("d5", "1/2", "5/4", 40),
    ("d5*", "1/4", "9/16", 10),
    ("e6", "1/2", "4/3", 72),
    ("e6*", "1/3", "2/3", 54),
    ("e7", "1/2", "3/2", 126),
    ("e7*", "3/8", "7/8", 56),
    ("e8", "1/2", "1", 240),
])
def test_radii_and_kissing(name, packing2, covering2, kissing):
    lat = lattices.get(name)
    assert geometry.packing_radius(lat) ** 2 == sympy.Rational(packing2)
    assert sympy.simplify(geometry.covering_radius(lat) ** 2 - sympy.Rational(covering2)) == 0
    assert geometry.kissing_number(lat) == kissing


def test_radii_of_products_and_scalings():
    p = lattices.product(["e8", "z"], scales=[1.0, 0.5])
    assert geometry.packing_radius(p) == sympy.Rational(1, 4)  # from the scaled Z block
    assert sympy.simplify(geometry.covering_radius(p) ** 2 - (1 + sympy.Rational(1, 16))) == 0
    assert geometry.kissing_number(p) == 2
    assert geometry.kissing_number(lattices.product(["z", "z"])) == 4


def test_deep_hole_decodes_at_covering_radius():
    """The cell vertex farthest from 0 (found by the exact geometry) is a deep hole for
    the fast decoder too, and no point of a random sample is farther from the lattice."""
    rng = np.random.default_rng(0)
    for name in ["e8", "e7*", "d5*", "a3*"]:
        lat = lattices.get(name)
        x, R2 = geometry.deep_hole(lat)
        assert R2 == geometry.covering_radius(lat) ** 2
        c = lat.nearest(x[None])
        assert abs(((x - c) ** 2).sum() - float(R2)) < 1e-12
        y = rng.normal(size=(20000, lat.dim)) * 3
        assert (((y - lat.nearest(y)) ** 2).sum(-1) <= float(R2) + 1e-12).all()
