"""Exact lattice geometry: Voronoi cells, volume, second moment, NSM, radii.

Everything is computed, in exact rational arithmetic, in the lattice's
coefficient coordinates ``c`` (a point is ``c B``) with the rational Gram
matrix ``G = B B^T``, so the paper's A2 with its sqrt(3) stays exact (its Gram
matrix is [[1, 1/2], [1/2, 1]]).  The Voronoi cell is
``P_0 = {x : x.v <= |v|^2 / 2 for every Voronoi-relevant v}``.

Two independent exact methods give the second moment (paper Sec. 3.5):

``method="generic"``
    The whole Voronoi cell: exact vertex enumeration, face lattice, and a
    decomposition into simplices (cone over faces, recursively) with the
    closed-form second moment of a simplex (Conway & Sloane, "Voronoi regions
    of lattices, second moments of polytopes, and quantization", IEEE Trans.
    IT-28, 1982).  Any lattice of dimension <= 4 (``from_basis`` too).
``method="structured"``
    Symmetry reduction: the cell is invariant under the Weyl group W of the
    lattice's root system, and ``W`` permutes the cells' pieces in the
    fundamental chamber ``C = {x : x.r_i >= 0}`` (r_i the simple roots).  So
    sigma^2 of the cell equals sigma^2 of ``P_0 n C``, a small polytope bounded
    by the n chamber walls and the *dominant* relevant vectors only (for x in
    C, max_w x.(w v) is attained at the dominant representative of v's orbit).
    For a root lattice ``P_0 n C`` is the simplex conv(0, w_i / m_i) (w_i the
    fundamental weights, m_i the marks of the highest root), the reduction
    behind the closed forms of Conway & Sloane (1982) and SPLAG ch. 21.  The
    exact identity |W| vol(P_0 n C) = vol(P_0) is checked on every call.
    Named lattices of any dimension.

Both results are exact sympy numbers; where both apply they must agree exactly
(tests).  Scalings and products follow exactly: volumes multiply, the
per-dimension second moment is the dimension-weighted mean of the blocks'
``Delta^2 sigma^2`` (see :func:`product_nsm` for the closed form).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from math import factorial

import numpy as np

from ._polytope import ExactPolytope, det_exact
from ._registry import get
from ._spec import FastSpec, relevant_coefficients

__all__ = [
    "exact_gram", "volume_exact", "second_moment_exact", "nsm_exact", "product_nsm",
    "VoronoiCell", "voronoi_cell", "cell_simplices", "packing_radius", "covering_radius",
    "deep_hole", "kissing_number", "GENERIC_MAX_DIM",
]

#: Largest dimension for which the generic method enumerates the whole cell.
GENERIC_MAX_DIM = 4

#: Weyl group orders by (rank, number of roots): A_n, B_n, D_n, E6, E7, E8 (Humphreys,
#: "Reflection groups and Coxeter groups", Table 2.4).
def _weyl_order(rank: int, n_roots: int, two_lengths: bool) -> int:
    n = rank
    if two_lengths:  # B_n (the only non-simply-laced system used here): 2n^2 roots
        if n_roots != 2 * n * n:
            raise ValueError(f"unknown root system of rank {rank} with {n_roots} roots")
        return 2 ** n * factorial(n)
    table = {(6, 72): 51840, (7, 126): 2903040, (8, 240): 696729600}
    if (n, n_roots) in table:
        return table[(n, n_roots)]
    if n_roots == n * (n + 1):
        return factorial(n + 1)
    if n_roots == 2 * n * n:
        return 2 ** n * factorial(n)
    if n_roots == 2 * n * (n - 1):
        return 2 ** (n - 1) * factorial(n)
    raise ValueError(f"unknown root system of rank {rank} with {n_roots} roots")


# --------------------------------------------------------------------------- Gram
def exact_gram(basis, max_denominator: int = 10**6):
    """The Gram matrix ``B B^T`` as Fractions, rationalized and checked.

    Raises ``ValueError`` when the Gram matrix is not rational to within float64
    round-off (exact geometry needs a rational Gram matrix).
    """
    B = np.asarray(basis, dtype=float)
    Gf = B @ B.T
    G = [[Fraction(v).limit_denominator(max_denominator) for v in row] for row in Gf]
    err = max(abs(float(G[i][j]) - Gf[i, j]) for i in range(len(G)) for j in range(len(G)))
    if err > 1e-13 * (1.0 + np.abs(Gf).max()):  # float round-off of a rational Gram: ~1e-16
        raise ValueError(
            f"the Gram matrix {np.round(Gf, 12).tolist()} is not rational (denominators <= "
            f"{max_denominator}); exact geometry needs a rational Gram matrix")
    return G


def _to_sympy(q: Fraction):
    import sympy
    return sympy.Rational(q.numerator, q.denominator)


def _exact_scale(delta: float):
    import sympy
    return sympy.nsimplify(float(delta), rational=True)


# --------------------------------------------------------------------------- per block
@dataclass
class _BlockGeometry:
    """Exact facts of one block lattice at unit scale (cached on its spec)."""

    dim: int
    G: list  # Fractions
    relevant: np.ndarray  # int64 coefficient vectors

    @property
    def det(self) -> Fraction:

        return det_exact(self.G)

    def norm2(self, a) -> Fraction:
        n = self.dim
        return sum(Fraction(int(a[i])) * self.G[i][j] * int(a[j]) for i in range(n) for j in range(n))

    def cell_constraints(self, vectors):
        """Rows a G and bounds |a|^2 / 2 for the half-spaces x.v <= |v|^2 / 2."""
        A, b = [], []
        for a in vectors:
            a = [Fraction(int(x)) for x in a]
            row = [sum(a[i] * self.G[i][j] for i in range(self.dim)) for j in range(self.dim)]
            A.append(row)
            b.append(sum(r * a[j] for j, r in enumerate(row)) / 2)
        return A, b


def _block(spec) -> _BlockGeometry:
    cache = spec.cache
    if "geometry" not in cache:

        cache["geometry"] = _BlockGeometry(spec.dim, exact_gram(spec.basis),
                                           relevant_coefficients(spec))
    return cache["geometry"]


def _generic_polytope(spec) -> ExactPolytope:
    cache = spec.cache
    if "cell" not in cache:
        g = _block(spec)
        if g.dim > GENERIC_MAX_DIM:
            raise ValueError(
                f"the generic exact method enumerates the whole Voronoi cell and supports "
                f"dimension <= {GENERIC_MAX_DIM}; this block has dimension {g.dim} (named "
                f"lattices use method='structured')")
        A, b = g.cell_constraints(g.relevant)
        cache["cell"] = ExactPolytope(g.G, A, b).build()
    return cache["cell"]


_NAME = re.compile(r"^([a-z]+?)(\d*)(\*?)$")


def _symmetry_roots(spec):
    """Roots (coefficient vectors, Fractions) whose reflections are symmetries of the block.

    Z^n: B_n (+-e_i, +-e_i +- e_j); A2, A_n, D_n, E6, E7, E8: their own roots
    (the minimal vectors); a dual lattice: the roots of its root lattice, mapped
    through the common canonical coordinates.  ``None`` for a generic lattice.
    """

    if not isinstance(spec, FastSpec) or not spec.name:
        return None
    m = _NAME.match(spec.name.split("(")[0])
    if not m:
        return None
    family, _, dual = m.groups()
    n = spec.dim
    if family == "z":
        roots = []
        for i in range(n):
            for s in (1, -1):
                v = [0] * n
                v[i] = s
                roots.append(tuple(Fraction(x) for x in v))
                for j in range(i + 1, n):
                    for t in (1, -1):
                        w = list(v)
                        w[j] = t
                        roots.append(tuple(Fraction(x) for x in w))
        return roots
    primal_name = spec.name[:-1] if dual else spec.name
    primal = get(primal_name).blocks()[0].spec
    g = _block(primal)
    norms = [g.norm2(a) for a in g.relevant]
    nmin = min(norms)
    roots_p = [a for a, q in zip(g.relevant, norms) if q == nmin]
    if not dual:
        return [tuple(Fraction(int(x)) for x in a) for a in roots_p]
    # primal coefficients -> canonical coordinates -> dual coefficients
    can = np.array(roots_p, dtype=float) @ primal.canonical
    coef = can @ spec.canonical_pinv
    ints = np.rint(coef)
    if np.abs(coef - ints).max() > 1e-9:  # internal invariant: A_n < A_n* etc.
        raise AssertionError("the primal roots are not vectors of the dual lattice")
    return [tuple(Fraction(int(x)) for x in a) for a in ints]


def _simple_roots(roots, G):
    """The simple roots of a root system: positive (w.r.t. a generic direction)
    roots that are not the sum of two positive roots."""
    Gf = np.array([[float(v) for v in r] for r in G])
    n = len(G)
    t = np.array([1.0 + 0.1 * np.sqrt(2.0 + j) * (j + 1) for j in range(n)])
    pos = [r for r in roots if float(np.array(r, float) @ Gf @ t) > 0]
    posset = set(pos)
    simple = []
    for r in pos:
        decomposable = any(tuple(a - b for a, b in zip(r, p)) in posset for p in pos if p != r)
        if not decomposable:
            simple.append(r)
    if len(simple) != n:  # internal invariant for a rank-n root system
        raise AssertionError(f"found {len(simple)} simple roots in rank {n}")
    lengths = {round(float(np.array(r, float) @ Gf @ np.array(r, float)), 9) for r in roots}
    return simple, _weyl_order(n, len(roots), len(lengths) > 1)


def _structured_piece(spec):
    """``P_0 n C`` as an exact polytope, plus |W|."""
    cache = spec.cache
    if "piece" not in cache:
        roots = _symmetry_roots(spec)
        if roots is None:
            raise ValueError(
                f"method='structured' needs a named lattice (its root system); "
                f"{spec.name or 'this lattice'} has none: use method='generic'")
        g = _block(spec)
        simple, order = _simple_roots(roots, g.G)
        n = g.dim

        def dot(a, r):
            return sum(Fraction(int(a[i])) * g.G[i][j] * r[j] for i in range(n) for j in range(n))

        dominant = [a for a in g.relevant if all(dot(a, r) >= 0 for r in simple)]
        A, b = g.cell_constraints(dominant)
        for r in simple:  # chamber walls: x.r >= 0
            A.append([-sum(r[i] * g.G[i][j] for i in range(n)) for j in range(n)])
            b.append(Fraction(0))
        cache["piece"] = (ExactPolytope(g.G, A, b).build(), order)
    return cache["piece"]


def _block_sigma2(spec, method: str) -> Fraction:
    """Exact per-dimension second moment of the block's cell at unit scale."""
    key = f"sigma2_{method}"
    cache = spec.cache
    if key not in cache:
        n = spec.dim
        if method == "generic":
            P = _generic_polytope(spec)
            vol, mom = P.moments()
            if vol != 1:  # the cell has covolume 1 in coefficient coordinates
                raise AssertionError(f"Voronoi cell volume {vol} != 1: decomposition failed")
        elif method == "structured":
            P, order = _structured_piece(spec)
            vol, mom = P.moments()
            if vol * order != 1:
                raise AssertionError(f"|W| vol(piece) = {vol * order} != 1: reduction failed")
        else:
            raise ValueError(f"method must be 'auto', 'generic' or 'structured', got {method!r}")
        cache[key] = mom / (n * vol)
    return cache[key]


