"""The :class:`ShellRanker` interface (count, rank and unrank within a norm shell).

Implemented by :mod:`lattices.shells` (product alphabets, tables) and
:mod:`lattices.code_shells` (BW16, Leech); :func:`lattices.shells.shell_ranker` picks one.
It lives apart so that the code constructions need not import the module that dispatches to them.
"""
from __future__ import annotations

import numpy as np

__all__ = ["ShellRanker"]


class ShellRanker:
    """Interface: :meth:`count`, :meth:`rank`, :meth:`unrank` on integer coefficients.

    Points are given by their integer coefficients ``c`` w.r.t. ``lattice.basis`` (the
    point is ``c @ basis``); norms are de-scaled squared norms (:func:`lattices.theta_exact.norm_unit`).
    """

    max_norm: int

    def count(self, norms) -> np.ndarray:
        """Shell sizes :math:`\\theta_k` (int64) for the norms ``norms``."""
        raise TypeError(f"{type(self).__name__} does not implement count")

    def rank(self, coeffs) -> tuple[np.ndarray, np.ndarray]:
        """``(norms, ranks)`` (N,) int64 of the points ``coeffs`` (N, n)."""
        raise TypeError(f"{type(self).__name__} does not implement rank")

    def unrank(self, norms, ranks) -> np.ndarray:
        """Integer coefficients (N, n) of the points with these norms and ranks."""
        raise TypeError(f"{type(self).__name__} does not implement unrank")

    def _check_norms(self, norms):
        norms = np.asarray(norms, dtype=np.int64)
        if norms.size and (int(norms.min()) < 0 or int(norms.max()) > self.max_norm):
            raise ValueError(f"norms must lie in [0, {self.max_norm}], got "
                             f"[{int(norms.min())}, {int(norms.max())}]")
        return norms
