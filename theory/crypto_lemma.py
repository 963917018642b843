"""The Crypto-Lemma (Lemma 1 of Sec. 3; Zamir & Feder [46]) as samples.

Lemma 1. Let U be uniform over the Voronoi cell P_0(Lambda).  For any y in R^m,

.. math::  K_\\Lambda(y + U) - U \\overset{d}{=} y - U.

:func:`crypto_lemma_samples` draws both sides so that a two-sample test can
compare them (``validation.crypto_lemma``).  With ``dither="parallelepiped"``
U is uniform over the *centred fundamental parallelepiped* (V - 1/2) B instead
(V uniform on [0, 1)^m): the negative control.  Then y + U is uniform over a
fundamental domain, so K(y + U) - U = y - E with E uniform over P_0, whereas
y - U is uniform over y - P; the two laws differ whenever the parallelepiped
is not the Voronoi cell.

.. warning:: For Z^n (any orthogonal basis) the centred parallelepiped *is*
   the Voronoi cell and the ``"parallelepiped"`` control has no power; use
   ``dither="corner"`` (U uniform over [0, 1)^m B, not centred) there.

>>> import lattices, numpy as np
>>> a, b = crypto_lemma_samples(lattices.get("a2"), [0.3, 0.1], 5, rng=0)
>>> a.shape, b.shape
((5, 2), (5, 2))
"""
from __future__ import annotations

import numpy as np

from lattices.utils.rng import as_generator

__all__ = ["DITHERS", "sample_dither", "crypto_lemma_samples", "parallelepiped_is_cell"]

DITHERS = ("voronoi", "parallelepiped", "corner")


def sample_dither(lattice, n, rng=None, dither="voronoi") -> np.ndarray:
    """n dithers U, shape (n, dim).

    ``"voronoi"``: uniform over P_0 (Sec. 8.1, ``lattice.sample_cell``), the dither
    Lemma 1 and Theorem 1 require.  ``"parallelepiped"``: uniform over the centred
    fundamental parallelepiped (V - 1/2) B.  ``"corner"``: uniform over V B.
    The last two are wrong dithers (negative controls).
    """
    gen = as_generator(rng)
    if dither == "voronoi":
        return lattice.sample_cell(n, gen)
    if dither == "parallelepiped":
        return (gen.random((int(n), lattice.dim)) - 0.5) @ lattice.basis
    if dither == "corner":
        return gen.random((int(n), lattice.dim)) @ lattice.basis
    raise ValueError(f"dither must be one of {DITHERS}, got {dither!r}")


def parallelepiped_is_cell(lattice, tol=1e-12) -> bool:
    """True when the basis is orthogonal: the centred parallelepiped is then P_0."""
    G = lattice.gram
    return bool(np.all(np.abs(G - np.diag(np.diag(G))) <= tol * np.max(np.abs(G))))


def crypto_lemma_samples(lattice, y, n, rng=None, dither="voronoi", paired=False):
    """Samples of both sides of Lemma 1: ``(a, b)`` with a = K(y + U) - U, b = y - U.

    Parameters
    ----------
    lattice : lattices.Lattice
    y : array_like, shape (dim,)
    n : int, number of samples of each side
    rng : None, int seed or numpy Generator
    dither : "voronoi" (Lemma 1's U uniform over P_0), or the negative controls
        "parallelepiped" / "corner" (see :func:`sample_dither`)
    paired : bool
        False (default): a and b use independent dithers U, U' (what a two-sample
        test needs).  True: the same U for both.

    Returns
    -------
    a, b : ndarray, shape (n, dim)
    """
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (lattice.dim,) or not np.all(np.isfinite(y)):
        raise ValueError(f"y must be a finite vector of shape ({lattice.dim},), got {y!r}")
    gen = as_generator(rng)
    U = sample_dither(lattice, n, gen, dither)
    a = lattice.nearest(y + U) - U  # Lemma 1, left side
    U2 = U if paired else sample_dither(lattice, n, gen, dither)
    b = y - U2  # Lemma 1, right side
    return a, b
