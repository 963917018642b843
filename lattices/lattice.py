"""The :class:`Lattice` object: basis, decoder, dithers, products and scalings.

A lattice is ``Lambda(B) = {i B : i in Z^m}`` with the basis vectors as the
rows of ``B`` (paper, Sec. 2).  Internally it is a sequence of *segments*, each
``r`` copies of one block lattice with per-copy scales, which is exactly the
product construction ``diag(D_1 B, D_2 B, ...)`` of the paper's Sec. 4.1.  A
named lattice is one segment with ``r = 1``; ``scaled`` multiplies every scale;
``product`` concatenates segments.  Decoding a product decodes each block
independently, which is exact because the Voronoi cell of a product is the
product of the cells.  :meth:`Lattice.blocks` is the public view of this structure: one
:class:`Block` (a :class:`lattices.spec.LatticeSpec`, a scale and a coordinate slice) per copy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import geometry, theta_exact
from ._registry import get
from ._spec import FastSpec, GenericSpec, relevant_coefficients
from ._validation import (EXACT_INTEGER_LIMIT, as_float_points, check_basis, check_count,
                          check_exact_integers, check_finite_points, check_out, check_scale,
                          check_tensor_points, is_torch_tensor)
from .utils.rng import as_generator, as_torch_generator

from .spec import LatticeSpec

__all__ = ["Lattice", "Block", "make_lattice", "product", "from_basis", "parse"]


@dataclass(frozen=True, repr=False)
class Block:
    """One diagonal block of a lattice's basis: ``scale * spec.basis`` on the coordinates
    ``start:stop`` (a product ``diag(D_1 B_1, D_2 B_2, ...)``, Sec. 4.1, has one per factor
    copy; a named lattice has one).

    >>> import lattices
    >>> [(b.name, b.scale, b.coordinates) for b in lattices.product(["a2", "e8"], [2.0, 1.0]).blocks()]
    [('a2', 2.0, slice(0, 2, None)), ('e8', 1.0, slice(2, 10, None))]
    """

    spec: LatticeSpec  # the block lattice at unit scale, with its decoders and capabilities
    scale: float
    start: int  # first coordinate of the block
    name: str  # the block's lattice name: its spec's, or the whole lattice's where it has none

    @property
    def dim(self) -> int:
        return self.spec.dim

    @property
    def stop(self) -> int:
        return self.start + self.spec.dim

    @property
    def coordinates(self) -> slice:
        """The block's coordinates in the ambient space (a slice of ``range(lattice.dim)``)."""
        return slice(self.start, self.stop)

    @property
    def basis(self) -> np.ndarray:
        """(m, m) float64: ``scale * spec.basis``, the block's diagonal entry of the basis."""
        return self.scale * self.spec.basis

    def __repr__(self) -> str:
        return f"Block({self.name!r}, scale={self.scale!r}, coordinates={self.start}:{self.stop})"

    def lattice(self) -> "Lattice":
        """The block as a lattice of its own at its scale (its fast decoder kept), named
        :attr:`name` (which does not carry the scale)."""
        return make_lattice(self.name, self.spec, self.scale)


@dataclass(frozen=True, eq=False)
class _Segment:
    spec: LatticeSpec
    offset: int  # first ambient coordinate of the segment
    scales: np.ndarray  # (r,) float64: one scale per copy

    @property
    def copies(self) -> int:
        return self.scales.shape[0]

    @property
    def width(self) -> int:
        return self.spec.dim

    @property
    def size(self) -> int:
        return self.copies * self.width


