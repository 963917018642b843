"""Throughput of ``Lattice.nearest`` per named lattice, as ratios measured in one run.

For each lattice, on ``--points`` random points (default 10^6), numpy and torch
inputs, float32 and float64: points per second of ``nearest``, the ratio to a
plain copy of the same array (the memory-bandwidth ceiling) and the ratio to
the exact generic decoder (LLL + Schnorr–Euchner) on the same lattice; for
``bw16`` and ``leech`` also the ratio to a brute-force search over all cosets of
their code construction (32, resp. 2 x 4096; :mod:`benchmarks.coset_baseline`).  Each
figure is the best of ``--repeats`` timings (the median is reported beside it:
a shared 2-core machine has occasional slow windows).  The
torch rows on the CPU use the fused kernel through a zero-copy view; the
``torch-eager`` rows time the device-agnostic torch path (what a CUDA tensor
gets) on the CPU, for reference.

Usage::

    python -m benchmarks.decoders [--json] [--points N] [--lattices e8,a2,...]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from ._common import lattice_from_name, parse_lattice_list

DEFAULT_LATTICES = ["z", "z8", "a2", "a3", "a3*", "d4", "d4*", "e6", "e6*", "e7", "e7*", "e8",
                    "a2^16", "e8^4", "bw16", "leech"]

#: Points timed for the brute-force coset baseline (it is slow: about 10^2-10^3 points/s).
COSET_POINTS = 300


def _times(fn, repeats):
    """Wall times of ``repeats`` calls (the first call is not a warm-up: callers warm up)."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return np.array(out)


def _best_time(fn, repeats):
    return float(_times(fn, repeats).min())


def measure(name, n_points, repeats, generic_points, seed, eager_points):
    """All figures for one lattice (a list of result rows)."""
    import torch

    import lattices

    lat = lattice_from_name(name)
    rng = np.random.default_rng(seed)
    x64 = rng.normal(scale=4.0, size=(n_points, lat.dim))
    rows = []
    # the generic exact decoder on the same lattice (the independent reference)
    gen = lattices.from_basis(lat.basis)
    xg = x64[:generic_points].copy()
    gen.nearest(xg[:8])
    t_gen = _best_time(lambda: gen.nearest(xg), max(1, repeats // 2)) / generic_points
    t_brute = None
    if name in ("bw16", "leech"):
        from .coset_baseline import CosetBruteForce

        brute = CosetBruteForce(name)
        xb = x64[:COSET_POINTS]
        t_brute = _best_time(lambda: brute.nearest(xb), 1) / len(xb)
    for dtype in (np.float32, np.float64):
        x = x64.astype(dtype)
        lat.nearest(x[:8])  # compile / warm up
        t_copy = _best_time(lambda: np.copy(x), repeats) / n_points
        times_np = _times(lambda: lat.nearest(x), repeats) / n_points
        xt = torch.from_numpy(x)
        times_torch = _times(lambda: lat.nearest(xt), repeats) / n_points
        t_np, t_torch = times_np.min(), times_torch.min()
        median = {"numpy": np.median(times_np), "torch": np.median(times_torch)}
        t_tcopy = _best_time(lambda: xt.clone(), repeats) / n_points
        xe = xt[:eager_points]
        lat._nearest_torch(xe[:8], force_eager=True)
        t_eager = _best_time(lambda: lat._nearest_torch(xe, force_eager=True),
                             max(1, repeats // 2)) / eager_points
        for backend, t, tc in (("numpy", t_np, t_copy), ("torch", t_torch, t_tcopy),
                               ("torch-eager", t_eager, t_tcopy)):
            rows.append({
                "lattice": name, "dim": lat.dim, "backend": backend,
                "dtype": np.dtype(dtype).name,
                "points_per_s": 1.0 / t,
                "median_points_per_s": 1.0 / median.get(backend, t),
                "copy_points_per_s": 1.0 / tc,
                "ratio_to_copy": tc / t,
                "generic_points_per_s": 1.0 / t_gen,
                "speedup_vs_generic": t_gen / t,
                "coset_brute_force_points_per_s": None if t_brute is None else 1.0 / t_brute,
                "speedup_vs_coset_brute_force": None if t_brute is None else t_brute / t,
            })
    return rows


def build_parser():
    p = argparse.ArgumentParser(prog="python -m benchmarks.decoders", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--points", type=int, default=10**6, help="points per timing (default 1e6)")
    p.add_argument("--generic-points", type=int, default=20000,
                   help="points for the generic-decoder baseline (default 2e4)")
    p.add_argument("--eager-points", type=int, default=10**5,
                   help="points for the torch-eager rows (default 1e5)")
    p.add_argument("--repeats", type=int, default=9,
                   help="timings per figure; the best and the median are reported (default 9)")
    p.add_argument("--lattices", default=",".join(DEFAULT_LATTICES),
                   help="comma-separated names; 'name^k' is the k-fold product")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)

    for name, v in (("--points", args.points), ("--generic-points", args.generic_points),
                    ("--eager-points", args.eager_points), ("--repeats", args.repeats)):
        if v < 1:
            print(f"error: {name} must be a positive integer, got {v}", file=sys.stderr)
            return 2
    try:
        names = list(parse_lattice_list(args.lattices))
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import numba
    import torch
    from tqdm import tqdm

    rows = []
    for name in tqdm(names, desc="lattices", disable=args.json, file=sys.stderr):
        rows += measure(name, args.points, args.repeats, min(args.generic_points, args.points),
                        args.seed, min(args.eager_points, args.points))
    env = {
        "command": "python -m benchmarks.decoders " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cpu_count": os.cpu_count(), "numba_threads": numba.get_num_threads(),
        "python": platform.python_version(), "numpy": np.__version__,
        "numba": numba.__version__, "torch": torch.__version__,
        "machine": platform.machine(), "seed": args.seed, "points": args.points,
    }
    if args.json:
        print(json.dumps({"environment": env, "results": rows}, indent=2))
        return 0
    print(f"# nearest-point throughput ({args.points} points, best of {args.repeats}; "
          f"{env['cpu_count']} cores, numba {env['numba']}, torch {env['torch']})\n")
    print("| lattice | dim | backend | dtype | M points/s (best) | median | x copy | copy M/s "
          "| generic M/s | x generic | x coset brute force |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['lattice']} | {r['dim']} | {r['backend']} | {r['dtype']} | "
              f"{r['points_per_s'] / 1e6:.3g} | {r['median_points_per_s'] / 1e6:.3g} | "
              f"{r['ratio_to_copy']:.3f} | "
              f"{r['copy_points_per_s'] / 1e6:.1f} | {r['generic_points_per_s'] / 1e6:.3g} | "
              f"{r['speedup_vs_generic']:.0f} | "
              + ("-" if r["speedup_vs_coset_brute_force"] is None
                 else f"{r['speedup_vs_coset_brute_force']:.0f} "
                      f"({r['coset_brute_force_points_per_s']:.0f}/s)") + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
