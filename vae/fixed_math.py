r"""Deterministic float64 elementary functions: the same bits on every IEEE-754 machine.

The entropy coders (:mod:`vae.priors.paper`, :mod:`vae.priors.dgauss`,
:mod:`vae.codec.latent_coders`) turn float64 log-probabilities into integer frequencies; the
encoder and the decoder must get the *same integers*, possibly on different machines.  libm /
SVML / Sleef ``exp``, ``log``, ``cos`` are accurate to about an ulp but not reproducible: their
results depend on the library, its version and the SIMD code path (AVX2 vs AVX-512), and BLAS
matmuls and library reductions depend on the blocking and thread count (CompressAI issue
#279; Ballé, Johnston & Minnen, "Integer networks for data compression with latent-variable
models", ICLR 2019).  This module replaces them by functions built only from operations whose
result IEEE-754 fixes bit for bit:

* ``+ - * /`` and comparisons of float64 (each correctly rounded to nearest-even, whatever
  the SIMD width: a vector lane computes exactly what the scalar instruction computes);
* ``floor``, ``rint``, ``frexp``, ``ldexp`` (exact: no rounding at all for normal numbers);
* a fixed polynomial evaluated by Horner's rule in a fixed order.

The kernels are numba functions compiled **without** ``fastmath``: LLVM then neither
reassociates nor contracts ``a*b + c`` into an FMA (contraction needs the ``contract`` or
``fast`` flag), so a loop vectorized by LLVM computes per element the same operations in the
same order as the scalar code.  Their Python source (``f.py_func``) evaluated on Python
floats is a third, independent evaluation, and the tests check that all of them agree bit for
bit (``tests/test_codec_portable.py``).  Subnormal numbers never occur: :func:`exp` returns
exactly 0 below :data:`EXP_UNDERFLOW` (so the flush-to-zero / denormals-are-zero modes of a
CPU cannot matter), and all inputs of :func:`log` in the coders are normal or 0.

**Accuracy** (against numpy's, ``tests/test_codec_portable.py``): :func:`exp` within 1 ulp on
[-700, 709] (the test allows 2), :func:`log` within 2 ulp, 3 for x near 1 (the test allows 4);
the pmfs they feed differ from the float model's by ~1e-16 relative, far below the 24-bit
quantization of the frequencies (the integer model's code length is within 10^-5 of the float
model's on the trained runs, docs/bitstream.md, "Portability").

**Vectorization.** The array functions are compiled loops over contiguous arrays; the scalar
kernels are written branch-light (clamps and selects; :func:`exp` scales by a table of powers
of two, :func:`log` reads exponent and mantissa from the bits) so that LLVM vectorizes them.

**Sums** are written as fixed-order loops (:func:`row_sum`, :func:`logsumexp_last`), never as
library reductions (numpy's pairwise/SIMD ``sum`` order depends on the code path).
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["exp", "expm1", "log", "log1p", "cos_2pi", "tanh", "log_sigmoid", "logaddexp", "row_sum",
           "logsumexp", "logsumexp_last", "log_softmax_last", "trellis_step_linear", "EXP_UNDERFLOW"]

#: :func:`exp` is exactly 0 below this (its result would be subnormal or nearly so).
EXP_UNDERFLOW = -700.0
_EXP_OVERFLOW = 709.0

_INV_LN2 = 1.4426950408889634                 # 1/ln 2 rounded; only picks k, any k works
# ln 2 split (Cody & Waite): _LN2_HI has 32 significant bits, so k * _LN2_HI is exact for |k| < 2^20
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
# Taylor coefficients 1/j!, j = 0..13 (correctly rounded quotients of exact integers)
_EXP_C = tuple(1.0 / math.factorial(j) for j in range(14))
# atanh series: log(m) = 2 s (1 + s^2/3 + s^4/5 + ...), 13 terms (|s| <= 0.1716: error < 1e-19)
_LOG_C = tuple(1.0 / (2 * j + 1) for j in range(13))
_SQRT_HALF = 0.7071067811865476
# cos(theta) Taylor coefficients (-1)^j / (2j)!, j = 0..11 (|theta| <= pi/2: error < 1e-19)
_COS_C = tuple((-1.0) ** j / math.factorial(2 * j) for j in range(12))
_TWO_PI = 6.283185307179586


#: 2^k, k = -1022 .. 1023 (exact): the scaling of :func:`_exp` as a table lookup (vectorizes)
_POW2 = np.array([math.ldexp(1.0, k) for k in range(-1022, 1024)])


@numba.njit(cache=True, nogil=True)
def _exp(x):  # pragma: no cover - compiled (its .py_func is tested)
    r""":math:`e^x`: :math:`x = k\ln 2 + r`, :math:`|r| \le 0.35`, Taylor degree 13 by Horner, times :math:`2^k`."""
    xc = min(max(x, EXP_UNDERFLOW), _EXP_OVERFLOW)
    k = math.floor(xc * _INV_LN2 + 0.5)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    p = _EXP_C[13]
    p = p * r + _EXP_C[12]
    p = p * r + _EXP_C[11]
    p = p * r + _EXP_C[10]
    p = p * r + _EXP_C[9]
    p = p * r + _EXP_C[8]
    p = p * r + _EXP_C[7]
    p = p * r + _EXP_C[6]
    p = p * r + _EXP_C[5]
    p = p * r + _EXP_C[4]
    p = p * r + _EXP_C[3]
    p = p * r + _EXP_C[2]
    p = p * r + _EXP_C[1]
    p = p * r + _EXP_C[0]
    y = p * _POW2[int(k) + 1022]
    y = 0.0 if x < EXP_UNDERFLOW else y
    y = math.inf if x > _EXP_OVERFLOW else y
    return x if x != x else y


@numba.njit(cache=True, nogil=True)
def _log_mantissa(m, ef):  # pragma: no cover - compiled (its .py_func is tested)
    r""":math:`\ln(m\,2^{e})` for :math:`m \in [\sqrt{1/2}, \sqrt 2)`, ``ef`` = :math:`e` as a float:
    :math:`\ln m = 2\,\mathrm{atanh}(s)`, :math:`s = (m-1)/(m+1)`, 13 odd terms by Horner."""
    f = m - 1.0                               # exact (Sterbenz)
    s = f / (2.0 + f)
    z = s * s
    p = _LOG_C[12]
    p = p * z + _LOG_C[11]
    p = p * z + _LOG_C[10]
    p = p * z + _LOG_C[9]
    p = p * z + _LOG_C[8]
    p = p * z + _LOG_C[7]
    p = p * z + _LOG_C[6]
    p = p * z + _LOG_C[5]
    p = p * z + _LOG_C[4]
    p = p * z + _LOG_C[3]
    p = p * z + _LOG_C[2]
    p = p * z + _LOG_C[1]
    p = p * z + _LOG_C[0]
    return ef * _LN2_HI + (ef * _LN2_LO + 2.0 * s * p)


@numba.njit(cache=True, nogil=True)
def _log(x):  # pragma: no cover - compiled (its .py_func is tested)
    r""":math:`\ln x` (scalar): :math:`x = m 2^e` by ``frexp`` (exact), :math:`m \in [\sqrt{1/2}, \sqrt 2)`,
    then :func:`_log_mantissa`.  The array kernel :func:`log` splits :math:`x` by its bits instead
    (vectorizes); both give the same :math:`(m, e)`, hence the same result."""
    if x != x or x < 0.0:
        return math.nan
    if x == 0.0:
        return -math.inf
    if x == math.inf:
        return x
    m, e = math.frexp(x)                      # x = m 2^e, m in [0.5, 1)
    if m < _SQRT_HALF:
        m = m * 2.0
        e = e - 1
    return _log_mantissa(m, float(e))


@numba.njit(cache=True, nogil=True)
def _log1p(x):  # pragma: no cover - compiled (its .py_func is tested)
    """:math:`\\ln(1 + x)` (Goldberg's correction: ``log(u) * x / (u - 1)``, ``u = 1 + x``)."""
    u = 1.0 + x
    if u == 1.0:
        return x
    if u == math.inf:
        return u
    return _log(u) * (x / (u - 1.0))


# expm1 Taylor coefficients 1/(j+1)!, j = 0..14 (|x| <= 0.35: error < 1e-19 relative)
_EXPM1_C = tuple(1.0 / math.factorial(j + 1) for j in range(15))


@numba.njit(cache=True, nogil=True)
def _expm1(x):  # pragma: no cover - compiled
    """:math:`e^x - 1`: Taylor by Horner for :math:`|x| \\le 0.35` (no cancellation), else ``exp(x) - 1``."""
    if abs(x) > 0.35:
        return _exp(x) - 1.0
    p = _EXPM1_C[14]
    p = p * x + _EXPM1_C[13]
    p = p * x + _EXPM1_C[12]
    p = p * x + _EXPM1_C[11]
    p = p * x + _EXPM1_C[10]
    p = p * x + _EXPM1_C[9]
    p = p * x + _EXPM1_C[8]
    p = p * x + _EXPM1_C[7]
    p = p * x + _EXPM1_C[6]
    p = p * x + _EXPM1_C[5]
    p = p * x + _EXPM1_C[4]
    p = p * x + _EXPM1_C[3]
    p = p * x + _EXPM1_C[2]
    p = p * x + _EXPM1_C[1]
    p = p * x + _EXPM1_C[0]
    return x * p


@numba.njit(cache=True, nogil=True)
def _cos_2pi(t):  # pragma: no cover - compiled
    r""":math:`\cos(2\pi t)`: :math:`t` reduced to :math:`[0, \tfrac14]` by exact steps, then Taylor
    in :math:`\theta^2`."""
    t = t - math.floor(t + 0.5)               # [-1/2, 1/2], exact
    t = abs(t)
    sign = 1.0
    if t > 0.25:
        t = 0.5 - t                           # exact (Sterbenz)
        sign = -1.0
    th = _TWO_PI * t
    z = th * th
    p = _COS_C[11]
    p = p * z + _COS_C[10]
    p = p * z + _COS_C[9]
    p = p * z + _COS_C[8]
    p = p * z + _COS_C[7]
    p = p * z + _COS_C[6]
    p = p * z + _COS_C[5]
    p = p * z + _COS_C[4]
    p = p * z + _COS_C[3]
    p = p * z + _COS_C[2]
    p = p * z + _COS_C[1]
    p = p * z + _COS_C[0]
    return sign * p


@numba.njit(cache=True, nogil=True)
def _tanh(x):  # pragma: no cover - compiled
    """tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)) (absolute error ~1e-16)."""
    a = abs(x)
    if a > 20.0:
        t = 1.0
    else:
        t = 1.0 - 2.0 / (_exp(2.0 * a) + 1.0)
    return -t if x < 0.0 else t


@numba.njit(cache=True, nogil=True)
def _log_sigmoid(x):  # pragma: no cover - compiled
    """log(1 / (1 + e^{-x})) = min(x, 0) - log1p(e^{-|x|})."""
    return min(x, 0.0) - _log1p(_exp(-abs(x)))


@numba.njit(cache=True, nogil=True)
def _logaddexp(a, b):  # pragma: no cover - compiled
    """log(e^a + e^b); -inf when both are -inf."""
    m = max(a, b)
    if m == -math.inf:
        return m
    if m == math.inf:
        return m
    return m + _log1p(_exp(-abs(a - b)))


@numba.njit(cache=True, nogil=True)
def _map_exp(a, out):  # pragma: no cover - compiled
    for i in range(a.size):
        out[i] = _exp(a[i])


_MANT = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000
_TWO54 = 18014398509481984.0                  # 2^54: scales a subnormal to a normal number, exactly


@numba.njit(cache=True, nogil=True)
def _map_log(a, out):  # pragma: no cover - compiled
    """:func:`_log` of a contiguous 1-D array: exponent and mantissa read from the bits (exact)."""
    n = a.size
    xs = np.empty(n)
    for i in range(n):
        x = a[i]
        xs[i] = x * _TWO54 if x < 2.2250738585072014e-308 else x     # subnormal -> normal, exact
    bits = xs.view(np.int64)
    mb = np.empty(n, dtype=np.int64)
    for i in range(n):
        mb[i] = (bits[i] & _MANT) | _ONE_BITS                       # mantissa in [1, 2)
    mant = mb.view(np.float64)
    for i in range(n):
        x = a[i]
        e = ((bits[i] >> 52) & 0x7FF) - 1023
        if x < 2.2250738585072014e-308:
            e = e - 54
        m = mant[i]
        if m >= 2.0 * _SQRT_HALF:                                   # frexp's rule: m/2 >= sqrt(1/2)
            m = m * 0.5
            e = e + 1
        y = _log_mantissa(m, float(e))
        y = -math.inf if x == 0.0 else y
        y = math.inf if x == math.inf else y
        out[i] = math.nan if (x != x or x < 0.0) else y


@numba.njit(cache=True, nogil=True)
def _map_log1p(a, out):  # pragma: no cover - compiled
    for i in range(a.size):
        out[i] = _log1p(a[i])


@numba.njit(cache=True, nogil=True)
def _map_expm1(a, out):  # pragma: no cover - compiled
    for i in range(a.size):
        out[i] = _expm1(a[i])


@numba.njit(cache=True, nogil=True)
def _map_cos_2pi(a, out):  # pragma: no cover - compiled
    for i in range(a.size):
        out[i] = _cos_2pi(a[i])


@numba.njit(cache=True, nogil=True)
def _map_tanh(a, out):  # pragma: no cover - compiled
    for i in range(a.size):
        out[i] = _tanh(a[i])


@numba.njit(cache=True, nogil=True)
def _map_log_sigmoid(a, out):  # pragma: no cover - compiled
    for i in range(a.size):
        out[i] = _log_sigmoid(a[i])


@numba.njit(cache=True, nogil=True)
def _map_logaddexp(a, b, out):  # pragma: no cover - compiled
    """:func:`_logaddexp` of arrays: max + log1p(exp(-|a - b|)), the log by one :func:`_map_log` pass."""
    n = a.size
    t = np.empty(n)
    u = np.empty(n)
    for i in range(n):
        t[i] = _exp(-abs(a[i] - b[i]))
        u[i] = 1.0 + t[i]
    lu = np.empty(n)
    _map_log(u, lu)
    for i in range(n):
        m = max(a[i], b[i])
        if m == -math.inf or m == math.inf or m != m:
            out[i] = m
        elif u[i] == 1.0:
            out[i] = m + t[i]
        else:
            out[i] = m + lu[i] * (t[i] / (u[i] - 1.0))


def _unary(kernel, doc):
    def f(x):
        x = np.asarray(x, dtype=np.float64)
        flat = np.ascontiguousarray(x).reshape(-1)
        out = np.empty(flat.shape)
        kernel(flat, out)
        return out.reshape(x.shape) if x.ndim else out[0]
    f.__doc__ = doc
    return f


exp = _unary(_map_exp, "Deterministic :math:`e^x` elementwise (module notes); exactly 0 below :data:`EXP_UNDERFLOW`.")
log = _unary(_map_log, "Deterministic natural logarithm elementwise (module notes).")
log1p = _unary(_map_log1p, "Deterministic :math:`\\ln(1+x)` elementwise.")
expm1 = _unary(_map_expm1, "Deterministic :math:`e^x - 1` elementwise.")
cos_2pi = _unary(_map_cos_2pi, "Deterministic :math:`\\cos(2\\pi x)` elementwise.")
tanh = _unary(_map_tanh, "Deterministic tanh elementwise (absolute error ~1e-16).")
log_sigmoid = _unary(_map_log_sigmoid, "Deterministic :math:`\\log\\sigma(x)` elementwise.")


def logaddexp(a, b):
    """Deterministic :math:`\\log(e^a + e^b)` elementwise (broadcasting)."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    out = np.empty(a.shape)
    _map_logaddexp(np.ascontiguousarray(a).reshape(-1), np.ascontiguousarray(b).reshape(-1), out.reshape(-1))
    return out if out.ndim else out[()]


@numba.njit(cache=True, nogil=True)
def _row_sum(a, out):  # pragma: no cover - compiled
    n, k = a.shape
    for i in range(n):
        s = 0.0
        for j in range(k):
            s += a[i, j]
        out[i] = s


def row_sum(a) -> np.ndarray:
    """Sum over the last axis, left to right (a fixed order: no pairwise or SIMD reduction)."""
    a = np.asarray(a, dtype=np.float64)
    flat = np.ascontiguousarray(a.reshape(-1, a.shape[-1]))
    out = np.empty(len(flat))
    _row_sum(flat, out)
    return out.reshape(a.shape[:-1])


@numba.njit(cache=True, nogil=True)
def _logsumexp_rows(a, out):  # pragma: no cover - compiled
    """Row max and the left-to-right sum of exp(a - max), then max + log(sum) (one :func:`_map_log` pass)."""
    n, k = a.shape
    sums = np.empty(n)
    for i in range(n):
        m = -math.inf
        for j in range(k):
            if a[i, j] > m:
                m = a[i, j]
        if m == -math.inf or m == math.inf:
            out[i] = m
            sums[i] = 1.0
            continue
        s = 0.0
        for j in range(k):
            s += _exp(a[i, j] - m)
        out[i] = m
        sums[i] = s
    logs = np.empty(n)
    _map_log(sums, logs)
    for i in range(n):
        out[i] = out[i] + logs[i]


@numba.njit(cache=True, nogil=True)
def trellis_step_linear(nxt, succ, wlog, out, off):  # pragma: no cover - compiled
    r"""One backward step of the code trellis with the parity bit (the recursion of
    :meth:`theory.code_trellis.CodeTrellis.log_suffix`, its term order) in the linear domain with a
    per-row scale (multiply-adds only, no ``exp``/``log`` per state): ``nxt`` (L, S' + 1, 2) the
    next depth's *scaled* sums (>= 0, padded with a zero state), ``wlog`` (L, 4) the residue log-weights, ``out`` (L, S, 2) the scaled sums
    of this depth (largest entry 1 per row) and ``off`` (L,) the log-scale added at this depth:
    :math:`\log\beta_i = \log \mathrm{out} + \sum_{j \ge i} \mathrm{off}_j`.  The weights are
    :math:`e^{w_r - \max_r w_r}`; weights and sums below :math:`2^{-300}` of the row's largest are
    set to 0 (relative contributions far below the 24-bit quantization), so no product or sum is
    ever subnormal: the flush-to-zero mode of a CPU cannot matter."""
    L = nxt.shape[0]
    S = succ.shape[0]
    tiny = 4.909093465297727e-91                # 2^-300
    W = np.empty(4)
    for l in range(L):
        m = max(max(wlog[l, 0], wlog[l, 1]), max(wlog[l, 2], wlog[l, 3]))
        for r in range(4):
            W[r] = _exp(wlog[l, r] - m)
            W[r] = 0.0 if W[r] < tiny else W[r]
        c = 0.0
        for s in range(S):
            s0 = succ[s, 0]
            s1 = succ[s, 1]
            for par in range(2):
                v = ((nxt[l, s0, par] * W[0] + nxt[l, s0, 1 - par] * W[2]) + nxt[l, s1, par] * W[1]) \
                    + nxt[l, s1, 1 - par] * W[3]
                out[l, s, par] = v
                c = max(c, v)
        if c == 0.0:
            off[l] = -math.inf
            continue
        for s in range(S):
            for par in range(2):
                v = out[l, s, par] / c
                out[l, s, par] = 0.0 if v < tiny else v
        off[l] = m + _log(c)


def logsumexp_last(a) -> np.ndarray:
    r""":math:`\log\sum_j e^{a_j}` over the last axis (max-shifted, fixed-order sum); -inf for an all -inf row."""
    a = np.asarray(a, dtype=np.float64)
    flat = np.ascontiguousarray(a.reshape(-1, a.shape[-1]))
    out = np.empty(len(flat))
    _logsumexp_rows(flat, out)
    return out.reshape(a.shape[:-1])


def logsumexp(a, axis) -> np.ndarray:
    """:func:`logsumexp_last` over ``axis``."""
    return logsumexp_last(np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1))


def log_softmax_last(a) -> np.ndarray:
    """``a - logsumexp(a)`` over the last axis, deterministic."""
    a = np.asarray(a, dtype=np.float64)
    return a - logsumexp_last(a)[..., None]
