"""BW16 and Leech shell ranking over their codes (lattices.code_shells) against enumeration and theta."""
import numpy as np
import pytest

import lattices
from lattices._generic import enumerate_ball
from lattices.code_shells import CodeCosetShells, CodePiece
from lattices.leech import LeechSpec
from lattices.shells import shell_ranker


def _shell_points(name, max_norm):
    lat = lattices.get(name)
    B = np.asarray(lat.basis, dtype=float)
    c = enumerate_ball(B, np.zeros(B.shape[1]), float(max_norm))
    p = c @ B
    norms = np.rint((p * p).sum(1)).astype(np.int64)
    keep = (norms > 0) & (norms <= max_norm)
    return c[keep], norms[keep]


@pytest.fixture(scope="module")
def bw16_ranker():
    return shell_ranker(lattices.get("bw16"), 256)


@pytest.fixture(scope="module")
def leech_ranker():
    return shell_ranker(lattices.get("leech"), 256)


@pytest.mark.parametrize("name", ["bw16", "leech"])
def test_counts_equal_the_theta_series_up_to_256(name):
    """Exact (Python-int) counts of every shell up to K = 256 equal the modular-form theta series."""
    lat = lattices.get(name)
    ranker = shell_ranker(lat, 256)
    assert isinstance(ranker, CodeCosetShells)
    counts = ranker.count(np.arange(257))
    assert [int(c) for c in counts] == [int(t) for t in lat.theta_series(256)]
    assert int(counts[256]) > (2 ** 63 if name == "leech" else 2 ** 32)   # beyond int64 / 32-bit coders


def test_bw16_rank_is_a_bijection_on_norms_4_and_6(bw16_ranker):
    coeffs, norms = _shell_points("bw16", 6)              # 4320 + 61440 points, brute force
    got, ranks = bw16_ranker.rank(coeffs)
    assert (got == norms).all()
    for k, size in ((4, 4320), (6, 61440)):
        assert sorted(int(r) for r in ranks[norms == k]) == list(range(size))
    assert (bw16_ranker.unrank(norms, ranks) == coeffs).all()


@pytest.mark.slow
def test_leech_rank_is_a_bijection_on_the_196560_minimal_vectors(leech_ranker):
    coeffs, norms = _shell_points("leech", 4)
    assert len(coeffs) == 196560
    got, ranks = leech_ranker.rank(coeffs)
    assert (got == 4).all()
    assert sorted(int(r) for r in ranks) == list(range(196560))
    assert (leech_ranker.unrank(norms, ranks) == coeffs).all()


def test_leech_ranks_of_minimal_vectors_are_distinct_and_invert(leech_ranker):
    """The fast part of the slow bijection test: 6000 minimal vectors, ranks distinct in range, inverse."""
    coeffs, norms = _shell_points("leech", 4)
    pick = np.random.default_rng(3).choice(len(coeffs), 6000, replace=False)
    got, ranks = leech_ranker.rank(coeffs[pick])
    assert (got == 4).all() and len(set(int(r) for r in ranks)) == 6000
    assert all(0 <= int(r) < 196560 for r in ranks)
    assert (leech_ranker.unrank(got, ranks) == coeffs[pick]).all()


@pytest.mark.parametrize("name", ["bw16", "leech"])
def test_random_ranks_of_large_shells_round_trip(name, bw16_ranker, leech_ranker):
    """unrank then rank is the identity on random ranks of shells up to 10^25 points; the points
    have the requested norm and are lattice points (integer coefficients of the lattice basis)."""
    ranker = bw16_ranker if name == "bw16" else leech_ranker
    rng = np.random.default_rng(7)
    counts = ranker.count(np.arange(257))
    norms = rng.choice([k for k in range(257) if counts[k] > 0], 300)
    norms[:5] = 256
    ranks = np.array([int(counts[k]) * int(rng.integers(0, 2 ** 62)) // 2 ** 62 for k in norms], dtype=object)
    ranks[5] = int(counts[norms[5]]) - 1                  # the last point of a shell
    coeffs = ranker.unrank(norms, ranks)
    pts = coeffs @ np.asarray(lattices.get(name).basis)
    assert (np.rint((pts * pts).sum(1)).astype(np.int64) == norms).all()
    got, back = ranker.rank(coeffs)
    assert (got == norms).all() and [int(r) for r in back] == [int(r) for r in ranks]


def test_bad_ranks_norms_and_points_are_refused(bw16_ranker):
    with pytest.raises(ValueError, match="outside"):
        bw16_ranker.unrank(np.array([4]), np.array([4320], dtype=object))
    with pytest.raises(ValueError, match="norms must lie"):
        bw16_ranker.count(np.array([257]))
    with pytest.raises(ValueError, match="integer matrix|none of the pieces"):
        CodeCosetShells(np.eye(16) / 3, 8, 2, [CodePiece(np.zeros((1, 16)), 2, (0, 1), 4, 0)])


def test_constructors_match_the_named_lattices():
    """The specs offer their code rankers in the textbook basis only, and the pieces refuse a
    lattice that is not theirs."""
    bw16 = lattices.get("bw16").blocks()[0].spec
    assert isinstance(bw16.shell_ranker(8), CodeCosetShells)
    rotated = lattices.from_basis(lattices.get("leech").basis[:, ::-1], like="leech")
    assert rotated.blocks()[0].spec.shell_ranker(8) is None      # not the canonical basis
    fake = np.eye(24) / np.sqrt(8.0)                              # Z^24 / sqrt 8: rows in no piece
    with pytest.raises(ValueError, match="none of the pieces|integer"):
        CodeCosetShells(fake, 8, LeechSpec.FACTS.norm_scale, LeechSpec.code_pieces())