def _resolve_method(spec, method):
    if method not in ("auto", "generic", "structured"):
        raise ValueError(f"method must be 'auto', 'generic' or 'structured', got {method!r}")
    if method != "auto":
        return method
    return "structured" if _symmetry_roots(spec) is not None else "generic"


# --------------------------------------------------------------------------- public
def _blocks(lattice):
    for block in lattice.blocks():
        yield block.spec, block.scale


def volume_exact(lattice):
    """V = |det B| exactly: prod over blocks of Delta^m sqrt(det G)."""
    import sympy
    V = sympy.Integer(1)
    for spec, s in _blocks(lattice):
        d = _block_det(spec)
        V *= _exact_scale(s) ** spec.dim * sympy.sqrt(_to_sympy(d))
    return sympy.nsimplify(sympy.simplify(V))


def second_moment_exact(lattice, method="auto"):
    """sigma^2 = (1/(m V)) int_{P_0} |u|^2 du (paper, Sec. 3.5), exactly.

    >>> import lattices
    >>> lattices.get("z").second_moment_exact()
    1/12
    >>> lattices.get("e8").nsm_exact()
    929/12960
    """
    import sympy
    total = sympy.Integer(0)
    n = lattice.dim
    for spec, s in _blocks(lattice):
        _no_closed_form(spec)
        sig = _block_sigma2(spec, _resolve_method(spec, method))
        total += sympy.Rational(spec.dim, n) * _exact_scale(s) ** 2 * _to_sympy(sig)
    return sympy.nsimplify(total)


