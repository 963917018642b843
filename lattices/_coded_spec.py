"""Decoding spec of the code-built lattices BW16 and Leech (kernels: :mod:`lattices._coded_kernels`).

A :class:`CodedSpec` has the interface of :class:`lattices._spec.FastSpec`
(``dim``, ``basis``, ``decode_numpy``, ``decode_torch``, ``rebased``, ``name``,
``_cache``) and adds the exact facts a structured lattice of dimension 16 or
24 cannot get from its Voronoi cell: minimal norm, kissing number, covering
radius, a deep hole and the theta series (read by :mod:`lattices.geometry`
and :mod:`lattices.theta_exact`).

Canonical coordinates: ``sqrt(2) BW16`` and ``sqrt(8) Leech`` are integral
(see :mod:`lattices._coded_kernels`); the user lattice at unit scale is the
canonical one times ``scale0`` (1/sqrt(2), 1/sqrt(8)), in a basis related by
the isometry ``T`` (``None``: the canonical basis itself, scaled).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Optional

import numpy as np

from . import _coded_kernels
from ._spec import first_out_of_range, similarity_factor, user_points_torch

WHICH = {"bw16": 0, "leech": 1}


@dataclass(frozen=True)
class ExactConstants:
    """Exact facts at unit (textbook) scale, with their source."""

    scale0: float  # canonical -> textbook scale (1/sqrt(2), 1/sqrt(8))
    det: Fraction  # determinant of the Gram matrix
    min_norm2: Fraction
    kissing_number: int
    covering_radius2: Fraction
    deep_hole: tuple  # canonical coordinates (multiply by scale0)
    theta: Callable  # theta(max_norm) -> list of int, textbook norms
    source: str
    nsm_published: float  # SPLAG Table 2.3 (the NSM has no known closed form)


@dataclass(eq=False)
class CodedSpec:
    """BW16 or Leech block: Construction-B structure, exact fused decoder."""

    which: str  # "bw16" or "leech"
    canonical: np.ndarray  # (m, m) integer canonical basis
    basis: np.ndarray  # (m, m) user basis at unit scale
    T: Optional[np.ndarray]
    scale0: float
    glue: np.ndarray  # Leech: (-3, 1^23); BW16: zeros (unused)
    constants: ExactConstants
    relevant: Optional[Callable] = None  # () -> int64 coefficient vectors, where feasible
    name: str = ""
    canonical_pinv: Optional[np.ndarray] = None
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.canonical_pinv is None:
            self.canonical_pinv = np.linalg.inv(self.canonical)

    @property
    def dim(self) -> int:
        return self.basis.shape[0]

    # ------------------------------------------------------------ bases
    def rebased(self, basis):
        """The same lattice in a rotated / reflected / scaled basis (see FastSpec.rebased)."""
        B = np.asarray(basis, dtype=float)
        c2 = similarity_factor(B, self.basis)
        if c2 is None:
            return None
        scale0 = float(np.sqrt(c2)) * self.scale0
        T = np.linalg.solve(B / scale0, self.canonical)
        if not np.allclose(T @ T.T, np.eye(self.dim), atol=1e-9):  # internal invariant
            raise AssertionError("canonical basis and user basis are not isometric")
        return CodedSpec(self.which, self.canonical, B, T, scale0, self.glue, self.constants,
                         self.relevant, self.name, self.canonical_pinv)

    # ------------------------------------------------------------ exact facts
    @property
    def norm_factor(self) -> Fraction:
        """Squared norms of this block at unit scale over the textbook ones (1 unless rebased
        with a scaling; then the float ratio as a close rational)."""
        r = (self.scale0 / self.constants.scale0) ** 2
        return Fraction(1) if abs(r - 1.0) < 1e-14 else Fraction(r).limit_denominator(10**12)

    def theta_exact(self, max_norm):
        """Theta coefficients at unit scale (``None`` if the norms are not integral)."""
        f = self.norm_factor
        if f.denominator != 1:
            return None
        k = f.numerator
        base = self.constants.theta(max_norm // k)
        out = [0] * (max_norm + 1)
        for n, c in enumerate(base):
            out[k * n] = c
        return out

    def known_relevant_coefficients(self):
        """Voronoi-relevant vectors as coefficient vectors, where they are materialized."""
        if self.relevant is None:
            raise ValueError(
                f"the Voronoi-relevant vectors of {self.name or self.which} are all its vectors "
                f"of norm 4 and 6 (16,969,680 of them; Conway & Sloane, SPLAG ch. 21); they are "
                f"not materialized here: use its exact constants (kissing_number, packing_radius, "
                f"covering_radius) and decoder instead")
        return self.relevant()

    # ------------------------------------------------------------ numpy
    def coordinate_limits(self, scales) -> np.ndarray:
        """(r,) float64: the largest accepted ``|x_i|`` of each copy.

        The rule of the D_n/A_n blocks (:meth:`lattices._spec.FastSpec.coordinate_limits`):
        canonical coordinates up to ``2^52 / 2^ceil(log2 m)``, so that roundings and parity
        sums stay exact float64 integers and the coefficients fit in 2^53; ``scale0`` and a
        rotation ``T`` carry it to the user's coordinates.  BW16 and Leech carry an irrational
        ``scale0`` (1/sqrt(2), 1/sqrt(8)): far out the float64 input itself is a rounded
        point, and decisions between candidates closer than its ulp are ties (the contract
        suite checks optimality up to that tolerance at magnitudes 1e6 and scales 1e-6).
        """
        tnorm = 1.0 if self.T is None else float(np.abs(self.T).sum(axis=0).max())
        canonical = float(2 ** 52) / float(1 << max(0, self.dim - 1).bit_length())
        return canonical * self.scale0 / max(tnorm, 1.0) * np.asarray(scales, dtype=np.float64)

    def decode_numpy(self, x3, out3, scales):
        """Decode ``x3`` (N, r, m) into ``out3``; index of the first point that is not finite
        or beyond :meth:`coordinate_limits`, or -1."""
        limits = self.coordinate_limits(scales)
        first = first_out_of_range(x3, limits)
        if first >= 0:
            return first
        m = self.dim
        if self.T is None:
            T = Sinv = B = np.zeros((1, 1))
        else:
            T, Sinv, B = self.T, self.canonical_pinv, self.basis
        bad = np.zeros(max(1, -(-x3.shape[0] // _coded_kernels.CHUNK)), dtype=np.int64)
        scales = np.ascontiguousarray(scales, dtype=np.float64)
        glue = np.ascontiguousarray(self.glue if self.glue.shape[0] == m else np.zeros(m))
        _coded_kernels.decode_coded_blocks(
            x3, out3, scales * self.scale0, scales, T, self.T is not None, Sinv, B,
            WHICH[self.which], glue, bad)
        hits = bad[bad > 0]
        return int(hits[0]) - 1 if hits.size else -1

    # ------------------------------------------------------------ torch
    def decode_torch(self, x3, scales):
        """Eager torch decoder (any device), the same algorithm vectorized over points."""
        import torch

        from ._coded_torch import bw16_closest, leech_closest
        from ._torch_kernels import work_dtype

        work = work_dtype(x3)
        y = x3.to(work)
        s = torch.as_tensor(scales * self.scale0, dtype=work, device=x3.device)
        if self.T is not None:
            y = y @ torch.as_tensor(self.T, dtype=work, device=x3.device)
        y = y / s[:, None]
        shape = y.shape
        flat = y.reshape(-1, self.dim)
        if self.which == "bw16":
            best = bw16_closest(flat)
        else:
            best = leech_closest(flat, torch.as_tensor(self.glue, dtype=work, device=x3.device))
        best = best.reshape(shape)
        return user_points_torch(self, best, s, scales, x3.dtype)
