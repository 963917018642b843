"""Theta series: enumeration against closed forms, brute force and PARI/GP ``qfrep``.

Every count is an exact integer, so every comparison is exact (no tolerance).
References for the closed forms:

* Z^2, Z^4: Jacobi's two- and four-square theorems (Hardy & Wright, An
  Introduction to the Theory of Numbers, Theorems 278 and 386);
  Z^8: Jacobi's eight-square formula (see E. Grosswald, Representations of
  Integers as Sums of Squares, Springer 1985); Z^n in general:
  Theta_{Z^n} = theta_3^n (SPLAG ch. 4 §4.1 and ch. 2 §2.3, products).
* A2 (minimal norm 1): #{x^2 + xy + y^2 = k} = 6 (d_{1,3}(k) - d_{2,3}(k)),
  divisors congruent to 1 minus those congruent to 2 mod 3 (SPLAG ch. 4 §6,
  the hexagonal lattice).
* D4: Theta_{D4} = (theta_3^4 + theta_4^4) / 2 (SPLAG ch. 4 §7.1), so the
  number of vectors of norm 2m is r_4(2m).
* E8: Theta_{E8} = 1 + 240 sum_m sigma_3(m) q^{2m} (SPLAG ch. 4 §8.1).
* E7, E6: first coefficients from SPLAG ch. 4 §8.2 and §8.3, also recomputed
  by PARI/GP ``qfrep`` in :func:`test_named_lattices_match_pari`.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import lattices
from benchmarks import theta as bench
from lattices import theta as theta_mod
from lattices import theta_exact
from lattices.theta import norm_unit, theta_series


# ----------------------------------------------------------------- arithmetic helpers
def _divisors(k):
    return [d for d in range(1, k + 1) if k % d == 0]


def _r2(k):  # Jacobi: r_2(k) = 4 (d_1(k) - d_3(k)), divisors mod 4
    ds = _divisors(k)
    return 4 * (sum(d % 4 == 1 for d in ds) - sum(d % 4 == 3 for d in ds))


def _r4(k):  # Jacobi: r_4(k) = 8 sum_{d | k, 4 does not divide d} d
    return 8 * sum(d for d in _divisors(k) if d % 4)


def _r8(k):  # Jacobi: r_8(k) = 16 sum_{d | k} (-1)^{k+d} d^3
    return 16 * sum((-1) ** (k + d) * d ** 3 for d in _divisors(k))


def _sigma3(m):
    return sum(d ** 3 for d in _divisors(m))


def _a2_count(k):  # 6 (d_{1,3}(k) - d_{2,3}(k))
    ds = _divisors(k)
    return 6 * (sum(d % 3 == 1 for d in ds) - sum(d % 3 == 2 for d in ds))


def _theta_z(max_norm):
    """Theta series of Z from the definition: 2 vectors at each nonzero square."""
    out = [0] * (max_norm + 1)
    out[0] = 1
    j = 1
    while j * j <= max_norm:
        out[j * j] = 2
        j += 1
    return out


def _convolve(a, b):
    K = len(a) - 1
    return [sum(a[i] * b[k - i] for i in range(k + 1)) for k in range(K + 1)]


def _skewed_unimodular(n, seed):
    """A dense integer matrix of determinant 1 (products of elementary row operations)."""
    rng = np.random.default_rng(seed)
    U = np.eye(n, dtype=np.int64)
    for _ in range(4 * n if n > 1 else 0):
        i, j = rng.choice(n, size=2, replace=False)
        U[i] += int(rng.integers(-2, 3)) * U[j]
    assert round(abs(np.linalg.det(U))) == 1
    return U


def _brute_force(G2, max_norm):
    """Theta series by scanning a coefficient box (|x_i| <= sqrt(M (G^-1)_ii), Cauchy-Schwarz)."""
    n = G2.shape[0]
    Ginv = np.linalg.inv(G2 / 2.0)
    R = np.floor(np.sqrt(max_norm * np.diag(Ginv)) + 1e-9).astype(int)
    axes = [np.arange(-r, r + 1) for r in R]
    X = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, n)
    N2 = np.einsum("pi,ij,pj->p", X, G2, X)  # exact int64: 2 |x|^2
    N2 = N2[N2 <= 2 * max_norm]
    return np.bincount(N2 // 2, minlength=max_norm + 1).tolist()


# ----------------------------------------------------------------- PARI/GP
def _pari_theta(G2, max_norm):
    """PARI's ``qfrep(2G, B, 1)``: half the number of vectors with x(2G)x^T = 2k, k = 1..B."""
    gp = shutil.which("gp")
    if gp is None:
        pytest.skip("PARI/GP (gp) not installed: apt-get install pari-gp")
    mat = "[" + ";".join(",".join(str(int(v)) for v in row) for row in G2) + "]"
    res = subprocess.run([gp, "-q", "-f"], input=f"print(Vec(qfrep({mat},{max_norm},1)))\n",
                         capture_output=True, text=True, timeout=60, check=True)
    half = [int(v) for v in res.stdout.strip().strip("[]").split(",")]
    assert len(half) == max_norm
    return [1] + [2 * h for h in half]


