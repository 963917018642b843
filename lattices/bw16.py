"""The Barnes–Wall lattice BW16 = Lambda_16 (SPLAG ch. 4 Sec. 10; ch. 5 Sec. 2.8).

Textbook scale: minimal norm 4, determinant 256 (volume 16), kissing number
4320.  Construction B on the first-order Reed–Muller code RM(1, 4):

    sqrt(2) BW16 = {x in Z^16 : x mod 2 in RM(1,4), sum x = 0 mod 4}
                 = U_{c in RM(1,4)} (c + 2 D16),

since every codeword has weight 0, 8 or 16.  Decoder: the exact
maximum-likelihood decoder of :mod:`lattices._coded_kernels` (per-column
Z_2^2 min-plus over the Reed–Muller structure, 4 linear parts x 4 columns;
no per-codeword search).

Exact constants (textbook scale): packing radius 1 (minimal norm 4), kissing
number 4320, covering radius sqrt(3) (SPLAG ch. 6 Table 6.1 / ch. 4 Sec. 10);
the Voronoi-relevant vectors are the 4320 + 61440 vectors of norm 4 and 6
(SPLAG ch. 21; verified here by Voronoi's criterion, see tests).  Theta
series: :func:`lattices.modular.bw16_theta`.

>>> import lattices
>>> bw = lattices.get("bw16")
>>> bw.dim, round(bw.volume, 9), lattices.kissing_number(bw)
(16, 16.0, 4320)
"""
from fractions import Fraction

import numpy as np

from . import _coded_kernels
from ._coded_spec import CodeFacts, CodedSpec
from ._registry import register
from .code_shells import CodePiece
from .codes import generator_rows, rm14_code
from .dn import d_basis
from .lattice import make_lattice
from .modular import bw16_theta

#: A deep hole of sqrt(2) BW16 at squared distance 6 (= 2 R^2, R^2 = 3), found by a
#: search over small integer points and checked against the generic decoder (tests).
DEEP_HOLE_CANONICAL = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0, 1.0, 1.0, 0.0, -1.0, 0.0, 0.0, -1.0, 0.0)


class BW16Spec(CodedSpec):
    """BW16 = Construction B on RM(1, 4): the fused Reed–Muller decoder, its exact facts,
    its theta series (a modular form) and its shell ranker over the code."""

    KERNEL = _coded_kernels.BW16
    DECODER = "Reed-Muller soft decoder (Construction B on RM(1,4), fused)"
    GLUE = np.zeros(16)
    FACTS = CodeFacts(
        norm_scale=2, det=Fraction(256), min_norm2=Fraction(4), kissing_number=4320,
        covering_radius2=Fraction(3), deep_hole=DEEP_HOLE_CANONICAL,
        source="SPLAG ch. 4 Sec. 10 (theta series, kissing number), ch. 6 (covering radius)",
        nsm_published=0.068297)

    @staticmethod
    def canonical_generators() -> np.ndarray:
        """sqrt(2) BW16 = RM(1,4) + 2 D16: the code's generator rows and 2 D16."""
        return np.vstack([generator_rows(rm14_code()), 2 * d_basis(16)])

    def closest_torch(self, y):
        from ._coded_torch import bw16_closest

        return bw16_closest(y)

    theta_textbook = staticmethod(bw16_theta)

    @staticmethod
    def code_pieces() -> list:
        r""":math:`\sqrt2\Lambda_{16}` = RM(1,4) + :math:`2D_{16}` (SPLAG ch. 4 Sec. 10)."""
        return [CodePiece(rm14_code(), 2, (0, 1), 4, 0)]

    def known_relevant_coefficients(self):
        """All vectors of norm 4 and 6 (textbook scale) as coefficient vectors (the relevant
        vectors; enumerated in the textbook basis, whose rows correspond to this one's)."""
        from ._generic import enumerate_ball

        coef = enumerate_ball(self.FACTS.scale0 * self.canonical, np.zeros(16), 6.0)
        return np.ascontiguousarray(coef[np.any(coef != 0, axis=1)])


@register("bw16", doc="Barnes-Wall BW16, minimal norm 4")
def _bw16():
    return make_lattice("bw16", BW16Spec.textbook("bw16"))
