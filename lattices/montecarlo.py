"""Monte Carlo second moment and normalized second moment (NSM) of a lattice cell.

For a lattice of dimension m with cell volume V (paper, Sec. 3.5)

.. math::

    \\sigma^2 = \\frac{1}{mV} \\int_{P_0} \\lVert u \\rVert^2 \\, du
              = \\frac{E \\lVert U \\rVert^2}{m},
    \\qquad G = \\frac{\\sigma^2}{V^{2/m}},

with U uniform on the Voronoi cell P_0.  U is drawn as in Sec. 8.1: with
``V ~ U[0, 1)^m``, ``W = V B`` is uniform on the fundamental parallelepiped and
``U = W - K(W)`` is uniform on P_0.

Two paths compute the same estimator:

* **fused** (every segment of the lattice has a fast Conway–Sloane spec): one
  numba kernel per segment, parallel over fixed chunks of ``CHUNK`` samples,
  draws the uniforms in registers (xoshiro256**), forms ``y = V S`` directly in
  the canonical coordinates of :mod:`lattices._spec` (``S`` = canonical basis;
  the user basis is ``s_0 S T^T`` with ``T`` an isometry, so
  ``|U|^2 = s^2 |y - K(y)|^2``), decodes with the inline base decoders of
  :mod:`lattices._kernels` (same coset logic as ``decode_blocks``) and
  accumulates moment sums: nothing of size ``n_samples`` is written.
* **numpy** (any ``from_basis`` lattice): batches of ``Lattice.sample_cell``
  with a per-chunk numpy Generator.

A product lattice's cell is the product of the blocks' cells, so the blocks of
U are independent, each uniform on its block's (scaled) cell; the fused path
runs each segment (r copies of one block) on its own random stream and adds the
segments' means and variances (exact for independent blocks):
``E|U|^2 = sum_blocks E|U_b|^2``, i.e. sigma^2 is the dimension-weighted mean of
the blocks' sigma^2.

Control variate (unbiased, on by default)
-----------------------------------------
The ball ``B_rho`` of radius rho = (packing radius) = sqrt(min norm)/2 lies inside
P_0 (for ``|u| < rho`` and lattice ``v != 0``: ``|u - v| >= |v| - |u| >= 2 rho - |u|
> |u|``).  Hence, with ``p = vol(B_rho)/V`` and ``X = |U|^2`` for one block,

.. math::

    E[\\min(X, \\rho^2)] = \\rho^2 \\Big(1 - \\frac{2p}{m+2}\\Big), \\qquad
    P(X < \\rho^2) = p

exactly (``int_{B_rho} |u|^2 du = m/(m+2) rho^2 vol(B_rho)``), and

.. math::

    Y = (X - \\rho^2)_+ + E[\\min(X, \\rho^2)] - \\gamma\\,(1\\{X < \\rho^2\\} - p)

has ``E Y = E X`` for every constant gamma (it is ``X`` minus two zero-mean
controls, the first with coefficient 1: Y has no variance inside the ball).
gamma is the regression coefficient estimated on an **independent pilot run**
(its own random stream, not reused), so it is a constant for the main samples:
the estimate is exactly unbiased and the standard error, the sample standard
deviation of the i.i.d. Y_i over sqrt(n), is the honest one.  rho is shrunk by a
relative 1e-9 so that round-off in the minimal norm cannot push the ball out of
the cell (any smaller ball keeps the identities exact).  The pilot
(``min(PILOT_SAMPLES, max(CHUNK // 4, n // 4))`` samples per segment) comes on
top of ``n_samples`` and is included in the timings.  Variance reduction
(same samples): about 4x for E8, 14x for D4, 200x for A2; for Z the cell *is* the
ball and Y is constant.  ``control_variate=False`` gives plain Monte Carlo.

Reproducibility
---------------
The samples are cut into fixed chunks of ``CHUNK`` samples; chunk ``c`` of
segment ``s`` draws from its own xoshiro256** stream seeded by splitmix64 from
``(seed, s, purpose, c)`` (numpy path: ``SeedSequence(seed, spawn_key=(s,
purpose, c))``), and the per-chunk moment sums are combined in chunk order
(Chan, Golub & LeVeque's pairwise update of means and co-moments).  The result
is therefore bit-for-bit a function of ``(lattice, n_samples, seed,
control_variate)`` only: independent of the number of numba threads and of
``batch_size``.

References
----------
J. H. Conway, N. J. A. Sloane, "Voronoi regions of lattices, second moments of
polytopes, and quantization", IEEE Trans. IT-28(2), 1982; SPLAG ch. 2 and 21.
D. Blackman, S. Vigna, "Scrambled linear pseudorandom number generators",
ACM TOMS 47(4), 2021 (xoshiro256**, splitmix64).
T. F. Chan, G. H. Golub, R. J. LeVeque, "Updating formulae and a pairwise
algorithm for computing sample variances", COMPSTAT 1982.

>>> import lattices
>>> from lattices.montecarlo import nsm_monte_carlo
>>> est, se = nsm_monte_carlo(lattices.get("e8"), 200_000, rng=1)
>>> abs(est - 929 / 12960) < 4 * se, se < 1e-4   # G(E8) = 929/12960 (SPLAG Table 2.3)
(True, True)
"""
from __future__ import annotations

