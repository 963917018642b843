"""Exact polytopes in lattice coefficient coordinates: vertices, faces, simplices, moments.

A polytope is ``{c in Q^n : A c <= b}`` with rational ``A`` (rows) and ``b``;
points are coefficient vectors ``c`` (the ambient point is ``c B``) and the
Euclidean structure is the rational Gram matrix ``G = B B^T``: ``|x|^2 = c G c^T``.
All arithmetic that decides anything (which constraints are tight, volumes,
moments) is exact (``fractions.Fraction``); floating point only proposes
candidate vertices, which are then re-derived and verified exactly.

Second moments by simplex decomposition (Conway & Sloane 1982, "Voronoi regions
of lattices, second moments of polytopes, and quantization", Sec. II; SPLAG
ch. 21): the polytope is split into cones from one vertex over the facets not
containing it, recursively, down to simplices.  For a simplex with vertices
p_0..p_n (n = dim)

.. math:: \\int_S |x|^2 dx = \\frac{vol(S)}{(n+1)(n+2)}
          \\Big(\\sum_i |p_i|^2 + \\big|\\sum_i p_i\\big|^2\\Big).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from itertools import combinations
from math import factorial, lcm

import numpy as np

__all__ = ["ExactPolytope", "frac_matrix", "solve_exact", "det_exact"]


def frac_matrix(M):
    return [[Fraction(v) for v in row] for row in M]


def det_exact(M) -> Fraction:
    """Determinant of a square matrix of Fractions (Gaussian elimination)."""
    A = [list(r) for r in M]
    n = len(A)
    det = Fraction(1)
    for col in range(n):
        piv = next((r for r in range(col, n) if A[r][col] != 0), None)
        if piv is None:
            return Fraction(0)
        if piv != col:
            A[col], A[piv] = A[piv], A[col]
            det = -det
        det *= A[col][col]
        inv = 1 / A[col][col]
        for r in range(col + 1, n):
            f = A[r][col] * inv
            if f:
                for k in range(col, n):
                    A[r][k] -= f * A[col][k]
    return det


def _det_int(M) -> int:
    """Determinant of an integer matrix (Bareiss fraction-free elimination)."""
    A = [list(r) for r in M]
    n = len(A)
    sign, prev = 1, 1
    for k in range(n - 1):
        if A[k][k] == 0:
            piv = next((r for r in range(k + 1, n) if A[r][k] != 0), None)
            if piv is None:
                return 0
            A[k], A[piv] = A[piv], A[k]
            sign = -sign
        for i in range(k + 1, n):
            for j in range(k + 1, n):
                A[i][j] = (A[i][j] * A[k][k] - A[i][k] * A[k][j]) // prev
        prev = A[k][k]
    return sign * A[n - 1][n - 1] if n else 1


def solve_exact(M, rhs):
    """Solve M x = rhs exactly (M square, nonsingular; Fractions)."""
    n = len(M)
    A = [list(M[i]) + [rhs[i]] for i in range(n)]
    for col in range(n):
        piv = next(r for r in range(col, n) if A[r][col] != 0)
        A[col], A[piv] = A[piv], A[col]
        inv = 1 / A[col][col]
        A[col] = [v * inv for v in A[col]]
        for r in range(n):
            if r != col and A[r][col] != 0:
                f = A[r][col]
                A[r] = [a - f * c for a, c in zip(A[r], A[col])]
    return [A[i][n] for i in range(n)]


def _quad(G, u, v):
    return sum(u[i] * G[i][j] * v[j] for i in range(len(u)) for j in range(len(v)) if u[i] and v[j])


@dataclass
class ExactPolytope:
    """A full-dimensional bounded polytope ``{c : A c <= b}`` with Gram matrix ``G``.

    Attributes filled by :meth:`build`: ``vertices`` (list of tuples of
    Fractions), ``tight`` (for each constraint the frozenset of vertex indices
    on it) and ``facets`` (constraint index -> vertex set, for the constraints
    that define facets).
    """

    G: list  # n x n Fractions
    A: list  # M x n Fractions
    b: list  # M Fractions
    vertices: list = field(default_factory=list)
    tight: list = field(default_factory=list)
    facets: dict = field(default_factory=dict)
    _facet_cache: dict = field(default_factory=dict, repr=False)

    @property
    def dim(self) -> int:
        return len(self.G)

    # ------------------------------------------------------------ vertices
    def build(self) -> "ExactPolytope":
        n = self.dim
        Af = np.array([[float(v) for v in r] for r in self.A])
        bf = np.array([float(v) for v in self.b])
        M = len(self.A)
        scale = 1.0 + np.abs(bf).max()
        cands = {}
        subsets = np.array(list(combinations(range(M), n)), dtype=np.int64)
        for start in range(0, len(subsets), 200_000):
            sub = subsets[start:start + 200_000]
            mats = Af[sub]  # (K, n, n)
            rhs = bf[sub]
            ok = np.abs(np.linalg.det(mats)) > 1e-9 * (1 + np.abs(mats).max()) ** n
            if not ok.any():
                continue
            x = np.linalg.solve(mats[ok], rhs[ok][..., None])[..., 0]
            feas = (x @ Af.T <= bf + 1e-7 * scale).all(axis=1)
            for i, xi in zip(np.flatnonzero(ok)[feas], x[feas]):
                key = tuple(np.round(xi, 6))
                cands.setdefault(key, sub[i])
        verts = set()
        for rows in cands.values():  # exact re-derivation and verification
            Ms = [self.A[r] for r in rows]
            c = tuple(solve_exact(Ms, [self.b[r] for r in rows]))
            if all(sum(a * x for a, x in zip(Ar, c)) <= br for Ar, br in zip(self.A, self.b)):
                verts.add(c)
        self.vertices = sorted(verts)
        self.tight = []
        for Ar, br in zip(self.A, self.b):
            self.tight.append(frozenset(
                i for i, c in enumerate(self.vertices) if sum(a * x for a, x in zip(Ar, c)) == br))
        full = frozenset(range(len(self.vertices)))
        self.facets = {}
        for j, T in enumerate(self.tight):
            if self._affine_dim(T) == n - 1 and T not in self.facets.values():
                self.facets[j] = T
        if self._affine_dim(full) != n:
            raise ValueError("the constraints do not define a full-dimensional bounded polytope")
        return self

    def _affine_dim(self, S) -> int:
        if not S:
            return -1
        pts = np.array([[float(v) for v in self.vertices[i]] for i in S])
        if len(pts) == 1:
            return 0
        return int(np.linalg.matrix_rank(pts[1:] - pts[0], tol=1e-9))

    # ------------------------------------------------------------ faces
    def sub_faces(self, S, d):
        """The facets (dimension d - 1 faces) of the face with vertex set S of dimension d."""
        key = (S, d)
        if key not in self._facet_cache:
            out = set()
            for T in self.tight:
                F = S & T
                if F != S and len(F) >= d and self._affine_dim(F) == d - 1:
                    out.add(F)
            self._facet_cache[key] = sorted(out, key=lambda F: sorted(F))
        return self._facet_cache[key]

    def face_lattice(self):
        """Faces by dimension: ``{d: [frozenset of vertex indices, ...]}`` for d = 0..n."""
        n = self.dim
        full = frozenset(range(len(self.vertices)))
        faces = {n: [full]}
        for d in range(n, 0, -1):
            nxt = set()
            for S in faces[d]:
                nxt.update(self.sub_faces(S, d))
            faces[d - 1] = sorted(nxt, key=lambda F: sorted(F))
        return faces

    def simplices(self, S=None, d=None):
        """Decompose the face S (default: the polytope) into simplices (lists of vertex indices).

        Cone from the smallest-index vertex of S over the facets of S not containing it,
        recursively (Conway & Sloane 1982, Sec. II).
        """
        if S is None:
            S, d = frozenset(range(len(self.vertices))), self.dim
        if d == 0:
            return [[next(iter(S))]]
        apex = min(S)
        out = []
        for F in self.sub_faces(S, d):
            if apex in F:
                continue
            for simplex in self.simplices(F, d - 1):
                out.append([apex] + simplex)
        return out

    # ------------------------------------------------------------ moments
    def moments(self):
        """Exact ``(volume_coef, second_moment_coef)`` over the polytope.

        ``volume_coef`` is the volume in coefficient coordinates (the Euclidean
        volume is ``sqrt(det G)`` times it); ``second_moment_coef`` is
        ``int |x|^2 dx`` divided by the same ``sqrt(det G)``.  Computed in
        integers over a common denominator (vertices scaled by D, G by g), so
        the result is exact and only divided once at the end.
        """
        n = self.dim
        D = 1
        for v in self.vertices:
            for x in v:
                D = lcm(D, x.denominator)
        g = 1
        for row in self.G:
            for x in row:
                g = lcm(g, x.denominator)
        V = [[int(x * D) for x in v] for v in self.vertices]
        Gi = [[int(x * g) for x in row] for row in self.G]

        def quad(u):
            return sum(u[i] * Gi[i][j] * u[j] for i in range(n) for j in range(n) if u[i] and u[j])

        qv = [quad(v) for v in V]
        vol_sum = 0
        mom_sum = 0
        for s in self.simplices():
            P = [V[i] for i in s]
            vol = abs(_det_int([[P[k][j] - P[0][j] for j in range(n)] for k in range(1, n + 1)]))
            tot = [sum(p[j] for p in P) for j in range(n)]
            vol_sum += vol
            mom_sum += vol * (sum(qv[i] for i in s) + quad(tot))
        scale = D ** n * factorial(n)
        return (Fraction(vol_sum, scale),
                Fraction(mom_sum, scale * D * D * g * (n + 1) * (n + 2)))

    def max_vertex_norm2(self) -> Fraction:
        """max |vertex|^2 (the circumradius squared about the origin)."""
        return max(_quad(self.G, v, v) for v in self.vertices)
