"""The root lattices A_n and their duals A_n* (SPLAG ch. 4 Sec. 6).

Canonical coordinates: A_n = {x in Z^{n+1} : sum x = 0}, with basis rows
``e_{i+1} - e_i`` (minimal norm 2), and A_n* = U_{i=0..n} (A_n + [i]) with the
glue vectors ``[i] = (i/(n+1), ..., i/(n+1), -j/(n+1), ..., -j/(n+1))``
(j = n + 1 - i entries of the first kind, i of the second).  Decoders:
Conway & Sloane (1982) Sec. III for A_n, and the union of the n + 1 cosets for
A_n* (SPLAG ch. 20 Sec. 3).  The user basis is an n x n lower-triangular
basis ``R^T`` from ``S^T = Q R``; the decoder works through the isometry.

``a2`` is the paper's basis ``[[0, 1], [sqrt(3/4), 1/2]]`` (minimal norm 1),
whereas ``a<n>`` for other n keeps the textbook scale (minimal norm 2).

>>> import lattices
>>> len(lattices.get("a2").relevant_vectors())  # the hexagon's 6 neighbours
6
>>> len(lattices.get("a3*").relevant_vectors())  # truncated octahedron: 14 faces
14
"""
import numpy as np

from ._registry import register
from ._spec import FastSpec, dual_basis
from .lattice import make_lattice

#: The paper's basis of A2 (Sec. 2): rows (0, 1) and (sqrt(3/4), 1/2).
PAPER_A2_BASIS = np.array([[0.0, 1.0], [np.sqrt(3.0 / 4.0), 0.5]])


def a_roots(n: int) -> np.ndarray:
    """Basis of A_n in R^{n+1}: rows ``e_{i+1} - e_i`` (SPLAG ch. 4 eq. (55))."""
    S = np.zeros((n, n + 1))
    for i in range(n):
        S[i, i] = -1.0
        S[i, i + 1] = 1.0
    return S


def a_glue(n: int, i: int) -> np.ndarray:
    """The glue vector [i] of A_n* / A_n (SPLAG ch. 4 eq. (60))."""
    j = n + 1 - i
    return np.array([i / (n + 1)] * j + [-j / (n + 1)] * i)


def a_spec(n: int) -> FastSpec:
    return FastSpec.build("a", n + 1, 1, np.zeros((1, n + 1)), a_roots(n))


def a_dual_spec(n: int) -> FastSpec:
    glue = np.array([a_glue(n, i) for i in range(n + 1)])
    return FastSpec.build("a", n + 1, 1, glue, dual_basis(a_roots(n)))


@register("a2", doc="A2 in the paper's basis [[0, 1], [sqrt(3/4), 1/2]], minimal norm 1")
def _a2():
    S = np.array([[1.0, -1.0, 0.0], [1.0, 0.0, -1.0]])  # Gram [[2, 1], [1, 2]]
    spec = FastSpec.build("a", 3, 1, np.zeros((1, 3)), S, basis=PAPER_A2_BASIS,
                          scale0=1.0 / np.sqrt(2.0))
    return make_lattice("a2", spec)


@register("a<n>", min_n=1, doc="A_n, textbook scale (minimal norm 2)")
def _an(n):
    return make_lattice(f"a{n}", a_spec(n))


@register("a<n>*", min_n=1, doc="A_n*, the dual of A_n")
def _an_dual(n):
    return make_lattice(f"a{n}*", a_dual_spec(n))