import math
import numbers
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
from numba import njit, prange

from ._kernels import closest_in_cosets
from ._spec import FAMILIES, FastSpec, min_norm2

__all__ = ["nsm_monte_carlo", "second_moment_monte_carlo", "monte_carlo", "MonteCarloResult",
           "CHUNK"]

#: Samples per random stream / per parallel work item.  Fixed: the results
#: depend on it, so changing it changes the numbers of a given seed.
CHUNK = 1 << 14

#: Samples of the independent pilot run that fixes the control-variate coefficient.
PILOT_SAMPLES = 1 << 16

#: ``progress=None`` shows a bar from this many samples on (and only on a TTY).
PROGRESS_THRESHOLD = 10_000_000

_DEFAULT_BATCH_FUSED = 1 << 22
_DEFAULT_BATCH_NUMPY = 1 << 17

_PURPOSE_MAIN = 0
_PURPOSE_PILOT = 1

_REGIONS = ("voronoi", "parallelepiped")

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15

# moment layout of the per-chunk sums: count, then first moments of (X, A, B),
# then the 6 second-order sums XX, AA, BB, XA, XB, AB (all shifted by K)
_NSTAT = 10


# --------------------------------------------------------------------------- RNG
def _mix64_py(z: int) -> int:
    """splitmix64's output function (a bijection of 64-bit words), in Python."""
    z &= _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _stream_key(seed: int, segment: int, purpose: int) -> int:
    """The 64-bit key of the streams of one segment and purpose (main / pilot)."""
    k = _mix64_py(seed + _GOLDEN)
    k = _mix64_py(k ^ _mix64_py((segment << 8 | purpose) + 2 * _GOLDEN))
    return k


