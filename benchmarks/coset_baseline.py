"""Brute-force coset search for BW16 and Leech: the baseline the structured decoders replace.

``sqrt(2) BW16 = U_{c in RM(1,4)} (c + 2 D16)`` (32 cosets) and
``sqrt(8) Leech = U_{g in {0, a}} U_{c in G24} (2 c + g + 4 D24)`` (2 x 4096 cosets):
for each point every coset is decoded with the D_n rule of Conway & Sloane (1982)
and the closest kept, vectorized over the cosets with numpy.  This is the
cost model of quantizers that search all 4096 cosets of a Leech construction
(e.g. the E8-triple / Turyn construction); it is exact, so it also serves as
a reference.
"""
from __future__ import annotations

import numpy as np


def _closest_in_cosets(y, reps):
    """Closest point of U_r (r + 2 D_n) to y (n,), the cosets' representatives ``reps`` (K, n)."""
    t = (y[None, :] - reps) * 0.5
    f = np.rint(t)
    odd = (f.sum(1) % 2) != 0
    err = t - f
    worst = np.argmax(np.abs(err), axis=1)
    rows = np.flatnonzero(odd)
    f[rows, worst[rows]] += np.where(err[rows, worst[rows]] >= 0, 1.0, -1.0)
    z = 2.0 * f + reps
    d = ((y[None, :] - z) ** 2).sum(1)
    k = int(np.argmin(d))
    return z[k], d[k]


class CosetBruteForce:
    """Exact nearest point of ``bw16`` or ``leech`` (textbook scale) by searching all cosets."""

    def __init__(self, name):
        from lattices import codes
        from lattices.leech import GLUE

        if name == "bw16":
            self.factor = np.sqrt(2.0)
            self.reps = [codes.rm14_code().astype(float)]
            self.shifts = [np.zeros(16)]
            self.mult = 1.0
        elif name == "leech":  # sqrt(8) Leech = 2 H24 u (2 H24 + a): decode H24 on (y - g) / 2
            self.factor = np.sqrt(8.0)
            self.reps = [codes.golay_code().astype(float)] * 2
            self.shifts = [np.zeros(24), GLUE]
            self.mult = 2.0
        else:
            raise ValueError(f"no coset baseline for {name!r}; valid: 'bw16', 'leech'")

    def nearest(self, x):
        x = np.asarray(x, dtype=np.float64)
        out = np.empty_like(x)
        for i, xi in enumerate(x):
            y = xi * self.factor
            best, best_d = None, np.inf
            for reps, g in zip(self.reps, self.shifts):
                z, _ = _closest_in_cosets((y - g) / self.mult, reps)
                z = self.mult * z + g
                d = ((y - z) ** 2).sum()
                if d < best_d:
                    best, best_d = z, d
            out[i] = best / self.factor
        return out
