"""Prior distributions for the auxiliary vector S of Theorem 1 (Sec. 3.2).

Theorem 1 (eq. (4)) holds for any prior S with a density f_S; these are the
priors the checks use.  Each prior has ``name``, ``dim``, ``log_density(x)``
(numpy, shape (..., dim) -> (...)), ``density(x)`` and ``sample(n, rng)``.

- :class:`Gaussian`: iid N(0, scale^2) coordinates.
- :class:`Laplace`: iid Laplace coordinates with decay rate alpha = 1/scale,
  density (alpha/2)^m exp(-alpha sum |x_i|) (the prior of the Z + Laplace
  latent of Sec. 3.3).
- :class:`Mixture`: a finite mixture of priors of one dimension (optionally
  shifted by ``loc``), density sum_k w_k f_k(x - loc_k).

>>> import numpy as np
>>> round(float(Gaussian(1.0, 1).log_density(np.zeros(1))), 6)  # -log sqrt(2 pi)
-0.918939
>>> float(Laplace(0.5, 2).log_density(np.zeros(2)))  # (alpha/2)^2 with alpha = 2
0.0
"""
from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod

import numpy as np
from scipy.special import logsumexp

from lattices.utils.rng import as_generator

__all__ = ["Prior", "Gaussian", "Laplace", "Mixture", "laplace_cdf", "laplace_log_interval"]


def _check_positive(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a positive real number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{what} must be a positive finite number, got {value!r}")
    return v


def _check_dim(dim) -> int:
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or int(dim) < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    return int(dim)


def _check_count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or int(n) < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    return int(n)


class Prior(ABC):
    """Base class: a density on R^dim.  Subclasses define ``log_density`` and ``sample``."""

    name: str = "prior"
    dim: int = 1

    def _points(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(f"points must have shape (..., {self.dim}), got {x.shape}")
        return x

    @abstractmethod
    def log_density(self, x) -> np.ndarray:
        """log f_S(x) for points x of shape (..., dim); returns shape (...)."""

    def density(self, x) -> np.ndarray:
        """f_S(x), shape (...)."""
        return np.exp(self.log_density(x))

    @abstractmethod
    def sample(self, n, rng=None) -> np.ndarray:
        """n independent draws of S, shape (n, dim)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Gaussian(Prior):
    """iid N(0, scale^2) coordinates in dimension ``dim``."""

    def __init__(self, scale=1.0, dim=1):
        self.scale = _check_positive(scale, "scale")
        self.dim = _check_dim(dim)
        self.name = f"gaussian(scale={self.scale:g}, dim={self.dim})"

    def log_density(self, x):
        x = self._points(x)
        s = self.scale
        return (-0.5 * np.sum(x * x, axis=-1) / (s * s)
                - self.dim * (math.log(s) + 0.5 * math.log(2 * math.pi)))

    def sample(self, n, rng=None):
        return as_generator(rng).normal(0.0, self.scale, size=(_check_count(n), self.dim))


class Laplace(Prior):
    """iid Laplace coordinates: f(x) = (alpha/2)^m exp(-alpha sum_i |x_i|), alpha = 1/scale.

    The prior of the Z + Laplace latent (Sec. 3.3), where alpha is the decay rate.
    """

    def __init__(self, scale=1.0, dim=1):
        self.scale = _check_positive(scale, "scale")
        self.alpha = 1.0 / self.scale
        self.dim = _check_dim(dim)
        self.name = f"laplace(scale={self.scale:g}, dim={self.dim})"

    def log_density(self, x):
        x = self._points(x)
        a = self.alpha
        return self.dim * math.log(a / 2) - a * np.sum(np.abs(x), axis=-1)

    def sample(self, n, rng=None):
        return as_generator(rng).laplace(0.0, self.scale, size=(_check_count(n), self.dim))

    def cdf(self, t):
        """The one-dimensional CDF F(t) of one coordinate."""
        return laplace_cdf(t, self.alpha)


class Mixture(Prior):
    """Finite mixture sum_k w_k f_k(x - loc_k) of priors of one dimension.

    ``loc`` (optional): one shift per component, shape (K, dim) (default zero).
    """

    def __init__(self, components, weights=None, loc=None):
        comps = list(components) if components is not None else []
        if not comps:
            raise ValueError(f"components must be a non-empty sequence of priors, got {components!r}")
        for c in comps:
            if not isinstance(c, Prior):
                raise TypeError(f"each component must be a Prior, got {c!r}")
        dims = {c.dim for c in comps}
        if len(dims) != 1:
            raise ValueError(f"all components must have the same dim, got dims {sorted(dims)}")
        self.dim = dims.pop()
        if weights is None:
            weights = np.full(len(comps), 1.0 / len(comps))
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.shape != (len(comps),):
            raise ValueError(f"weights must have one entry per component ({len(comps)}), got {weights!r}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.isclose(w.sum(), 1.0, atol=1e-12):
            raise ValueError(f"weights must be non-negative and sum to 1, got {weights!r}")
        if loc is None:
            loc = np.zeros((len(comps), self.dim))
        loc = np.asarray(loc, dtype=np.float64)
        if loc.shape != (len(comps), self.dim) or not np.all(np.isfinite(loc)):
            raise ValueError(f"loc must be finite with shape ({len(comps)}, {self.dim}), got {loc!r}")
        self.components, self.weights, self.loc = comps, w, loc
        self.name = "mixture(" + ", ".join(f"{wk:g}*{c.name}" for wk, c in zip(w, comps)) + ")"

    def log_density(self, x):
        x = self._points(x)
        with np.errstate(divide="ignore"):
            logw = np.log(self.weights)
        terms = np.stack([lw + c.log_density(x - l) for lw, c, l in
                          zip(logw, self.components, self.loc)], axis=0)
        return logsumexp(terms, axis=0)

    def sample(self, n, rng=None):
        gen = as_generator(rng)
        n = _check_count(n)
        k = gen.choice(len(self.components), size=n, p=self.weights)
        out = np.empty((n, self.dim))
        for j, c in enumerate(self.components):
            idx = np.flatnonzero(k == j)
            out[idx] = c.sample(idx.size, gen) + self.loc[j]
        return out


# ---------------------------------------------------------------- Laplace CDF helpers
def laplace_cdf(t, alpha):
    """CDF of the Laplace law with density (alpha/2) exp(-alpha |t|)."""
    t = np.asarray(t, dtype=np.float64)
    return np.where(t < 0, 0.5 * np.exp(alpha * np.minimum(t, 0.0)),
                    1.0 - 0.5 * np.exp(-alpha * np.maximum(t, 0.0)))


def laplace_log_interval(a, b, alpha):
    """log P(a <= T < b) for T ~ Laplace(alpha), computed without cancellation.

    For 0 <= a < b: P = (e^{-alpha a} - e^{-alpha b}) / 2, so
    log P = log(1/2) - alpha a + log1p(-e^{-alpha (b - a)}) (mirror for b <= 0);
    for a < 0 < b: P = 1 - e^{alpha a}/2 - e^{-alpha b}/2.
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    lo = np.maximum(a, 0.0)  # used where a >= 0
    hi = np.minimum(b, 0.0)  # used where b <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        right = math.log(0.5) - alpha * lo + np.log1p(-np.exp(-alpha * (b - a)))
        left = math.log(0.5) + alpha * hi + np.log1p(-np.exp(-alpha * (b - a)))
        mid = np.log1p(-0.5 * np.exp(alpha * np.minimum(a, 0.0)) - 0.5 * np.exp(-alpha * np.maximum(b, 0.0)))
    return np.where(a >= 0, right, np.where(b <= 0, left, mid))