@njit(cache=True, inline="always")
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _seed_chunk(key, chunk):
    """xoshiro256** state of stream ``chunk`` under ``key``: four splitmix64 outputs
    from the start ``mix(key ^ mix(chunk + golden))`` (Blackman & Vigna's seeding)."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    x = _mix64(key ^ _mix64(np.uint64(chunk) + golden))
    x = x + golden
    s0 = _mix64(x)
    x = x + golden
    s1 = _mix64(x)
    x = x + golden
    s2 = _mix64(x)
    x = x + golden
    s3 = _mix64(x)
    return s0, s1, s2, s3


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True, inline="always")
def _xoshiro_next(s0, s1, s2, s3):
    """One step of xoshiro256**: returns the new state and a 64-bit output."""
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 = s2 ^ s0
    s3 = s3 ^ s1
    s1 = s1 ^ s2
    s0 = s0 ^ s3
    s2 = s2 ^ t
    s3 = _rotl(s3, 45)
    return s0, s1, s2, s3, result


@njit(cache=True)
def _raw_from_state(s0, s1, s2, s3, n):
    """The first ``n`` 64-bit outputs of xoshiro256** from the state ``(s0, s1, s2, s3)``."""
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        s0, s1, s2, s3, r = _xoshiro_next(s0, s1, s2, s3)
        out[i] = r
    return out


@njit(cache=True)
def _raw_stream(key, chunk, n):
    """The first ``n`` 64-bit outputs of stream ``chunk`` under ``key`` (the kernel's draws)."""
    s0, s1, s2, s3 = _seed_chunk(key, chunk)
    return _raw_from_state(s0, s1, s2, s3, n)


# --------------------------------------------------------------------------- kernels
@njit(cache=True, parallel=True)
def _fused_chunks(key, chunk0, n_total, m, S_ptr, S_row, S_val, center, scale2, family, w, nb,
                  glue, rho2, p, voronoi, shift_x, out):
    """Moment sums of ``out.shape[0]`` chunks (global indices ``chunk0 + c``).

    Per sample, over the r copies j (unit-scale canonical distance d_j):
    ``X = sum_j scale2[j] d_j``, ``A = sum_j scale2[j] (d_j - rho2)_+``,
    ``B = sum_j scale2[j] (1{d_j < rho2} - p)``.  ``out[c]`` receives the count,
    the sums of ``X - shift_x``, A, B and of their pairwise products.

    Parameters
    ----------
    S_ptr, S_row, S_val : the canonical basis S (m, k) by columns, nonzeros only
        (``y[q] = sum_{e in ptr[q]:ptr[q+1]} V[row[e]] val[e]``: ``y = V S``); the
        bases of the named lattices are sparse (E8: 21 of 64 entries)
    center : float64 (k,), ``(1/2, ..., 1/2) S`` (the parallelepiped's centre)
    scale2 : float64 (r,), ``(copy scale * intrinsic scale)^2``
    voronoi : True: d = |y - K(y)|^2 (the Voronoi cell); False: d = |y - center|^2
        (the centred fundamental parallelepiped, the negative control)
    """
    n_chunks = out.shape[0]
    k = S_ptr.shape[0] - 1
    r = scale2.shape[0]
    inv53 = 1.0 / 9007199254740992.0
    for c in prange(n_chunks):
        gc = chunk0 + c
        lo = gc * CHUNK
        hi = min(n_total, lo + CHUNK)
        v = np.empty(m)
        y = np.empty(k)
        t = np.empty(k)
        z = np.empty(k)
        err = np.empty(k)
        best = np.empty(k)
        s0, s1, s2, s3 = _seed_chunk(key, gc)
        sx = 0.0
        sa = 0.0
        sb = 0.0
        sxx = 0.0
        saa = 0.0
        sbb = 0.0
        sxa = 0.0
        sxb = 0.0
        sab = 0.0
        for _ in range(lo, hi):
            X = 0.0
            A = 0.0
            B = 0.0
            for j in range(r):
                for i in range(m):
                    s0, s1, s2, s3, bits = _xoshiro_next(s0, s1, s2, s3)
                    v[i] = np.float64(bits >> np.uint64(11)) * inv53
                for q in range(k):
                    acc = 0.0
                    for e in range(S_ptr[q], S_ptr[q + 1]):
                        acc += v[S_row[e]] * S_val[e]
                    y[q] = acc
                if voronoi:
                    d = closest_in_cosets(y, glue, family, w, nb, t, z, err, best)
                else:
                    d = 0.0
                    for q in range(k):
                        diff = y[q] - center[q]
                        d += diff * diff
                sj = scale2[j]
                X += sj * d
                if d < rho2:
                    B += sj * (1.0 - p)
                else:
                    A += sj * (d - rho2)
                    B -= sj * p
            xs = X - shift_x
            sx += xs
            sa += A
            sb += B
            sxx += xs * xs
            saa += A * A
            sbb += B * B
            sxa += xs * A
            sxb += xs * B
            sab += A * B
        out[c, 0] = hi - lo
        out[c, 1] = sx
        out[c, 2] = sa
        out[c, 3] = sb
        out[c, 4] = sxx
        out[c, 5] = saa
        out[c, 6] = sbb
        out[c, 7] = sxa
        out[c, 8] = sxb
        out[c, 9] = sab


@njit(cache=True)
def _fold(state, sums, shift_x):
    """Combine per-chunk sums into the running ``state`` in chunk order.

    ``state``: [n, mean_X, mean_A, mean_B, M_XX, M_AA, M_BB, M_XA, M_XB, M_AB]
    (co-moments ``M_ab = sum (a - mean_a)(b - mean_b)``).  Each chunk's mean and
    co-moments come from its shifted sums; the running state is updated with
    Chan, Golub & LeVeque's formula ``M = M1 + M2 + d_a d_b n1 n2 / n``.
    """
    ia = (0, 1, 2, 0, 0, 1)
    ib = (0, 1, 2, 1, 2, 2)
    for c in range(sums.shape[0]):
        nc = sums[c, 0]
        if nc == 0:
            continue
        mu = np.empty(3)
        for a in range(3):
            mu[a] = sums[c, 1 + a] / nc
        Mc = np.empty(6)
        for e in range(6):
            Mc[e] = sums[c, 4 + e] - sums[c, 1 + ia[e]] * sums[c, 1 + ib[e]] / nc
        mu[0] += shift_x
        n1 = state[0]
        n = n1 + nc
        delta = np.empty(3)
        for a in range(3):
            delta[a] = mu[a] - state[1 + a]
        for e in range(6):
            state[4 + e] += Mc[e] + delta[ia[e]] * delta[ib[e]] * n1 * nc / n
        for a in range(3):
            state[1 + a] += delta[a] * nc / n
        state[0] = n


# --------------------------------------------------------------------------- input checks
def _check_samples(n_samples) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (numbers.Integral, np.integer)):
        raise TypeError(f"n_samples must be an integer >= 2, got {n_samples!r} "
                        f"of type {type(n_samples).__name__}")
    if n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2 (a standard error needs two "
                         f"samples), got {n_samples}")
    return int(n_samples)


