"""Lemma 2 and Theorem 1 (eq. (4)): p_{Z|U}, f_{S-U} and both sides of (4), any lattice, any prior.

With U uniform over the Voronoi cell P_0 (volume V = |det B|) and Z = K_Lambda(S + U):

.. math::

    p_{Z|U}(z|u) = P(K_\\Lambda(S+u) = z) = P(S \\in z - u + P_0)
                 = \\int_{P_0} f_S(z - u + v)\\,dv,                      \\qquad

    f_{S-U}(\\eta) = E_V[f_S(\\eta - V)] = \\frac{1}{V}\\int_{P_0} f_S(\\eta - v)\\,dv
                                                         \\quad\\text{(Sec. 3.4)}.

Since P_0 = -P_0 (the cell is symmetric) the two are tied pointwise:
p_{Z|U}(z|u) = V f_{S-U}(z - u).  Theorem 1, eq. (4):

.. math::

    E_U\\left[\\log\\frac{1}{p_{Z|U}(K_\\Lambda(e+U)|U)}\\right]
      = E_U\\left[\\log\\frac{f_U(U)}{f_{S-U}(e-U)}\\right],\\qquad f_U = 1/V.

Two ways to compute the inner integrals:

- ``method="quadrature"`` (dimension <= 4; the exact cell geometry needs a rational Gram
  matrix up to the lattice's scale): the exact simplicial decomposition
  of P_0 (``lattices.geometry.cell_simplices``; a tensor product of the factors'
  rules for product lattices), each simplex refined ``levels`` times by
  longest-edge bisection, and on each simplex the conical-product Gauss-Jacobi
  rule of Stroud (1971, Sec. 2.7; Duffy collapse of the simplex onto the cube,
  ``order`` Gauss-Jacobi points per axis with weights (1 - t)^{n-k}): exact for
  polynomials of degree 2*order - 1 in each collapsed coordinate, hence for
  total degree <= 2*order - 1.  Error check by refinement: the same rule after
  ``dim`` more bisection levels (every simplex split 2^dim times; for products
  one more level per factor); the difference is reported as the error estimate.  Smooth priors (Gaussian)
  converge spectrally; the Laplace prior has a kink on the coordinate
  hyperplanes, so there the convergence is algebraic (second order in the mesh
  size) and irregular: the refinement difference is then an estimate, not a bound
  (the tests allow 8x it).  In dimension 1 the interval is split at the prior's
  kinks (:func:`prior_kinks`) and Gauss-Legendre (24 points per piece; refinement
  36) is exact to round-off for Laplace priors.
- ``method="monte-carlo"`` (any dimension): means over V uniform on P_0
  (``lattice.sample_cell``), with standard errors.

.. warning:: The log of a Monte Carlo estimate is biased (by about
   -Var/(2 n mean^2), Jensen).  In :func:`theorem1_sides` both sides carry the
   same bias in expectation (same n_inner, V and -V equal in law), so their
   difference is unbiased to first order; the sides themselves are reported
   with that bias.  Use a large ``n_inner``.

Negative control (``dither="parallelepiped"``): U uniform over the centred
fundamental parallelepiped P instead of P_0, on both sides (f_U = 1/V still;
f_{S-U} is then the density of S - U with that U).  The left side does not
change at all -- p_{Z|U}(z|u) depends on z - u only and K(e+U) - U is
e - Unif(P_0) for U uniform over *any* fundamental domain -- but the right side
does, so eq. (4) fails; the check must refute it.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp, roots_jacobi, roots_legendre

from lattices.utils.rng import as_generator

from .crypto_lemma import DITHERS, sample_dither
from .densities import Laplace, Prior, laplace_log_interval

__all__ = [
    "Estimate", "Theorem1Sides", "cell_rule", "parallelepiped_rule", "simplex_rule",
    "p_z_given_u", "f_s_minus_u", "log_p_z_given_u", "log_f_s_minus_u", "theorem1_sides",
    "laplace_log_p_z_given_u", "laplace_log_f_s_minus_u", "laplace_theorem1_exact",
    "DEFAULT_ORDER", "DEFAULT_LEVELS", "prior_kinks",
]

METHODS = ("quadrature", "monte-carlo")
# Gauss-Jacobi points per collapsed axis and bisection levels, by dimension.
DEFAULT_ORDER = {1: 10, 2: 8, 3: 6, 4: 5}
DEFAULT_LEVELS = {1: 5, 2: 2, 3: 1, 4: 0}
_CHUNK = 2_000_000  # (points x nodes) per evaluation block


@dataclass
class Estimate:
    """A computed quantity: ``value`` and its ``error`` (Monte Carlo standard error, or the
    quadrature refinement difference), the ``method`` and ``n`` (samples or nodes)."""

    value: np.ndarray
    error: np.ndarray
    method: str
    n: int


# ------------------------------------------------------------------ quadrature rules
def _unit_simplex_rule(n: int, order: int):
    """Conical-product Gauss-Jacobi rule on {x >= 0, sum x <= 1} in R^n: barycentric
    coefficients (Q, n) and weights (Q,) summing to 1/n!."""
    ts, ws = [], []
    for k in range(1, n + 1):
        a = n - k  # weight (1 - t)^a on [0, 1]
        xi, w = roots_jacobi(order, a, 0)
        ts.append((1 + xi) / 2)
        ws.append(w / 2 ** (a + 1))
    grids = np.meshgrid(*ts, indexing="ij")
    wgrid = np.meshgrid(*ws, indexing="ij")
    T = np.stack([g.ravel() for g in grids], axis=1)  # (Q, n)
    W = np.prod(np.stack([g.ravel() for g in wgrid], axis=1), axis=1)
    X = np.empty_like(T)
    rest = np.ones(T.shape[0])
    for k in range(n):  # Duffy collapse: x_k = t_k * prod_{j<k} (1 - t_j)
        X[:, k] = T[:, k] * rest
        rest = rest * (1 - T[:, k])
    return X, W


def _bisect(simplices: np.ndarray, levels: int) -> np.ndarray:
    """Longest-edge bisection, ``levels`` times: (K, n+1, n) -> (K 2^levels, n+1, n)."""
    S = simplices
    n1 = S.shape[1]
    pairs = [(i, j) for i in range(n1) for j in range(i + 1, n1)]
    I = np.array([p[0] for p in pairs])
    J = np.array([p[1] for p in pairs])
    for _ in range(levels):
        L = np.sum((S[:, I] - S[:, J]) ** 2, axis=-1)  # (K, pairs)
        e = np.argmax(L, axis=1)
        i, j = I[e], J[e]
        k = np.arange(S.shape[0])
        mid = (S[k, i] + S[k, j]) / 2
        A = S.copy()
        Bc = S.copy()
        A[k, i] = mid
        Bc[k, j] = mid
        S = np.concatenate([A, Bc], axis=0)
    return S


def simplex_rule(simplices, order: int, levels: int = 0):
    """Quadrature over the union of ``simplices`` (K, n+1, n): nodes (N, n), weights (N,)."""
    S = _bisect(np.asarray(simplices, dtype=np.float64), int(levels))
    n = S.shape[2]
    X, W = _unit_simplex_rule(n, int(order))
    v0 = S[:, 0, :]  # (K, n)
    E = S[:, 1:, :] - v0[:, None, :]  # (K, n, n) edge vectors
    det = np.abs(np.linalg.det(E))  # |det| = n! vol
    nodes = v0[:, None, :] + np.einsum("qk,skd->sqd", X, E)  # (K, Q, n)
    weights = det[:, None] * W[None, :]
    return nodes.reshape(-1, n), weights.ravel()


def _factors(lattice):
    """The single-lattice factors of a (product) lattice, in coordinate order."""
    return [block.lattice() for block in lattice.blocks()]


def _tensor(rules):
    nodes, weights = rules[0]
    for nd, wt in rules[1:]:
        nodes = np.concatenate([np.repeat(nodes, len(wt), axis=0), np.tile(nd, (len(weights), 1))], axis=1)
        weights = np.repeat(weights, len(wt)) * np.tile(wt, len(weights))
    return nodes, weights


_RULE_CACHE: dict = {}


def cell_rule(lattice, order=None, levels=None, refine=False):
    """Quadrature rule over the Voronoi cell P_0: nodes (N, dim), weights (N,), sum = volume.

    Exact simplicial decomposition of P_0 (dimension <= 4 per factor; product
    lattices: tensor product of the factors' rules, total dimension <= 4), each
    simplex bisected ``levels`` times, conical-product Gauss-Jacobi of ``order``
    points per axis on each (see the module docstring).  Defaults by the total dimension
    (``DEFAULT_ORDER``, ``DEFAULT_LEVELS``).  ``refine``: the refined rule of the error check
    (each factor bisected ``factor.dim`` more times; 1 more time per factor for products).
    """
    from lattices.geometry import cell_simplices

    if lattice.dim > 4:
        raise ValueError(f"quadrature needs dimension <= 4, got {lattice.name} (dim {lattice.dim}); "
                         "use method='monte-carlo'")
    rules = []
    factors = _factors(lattice)
    for f in factors:
        o = DEFAULT_ORDER[lattice.dim] if order is None else int(order)
        lv = DEFAULT_LEVELS[lattice.dim] if levels is None else int(levels)
        if refine:
            lv += f.dim if len(factors) == 1 else 1
        key = (f.name, f.basis.tobytes(), o, lv)
        if key not in _RULE_CACHE:
            _RULE_CACHE[key] = simplex_rule(cell_simplices(f), o, lv)
        rules.append(_RULE_CACHE[key])
    nodes, weights = _tensor(rules)
    assert abs(weights.sum() - lattice.volume) <= 1e-8 * lattice.volume
    return nodes, weights


def parallelepiped_rule(lattice, order=None, levels=None, dither="parallelepiped"):
    """Tensor Gauss-Legendre rule over the centred parallelepiped (V - 1/2) B (or V B for
    ``dither="corner"``), each axis split into 2^levels pieces: nodes (N, dim), weights (N,)."""
    m = lattice.dim
    if m > 4:
        raise ValueError(f"quadrature needs dimension <= 4, got dim {m}")
    o = DEFAULT_ORDER[m] if order is None else int(order)
    lv = DEFAULT_LEVELS[m] if levels is None else int(levels)
    xi, w = roots_legendre(o)
    k = 2 ** lv
    t = ((np.arange(k)[:, None] + (1 + xi[None, :]) / 2) / k).ravel()
    wt = np.tile(w / 2 / k, k)
    if dither == "parallelepiped":
        t = t - 0.5
    elif dither != "corner":
        raise ValueError(f"dither must be 'parallelepiped' or 'corner', got {dither!r}")
    nodes, weights = _tensor([(t[:, None], wt)] * m)
    return nodes @ lattice.basis, weights * lattice.volume


def _kernel_rule(lattice, dither, order, levels, refine=False):
    if dither == "voronoi":
        return cell_rule(lattice, order, levels, refine)
    if refine:  # one more split of every axis: 2^m times the nodes
        levels = (DEFAULT_LEVELS[lattice.dim] if levels is None else int(levels)) + 1
    return parallelepiped_rule(lattice, order, levels, dither)


def _log_integral(prior: Prior, X0, nodes, weights, sign: float):
    """log sum_j w_j f_S(X0 + sign * node_j) for each row of X0 (k, m) -> (k,)."""
    logw = np.log(weights)
    out = np.empty(X0.shape[0])
    step = max(1, _CHUNK // len(weights))
    for s in range(0, X0.shape[0], step):
        pts = X0[s:s + step, None, :] + sign * nodes[None, :, :]
        out[s:s + step] = logsumexp(prior.log_density(pts) + logw, axis=1)
    return out


def prior_kinks(prior):
    """The points where a one-dimensional density is not smooth (Laplace: 0; a mixture: its
    components' kinks shifted by ``loc``; Gaussian: none), or None if unknown."""
    from .densities import Gaussian, Mixture

    if prior.dim != 1:
        return None
    if isinstance(prior, Gaussian):
        return np.zeros(0)
    if isinstance(prior, Laplace):
        return np.zeros(1)
    if isinstance(prior, Mixture):
        ks = [prior_kinks(c) for c in prior.components]
        if any(k is None for k in ks):
            return None
        return np.concatenate([k + l[0] for k, l in zip(ks, prior.loc)])
    return None


def _log_integral_1d(lattice, prior, x0, sign, dither, order):
    """Dimension 1: log int_K f_S(x0 + sign v) dv over the kernel interval K, split at the
    prior's kinks so that Gauss-Legendre (``order`` points per piece) sees smooth pieces."""
    b = abs(float(lattice.basis[0, 0]))
    lo, hi = (0.0, b) if dither == "corner" else (-b / 2, b / 2)
    a1, a2 = x0 + sign * lo, x0 + sign * hi
    a, c = np.minimum(a1, a2), np.maximum(a1, a2)  # the interval in s-space, (k,)
    kinks = prior_kinks(prior)
    bp = np.sort(np.concatenate([a[:, None], np.clip(kinks[None, :], a[:, None], c[:, None]),
                                 c[:, None]], axis=1), axis=1)  # (k, P+1)
    xi, w = roots_legendre(order)
    left, width = bp[:, :-1], np.diff(bp, axis=1)  # (k, P)
    s = left[:, :, None] + width[:, :, None] * (1 + xi) / 2  # (k, P, q)
    with np.errstate(divide="ignore"):
        lw = np.log(width[:, :, None] * w / 2)  # zero-width pieces -> -inf
    lf = prior.log_density(s[..., None]) + lw
    return logsumexp(lf.reshape(lf.shape[0], -1), axis=1)


def _mc_log_mean(prior: Prior, X0, V, sign: float):
    """Per row of X0: log of the mean of f_S(X0 + sign V_j) and the SE of that mean over the
    rows of V (n, m) -> (log mean (k,), relative SE (k,))."""
    out = np.empty(X0.shape[0])
    rel = np.empty(X0.shape[0])
    n = V.shape[0]
    step = max(1, _CHUNK // n)
    for s in range(0, X0.shape[0], step):
        lf = prior.log_density(X0[s:s + step, None, :] + sign * V[None, :, :])  # (c, n)
        mx = lf.max(axis=1, keepdims=True)
        r = np.exp(lf - mx)
        mean = r.mean(axis=1)
        out[s:s + step] = mx[:, 0] + np.log(mean)
        rel[s:s + step] = r.std(axis=1, ddof=1) / math.sqrt(n) / mean
    return out, rel


# ------------------------------------------------------------------ validation helpers
def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _check_prior(lattice, prior):
    if not isinstance(prior, Prior):
        raise TypeError(f"prior must be a theory.densities.Prior, got {prior!r}")
    if prior.dim != lattice.dim:
        raise ValueError(f"prior dim {prior.dim} != lattice dim {lattice.dim} ({lattice.name})")


def _points(x, m, what):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] != m or not np.all(np.isfinite(x)):
        raise ValueError(f"{what} must be finite with shape (..., {m}), got shape {x.shape}")
    return x


def _log_kernel_integral(lattice, prior, X, sign, method, n, rng, order, levels, refine, dither):
    """log int_K f_S(X + sign v) dv over the kernel K (P_0 or the parallelepiped), with error."""
    m = lattice.dim
    shape = X.shape[:-1]
    X0 = X.reshape(-1, m)
    if method == "quadrature" and m == 1 and prior_kinks(prior) is not None:
        q = 24 if order is None else int(order)
        val = _log_integral_1d(lattice, prior, X0[:, 0], sign, dither, q)
        err = np.full_like(val, np.nan)
        if refine:  # 12 more Gauss-Legendre points per piece
            q += 12
            fine = _log_integral_1d(lattice, prior, X0[:, 0], sign, dither, q)
            err = np.abs(fine - val)
            val = fine
        return val.reshape(shape), err.reshape(shape), q * (len(prior_kinks(prior)) + 1)
    if method == "quadrature":
        nodes, w = _kernel_rule(lattice, dither, order, levels)
        val = _log_integral(prior, X0, nodes, w, sign)
        err = np.full_like(val, np.nan)
        nn = len(w)
        if refine:
            nodes2, w2 = _kernel_rule(lattice, dither, order, levels, refine=True)
            fine = _log_integral(prior, X0, nodes2, w2, sign)
            err = np.abs(fine - val)
            val, nn = fine, len(w2)
        return val.reshape(shape), err.reshape(shape), nn
    V = sample_dither(lattice, int(n), as_generator(rng), dither)
    logmean, rel = _mc_log_mean(prior, X0, V, sign)
    return (logmean + math.log(lattice.volume)).reshape(shape), rel.reshape(shape), int(n)


def log_p_z_given_u(lattice, prior, z, u, method="quadrature", n=4096, rng=None, order=None,
                    levels=None, refine=False) -> Estimate:
    """log p_{Z|U}(z|u) = log P(K(S+u) = z) = log int_{P_0} f_S(z - u + v) dv (Lemma 2 / Theorem 1).

    ``z`` lattice points and ``u`` dithers, broadcast, shape (..., dim).  Quadrature:
    ``error`` is the refinement difference when ``refine`` (else NaN).  Monte Carlo: ``error``
    is the relative standard error of p (= the delta-method SE of log p).
    """
    _check_method(method)
    _check_prior(lattice, prior)
    m = lattice.dim
    z, u = np.broadcast_arrays(_points(z, m, "z"), _points(u, m, "u"))
    val, err, nn = _log_kernel_integral(lattice, prior, z - u, +1.0, method, n, rng, order, levels,
                                        refine, "voronoi")
    return Estimate(val, err, method, nn)


def p_z_given_u(lattice, prior, z, u, method="quadrature", n=4096, rng=None, order=None,
                levels=None, refine=True) -> Estimate:
    """p_{Z|U}(z|u) = P(K_Lambda(S + u) = z) = int_{z-u+P_0} f_S (Theorem 1; Lemma 2).

    Returns an :class:`Estimate`: quadrature value with its refinement error, or the Monte
    Carlo mean of V f_S(z - u + V), V uniform on P_0, with its standard error.
    """
    est = log_p_z_given_u(lattice, prior, z, u, method, n, rng, order, levels, refine)
    p = np.exp(est.value)
    return Estimate(p, p * est.error if method == "monte-carlo" else p * np.expm1(est.error),
                    method, est.n)


def log_f_s_minus_u(lattice, prior, eta, method="quadrature", n=4096, rng=None, order=None,
                    levels=None, refine=False, dither="voronoi") -> Estimate:
    """log f_{S-U}(eta) = log E_V[f_S(eta - V)] (Sec. 3.4), V uniform on P_0 (or on the wrong
    ``dither`` domain, for the negative control); ``error`` as in :func:`log_p_z_given_u`."""
    _check_method(method)
    _check_prior(lattice, prior)
    if dither not in DITHERS:
        raise ValueError(f"dither must be one of {DITHERS}, got {dither!r}")
    eta = _points(eta, lattice.dim, "eta")
    val, err, nn = _log_kernel_integral(lattice, prior, eta, -1.0, method, n, rng, order, levels,
                                        refine, dither)
    return Estimate(val - math.log(lattice.volume), err, method, nn)


def f_s_minus_u(lattice, prior, eta, method="quadrature", n=4096, rng=None, order=None,
                levels=None, refine=True, dither="voronoi") -> Estimate:
    """f_{S-U}(eta) = E_V[f_S(eta - V)] = (1/V) int_{P_0} f_S(eta - v) dv (Sec. 3.4)."""
    est = log_f_s_minus_u(lattice, prior, eta, method, n, rng, order, levels, refine, dither)
    f = np.exp(est.value)
    return Estimate(f, f * est.error if method == "monte-carlo" else f * np.expm1(est.error),
                    method, est.n)


# ------------------------------------------------------------------ Theorem 1, eq. (4)
@dataclass
class Theorem1Sides:
    """Both sides of eq. (4), estimated over the same dithers U_1..U_N (paired)."""

    lhs: float
    lhs_se: float
    rhs: float
    rhs_se: float
    difference: float
    difference_se: float
    n_dithers: int
    method: str
    dither: str
    n_inner: int
    quadrature_error: float = float("nan")
    notes: list = field(default_factory=list)

    @property
    def z(self) -> float:
        return self.difference / self.difference_se if self.difference_se > 0 else 0.0


def _auto_method(lattice):
    return "quadrature" if lattice.dim <= 4 else "monte-carlo"


def theorem1_sides(lattice, prior, e, n_dithers=2000, rng=None, n_inner=2048, method="auto",
                   dither="voronoi", order=None, levels=None, n_check=16,
                   progress=None) -> Theorem1Sides:
    """Both sides of Theorem 1, eq. (4), for one encoder output ``e``.

    LHS_i = -log p_{Z|U}(K(e + U_i) | U_i)  and  RHS_i = log f_U(U_i) - log f_{S-U}(e - U_i),
    f_U = 1/V, over the same dithers U_i (paired); each side's mean and standard error over the
    dithers, and the paired difference LHS - RHS with its standard error.

    ``method``: "quadrature" (dim <= 4; inner integrals exact up to the quadrature error,
    estimated by refinement on ``n_check`` dithers and returned as ``quadrature_error``, the
    largest absolute error of a log), "monte-carlo" (``n_inner`` fresh samples per dither and
    side; see the module warning on the bias of a log of a mean), or "auto".
    ``dither``: "voronoi" (Theorem 1) or the negative controls "parallelepiped" / "corner"
    (U and the f_{S-U} kernel both from the wrong domain; p_{Z|U} is the quantizer's).
    ``progress``: a tqdm bar (or None) advanced by the number of dithers done (by batches with
    "monte-carlo", at the end with "quadrature"); it does not change the numbers.
    """
    _check_prior(lattice, prior)
    if dither not in DITHERS:
        raise ValueError(f"dither must be one of {DITHERS}, got {dither!r}")
    if method == "auto":
        method = _auto_method(lattice)
    _check_method(method)
    e = _points(e, lattice.dim, "e")
    if e.shape != (lattice.dim,):
        raise ValueError(f"e must have shape ({lattice.dim},), got {e.shape}")
    n_dithers = int(n_dithers)
    if n_dithers < 2:
        raise ValueError(f"n_dithers must be >= 2, got {n_dithers}")
    gen = as_generator(rng)
    logV = math.log(lattice.volume)
    U = sample_dither(lattice, n_dithers, gen, dither)  # (N, m)
    Z = lattice.nearest(e + U)  # Z = K(e + U)
    notes = []
    qerr = float("nan")
    if method == "quadrature":
        lp = log_p_z_given_u(lattice, prior, Z, U, "quadrature", order=order, levels=levels).value
        lf = log_f_s_minus_u(lattice, prior, e - U, "quadrature", order=order, levels=levels,
                             dither=dither).value
        k = min(n_check, n_dithers)
        e1 = log_p_z_given_u(lattice, prior, Z[:k], U[:k], "quadrature", order=order, levels=levels,
                             refine=True).error
        e2 = log_f_s_minus_u(lattice, prior, e - U[:k], "quadrature", order=order, levels=levels,
                             refine=True, dither=dither).error
        qerr = float(max(e1.max(), e2.max()))
        n_inner_used = len(_kernel_rule(lattice, "voronoi", order, levels)[1])
        notes.append(f"inner integrals by quadrature ({n_inner_used} nodes over P_0); refinement "
                     f"error of a log on {k} dithers <= {qerr:.2e}")
        if progress is not None:
            progress.update(n_dithers)
    else:
        n_inner = int(n_inner)
        lp = np.empty(n_dithers)
        lf = np.empty(n_dithers)
        step = max(1, 200_000 // n_inner)
        for s in range(0, n_dithers, step):
            c = min(step, n_dithers - s)
            V1 = lattice.sample_cell(c * n_inner, gen).reshape(c, n_inner, -1)
            V2 = sample_dither(lattice, c * n_inner, gen, dither).reshape(c, n_inner, -1)
            X1 = (Z[s:s + c] - U[s:s + c])[:, None, :] + V1  # z - u + V
            X2 = (e - U[s:s + c])[:, None, :] - V2  # eta - V
            for X, out, add in ((X1, lp, logV), (X2, lf, 0.0)):
                l = prior.log_density(X)
                mx = l.max(axis=1)
                out[s:s + c] = mx + np.log(np.mean(np.exp(l - mx[:, None]), axis=1)) + add
            if progress is not None:
                progress.update(c)
        n_inner_used = n_inner
        msg = (f"inner integrals by Monte Carlo, {n_inner} samples per dither and side: the log of a "
               "mean is biased (Jensen, about -Var/(2 n mean^2)); the bias is common to both sides "
               "in expectation, so the difference is unbiased to first order")
        notes.append(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    lhs_i = -lp  # log 1/p_{Z|U}(K(e+U)|U)
    rhs_i = -logV - lf  # log f_U(U)/f_{S-U}(e-U)
    d = lhs_i - rhs_i
    se = lambda x: float(np.std(x, ddof=1) / math.sqrt(len(x)))  # noqa: E731
    return Theorem1Sides(float(lhs_i.mean()), se(lhs_i), float(rhs_i.mean()), se(rhs_i),
                         float(d.mean()), se(d), n_dithers, method, dither, int(n_inner_used),
                         qerr, notes)


# ------------------------------------------------------------------ Z + Laplace (Sec. 3.3)
def _check_z_laplace(delta, alpha):
    for v, nm in ((delta, "delta"), (alpha, "alpha")):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{nm} must be positive and finite, got {v!r}")


def laplace_log_p_z_given_u(z, u, delta, alpha):
    """log p_{Z|U}(z|u) for the lattice Delta*Z, U ~ Unif(-Delta/2, Delta/2), S ~ Laplace(alpha).

    ``z`` is the integer index of the lattice point z*Delta.  Computed directly from the
    Laplace CDF (not from the paper's printed formulas):
    P(K(S+u) = z Delta) = P(z Delta - u - Delta/2 <= S < z Delta - u + Delta/2).
    """
    _check_z_laplace(delta, alpha)
    c = np.asarray(z, dtype=np.float64) * delta - np.asarray(u, dtype=np.float64)
    return laplace_log_interval(c - delta / 2, c + delta / 2, alpha)


def laplace_log_f_s_minus_u(eta, delta, alpha):
    """log f_{S-U}(eta) = log[(F(eta + Delta/2) - F(eta - Delta/2)) / Delta], Laplace CDF F."""
    _check_z_laplace(delta, alpha)
    eta = np.asarray(eta, dtype=np.float64)
    return laplace_log_interval(eta - delta / 2, eta + delta / 2, alpha) - math.log(delta)


def laplace_theorem1_exact(e, delta, alpha):
    """Both sides of eq. (4) for Delta*Z and a Laplace prior, by adaptive 1-D quadrature over u
    (scipy.integrate.quad, with the points where K(e + u) jumps as breakpoints) of the
    closed forms above.  Returns (lhs, rhs, abs_error_bound)."""
    from scipy.integrate import quad

    _check_z_laplace(delta, alpha)
    e = float(e)
    lo, hi = -delta / 2, delta / 2
    # K(e + u) jumps where e + u crosses (k + 1/2) Delta
    br = [(k + 0.5) * delta - e for k in range(math.floor((e + lo) / delta) - 1, math.ceil((e + hi) / delta) + 2)]
    br = sorted(b for b in br if lo < b < hi)

    def lhs_f(u):
        zi = math.floor((e + u) / delta + 0.5)
        return -float(laplace_log_p_z_given_u(zi, u, delta, alpha))

    def rhs_f(u):
        return -math.log(delta) - float(laplace_log_f_s_minus_u(e - u, delta, alpha))

    # plus the kinks of u -> f_{S-U}(e - u), where e - u +- Delta/2 = 0
    pts = [p for p in br + [e - delta / 2, e + delta / 2] if lo < p < hi]
    l, el = quad(lhs_f, lo, hi, points=pts or None, limit=200, epsabs=1e-13, epsrel=1e-12)
    r, er = quad(rhs_f, lo, hi, points=pts or None, limit=200, epsabs=1e-13, epsrel=1e-12)
    return l / delta, r / delta, (el + er) / delta

