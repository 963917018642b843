"""E7 and its dual E7*, glued from A7 (SPLAG ch. 4 Sec. 8.2; ch. 20 Sec. 4).

Canonical coordinates: A7 in the hyperplane sum = 0 of R^8.  E7 = A7[4] =
A7 u (A7 + [4]) with [4] = ((1/2)^4, (-1/2)^4); E7* = U_{i in {0,2,4,6}} (A7 + [i]).
Decoder: decode every coset with the A7 algorithm and keep the closest
(Conway & Sloane 1982).  The 7 x 7 user basis is lower triangular, obtained
through an isometry of the hyperplane.

>>> import lattices
>>> len(lattices.get("e7").relevant_vectors())  # 126 roots
126
"""
import numpy as np

from ._registry import register
from ._spec import FastSpec, basis_from_generators, reduced_rows
from .an import a_glue, a_roots
from .lattice import make_lattice


def _spec(glue_indices, denominator):
    glue = np.array([a_glue(7, i) for i in glue_indices])
    gens = np.vstack([a_roots(7), glue[1:]])
    S = reduced_rows(basis_from_generators(gens, denominator))
    return FastSpec.build("a", 8, 1, glue, S)


@register("e7", doc="E7 = A7[4], minimal norm 2")
def _e7():
    return make_lattice("e7", _spec([0, 4], 2))


@register("e7*", doc="E7* = A7[2], the dual of E7")
def _e7_dual():
    return make_lattice("e7*", _spec([0, 2, 4, 6], 4))
