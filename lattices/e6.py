"""E6 and its dual E6*, glued from A2^3 (SPLAG ch. 4 Sec. 8.3; ch. 20 Sec. 4).

Canonical coordinates: three A2 blocks in R^3 each.  E6 = A2^3 [1,1,1]: the
cosets A2^3 + t([1],[1],[1]), t = 0, 1, 2; E6* adds [0,1,2]: the nine cosets
(a, a+b, a+2b) mod 3.  Decoder: decode each coset block by block with the A2
algorithm and keep the closest (Conway & Sloane 1982).

>>> import lattices
>>> len(lattices.get("e6").relevant_vectors())  # 72 roots
72
"""
import numpy as np

from ._registry import register
from ._spec import FastSpec, basis_from_generators, reduced_rows
from .an import a_glue, a_roots
from .lattice import make_lattice


def _glue(triples):
    return np.array([np.concatenate([a_glue(2, t) for t in tr]) for tr in triples])


def _roots():
    R = a_roots(2)
    S = np.zeros((6, 9))
    for b in range(3):
        S[2 * b:2 * b + 2, 3 * b:3 * b + 3] = R
    return S


def _spec(triples):
    glue = _glue(triples)
    S = reduced_rows(basis_from_generators(np.vstack([_roots(), glue[1:]]), 3))
    return FastSpec.build("a", 3, 3, glue, S)


@register("e6", doc="E6 = A2^3[1,1,1], minimal norm 2")
def _e6():
    return make_lattice("e6", _spec([(0, 0, 0), (1, 1, 1), (2, 2, 2)]))


@register("e6*", doc="E6* = A2^3[1,1,1][0,1,2], the dual of E6")
def _e6_dual():
    triples = [(a % 3, (a + b) % 3, (a + 2 * b) % 3) for a in range(3) for b in range(3)]
    triples.sort()
    return make_lattice("e6*", _spec(triples))
