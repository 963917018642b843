"""The Leech lattice Lambda_24 (SPLAG ch. 4 Sec. 11; Leech 1967).

Textbook scale: minimal norm 4, unimodular (volume 1), even, kissing number
196560.  Construction from the Golay code G24 (SPLAG ch. 4 Sec. 11.1):

    H24 = {x in Z^24 : x mod 2 in G24, sum x = 0 mod 4} = U_{c in G24} (c + 2 D24),
    sqrt(8) Lambda_24 = 2 H24 u (2 H24 + a),   a = (-3, 1^23).

Decoder: the exact maximum-likelihood decoder of :mod:`lattices._coded_kernels`,
the hexacode/MOG soft decoding of the Golay code (Conway & Sloane, IEEE
IT-32 (1986)) with both parity constraints of H24 handled exactly (Vardy &
Be'ery, IEEE IT-39 (1993)): 2 cosets x 2 parities x 64 hexacode words,
16 additions each, instead of a search over 4096 (or 8192) cosets.

Exact constants (textbook scale): packing radius 1, kissing number 196560,
covering radius sqrt(2) (Conway, Parker & Sloane, "The covering radius of the
Leech lattice", Proc. R. Soc. A 380 (1982); SPLAG ch. 23).  The Voronoi-relevant
vectors are all 16,969,680 vectors of norm 4 and 6 (SPLAG ch. 21); they are not
materialized.  Theta series ``E_4^3 - 720 Delta``: :func:`lattices.modular.leech_theta`.

>>> import lattices
>>> leech = lattices.get("leech")
>>> leech.dim, round(leech.volume, 9), lattices.kissing_number(leech)
(24, 1.0, 196560)
"""
from fractions import Fraction

import numpy as np

from ._coded_spec import CodedSpec, ExactConstants
from ._registry import register
from ._spec import basis_from_generators, reduced_rows
from .codes import generator_rows, golay_code
from .dn import d_basis
from .lattice import make_lattice
from .modular import leech_theta

SCALE0 = 1.0 / np.sqrt(8.0)

#: The glue vector a = (-3, 1^23) of sqrt(8) Lambda_24 = 2 H24 u (2 H24 + a).
GLUE = np.array([-3.0] + [1.0] * 23)

#: A deep hole of sqrt(8) Lambda_24: (4, 0^23), at squared distance 16 (= 8 R^2, R^2 = 2).
DEEP_HOLE_CANONICAL = (4.0,) + (0.0,) * 23


def canonical_basis() -> np.ndarray:
    """An LLL-reduced integer basis of sqrt(8) Lambda_24 (rows)."""
    half = np.vstack([generator_rows(golay_code()), 2 * d_basis(24)])
    gens = np.vstack([2 * half, GLUE])
    return np.rint(reduced_rows(basis_from_generators(gens, 1)))


@register("leech", doc="the Leech lattice, minimal norm 4, unimodular")
def _leech():
    S = canonical_basis()
    constants = ExactConstants(
        scale0=SCALE0, det=Fraction(1), min_norm2=Fraction(4), kissing_number=196560,
        covering_radius2=Fraction(2),
        deep_hole=DEEP_HOLE_CANONICAL, theta=leech_theta,
        source="SPLAG ch. 4 Sec. 11 (theta series, kissing number), ch. 23 (covering radius)",
        nsm_published=0.065771)
    return make_lattice("leech", CodedSpec("leech", S, SCALE0 * S, None, SCALE0, GLUE, constants,
                                           name="leech"))