def _gram2(lat):
    G2 = np.rint(2.0 * lat.gram).astype(np.int64)
    assert np.allclose(G2, 2.0 * lat.gram, atol=1e-9)
    return G2


# ----------------------------------------------------------------- closed forms
@pytest.mark.theorem
def test_doc_value_e8():
    assert lattices.get("e8").theta_series(4) == [1, 0, 240, 0, 2160]


@pytest.mark.theorem
def test_e8_sigma3_up_to_norm_40():
    th = theta_series(lattices.get("e8"), 40)
    assert th[0] == 1
    assert all(th[k] == 0 for k in range(1, 41, 2))
    assert [th[2 * m] for m in range(1, 21)] == [240 * _sigma3(m) for m in range(1, 21)]
    assert sum(th) == 11513521  # about 10^7 vectors: the benchmark's workload


@pytest.mark.theorem
@pytest.mark.parametrize("n, formula, K", [(2, _r2, 100), (4, _r4, 60), (8, _r8, 30)])
def test_jacobi_sums_of_squares(n, formula, K):
    expected = [1] + [formula(k) for k in range(1, K + 1)]
    # named z<n> (orthogonal summands) and a skewed basis of the same lattice
    # (dense Gram matrix: exercises the enumeration kernel itself)
    assert theta_series(lattices.get(f"z{n}"), K) == expected
    skewed = lattices.from_basis(_skewed_unimodular(n, seed=n).astype(float))
    assert not np.allclose(skewed.gram, np.eye(n))
    assert theta_series(skewed, K) == expected


@pytest.mark.theorem
@pytest.mark.parametrize("n", [1, 3, 5, 6])
def test_zn_is_power_of_theta_z(n):
    K = 25
    expected = [1] + [0] * K
    for _ in range(n):
        expected = _convolve(expected, _theta_z(K))
    skewed = lattices.from_basis(_skewed_unimodular(n, seed=10 + n).astype(float))
    assert theta_series(skewed, K) == expected
    assert theta_series(lattices.get(f"z{n}" if n > 1 else "z"), K) == expected


@pytest.mark.theorem
def test_a2_paper_basis():
    a2 = lattices.get("a2")
    np.testing.assert_allclose(a2.gram, [[1.0, 0.5], [0.5, 1.0]], atol=1e-15)
    K = 150
    assert theta_series(a2, K) == [1] + [_a2_count(k) for k in range(1, K + 1)]


@pytest.mark.theorem
def test_d4_is_half_of_theta3_plus_theta4():
    th = theta_series(lattices.get("d4"), 60)
    assert all(th[k] == 0 for k in range(1, 61, 2))
    assert [th[2 * m] for m in range(1, 31)] == [_r4(2 * m) for m in range(1, 31)]