def _check_batch(batch_size, default: int) -> int:
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, (numbers.Integral, np.integer)):
        raise TypeError(f"batch_size must be None or a positive integer, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be None or a positive integer, got {batch_size}")
    return int(batch_size)


def _resolve_seed(rng) -> int:
    """A 64-bit seed: ``None`` -> fresh OS entropy; an int in [0, 2^64) as is; a numpy
    Generator -> one 64-bit draw from it; a SeedSequence -> its first 64-bit word."""
    if isinstance(rng, bool):
        raise TypeError(f"rng must be None, an int seed or a numpy Generator, got {rng!r}")
    if rng is None:
        return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0])
    if isinstance(rng, (numbers.Integral, np.integer)):
        if not 0 <= int(rng) <= _MASK64:
            raise ValueError(f"an int seed must be in [0, 2**64), got {rng}")
        return int(rng)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, _MASK64, dtype=np.uint64, endpoint=True))
    if isinstance(rng, np.random.SeedSequence):
        return int(rng.generate_state(1, dtype=np.uint64)[0])
    raise TypeError(f"rng must be None, an int seed, a numpy SeedSequence or Generator, "
                    f"got {rng!r} of type {type(rng).__name__}")


def _as_lattice(lattice):
    from .lattice import Lattice

    if isinstance(lattice, str):
        from ._registry import get

        return get(lattice)
    if not isinstance(lattice, Lattice):
        raise TypeError(f"lattice must be a lattices.Lattice or a lattice name, got {lattice!r}")
    return lattice


# --------------------------------------------------------------------------- geometry helpers
def _ball_constants(m: int, rho2: float, volume: float):
    """``p = vol(B_rho) / V`` and ``E min(|U|^2, rho^2) = rho^2 (1 - 2p/(m+2))``."""
    log_ball = 0.5 * m * math.log(math.pi) + 0.5 * m * math.log(rho2) - math.lgamma(0.5 * m + 1)
    p = math.exp(log_ball - math.log(volume))
    if not 0.0 <= p <= 1.0 + 1e-9:  # internal invariant: the ball lies inside the cell
        raise AssertionError(f"inscribed ball larger than the cell (p = {p})")
    p = min(p, 1.0)
    return p, rho2 * (1.0 - 2.0 * p / (m + 2))


_RHO_SHRINK = 1.0 - 1e-9


class _Block:
    """One independent part of the sample: a fused segment or the whole lattice (numpy)."""

    def __init__(self, index, fused, m, copies_scale2, rho2, volume, payload):
        self.index = index
        self.fused = fused
        self.m = m  # dimension of one copy
        self.scale2 = np.ascontiguousarray(copies_scale2, dtype=np.float64)  # (r,)
        self.rho2 = rho2 * _RHO_SHRINK
        self.p, self.emin = _ball_constants(m, self.rho2, volume)
        self.payload = payload
        self.shift_x = float(self.emin * self.scale2.sum())
        self.gamma = 0.0

    def constant(self) -> float:
        """``sum_j scale2_j E min(d_j, rho^2)``: the known part of E[X]."""
        return float(self.emin * self.scale2.sum())


