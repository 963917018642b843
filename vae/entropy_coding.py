r"""Deterministic integer pmfs and the entropy-coding primitives (on ``constriction``'s ANS coder).

The bottom of the coding stack: the priors (:mod:`vae.priors`) code their symbols with these
primitives, and the file format (:mod:`vae.codec`) drives them; this module imports neither.

**Quantization rule** (identical on every machine and thread count, given the same float64
pmf): with :math:`P = 2^{24}` (the ANS coder's precision) and :math:`A` symbols,

.. math::  f_i = \lfloor p_i (P - A) \rfloor + 1, \qquad
           f_{i^*} \mathrel{+}= P - \textstyle\sum_i f_i, \quad i^* = \text{first argmax of } f,

so every symbol has a frequency :math:`\ge 1` (any symbol stays codable) and the
frequencies sum to exactly :math:`P`.  The remainder :math:`P - \sum_i f_i` lies in
:math:`[0, A)`: on a large, nearly uniform alphabet (``vq``: 512 codewords of mass ~1/512) the
argmax gains up to ~1 % of its mass, far more than 24-bit quantization.  The *spread* rule
(:func:`quantize_log_pmf` ``spread=True``, the categorical coders' pmfs in format 2) gives the
remainder one count each to the symbols with the largest fractional parts
:math:`p_i (P - A) - \lfloor p_i (P - A) \rfloor` (ties: the first), so every
:math:`f_i` lies within one count of :math:`p_i P` when :math:`p_i A \le 1`.  The coded probability is :math:`f_i/P`; the coder
receives these dyadic floats, which it represents exactly.  The coders compute their pmfs
from log-probabilities with :func:`quantize_log_pmf`, whose exponentials and sums are the
deterministic ones of :mod:`vae.fixed_math` (fixed-order loops of correctly rounded
operations): the integers are the same on every IEEE-754 machine, SIMD width and thread count.

The coder is a stack (ANS): :func:`push` encodes symbols so that :func:`pop` returns them in
the same order; the encoder applies the decoder's operations in reverse order.
"""
from __future__ import annotations

import contextlib
import math

import constriction
import numba
import numpy as np
import torch

from vae.fixed_math import _exp

__all__ = ["PRECISION", "quantize_pmf", "quantize_log_pmf", "coded_bits", "push", "pop", "push_uniform", "pop_uniform",
           "uniform_bits", "single_thread", "MAX_UNIFORM", "MAX_WINDOW", "CodecError", "symbol_window",
           "with_outside_mass"]

PRECISION = 24
_TOTAL = 1 << PRECISION
#: Largest alphabet of one uniform symbol; larger ones are split (see :func:`push_uniform`).
MAX_UNIFORM = 1 << 12
_INT64_SAFE = 1 << 62

#: Largest window |symbol| of the windowed integer pmfs (2 MAX_WINDOW + 2 columns per coded row).
MAX_WINDOW = 4096


class CodecError(ValueError):
    """A file that cannot be decoded (truncated, corrupted, another model or format)."""


def symbol_window(symbols) -> int:
    """The largest |symbol| (the window of a windowed integer pmf), within :data:`MAX_WINDOW`."""
    w = int(np.abs(symbols).max()) if np.size(symbols) else 0
    if w > MAX_WINDOW:
        raise CodecError(f"a symbol of magnitude {w} exceeds the codable window {MAX_WINDOW}")
    return w


def with_outside_mass(p):
    """Append the mass beyond the window as one more (never coded) symbol: the window's
    symbols keep exactly the model's probabilities."""
    return np.concatenate([p, np.clip(1.0 - p.sum(1, keepdims=True), 0.0, None)], 1)


_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)
_UNIFORM = constriction.stream.model.Uniform()


