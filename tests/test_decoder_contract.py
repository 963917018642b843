"""The decoder contract: one shared suite run for every named lattice.

For each lattice, hypothesis draws batches of points (random, near ties,
Voronoi-vertex-like multi-way ties, deep holes, magnitudes up to 1e6, scales
down to 1e-6) and checks:

* the output is a lattice point (integer coordinates, to float64 round-off);
* optimality certificate: no Voronoi-relevant vector v gives |x - c - v| < |x - c|
  (Voronoi's theorem makes this a proof that c is a closest point);
* K(x + v) = K(x) + v for lattice vectors v (up to ties);
* the fast decoder agrees with the exact generic decoder (up to ties);
* numpy, torch (fused kernel) and the eager torch path agree;
* the numerical range: a coordinate beyond ``coordinate_limits`` (or NaN/inf)
  is refused with ``ValueError`` by every entry point, and points just inside
  the limits decode, exactly where the lattice needs no rotation.

"Up to ties" means: where the two points differ, both are at the same distance
from x (relative tolerance 1e-9 of the squared distance, i.e. float64 round-off
amplified by the coordinate transform).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import lattices
from lattices import geometry

pytestmark = pytest.mark.theorem

#: Relative tolerance on squared distances: float64 round-off (2.2e-16) times
#: the condition of the basis transforms and |x|^2 / d^2 for large |x|.
RTOL = 1e-9


def _sqdist(x, c):
    return ((np.asarray(x, np.float64) - np.asarray(c, np.float64)) ** 2).sum(-1)


def assert_optimal_or_tie(x, c_test, c_ref, scale2):
    """c_test is at least as close to x as c_ref (and so equal to it up to ties)."""
    d_test = _sqdist(x, c_test)
    d_ref = _sqdist(x, c_ref)
    tol = RTOL * (scale2 + (np.asarray(x, np.float64) ** 2).sum(-1))
    worse = d_test > d_ref + tol
    assert not worse.any(), (
        f"{worse.sum()} points decoded to a farther point, e.g. x={x[worse][0]}, "
        f"got {c_test[worse][0]} (d2={d_test[worse][0]}), reference {c_ref[worse][0]} "
        f"(d2={d_ref[worse][0]})")


def assert_lattice_points(lat, c):
    coeff = lat.to_coordinates(np.asarray(c, np.float64))
    mag = 1.0 + np.abs(coeff).max()
    err = np.abs(coeff - np.rint(coeff)).max()
    assert err < 1e-9 * mag, f"output is not a lattice point: coordinate error {err}"


def min_neighbour_sqdist(x, c, R, chunk=4096):
    """min over relevant vectors v of |x - c - v|^2, in chunks of R (BW16 has 65760)."""
    best = np.full(x.shape[0], np.inf)
    for i in range(0, R.shape[0], chunk):
        cand = c[:, None, :] + R[None, i:i + chunk, :]  # (n, chunk, dim)
        best = np.minimum(best, _sqdist(x[:, None, :], cand).min(1))
    return best


def points(lat, rng, kind, n=64, R=None):
    """A batch of test points of the given kind, shape (n, dim); ``R``: the lattice vectors
    the tie points are built from (default: the Voronoi-relevant vectors)."""
    dim = lat.dim
    scale = lat.volume ** (1.0 / dim)
    R = lat.relevant_vectors() if R is None else R
    base = lat.from_coordinates(rng.integers(-3, 4, size=(n, dim)))
    if kind == "random":
        return rng.normal(scale=3 * scale, size=(n, dim))
    if kind == "near_tie":  # midpoints between neighbours, nudged by ~1e-12 relative
        v = R[rng.integers(len(R), size=n)]
        return base + v / 2 + rng.normal(scale=1e-12 * scale, size=(n, dim))
    if kind == "exact_tie":
        v = R[rng.integers(len(R), size=n)]
        return base + v / 2
    if kind == "vertex":  # points equidistant from 0 and dim relevant vectors
        out = []
        for _ in range(n):
            V = _independent_subset(R, rng)
            out.append(np.linalg.solve(2 * V, (V ** 2).sum(-1)))
        return base + np.array(out)
    if kind == "large":
        return rng.normal(scale=1e6, size=(n, dim))
    raise AssertionError(kind)


def _independent_subset(R, rng):
    """dim linearly independent rows of R, chosen greedily in random order."""
    dim = R.shape[1]
    chosen, Q = [], np.zeros((0, dim))
    for i in rng.permutation(len(R)):
        r = R[i] - Q.T @ (Q @ R[i])
        if np.linalg.norm(r) > 1e-6 * np.linalg.norm(R[i]):
            chosen.append(R[i])
            Q = np.vstack([Q, r / np.linalg.norm(r)])
            if len(chosen) == dim:
                return np.array(chosen)
    raise AssertionError("relevant vectors do not span the space")


KINDS = ["random", "near_tie", "exact_tie", "vertex", "large"]


class DecoderContract:
    """Subclass with ``name`` set to a lattice name (or override ``make``)."""

    name: str = ""
    deep_holes: list = []

    def make(self):
        return lattices.get(self.name)

    def tie_vectors(self, lat):
        """Lattice vectors the tie and vertex points are built from (the relevant vectors)."""
        return lat.relevant_vectors()

    def check_certificate(self, lat, x, c, scale2):
        """Optimality certificate over all Voronoi-relevant vectors (Voronoi's theorem)."""
        best_neighbour = min_neighbour_sqdist(x, c, lat.relevant_vectors())
        tol = RTOL * (scale2 + (x ** 2).sum(-1))
        assert (best_neighbour >= _sqdist(x, c) - tol).all(), "a relevant vector improves c"

    @given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(KINDS),
           log_scale=st.sampled_from([0.0, 0.0, -6.0, 3.0]))
    def test_contract(self, seed, kind, log_scale):
        self.check_contract(seed, kind, log_scale)

    def check_contract(self, seed, kind, log_scale):
        """The whole contract for one batch (a subclass may re-draw it with other settings)."""
        rng = np.random.default_rng(seed)
        lat = self.make()
        if log_scale:
            lat = lat.scaled(10.0 ** log_scale)
        x = points(lat, rng, kind, R=self.tie_vectors(lat))
        c = lat.nearest(x)
        assert c.shape == x.shape and c.dtype == x.dtype
        assert_lattice_points(lat, c)
        scale2 = lat.volume ** (2.0 / lat.dim)
        self.check_certificate(lat, x, c, scale2)
        # translation: K(x + v) = K(x) + v
        v = lat.from_coordinates(rng.integers(-5, 6, size=x.shape))
        assert_optimal_or_tie(x + v, lat.nearest(x + v), c + v, scale2)
        assert_optimal_or_tie(x, lat.nearest(x + v) - v, c, scale2)
        # the exact generic decoder on the same basis
        ref = lattices.from_basis(lat.basis).nearest(x)
        assert_optimal_or_tie(x, c, ref, scale2)
        assert_optimal_or_tie(x, ref, c, scale2)
        # numpy == torch (fused kernel) exactly; the eager torch path up to ties
        ct = lat.nearest(torch.from_numpy(x))
        assert isinstance(ct, torch.Tensor) and ct.dtype == torch.float64
        np.testing.assert_array_equal(ct.numpy(), c)
        ce = lat._nearest_torch(torch.from_numpy(x), force_eager=True).numpy()
        assert_optimal_or_tie(x, ce, c, scale2)
        if kind in ("random", "large"):  # no ties: the points themselves agree
            np.testing.assert_allclose(ce, c, rtol=0, atol=1e-9 * (1 + np.abs(x).max()))

    def test_deterministic(self):
        lat = self.make()
        x = points(lat, np.random.default_rng(1), "exact_tie", n=256, R=self.tie_vectors(lat))
        np.testing.assert_array_equal(lat.nearest(x), lat.nearest(x.copy()))

    def test_float32(self):
        lat = self.make()
        x = np.random.default_rng(2).normal(size=(500, lat.dim)).astype(np.float32)
        c32 = lat.nearest(x)
        assert c32.dtype == np.float32
        c64 = lat.nearest(x.astype(np.float64))
        np.testing.assert_allclose(c32, c64.astype(np.float32), rtol=0, atol=1e-6)
        t = lat.nearest(torch.from_numpy(x))
        assert t.dtype == torch.float32
        np.testing.assert_array_equal(t.numpy(), c32)

    def test_shapes(self):
        lat = self.make()
        rng = np.random.default_rng(3)
        x = rng.normal(size=(2, 3, 5, lat.dim))
        c = lat.nearest(x)
        assert c.shape == x.shape
        np.testing.assert_array_equal(c.reshape(-1, lat.dim), lat.nearest(x.reshape(-1, lat.dim)))
        single = lat.nearest(x[0, 0, 0])
        assert single.shape == (lat.dim,)
        np.testing.assert_array_equal(single, c[0, 0, 0])
        assert lat.nearest(np.empty((0, lat.dim))).shape == (0, lat.dim)
        # non-contiguous input
        wide = rng.normal(size=(7, 2 * lat.dim))[:, ::2]
        np.testing.assert_array_equal(lat.nearest(wide), lat.nearest(np.ascontiguousarray(wide)))

    def test_deep_holes(self):
        """Deep holes (the farthest Voronoi vertex, computed exactly by lattices.geometry, and
        the holes of SPLAG ch. 4 where listed) decode to a point at the covering radius."""
        lat = self.make()
        x, R2 = geometry.deep_hole(lat)
        R2 = float(R2)
        assert abs(R2 - float(geometry.covering_radius(lat)) ** 2) < 1e-12 * (1 + R2)
        for hole, radius2 in [(x, R2)] + list(self.deep_holes):
            assert abs(radius2 - R2) < 1e-12 * (1 + R2)  # a listed hole is a deep hole
            hx = np.array(hole, dtype=float)[None]
            c = lat.nearest(hx)
            assert_lattice_points(lat, c)
            assert abs(_sqdist(hx, c)[0] - R2) < 1e-9 * (1 + R2), (hole, c)

    def test_range_refused(self):
        """Beyond the documented range (or NaN/inf): ValueError from every decoding entry point."""
        lat = self.make()
        lim = lat.coordinate_limits
        assert lim.shape == (lat.dim,) and (lim > 0).all() and np.isfinite(lim).all()
        rng = np.random.default_rng(11)
        x = rng.normal(size=(300, lat.dim))
        i, j = 257, int(rng.integers(lat.dim))  # one bad point, not in the first chunk
        for value, match in [(1.0000001 * lim[j], "decodable range"), (-1e300, "decodable range"),
                             (np.nan, "non-finite"), (-np.inf, "non-finite")]:
            bad = x.copy()
            bad[i, j] = value
            entry_points = {
                "numpy": lambda: lat.nearest(bad),
                "float32": lambda: lat.nearest(bad.astype(np.float32)),
                "torch": lambda: lat.nearest(torch.from_numpy(bad)),
                "eager": lambda: lat._nearest_torch(torch.from_numpy(bad), force_eager=True),
                "coordinates": lambda: lat.nearest_coordinates(bad),
                "coordinates-torch": lambda: lat.nearest_coordinates(torch.from_numpy(bad)),
            }
            for where, call in entry_points.items():
                if where == "float32" and abs(value) > float(np.finfo(np.float32).max):
                    continue
                with pytest.raises(ValueError, match=match) as info:
                    call()
                assert f"point {i} " in str(info.value), (where, str(info.value))

    def test_range_accepted(self):
        """Points just inside the limits decode to lattice points with int64 coefficients.
        Where the canonical coordinates are the user's (no rotation, scale 1) the decoder is
        exact far out: K(x + v) = K(x) + v bit for bit for a lattice vector v of size 2^44."""
        lat = self.make()
        lim = lat.coordinate_limits
        rng = np.random.default_rng(12)
        x = lim * (1 - 1e-9) * rng.choice([-1.0, 1.0], size=(50, lat.dim))
        c = lat.nearest(x)
        k = lat.nearest_coordinates(x)
        assert k.dtype == np.int64 and np.isfinite(c).all()
        np.testing.assert_allclose(k.astype(np.float64) @ lat.basis, c, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(lat.nearest(torch.from_numpy(x)).numpy(), c)
        if all(getattr(seg.spec, "T", 0) is None and (seg.scales * seg.spec.scale0 == 1).all()
               for seg in lat._segments):
            # dyadic points (odd multiples of 2^-7, never a rounding tie) plus a
            # vector of 2 Lambda (in the zero coset, so that ties between cosets
            # keep their order) with coordinates near 2^44: every sum is exact
            y = (2 * rng.integers(-300, 300, size=(200, lat.dim)) + 1) / 128.0
            kv = np.rint(lat.to_coordinates(2.0**43 * rng.uniform(-1, 1, size=lat.dim)))
            v = 2 * lat.from_coordinates(kv[None, :])
            assert (np.abs(v) < 2.0**45).all() and (np.abs(v) < lim).all()
            shifted = y + v
            assert np.array_equal(shifted - v, y), "test points must be exact"
            np.testing.assert_array_equal(lat.nearest(shifted), lat.nearest(y) + v)

    def test_dither_decodes_to_origin(self):
        lat = self.make()
        u = lat.sample_cell(4000, rng=5)
        assert u.shape == (4000, lat.dim)
        np.testing.assert_array_equal(lat.nearest(u), np.zeros_like(u))
        ut = lat.sample_cell_torch(2000, generator=5)
        assert ut.shape == (2000, lat.dim) and ut.dtype == torch.float64
        assert (lat.nearest(ut) == 0).all()


class TestZ(DecoderContract):
    name = "z"
    deep_holes = [([0.5], 0.25)]


class TestZ3(DecoderContract):
    name = "z3"
    deep_holes = [([0.5, 0.5, 0.5], 0.75)]


class TestA1(DecoderContract):
    name = "a1"


class TestA2Paper(DecoderContract):
    name = "a2"
    # the centroid of the triangle 0, (0, 1), (sqrt(3)/2, 1/2): circumradius 1/sqrt(3)
    deep_holes = [([np.sqrt(3) / 6, 0.5], 1 / 3)]


class TestA3(DecoderContract):
    name = "a3"


class TestA4(DecoderContract):
    name = "a4"


class TestA1Dual(DecoderContract):
    name = "a1*"


class TestA3Dual(DecoderContract):
    name = "a3*"


class TestA4Dual(DecoderContract):
    name = "a4*"


class TestD2(DecoderContract):
    name = "d2"


class TestD3(DecoderContract):
    name = "d3"


class TestD4(DecoderContract):
    name = "d4"
    # covering radius 1: (1, 0, 0, 0) and (1/2, 1/2, 1/2, 1/2) (SPLAG ch. 4 Sec. 7.3)
    deep_holes = [([1, 0, 0, 0], 1.0), ([0.5, 0.5, 0.5, 0.5], 1.0)]


class TestD5(DecoderContract):
    name = "d5"


class TestD4Dual(DecoderContract):
    name = "d4*"


class TestD5Dual(DecoderContract):
    name = "d5*"


class TestE6(DecoderContract):
    name = "e6"


class TestE6Dual(DecoderContract):
    name = "e6*"


class TestE7(DecoderContract):
    name = "e7"


class TestE7Dual(DecoderContract):
    name = "e7*"


class TestE8(DecoderContract):
    name = "e8"
    # covering radius 1 (SPLAG ch. 4 Sec. 8.1): deep holes (1, 0^7) and (1/2^4, 0^4)...
    deep_holes = [([1, 0, 0, 0, 0, 0, 0, 0], 1.0), ([0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0], 1.0)]


class TestProductA2(DecoderContract):
    """A product of unequally scaled copies, as the paper's latent layers use (Sec. 4.1)."""

    def make(self):
        return lattices.product([lattices.get("a2")] * 3, scales=[0.5, 1.0, 2.0])


class TestProductMixed(DecoderContract):
    def make(self):
        return lattices.product([lattices.get("e8"), lattices.get("d4*"), lattices.get("z")],
                                scales=[0.7, 1.3, 0.2])


class TestFromBasisSkewed(DecoderContract):
    """A generic lattice (the generic decoder against itself on another basis)."""

    def make(self):
        U = np.array([[1, 1, 0], [2, 3, 1], [1, 2, 2]], dtype=float)  # det 1
        B = np.array([[1.0, 0.1, 0.0], [0.3, 1.2, 0.0], [0.2, -0.4, 0.9]])
        return lattices.from_basis(U @ B)


def _rotation(dim, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


class TestRotatedE8Fast(DecoderContract):
    """A rotated, scaled E8 basis keeps the fast decoder (``from_basis(..., like="e8")``)."""

    def make(self):
        return lattices.from_basis(1.7 * lattices.get("e8").basis @ _rotation(8, 0), like="e8")


class TestRotatedA2Fast(DecoderContract):
    def make(self):
        return lattices.from_basis(0.3 * lattices.get("a2").basis @ _rotation(2, 1), like="a2")


class TestReflectedE7DualFast(DecoderContract):
    def make(self):
        R = _rotation(7, 2)
        R[:, 0] *= -1  # an improper isometry
        return lattices.from_basis(lattices.get("e7*").basis @ R, like="e7*")