class Lattice:
    """A full-rank lattice in R^dim with an exact nearest-point decoder.

    Do not construct directly: use :func:`lattices.get`,
    :func:`lattices.from_basis`, :func:`lattices.product` or :meth:`scaled`.

    Examples
    --------
    >>> import lattices
    >>> e8 = lattices.get("e8")
    >>> e8.dim, round(e8.volume, 12)
    (8, 1.0)
    >>> len(e8.relevant_vectors())  # the 240 roots of E8
    240
    >>> e8.nearest([[0.3] * 8]).tolist()
    [[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]]
    """

    def __init__(self, name: str, segments: Sequence[_Segment]):
        self.name = name
        self._segments = tuple(segments)
        self.dim = sum(s.size for s in self._segments)
        blocks = []
        for seg in self._segments:
            for s in seg.scales:
                blocks.append(s * seg.spec.basis)
        B = np.zeros((self.dim, self.dim))
        i = 0
        for b in blocks:
            m = b.shape[0]
            B[i:i + m, i:i + m] = b
            i += m
        B.setflags(write=False)
        self._basis = B
        self._inverse = None
        self._limits = None
        self._blocks = None
        self._reductions = {}

    # ------------------------------------------------------------ basic data
    @property
    def basis(self) -> np.ndarray:
        """float64 (dim, dim); rows are basis vectors, a point is ``i @ basis``."""
        return self._basis

    @property
    def gram(self) -> np.ndarray:
        """Gram matrix ``B B^T``."""
        return self._basis @ self._basis.T

    @property
    def volume(self) -> float:
        """Volume of a fundamental cell, ``|det B|`` (= V_Lambda of Sec. 3.5)."""
        sign, logdet = np.linalg.slogdet(self._basis)
        return float(np.exp(logdet))

    @property
    def is_product(self) -> bool:
        return len(self._segments) > 1 or self._segments[0].copies > 1

    def blocks(self) -> tuple:
        """The diagonal blocks of the basis, in coordinate order: a tuple of :class:`Block`
        (one for a named lattice; one per factor copy for a product, Sec. 4.1).

        Decoding, theta series and exact geometry work block by block; this is how code
        outside :mod:`lattices` reaches a block's spec (its exact constants, its theta series,
        its shell ranker: :class:`lattices.spec.LatticeSpec`) or a factor as a lattice
        (:meth:`Block.lattice`).
        """
        if self._blocks is None:
            self._blocks = tuple(
                Block(seg.spec, float(s), seg.offset + j * seg.width, seg.spec.name or self.name)
                for seg in self._segments for j, s in enumerate(seg.scales))
        return self._blocks

    def __repr__(self) -> str:
        return f"Lattice({self.name!r}, dim={self.dim})"

    @property
    def decoder(self) -> str:
        """The nearest-point decoder(s) :meth:`nearest` uses, in a few words: each block's
        :meth:`lattices.spec.LatticeSpec.decoder_description`, distinct ones joined by ``" + "``.

        >>> import lattices
        >>> lattices.get("e8").decoder
        'fast (Conway & Sloane 1982)'
        """
        names = []
        for seg in self._segments:
            d = seg.spec.decoder_description()
            if d not in names:
                names.append(d)
        return " + ".join(names)

    def _basis_inverse(self) -> np.ndarray:
        if self._inverse is None:
            self._inverse = np.linalg.inv(self._basis)
        return self._inverse

    # ------------------------------------------------------------ scalings
    def scaled(self, delta) -> "Lattice":
        """The lattice ``delta * Lambda`` (basis ``delta B``), with the same fast decoder."""
        delta = check_scale(delta, "delta")
        segs = [_Segment(s.spec, s.offset, s.scales * delta) for s in self._segments]
        return Lattice(_scaled_name(self.name, delta), segs)

    # ------------------------------------------------------------ coordinates
    def to_coordinates(self, points):
        """Real coefficients ``c`` with ``points = c @ basis`` (integers for lattice points).

        Raises ``ValueError`` for a point with a NaN or infinite coordinate.
        """
        if is_torch_tensor(points):
            import torch

            x = check_tensor_points(points, self.dim, "points")
            inv = torch.tensor(self._basis_inverse(), dtype=x.dtype, device=x.device)
            return x @ inv
        x = as_float_points(points, self.dim, "points")
        check_finite_points(x, "points")
        return x @ self._basis_inverse()

    def from_coordinates(self, coeffs):
        """Points ``coeffs @ basis`` from (integer or real) coefficient vectors.

        Raises ``ValueError`` for a NaN or infinite coefficient, and for integer
        coefficients beyond 2^53 in magnitude (not exactly representable in the
        float64 arithmetic of the product).
        """
        if is_torch_tensor(coeffs):
            import torch

            if not coeffs.is_floating_point():
                check_exact_integers(coeffs.detach().cpu().numpy(), "coeffs")
            c = check_tensor_points(coeffs, self.dim, "coeffs")
            B = torch.tensor(np.array(self._basis), dtype=c.dtype, device=c.device)
            return c @ B
        check_exact_integers(coeffs, "coeffs")
        c = as_float_points(coeffs, self.dim, "coeffs")
        check_finite_points(c, "coeffs")
        return c @ self._basis

    @property
    def coordinate_limits(self) -> np.ndarray:
        """float64 (dim,): the decodable range, ``|x_i| <= coordinate_limits[i]``.

        :meth:`nearest` and :meth:`nearest_coordinates` refuse (``ValueError``) a
        point with a coordinate beyond its limit, as they refuse NaN and inf.
        Within the limits the decoder's arithmetic is exact: every canonical
        coordinate is at most ``2^52 / 2^ceil(log2 w)`` (w the width of a D_n or
        A_n block; ``2^51`` for Z^n) in units of the block's scale, so that
        roundings, parity sums and +-1 moves are exact float64 integers; the
        integer coefficients then fit in 2^53.  See docs/decoders.md.
        """
        if self._limits is None:
            out = np.empty(self.dim)
            for i, seg in enumerate(self._segments):
                per_copy = np.array(seg.spec.coordinate_limits(seg.scales), dtype=np.float64)
                reduction = self._reduction(i)
                for j, red in enumerate(reduction or ()):
                    if red is not None:                  # exact reduction (see nearest)
                        per_copy[j] = min(per_copy[j], red[4])
                out[seg.offset:seg.offset + seg.size] = np.repeat(per_copy, seg.width)
            out.setflags(write=False)
            self._limits = out
        return self._limits

    # ------------------------------------------------------------ decoding
    def nearest_torch_unchecked(self, x):
        """:meth:`nearest` of a torch tensor through the eager torch decoders of the segments,
        on the tensor's device, without the range and finiteness check (which reads a flag back
        to the host and so synchronises a GPU stream on every call).  For device code whose input
        is known to be finite and far inside the range limits (e.g. a training step); any other
        caller should use :meth:`nearest`."""
        import torch

        flat = x.detach().reshape(-1, self.dim)
        n = flat.shape[0]
        pieces = []
        for seg in self._segments:
            x3 = flat[:, seg.offset:seg.offset + seg.size].reshape(n, seg.copies, seg.width)
            pieces.append(seg.spec.decode_torch(x3, seg.scales).reshape(n, seg.size))
        return torch.cat(pieces, dim=-1).reshape(x.shape)

    def nearest(self, x, out=None):
        """K_Lambda(x): the exact closest lattice point in L2 (paper, Sec. 2).

        Parameters
        ----------
        x : numpy array, array-like or torch tensor of shape ``(..., dim)``
            float32 or float64 (integers are decoded as float64).  Every
            coordinate must be finite and within :attr:`coordinate_limits`.
        out : optional array or tensor of the result's type, dtype, shape (and
            device), C-contiguous, that receives the result: ``x`` itself
            decodes in place.  Any other memory shared with ``x`` is an error
            of the caller.  If ``ValueError`` is raised, ``out`` may be partly
            written.

        Returns
        -------
        Same type, dtype, shape and device as ``x`` (no autograd history); ``out``
        when given.

        Raises
        ------
        ValueError
            If a coordinate is NaN, infinite or beyond :attr:`coordinate_limits`
            (the message names the first such point), or ``out`` does not fit.

        Notes
        -----
        Named lattices, their scalings and products use the fast algorithms of
        Conway & Sloane (1982) as one fused numba kernel per block on the CPU,
        and an eager torch path on other devices; ``from_basis`` lattices use
        the exact generic decoder (LLL + Schnorr–Euchner).  Ties are broken
        deterministically (see :mod:`lattices._kernels`).

        .. warning:: With float32 input the decoding is exact for the given
           float32 values, but the returned point is rounded to float32.
        """
        if is_torch_tensor(x):
            return self._nearest_torch(x, out=out)
        arr = as_float_points(x, self.dim)
        out_dtype = arr.dtype
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float32 if arr.dtype == np.float16 else np.float64)
        flat = arr.reshape(-1, self.dim)
        if out is not None:
            check_out(out, arr.shape, out_dtype, np.ndarray)
            if out.dtype == arr.dtype:
                self._decode_numpy(flat, out.reshape(-1, self.dim))
                return out
            out[...] = self.nearest(arr)
            return out
        res = np.empty(flat.shape, dtype=arr.dtype)
        self._decode_numpy(flat, res)
        return res.reshape(arr.shape).astype(out_dtype, copy=False)

    def _decode_numpy(self, flat, out):
        N = flat.shape[0]
        if N == 0:
            return
        for i, seg in enumerate(self._segments):
            sl = slice(seg.offset, seg.offset + seg.size)
            x3 = flat[:, sl].reshape(N, seg.copies, seg.width)
            o3 = out[:, sl].reshape(N, seg.copies, seg.width)
            reduction = self._reduction(i)
            far = None
            if reduction is not None:                      # before out= overwrites x
                far, over = _far_points(x3, reduction)
                if over >= 0:
                    raise self._range_error(flat[over], over, "x")
            bad = seg.spec.decode_numpy(x3, o3, seg.scales)
            if bad >= 0:
                raise self._range_error(flat[bad], bad, "x")
            if far:
                _decode_reduced(seg, far, reduction, o3)

    def _reduction(self, i):
        """How the far points of segment ``i`` are reduced before decoding (exactness at large
        magnitudes, see :meth:`nearest`), or None where no reduction is needed or possible.

        Not needed: a Conway–Sloane block in its canonical coordinates (no rotation) at a power-of-
        two scale, whose arithmetic is exact up to :attr:`coordinate_limits` as it is (Z^n, D_n,
        D_n*, E8 at scale 1).  Needed elsewhere: a rotation ``x T`` or a division by a scale that
        is not a power of two rounds, with an error growing with |x|; a coded (BW16, Leech) or
        generic decoder compares distances computed from |x|-sized numbers.  Possible where the
        block's lattice points are float64 numbers: its basis at its scale is dyadic
        (``B * 2^k`` integral, e.g. Z^n, D_n, E8 at integer scales, integer BW16/Leech copies);
        an irrational basis (the paper's A2, textbook BW16 and Leech) has no exact points to
        subtract.  A list, per copy, of None or ``(k, B * 2^k as int64, B^-1, threshold)``.
        """
        if i not in self._reductions:
            seg = self._segments[i]
            spec = seg.spec
            per_copy = None
            if not (isinstance(spec, FastSpec) and spec.T is None
                    and all(_is_power_of_two(s * spec.scale0) for s in seg.scales)):
                per_copy = [_dyadic_reduction(s * spec.basis) for s in seg.scales]
                if not any(r is not None for r in per_copy):
                    per_copy = None
            self._reductions[i] = per_copy
        return self._reductions[i]

    def _range_error(self, point, index, what) -> ValueError:
        """The error for a point that cannot be decoded (NaN/inf or beyond the limits)."""
        point = np.asarray(point, dtype=np.float64)
        if not np.isfinite(point).all():
            return ValueError(f"{what} has non-finite coordinates (NaN or inf): point {index} of "
                              f"the flattened input is {point.tolist()}")
        lim = self.coordinate_limits
        i = int(np.argmax(np.abs(point) > lim))
        return ValueError(
            f"{what} is beyond the decodable range of {self.name}: point {index} of the flattened "
            f"input has coordinate {i} = {float(point[i])!r}, but |x_{i}| must be at most "
            f"{lim[i]:.6g} (lattice.coordinate_limits; exact float64 arithmetic)")

    def nearest_eager(self, x, out=None):
        """:meth:`nearest` of a torch tensor through the eager torch decoders (the path of every
        device but the CPU) even on the CPU, range check included: for tests and benchmarks
        that compare or time that path where no other device is present."""
        return self._nearest_torch(x, force_eager=True, out=out)

    def _nearest_torch(self, x, force_eager: bool = False, out=None):
        import torch

        on_kernel = x.device.type == "cpu" and not force_eager
        x = check_tensor_points(x, self.dim, check_finite=False)  # checked with the range below
        x = x.detach()
        if out is not None:
            check_out(out, tuple(x.shape), x.dtype, torch.Tensor, device=x.device)
        if on_kernel:
            dt = x.dtype
            xn = x if dt in (torch.float32, torch.float64) else x.to(torch.float32)
            if out is not None and out.dtype == xn.dtype:
                self.nearest(xn.numpy(), out=out.detach().numpy())
                return out
            res = torch.from_numpy(self.nearest(xn.numpy())).to(dt)
            if out is not None:
                out.copy_(res)
                return out
            return res
        flat = x.reshape(-1, self.dim)
        lim = torch.tensor(np.array(self.coordinate_limits), dtype=torch.float64, device=x.device)
        ok = (flat.abs() <= lim).all(dim=-1)  # NaN fails; float32 compares in float64
        if not bool(ok.all()):
            bad = int(torch.nonzero(~ok)[0, 0])
            raise self._range_error(flat[bad].cpu().double().numpy(), bad, "x")
        N = flat.shape[0]
        pieces = []
        for seg in self._segments:
            x3 = flat[:, seg.offset:seg.offset + seg.size].reshape(N, seg.copies, seg.width)
            pieces.append(seg.spec.decode_torch(x3, seg.scales).reshape(N, seg.size))
        res = torch.cat(pieces, dim=-1).reshape(x.shape)
        if out is not None:
            out.copy_(res)
            return out
        return res

    def nearest_coordinates(self, x) -> np.ndarray:
        """Integer coefficients (int64 numpy array) of K_Lambda(x) w.r.t. ``basis``.

        Raises ``ValueError`` where :meth:`nearest` does (NaN, inf, a coordinate
        beyond :attr:`coordinate_limits`) and, as a guard, where a coefficient
        would exceed 2^53 (beyond it float64 holds no exact integer).
        """
        if is_torch_tensor(x):
            x = check_tensor_points(x, self.dim, check_finite=False)
            x = x.detach().to("cpu", copy=False).double().numpy()
        c = self.nearest(as_float_points(x, self.dim).astype(np.float64))
        coef = np.rint(c @ self._basis_inverse())
        big = ~(np.abs(coef) <= float(EXACT_INTEGER_LIMIT))
        if big.any():
            j = int(np.argmax(big.reshape(-1, self.dim).any(axis=-1)))
            raise ValueError(
                f"the coefficients of the nearest lattice point of point {j} of the flattened "
                f"input exceed 2^53 in magnitude (not exact in float64): "
                f"{coef.reshape(-1, self.dim)[j].tolist()}")
        return coef.astype(np.int64)

    # ------------------------------------------------------------ geometry
    def relevant_vectors(self) -> np.ndarray:
        """The Voronoi-relevant vectors (float64, (M, dim)), computed by Voronoi's criterion.

        A vector v is relevant iff +-v are the only shortest vectors of the coset
        v + 2 Lambda (Conway & Sloane, SPLAG ch. 2 / ch. 21).  For a product the
        relevant vectors are those of the factors (the cell is a product).
        """
        out = []
        for seg in self._segments:
            rv = relevant_coefficients(seg.spec).astype(np.float64) @ seg.spec.basis
            for j, s in enumerate(seg.scales):
                v = np.zeros((rv.shape[0], self.dim))
                start = seg.offset + j * seg.width
                v[:, start:start + seg.width] = s * rv
                out.append(v)
        return np.concatenate(out, axis=0)

    # ------------------------------------------------------------ exact geometry
    def theta_series(self, max_norm):
        """Exact integer counts of lattice vectors per squared norm 0..max_norm.

        See :func:`lattices.theta_exact.theta_series` (enumeration over the Gram matrix).
        """
        return theta_exact.theta_series(self, max_norm)

    def volume_exact(self):
        """The volume V = |det B| as a sympy expression (see :mod:`lattices.geometry`)."""
        return geometry.volume_exact(self)

    def second_moment_exact(self, method="auto"):
        """sigma^2 = (1/(m V)) int_{P_0} |u|^2 du (Sec. 3.5) as a sympy expression."""
        return geometry.second_moment_exact(self, method=method)

    def second_moment(self) -> float:
        """float(second_moment_exact()): the per-dimension second moment of the cell."""
        return float(self.second_moment_exact())

    def nsm_exact(self, method="auto"):
        """The normalized second moment G = sigma^2 / V^{2/m} (Sec. 3.5), exact (sympy)."""
        return geometry.nsm_exact(self, method=method)

    # ------------------------------------------------------------ dithers
    def sample_cell(self, n, rng=None) -> np.ndarray:
        """``n`` points uniform over the Voronoi cell P_0(Lambda), shape (n, dim), float64.

        Paper, Sec. 8.1: with V uniform on [0, 1)^m, ``W = V B`` is uniform over
        the fundamental parallelepiped and ``W - K_Lambda(W)`` is uniform over
        P_0(Lambda) (the parallelepiped tiles space, K maps each tile piece to
        a translate of the cell).  ``rng``: None, an int seed or a Generator.
        """
        n = check_count(n, "n")
        gen = as_generator(rng)
        W = gen.random((n, self.dim)) @ self._basis
        return W - self.nearest(W)

    def sample_cell_torch(self, n, generator=None, device=None, dtype=None):
        """Torch counterpart of :meth:`sample_cell`: samples made on ``device``.

        ``generator``: None (torch's global RNG), an int seed, or a
        ``torch.Generator`` (which must live on ``device``).
        """
        import torch

        n = check_count(n, "n")
        dtype = torch.float64 if dtype is None else dtype
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch dtype, got {dtype}")
        if device is None:
            device = generator.device if isinstance(generator, torch.Generator) else "cpu"
        device = torch.device(device)
        gen = as_torch_generator(generator, device)
        V = torch.rand((n, self.dim), generator=gen, device=device, dtype=dtype)
        W = V @ torch.tensor(np.array(self._basis), dtype=dtype, device=device)
        return W - self.nearest(W)