def nsm_exact(lattice, method="auto"):
    """G(Lambda) = sigma^2 / V^{2/m} (paper, Sec. 3.5), exactly (sympy)."""
    import sympy
    G = second_moment_exact(lattice, method) / volume_exact(lattice) ** sympy.Rational(2, lattice.dim)
    return sympy.radsimp(sympy.simplify(G))


def product_nsm(nsm, scales):
    """NSM of ``diag(D_1 B, ..., D_k B)`` for a lattice of NSM ``nsm`` (closed form).

    .. math:: G = G(\\Lambda) \\frac{\\frac1k \\sum_i \\Delta_i^2}{(\\prod_i \\Delta_i)^{2/k}}

    (sigma^2 averages the blocks' Delta_i^2 sigma^2, the volume multiplies); by
    AM-GM, unequal scales never lower the NSM.
    """
    import sympy
    D = [sympy.nsimplify(d, rational=True) if isinstance(d, float) else sympy.sympify(d) for d in scales]
    k = len(D)
    return sympy.simplify(sympy.sympify(nsm) * (sum(d ** 2 for d in D) / k)
                          / sympy.prod(D) ** sympy.Rational(2, k))


# --------------------------------------------------------------------------- cells
@dataclass
class VoronoiCell:
    """The Voronoi cell of a lattice (dimension <= GENERIC_MAX_DIM), exactly.

    ``vertices``: exact coefficient vectors (tuples of Fractions) and
    ``vertices_float`` the ambient coordinates; ``facets``: one per relevant
    vector, ``(relevant coefficient vector, frozenset of vertex indices)``;
    ``faces[d]``: the d-dimensional faces as vertex-index sets (the face
    lattice, ordered by inclusion); ``f_vector``: the face counts by dimension.
    """

    lattice_name: str
    vertices: list
    vertices_float: np.ndarray
    facets: list
    faces: dict

    @property
    def f_vector(self):
        return [len(self.faces[d]) for d in range(len(self.faces))]


