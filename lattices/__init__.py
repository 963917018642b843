"""Lattices as discrete latent spaces: exact fast quantizers, dithers, products, geometry.

The lattice core of the toolkit for Lastras (2020), "Lattice Representation
Learning".  ``Lattice.nearest`` is the paper's K_Lambda; ``sample_cell`` is the
dither U uniform over P_0(Lambda) of Sec. 8.1; ``product`` is the block-diagonal
construction of Sec. 4.1; ``nsm_exact`` / ``nsm_monte_carlo`` give the normalized
second moment G of Sec. 3.5 exactly and by Monte Carlo; ``theta_series`` the
theta coefficients of Sec. 3.4.

>>> import lattices
>>> lattices.get("e8").nearest([[0.3] * 8]).tolist()
[[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]
>>> lattices.get("e8").nsm_exact()
929/12960
"""
from . import an, bw16, dn, e6, e7, e8, leech, zn  # noqa: F401  (named lattices register themselves)
from ._registry import get, names, register
from .geometry import (covering_radius, kissing_number, packing_radius, product_nsm,
                       voronoi_cell)
from .lattice import Block, Lattice, from_basis, parse, product
from .montecarlo import monte_carlo, nsm_monte_carlo, second_moment_monte_carlo
from .spec import ExactConstants, LatticeSpec

# The command-line modules lattices.nsm, lattices.theta and lattices.tables are not
# imported here (python -m would warn); Lattice.theta_series / nsm_exact use the computation
# modules lattices.theta_exact / lattices.geometry, which they import.
__all__ = [
    "Lattice", "Block", "LatticeSpec", "ExactConstants",
    "get", "names", "parse", "register", "from_basis", "product",
    "nsm_monte_carlo", "second_moment_monte_carlo", "monte_carlo",
    "voronoi_cell", "packing_radius", "covering_radius", "kissing_number", "product_nsm",
]
