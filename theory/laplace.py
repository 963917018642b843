r"""The Z + Laplace closed forms of Sec. 3.3, numerically stable, in numpy and torch.

Setting (paper, Sec. 3.3): the integer lattice scaled by :math:`\Delta`
(points :math:`z\Delta`, :math:`z \in \mathbb Z`), the dither
:math:`U \sim \mathrm{Unif}(-\Delta/2, \Delta/2)` (so :math:`f_U = 1/\Delta`) and
a Laplace prior :math:`f_S(s) = \tfrac{\alpha}{2} e^{-\alpha |s|}`.  The paper prints

.. math::

   \log\frac{f_U(u)}{f_{S-U}(s-u)} =
   \begin{cases} -\log\bigl(1 - e^{-\alpha\Delta/2}\cosh(\alpha(s-u))\bigr) & |s-u| < \Delta/2 \\
                 \alpha|s-u| - \log\sinh(\alpha\Delta/2) & |s-u| \ge \Delta/2 \end{cases}

   \log\frac{1}{p_{Z|U}(z|u)} =
   \begin{cases} -\log\bigl(1 - e^{-\alpha\Delta/2}\cosh(\alpha u)\bigr) & z = 0 \\
                 \alpha|z\Delta - u| - \log\sinh(\alpha\Delta/2) & z \ne 0 \end{cases}

Independent derivation (what the tests check against mpmath quadrature):
:math:`f_{S-U}(\eta) = \frac1\Delta\int_{-\Delta/2}^{\Delta/2} f_S(\eta+v)\,dv
= \frac1\Delta P(S \in [\eta-\Delta/2, \eta+\Delta/2])`, hence
:math:`\log f_U/f_{S-U}(\eta) = -\log P(S \in [\eta \pm \Delta/2])`; and
:math:`p_{Z|U}(z|u) = P(K(S+u) = z\Delta) = P(S \in [z\Delta - u \pm \Delta/2])`.
With the Laplace CDF, for :math:`|c| < \Delta/2`,
:math:`P(S \in [c \pm \Delta/2]) = 1 - e^{-\alpha\Delta/2}\cosh(\alpha c)`, and for
:math:`|c| \ge \Delta/2` it is :math:`e^{-\alpha|c|}\sinh(\alpha\Delta/2)`.

**Finding: both printed formulas are correct** (for :math:`|u| < \Delta/2`, i.e. U in
its cell, where ``z = 0`` is exactly ``|z Delta - u| < Delta/2``; cosh is even so
``cosh(alpha u) = cosh(alpha (0 Delta - u))``; the sign convention ``|z Delta - u|``
is the one of ``K(S + u) = z Delta``).  No erratum is recorded for Sec. 3.3; the
tests compare both forms with mpmath quadrature of :math:`f_S` to 1e-12 relative.
Outside the cell (:math:`|u| \ge \Delta/2`) the printed branch-by-``z`` would be
wrong; :func:`neg_log_p_z_given_u` raises ``ValueError`` on such numpy input.

Stable evaluation (no overflow of cosh / sinh for large :math:`\alpha|\eta|`):
with :math:`a = \alpha(\Delta/2 - |\eta|) \ge 0`, :math:`b = \alpha(\Delta/2 + |\eta|)`,

.. math::

   1 - e^{-\alpha\Delta/2}\cosh(\alpha\eta) = -\tfrac12\bigl(\mathrm{expm1}(-a) + \mathrm{expm1}(-b)\bigr),
   \qquad \log\sinh x = x + \log(-\mathrm{expm1}(-2x)) - \log 2 ,

both sums of non-negative terms (no cancellation).  In torch the inner branch is
evaluated on :math:`|\eta|` clamped to :math:`\Delta/2`, so ``torch.where`` never
back-propagates a NaN from the branch it discards.

>>> round(float(log_fu_over_fsu(0.0, 1.0, 1.0)), 12)  # -log(1 - e^{-1/2})
0.932752129567
>>> bool(neg_log_p_z_given_u(2, 0.1, 3.0, 1.0) == log_fu_over_fsu(2 - 0.1, 3.0, 1.0))
True
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["log_fu_over_fsu", "neg_log_p_z_given_u", "log_interval_prob",
           "log_fu_over_fsu_reference", "neg_log_p_z_given_u_reference"]

_LOG2 = math.log(2.0)


def _is_torch(*xs) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return any(isinstance(x, torch.Tensor) for x in xs)


def _as_torch(xs):
    import torch

    ref = next(x for x in xs if isinstance(x, torch.Tensor))
    dtype = ref.dtype if ref.dtype.is_floating_point else torch.get_default_dtype()
    return [x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=dtype, device=ref.device)
            for x in xs]


def _check_positive_np(alpha, delta):
    if np.any(np.asarray(alpha) <= 0) or np.any(np.asarray(delta) <= 0):
        raise ValueError(f"alpha and delta must be > 0, got alpha={alpha!r}, delta={delta!r}")


def _inner(xp, abs_c, alpha, h):
    """-log(1 - e^{-alpha h} cosh(alpha c)) for |c| <= h (callers clamp), accurate for all magnitudes."""
    a = alpha * (h - abs_c)                                   # >= 0
    b = alpha * (h + abs_c)                                   # >= a
    q = 0.5 * (xp.exp(-a) + xp.exp(-b))                       # e^{-alpha h} cosh(alpha c), in (0, 1)
    p = -0.5 * (xp.expm1(-a) + xp.expm1(-b))                  # = 1 - q > 0, no cancellation
    use_q = q <= 0.5
    small_q = -xp.log1p(-xp.where(use_q, q, 0 * q + 0.5))     # accurate when P = 1 - q is near 1
    return xp.where(use_q, small_q, -xp.log(p))               # -log p: accurate when P is small


def _outer(xp, abs_c, alpha, h):
    """alpha |c| - log sinh(alpha h) for |c| >= h, written as alpha(|c| - h) + log 2 - log(-expm1(-2 alpha h))."""
    return alpha * (abs_c - h) + _LOG2 - xp.log(-xp.expm1(-2 * alpha * h))


def _neg_log_interval(xp, c, alpha, delta):
    h = delta / 2
    ac = xp.abs(c)
    inner = _inner(xp, xp.minimum(ac, h), alpha, h)           # clamped: the discarded branch stays finite
    outer = _outer(xp, xp.maximum(ac, h), alpha, h)
    return xp.where(ac < h, inner, outer)


def _np_args(*xs):
    return [np.asarray(x, dtype=float) for x in xs]


def log_interval_prob(c, alpha, delta):
    r"""log P(S in [c - Delta/2, c + Delta/2]) for S ~ Laplace(alpha), stable (numpy or torch).

    ``= log(1 - e^{-alpha Delta/2} cosh(alpha c))`` for ``|c| < Delta/2`` and
    ``-alpha|c| + log sinh(alpha Delta/2)`` otherwise (derived from the Laplace CDF).
    """
    if _is_torch(c, alpha, delta):
        import torch

        return -_neg_log_interval(torch, *_as_torch([c, alpha, delta]))
    c, alpha, delta = _np_args(c, alpha, delta)
    _check_positive_np(alpha, delta)
    return -_neg_log_interval(np, c, alpha, delta)


def log_fu_over_fsu(s_minus_u, alpha, delta):
    r"""Sec. 3.3, first closed form: :math:`\log f_U(u) / f_{S-U}(s-u)` with ``eta = s - u``.

    Parameters
    ----------
    s_minus_u : array_like or torch.Tensor
        :math:`\eta = s - u` (in (5): ``e(x) - U``).
    alpha : float, array or tensor
        Laplace decay rate (> 0); density :math:`\tfrac\alpha2 e^{-\alpha|s|}`.
    delta : float, array or tensor
        Lattice scale :math:`\Delta > 0`.

    Returns
    -------
    ndarray or torch.Tensor (broadcast shape); differentiable in torch w.r.t. all inputs.

    Notes
    -----
    Printed form verified correct (module docstring).  Equals
    :math:`-\log P(S \in [\eta - \Delta/2, \eta + \Delta/2])` because
    :math:`f_U = 1/\Delta`.
    """
    return -log_interval_prob(s_minus_u, alpha, delta)


def neg_log_p_z_given_u(z, u, alpha, delta):
    r"""Sec. 3.3, second closed form: :math:`\log 1/p_{Z|U}(z|u)`, branch chosen by ``z`` as printed.

    ``z`` is the integer index of the lattice point :math:`z\Delta`; ``u`` the dither
    in :math:`(-\Delta/2, \Delta/2)`.  ``z = 0``: :math:`-\log(1 - e^{-\alpha\Delta/2}\cosh(\alpha u))`;
    ``z != 0``: :math:`\alpha|z\Delta - u| - \log\sinh(\alpha\Delta/2)`.  (Theorem 1:
    it equals :func:`log_fu_over_fsu` at :math:`\eta = z\Delta - u`.)

    Raises
    ------
    ValueError
        numpy input with ``|u| >= Delta/2`` (outside the cell the printed branch
        selection by ``z`` does not hold), or ``alpha``/``delta`` not positive.
    """
    if _is_torch(z, u, alpha, delta):
        import torch

        z, u, alpha, delta = _as_torch([z, u, alpha, delta])
        xp = torch
    else:
        z = np.asarray(z)
        u, alpha, delta = _np_args(u, alpha, delta)
        _check_positive_np(alpha, delta)
        if np.any(np.abs(u) >= delta / 2):
            raise ValueError("u must lie in the cell (-delta/2, delta/2) for the printed z-branches; "
                             f"got u={u!r}, delta={delta!r}")
        if np.any(z != np.round(z)):
            raise ValueError(f"z must be integer lattice indices, got {z!r}")
        xp = np
    h = delta / 2
    zero = _inner(xp, xp.minimum(xp.abs(u), h), alpha, h)                        # z = 0: cosh(alpha u)
    nonzero = _outer(xp, xp.maximum(xp.abs(z * delta - u), h), alpha, h)          # z != 0: alpha|z Delta - u|
    return xp.where(z == 0, zero, nonzero)


# ----------------------------------------------------------------- independent references
def _laplace_interval_mp(lo, hi, alpha):
    import mpmath as mp

    f = lambda s: alpha / 2 * mp.exp(-alpha * abs(s))  # noqa: E731
    # breakpoints on the scale 1/alpha around the peak (0, or the endpoint nearest to it)
    peak = mp.mpf(0) if lo < 0 < hi else (hi if hi <= 0 else lo)
    pts = {lo, hi, peak}
    for j in (1, 4, 16, 64):
        for q in (peak - j / alpha, peak + j / alpha):
            if lo < q < hi:
                pts.add(q)
    scale = f(peak)  # quad converges in absolute terms: integrate f / f(peak), rescale after
    return scale * mp.quad(lambda s: f(s) / scale, sorted(pts))


def _neg_log_interval_mp(c, alpha, delta):
    """-log P(S in [c - delta/2, c + delta/2]) by quadrature of f_S; via the tails when P is near 1."""
    import mpmath as mp

    lo, hi = c - delta / 2, c + delta / 2
    if lo < 0 < hi:
        outside = _laplace_interval_mp(-mp.inf, lo, alpha) + _laplace_interval_mp(hi, mp.inf, alpha)
        return -mp.log1p(-outside)
    return -mp.log(_laplace_interval_mp(lo, hi, alpha))


def log_fu_over_fsu_reference(s_minus_u, alpha, delta, dps=40):
    r"""mpmath reference: :math:`\log\bigl((1/\Delta) / f_{S-U}(\eta)\bigr)` with
    :math:`f_{S-U}(\eta) = \frac1\Delta\int_{-\Delta/2}^{\Delta/2} f_S(\eta+v)\,dv` by quadrature
    of the Laplace density (scalars only; independent of the closed form).
    """
    import mpmath as mp

    with mp.workdps(dps):
        return float(_neg_log_interval_mp(mp.mpf(s_minus_u), mp.mpf(alpha), mp.mpf(delta)))


def neg_log_p_z_given_u_reference(z, u, alpha, delta, dps=40):
    r"""mpmath reference: :math:`-\log P(S \in [z\Delta - u - \Delta/2, z\Delta - u + \Delta/2])`."""
    import mpmath as mp

    with mp.workdps(dps):
        c = int(z) * mp.mpf(delta) - mp.mpf(u)
        return float(_neg_log_interval_mp(c, mp.mpf(alpha), mp.mpf(delta)))
