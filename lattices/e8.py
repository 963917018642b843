"""The Gosset lattice E8 in the paper's basis (Sec. 2; SPLAG ch. 4 eq. (98)).

E8 = D8 u (D8 + (1/2)^8): all-integer or all-half-integer vectors with even
coordinate sum (paper, Sec. 6.2).  Decoder: decode both cosets with the D8
algorithm and keep the closer (Conway & Sloane 1982, Sec. II; the paper's
f(x), g(x), f(x - 1/2) + 1/2, g(x - 1/2) + 1/2).

.. note:: The paper prints the last basis row with seven entries 1/2; the
   row is (1/2, ..., 1/2) with eight (the matrix must be 8 x 8 with
   determinant 1).

>>> import lattices
>>> e8 = lattices.get("e8")
>>> round(e8.volume, 12), len(e8.relevant_vectors())
(1.0, 240)
"""
import numpy as np

from ._registry import register
from ._spec import FastSpec
from .lattice import make_lattice

#: The paper's basis: rows 2e_1, e_2 - e_1, ..., e_7 - e_6, (1/2)^8.
PAPER_E8_BASIS = np.array(
    [[2, 0, 0, 0, 0, 0, 0, 0],
     [-1, 1, 0, 0, 0, 0, 0, 0],
     [0, -1, 1, 0, 0, 0, 0, 0],
     [0, 0, -1, 1, 0, 0, 0, 0],
     [0, 0, 0, -1, 1, 0, 0, 0],
     [0, 0, 0, 0, -1, 1, 0, 0],
     [0, 0, 0, 0, 0, -1, 1, 0],
     [0.5] * 8], dtype=float)


@register("e8", doc="E8 in the paper's basis")
def _e8():
    glue = np.array([np.zeros(8), np.full(8, 0.5)])
    return make_lattice("e8", FastSpec.build("d", 8, 1, glue, PAPER_E8_BASIS))
