"""The integer lattices Z and Z^n.

Decoder: coordinatewise rounding (round half to even), Conway & Sloane (1982),
"Fast quantizing and decoding algorithms for lattice quantizers and codes",
IEEE Trans. IT-28(2), Sec. II.  G(Z^n) = 1/12 (SPLAG ch. 2, Table 2.3).

>>> import lattices
>>> lattices.get("z3").nearest([[0.4, -1.6, 2.5]]).tolist()
[[0.0, -2.0, 2.0]]
"""
import numpy as np

from ._registry import register
from ._spec import FastSpec
from .lattice import make_lattice


def integer_spec(n: int) -> FastSpec:
    return FastSpec.build("z", n, 1, np.zeros((1, n)), np.eye(n))


@register("z", doc="Z^1, basis [[1]]")
def _z():
    return make_lattice("z", integer_spec(1))


@register("z<n>", min_n=1, doc="Z^n, identity basis")
def _zn(n):
    return make_lattice(f"z{n}", integer_spec(n))