#: Points farther than this many basis-vector lengths from the origin are decoded through an
#: exact lattice vector (see :meth:`Lattice._reduction`): nearer points already decode with the
#: round-off of a point near the origin.
_REDUCE_BEYOND = 64.0


def _is_power_of_two(v: float) -> bool:
    import math

    return v > 0 and math.frexp(v)[0] == 0.5


def _dyadic_reduction(B):
    """``(k, B * 2^k as int64, B^-1, threshold, limit)`` for a dyadic basis ``B`` (``B * 2^k``
    integral for some k <= 16, entries below 2^30), else None: the data of :func:`_decode_reduced`.

    ``limit`` bounds |x_i| so that the reduction is exact: the lattice point ``u`` near x (within
    ``reach``, half the column sums of |B|) is a float64 number (``|u| 2^k < 2^53``; beyond, the
    points of the lattice are not all float64 numbers, so no decoder can return the closest one),
    and the int64 product ``c (B 2^k)`` cannot overflow (``|c_j| <= |x| sum_i |B^-1_ij| + 1/2``).
    """
    B = np.asarray(B, dtype=np.float64)
    for k in range(17):
        Bk = B * float(2 ** k)                     # exact: a power of two
        if np.abs(Bk).max() >= 2.0 ** 30:
            return None
        if np.all(Bk == np.rint(Bk)):
            Bint = np.rint(Bk).astype(np.int64)
            Binv = np.linalg.inv(B)
            reach = 0.5 * float(np.abs(B).sum(axis=0).max()) + 1.0
            a = np.abs(Binv).sum(axis=0)                       # |c_j| <= |x| a_j + 1/2
            absB = np.abs(Bint).astype(np.float64)
            int_limit = (2.0 ** 61 - 0.5 * absB.sum(axis=0).max()) / float((a @ absB).max())
            limit = min(2.0 ** (53 - k) * (1 - 2.0 ** -40) - reach, int_limit)
            return (k, Bint, Binv, _REDUCE_BEYOND * float(np.abs(B).max()), limit)
    return None


