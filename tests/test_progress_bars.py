"""Progress bars of the long computations: they advance to the end and change no number.

``lattices.theta`` enumerates slice by slice of the last coordinate when a bar
is shown, ``validation.theorem1`` and ``validation.crypto_lemma`` advance a bar
per dither batch / permutation batch; the results must be the same bytes as
without a bar (the work is cut differently, never computed differently).
"""
from __future__ import annotations

import numpy as np
import pytest
import lattices
from lattices.theta import theta_series


class Counter:
    """Stands in for a tqdm bar (a disabled bar does not count)."""

    def __init__(self):
        self.n = 0

    def update(self, k):
        self.n += k


@pytest.mark.parametrize("name, max_norm", [("e8", 12), ("d4", 20), ("a2", 30), ("z3", 15),
                                             ("e7", 8)])
def test_theta_with_progress_same_counts(name, max_norm, capsys):
    lat = lattices.get(name)
    plain = theta_series(lat, max_norm)
    shown = theta_series(lat, max_norm, progress=True)
    assert shown == plain
    assert "theta series of" in capsys.readouterr().err  # the bar went to stderr


def test_theta_product_with_progress():
    lat = lattices.product(["a2", "d4", "z"])
    assert theta_series(lat, 8, progress=True) == theta_series(lat, 8)


def test_theorem1_bar_counts_dithers():
    from theory.theorem1 import theorem1_sides
    from validation.theorem1 import make_prior

    lat = lattices.get("a2")
    prior = make_prior("gaussian", 1.0, 2)
    e = np.array([0.3, -0.2])
    for method in ("quadrature", "monte-carlo"):
        kw = dict(n_inner=64, method=method)
        ref = theorem1_sides(lat, prior, e, 300, np.random.default_rng(5), **kw)
        bar = Counter()
        got = theorem1_sides(lat, prior, e, 300, np.random.default_rng(5), progress=bar, **kw)
        assert bar.n == 300, method
        assert (got.lhs, got.rhs, got.difference_se) == (ref.lhs, ref.rhs, ref.difference_se)


def test_crypto_lemma_bar_counts_permutations():
    from validation.crypto_lemma import energy_test

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(80, 3)), rng.normal(size=(80, 3))
    ref = energy_test(a, b, 130, 11)
    bar = Counter()
    got = energy_test(a, b, 130, 11, progress=bar)
    assert bar.n == 130
    assert got == ref
