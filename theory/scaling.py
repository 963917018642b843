r"""Matched scaling, eq. (8), and the Gaussian-proxy KL term of Sec. 3.6.2.

Eq. (8): the scale :math:`\Delta` for which the dither of :math:`\Lambda_\Delta`
has the second moment of :math:`U_G \sim \mathcal N(0, \sigma^2_{U_G} I_m)`,
i.e. :math:`\Delta^2\sigma^2_\Lambda = \sigma^2_{U_G}`:

.. math::  \log\Delta = \tfrac12\log\sigma^2_{U_G} - \tfrac12\log G(\Lambda) - \tfrac1m\log V_\Lambda
           \qquad (8)

(correct as printed: :math:`G = \sigma^2_\Lambda/V^{2/m}`; :func:`check_matched_scaling_exact`
verifies :math:`\Delta^2\sigma^2_\Lambda = \sigma^2_{U_G}` symbolically).

Sec. 3.6.2, step 2, the KL term as printed:

.. math::

   \frac12\Bigl(\frac{\|e - U_G\|^2}{\sigma^2_{U_G} + \sigma^2_{U_S}}
   - \frac{\|U_G\|^2}{\sigma^2_G} - m\log\frac{\sigma^2_{U_G}}{\sigma^2_{U_G} + \sigma^2_{U_S}}\Bigr)

It abbreviates (5) with Gaussians,
:math:`\log \mathcal N(U_G; 0, \sigma^2_{U_G} I) - \log \mathcal N(e - U_G; 0, (\sigma^2_{U_G}+\sigma^2_{S_G}) I)`,
and equals it exactly **when** :math:`\sigma^2_G` is read as :math:`\sigma^2_{U_G}` and
:math:`\sigma^2_{U_S}` as :math:`\sigma^2_{S_G}` (notation typos, recorded in
:mod:`theory.errata`; with any other reading of :math:`\sigma^2_G` the identity fails).
:func:`proxy_kl` implements it with that reading; the tests compare it with
:func:`gaussian_log_ratio` to float round-off.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from .errata import add_erratum

__all__ = ["nsm_value", "matched_log_delta", "matched_delta", "matched_log_delta_exact",
           "check_matched_scaling_exact", "proxy_kl", "gaussian_log_ratio"]


def nsm_value(lattice) -> float:
    """G(Lambda) as a float: exact (:meth:`lattices.Lattice.nsm_exact`) where available, else,
    for BW16 and Leech (no closed form), the published value of SPLAG Table 2.3 (0.068297,
    0.065771).  This toolkit's Monte Carlo estimates are 0.0682943(29) and 0.0657510(20)
    (docs/lattice-tables.md): Leech's printed value is ~3e-4 too high (relative), which moves
    Delta of eq. (8) by ~1.5e-4 (relative), far below anything training resolves.
    """
    try:
        return float(lattice.nsm_exact())
    except ValueError:
        blocks = lattice.blocks()
        constants = blocks[0].spec.exact_constants()  # lattices.LatticeSpec: None where derived
        if len(blocks) > 1 or constants is None:
            raise
        return float(constants.nsm_published)


def matched_log_delta(sigma2_ug, lattice):
    r"""Eq. (8): :math:`\log\Delta = \tfrac12\log\sigma^2_{U_G} - \tfrac12\log G - \tfrac1m\log V`.

    ``sigma2_ug`` may be a float, an ndarray or a torch tensor (differentiable).

    >>> import lattices
    >>> round(float(matched_log_delta(1 / 12, lattices.get("z"))), 12)  # Z: Delta = 1
    0.0
    """
    G = nsm_value(lattice)
    c = -0.5 * math.log(G) - math.log(lattice.volume) / lattice.dim
    try:
        import torch

        if isinstance(sigma2_ug, torch.Tensor):
            return 0.5 * torch.log(sigma2_ug) + c
    except ImportError:  # pragma: no cover
        pass
    return 0.5 * np.log(np.asarray(sigma2_ug, dtype=float)) + c


def matched_delta(sigma2_ug, lattice):
    """``exp(matched_log_delta(...))``: the scale Delta of eq. (8)."""
    out = matched_log_delta(sigma2_ug, lattice)
    return out.exp() if hasattr(out, "exp") else np.exp(out)


def matched_log_delta_exact(sigma2_ug, lattice) -> sp.Expr:
    """Eq. (8) as a sympy expression (``sigma2_ug`` a sympy number or symbol)."""
    s = sp.sympify(sigma2_ug)
    m = lattice.dim
    return sp.log(s) / 2 - sp.log(lattice.nsm_exact()) / 2 - sp.log(lattice.volume_exact()) / m


def check_matched_scaling_exact(lattice, sigma2_ug=None) -> bool:
    r"""True iff :math:`\Delta^2 \sigma^2_\Lambda - \sigma^2_{U_G}` simplifies to 0 exactly (sympy).

    ``sigma2_ug`` defaults to a positive symbol, so the identity is checked for all values.
    """
    s = sp.Symbol("s", positive=True) if sigma2_ug is None else sp.sympify(sigma2_ug)
    delta = sp.exp(matched_log_delta_exact(s, lattice))
    residual = sp.simplify(delta ** 2 * lattice.second_moment_exact() - s)
    return residual == 0


def _backend(*xs):
    try:
        import torch
    except ImportError:  # pragma: no cover
        return np
    return torch if any(isinstance(x, torch.Tensor) for x in xs) else np


def proxy_kl(e, u_g, sigma2_u, sigma2_s):
    r"""Sec. 3.6.2, step 2: the Gaussian-proxy KL term, per sample (sum over the last axis).

    .. math::
       \tfrac12\Bigl(\frac{\|e-U_G\|^2}{\sigma^2_U+\sigma^2_S} - \frac{\|U_G\|^2}{\sigma^2_U}
       - m\log\frac{\sigma^2_U}{\sigma^2_U+\sigma^2_S}\Bigr)

    Parameters
    ----------
    e, u_g : array or tensor, shape (..., m)
        Encoder output and Gaussian dither :math:`U_G`.
    sigma2_u : :math:`\sigma^2_{U_G}` (the paper's :math:`\sigma^2_G` in the middle term).
    sigma2_s : :math:`\sigma^2_{S_G}` (printed :math:`\sigma^2_{U_S}`).

    Returns
    -------
    array or tensor of shape (...,); numpy or torch like the inputs (differentiable).
    """
    xp = _backend(e, u_g, sigma2_u, sigma2_s)
    if xp is np:
        e, u_g = np.asarray(e, dtype=float), np.asarray(u_g, dtype=float)
    m = e.shape[-1]
    tot = sigma2_u + sigma2_s
    d2 = ((e - u_g) ** 2).sum(-1)                  # (...,)
    u2 = (u_g ** 2).sum(-1)
    log_ratio = xp.log(sigma2_u / tot) if xp is not np else np.log(np.asarray(sigma2_u / tot, dtype=float))
    return 0.5 * (d2 / tot - u2 / sigma2_u - m * log_ratio)  # Sec. 3.6.2 (sigma_G^2 read as sigma_{U_G}^2)


def gaussian_log_ratio(e, u_g, sigma2_u, sigma2_s):
    r""":math:`\log\mathcal N(U_G; 0, \sigma^2_U I) - \log\mathcal N(e-U_G; 0, (\sigma^2_U+\sigma^2_S)I)`.

    Computed from the two Gaussian log-densities directly (the reference for :func:`proxy_kl`).
    """
    xp = _backend(e, u_g, sigma2_u, sigma2_s)
    if xp is np:
        e, u_g = np.asarray(e, dtype=float), np.asarray(u_g, dtype=float)
    m = e.shape[-1]
    log = xp.log if xp is not np else (lambda x: np.log(np.asarray(x, dtype=float)))

    def log_normal(x, var):
        return -0.5 * m * log(2 * math.pi * var) - (x ** 2).sum(-1) / (2 * var)

    return log_normal(u_g, sigma2_u) - log_normal(e - u_g, sigma2_u + sigma2_s)


add_erratum(
    "Sec. 3.6.2, step 2", "Gaussian-proxy KL term: variance in the middle term",
    "- (1/sigma_G^2) ||U_G||^2",
    "- (1/sigma_{U_G}^2) ||U_G||^2 (sigma_G is not defined in the paper; only this reading makes "
    "the term equal log N(U_G; 0, sigma_{U_G}^2 I) - log N(e - U_G; 0, (sigma_{U_G}^2 + sigma_{S_G}^2) I))",
    "theory.scaling.proxy_kl equals gaussian_log_ratio to float round-off for random e, U_G, variances "
    "(tests/test_theory_formulas.py); reading sigma_G^2 as sigma_{U_G}^2 + sigma_{S_G}^2 breaks it",
)
add_erratum(
    "Sec. 3.6.2", "name of the prior variance",
    "sigma_{U_S}^2 (in the assumptions and the KL term)",
    "sigma_{S_G}^2, the variance of S_G introduced in Sec. 3.5",
    "Sec. 3.5 defines U_G, S_G with covariances sigma_{U_G}^2 I_m and sigma_{S_G}^2 I_m; no U_S exists",
)
