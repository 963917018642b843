"""Lattices as discrete latent spaces: exact fast quantizers, dithers, products.

The lattice core of the toolkit for Lastras (2020), "Lattice Representation
Learning".  ``Lattice.nearest`` is the paper's K_Lambda; ``sample_cell`` is the
dither U uniform over P_0(Lambda) of Sec. 8.1; ``product`` is the block-diagonal
construction of Sec. 4.1.

>>> import lattices
>>> lattices.get("e8").nearest([[0.3] * 8]).tolist()
[[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]
"""
from . import an, dn, e6, e7, e8, zn  # noqa: F401  (named lattices register themselves)
from ._registry import get, names, register
from .lattice import Lattice, from_basis, product

__all__ = ["Lattice", "get", "names", "register", "from_basis", "product"]