@pytest.mark.theorem
def test_e7_e6_first_coefficients():
    # SPLAG ch. 4 §8.2: Theta_E7 = 1 + 126 q^2 + 756 q^4 + 2072 q^6 + 4158 q^8 + ...
    assert theta_series(lattices.get("e7"), 8) == [1, 0, 126, 0, 756, 0, 2072, 0, 4158]
    # SPLAG ch. 4 §8.3: Theta_E6 = 1 + 72 q^2 + 270 q^4 + 720 q^6 + 936 q^8 + ...
    assert theta_series(lattices.get("e6"), 8) == [1, 0, 72, 0, 270, 0, 720, 0, 936]


@pytest.mark.theorem
def test_duals_after_integral_scaling():
    # SPLAG ch. 4 §8.2/§8.3: E7* has 56 minimal vectors of norm 3/2, E6* 54 of norm 4/3
    assert theta_series(lattices.get("e7*").scaled(np.sqrt(2)), 4) == [1, 0, 0, 56, 126]
    assert theta_series(lattices.get("e6*").scaled(np.sqrt(3)), 4) == [1, 0, 0, 0, 54]
    # A3* (body-centred cubic) times 2: 8 vectors of norm 3, 6 of norm 4
    assert theta_series(lattices.get("a3*").scaled(2), 4) == [1, 0, 0, 8, 6]


# ----------------------------------------------------------------- independent enumerations
@pytest.mark.theorem
@given(dim=st.integers(1, 4), seed=st.integers(0, 2**32 - 1), max_norm=st.integers(0, 12))
def test_matches_brute_force_on_random_integral_lattices(dim, seed, max_norm):
    rng = np.random.default_rng(seed)
    B = rng.integers(-3, 4, size=(dim, dim))
    assume(round(abs(np.linalg.det(B))) != 0)
    G2 = 2 * B @ B.T
    Ginv = np.linalg.inv(B @ B.T)
    assume(np.prod(2 * np.sqrt(max(max_norm, 1) * np.diag(Ginv)) + 1) < 2e5)
    lat = lattices.from_basis(B.astype(float))
    assert theta_series(lat, max_norm) == _brute_force(G2, max_norm)


@pytest.mark.theorem
@given(seed=st.integers(0, 2**32 - 1))
def test_invariant_under_change_of_basis_and_rotation(seed):
    e8 = lattices.get("e8")
    expected = theta_series(e8, 10)
    U = _skewed_unimodular(8, seed)
    Q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(8, 8)))
    other = lattices.from_basis(U @ e8.basis @ Q)
    assert theta_series(other, 10) == expected


@pytest.mark.parametrize("name, scale, K", [
    ("e8", 1.0, 40), ("e7", 1.0, 24), ("e6", 1.0, 24), ("d4", 1.0, 30), ("a2", 1.0, 60),
    ("z3", 1.0, 30), ("a4", 1.0, 20), ("a3*", 2.0, 30), ("d5*", 2.0, 24),
    ("e7*", float(np.sqrt(2)), 20), ("e6*", float(np.sqrt(3)), 20)])
def test_named_lattices_match_pari(name, scale, K):
    lat = lattices.get(name, scale=scale)
    assert theta_series(lat, K) == _pari_theta(_gram2(lat), K)


# ----------------------------------------------------------------- products and scalings
@pytest.mark.theorem
def test_products_are_convolutions():
    K = 30
    a2, e8, d4 = (theta_series(lattices.get(n), K) for n in ("a2", "e8", "d4"))
    assert theta_series(lattices.product(["a2", "a2"]), K) == _convolve(a2, a2)
    assert theta_series(lattices.product(["a2", "e8", "d4"]), K) == _convolve(_convolve(a2, e8), d4)
    a2_16 = [1] + [0] * K
    for _ in range(16):
        a2_16 = _convolve(a2_16, a2)
    assert theta_series(lattices.product(["a2"] * 16), K) == a2_16