@contextlib.contextmanager
def single_thread():
    """Run torch on one thread inside the block (same reduction order for any thread count)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def quantize_pmf(p) -> np.ndarray:
    """Integer frequencies (int64, same shape) summing to ``2**24`` along the last axis, each >= 1.

    ``p``: float64 pmf rows (non-negative, summing to 1 up to round-off).

    >>> quantize_pmf(np.array([0.5, 0.5, 0.0])).tolist()
    [8388608, 8388607, 1]
    """
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 0 or p.shape[-1] < 1:
        raise ValueError("p must have at least one symbol along its last axis")
    A = p.shape[-1]
    if A > _TOTAL // 2:
        raise ValueError(f"an alphabet of {A} symbols is too large for precision {PRECISION}")
    flat = np.ascontiguousarray(p.reshape(-1, A))
    f = np.empty(flat.shape, dtype=np.int64)
    if not _quantize_rows(flat, _TOTAL, f):
        raise ValueError("p must be finite and non-negative")
    return f.reshape(p.shape)


@numba.njit(cache=True, nogil=True)
def _quantize_rows(p, total, out):  # pragma: no cover - compiled
    """The rule of :func:`quantize_pmf` row by row (IEEE float64 product and floor, as numpy's);
    False when an entry is negative or not finite.  Separate loops per step, so LLVM vectorizes
    the elementwise ones; the sums are integer sums (exact in any order)."""
    n, A = p.shape
    scale = np.float64(total - A)
    for i in range(n):
        row = p[i]
        bad = False
        for j in range(A):
            v = row[j]
            bad |= not (v >= 0.0 and v != np.inf)              # negative, NaN or infinite
        if bad:
            return False
        _quantize_row(row, scale, total, out[i])
    return True


@numba.njit(cache=True, nogil=True)
def _quantize_row_spread(row, scale, total, o):  # pragma: no cover - compiled
    """f_j = floor(p_j scale) + 1, then the remainder one count each to the largest fractional
    parts (ties: the lowest index; a stable sort of exact IEEE values, the same on every machine);
    a remainder outside [0, A) (not reached for a normalized row) goes to the first largest f_j."""
    A = row.shape[0]
    frac = np.empty(A)
    t = 0
    for j in range(A):
        x = row[j] * scale
        fl = np.floor(x)
        o[j] = np.int64(fl) + 1
        frac[j] = fl - x                                       # minus the fractional part: ascending sort
        t += o[j]
    r = total - t
    if 0 <= r < A:
        order = np.argsort(frac, kind="mergesort")             # stable: equal parts keep index order
        for k in range(r):
            o[order[k]] += 1
        return
    mx = o[0]
    for j in range(A):
        mx = max(mx, o[j])
    for j in range(A):
        if o[j] == mx:
            o[j] += r
            break


@numba.njit(cache=True, nogil=True)
def _quantize_row(row, scale, total, o):  # pragma: no cover - compiled
    """f_j = floor(p_j scale) + 1, then the remainder to the first largest f_j."""
    A = row.shape[0]
    for j in range(A):
        o[j] = np.int64(np.floor(row[j] * scale)) + 1
    t = 0
    mx = o[0]
    for j in range(A):
        t += o[j]
        mx = max(mx, o[j])
    for j in range(A):
        if o[j] == mx:
            o[j] += total - t
            break


def quantize_log_pmf(logp, outside: bool = False, spread: bool = False) -> np.ndarray:
    r"""Integer frequencies (the rule of :func:`quantize_pmf`) of rows of log-probabilities, deterministically.

    ``outside=False``: ``logp`` (..., A) are unnormalized log-weights; the pmf is
    :math:`p_j = e^{l_j - m} / \sum_k e^{l_k - m}`, :math:`m = \max_k l_k`.  ``outside=True``:
    ``logp`` (..., W) are the log-probabilities of a window of symbols, kept as they are, and
    one more column holds the mass beyond the window, :math:`\max(0, 1 - \sum_j e^{l_j})`
    (the result has W + 1 columns; :func:`with_outside_mass`).  The exponentials are
    :func:`vae.fixed_math.exp` and the sums run left to right, in one compiled pass per row,
    so the integers are identical on every IEEE-754 machine (:mod:`vae.fixed_math`).
    ``spread=True``: the remainder is spread over the largest fractional parts (the module
    notes), not added to the argmax.

    >>> quantize_log_pmf(np.log([[0.5, 0.5]])).tolist()
    [[8388608, 8388608]]
    """
    logp = np.asarray(logp, dtype=np.float64)
    if logp.ndim == 0 or logp.shape[-1] < 1:
        raise ValueError("logp must have at least one symbol along its last axis")
    A = logp.shape[-1] + (1 if outside else 0)
    if A > _TOTAL // 2:
        raise ValueError(f"an alphabet of {A} symbols is too large for precision {PRECISION}")
    flat = np.ascontiguousarray(logp.reshape(-1, logp.shape[-1]))
    f = np.empty((len(flat), A), dtype=np.int64)
    if not _quantize_log_rows(flat, _TOTAL, bool(outside), bool(spread), f):
        raise ValueError("logp must not be NaN or +inf, and a row must have a finite entry")
    return f.reshape(logp.shape[:-1] + (A,))


@numba.njit(cache=True, nogil=True)
def _quantize_log_rows(lp, total, outside, spread, out):  # pragma: no cover - compiled
    n, W = lp.shape
    A = W + 1 if outside else W
    scale = np.float64(total - A)
    p = np.empty(A)
    for i in range(n):
        row = lp[i]
        bad = False
        m = -np.inf
        for j in range(W):
            v = row[j]
            bad |= v != v or v == np.inf
            m = max(m, v)
        if bad:
            return False
        if outside:
            m = 0.0
        elif m == -np.inf:
            return False
        for j in range(W):
            p[j] = _exp(row[j] - m)
        s = 0.0
        for j in range(W):                                      # left to right: a fixed order
            s += p[j]
        if outside:
            p[W] = max(1.0 - s, 0.0)
        else:
            for j in range(W):
                p[j] = p[j] / s
        if spread:
            _quantize_row_spread(p, scale, total, out[i])
        else:
            _quantize_row(p, scale, total, out[i])
    return True


def coded_bits(freqs, symbols) -> np.ndarray:
    """Information content ``-log2(f/2^24)`` of each coded symbol: rows of ``freqs`` and ``symbols`` (N,)."""
    f = np.take_along_axis(np.asarray(freqs), np.asarray(symbols, dtype=np.int64)[:, None], 1)[:, 0]
    return PRECISION - np.log2(f.astype(np.float64))


def _probs(freqs):
    return np.ascontiguousarray(np.asarray(freqs, dtype=np.float64) / _TOTAL)


def push(coder, symbols, freqs) -> None:
    """Encode ``symbols`` (N,) with the rows of ``freqs`` (N, A) so that :func:`pop` returns them in order."""
    if len(symbols):
        coder.encode_reverse(np.ascontiguousarray(symbols, dtype=np.int32), _CATEGORICAL, _probs(freqs))


def pop(coder, freqs) -> np.ndarray:
    """Decode one symbol per row of ``freqs`` (N, A): int64 (N,)."""
    if len(freqs) == 0:
        return np.zeros(0, dtype=np.int64)
    return coder.decode(_CATEGORICAL, _probs(freqs)).astype(np.int64)


def push_uniform(coder, values, sizes) -> None:
    r"""Encode ``values`` (N,) uniform over ``[0, sizes)`` (N,), :math:`\log_2` size bits each.

    A size up to :data:`MAX_UNIFORM` (:math:`2^{12}`, where the coder's rounding costs at
    most :math:`3.5\cdot 10^{-4}` bits) is one uniform symbol.  A larger size :math:`N` is
    split as :math:`v = 2^{12} h + l`: a flag "is :math:`h` the last block"
    (probability = the last block's share of :math:`N`), then :math:`h` uniform over the
    full blocks (recursively), then :math:`l` uniform over its block; the product of the
    probabilities is exactly :math:`1/N` before quantization.  Sizes of 1 cost nothing.
    """
    values, sizes = _as_counts(values), _as_counts(sizes)
    big = (sizes > MAX_UNIFORM).astype(bool)
    small = ~big & (sizes > 1)
    if np.any(big):
        v, n = values[big], sizes[big]
        n_hi, last, flag_pmf = _big_split(n)
        hi, lo = v // MAX_UNIFORM, v % MAX_UNIFORM
        flag = (hi == n_hi - 1).astype(bool)
        lo_size = np.where(flag, last, MAX_UNIFORM)
        push_uniform(coder, lo, lo_size)
        push_uniform(coder, hi[~flag], n_hi[~flag] - 1)
        push(coder, flag.astype(np.int64), flag_pmf)
    if np.any(small):
        coder.encode_reverse(values[small].astype(np.int32), _UNIFORM, sizes[small].astype(np.int32))


def _as_counts(a):
    """Integer array: int64 when every entry fits, else exact Python ints (``object``; shells
    of BW16/Leech exceed :math:`2^{63}`).  The int64 path is the one every smaller size takes."""
    a = np.asarray(a)
    if a.dtype != object:
        return a.astype(np.int64)
    if a.size == 0 or (max(a.tolist()) < _INT64_SAFE and min(a.tolist()) > -_INT64_SAFE):
        return a.astype(np.int64)
    return a


def pop_uniform(coder, sizes) -> np.ndarray:
    """Inverse of :func:`push_uniform` for the same ``sizes``."""
    sizes = _as_counts(sizes)
    out = np.zeros(len(sizes), dtype=sizes.dtype)
    big = (sizes > MAX_UNIFORM).astype(bool)
    small = ~big & (sizes > 1)
    if np.any(small):
        out[small] = coder.decode(_UNIFORM, sizes[small].astype(np.int32))
    if np.any(big):
        n = sizes[big]
        n_hi, last, flag_pmf = _big_split(n)
        flag = pop(coder, flag_pmf).astype(bool)
        hi = n_hi - 1
        hi[~flag] = pop_uniform(coder, n_hi[~flag] - 1)
        lo = pop_uniform(coder, np.where(flag, last, MAX_UNIFORM))
        out[big] = hi * MAX_UNIFORM + lo
    return out


def _big_split(n):
    n_hi = -(-n // MAX_UNIFORM)
    last = n - (n_hi - 1) * MAX_UNIFORM
    share = (last / n).astype(np.float64)        # object: Python's correctly rounded int / int
    return n_hi, last, quantize_pmf(np.stack([1.0 - share, share], -1))


def uniform_bits(sizes) -> np.ndarray:
    """Ideal bits of uniform symbols of these sizes, :math:`\\log_2` size (exact Python ints allowed)."""
    sizes = np.asarray(sizes)
    if sizes.dtype == object:
        return np.array([math.log2(int(s)) for s in sizes.reshape(-1)], dtype=np.float64).reshape(sizes.shape)
    return np.log2(sizes.astype(np.float64))
