"""The base of the decoding specs of lattices built from codes (BW16, Leech; kernels:
:mod:`lattices._coded_kernels`).

A :class:`CodedSpec` implements :class:`lattices.spec.LatticeSpec` for a lattice whose
*canonical* copy ``sqrt(D) L`` is integral (``sqrt(2) BW16``, ``sqrt(8) Leech``): the user
lattice at unit scale is the canonical one times ``scale0`` (``1/sqrt(D)`` at textbook scale), in
a basis related by the isometry ``T`` (``None``: the canonical basis itself, scaled).  It supplies
rebasing, the range limits, the fused numpy decoder, the exact facts
(:meth:`CodedSpec.exact_constants`, from :class:`CodeFacts`), the theta series and the shell
ranker from what each subclass declares, in its own module:

* ``KERNEL`` -- its branch of :func:`lattices._coded_kernels.decode_coded_blocks`;
* ``GLUE`` -- (m,) the glue vector the kernel takes (zeros where there is none);
* ``FACTS`` -- a :class:`CodeFacts` at textbook scale, with ``norm_scale = D``;
* ``DECODER`` -- its decoder in a few words (:meth:`CodedSpec.decoder_description`);
* :meth:`CodedSpec.canonical_generators`, :meth:`CodedSpec.closest_torch`,
  :meth:`CodedSpec.theta_textbook` and :meth:`CodedSpec.code_pieces`.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar, Optional

import numpy as np

from . import _coded_kernels
from ._spec import (basis_from_generators, first_out_of_range, reduced_rows, similarity_factor,
                    user_points_torch)
from .spec import ExactConstants, LatticeSpec


@dataclass(frozen=True)
class CodeFacts:
    """Exact facts at textbook scale, with their source."""

    norm_scale: int  # D: the canonical lattice is sqrt(D) times the textbook one
    det: Fraction  # determinant of the Gram matrix
    min_norm2: Fraction
    kissing_number: int
    covering_radius2: Fraction
    deep_hole: tuple  # canonical coordinates (multiply by scale0)
    source: str
    nsm_published: float  # SPLAG Table 2.3 (the NSM has no known closed form)

    @property
    def scale0(self) -> float:
        """1/sqrt(D): canonical -> textbook scale."""
        return 1.0 / np.sqrt(float(self.norm_scale))


@dataclass(eq=False)
class CodedSpec(LatticeSpec):
    """A lattice built from a code: Construction-B structure, exact fused decoder."""

    KERNEL: ClassVar[int]
    GLUE: ClassVar[np.ndarray]
    FACTS: ClassVar[CodeFacts]
    DECODER: ClassVar[str] = "fused decoder of the code construction"  # decoder_description

    canonical: np.ndarray  # (m, m) integer canonical basis
    basis: np.ndarray  # (m, m) user basis at unit scale
    T: Optional[np.ndarray]
    scale0: float
    name: str = ""
    canonical_pinv: Optional[np.ndarray] = None

    def __post_init__(self):
        if self.canonical_pinv is None:
            self.canonical_pinv = np.linalg.inv(self.canonical)

    @classmethod
    def textbook(cls, name: str) -> "CodedSpec":
        """The lattice at textbook scale in the canonical basis (scaled), named ``name``."""
        S = cls.canonical_basis()
        scale0 = cls.FACTS.scale0
        return cls(S, scale0 * S, None, scale0, name=name)

    def decoder_description(self) -> str:
        return self.DECODER

    # ------------------------------------------------------------ what a subclass provides
    @staticmethod
    @abc.abstractmethod
    def canonical_generators() -> np.ndarray:
        """Integer vectors (rows) that generate the canonical lattice ``sqrt(D) L``."""

    @classmethod
    def canonical_basis(cls) -> np.ndarray:
        """An LLL-reduced integer basis (rows) of the canonical lattice."""
        return np.rint(reduced_rows(basis_from_generators(cls.canonical_generators(), 1)))

    @abc.abstractmethod
    def closest_torch(self, y):
        """The closest canonical points to ``y`` (N, m), a tensor in canonical coordinates."""

    @staticmethod
    @abc.abstractmethod
    def theta_textbook(max_norm: int) -> list:
        """The theta series 0..max_norm at textbook scale (a modular form)."""

    @staticmethod
    @abc.abstractmethod
    def code_pieces() -> list:
        """The :class:`lattices.code_shells.CodePiece` list of the canonical lattice."""

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
        return type(self)(self.canonical, B, T, scale0, self.name, self.canonical_pinv)

    # ------------------------------------------------------------ exact facts
    @property
    def norm_factor(self) -> Fraction:
        """Squared norms of this block at unit scale over the textbook ones (1 unless rebased
        with a scaling; then the float ratio as a close rational)."""
        r = (self.scale0 / self.FACTS.scale0) ** 2
        return Fraction(1) if abs(r - 1.0) < 1e-14 else Fraction(r).limit_denominator(10**12)

    def exact_constants(self) -> ExactConstants:
        """The textbook facts carried to this block's basis and unit scale."""
        if "exact_constants" not in self.cache:
            facts, f = self.FACTS, self.norm_factor
            y = np.array(facts.deep_hole) * self.scale0  # canonical coordinates, unit scale
            hole = y if self.T is None else y @ self.T.T
            self.cache["exact_constants"] = ExactConstants(
                det=facts.det * f ** self.dim, min_norm2=facts.min_norm2 * f,
                kissing_number=facts.kissing_number, covering_radius2=facts.covering_radius2 * f,
                deep_hole=tuple(hole.tolist()), nsm_published=facts.nsm_published,
                source=facts.source)
        return self.cache["exact_constants"]

    def theta_exact(self, max_norm):
        """Theta coefficients at unit scale (``None`` if the norms are not integral)."""
        f = self.norm_factor
        if f.denominator != 1:
            return None
        k = f.numerator
        base = self.theta_textbook(max_norm // k)
        out = [0] * (max_norm + 1)
        for n, c in enumerate(base):
            out[k * n] = c
        return out

    def shell_ranker(self, max_norm):
        """The code construction's ranker (:mod:`lattices.code_shells`) in the textbook basis;
        ``None`` for a rebased copy (its basis is not the canonical one)."""
        if self.T is not None:
            return None
        from .code_shells import CodeCosetShells

        return CodeCosetShells(self.basis, max_norm, self.FACTS.norm_scale, self.code_pieces())

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
        if self.T is None:
            T = Sinv = B = np.zeros((1, 1))
        else:
            T, Sinv, B = self.T, self.canonical_pinv, self.basis
        bad = np.zeros(max(1, -(-x3.shape[0] // _coded_kernels.CHUNK)), dtype=np.int64)
        scales = np.ascontiguousarray(scales, dtype=np.float64)
        _coded_kernels.decode_coded_blocks(
            x3, out3, scales * self.scale0, scales, T, self.T is not None, Sinv, B,
            self.KERNEL, np.ascontiguousarray(self.GLUE, dtype=np.float64), bad)
        hits = bad[bad > 0]
        return int(hits[0]) - 1 if hits.size else -1

    # ------------------------------------------------------------ torch
    def decode_torch(self, x3, scales):
        """Eager torch decoder (any device), the same algorithm vectorized over points."""
        import torch

        from ._torch_kernels import work_dtype

        work = work_dtype(x3)
        y = x3.to(work)
        s = torch.as_tensor(scales * self.scale0, dtype=work, device=x3.device)
        if self.T is not None:
            y = y @ torch.as_tensor(self.T, dtype=work, device=x3.device)
        y = y / s[:, None]
        shape = y.shape
        best = self.closest_torch(y.reshape(-1, self.dim)).reshape(shape)
        return user_points_torch(self, best, s, scales, x3.dtype)
