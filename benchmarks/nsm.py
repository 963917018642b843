"""Monte Carlo NSM: standard error reached per second, against plain batched numpy.

For each lattice (default E8, A2, D4) three estimators of G = E|U|^2 / (m V^{2/m})
are timed in one run:

* ``fused+cv``: :func:`lattices.montecarlo.nsm_monte_carlo` (fused numba kernel,
  inscribed-ball control variate), the library default;
* ``fused``: the same kernel, plain Monte Carlo (``control_variate=False``);
* ``numpy``: the baseline, batches of ``Lattice.sample_cell`` (numpy RNG, matmul,
  fused decoder) and ``|U|^2`` with numpy, float64 sums.

Reported per row: samples/s, the relative standard deviation of one sample's
value (so that rel. SE = rel. std / sqrt(n)), the relative SE reached after one
second (rel. std / sqrt(samples/s)), and the time to reach ``--target-rse``.
For ``fused+cv`` that time is **measured** (a run sized to reach the target,
when it needs at most ``--max-seconds``), else **projected** from a run of at least
``--min-seconds``; for the other rows it is projected from their measured rate
and variance (``basis`` says which).  Ratios are against the numpy baseline of
the same run: ``x numpy rate`` (samples/s) and ``x numpy time`` (time to target,
i.e. SE per second squared).

Usage::

    python -m benchmarks.nsm [--json] [--lattice e8[,a2,...]] [--target-rse 1e-5] [--samples N]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np

from ._common import parse_lattice_list
from lattices.cli import (ArgumentParser, check_memory, check_seconds, cli_main, positive_count,
                          positive_float)

DEFAULT_LATTICES = "e8,a2,d4"


def _exact_nsm(lat):
    """float(lat.nsm_exact()), or None where no exact method applies (e.g. a generic
    lattice of dimension > 4, whose cell the generic method does not enumerate)."""
    try:
        return float(lat.nsm_exact())
    except ValueError:
        return None


def _row(name, method, r_or_stats, elapsed, target, basis, exact):
    est, se, n, seed = r_or_stats
    rel_std = se / est * math.sqrt(n) if est else float("nan")
    rate = n / elapsed
    t_target = (rel_std / target) ** 2 / rate
    return {
        "lattice": name, "method": method, "n_samples": int(n), "seconds": elapsed,
        "samples_per_s": rate, "estimate": est, "standard_error": se, "seed": seed,
        "rel_se": se / est, "rel_std_per_sample": rel_std,
        "rel_se_after_1s": rel_std / math.sqrt(rate),
        "time_to_target_s": t_target if basis != "measured" else elapsed,
        "time_basis": basis,
        "z_vs_exact": (est - exact) / se if exact is not None and se > 0 else None,
    }


def run_library(lat, name, target, seed, samples, max_seconds, min_seconds, exact):
    """The fused+cv row (time to target measured when affordable) and the fused plain row."""
    from lattices.montecarlo import monte_carlo

    monte_carlo(lat, 1 << 15, rng=seed)  # compile / load the kernels
    calib = monte_carlo(lat, 1 << 22, rng=seed + 1)
    rate = calib.n_samples / calib.elapsed_s
    rel_std = calib.nsm_se / calib.nsm * math.sqrt(calib.n_samples)
    n_target = math.ceil(1.1 * (rel_std / target) ** 2)
    if samples is not None:
        check_seconds(samples / rate, max_seconds, f"--samples {samples} of {name}", "lower --samples")
        n = samples
    elif n_target / rate <= max_seconds:
        n = max(n_target, 2)
    else:
        n = max(2, int(rate * min_seconds))
    r = monte_carlo(lat, n, rng=seed + 2)
    if r.nsm_se / r.nsm <= target:
        basis = "measured"
    else:
        basis = f"projected from a {r.elapsed_s:.1f} s run"
    rows = [_row(name, "fused+cv", (r.nsm, r.nsm_se, n, r.seed), r.elapsed_s, target, basis, exact)]
    rows[0]["variance_reduction"] = r.variance_reduction
    # plain Monte Carlo through the same kernel
    n_plain = max(2, int(min(n, rate * max(1.0, min_seconds / 3))))
    p = monte_carlo(lat, n_plain, rng=seed + 3, control_variate=False)
    rows.append(_row(name, "fused", (p.nsm, p.nsm_se, n_plain, p.seed), p.elapsed_s, target,
                     f"projected from a {p.elapsed_s:.1f} s run", exact))
    return rows


def run_numpy_baseline(lat, name, target, seed, seconds, batch, exact):
    """Plain batched numpy: ``sample_cell`` + ``|U|^2``, float64 sums, for ``seconds``."""
    rng = np.random.default_rng(seed)
    lat.sample_cell(16, rng=rng)  # warm up
    m = lat.dim
    v2m = math.exp(2.0 * float(np.linalg.slogdet(lat.basis)[1]) / m)
    n = 0
    s1 = s2 = 0.0
    t0 = time.perf_counter()
    while True:
        U = lat.sample_cell(batch, rng=rng)  # (batch, m)
        x = np.einsum("ij,ij->i", U, U) / (m * v2m)  # per-sample |U|^2 / (m V^{2/m})
        s1 += float(x.sum())
        s2 += float(x @ x)
        n += batch
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            break
    mean = s1 / n
    var = (s2 - s1 * s1 / n) / (n - 1)
    se = math.sqrt(var / n)
    return _row(name, "numpy", (mean, se, n, seed), elapsed, target,
                f"projected from a {elapsed:.1f} s run", exact)


def build_parser():
    p = ArgumentParser(prog="python -m benchmarks.nsm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--lattice", default=DEFAULT_LATTICES,
                   help="comma-separated names, 'name^k' = k-fold product "
                        f"(default {DEFAULT_LATTICES})")
    p.add_argument("--target-rse", type=positive_float, default=1e-5,
                   help="relative standard error to reach (default 1e-5)")
    p.add_argument("--samples", type=positive_count, default=None,
                   help="samples of the main fused+cv run (default: sized to reach the target); "
                        "refused when estimated beyond --max-seconds")
    p.add_argument("--max-seconds", type=positive_float, default=120.0, metavar="S",
                   help="measure the time to target when projected below this; the longest run "
                        "this benchmark makes: --samples, --min-seconds and --baseline-seconds "
                        "beyond it are refused before they start (default 120)")
    p.add_argument("--min-seconds", type=positive_float, default=10.0,
                   help="duration of the run a projection is based on (default 10)")
    p.add_argument("--baseline-seconds", type=positive_float, default=3.0,
                   help="duration of the numpy baseline run (default 3)")
    p.add_argument("--batch", type=positive_count, default=1 << 16,
                   help="numpy baseline batch (default 65536)")
    p.add_argument("--seed", type=int, default=0)
    return p


@cli_main("python -m benchmarks.nsm")
def main(argv=None):
    args = build_parser().parse_args(argv)
    for opt, v in (("--target-rse", args.target_rse), ("--max-seconds", args.max_seconds),
                   ("--min-seconds", args.min_seconds),
                   ("--baseline-seconds", args.baseline_seconds), ("--batch", args.batch)):
        if not v > 0:
            print(f"error: {opt} must be positive, got {v}", file=sys.stderr)
            return 2
    if args.samples is not None and args.samples < 2:
        print(f"error: --samples must be an integer >= 2, got {args.samples}", file=sys.stderr)
        return 2
    if not 0 <= args.seed < 2 ** 63:
        print(f"error: --seed must be in [0, 2**63), got {args.seed}", file=sys.stderr)
        return 2
    try:
        lats = parse_lattice_list(args.lattice)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # the time and size rules, before the work: the timed runs this benchmark makes
    for opt, v in (("--min-seconds", args.min_seconds), ("--baseline-seconds", args.baseline_seconds)):
        check_seconds(v, args.max_seconds, f"{opt} {v:g}", f"lower {opt}")
    check_memory(4.0 * 8 * args.batch * max(lat.dim for lat in lats.values()), f"--batch {args.batch}")
    names = list(lats)
    import numba
    from tqdm import tqdm

    rows = []
    for name in tqdm(names, desc="lattices", disable=args.json, file=sys.stderr):
        lat = lats[name]
        exact = _exact_nsm(lat)
        lib = run_library(lat, name, args.target_rse, args.seed, args.samples, args.max_seconds,
                          args.min_seconds, exact)
        base = run_numpy_baseline(lat, name, args.target_rse, args.seed, args.baseline_seconds,
                                  args.batch, exact)
        for r in lib + [base]:
            r["x_numpy_rate"] = r["samples_per_s"] / base["samples_per_s"]
            r["x_numpy_time"] = base["time_to_target_s"] / r["time_to_target_s"]
            rows.append(r)
    env = {
        "command": "python -m benchmarks.nsm "
                   + " ".join(argv if argv is not None else sys.argv[1:]),
        "cpu_count": os.cpu_count(), "numba_threads": numba.get_num_threads(),
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "machine": platform.machine(), "seed": args.seed, "target_rse": args.target_rse,
    }
    if args.json:
        print(json.dumps({"environment": env, "results": rows}, indent=2))
        return 0
    print(f"# Monte Carlo NSM: SE per second ({env['cpu_count']} cores, "
          f"{env['numba_threads']} numba threads, numba {env['numba']}; "
          f"target relative SE {args.target_rse:g})\n")
    print("| lattice | method | samples | s | M samples/s | estimate +- SE | z vs exact "
          "| rel. std/sample | rel. SE after 1 s | time to target | basis | x numpy rate "
          "| x numpy time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        z = "n/a" if r["z_vs_exact"] is None else f"{r['z_vs_exact']:+.2f}"
        print(f"| {r['lattice']} | {r['method']} | {r['n_samples']:.3g} | {r['seconds']:.1f} | "
              f"{r['samples_per_s'] / 1e6:.2f} | "
              f"{r['estimate']:.7f} +- {r['standard_error']:.1e} | "
              f"{z} | {r['rel_std_per_sample']:.3f} | {r['rel_se_after_1s']:.2e} | "
              f"{_fmt_time(r['time_to_target_s'])} | {r['time_basis']} | "
              f"{r['x_numpy_rate']:.1f} | {r['x_numpy_time']:.0f} |")
    return 0


def _fmt_time(t):
    if t < 120:
        return f"{t:.1f} s"
    if t < 7200:
        return f"{t / 60:.1f} min"
    return f"{t / 3600:.1f} h"


if __name__ == "__main__":
    sys.exit(main())
