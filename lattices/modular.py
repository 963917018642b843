"""Exact theta series of BW16 and the Leech lattice from their modular-form expressions.

Power series are lists of Python ints (exact).  Index = textbook squared norm.

* Leech (SPLAG ch. 4 eq. (151); ch. 7 Sec. 7): the unique even unimodular
  lattice of dimension 24 without roots, so
  ``Theta = E_4^3 - 720 Delta`` in ``q^{norm/2}``, with
  ``E_4 = 1 + 240 sum sigma_3(n) q^n`` and ``Delta = q prod (1 - q^n)^24``.
* BW16 (SPLAG ch. 4 eq. (133)): ``Theta = (1/2)(theta_2^16 + theta_3^16 +
  theta_4^16) + 15 theta_2^8 theta_3^8``, the Jacobi thetas taken at ``2z``
  (``theta_3(2z) = sum q^{2 n^2}``, ``theta_2(2z) = sum q^{2 (n + 1/2)^2}``,
  ``theta_4(2z) = sum (-1)^n q^{2 n^2}`` in ``q^{norm}``).  It is also what
  Construction B gives: ``sum over c in RM(1,4)`` of the series of
  ``c + 2 D16`` depends only on the weight of c (1 + 30 x^8 + x^16).

>>> leech_theta(8)
[1, 0, 0, 0, 196560, 0, 16773120, 0, 398034000]
>>> bw16_theta(8)
[1, 0, 0, 0, 4320, 0, 61440, 0, 522720]
"""
from __future__ import annotations

__all__ = ["leech_theta", "bw16_theta", "series_mul", "series_pow"]


def series_mul(a, b, n):
    """Product of two integer series truncated after ``q^n``."""
    out = [0] * (n + 1)
    for i, ai in enumerate(a[:n + 1]):
        if ai:
            for j, bj in enumerate(b[:n + 1 - i]):
                out[i + j] += ai * bj
    return out


def series_pow(a, r, n):
    out = [1] + [0] * n
    base = list(a[:n + 1]) + [0] * max(0, n + 1 - len(a))
    while r:
        if r & 1:
            out = series_mul(out, base, n)
        r >>= 1
        if r:
            base = series_mul(base, base, n)
    return out


def _sigma3(k):
    return sum(d ** 3 for d in range(1, k + 1) if k % d == 0)


def _check(max_norm):
    if isinstance(max_norm, bool) or not isinstance(max_norm, int) or max_norm < 0:
        raise ValueError(f"max_norm must be a non-negative int, got {max_norm!r}")


def leech_theta(max_norm):
    """``[N_0, ..., N_max_norm]``: Leech vectors of each squared norm (textbook scale)."""
    _check(max_norm)
    M = max_norm // 2
    e4 = [1] + [240 * _sigma3(k) for k in range(1, M + 1)]
    eta24 = [1] + [0] * M  # prod (1 - q^n)^24
    for k in range(1, M + 1):
        factor = [0] * (M + 1)
        factor[0] = 1
        factor[k] = -1
        eta24 = series_mul(eta24, series_pow(factor, 24, M), M)
    delta = [0] + eta24[:M]
    cube = series_pow(e4, 3, M)
    half = [c - 720 * d for c, d in zip(cube, delta)]
    out = [0] * (max_norm + 1)
    for k, c in enumerate(half):
        out[2 * k] = c
    return out


def bw16_theta(max_norm):
    """``[N_0, ..., N_max_norm]``: BW16 vectors of each squared norm (minimal norm 4)."""
    _check(max_norm)
    n = max_norm
    t3 = [0] * (n + 1)
    t4 = [0] * (n + 1)
    t2 = [0] * (n + 1)
    k = 0
    while 2 * k * k <= n:
        for s in ({k, -k}):
            t3[2 * s * s] += 1
            t4[2 * s * s] += (-1) ** abs(s)
        k += 1
    k = 0
    while (2 * k + 1) ** 2 <= 2 * n:  # 2 (k + 1/2)^2 = (2k + 1)^2 / 2
        t2[(2 * k + 1) ** 2 // 2] += 2  # k + 1/2 and -(k + 1/2)
        k += 1
    # theta_2(2z) has exponents 2 (k + 1/2)^2 = 2k^2 + 2k + 1/2: the half is carried as
    # q^{1/2} per factor; an even power of theta_2 has integral exponents (16 halves = 8,
    # 8 halves = 4): shift back below.
    a = series_pow(t2, 16, n)
    b = series_pow(t3, 16, n)
    c = series_pow(t4, 16, n)
    d = series_mul(series_pow(t2, 8, n), series_pow(t3, 8, n), n)
    out = [0] * (n + 1)
    for i in range(n + 1):
        a_i = a[i - 8] if i >= 8 else 0  # theta_2^16 carries q^{16/2}
        d_i = d[i - 4] if i >= 4 else 0  # theta_2^8 carries q^{8/2}
        total = a_i + b[i] + c[i] + 30 * d_i
        if total % 2:  # internal invariant: the series is integral
            raise AssertionError("BW16 theta series is not integral")
        out[i] = total // 2
    return out
