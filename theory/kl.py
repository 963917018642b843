r"""The KL identity (7) of Sec. 3.5: :math:`D_{KL}(U_m \| N^*_m)` exactly and by Monte Carlo.

:math:`U_m` is uniform over the Voronoi cell :math:`\mathcal P_0(\Lambda_m)`,
:math:`N^*_m \sim \mathcal N(0, \sigma_\Lambda^2 I_m)`.  Derivation (the correct statement):

.. math::

   D_{KL}(U\|N^*) = -h(U) - E\log N^*(U)
   = -\log V + \frac m2 \log(2\pi\sigma^2) + \frac{E\|U\|^2}{2\sigma^2}
   = -\log V + \frac m2\log(2\pi\sigma^2) + \frac m2
   = \frac m2 \log\bigl(2\pi e\, G(\Lambda_m)\bigr),

since :math:`E\|U\|^2 = m\sigma^2` and :math:`G = \sigma^2 / V^{2/m}`.

**Erratum (eq. (7)).** The paper prints :math:`D_{KL}(U_m\|N^*_m) = \tfrac12\log(2\pi e G(\Lambda_m))`,
which is the KL *per dimension*; the total divergence is ``m`` times larger.  For
``m = 1`` they agree; for E8, ``G = 929/12960``: printed 0.101181, correct 0.809451,
Monte Carlo (``validation.kl_identity``) agrees with the latter to < 4 SE and
rejects the former by hundreds of SE.

**The limit claim** :math:`\lim_m D_{KL} = 0`.  Per dimension,
:math:`\tfrac12\log(2\pi e G_m) \to 0` iff :math:`G_m \to 1/(2\pi e)`, which holds for
the optimal lattices (Zamir & Feder 1996; Poltyrev); it cannot be checked
numerically (no explicit sequence of lattices is known with :math:`G_m \to 1/(2\pi e)`),
but the lower bound is checkable: every lattice has :math:`G(\Lambda) \ge G^*_m`
(the sphere bound, SPLAG ch. 2 §3), so the total
:math:`D \ge \frac m2 \log(2\pi e G^*_m) = -1 + \tfrac12\log(\pi m) + o(1) \to \infty`
(:func:`total_kl_lower_bound`).  The limit as printed (of the total) is false; it
holds for the per-dimension KL.  The same paragraph prints
:math:`\lim G_m = 1/(2\pi e^2)`, which contradicts its own bound :math:`G_m > 1/(2\pi e)`;
the correct limit is :math:`1/(2\pi e)`.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from .errata import add_erratum

__all__ = ["kl_uniform_gaussian_mc", "kl_uniform_gaussian_exact", "kl_as_printed",
           "kl_per_dimension", "sphere_nsm", "total_kl_lower_bound", "PAPER_ERRATA"]


def _g_and_sigma2(lattice):
    from .scaling import nsm_value

    G = nsm_value(lattice)  # exact, or SPLAG's value for BW16 / Leech
    sigma2 = G * lattice.volume ** (2.0 / lattice.dim)
    return G, sigma2


def kl_uniform_gaussian_exact(lattice) -> float:
    r"""The correct closed form :math:`D_{KL}(U_m\|N^*_m) = \frac m2\log(2\pi e G(\Lambda))` (nats).

    >>> import lattices
    >>> round(kl_uniform_gaussian_exact(lattices.get("z")), 12) == round(0.5 * math.log(2 * math.pi * math.e / 12), 12)
    True
    """
    G, _ = _g_and_sigma2(lattice)
    return 0.5 * lattice.dim * math.log(2 * math.pi * math.e * G)


def kl_per_dimension(lattice) -> float:
    r""":math:`\tfrac1m D_{KL}(U_m\|N^*_m) = \tfrac12\log(2\pi e G)`: what (7) actually gives."""
    return kl_uniform_gaussian_exact(lattice) / lattice.dim


def kl_as_printed(lattice) -> float:
    r"""Eq. (7) exactly as printed: :math:`\tfrac12 \log(2\pi e G(\Lambda_m))` (wrong for m > 1)."""
    G, _ = _g_and_sigma2(lattice)
    return 0.5 * math.log(2 * math.pi * math.e * G)  # eq. (7) as printed: missing factor m


def kl_uniform_gaussian_mc(lattice, n, rng=None, sigma2=None, cell_sampler=None, *,
                           chunk: int = 2 ** 20, progress: bool = False,
                           max_seconds: float | None = None):
    r"""Monte Carlo estimate and standard error of :math:`D_{KL}(U_m \| N^*_m)`.

    :math:`h(U) = \log V` exactly; the cross entropy :math:`E[-\log N^*(U)]` is
    averaged over ``n`` samples of ``lattice.sample_cell``.

    Parameters
    ----------
    lattice : lattices.Lattice
    n : int
        Number of samples (>= 2).
    rng : None, int or numpy.random.Generator
    sigma2 : float, optional
        Variance per coordinate of :math:`N^*`; default the exact :math:`\sigma^2_\Lambda`.
    cell_sampler : callable(n, rng) -> (n, m) array, optional
        Replace the dither sampler (used by negative controls).
    chunk : int
        Samples drawn at once: memory stays about ``chunk * m * 24`` bytes for any ``n``.  The
        draws are consecutive from ``rng``, so for ``n <= chunk`` the numbers are those of one
        draw, and otherwise they agree with it to round-off (chunk moments are combined by
        Chan et al.'s pairwise update).
    progress : bool
        Show an estimate of the time and a bar when the run is long (:func:`lattices.cli.chunk_ranges`).
    max_seconds : float, optional
        The time rule (``--max-seconds``): after the first chunk, a run whose remaining time is
        estimated beyond it stops with :class:`lattices.cli.UsageError` naming the estimate.

    Returns
    -------
    (estimate, standard_error) : tuple of float
    """
    from lattices.cli import chunk_ranges

    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    if sigma2 is None:
        sigma2 = float(lattice.second_moment_exact())
    m = lattice.dim
    sampler = cell_sampler or lattice.sample_cell
    count, mean, m2 = 0, 0.0, 0.0
    for start, stop in chunk_ranges(int(n), chunk, "KL Monte Carlo", progress=progress,
                                    max_seconds=max_seconds):
        U = np.asarray(sampler(stop - start, rng), dtype=float)                # (chunk, m)
        neg_log_n = 0.5 * m * math.log(2 * math.pi * sigma2) + (U * U).sum(axis=1) / (2 * sigma2)
        c_mean = float(neg_log_n.mean())
        c_m2 = float(((neg_log_n - c_mean) ** 2).sum())
        total = count + len(neg_log_n)
        delta = c_mean - mean
        mean += delta * len(neg_log_n) / total
        m2 += c_m2 + delta * delta * count * len(neg_log_n) / total
        count = total
    est = mean - math.log(lattice.volume)                                   # - h(U) + E[-log N*]
    se = math.sqrt(m2 / (n - 1)) / math.sqrt(n)
    return est, se


def sphere_nsm(m) -> sp.Expr:
    r""":math:`G^*_m = \Gamma(m/2+1)^{2/m} / ((m+2)\pi)`, the NSM of the m-ball (exact, sympy).

    >>> sphere_nsm(1)
    1/12
    """
    m = sp.Integer(m)
    return sp.simplify(sp.gamma(m / 2 + 1) ** (2 / m) / ((m + 2) * sp.pi))


def total_kl_lower_bound(m) -> float:
    r""":math:`\frac m2 \log(2\pi e G^*_m)`: a lower bound on the total KL of every m-dim lattice.

    Grows like :math:`\tfrac12\log(\pi m) - 1`, so the total KL cannot tend to 0.
    """
    lg = math.lgamma(m / 2 + 1) * 2 / m - math.log((m + 2) * math.pi)
    return 0.5 * m * (math.log(2 * math.pi) + 1 + lg)


add_erratum(
    "eq. (7)", "KL divergence between the uniform dither and the matched Gaussian",
    "D_KL(U_m || N*_m) = 1/2 log(2 pi e G(Lambda_m))",
    "D_KL(U_m || N*_m) = (m/2) log(2 pi e G(Lambda_m)); the printed value is the KL per dimension "
    "(the two agree only for m = 1)",
    "exact derivation -log V + (m/2) log(2 pi sigma^2) + m/2; E8 (G = 929/12960): printed 0.101181, "
    "correct 0.809451; Monte Carlo with 200000 samples, seed 0, agrees with the correct value "
    "within 4 SE and rejects the printed one (python -m validation.kl_identity --lattice e8)",
)
add_erratum(
    "eq. (7), limit", "lim_{m -> inf} D_KL(U_m || N*_m) = 0",
    "lim_{m -> inf} D_KL(U_m || N*_m) = 0",
    "holds per dimension ((1/m) D_KL = 1/2 log(2 pi e G_m) -> 0 since G_m -> 1/(2 pi e)); the total "
    "KL is >= (m/2) log(2 pi e G*_m) = 1/2 log(pi m) - 1 + o(1) -> infinity",
    "sphere bound G(Lambda) >= G*_m = Gamma(m/2+1)^(2/m)/((m+2) pi); (m/2) log(2 pi e G*_m) = "
    "0.740 (m=8), 1.886 (m=100), 4.178 (m=10^4), 6.480 (m=10^6) (theory.kl.total_kl_lower_bound)",
)
add_erratum(
    "Sec. 3.5, NSM limit", "limit of the optimal NSM G_m",
    "lim_{m -> inf} G_m = 1/(2 pi e^2)",
    "lim_{m -> inf} G_m = 1/(2 pi e) ~ 0.05855 (Zamir & Feder 1996)",
    "1/(2 pi e^2) ~ 0.02154 < 1/(2 pi e) ~ 0.05855, contradicting the paper's own bound "
    "G_m > G*_m > 1/(2 pi e) printed on the same line; G*_m -> 1/(2 pi e) (theory.kl.sphere_nsm)",
)
add_erratum(
    "Sec. 3.5, NSM bound", "strict inequality G_m > G*_m",
    "G_m > G*_m > 1/(2 pi e)",
    "G_m >= G*_m > 1/(2 pi e), with equality G_1 = G*_1 = 1/12 for m = 1",
    "the Voronoi cell of Z is the 1-ball [-1/2, 1/2]: G(Z) = 1/12 = sphere_nsm(1) exactly (sympy)",
)

from .errata import PAPER_ERRATA  # noqa: E402  (re-exported for convenience)
