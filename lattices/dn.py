"""The checkerboard lattices D_n and their duals D_n* (SPLAG ch. 4 Sec. 7).

D_n = {x in Z^n : sum x even}, basis rows (-1, -1, 0, ...), (1, -1, 0, ...),
(0, 1, -1, 0, ...), ... (SPLAG ch. 4 eq. (86)).  Decoder: round, and when the
coordinate sum is odd re-round the coordinate with the largest rounding error
the other way (Conway & Sloane 1982, Sec. II, Algorithm 2).

D_n* = Z^n u (Z^n + (1/2, ..., 1/2)), basis rows e_1, ..., e_{n-1},
(1/2, ..., 1/2); decoded as the closer of the two cosets' roundings.

>>> import lattices
>>> len(lattices.get("d4").relevant_vectors())  # the 24-cell's 24 facets
24
"""
import numpy as np

from ._registry import register
from ._spec import FastSpec
from .lattice import make_lattice


def d_basis(n: int) -> np.ndarray:
    S = np.zeros((n, n))
    S[0, 0] = S[0, 1] = -1.0
    for i in range(1, n):
        S[i, i - 1] = 1.0
        S[i, i] = -1.0
    return S


def d_spec(n: int) -> FastSpec:
    return FastSpec.build("d", n, 1, np.zeros((1, n)), d_basis(n))


def d_dual_spec(n: int) -> FastSpec:
    S = np.eye(n)
    S[-1] = 0.5
    glue = np.array([np.zeros(n), np.full(n, 0.5)])
    return FastSpec.build("z", n, 1, glue, S)


@register("d<n>", min_n=2, doc="D_n = {x in Z^n : sum x even}")
def _dn(n):
    return make_lattice(f"d{n}", d_spec(n))


@register("d<n>*", min_n=2, doc="D_n* = Z^n u (Z^n + 1/2)")
def _dn_dual(n):
    return make_lattice(f"d{n}*", d_dual_spec(n))
