"""Rank / unrank within norm shells (lattices.shells) against brute-force enumeration."""
import numpy as np
import pytest

import lattices
from lattices._generic import enumerate_ball
from lattices.shells import AlphabetEnumerator, CosetShells, TableShells, shell_ranker


def _all_points(lattice, max_norm):
    B = np.asarray(lattice.basis, dtype=float)
    c = enumerate_ball(B, np.zeros(B.shape[1]), float(max_norm))
    p = c @ B
    norms = np.rint((p * p).sum(1)).astype(np.int64)
    return c[norms <= max_norm], norms[norms <= max_norm]


@pytest.mark.parametrize("name, max_norm, kind", [
    ("z2", 25, CosetShells), ("z3", 12, CosetShells), ("a2", 30, TableShells),
    ("d4", 10, CosetShells), ("e8", 8, CosetShells), ("e7", 6, TableShells)])
def test_rank_is_a_bijection_onto_each_shell(name, max_norm, kind):
    lat = lattices.get(name)
    ranker = shell_ranker(lat, max_norm)
    assert isinstance(ranker, kind)
    coeffs, norms = _all_points(lat, max_norm)
    got_norms, ranks = ranker.rank(coeffs)
    assert (got_norms == norms).all()
    theta = lat.theta_series(max_norm)
    assert ranker.count(np.arange(max_norm + 1)).tolist() == list(theta)
    for k in range(max_norm + 1):
        assert sorted(ranks[norms == k].tolist()) == list(range(theta[k]))     # onto [0, theta_k)
    assert (ranker.unrank(norms, ranks) == coeffs).all()                         # inverse


def test_e8_counts_match_theta_up_to_64_and_random_round_trip():
    e8 = lattices.get("e8")
    ranker = shell_ranker(e8, 64)
    assert ranker.count(np.arange(65)).tolist() == list(e8.theta_series(64))
    rng = np.random.default_rng(0)
    norms = rng.choice(np.arange(2, 65, 2), 5000)
    ranks = rng.integers(0, ranker.count(norms))
    coeffs = ranker.unrank(norms, ranks)
    pts = coeffs @ e8.basis
    assert (np.rint((pts * pts).sum(1)) == norms).all()
    back_norms, back = ranker.rank(coeffs)
    assert (back == ranks).all() and (back_norms == norms).all()


def test_alphabet_enumerator_lexicographic_order():
    z = np.arange(-3, 4)
    en = AlphabetEnumerator([z, z, z], 9)
    ys = en.unrank(np.full(int(en.count(5)), 5), np.arange(int(en.count(5))))
    assert [tuple(y) for y in ys] == sorted(tuple(y) for y in ys)               # ascending order
    assert ((ys ** 2).sum(1) == 5).all()


def test_bad_input_is_named():
    ranker = shell_ranker(lattices.get("z2"), 4)
    with pytest.raises(ValueError, match="norms must lie"):
        ranker.unrank([5], [0])
    with pytest.raises(ValueError, match="rank is outside"):
        ranker.unrank([1], [4])
    with pytest.raises(ValueError, match="max_norm"):
        shell_ranker(lattices.get("z2"), -1)
    with pytest.raises(ValueError, match="beyond max_norm"):
        shell_ranker(lattices.get("a2"), 4).rank(np.array([[9, 9]]))