def _indices_beyond(x2, threshold):
    """Indices of the rows of ``x2`` (N, m) with a coordinate beyond ``threshold`` in magnitude:
    one pass, no temporaries (the check costs about what reading the input costs)."""
    from ._kernels import indices_beyond

    return indices_beyond(x2, float(threshold))


def _far_points(x3, reduction):
    """``([(copy j, indices, float64 copies of those points)], first)``: the points of ``x3``
    (N, r, m) with a coordinate of copy j beyond its reduction threshold, and the index of the
    first point beyond a reduction's exact limit (-1 if none; NaN and inf are left to the
    decoder's range check)."""
    far, first = [], -1
    for j, red in enumerate(reduction):
        if red is None:
            continue
        xj = x3[:, j, :]
        idx = _indices_beyond(xj, red[3])
        if idx.size:
            size = np.abs(xj[idx]).max(axis=1)
            over = idx[size > red[4]]
            if over.size:
                first = int(over[0]) if first < 0 else min(first, int(over[0]))
            far.append((j, idx, xj[idx].astype(np.float64)))
    return far, first


def _decode_reduced(seg, far, reduction, o3):
    """Decode the far points again, exactly: ``K(x) = K(x - u) + u`` for the lattice point
    ``u = round(x B^-1) B`` near x, computed in integers (``u * 2^k = c (B 2^k)``, int64, exact
    while ``|c| |B 2^k| < 2^62``), so that ``x - u`` is exact (or carries the round-off of a
    point near the origin) and the decoder sees a small target.  Points whose ``u`` would not be
    exact keep the decoder's own result."""
    for j, idx, xs in far:
        k, Bint, Binv = reduction[j][:3]
        c = np.rint(xs @ Binv)
        bound = np.abs(c) @ np.abs(Bint).astype(np.float64)      # >= every partial sum
        ok = (bound < 2.0 ** 62).all(axis=1)                    # always, within the limits
        u_int = c[ok].astype(np.int64) @ Bint
        ok2 = (np.abs(u_int) < 2 ** 53).all(axis=1)            # exact as float64
        rows = np.flatnonzero(ok)[ok2]
        if rows.size == 0:
            continue
        u = u_int[ok2].astype(np.float64) * (2.0 ** -k)
        r = xs[rows] - u
        res = np.empty_like(r)
        m = r.shape[1]
        seg.spec.decode_numpy(r.reshape(-1, 1, m), res.reshape(-1, 1, m), seg.scales[j:j + 1])
        o3[idx[rows], j, :] = res + u