def voronoi_cell(lattice) -> VoronoiCell:
    """The exact Voronoi cell of a single-block lattice of dimension <= 4 (generic method)."""
    if len(lattice.blocks()) != 1:
        raise ValueError("voronoi_cell takes a single lattice, not a product (its cell is the "
                         "product of the factors' cells)")
    (block,) = lattice.blocks()
    spec, s = block.spec, block.scale
    P = _generic_polytope(spec)
    g = _block(spec)
    faces = P.face_lattice()
    verts = [tuple(v) for v in P.vertices]
    vf = np.array([[float(x) for x in v] for v in verts]) @ spec.basis * s
    facets = [(tuple(int(x) for x in g.relevant[j]), T) for j, T in enumerate(P.tight)]
    return VoronoiCell(lattice.name, verts, vf, facets, faces)


def cell_simplices(lattice) -> np.ndarray:
    """The Voronoi cell as a union of simplices, ambient float coordinates, (K, n+1, n).

    The exact decomposition used by the generic method (dimension <= 4, single
    lattice); the simplices have disjoint interiors and their volumes add up to
    ``lattice.volume``.  For quadrature over the cell (e.g. Theorem 1's
    p_{Z|U}(z|u) = P(S in z - u + P_0)).
    """
    if len(lattice.blocks()) != 1:
        raise ValueError("cell_simplices takes a single lattice, not a product")
    (block,) = lattice.blocks()
    spec, s = block.spec, block.scale
    P = _generic_polytope(spec)
    V = np.array([[float(x) for x in v] for v in P.vertices]) @ spec.basis * s
    return np.array([V[idx] for idx in P.simplices()])


def _known(spec):
    """Exact constants a block's spec carries at unit scale (BW16, Leech), or None
    (:meth:`lattices.spec.LatticeSpec.exact_constants`)."""
    return spec.exact_constants()