def _blocks(lat):
    """The independent blocks of ``lat``: one per fused segment, or one numpy block."""
    if all(isinstance(s.spec, FastSpec) for s in lat._segments):
        out = []
        for idx, seg in enumerate(lat._segments):
            spec = seg.spec
            S = np.ascontiguousarray(spec.canonical, dtype=np.float64)  # (m, k)
            min2 = min_norm2(spec) / spec.scale0 ** 2  # canonical units
            vol = float(np.sqrt(np.linalg.det(S @ S.T)))
            cols = [np.flatnonzero(S[:, q]) for q in range(S.shape[1])]
            payload = {
                "m": S.shape[0],
                "S_ptr": np.cumsum([0] + [len(c) for c in cols]).astype(np.int64),
                "S_row": np.concatenate(cols).astype(np.int64),
                "S_val": np.concatenate([S[c, q] for q, c in enumerate(cols)]),
                "center": np.ascontiguousarray(0.5 * S.sum(axis=0)),
                "family": FAMILIES[spec.family],
                "w": int(spec.width), "nb": int(spec.blocks),
                "glue": np.ascontiguousarray(spec.glue, dtype=np.float64),
            }
            out.append(_Block(idx, True, spec.dim, (seg.scales * spec.scale0) ** 2, min2 / 4.0,
                              vol, payload))
        return out
    seg = lat._segments[0]
    if len(lat._segments) == 1 and seg.copies == 1:  # one generic block: cache on its spec
        min2 = min_norm2(seg.spec) * float(seg.scales[0]) ** 2
    else:  # the minimal vectors of a product are those of its blocks
        min2 = float(np.min(np.sum(lat.relevant_vectors() ** 2, axis=1)))
    return [_Block(0, False, lat.dim, np.ones(1), min2 / 4.0, lat.volume, {"lattice": lat})]


def _chunk_sums_numpy(block, seed, purpose, chunk0, n_chunks, n_total, region):
    """Per-chunk moment sums for the numpy path (``Lattice.sample_cell`` per chunk)."""
    lat = block.payload["lattice"]
    out = np.zeros((n_chunks, _NSTAT))
    for c in range(n_chunks):
        gc = chunk0 + c
        lo = gc * CHUNK
        cnt = min(n_total, lo + CHUNK) - lo
        gen = np.random.Generator(np.random.PCG64(
            np.random.SeedSequence(seed, spawn_key=(block.index, purpose, gc))))
        if region == "voronoi":
            U = lat.sample_cell(cnt, rng=gen)  # (cnt, dim), Sec. 8.1
        else:
            U = (gen.random((cnt, lat.dim)) - 0.5) @ lat.basis  # centred parallelepiped
        X = np.einsum("ij,ij->i", U, U)
        inside = X < block.rho2
        A = np.where(inside, 0.0, X - block.rho2)
        B = inside - block.p
        xs = X - block.shift_x
        out[c] = (cnt, xs.sum(), A.sum(), B.sum(), xs @ xs, A @ A, B @ B, xs @ A, xs @ B, A @ B)
    return out


def _chunk_sums(block, seed, purpose, chunk0, n_chunks, n_total, region):
    if not block.fused:
        return _chunk_sums_numpy(block, seed, purpose, chunk0, n_chunks, n_total, region)
    P = block.payload
    out = np.zeros((n_chunks, _NSTAT))
    key = np.uint64(_stream_key(seed, block.index, purpose))
    _fused_chunks(key, chunk0, n_total, P["m"], P["S_ptr"], P["S_row"], P["S_val"], P["center"],
                  block.scale2, P["family"], P["w"], P["nb"], P["glue"], block.rho2, block.p,
                  region == "voronoi", block.shift_x, out)
    return out


