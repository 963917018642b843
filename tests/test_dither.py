"""The dither of Sec. 8.1: uniform over the Voronoi cell.

Second-moment test: the per-dimension second moment
sigma^2 = E|U|^2 / m (paper, Sec. 3.5) of ``sample_cell`` must match the cell's
exact value within K_SE standard errors.  Exact values are the closed forms of
Conway & Sloane ("Voronoi regions of lattices, second moments of polytopes,
and quantization", IEEE Trans. IT-28, 1982; SPLAG ch. 21), written here as
sigma^2 = G V^{2/m}.  Where the toolkit has no closed form yet (the duals and
E6/E7 are the geometry issue's work), the reference is an independent sampler:
rejection sampling from a box around the cell (accept x iff K(x) = 0), which
shares nothing with the Sec. 8.1 construction but the decoder.

Negative control: the same test on the fundamental parallelepiped (centred),
a region of the same volume that is not the Voronoi cell, must fail.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import lattices

#: Verdict rule: |estimate - reference| < K_SE standard errors.  With K_SE = 5
#: a correct sampler fails with probability < 6e-7 per test (normal tail); the
#: seeds are fixed, so the suite is deterministic.
K_SE = 5.0
N_SAMPLES = 200_000


def exact_sigma2(name: str) -> float:
    """Per-dimension second moment of the Voronoi cell, sigma^2 = G V^{2/m}."""
    if name.startswith("z"):
        return 1 / 12  # G(Z^n) = 1/12, V = 1
    if name == "a2":  # paper's scale (minimal norm 1): half the textbook A2
        return float(Fraction(1, 2) * (Fraction(1, 12) + Fraction(1, 18)))
    if name.startswith("a"):  # A_n: G = (n+1)^{-1/n} (1/12 + 1/(6(n+1))), V = sqrt(n+1)
        n = int(name[1:])
        return float(Fraction(1, 12) + Fraction(1, 6 * (n + 1)))
    if name.startswith("d"):  # D_n: G = 2^{-2/n} (1/12 + 1/(2n(n+1))), V = 2
        n = int(name[1:])
        return float(Fraction(1, 12) + Fraction(1, 2 * n * (n + 1)))
    if name == "e8":  # G(E8) = 929/12960, V = 1 (SPLAG Table 2.3: 0.0716821)
        return 929 / 12960
    raise KeyError(name)


def second_moment(u):
    """(estimate, standard error) of E|u|^2 / m."""
    s = (u ** 2).sum(-1) / u.shape[1]
    return s.mean(), s.std(ddof=1) / np.sqrt(len(s))


def bounding_box(lat):
    """Half-widths of the Voronoi cell's bounding box, by linear programming:
    maximize x_j subject to x . v <= |v|^2 / 2 for every relevant vector v."""
    from scipy.optimize import linprog

    R = lat.relevant_vectors()
    b = (R ** 2).sum(-1) / 2
    h = np.empty(lat.dim)
    for j in range(lat.dim):
        c = np.zeros(lat.dim)
        c[j] = -1.0
        res = linprog(c, A_ub=R, b_ub=b, bounds=[(None, None)] * lat.dim, method="highs")
        assert res.status == 0, res.message
        h[j] = -res.fun
    return h


def rejection_sample(lat, n, rng):
    """Uniform points of the Voronoi cell by rejection from its bounding box
    (accept x iff K(x) = 0); independent of the Sec. 8.1 construction."""
    h = bounding_box(lat) * (1 + 1e-9)
    out = []
    total = 0
    while total < n:
        x = rng.uniform(-h, h, size=(2 * n, lat.dim))
        x = x[(lat.nearest(x) == 0).all(-1)]
        out.append(x)
        total += len(x)
    return np.concatenate(out)[:n]


@pytest.mark.parametrize("name", ["z", "z4", "a2", "a3", "a5", "d4", "d5", "e8"])
def test_sample_cell_second_moment_exact(name):
    lat = lattices.get(name)
    est, se = second_moment(lat.sample_cell(N_SAMPLES, rng=11))
    ref = exact_sigma2(name)
    assert abs(est - ref) < K_SE * se, f"{name}: {est} +- {se} vs exact {ref}"
    # the check has power: relative SE ~ 1e-3 at this sample size
    assert se / ref < 3e-3


@pytest.mark.parametrize("name", ["a3*", "d4*", "d5*", "e6", "e6*", "e7", "e7*"])
def test_sample_cell_second_moment_vs_rejection(name):
    lat = lattices.get(name)
    est, se = second_moment(lat.sample_cell(N_SAMPLES, rng=12))
    ref, se_ref = second_moment(rejection_sample(lat, N_SAMPLES // 2, np.random.default_rng(13)))
    assert abs(est - ref) < K_SE * np.hypot(se, se_ref), f"{name}: {est} vs {ref}"


@pytest.mark.parametrize("name", ["a2", "d4", "e8"])
def test_negative_control_parallelepiped_is_refuted(name):
    """A dither uniform over the (centred) fundamental parallelepiped has the right
    volume but the wrong shape: the second-moment test must reject it."""
    lat = lattices.get(name)
    rng = np.random.default_rng(14)
    wrong = (rng.random((N_SAMPLES, lat.dim)) - 0.5) @ lat.basis
    est, se = second_moment(wrong)
    assert abs(est - exact_sigma2(name)) > K_SE * se


def test_torch_dither_second_moment():

    lat = lattices.get("e8")
    u = lat.sample_cell_torch(N_SAMPLES, generator=15).numpy()
    est, se = second_moment(u)
    assert abs(est - exact_sigma2("e8")) < K_SE * se


def test_product_dither_is_product_of_dithers():
    """Each block of a product dither is a dither of its (scaled) factor."""
    p = lattices.product(["a2", "a2"], scales=[1.0, 3.0])
    u = p.sample_cell(N_SAMPLES, rng=16)
    for block, scale in ((u[:, :2], 1.0), (u[:, 2:], 3.0)):
        est, se = second_moment(block)
        assert abs(est - scale ** 2 * exact_sigma2("a2")) < K_SE * se


@pytest.mark.parametrize("name", ["a3*", "a4*", "d4*", "d5*", "e6", "e6*", "e7", "e7*"])
def test_sample_cell_second_moment_vs_exact_geometry(name):
    """Every named lattice against its exact second moment from lattices.geometry
    (Weyl-chamber reduction), which shares no code with the sampler."""
    lat = lattices.get(name)
    est, se = second_moment(lat.sample_cell(N_SAMPLES, rng=17))
    ref = float(lat.second_moment_exact())
    assert abs(est - ref) < K_SE * se, f"{name}: {est} +- {se} vs exact {ref}"


def test_closed_forms_here_match_exact_geometry():
    """The closed forms used above agree with the toolkit's exact geometry."""
    for name in ["z", "z4", "a2", "a3", "a5", "d4", "d5", "e8"]:
        assert abs(float(lattices.get(name).second_moment_exact()) - exact_sigma2(name)) < 1e-15