def _scaled_name(name: str, delta: float) -> str:
    """``0.5*e8``; a name holding a product is parenthesized: ``0.5*(a2 x e8)``."""
    return f"{delta:g}*({name})" if " " in name else f"{delta:g}*{name}"


def make_lattice(name: str, spec, scale: float = 1.0) -> Lattice:
    """A one-segment lattice (used by the registry and by ``from_basis``)."""
    if isinstance(spec, FastSpec) and not spec.name:
        spec.name = name
    return Lattice(name, [_Segment(spec, 0, np.array([float(scale)]))])


def product(factors, scales=None) -> Lattice:
    """The product lattice with block-diagonal basis ``diag(D_1 B_1, D_2 B_2, ...)`` (Sec. 4.1).

    Parameters
    ----------
    factors : sequence of :class:`Lattice` or names understood by :func:`lattices.get`
    scales : sequence of positive floats, one per factor (default all 1)

    Consecutive factors that share a decoder are merged into one segment, so
    ``product([a2] * 16, scales)`` is decoded by a single fused kernel call.
    """
    if isinstance(factors, (Lattice, str)) or not hasattr(factors, "__iter__"):
        raise TypeError(f"factors must be a sequence of lattices or names, got {factors!r}")
    factors = [get(f) if isinstance(f, str) else f for f in factors]
    if not factors:
        raise ValueError("product needs at least one factor, got an empty sequence")
    for f in factors:
        if not isinstance(f, Lattice):
            raise TypeError(f"each factor must be a Lattice or a lattice name, got {f!r}")
    if scales is None:
        scales = [1.0] * len(factors)
    if is_torch_tensor(scales):
        scales = scales.detach().cpu().tolist()
    scales = list(np.asarray(scales, dtype=object).ravel()) if not isinstance(scales, list) else scales
    if len(scales) != len(factors):
        raise ValueError(f"scales must have one entry per factor ({len(factors)}), "
                         f"got {len(scales)}: {scales!r}")
    scales = [check_scale(s, f"scales[{i}]") for i, s in enumerate(scales)]
    segs = []
    offset = 0
    for f, s in zip(factors, scales):
        for seg in f._segments:
            new_scales = seg.scales * s
            if segs and segs[-1].spec is seg.spec:
                last = segs.pop()
                segs.append(_Segment(last.spec, last.offset, np.concatenate([last.scales, new_scales])))
            else:
                segs.append(_Segment(seg.spec, offset, new_scales))
            offset += seg.size
    return Lattice(_product_name(factors, scales), segs)