def test_product_matches_pari_on_block_gram():
    lat = lattices.product(["a2", "d4", "a2"])
    assert theta_series(lat, 12) == _pari_theta(_gram2(lat), 12)


@pytest.mark.theorem
def test_scaled_lattices():
    e8 = theta_series(lattices.get("e8"), 12)
    # rule (b): norms of 0.5*E8 are k/4 (not integers) -> counted in units of s^2 = 1/4
    half = lattices.get("e8", scale=0.5)
    assert norm_unit(half) == 0.25
    assert theta_series(half, 12) == e8
    both = lattices.product([half, half])
    assert norm_unit(both) == 0.25 and theta_series(both, 12) == _convolve(e8, e8)
    # rule (a): 2*E8 has integral norms 4k -> counted as they are
    double = lattices.get("e8", scale=2.0)
    assert norm_unit(double) == 1.0
    th = theta_series(double, 48)
    assert th[::4] == e8 and sum(th) == sum(e8)
    # sqrt(2)*A2 (norms 2k) beside A2: unequal scales, but integral -> rule (a)
    mixed = lattices.product(["a2", "a2"], scales=[1.0, np.sqrt(2)])
    a2 = theta_series(lattices.get("a2"), 12)
    a2x2 = [a2[k // 2] if k % 2 == 0 else 0 for k in range(13)]
    assert theta_series(mixed, 12) == _convolve(a2, a2x2)


# ----------------------------------------------------------------- errors
def test_non_integral_lattice_raises_with_advice():
    with pytest.raises(ValueError, match=r"'a3\*'.*G\[0,0\] = 0\.75.*scaled\(2\)"):
        theta_series(lattices.get("a3*"), 4)
    with pytest.raises(ValueError, match=r"different scales.*scaled\(2\)"):
        theta_series(lattices.product(["a2", "a2"], scales=[1.0, 1.5]), 4)
    with pytest.raises(ValueError, match=r"math\.sqrt\(2\)"):
        theta_series(lattices.get("e7*"), 4)
    with pytest.raises(ValueError, match=r"no scaling"):
        theta_series(lattices.product(["a2", "a2"], scales=[1.0, 3 ** 0.25]), 4)
    with pytest.raises(ValueError, match=r"unscaled lattice"):
        theta_series(lattices.get("d5*", scale=0.5), 4)


def test_max_norm_validation():
    e8 = lattices.get("e8")
    assert theta_series(e8, 0) == [1]
    assert theta_series(e8, np.int64(2)) == [1, 0, 240]
    assert all(type(v) is int for v in theta_series(e8, 4))
    for bad in (True, 2.0, "4", None):
        with pytest.raises(TypeError, match="max_norm"):
            theta_series(e8, bad)
    with pytest.raises(ValueError, match="non-negative"):
        theta_series(e8, -1)
    with pytest.raises(TypeError, match="Lattice"):
        theta_series(np.eye(2), 3)


# ----------------------------------------------------------------- command line
def test_cli_table(capsys):
    assert theta_mod.main(["e8", "--max-norm", "4"]) == 0
    out = capsys.readouterr().out
    assert "| 2 | 240 |" in out and "| 4 | 2160 |" in out
    assert "total: 2401 vectors of squared norm <= 4" in out


def test_cli_json(capsys):
    assert theta_mod.main(["a2^2", "--max-norm", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lattice"] == "a2^2" and out["max_norm"] == 3
    assert out["theta"] == _convolve([1, 6, 0, 6], [1, 6, 0, 6])
    assert out["scale_note"] is None and out["total"] == sum(out["theta"])
    assert theta_mod.main(["e8", "--scale", "0.5", "--max-norm", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["theta"] == [1, 0, 240] and out["norm_unit"] == 0.25
    assert "k*s^2" in out["scale_note"]


def test_cli_bad_usage_exit_2(capsys):
    assert theta_mod.main(["q7", "--max-norm", "3"]) == 2
    assert "valid names" in capsys.readouterr().err
    assert theta_mod.main(["e8", "--max-norm", "-1"]) == 2
    assert "non-negative" in capsys.readouterr().err
    assert theta_mod.main(["a3*", "--max-norm", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "scaled(2)" in err and "Traceback" not in err
    assert theta_mod.main(["e8"]) == 2  # --max-norm is required (the error boundary returns 2)
    assert "--max-norm" in capsys.readouterr().err


def test_benchmark_small_run(capsys):
    assert bench.main(["--json", "--lattice", "d4", "--max-norm", "6", "--repeats", "1"]) == 0
    res = json.loads(capsys.readouterr().out)["results"]
    assert res["lattice"] == "d4" and res["vectors_counted"] == 1 + 24 + 24 + 96
    assert res["ours_best_s"] > 0
    if res["pari_installed"]:
        assert res["counts_identical"] is True and res["ratio_ours_over_pari"] > 0
    else:
        assert res["pari"] is None


def test_benchmark_bad_usage(capsys):
    assert bench.main(["--lattice", "nope"]) == 2
    assert "valid names" in capsys.readouterr().err
    assert bench.main(["--lattice", "a3*"]) == 2
    assert "scaled(2)" in capsys.readouterr().err
    assert bench.main(["--repeats", "0"]) == 2


# ----------------------------------------------------------------- internals
def test_gram_lll_reduces_a_skewed_basis_exactly():
    e8 = lattices.get("e8")
    U0 = _skewed_unimodular(8, seed=3) @ _skewed_unimodular(8, seed=4)
    G2 = U0 @ _gram2(e8) @ U0.T
    assert np.abs(G2).max() > 50  # really skewed
    G2r = G2.copy()
    U, ok = theta_exact._lll_gram(G2r, 0.99, 10**6)
    assert ok and round(abs(np.linalg.det(U))) == 1
    assert np.array_equal(U @ G2 @ U.T, G2r)  # exact reduced Gram matrix
    # LLL conditions (size reduction, Lovasz with delta = 0.99) on the result
    R = np.linalg.cholesky(G2r / 2.0)  # rows: Gram-Schmidt coordinates
    d = np.diag(R) ** 2
    mu = R / np.diag(R)[None, :]
    assert np.all(np.abs(np.tril(mu, -1)) <= 0.5 + 1e-9)
    assert np.all(d[1:] >= (0.99 - np.diag(mu, -1) ** 2) * d[:-1] - 1e-9)


def test_reference_lll_fallback_gives_the_same_series(monkeypatch):
    skewed = lattices.from_basis(_skewed_unimodular(8, seed=5) @ lattices.get("e8").basis)
    expected = theta_series(skewed, 10)
    monkeypatch.setattr(theta_exact, "_lll_gram", lambda G2, delta, steps: (np.eye(len(G2)), False))
    assert theta_series(skewed, 10) == expected == theta_series(lattices.get("e8"), 10)


@pytest.mark.parametrize("bad", [np.eye(2), "e8", None, 3, [[1, 0], [0, 1]]])
def test_theta_functions_refuse_a_non_lattice_by_name(bad):
    """lattices.theta_exact recognizes a Lattice without importing the class (it sits below
    lattices.lattice): look-alikes and raw bases get the TypeError naming the value."""
    for f in (lambda x: theta_series(x, 2), norm_unit):
        with pytest.raises(TypeError, match="must be a lattices.Lattice"):
            f(bad)


def test_theta_functions_refuse_a_mock_lattice():
    from unittest import mock

    with pytest.raises(TypeError, match="must be a lattices.Lattice"):
        theta_series(mock.Mock(), 2)
    for lat in (lattices.get("e8"), lattices.product(["a2", "z"]), lattices.get("a2", scale=0.5),
                lattices.from_basis(np.eye(3))):
        assert theta_series(lat, 1)[0] == 1                       # every kind of Lattice passes
