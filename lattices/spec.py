r"""The decoder-spec protocol: what one block lattice provides to :class:`lattices.Lattice`.

A :class:`~lattices.Lattice` is a sequence of diagonal blocks (:meth:`lattices.Lattice.blocks`),
each ``scale * spec.basis`` for a :class:`LatticeSpec` ``spec`` that describes one lattice
at unit scale: its basis and its exact nearest-point decoders.  Scalings and products reuse the
spec (the decoders take one scale per copy), so a spec is written once per lattice family.

Every spec provides (abstract methods, checked when the class is instantiated):

* ``basis`` -- (m, m) float64, rows are basis vectors at unit scale; ``name`` -- the named
  lattice it is (or is a rotated copy of), ``""`` for none;
* :meth:`LatticeSpec.coordinate_limits` -- the decodable range of each copy;
* :meth:`LatticeSpec.decode_numpy` -- the exact decoder on numpy arrays (CPU);
* :meth:`LatticeSpec.decode_torch` -- the exact decoder on torch tensors (any device);
* :meth:`LatticeSpec.rebased` -- the same decoder for a rotated / reflected / scaled basis
  (:func:`lattices.from_basis` with ``like=``), or ``None``.

and may declare optional capabilities, methods whose default returns ``None`` ("not
available": the generic computation is used instead):

* :meth:`LatticeSpec.exact_constants` -- exact facts a large lattice cannot get from its
  Voronoi cell (:class:`ExactConstants`: determinant, minimal norm, kissing number, covering
  radius, a deep hole, the published NSM), read by :mod:`lattices.geometry`;
* :meth:`LatticeSpec.theta_exact` -- a closed-form theta series (e.g. a modular form), read by
  :mod:`lattices.theta_exact` instead of enumerating;
* :meth:`LatticeSpec.known_relevant_coefficients` -- the Voronoi-relevant vectors, where they
  are known or cheaper to enumerate than by Voronoi's criterion;
* :meth:`LatticeSpec.shell_ranker` -- an enumerative coder of the norm shells
  (:mod:`lattices.shells`);
* :meth:`LatticeSpec.decoder_description` -- the name of its decoder for people (``python -m
  lattices`` prints it; :attr:`lattices.Lattice.decoder` joins those of the blocks).

Nothing else is read from a spec outside the module that defines it: no attribute is probed
with ``getattr`` / ``hasattr``.

Your own lattice
----------------
A new lattice is one module (imported in ``lattices/__init__.py``): a :class:`LatticeSpec`
subclass (or an instance of an existing one, as the root lattices are
:class:`lattices._spec.FastSpec` instances) and a registered factory::

    @register("mylattice", doc="what it is")
    def _mylattice():
        return make_lattice("mylattice", MySpec(...))

The spec implements the four abstract methods with this contract (``x3`` is (N, r, m): N points,
r copies of the block, per-copy ``scales`` (r,) float64):

* ``decode_numpy(x3, out3, scales)`` writes ``K(x / scale) * scale`` of every copy into
  ``out3`` (which may be ``x3``) and returns -1, or the index of the first point with a
  coordinate that is not finite or beyond ``coordinate_limits(scales)``;
* ``decode_torch(x3, scales)`` returns the same points as a tensor of ``x3``'s dtype and device
  (ties may be broken differently, distances may not);
* ``coordinate_limits(scales)`` is (r,) float64, a bound within which the decoder is exact;
* ``rebased(basis)`` returns a spec for a basis whose Gram matrix is ``c**2`` times this one's
  (:func:`lattices._spec.similarity_factor`), or ``None`` when it is not.

Then add the optional capabilities it has, the tests (subclass the decoder contract suite,
``tests/test_decoder_contract.py``) and an entry in ``docs/decoders.md``.  A lattice built
from a code (BW16 in :mod:`lattices.bw16`, Leech in :mod:`lattices.leech`) subclasses
:class:`lattices._coded_spec.CodedSpec`, which supplies rebasing, range limits, the exact facts
and the theta series from a few class attributes; its own class names its kernel, its eager
torch decoder, its code pieces for shell ranking and its exact constants.

>>> import lattices
>>> spec = lattices.get("leech").blocks()[0].spec
>>> spec.exact_constants().kissing_number
196560
>>> lattices.get("e8").blocks()[0].spec.exact_constants() is None  # derived from its cell
True
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .shell_interface import ShellRanker

__all__ = ["LatticeSpec", "ExactConstants"]


@dataclass(frozen=True)
class ExactConstants:
    """Exact facts about a block lattice at unit scale, in the coordinates of its ``basis``."""

    det: Fraction  # determinant of the Gram matrix
    min_norm2: Fraction  # minimal squared norm
    kissing_number: int
    covering_radius2: Fraction  # squared covering radius R^2
    deep_hole: tuple  # a point at squared distance R^2 from the lattice (floats, (m,))
    nsm_published: float  # the normalized second moment where no closed form is known
    source: str  # where the values come from


class LatticeSpec(abc.ABC):
    """One block lattice at unit scale with exact decoders (see the module notes).

    Attributes
    ----------
    basis : (m, m) float64 ndarray
        Rows are basis vectors at unit scale.
    name : str
        The named lattice this block is, or is a rotated / scaled copy of (``""``: none).
    cache : dict
        Derived data of this block memoized by the modules of :mod:`lattices` (relevant
        vectors, polytopes, limits); created on first use.
    """

    name: str = ""
    basis: np.ndarray

    @property
    def dim(self) -> int:
        """m, the dimension of the block."""
        return self.basis.shape[0]

    @property
    def cache(self) -> dict:
        memo = self.__dict__.get("_memo")
        if memo is None:
            memo = self.__dict__["_memo"] = {}
        return memo

    # ------------------------------------------------------------ required
    @abc.abstractmethod
    def coordinate_limits(self, scales) -> np.ndarray:
        """(r,) float64: the largest accepted ``|x_i|`` of each copy at ``scales`` (r,)."""

    @abc.abstractmethod
    def decode_numpy(self, x3, out3, scales) -> int:
        """Decode ``x3`` (N, r, m) into ``out3`` with per-copy ``scales`` (r,).

        Returns -1, or the index of the first point with a coordinate that is not finite or
        beyond :meth:`coordinate_limits` (the points before it are decoded).
        """

    @abc.abstractmethod
    def decode_torch(self, x3, scales):
        """Decode a tensor ``x3`` (N, r, m) on its device; same dtype, shape and device."""

    @abc.abstractmethod
    def rebased(self, basis) -> Optional["LatticeSpec"]:
        """This lattice in another basis whose Gram matrix is ``c**2`` times this one's
        (rows in correspondence, c > 0), or ``None`` if the Gram matrices do not match."""

    # ------------------------------------------------------------ optional capabilities
    def exact_constants(self) -> Optional[ExactConstants]:
        """Exact facts at unit scale that the Voronoi cell would otherwise give; ``None``:
        :mod:`lattices.geometry` derives them from the cell."""
        return None

    def theta_exact(self, max_norm: int) -> Optional[list]:
        """Exact theta coefficients 0..max_norm at unit scale from a closed form; ``None``:
        enumerate (also when the squared norms are not integral)."""
        return None

    def known_relevant_coefficients(self) -> Optional[np.ndarray]:
        """The Voronoi-relevant vectors as int64 coefficient vectors w.r.t. ``basis``;
        ``None``: compute them by Voronoi's criterion.  Raises ``ValueError`` where they are
        too many to materialize."""
        return None

    def decoder_description(self) -> str:
        """The decoder of this block in a few words, for people (e.g. ``"fast (Conway & Sloane
        1982)"``); a spec with its own decoder says which."""
        return f"exact decoder of {type(self).__name__}"

    def shell_ranker(self, max_norm: int) -> Optional["ShellRanker"]:
        """A :class:`lattices.shells.ShellRanker` of the lattice with basis ``basis`` up to
        squared norm ``max_norm``; ``None``: :func:`lattices.shells.shell_ranker` chooses."""
        return None