def _product_name(factors, scales) -> str:
    parts = []
    for f, s in zip(factors, scales):
        parts.append(f.name if s == 1.0 else _scaled_name(f.name, s))
    # compress runs: a2 x a2 x a2 -> a2^3
    out = []
    i = 0
    while i < len(parts):
        j = i
        while j < len(parts) and parts[j] == parts[i]:
            j += 1
        out.append(parts[i] if j - i == 1 else f"{parts[i]}^{j - i}")
        i = j
    return " x ".join(out)


def from_basis(B, name: str | None = None, like: str | None = None) -> Lattice:
    """The lattice generated by the rows of any full-rank basis ``B``.

    Parameters
    ----------
    B : (n, n) array, rows are basis vectors
    name : optional display name
    like : optional name of a named lattice (``"e8"``, ``"a2"``, ...).  ``B`` must
        then be a rotated / reflected / uniformly scaled copy of that lattice's
        basis (``B B^T = c^2 B_named B_named^T`` for one c > 0), and the fast
        Conway–Sloane decoder is used through the isometry.  A mismatch raises
        ``ValueError``.

    Without ``like`` the lattice is decoded by the exact generic algorithm (LLL
    reduction, then Schnorr–Euchner enumeration; Agrell, Eriksson, Vardy &
    Zeger 2002), also the independent reference of the tests.

    >>> import numpy as np, lattices
    >>> c, s = np.cos(0.3), np.sin(0.3)
    >>> rot = lattices.get("a2").basis @ np.array([[c, -s], [s, c]])
    >>> fast = lattices.from_basis(rot, like="a2")
    >>> x = np.array([[0.2, 0.9]])
    >>> bool(np.allclose(fast.nearest(x), lattices.from_basis(rot).nearest(x)))
    True
    """
    B = check_basis(B)
    if like is None:
        return make_lattice(name or f"from_basis({B.shape[0]})", GenericSpec(B))
    ref = get(like)
    if ref.is_product:
        raise ValueError(f"like={like!r} must name a single named lattice")
    spec = ref.blocks()[0].spec.rebased(B)
    if spec is None:
        raise ValueError(
            f"basis is not a rotated/scaled copy of the {ref.name} basis: its Gram matrix "
            f"{np.round(B @ B.T, 6).tolist()} is not a positive multiple of "
            f"{np.round(ref.gram, 6).tolist()} (use like=None for the generic decoder)")
    return make_lattice(name or f"from_basis({B.shape[0]}, like={ref.name})", spec)


