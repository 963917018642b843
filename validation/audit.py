"""``python -m validation.audit``: every checkable claim of the paper, one row each.

Usage::

    python -m validation.audit [--runs RUNS_DIR ...] [--out docs/audit.md] [--json] [--quick]

Each row gives the paper's statement (with its section / equation), the method
used here, the measured result and a status:

* ``verified``: an exact check passed, or a Monte Carlo check passed its stated
  rule while its negative control was refuted;
* ``refuted``: the printed statement does not hold; the row gives the corrected
  statement and the evidence;
* ``not checkable``: with the reason;
* ``reproduced`` / ``not reproduced`` / ``inconclusive at this budget``: the experimental claims
  (Sec. 4.1, 7.1), judged from the trained runs given with ``--runs`` by
  :mod:`validation.experiments` (rule and evidence in the row).

Exit code: 0 when every row was evaluated (refuted rows are findings, not
failures of the audit), 1 when a row that is expected to be verified by the
toolkit's own checks failed (a regression), 2 on bad usage.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field

import numpy as np
from lattices.cli import ArgumentParser, cli_main, output_path

VERIFIED, REFUTED, NOT_CHECKABLE = "verified", "refuted", "not checkable"


@dataclass
class Row:
    id: str
    section: str
    statement: str
    method: str
    result: str
    status: str
    correction: str = ""
    evidence: dict = field(default_factory=dict)
    expected_status: str = ""  # what the toolkit's checks establish; a mismatch is a regression


ROWS = []


def row(fn):
    ROWS.append(fn)
    return fn


def _f(x, digits=7):
    return f"{float(x):.{digits}g}"


# ---------------------------------------------------------------------- Sec. 2
@row
def a2_basis(quick):
    import sympy

    import lattices
    from lattices.geometry import exact_gram

    a2 = lattices.get("a2")
    G = exact_gram(a2.basis)
    rv = a2.relevant_vectors()
    norms = np.round((rv ** 2).sum(-1), 12)
    ok = (str(G) == "[[Fraction(1, 1), Fraction(1, 2)], [Fraction(1, 2), Fraction(1, 1)]]"
          and len(rv) == 6 and np.all(norms == 1.0)
          and sympy.simplify(a2.nsm_exact() - 5 / (36 * sympy.sqrt(3))) == 0)
    return Row("sec2-a2", "2", "The hexagonal lattice A2 has basis [[0, 1], [sqrt(3/4), 1/2]].",
               "exact Gram matrix; Voronoi-relevant vectors; exact NSM",
               "Gram [[1, 1/2], [1/2, 1]]; 6 relevant vectors, all of norm 1 (hexagonal cell); "
               "G = 5/(36 sqrt 3)", VERIFIED if ok else REFUTED, expected_status=VERIFIED)


@row
def e8_basis(quick):
    import lattices
    from lattices.geometry import exact_gram

    B = lattices.get("e8").basis
    G = exact_gram(B)
    det = round(float(np.linalg.det(B)), 12)
    even = all(G[i][i].denominator == 1 and G[i][i].numerator % 2 == 0 for i in range(8))
    integral = all(x.denominator == 1 for r in G for x in r)
    kiss = int(np.sum(np.isclose((lattices.get("e8").relevant_vectors() ** 2).sum(-1), 2.0)))
    ok = det == 1.0 and even and integral and kiss == 240
    return Row("sec2-e8", "2", "E8 has the printed 8 x 8 basis (rows 2e1, e2-e1, ..., e7-e6, "
               "(1/2, ..., 1/2)).",
               "exact Gram matrix of the basis with the last row completed",
               f"the printed last row has 7 entries (a typo); with 8 entries 1/2: det = {det}, Gram "
               f"even and integral, {kiss} minimal vectors: an even unimodular lattice in dimension 8, "
               "i.e. E8", REFUTED if ok else "error",
               correction="the last basis row is (1/2, 1/2, 1/2, 1/2, 1/2, 1/2, 1/2, 1/2) (eight entries)",
               expected_status=REFUTED)


# ---------------------------------------------------------------------- Sec. 3.4
@row
def integral_lattices(quick):
    import lattices
    from lattices.geometry import exact_gram

    out = {}
    for name in ("z", "z2", "a2", "e8"):
        G = exact_gram(lattices.get(name).basis)
        out[name] = (all(x.denominator == 1 for r in G for x in r),
                     all(G[i][i].denominator == 1 and (2 * G[i][j]).denominator == 1
                         for i in range(len(G)) for j in range(len(G))))
    a2_integral, a2_norms = out["a2"]
    refuted = not a2_integral and a2_norms and all(out[n][0] for n in ("z", "z2", "e8"))
    return Row("sec3.4-integral", "3.4",
               "Z, Z^2, A2 and E8 are integral lattices: a^T b is an integer for a, b in the lattice.",
               "exact Gram matrices in the paper's bases",
               "Z, Z^2, E8: integral. A2 in the paper's basis: a^T b = 1/2 for its two basis vectors "
               "(not integral), but every squared norm a^T a is an integer",
               REFUTED if refuted else VERIFIED,
               correction="A2 at the paper's scale has integer squared norms (all that the theta-indexed "
                          "prior of Sec. 3.4 needs) but is not integral; sqrt(2) A2 is integral",
               evidence={k: {"integral": v[0], "integer_norms": v[1]} for k, v in out.items()},
               expected_status=REFUTED)


@row
def theta_coefficients(quick):
    import lattices

    e8 = lattices.get("e8").theta_series(20)
    sig3 = [sum(d ** 3 for d in range(1, m + 1) if m % d == 0) for m in range(1, 11)]
    ok = all(e8[2 * m] == 240 * sig3[m - 1] for m in range(1, 11)) and all(e8[1::2][i] == 0 for i in range(10))
    a2 = lattices.get("a2").theta_series(12)
    return Row("sec3.4-theta", "3.4",
               "The theta coefficients count the lattice vectors of each norm (used from a precomputed list).",
               "exact enumeration (lattices.theta) against closed forms; PARI/GP qfrep in the tests",
               f"E8: 240 sigma_3(m) vectors of norm 2m for m <= 10 ({e8[:7]}...); A2: {a2[:8]}...",
               VERIFIED if ok else REFUTED, expected_status=VERIFIED)


# ---------------------------------------------------------------------- Sec. 3.5
@row
def nsm_values(quick):
    import lattices

    vals = {n: float(lattices.get(n).nsm_exact()) for n in ("z", "a2", "e8")}
    printed = {"z": 0.0833, "a2": 0.0802, "e8": 0.0717}
    ok = all(round(vals[n], 4) == printed[n] for n in printed)
    return Row("sec3.5-nsm", "3.5, 4.1", "The NSMs of Z, A2 and E8 are 0.0833, 0.0802 and 0.0717.",
               "exact NSM (two independent exact methods agree in dimension <= 4; Weyl-chamber "
               "reduction for E8)",
               f"G(Z) = 1/12 = {_f(vals['z'])}, G(A2) = 5/(36 sqrt 3) = {_f(vals['a2'])}, "
               f"G(E8) = 929/12960 = {_f(vals['e8'])}", VERIFIED if ok else REFUTED,
               expected_status=VERIFIED)


@row
def best_known(quick):
    import lattices

    dims = {8: ["e8", "z8", "d8", "d8*", "a8", "a8*"], 2: ["a2", "z2"]}
    vals = {n: float(lattices.get(n).nsm_exact()) for ns in dims.values() for n in ns}
    ok = all(min(ns, key=vals.get) == ns[0] for ns in dims.values())
    return Row("sec3.5-best", "2, 3.5, 4.1",
               "Z, A2 and E8 have the best known NSM for their dimensions.",
               "exact NSM of every named lattice of dimension 2 and 8 in the toolkit; optimality "
               "itself rests on the literature (A2 optimal in dimension 2, Fejes Toth; E8 best known, "
               "Agrell & Allen 2023)",
               "dimension 2: " + ", ".join(f"{n} {_f(vals[n])}" for n in dims[2]) + "; dimension 8: "
               + ", ".join(f"{n} {_f(vals[n])}" for n in dims[8]),
               VERIFIED if ok else REFUTED, expected_status=VERIFIED)


def sphere_nsm(m: int) -> float:
    """G*_m, the NSM of an m-ball: Gamma(m/2 + 1)^{2/m} / ((m + 2) pi)."""
    return math.exp(2 / m * math.lgamma(m / 2 + 1)) / ((m + 2) * math.pi)


@row
def nsm_bounds(quick):
    import lattices

    import sympy

    best = {1: "z", 2: "a2", 3: "a3*", 4: "d4", 5: "d5*", 6: "e6*", 7: "e7*", 8: "e8"}
    lower = 1 / (2 * sympy.pi * sympy.E)
    rows, strict, above = {}, {}, True
    for m, n in best.items():  # exact comparisons (sympy, 30 digits where not symbolic)
        G = lattices.get(n).nsm_exact()
        Gs = sympy.gamma(sympy.Rational(m, 2) + 1) ** sympy.Rational(2, m) / ((m + 2) * sympy.pi)
        diff = sympy.simplify(G - Gs)
        strict[m] = diff != 0 and sympy.N(diff, 30) > 0
        above &= bool(sympy.N(Gs - lower, 30) > 0)
        rows[m] = (float(G), float(Gs))
    holds = all(strict.values()) and above
    return Row("sec3.5-bounds", "3.5", "G_m > G*_m > 1/(2 pi e) ~ 0.058.",
               "exact NSM of the best lattice known in dimensions 1-8 against the ball's "
               "G*_m = Gamma(m/2+1)^(2/m) / ((m+2) pi)",
               "G*_m > 1/(2 pi e) = 0.0585498 for every m; G_m > G*_m for m = 2..8, but for m = 1 "
               f"G_1 = G*_1 = 1/12 (the 1-ball is the cell of Z): {rows[1][0]:.7f} vs {rows[1][1]:.7f}",
               VERIFIED if holds else REFUTED,
               correction="G_m >= G*_m > 1/(2 pi e), with equality G_1 = G*_1 = 1/12 in dimension 1 "
                          "(strict for m >= 2); 1/(2 pi e) = 0.05855",
               evidence={m: {"G_best": g, "G_ball": s} for m, (g, s) in rows.items()},
               expected_status=REFUTED)


@row
def nsm_limit(quick):
    lower = 1 / (2 * math.pi * math.e)
    printed = 1 / (2 * math.pi * math.e ** 2)
    balls = {m: sphere_nsm(m) for m in (8, 24, 100, 1000, 10**5)}
    refuted = all(s > lower > printed for s in balls.values())
    return Row("sec3.5-limit", "3.5", "lim_{m -> oo} G_m = 1/(2 pi e^2).",
               "G_m >= G*_m > 1/(2 pi e) for every m (previous row), so the limit is at least "
               "1/(2 pi e) = 0.05855 > 1/(2 pi e^2) = 0.02154; G*_m computed up to m = 1e5",
               "G*_m: " + ", ".join(f"m={m}: {s:.6f}" for m, s in balls.items())
               + f"; 1/(2 pi e) = {lower:.6f}; printed limit {printed:.6f}",
               REFUTED if refuted else VERIFIED,
               correction="lim_{m -> oo} G_m = 1/(2 pi e) (Zamir & Feder 1996; Poltyrev's good "
                          "lattices), the same constant as the lower bound",
               expected_status=REFUTED)


@row
def crypto_lemma(quick):
    import lattices
    from validation.crypto_lemma import run as cl_run

    e8 = lattices.get("e8")
    y = np.random.default_rng(8).normal(size=8)
    rep = cl_run(e8, y, 1000 if quick else 2000, 100 if quick else 200, seed=0)
    ok = rep["confirmed"]
    ps = "; ".join(c["name"] for c in rep["checks"])  # the names carry the p-values
    pc = "; ".join(c["name"] for c in rep["negative_controls"])
    return Row("lemma1-crypto", "3, Lemma 1",
               "For U uniform over P_0, K(y + U) - U has the same distribution as y - U.",
               "python -m validation.crypto_lemma --lattice e8: energy-distance permutation test and "
               "Bonferroni-corrected per-coordinate KS (pass: p >= 0.01), seed 0; negative control: U "
               "uniform over the centred fundamental parallelepiped (must be rejected)",
               f"{ps}; control {pc}", VERIFIED if ok else REFUTED, expected_status=VERIFIED)


@row
def lemma2_identity(quick):
    import lattices
    from theory.densities import Gaussian
    from theory.theorem1 import f_s_minus_u, p_z_given_u

    lat = lattices.get("a2")
    prior = Gaussian(scale=0.6, dim=2)
    rng = np.random.default_rng(9)
    u = lat.sample_cell(5, rng=rng)
    z = lat.from_coordinates(rng.integers(-1, 2, size=(5, 2)))
    p = p_z_given_u(lat, prior, z, u)
    f = f_s_minus_u(lat, prior, z - u)
    rel = float(np.max(np.abs(p.value - lat.volume * f.value) / p.value))
    pm = p_z_given_u(lat, prior, z, u, method="monte-carlo", n=20000, rng=rng)
    zmc = float(np.max(np.abs(pm.value - p.value) / pm.error))
    ok = rel < 1e-9 and zmc < 4
    return Row("lemma2-pz", "3.2, Lemma 2 / Theorem 1 setting",
               "p_{Z|U}(z|u) = P(K(S + u) = z) is positive and, with f_{S-U}(eta) = E_V[f_S(eta - V)] "
               "(Sec. 3.4), satisfies the Bayes relations used in Lemma 2.",
               "A2, Gaussian prior: p_{Z|U} by quadrature over the exact translated cell z - u + P_0 "
               "against Monte Carlo (20000 samples, within 4 SE), and the pointwise identity "
               "p_{Z|U}(z|u) = V f_{S-U}(z - u) that links the two sides of Lemma 2 (P_0 = -P_0)",
               f"identity holds to {rel:.1e} (relative); quadrature vs Monte Carlo: max |z| = {zmc:.2f}",
               VERIFIED if ok else REFUTED, expected_status=VERIFIED)


@row
def theorem1(quick):
    import lattices
    from validation.theorem1 import make_prior
    from validation.theorem1 import run as t1_run

    out = {}
    for name, kind in (("a2", "gaussian"), ("z", "laplace")):
        lat = lattices.get(name)
        m = lat.dim
        prior = make_prior(kind, 0.25 * lat.volume ** (1 / m), m)
        e = 0.3 * lat.basis.sum(axis=0)
        out[name] = t1_run(lat, prior, e, 3000 if quick else 10000, "quadrature", 1024, 0)
    ok = all(r["confirmed"] for r in out.values())
    res = "; ".join(f"{k} ({r['prior']}): LHS {r['checks'][0]['estimate']:.4f}, RHS "
                    f"{r['checks'][0]['reference']:.4f}, z = {r['checks'][0]['z']:.2f}, control z = "
                    f"{r['control_z']:.1f}" for k, r in out.items())
    return Row("thm1-eq4", "3.2, Theorem 1, eq. (4)",
               "E_U[log 1/p_{Z|U}(K(e + U)|U)] = E_U[log f_U(U)/f_{S-U}(e - U)] for U uniform over P_0.",
               "python -m validation.theorem1 (A2 with a Gaussian prior; Z with a Laplace prior, also "
               "against the exact values from the Laplace CDF): both sides over the same dithers, the "
               "inner densities by quadrature over the exact cell, rule |diff| < 4 SE, seed 0; negative "
               "control: U uniform over the fundamental parallelepiped (must be refuted)",
               res, VERIFIED if ok else REFUTED, expected_status=VERIFIED)


def train_vs_inference_z_laplace(n, seed, dither="uniform", e=0.37, x=0.9, alpha=1.5, delta=0.8):
    """Training loss (5) and inference loss (9) + (10) for Z + Laplace, paired over dithers.

    A toy decoder log p(x | v) = -(x - v)^2 / 2 stands in for p_{X|Z-U}.  Training:
    log f_U/f_{S-U}(e - U) - log p(x | e - U); inference: log 1/p_{Z|U}(K(e + U)|U)
    - log p(x | K(e + U) - U), with the closed forms of Sec. 3.3.  ``dither="triangular"``
    draws U from a triangular law on the same cell (not uniform: the negative control).
    Returns (mean difference, its standard error, mean training loss, mean inference loss).
    """
    from theory.laplace import log_fu_over_fsu, neg_log_p_z_given_u

    rng = np.random.default_rng(seed)
    if dither == "uniform":
        u = rng.uniform(-delta / 2, delta / 2, size=n)
    else:
        u = (rng.uniform(size=n) + rng.uniform(size=n) - 1.0) * delta / 2
    u = np.clip(u, -delta / 2 * (1 - 1e-12), delta / 2 * (1 - 1e-12))
    z = np.floor((e + u) / delta + 0.5)  # K(e + U) = z Delta
    train = log_fu_over_fsu(e - u, alpha, delta) + 0.5 * (x - (e - u)) ** 2
    infer = neg_log_p_z_given_u(z, u, alpha, delta) + 0.5 * (x - (z * delta - u)) ** 2
    d = infer - train
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(n)), float(train.mean()), float(infer.mean())


@row
def train_vs_inference(quick):
    n = 200000 if quick else 1000000
    diff, se, tr, inf = train_vs_inference_z_laplace(n, seed=10)
    cd, cse, _, _ = train_vs_inference_z_laplace(n, seed=11, dither="triangular")
    ok = abs(diff) < 4 * se and abs(cd) > 4 * cse
    return Row("eq5-eq9-10", "3.1, 3.3, 3.6.3, eqs. (3), (5), (9), (10)",
               "With U uniform over the cell, the quantization-free training loss (5) and the inference "
               "loss (9) + (10) (real dithered quantization and the code length) agree in expectation "
               "(Sec. 3.1's reconstruction identity plus Theorem 1).",
               f"Z + Laplace (alpha 1.5, Delta 0.8, e = 0.37) with the closed forms of 3.3 and a toy "
               f"Gaussian decoder; paired over {n} dithers (seed 10), rule |mean difference| < 4 SE; "
               "negative control: a triangular (non-uniform) dither on the same cell (seed 11)",
               f"training {tr:.5f}, inference {inf:.5f}, difference {diff:.2e} +- {se:.1e} "
               f"(z = {diff / se:.2f}); control difference {cd:.2e} +- {cse:.1e} (z = {cd / cse:.1f})",
               VERIFIED if ok else REFUTED, expected_status=VERIFIED)


@row
def kl_identity(quick):
    import lattices
    from validation.kl_identity import run as kl_run

    rep = kl_run(lattices.get("e8"), 50000 if quick else 200000, seed=0)
    printed = rep["checks"][0]
    corr = rep["corrected"]
    ok = (not printed["passed"] and corr["checks"][0]["passed"]
          and all(not c["passed"] for c in corr["negative_controls"]))
    return Row("eq7-kl", "3.5, eq. (7)",
               "D_KL(U_m || N*_m) = (1/2) log(2 pi e G(Lambda_m)).",
               "python -m validation.kl_identity --lattice e8: h(U) = log V exactly, the cross entropy "
               f"by Monte Carlo ({rep['samples']} samples, seed 0); negative controls: the wrong G, the "
               "parallelepiped dither",
               f"E8: D_KL = {printed['estimate']:.5f} +- {printed['standard_error']:.5f}; printed value "
               f"{printed['reference']:.5f} (z = {printed['z']:.0f}); (m/2) log(2 pi e G) = "
               f"{corr['checks'][0]['reference']:.5f} (z = {corr['checks'][0]['z']:.2f}); both controls "
               "refuted", REFUTED if ok else "error",
               correction="D_KL(U_m || N*_m) = (m/2) log(2 pi e G(Lambda_m)); the printed expression is "
                          "the divergence per dimension (the two agree only for m = 1)",
               expected_status=REFUTED)


@row
def kl_limit(quick):
    from theory.kl import total_kl_lower_bound

    bounds = {m: total_kl_lower_bound(m) for m in (8, 100, 10**4, 10**6)}
    ok = all(b2 > b1 for b1, b2 in zip(list(bounds.values()), list(bounds.values())[1:]))
    return Row("eq7-limit", "3.5, eq. (7)", "lim_{m -> oo} D_KL(U_m || N*_m) = 0.",
               "every lattice has G >= G*_m (the ball), so the total divergence is at least "
               "(m/2) log(2 pi e G*_m) ~ (1/2) log(pi m) - 1",
               "lower bound on the total: " + ", ".join(f"m={m}: {b:.3f}" for m, b in bounds.items())
               + " (growing without bound); the per-dimension divergence tends to 0 iff G_m -> 1/(2 pi e), "
                 "which holds for the best lattices (Zamir & Feder) but has no explicit sequence to compute",
               REFUTED if ok else "error",
               correction="(1/m) D_KL(U_m || N*_m) = (1/2) log(2 pi e G_m) -> 0; the total divergence "
                          "does not tend to 0",
               expected_status=REFUTED)


@row
def laplace_closed_forms(quick):
    from theory import laplace

    rng = np.random.default_rng(6)
    worst = 0.0
    for _ in range(40 if quick else 200):
        alpha, delta = float(rng.uniform(0.1, 5)), float(rng.uniform(0.1, 3))
        u = float(rng.uniform(-delta / 2, delta / 2) * 0.999)
        z = int(rng.integers(-3, 4))
        sm = float(rng.normal(scale=3))
        a = float(laplace.neg_log_p_z_given_u(np.array(z), np.array(u), alpha, delta))
        b = float(laplace.neg_log_p_z_given_u_reference(z, u, alpha, delta))
        c = float(laplace.log_fu_over_fsu(np.array(sm), alpha, delta))
        d = float(laplace.log_fu_over_fsu_reference(sm, alpha, delta))
        worst = max(worst, abs(a - b) / max(1, abs(b)), abs(c - d) / max(1, abs(d)))
    big = float(laplace.log_fu_over_fsu(np.array(1e3), 50.0, 1.0))
    ok = worst < 1e-10 and np.isfinite(big)
    return Row("sec3.3-laplace", "3.3",
               "Closed forms for Z + Laplace: log f_U/f_{S-U} and log 1/p_{Z|U} (two branches each).",
               "the printed formulas (implemented stably in log1p/expm1 form) against mpmath quadrature "
               "of the Laplace density over the interval / the cell, 40 random (alpha, Delta, u, z, s)",
               f"largest relative difference {worst:.1e}; finite at alpha |s - u| = 5e4 ({big:.1f})",
               VERIFIED if ok else REFUTED, expected_status=VERIFIED)


@row
def matched_scaling(quick):
    import lattices
    from theory.scaling import check_matched_scaling_exact

    ok = all(check_matched_scaling_exact(lattices.get(n)) for n in ("z", "a2", "d4", "e8"))
    return Row("eq8-scaling", "3.5, eq. (8)",
               "log Delta = (1/2) log sigma^2_UG - (1/2) log G(Lambda) - (1/m) log V_Lambda matches the "
               "second moment of Lambda_Delta to sigma^2_UG.",
               "exact (sympy, symbolic sigma^2_UG) with the exact G and V of Z, A2, D4, E8",
               "Delta^2 sigma^2_Lambda - sigma^2_UG simplifies to 0 for every lattice",
               VERIFIED if ok else REFUTED, expected_status=VERIFIED)


@row
def proxy_kl(quick):
    from theory.scaling import gaussian_log_ratio, proxy_kl as pk

    rng = np.random.default_rng(7)
    worst = 0.0
    for m in (1, 2, 8, 32):
        e, ug = rng.normal(size=(100, m)), rng.normal(size=(100, m))
        s2u, s2s = float(rng.uniform(0.1, 2)), float(rng.uniform(0.1, 2))
        worst = max(worst, float(np.abs(pk(e, ug, s2u, s2s) - gaussian_log_ratio(e, ug, s2u, s2s)).max()))
    ok = worst < 1e-9
    return Row("sec3.6.2-proxy-kl", "3.6.2",
               "The KL term (1/2)(|e - U_G|^2/(s2_UG + s2_US) - |U_G|^2/s2_G - m log(s2_UG/(s2_UG + s2_US))) "
               "is the log-ratio of the Gaussian dither density and the Gaussian prior of S_G - U_G.",
               "against log N(U_G; 0, s2_U I) - log N(e - U_G; 0, (s2_U + s2_S) I) computed directly, "
               "m = 1, 2, 8, 32, random variances",
               f"equal to {worst:.1e} once s2_G is read as s2_UG and s2_US as s2_SG",
               VERIFIED if ok else REFUTED,
               correction="notation: 1/sigma^2_G is 1/sigma^2_{U_G} and sigma^2_{U_S} is sigma^2_{S_G} "
                          "(no U_S exists in the paper)",
               expected_status=VERIFIED)


@row
def lattice_prior(quick):
    import torch

    import lattices
    from theory.lattice_prior import LatticePrior

    worst = 0.0
    for name, K, t in (("z", 9, 2), ("a2", 12, 3), ("e8", 4, 3)):
        prior = LatticePrior(lattices.get(name), max_norm=K, threshold_t=t)
        pts = torch.as_tensor(prior.support_points())
        for seed in range(3):
            u = torch.as_tensor(lattices.get(name).sample_cell(1, rng=seed))
            worst = max(worst, abs(prior.log_prob(pts, u).exp().sum().item() - 1.0))
    ok = worst < 1e-10
    return Row("sec3.4-prior", "3.4",
               "log p(a) = logsoftmax(Psi)_{|a|^2} - log theta_{|a|^2} for |a|^2 >= t, a learned U-dependent "
               "pmf below t, and a learned flag between the two: a distribution over lattice points.",
               "theory.lattice_prior.LatticePrior (support truncated at a maximal norm, since logits over "
               "infinitely many shells cannot be learned): the probabilities of all support points summed "
               "for Z, A2, E8 at three dithers",
               f"sums equal 1 to {worst:.1e}", VERIFIED if ok else REFUTED, expected_status=VERIFIED)


@row
def eq6_autograd(quick):
    import torch

    import lattices
    from theory.lattice_prior import LatticePrior

    torch.manual_seed(0)
    lat = lattices.get("a2")
    enc = torch.nn.Linear(5, 2, dtype=torch.float64)
    prior = LatticePrior(lat, max_norm=30, threshold_t=3)
    x = torch.randn(64, 5, dtype=torch.float64)
    u = torch.as_tensor(lat.sample_cell(64, rng=1))
    e = enc(x) * 0.5
    z = lat.nearest(e + u)  # K(e(x) + U): piecewise constant, no gradient path
    code = -prior.log_prob(z, u).sum()
    code.backward()
    enc_grad = [p.grad for p in enc.parameters()]
    prior_grad = [p.grad for p in prior.parameters() if p.grad is not None]
    ok = all(g is None or float(g.abs().max()) == 0.0 for g in enc_grad) and len(prior_grad) > 0
    return Row("eq6-autograd", "3.4, eq. (6)",
               "The derivative of -E log p(K(e(x) + U) | U) with respect to the encoder's parameters is zero "
               "under autograd, so adding it leaves the training of e and the decoder to L(x).",
               "torch: a linear encoder, A2, the lattice prior; backward through the code length",
               "no gradient reaches the encoder (K is piecewise constant and returns no autograd history); "
               "the prior's parameters receive gradients", VERIFIED if ok else REFUTED,
               expected_status=VERIFIED)


# ---------------------------------------------------------------------- Sec. 4.1
@row
def product_scaling(quick):
    import sympy

    import lattices
    from lattices.geometry import product_nsm

    rng = np.random.default_rng(0)
    p = lattices.product(["e8", "e8"], scales=[0.5, 1.5])
    x = rng.normal(size=(20000, 16)) * 2
    c = p.nearest(x)
    ref = lattices.from_basis(p.basis).nearest(x)
    d = ((x - c) ** 2).sum(-1) - ((x - ref) ** 2).sum(-1)
    exact = float(np.abs(d).max()) < 1e-9
    G = lattices.get("e8").nsm_exact()
    Gp = product_nsm(G, [0.5, 1.5])
    ok = exact and sympy.simplify(p.nsm_exact() - Gp) == 0
    return Row("sec4.1-product", "4.1",
               "Product lattices diag(D_1 B, ..., D_k B) scale each block uniformly, so the E8 "
               "nearest-neighbour algorithm still applies.",
               "fused E8 decoder on a product with per-block scales 0.5 and 1.5 against the exact "
               "generic decoder (20000 points); exact NSM of the product",
               f"identical distances on all points; NSM of the product = {_f(Gp)} > G(E8) = {_f(G)} "
               "(closed form G (mean D^2)/(prod D)^(2/k); unequal scales cost NSM by AM-GM)",
               VERIFIED if ok else REFUTED, expected_status=VERIFIED)


# ---------------------------------------------------------------------- Sec. 3.6
@row
def dither_domain(quick):
    return Row("sec3.6-dither-domain", "3.6.1, 3.6.2, 3.6.3",
               "Draw U uniformly distributed over Lambda_Delta (3.6.1, 3.6.2) / over Lambda (3.6.3).",
               "reading: a lattice is countable and has no uniform distribution; every other "
               "statement (Lemma 1, Theorem 1, Sec. 8.1) uses U uniform over the Voronoi cell",
               "as printed the step is undefined", REFUTED,
               correction="draw U uniformly over the Voronoi cell P_0(Lambda_Delta) of the scaled "
                          "lattice (Sec. 8.1's sampler); in 3.6.3 also Lambda_Delta, not Lambda",
               expected_status=REFUTED)


# ---------------------------------------------------------------------- Sec. 6.2
@row
def e8_description(quick):
    import lattices

    e8 = lattices.get("e8")
    rng = np.random.default_rng(1)
    pts = e8.from_coordinates(rng.integers(-5, 6, size=(20000, 8)))
    frac = pts - np.floor(pts)
    all_int = np.all(np.isclose(frac, 0) | np.isclose(frac, 1), axis=1)
    all_half = np.all(np.isclose(frac, 0.5), axis=1)
    even = np.isclose(np.mod(pts.sum(1), 2), 0) | np.isclose(np.mod(pts.sum(1), 2), 2)
    ok_points = bool(np.all((all_int | all_half) & even))
    # conversely: count the vectors of that description with norm <= 4 (1 + 240 + 2160)
    grid = np.arange(-2, 2.5, 0.5)
    count = 0
    import itertools
    for half in (False, True):
        vals = grid[np.isclose(grid % 1, 0.5)] if half else grid[np.isclose(grid % 1, 0)]
        for v in itertools.product(vals, repeat=8):
            s = sum(x * x for x in v)
            if s <= 4 and abs(sum(v) % 2) < 1e-9:
                count += 1
    theta = e8.theta_series(4)
    ok = ok_points and count == sum(theta)
    return Row("sec6.2-e8-description", "6.2",
               "E8 is the set of vectors whose coordinates are all integers or all half-integers, "
               "with even coordinate sum.",
               "20000 random lattice points checked; conversely the vectors of that description "
               "with norm <= 4 counted and compared with the theta series",
               f"all points satisfy it; {count} described vectors of norm <= 4 = 1 + 240 + 2160 = "
               f"{sum(theta)}", VERIFIED if ok else REFUTED, expected_status=VERIFIED)


def paper_e8_decoder_as_printed(x):
    """Sec. 6.2 literally: compute f(x), g(x), f(x-1/2)+1/2, g(x-1/2)+1/2, keep the closest."""
    def f(y):
        return np.rint(y)

    def g(y):
        r = np.rint(y)
        err = y - r
        k = np.argmax(np.abs(err), axis=-1)
        out = r.copy()
        idx = np.arange(len(y))
        out[idx, k] += np.where(err[idx, k] >= 0, 1.0, -1.0)
        return out

    cands = [f(x), g(x), f(x - 0.5) + 0.5, g(x - 0.5) + 0.5]
    d = np.stack([((x - c) ** 2).sum(-1) for c in cands])
    best = np.argmin(d, axis=0)
    return np.stack(cands)[best, np.arange(len(x))]


@row
def e8_decoder(quick):
    import lattices

    e8 = lattices.get("e8")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100000, 8)) * 2
    lit = paper_e8_decoder_as_printed(x)
    in_e8 = np.isclose(np.mod(lit.sum(1), 2), 0) | np.isclose(np.mod(lit.sum(1), 2), 2)
    bad = float(1 - in_e8.mean())
    ours = e8.nearest(x)
    same_when_valid = np.allclose(((x - lit) ** 2).sum(-1)[in_e8], ((x - ours) ** 2).sum(-1)[in_e8])
    return Row("sec6.2-e8-decoder", "6.2",
               "Nearest point of E8: compute f(x), g(x), f(x - 1/2) + 1/2, g(x - 1/2) + 1/2 and "
               "choose the one closest to x.",
               "the algorithm implemented literally, on 100000 Gaussian points, against the exact "
               "decoder (certified by Voronoi-relevant vectors in the tests)",
               f"the literal rule returns a point outside E8 (odd coordinate sum) for {bad:.1%} of "
               f"inputs; where its output is in E8 it is the nearest point ({same_when_valid})",
               REFUTED if bad > 0.01 else VERIFIED,
               correction="of f(x) and g(x) keep the one with even coordinate sum (a D8 point), "
                          "likewise of f(x - 1/2) + 1/2 and g(x - 1/2) + 1/2, then choose the closer "
                          "of the two (Conway & Sloane 1982)",
               evidence={"fraction_not_in_E8": bad}, expected_status=REFUTED)


@row
def figure_expression(quick):
    return Row("sec6.2-expression", "6.2",
               "The end-to-end loss is -log p(x | K(e(x + U)) - U) - log p(K(e(x + U)) | U).",
               "comparison with eqs. (3) and (12), where the encoder output is dithered: K(e(x) + U)",
               "e(x + U) dithers the input instead of the encoding; inconsistent with (3)/(12) and "
               "with the algorithms of 3.6", REFUTED,
               correction="-log p_{X|Z-U}(x | K(e(x) + U) - U) - log p_{Z|U}(K(e(x) + U) | U)",
               expected_status=REFUTED)


@row
def figure2(quick):
    from validation.figure2 import build_report

    rep = build_report(n_samples=4000 if quick else 20000, seed=0)
    checks = {c["name"]: c for c in rep["checks"]}
    controls_refuted = all(not c["passed"] for c in rep["negative_controls"])
    failed = [n for n, c in checks.items() if not c["passed"]]
    ratio = next(c for n, c in checks.items() if n.startswith("printed value"))
    expected_failures = {n for n in checks if n.startswith("printed formula") or n.startswith("printed value")}
    ok = controls_refuted and set(failed) == expected_failures
    return Row("sec6.2-figure2", "6.2, Figure 2",
               "With Z^2 and A2 scaled to equal second moments, V_Z2/V_A2 = G(Z^2)/G(A2) ~ 0.963...; "
               "the square holds 49 Z^2 points and 45 A2 points, about 47.1 cells expected; A2 needs "
               "at least 3% fewer points.",
               "python -m validation.figure2: exact scale factors (sympy), exact counts for the "
               "figure's placement, mean count over random placements (seed 0) against area/V within "
               "4 SE, negative controls (the other lattice's volume, the printed formula) refuted",
               f"49 and 45 reproduced, 47.1503 expected, 3.77% fewer points: hold; the printed ratio "
               f"G(Z^2)/G(A2) is 1.0392, and the ratio that the argument needs, V_Z2/V_A2 = "
               f"G(A2)/G(Z^2) = 5 sqrt(3)/9 = {ratio['reference']:.5f} (the printed 0.963 has a wrong "
               "third digit)", REFUTED if ok else "error",
               correction="V_Z2/V_A2 = G(A2)/G(Z^2) = 5 sqrt(3)/9 = 0.96225 (sigma^2 = G V for m = 2)",
               evidence={n: {"estimate": c["estimate"], "reference": c["reference"],
                             "passed": c["passed"]} for n, c in checks.items()},
               expected_status=REFUTED)


# ---------------------------------------------------------------------- Sec. 8.1
@row
def sampler(quick):
    import lattices

    out = {}
    ok = True
    for name in ("a2", "e8"):
        lat = lattices.get(name)
        n = 100000 if quick else 400000
        u = lat.sample_cell(n, rng=3)
        zero = bool(np.all(lat.nearest(u) == 0))
        s = (u ** 2).sum(-1) / lat.dim
        est, se = s.mean(), s.std(ddof=1) / np.sqrt(n)
        exact = float(lat.second_moment_exact())
        rng = np.random.default_rng(4)
        wrong = (rng.random((n, lat.dim)) - 0.5) @ lat.basis
        sw = (wrong ** 2).sum(-1) / lat.dim
        zc = (sw.mean() - exact) / (sw.std(ddof=1) / np.sqrt(n))
        z = (est - exact) / se
        out[name] = {"z": z, "control_z": zc, "decodes_to_0": zero}
        ok &= zero and abs(z) < 4 and abs(zc) > 4
    return Row("sec8.1-sampler", "8.1",
               "With V uniform on [0,1]^m, W = V B, W - K(W) is uniform over the Voronoi cell.",
               "every sample decodes to 0; its second moment against the exact sigma^2 (rule: "
               "|z| < 4); negative control: the centred parallelepiped must be refuted (|z| > 4); seed 3",
               "; ".join(f"{k}: z = {v['z']:.2f}, control z = {v['control_z']:.1f}" for k, v in out.items()),
               VERIFIED if ok else REFUTED, evidence=out, expected_status=VERIFIED)


# ---------------------------------------------------------------------- Table 1
@row
def group_property(quick):
    import lattices

    rng = np.random.default_rng(5)
    ok = True
    for name in ("z", "a2", "e8", "d4*"):
        lat = lattices.get(name)
        a = lat.from_coordinates(rng.integers(-9, 10, size=(5000, lat.dim)))
        b = lat.from_coordinates(rng.integers(-9, 10, size=(5000, lat.dim)))
        ok &= bool(np.allclose(lat.nearest(a + b), a + b) and np.allclose(lat.nearest(-a), -a)
                   and np.allclose(lat.nearest(np.zeros(lat.dim)), 0))
    return Row("table1-group", "1, Table 1",
               "Lattices have the group property (closure, identity, inverses, associativity).",
               "for Z, A2, E8, D4*: sums and negatives of 5000 random lattice points decode to "
               "themselves (they are lattice points), 0 is a lattice point",
               "closure and inverses hold on every sample (associativity is inherited from R^m)",
               VERIFIED if ok else REFUTED, expected_status=VERIFIED)


# ---------------------------------------------------------------------- Sec. 1: real bits
@row
def bitstream(quick):
    import torch

    from vae.codec.api import compress_with_stats, decode_payload, measure
    from vae.codec.container import unpack
    from vae.codec.latent_coders import CodecError
    from vae.models import VAE, ModelConfig

    n = 200 if quick else 1000
    x = (torch.rand(n, 784, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    parts, ok = [], True
    dgauss = {"prior": "dgauss", "prior_components": 2}
    for latent, hidden, options in (("z-laplace", 32, {}), ("z2", 32, {}), ("a2", 32, {}), ("e8", 32, {}),
                                    ("bw16", 32, {}), ("leech", 24, {}), ("e8", 32, dgauss)):
        torch.manual_seed(0)
        model = VAE(ModelConfig(latent=latent, hidden=hidden, latent_options=options)).eval()
        name = latent + (" (dgauss prior)" if options else "")
        data, stats = compress_with_stats(model, x, seed=0)
        header, payload = unpack(data)
        ideal, bits = float(stats["ideal_bits"].sum()), float(stats["payload_bits"])
        symbols = measure(model, x, 0)["symbols"]
        same = np.array_equal(decode_payload(model, payload, n, 0, header["chunk"], header["coder_params"]),
                              symbols)
        try:
            other = np.array_equal(decode_payload(model, payload, n, 1, header["chunk"],
                                                  header["coder_params"]), symbols)
        except (CodecError, ValueError):
            other = False
        good = same and bits <= 1.005 * ideal + 64 and not other
        ok &= good
        parts.append(f"{name}: {bits / n:.2f} bits/image vs code length {ideal / n:.2f} "
                     f"({100 * (bits - ideal) / ideal:+.2f} %), round trip {'exact' if same else 'FAILED'}, "
                     f"seed 1 {'reproduces' if other else 'does not reproduce'} the symbols")
    return Row("sec1-bitstream", "1, 3.6.3",
               "A lattice representation is an explicit discrete representation for x whose average "
               "representation cost, in bits, matches that of the ELBO's representation cost; the dither "
               "is shared randomness between encoder and decoder.",
               f"vae.codec (ANS via constriction, pmfs quantized to 24 bits, dither regenerated from the "
               f"header's seed): {n} random binary images, seeded untrained models (hidden 32; Leech 24), payload "
               f"against the summed code length (10), rule payload <= 1.005 x code length + 64 bits; "
               f"negative control: decoding with seed 1 (must not reproduce the symbols). Trained runs: "
               f"python -m validation.bitstream RUN_DIR (docs/bitstream.md, docs/results.md)",
               "; ".join(parts) + ". The matched cost is the code length (10) of the evaluated model; the "
               "proxy KL trained for the lattice latents is a different number (train_vs_inference)",
               VERIFIED if ok else REFUTED, expected_status=VERIFIED)


# ---------------------------------------------------------------------- not checkable
def experiments_unchecked():
    return Row("sec4-tables", "4.1, 7, Tables 2-6",
               "Test NLLs (Tables 2, 5, 6), pairwise probabilities (Table 3), epoch times (Table 4).",
               "-", "trained models are needed: pass their run folders with --runs (the claims of "
               "Sec. 4.1 / 7.1 then get one row each, from validation.experiments); epoch times are V100 "
               "timings", NOT_CHECKABLE, expected_status=NOT_CHECKABLE)


def experiment_rows(runs_dirs) -> list[Row]:
    """One row per experimental claim (Sec. 4.1 items 1-5, Sec. 7.1), judged from trained runs."""
    from validation.experiments import claims, collect

    runs = collect(runs_dirs)
    if not runs:
        return [experiments_unchecked()]
    where = ", ".join(str(d) for d in runs_dirs)
    out = []
    for c in claims(runs):
        n = c["counts"]
        evidence = "; ".join(c["evidence"][:6]) + ("; ..." if len(c["evidence"]) > 6 else "")
        out.append(Row(f"exp-{c['id']}", c["section"], c["statement"],
                       f"{len(runs)} trained runs ({where}); {c['rule']}",
                       f"{n['agrees']} agree, {n['contradicts']} contradict, {n['unresolved']} unresolved: "
                       f"{evidence or 'no cell holds both sides yet'}"
                       + (f" ({c['note']})" if c["note"] else ""),
                       c["verdict"], evidence={"counts": n, "lines": c["evidence"]}))
    return out


@row
def proof_text(quick):
    return Row("sec3.2-proof-text", "3.2",
               "The printed chain of equalities (a)-(e) in the proof of Theorem 1.",
               "reading", "the printed chain repeats the same expression under (c), (d) and two steps "
               "labelled (e), so the steps cannot be checked one by one as printed; the theorem itself "
               "is checked numerically (Theorem 1 row)", NOT_CHECKABLE,
               expected_status=NOT_CHECKABLE)


# ---------------------------------------------------------------------- driver
def run(quick: bool = False, runs_dirs=()):
    """Every row; the experimental claims from ``runs_dirs`` (trained run folders), else one
    *not checkable* row for them."""
    rows = []
    for fn in ROWS:
        try:
            rows.append(fn(quick))
        except Exception as exc:  # a broken row is reported, not hidden
            rows.append(Row(fn.__name__, "?", fn.__name__, "-", f"error: {exc!r}", "error",
                            expected_status=VERIFIED))
    at = next((i for i, r in enumerate(rows) if r.id == "sec3.2-proof-text"), len(rows))
    rows[at:at] = experiment_rows(runs_dirs) if runs_dirs else [experiments_unchecked()]
    return rows


def render_markdown(rows, command: str = "python -m validation.audit --out docs/audit.md") -> str:
    from validation.experiments import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED

    counts = {s: sum(r.status == s for r in rows)
              for s in (VERIFIED, REFUTED, NOT_CHECKABLE, REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)}
    out = ["# Audit of the paper's claims", "",
           f"Generated by `{command}`. One row per checkable "
           "claim of Lastras (2020); *refuted* rows give the corrected statement. Monte Carlo rows "
           "state their rule, seed and negative control.", "",
           f"Summary: {counts[VERIFIED]} verified, {counts[REFUTED]} refuted, "
           f"{counts[NOT_CHECKABLE]} not checkable"
           + (f"; experimental claims (from trained runs): {counts[REPRODUCED]} reproduced, "
              f"{counts[NOT_REPRODUCED]} not reproduced, {counts[INCONCLUSIVE]} inconclusive at this budget"
              if counts[REPRODUCED] + counts[NOT_REPRODUCED] + counts[INCONCLUSIVE] else "") + ".", "",
           "| # | section | statement | method | result | status | corrected statement |",
           "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        cells = [str(i), r.section, r.statement, r.method, r.result, f"**{r.status}**", r.correction]
        out.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(out) + "\n"


def build_parser():
    p = ArgumentParser(prog="python -m validation.audit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=output_path, help="write the Markdown table to this file (atomically)")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.add_argument("--quick", action="store_true", help="smaller Monte Carlo samples")
    p.add_argument("--runs", nargs="+", default=(), metavar="RUNS_DIR",
                   help="folders of trained runs (sweep 'out's): the experimental claims get a verdict each")
    return p


@cli_main("python -m validation.audit")
def main(argv=None):
    args = build_parser().parse_args(argv)
    missing = [d for d in args.runs if not os.path.isdir(d)]
    if missing:
        print(f"python -m validation.audit: runs folder {missing[0]!r} does not exist", file=sys.stderr)
        return 2
    rows = run(args.quick, args.runs)
    regressions = [r for r in rows if r.expected_status and r.status != r.expected_status]
    if args.json:
        print(json.dumps({"rows": [asdict(r) for r in rows],
                          "regressions": [r.id for r in regressions]}, indent=2, default=str))
    else:
        command = "python -m validation.audit" + (" --runs " + " ".join(args.runs) if args.runs else "")
        md = render_markdown(rows, command + (f" --out {args.out}" if args.out else ""))
        if args.out:
            from lattices.utils.io import atomic_write_text

            atomic_write_text(args.out, md)  # an interrupted run leaves the old file
            print(f"wrote {args.out}", file=sys.stderr)
        else:
            print(md)
    for r in regressions:
        print(f"regression: {r.id} is {r.status}, expected {r.expected_status}: {r.result}",
              file=sys.stderr)
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
