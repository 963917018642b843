"""Lemma 1 (Crypto-Lemma): K(y + U) - U and y - U have the same law, U uniform over P_0.

    python -m validation.crypto_lemma --lattice e8 [--samples N] [--permutations P]
        [--y Y1,Y2,..] [--scale DELTA] [--seed S] [--json]

Two independent samples, a_i = K(y + U_i) - U_i and b_j = y - U'_j, are compared by

- the energy distance (Szekely & Rizzo) E = 2 E|a - b| - E|a - a'| - E|b - b'| with a
  permutation p-value (all permutations share one distance matrix; each permuted
  statistic is a matrix-vector product, batched as one matrix product);
- per-coordinate two-sample Kolmogorov-Smirnov tests (scipy.stats.ks_2samp), Bonferroni
  corrected: p = min(1, m * min_i p_i).

Verdict: confirmed when both p-values are >= 0.01.  Negative control: the same with U
uniform over the centred fundamental parallelepiped (V - 1/2) B (over [0, 1)^m B when the
basis is orthogonal, since that centred parallelepiped is then P_0 itself); both tests must
reject it (p < 0.01).  y defaults to a seeded random point (reported).
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
from scipy.spatial.distance import cdist
from scipy.stats import ks_2samp

from theory.crypto_lemma import crypto_lemma_samples, parallelepiped_is_cell
from validation._report import Check, emit, make_report, usage_error
from validation.theorem1 import parse_lattice
from lattices.cli import check_scale_range, ArgumentParser, add_max_seconds, check_memory, check_seconds, cli_main, positive_float

__all__ = ["build_parser", "main", "energy_test", "ks_test", "run"]

ALPHA = 0.01
# asymptotic null law of sqrt(n/2) * D for one two-sample KS statistic (Kolmogorov distribution)
_KOLMOGOROV_MEAN, _KOLMOGOROV_SD = 0.8687, 0.2603


def energy_test(a, b, permutations=200, rng=None, batch=50, progress=None):
    """Energy distance between samples a (n, m) and b (n', m) and its permutation p-value.

    ``progress``: a tqdm bar (or None) advanced by one per permutation done.
    Returns (statistic, p_value, null_mean, null_sd, null_q99).
    """
    gen = np.random.default_rng(rng)
    X = np.concatenate([a, b], axis=0)
    N, na = X.shape[0], a.shape[0]
    nb = N - na
    D = cdist(X, X)  # (N, N)
    total = D.sum()

    def stats(A):  # A (N, P) 0/1 indicators of the "a" sample
        DA = D @ A
        sxx = np.einsum("ij,ij->j", A, DA)
        sxy = DA.sum(axis=0) - sxx
        syy = total - 2 * sxy - sxx
        return 2 * sxy / (na * nb) - sxx / na**2 - syy / nb**2

    lab = np.zeros((N, 1))
    lab[:na] = 1
    obs = float(stats(lab)[0])
    null = []
    for s in range(0, permutations, batch):
        P = min(batch, permutations - s)
        A = np.zeros((N, P))
        for j in range(P):
            A[gen.permutation(N)[:na], j] = 1
        null.append(stats(A))
        if progress is not None:
            progress.update(P)
    null = np.concatenate(null) if null else np.zeros(0)
    p = (1 + np.sum(null >= obs)) / (1 + len(null))
    return obs, float(p), float(null.mean()), float(null.std(ddof=1)), float(np.quantile(null, 0.99))


def expected_seconds(n: int, m: int, permutations: int) -> float:
    """Seconds :func:`run` should take here, from the matrix products that dominate it: per
    side (claim and control) a distance matrix of ``N = 2 n`` points and one ``(N, N) @ (N, P)``
    product for ``P`` permutations (2 N^2 P flops), at the rate of a timed pilot product."""
    N = 2 * n
    flops = 2 * (3.0 * N * N * m + 2.0 * N * N * permutations + 10.0 * N * permutations)
    if flops < 1e9:
        return 0.0
    k = 512
    D = np.random.default_rng(0).random((k, k))
    A = np.ones((k, 50))
    D @ A                                                       # warm up BLAS
    t0 = time.perf_counter()
    for _ in range(4):
        D @ A
    rate = 4 * 2.0 * k * k * 50 / max(time.perf_counter() - t0, 1e-9)
    return flops / rate


def ks_test(a, b):
    """Per-coordinate two-sample KS: (max statistic, Bonferroni p = min(1, m * min p), per-coord p)."""
    res = [ks_2samp(a[:, i], b[:, i]) for i in range(a.shape[1])]
    ps = np.array([r.pvalue for r in res])
    return float(max(r.statistic for r in res)), float(min(1.0, a.shape[1] * ps.min())), ps


def _checks(a, b, permutations, rng, label, progress=None):
    n = a.shape[0]
    stat, p, mu, sd, q99 = energy_test(a, b, permutations, rng, progress=progress)
    dmax, pks, _ = ks_test(a, b)
    c1 = Check(f"{label}: energy distance, permutation p-value = {p:.4g}", stat, mu, sd, 2 * n,
               f"permutation p-value >= {ALPHA:g}", bool(p >= ALPHA),
               {"p_value": p, "permutations": permutations, "null_q99": q99})
    scale = math.sqrt(2.0 / n)
    c2 = Check(f"{label}: per-coordinate KS, Bonferroni p-value = {pks:.4g}", dmax,
               _KOLMOGOROV_MEAN * scale, _KOLMOGOROV_SD * scale, 2 * n,
               f"Bonferroni-corrected min KS p-value >= {ALPHA:g}", bool(pks >= ALPHA),
               {"p_value": pks})
    return [c1, c2]


def run(lattice, y, n, permutations, seed, lattice_name=None, progress=False) -> dict:
    """Run the two tests on Lemma 1 and on its negative control; returns the report dict.

    ``progress``: a tqdm bar on stderr over the ``2 * permutations`` permuted
    statistics (claim, then control); it does not change the numbers.
    """
    t0 = time.perf_counter()
    m = lattice.dim
    control = "corner" if parallelepiped_is_cell(lattice) else "parallelepiped"
    s_main, s_ctrl, s_pm, s_pc = np.random.SeedSequence(seed).spawn(4)
    a, b = crypto_lemma_samples(lattice, y, n, np.random.default_rng(s_main))
    ac, bc = crypto_lemma_samples(lattice, y, n, np.random.default_rng(s_ctrl), dither=control)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=2 * permutations, unit="permutation", file=sys.stderr, leave=False,
                   desc=f"Lemma 1 on {lattice_name or lattice.name}", dynamic_ncols=True)
    try:
        checks = _checks(a, b, permutations, np.random.default_rng(s_pm), "Lemma 1", bar)
        controls = _checks(ac, bc, permutations, np.random.default_rng(s_pc),
                           f"U over the {'centred ' if control == 'parallelepiped' else ''}parallelepiped",
                           bar)
    finally:
        if bar is not None:
            bar.close()
    # Effect sizes detectable at this sample size
    a_ks = ALPHA / m
    d_crit = math.sqrt(-math.log(a_ks / 2) / 2) * math.sqrt(2.0 / n)
    sd = float(np.mean(b.std(axis=0)))
    power = {
        "ks_critical_distance": d_crit,
        "ks_detectable_mean_shift_in_sd_units_approx": d_crit * math.sqrt(2 * math.pi),
        "energy_null_q99": checks[0].details["null_q99"],
        "energy_statistic_of_control": controls[0].estimate,
        "coordinate_sd": sd,
    }
    return make_report(
        "Lemma 1 (Crypto-Lemma)",
        "K(y+U) - U and y - U have the same distribution when U is uniform over P_0",
        checks, controls, lattice=lattice_name or lattice.name, dim=m, y=[float(v) for v in y],
        seed=seed, samples_per_side=n, permutations=permutations, control_dither=control,
        detectable_effect=(
            f"KS rejects (alpha {ALPHA:g}, Bonferroni over {m} coordinates) a marginal CDF gap >= "
            f"{d_crit:.3f}, i.e. roughly a mean shift >= {d_crit * math.sqrt(2 * math.pi):.2f} sd "
            f"for a Gaussian-shaped marginal (sd ~ {sd:.3f}); energy distance null 99% quantile "
            f"{power['energy_null_q99']:.2e} vs the control's statistic {power['energy_statistic_of_control']:.2e}"),
        power=power, seconds=round(time.perf_counter() - t0, 2))


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m validation.crypto_lemma",
                                description="Lemma 1 (Crypto-Lemma): two-sample tests, with a negative control.")
    p.add_argument("--lattice", default="e8", help="lattice name, a2^2 or a2xz for products (default e8)")
    p.add_argument("--scale", type=positive_float, default=1.0, help="lattice scale (default 1)")
    p.add_argument("--samples", type=int, default=2000, help="samples per side (default 2000)")
    p.add_argument("--permutations", type=int, default=200, help="permutations (default 200)")
    p.add_argument("--y", default=None, help="the point y, comma separated (default: seeded random)")
    p.add_argument("--seed", type=int, default=0)
    add_max_seconds(p, what="the tests")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


@cli_main("python -m validation.crypto_lemma")
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits: cli_main returns their code (0 or 2)
    try:
        lat = parse_lattice(args.lattice)
        if args.scale != 1.0:           # volume and norms: positive normal float64 numbers
            lat = lat.scaled(check_scale_range(lat, args.scale))
        if args.samples < 20:
            raise ValueError(f"--samples must be >= 20, got {args.samples}")
        if args.permutations < 100:  # the smallest p-value is 1/(P + 1): it must go below 0.01
            raise ValueError(f"--permutations must be >= 100 (p-values below 0.01), got {args.permutations}")
        if args.y is None:
            y = np.random.default_rng([args.seed, 1]).normal(size=lat.dim) * 2 * lat.volume ** (1 / lat.dim)
        else:
            y = np.array([float(v) for v in args.y.split(",")])
            if y.shape != (lat.dim,) or not np.all(np.isfinite(y)):
                raise ValueError(f"--y needs {lat.dim} finite comma-separated numbers, got {args.y!r}")
    except (ValueError, TypeError) as exc:
        return usage_error(str(exc))
    N = 2 * args.samples               # the energy test holds the N x N distance matrix (float64)
    check_memory(16.0 * N * N, f"--samples {args.samples} (an energy test on {N} points)")
    check_seconds(expected_seconds(args.samples, lat.dim, args.permutations), args.max_seconds,
                  f"--samples {args.samples} with --permutations {args.permutations} (claim and control)",
                  "lower --samples or --permutations")
    progress = sys.stderr.isatty() and not args.json  # a bar only for a person watching
    return emit(run(lat, y, args.samples, args.permutations, args.seed, args.lattice, progress),
                args.json)


if __name__ == "__main__":
    sys.exit(main())
