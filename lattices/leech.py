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

from . import _coded_kernels
from ._coded_spec import CodeFacts, CodedSpec
from ._registry import register
from .code_shells import CodePiece
from .codes import generator_rows, golay_code
from .dn import d_basis
from .lattice import make_lattice
from .modular import leech_theta

#: The glue vector a = (-3, 1^23) of sqrt(8) Lambda_24 = 2 H24 u (2 H24 + a).
GLUE = np.array([-3.0] + [1.0] * 23)

#: A deep hole of sqrt(8) Lambda_24: (4, 0^23), at squared distance 16 (= 8 R^2, R^2 = 2).
DEEP_HOLE_CANONICAL = (4.0,) + (0.0,) * 23


class LeechSpec(CodedSpec):
    """Leech = 2 H24 u (2 H24 + a) over the Golay code: the fused hexacode decoder, its exact
    facts, its theta series (a modular form) and its shell ranker over the code."""

    KERNEL = _coded_kernels.LEECH
    DECODER = "hexacode soft decoder of the Golay code (Conway & Sloane 1986; Vardy & Be'ery 1993)"
    GLUE = GLUE
    FACTS = CodeFacts(
        norm_scale=8, det=Fraction(1), min_norm2=Fraction(4), kissing_number=196560,
        covering_radius2=Fraction(2), deep_hole=DEEP_HOLE_CANONICAL,
        source="SPLAG ch. 4 Sec. 11 (theta series, kissing number), ch. 23 (covering radius)",
        nsm_published=0.065771)

    @staticmethod
    def canonical_generators() -> np.ndarray:
        """sqrt(8) Lambda_24 = 2 H24 u (2 H24 + a), H24 = G24 + 2 D24: generators of 2 H24, and a."""
        half = np.vstack([generator_rows(golay_code()), 2 * d_basis(24)])
        return np.vstack([2 * half, GLUE])

    def closest_torch(self, y):
        import torch

        from ._coded_torch import leech_closest

        return leech_closest(y, torch.as_tensor(self.GLUE, dtype=y.dtype, device=y.device))

    theta_textbook = staticmethod(leech_theta)

    @staticmethod
    def code_pieces() -> list:
        r""":math:`\sqrt8\Lambda_{24} = 2H_{24} \cup (2H_{24} + a)` (SPLAG ch. 4 Sec. 11): the
        even part :math:`y_i \equiv 2c_i \pmod 4` and the odd part :math:`y_i \equiv 1 + 2c_i`."""
        return [CodePiece(golay_code(), 4, (0, 2), 8, 0), CodePiece(golay_code(), 4, (1, 3), 8, 4)]

    def known_relevant_coefficients(self):
        raise ValueError(
            f"the Voronoi-relevant vectors of {self.name or 'leech'} are all its vectors "
            f"of norm 4 and 6 (16,969,680 of them; Conway & Sloane, SPLAG ch. 21); they are "
            f"not materialized here: use its exact constants (kissing_number, packing_radius, "
            f"covering_radius) and decoder instead")


@register("leech", doc="the Leech lattice, minimal norm 4, unimodular")
def _leech():
    return make_lattice("leech", LeechSpec.textbook("leech"))