def _run_block(block, seed, purpose, n_total, batch, region, after_batch=None):
    """The folded state of ``n_total`` samples of one block (all chunks, in order)."""
    state = np.zeros(_NSTAT)
    n_chunks = -(-n_total // CHUNK)
    per = max(1, batch // CHUNK)
    for c0 in range(0, n_chunks, per):
        nc = min(per, n_chunks - c0)
        sums = _chunk_sums(block, seed, purpose, c0, nc, n_total, region)
        _fold(state, sums, block.shift_x)
        if after_batch is not None:
            after_batch(c0, nc)
    return state


def _var_y(state, gamma):
    """Sample variance (ddof = 1) of ``Y = A + const - gamma B`` from the co-moments."""
    n = state[0]
    M_AA, M_BB, M_AB = state[5], state[6], state[9]
    return max(float(M_AA - 2.0 * gamma * M_AB + gamma * gamma * M_BB), 0.0) / (n - 1)


# --------------------------------------------------------------------------- public API
@dataclass(frozen=True)
class MonteCarloResult:
    """A Monte Carlo estimate with everything needed to reproduce and judge it.

    ``sigma2`` / ``nsm`` and their standard errors are the reported figures
    (control variate if ``control_variate``); ``plain_*`` are plain Monte Carlo
    on the very same samples (for the variance-reduction factor).
    """

    lattice: str
    dim: int
    n_samples: int
    seed: int
    control_variate: bool
    method: str  # "fused" (numba kernel) or "numpy" (sample_cell batches)
    sigma2: float
    sigma2_se: float
    nsm: float
    nsm_se: float
    plain_sigma2: float
    plain_sigma2_se: float
    pilot_samples: int
    elapsed_s: float
    region: str = "voronoi"

    @property
    def plain_nsm(self) -> float:
        return self.plain_sigma2 * self.nsm / self.sigma2 if self.sigma2 else float("nan")

    @property
    def plain_nsm_se(self) -> float:
        return self.plain_sigma2_se * self.nsm / self.sigma2 if self.sigma2 else float("nan")

    @property
    def variance_reduction(self) -> float:
        """(plain SE / reported SE)^2: how many times fewer samples the same SE needs."""
        return (self.plain_sigma2_se / self.sigma2_se) ** 2 if self.sigma2_se > 0 else float("inf")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["variance_reduction"] = self.variance_reduction
        return d


def _want_progress(progress, n_samples) -> bool:
    if progress is None:
        tty = getattr(sys.stderr, "isatty", None)
        return n_samples >= PROGRESS_THRESHOLD and tty is not None and bool(tty())
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be None, True or False, got {progress!r}")
    return progress


def _monte_carlo(lattice, n_samples, rng=None, *, batch_size=None, progress=None,
                 control_variate=True, _region="voronoi") -> MonteCarloResult:
    """:func:`monte_carlo` with the sampling region as a (private) parameter.

    ``_region="parallelepiped"`` replaces U by a point uniform on the centred
    fundamental parallelepiped ``(V - 1/2) B``: the same volume, the wrong shape.
    It exists only as the negative control of the tests (it must be refuted).
    """
    t0 = time.perf_counter()
    lat = _as_lattice(lattice)
    n = _check_samples(n_samples)
    if _region not in _REGIONS:
        raise ValueError(f"region must be one of {_REGIONS}, got {_region!r}")
    if not isinstance(control_variate, bool):
        raise TypeError(f"control_variate must be True or False, got {control_variate!r}")
    seed = _resolve_seed(rng)
    blocks = _blocks(lat)
    fused = blocks[0].fused
    batch = _check_batch(batch_size, _DEFAULT_BATCH_FUSED if fused else _DEFAULT_BATCH_NUMPY)
    show = _want_progress(progress, n)
    n_pilot = min(PILOT_SAMPLES, max(CHUNK // 4, n // 4)) if control_variate else 0

    # pilot runs: gamma = Cov(A, B) / Var(B) on independent streams
    for b in blocks:
        b.gamma = 0.0
        if control_variate:
            st = _run_block(b, seed, _PURPOSE_PILOT, n_pilot, batch, _region)
            b.gamma = float(st[9] / st[6]) if st[6] > 0 else 0.0

    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=n * len(blocks), unit="sample", unit_scale=True, file=sys.stderr,
                   desc=f"MC NSM {lat.name}", smoothing=0.1)

    def tick(c0, nc):
        if bar is not None:
            bar.update(min(n, (c0 + nc) * CHUNK) - min(n, c0 * CHUNK))

    mean = plain_mean = var = plain_var = 0.0
    try:
        for b in blocks:
            st = _run_block(b, seed, _PURPOSE_MAIN, n, batch, _region, after_batch=tick)
            plain_mean += float(st[1])
            plain_var += float(st[4]) / (n - 1)
            if control_variate:
                mean += float(st[2]) + b.constant() - b.gamma * float(st[3])
                var += _var_y(st, b.gamma)
            else:
                mean += float(st[1])
                var += float(st[4]) / (n - 1)
    finally:
        if bar is not None:
            bar.close()
    m = lat.dim
    sign, logdet = np.linalg.slogdet(lat.basis)
    v2m = math.exp(2.0 * float(logdet) / m)  # V^{2/m}
    sigma2, sigma2_se = mean / m, math.sqrt(var / n) / m
    return MonteCarloResult(
        lattice=lat.name, dim=m, n_samples=n, seed=seed, control_variate=control_variate,
        method="fused" if fused else "numpy", sigma2=sigma2, sigma2_se=sigma2_se,
        nsm=sigma2 / v2m, nsm_se=sigma2_se / v2m, plain_sigma2=plain_mean / m,
        plain_sigma2_se=math.sqrt(plain_var / n) / m, pilot_samples=n_pilot,
        elapsed_s=time.perf_counter() - t0, region=_region)


def monte_carlo(lattice, n_samples, rng=None, *, batch_size=None, progress=None,
                control_variate=True) -> MonteCarloResult:
    """Monte Carlo sigma^2 and G of the Voronoi cell, with the seed and diagnostics.

    Parameters
    ----------
    lattice : Lattice or a lattice name
    n_samples : int >= 2
        Points U of the cell (a point of a product lattice is one sample).
    rng : None, int in [0, 2^64), numpy SeedSequence or Generator
        The 64-bit seed of all streams.  ``None`` draws one from the OS; a
        Generator gives one 64-bit draw.  ``result.seed`` is the seed used:
        ``monte_carlo(lat, n, rng=result.seed)`` reproduces ``result`` exactly.
    batch_size : int, optional
        Samples per kernel call (memory and progress granularity; rounded up to
        whole chunks of ``CHUNK``).  Does not change the result.
    progress : None, bool
        tqdm bar on stderr; ``None``: shown when ``n_samples >= 1e7`` and stderr
        is a terminal.
    control_variate : bool
        The inscribed-ball control variate (module docstring): unbiased, with an
        honest standard error; ``False`` is plain Monte Carlo.

    Returns
    -------
    MonteCarloResult

    .. warning:: The standard error is the usual CLT one (sample standard
       deviation / sqrt(n)); a verdict like ``|est - exact| < 4 SE`` assumes
       ``n`` large enough for normality (thousands of samples suffice here: the
       per-sample values are bounded by the covering radius).
    """
    return _monte_carlo(lattice, n_samples, rng, batch_size=batch_size, progress=progress,
                        control_variate=control_variate)


def nsm_monte_carlo(lattice, n_samples, rng=None, *, batch_size=None, progress=None,
                    control_variate=True):
    """Monte Carlo estimate of the NSM G = sigma^2 / V^{2/m} (Sec. 3.5) and its standard error.

    The per-sample values are ``|U|^2 / (m V^{2/m})`` (with the control variate:
    their control-variate corrected versions, same mean), U uniform on the
    Voronoi cell drawn as in Sec. 8.1; the standard error is their sample
    standard deviation over sqrt(n).  See :func:`monte_carlo` for the
    parameters, the seed actually used (``rng=None``) and diagnostics.

    Returns
    -------
    (estimate, standard_error) : floats

    Examples
    --------
    >>> import lattices
    >>> est, se = nsm_monte_carlo(lattices.get("z"), 10_000, rng=0)
    >>> abs(est - 1 / 12) < 1e-12   # G(Z) = 1/12: for Z the cell is the ball, Y is exact
    True
    """
    r = _monte_carlo(lattice, n_samples, rng, batch_size=batch_size, progress=progress,
                     control_variate=control_variate)
    return r.nsm, r.nsm_se


def second_moment_monte_carlo(lattice, n_samples, rng=None, *, batch_size=None, progress=None,
                              control_variate=True):
    """Monte Carlo estimate of sigma^2 = E|U|^2 / m (Sec. 3.5) and its standard error.

    Same samples and parameters as :func:`nsm_monte_carlo` (``G = sigma^2 / V^{2/m}``).

    >>> import lattices
    >>> s2, se = second_moment_monte_carlo(lattices.get("z2", scale=2.0), 50_000, rng=0)
    >>> abs(s2 - 4 / 12) < 4 * se   # sigma^2(2 Z^2) = 2^2 / 12
    True
    """
    r = _monte_carlo(lattice, n_samples, rng, batch_size=batch_size, progress=progress,
                     control_variate=control_variate)
    return r.sigma2, r.sigma2_se