def _no_closed_form(spec):
    c = _known(spec)
    if c is not None:
        raise ValueError(
            f"no exact second moment / NSM is available for {spec.name}: its Voronoi cell (in "
            f"dimension {spec.dim}) is not decomposed here and no closed form is known; use "
            f"lattices.nsm_monte_carlo (published value G = {c.nsm_published}, SPLAG Table 2.3)")


def _block_det(spec) -> Fraction:
    c = _known(spec)
    if c is not None:
        return c.det
    return _block(spec).det


def _block_min_norm(spec) -> Fraction:
    c = _known(spec)
    if c is not None:
        return c.min_norm2
    g = _block(spec)
    return min(g.norm2(a) for a in g.relevant)


def packing_radius(lattice):
    """rho = (1/2) min |v| over nonzero lattice vectors, exactly."""
    import sympy
    return sympy.nsimplify(min(
        _exact_scale(s) * sympy.sqrt(_to_sympy(_block_min_norm(spec))) / 2
        for spec, s in _blocks(lattice)))


def _block_covering2(spec) -> Fraction:
    c = _known(spec)
    if c is not None:
        return c.covering_radius2
    return _block_piece(spec).max_vertex_norm2()


def _block_piece(spec):
    """The exact polytope whose vertices include the block's deepest holes."""
    if _resolve_method(spec, "auto") == "structured":
        return _structured_piece(spec)[0]
    return _generic_polytope(spec)


def deep_hole(lattice):
    """A deep hole: a point at the covering radius R from the lattice, and R^2 exactly.

    Returns ``(x, R2)`` with ``x`` a float64 point of shape (dim,) (the farthest vertex
    of each block's cell, scaled and concatenated: the deep holes of a product are the
    products of deep holes) and ``R2`` a sympy number.  Decoding ``x`` must give a
    lattice point at squared distance exactly ``R2``.
    """
    import sympy
    x = np.zeros(lattice.dim)
    R2 = sympy.Integer(0)
    holes = {}  # id(spec) -> (hole at unit scale, R^2 at unit scale): once per distinct block
    for block in lattice.blocks():
        spec = block.spec
        if id(spec) not in holes:
            holes[id(spec)] = _block_deep_hole(spec)
        hole, r2 = holes[id(spec)]
        x[block.coordinates] = block.scale * hole
        R2 += _exact_scale(block.scale) ** 2 * _to_sympy(r2)
    return x, sympy.nsimplify(R2)


def _block_deep_hole(spec):
    """A deep hole of a block at unit scale in its coordinates, and R^2: the listed one of a
    spec with exact constants, else the farthest vertex of its cell's piece."""
    c = _known(spec)
    if c is not None:
        return np.array(c.deep_hole), c.covering_radius2
    P = _block_piece(spec)
    m = spec.dim
    norms = [sum(v[i] * P.G[i][j] * v[j] for i in range(m) for j in range(m)) for v in P.vertices]
    far = max(range(len(norms)), key=lambda i: norms[i])
    return np.array([float(c) for c in P.vertices[far]]) @ spec.basis, norms[far]


def covering_radius(lattice):
    """R = max |x - K(x)| = the largest vertex norm of the Voronoi cell, exactly.

    For a product the deep holes multiply: R^2 is the sum of the blocks' R^2.
    """
    import sympy
    R2 = sum(_exact_scale(s) ** 2 * _to_sympy(_block_covering2(spec)) for spec, s in _blocks(lattice))
    return sympy.nsimplify(sympy.sqrt(R2))


def kissing_number(lattice) -> int:
    """The number of lattice vectors of minimal norm (all of them are relevant)."""
    import sympy
    mins = []
    for spec, s in _blocks(lattice):
        q = _block_min_norm(spec)
        if _known(spec) is not None:
            count = _known(spec).kissing_number
        else:
            g = _block(spec)
            count = sum(1 for a in g.relevant if g.norm2(a) == q)
        mins.append((_exact_scale(s) ** 2 * _to_sympy(q), count))
    m = min(q for q, _ in mins)
    return int(sum(c for q, c in mins if sympy.simplify(q - m) == 0))