def parse(text, scale=1.0):
    """A lattice from a short spec: a name (``e8``), ``name^r`` for the r-fold product
    (``a2^16``), or factors joined by ``x`` (``a2xz``, ``e8 x d4*``); scaled by ``scale``.

    >>> parse("a2^3").dim, parse("e8 x z").dim
    (6, 9)
    """
    from ._registry import MAX_DIMENSION, MAX_DIMENSION_WHY
    from .cli import check_at_most

    if not isinstance(text, str):
        raise TypeError(f"lattice spec must be a string, got {text!r}")
    check_at_most(len(text), 10_000, "lattice spec length", "characters")
    factors = []
    dim = 0
    for tok in text.strip().lower().replace(" ", "").split("x"):
        name, _, r = tok.partition("^")
        if _ and (not r.isdigit() or int(r) < 1):
            raise ValueError(f"in lattice spec {text!r} the power must be a positive integer, "
                             f"got {r!r}")
        power = int(r) if _ else 1
        # the size rule before anything is built: the power, then the total dimension
        check_at_most(power, MAX_DIMENSION, f"in lattice spec {text!r} the power", MAX_DIMENSION_WHY)
        lat = get(name)
        dim += lat.dim * power
        check_at_most(dim, MAX_DIMENSION, f"lattice spec {text!r}: dimension", MAX_DIMENSION_WHY)
        factors += [lat] * power
    lat = factors[0] if len(factors) == 1 else product(factors)
    return lat if scale == 1.0 else lat.scaled(scale)
