"""Throughput of ``Lattice.nearest`` per named lattice, as ratios measured in one run.

For each lattice, dtype (float32, float64) and thread count (``--threads``,
default 1 and 2), on an array of ``--megabytes`` (default 32 MB, so that
neither input nor output fits in a cache) of random points N(0, 16 I):

* points per second of ``nearest`` on a numpy array and on a CPU tensor (the
  fused kernel through a zero-copy view);
* ``x copy``: that rate over the rate of ``np.copy`` / ``Tensor.clone`` of the
  same array (the memory-bandwidth ceiling; a copy is single-threaded);
* ``x rint``: over the rate of ``np.rint`` / ``torch.round`` of the same array
  (rounding is the exact Z^n decoder, so Z^n aims at 1);
* ``x per-point`` (numpy rows): over the per-point reference kernel
  ``decode_blocks`` (the formulation the tile kernels replaced, same output);
* ``x generic``: over the exact generic decoder (LLL + Schnorr-Euchner,
  ``lattices.from_basis(lattice.basis)``) on ``--generic-points`` points.

The anchors and the decoder are timed interleaved, round after round, in the
same process.  Rates are the best of ``--repeats`` rounds, with the median
beside them; the ratios are the median over rounds of the ratio of the two
timings taken side by side in a round, so that a slow window of a shared
machine (compare the load averages printed with the table) hits both sides.  ``torch-eager`` rows time the device-agnostic torch
path (what a CUDA tensor gets) on the CPU, on ``--eager-points`` points, for
reference.  The issue's targets are checked at the end (``--json`` has them too).  For ``bw16`` and ``leech`` also ``x coset``: over a brute-force search over
all cosets of their code construction (32, resp. 2 x 4096;
:mod:`benchmarks.coset_baseline`), the approach of a public PyTorch quantizer.

Usage::

    python -m benchmarks.decoders [--json] [--lattices e8,a2,...] [--threads 1,2]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time

import numpy as np

from ._common import lattice_from_name, parse_lattice_list
from lattices.cli import ArgumentParser, cli_main

DEFAULT_LATTICES = ["z", "z8", "a2", "a3", "a3*", "d4", "d4*", "e6", "e6*", "e7", "e7*", "e8",
                    "a2^16", "e8^4", "bw16", "leech"]

#: Points timed for the brute-force coset baseline (it is slow: about 10^2-10^3 points/s).
COSET_POINTS = 300

#: The issue's targets: (lattice, anchor, least ratio).  Z^n: the exact decoder
#: at rounding speed; the root lattices: a fraction of a copy.
TARGETS = [("z8", "rint", 0.8), ("e8", "copy", 0.12), ("d4", "copy", 0.11),
           ("a2", "copy", 0.056)]


def _interleaved(fns, repeats):
    """Wall times (repeats, len(fns)): every round times each function once, in turn."""
    out = np.empty((repeats, len(fns)))
    for r in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            out[r, i] = time.perf_counter() - t0
    return out


def reference_decoder(lat):
    """``x -> lat.nearest(x)`` through the per-point reference kernel
    (``lattices._kernels.decode_blocks``, the formulation before the tile kernels),
    or None where a block is not a Conway-Sloane block."""
    from lattices import _kernels
    from lattices._spec import FAMILIES, FastSpec

    blocks = lat.blocks()
    if not all(isinstance(b.spec, FastSpec) for b in blocks):
        return None
    # consecutive copies of one spec: one kernel call, as Lattice.nearest makes
    runs = [list(run) for _, run in itertools.groupby(blocks, key=lambda b: id(b.spec))]
    runs = [(run[0].spec, run[0].start, len(run), np.array([b.scale for b in run])) for run in runs]

    def decode(x):
        flat = x.reshape(-1, lat.dim)
        N = flat.shape[0]
        out = np.empty_like(flat)
        for sp, start, copies, scales in runs:
            sl = slice(start, start + copies * sp.dim)
            x3 = flat[:, sl].reshape(N, copies, sp.dim)
            o3 = out[:, sl].reshape(N, copies, sp.dim)
            T, Sinv, B = ((np.zeros((1, 1)),) * 3 if sp.T is None
                          else (sp.T, sp.canonical_pinv, sp.basis))
            bad = np.zeros(max(1, -(-N // _kernels.CHUNK)), dtype=np.int64)
            _kernels.decode_blocks(x3, o3, scales * sp.scale0, scales, T, sp.T is not None,
                                   Sinv, B, FAMILIES[sp.family], sp.width, sp.blocks, sp.glue, bad)
        return out.reshape(x.shape)

    return decode


def _points_for(lat, megabytes, itemsize, points=None):
    if points is not None:
        return points
    return max(1, int(megabytes * 2**20) // (lat.dim * itemsize))


def measure(name, megabytes, repeats, generic_points, seed, eager_points, threads, points=None):
    """All figures for one lattice at one thread count (a list of result rows)."""
    import numba
    import torch

    import lattices

    numba.set_num_threads(threads)
    torch.set_num_threads(threads)
    lat = lattice_from_name(name)
    rng = np.random.default_rng(seed)
    gen = lattices.from_basis(lat.basis)
    generic_points = min(generic_points, points or generic_points)
    xg = rng.normal(scale=4.0, size=(generic_points, lat.dim))
    gen.nearest(xg[:8])
    t_gen = _interleaved([lambda: gen.nearest(xg)], max(1, repeats // 3)).min() / generic_points
    rows = []
    t_brute = None
    if name in ("bw16", "leech"):
        from .coset_baseline import CosetBruteForce

        brute = CosetBruteForce(name)
        xb = rng.normal(scale=4.0, size=(COSET_POINTS, lat.dim))
        brute.nearest(xb[:2])
        t_brute = _interleaved([lambda: brute.nearest(xb)], 1).min() / COSET_POINTS
    for dtype in (np.float32, np.float64):
        n = _points_for(lat, megabytes, np.dtype(dtype).itemsize, points)
        x = rng.normal(scale=4.0, size=(n, lat.dim)).astype(dtype)
        xt = torch.from_numpy(x)
        lat.nearest(x[:8])  # compile / warm up both the serial and the parallel path
        lat.nearest(x)
        lat.nearest(xt)
        ref = reference_decoder(lat)
        fns = [lambda: np.copy(x), lambda: np.rint(x), lambda: lat.nearest(x),
               lambda: xt.clone(), lambda: torch.round(xt), lambda: lat.nearest(xt)]
        if ref is not None:
            ref(x)
            fns.append(lambda: ref(x))
        t = _interleaved(fns, repeats) / n
        best, median = t.min(axis=0), np.median(t, axis=0)
        xe = xt[:min(eager_points, n)]
        lat.nearest_eager(xe[:8])
        te = _interleaved([lambda: lat.nearest_eager(xe)],
                          max(1, repeats // 3)) / xe.shape[0]
        for backend, i_dec, i_anchor in (("numpy", 2, 0), ("torch", 5, 3), ("torch-eager", None, 3)):
            if i_dec is None:
                t_dec, t_med = te.min(), np.median(te)
                # the eager path is timed apart: ratios of the best times
                r_copy = best[i_anchor] / t_dec
                r_rint = best[i_anchor + 1] / t_dec
            else:
                t_dec, t_med = best[i_dec], median[i_dec]
                # ratios of the timings taken side by side in each round, median over
                # rounds: a slow window of a loaded machine hits both sides of a ratio
                r_copy = float(np.median(t[:, i_anchor] / t[:, i_dec]))
                r_rint = float(np.median(t[:, i_anchor + 1] / t[:, i_dec]))
            r_ref = (float(np.median(t[:, 6] / t[:, i_dec]))
                     if ref is not None and backend == "numpy" else None)
            rows.append({
                "lattice": name, "dim": lat.dim, "backend": backend,
                "dtype": np.dtype(dtype).name, "threads": threads,
                "points": n if i_dec is not None else int(xe.shape[0]),
                "points_per_s": 1.0 / t_dec,
                "median_points_per_s": 1.0 / t_med,
                "copy_points_per_s": 1.0 / best[i_anchor],
                "ratio_to_copy": r_copy,
                "rint_points_per_s": 1.0 / best[i_anchor + 1],
                "ratio_to_rint": r_rint,
                "generic_points_per_s": 1.0 / t_gen,
                "speedup_vs_generic": t_gen / t_dec,
                "speedup_vs_per_point": r_ref,
                "coset_brute_force_points_per_s": None if t_brute is None else 1.0 / t_brute,
                "speedup_vs_coset_brute_force": None if t_brute is None else t_brute / t_dec,
            })
    return rows


def check_targets(rows):
    """The issue's targets against the numpy rows: one entry per (target, dtype, threads)."""
    out = []
    for lattice, anchor, least in TARGETS:
        for r in rows:
            if r["lattice"] == lattice and r["backend"] == "numpy":
                ratio = r["ratio_to_rint"] if anchor == "rint" else r["ratio_to_copy"]
                out.append({"lattice": lattice, "dtype": r["dtype"], "threads": r["threads"],
                            "anchor": anchor, "target": least, "ratio": ratio,
                            "met": bool(ratio >= least)})
    return out


def build_parser():
    p = ArgumentParser(prog="python -m benchmarks.decoders", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--megabytes", type=float, default=32.0,
                   help="size of the input array per timing (default 32 MB)")
    p.add_argument("--points", type=int, default=None,
                   help="points per timing instead of --megabytes (for quick runs)")
    p.add_argument("--generic-points", type=int, default=20000,
                   help="points for the generic-decoder baseline (default 2e4)")
    p.add_argument("--eager-points", type=int, default=10**5,
                   help="points for the torch-eager rows (default 1e5)")
    p.add_argument("--repeats", type=int, default=7,
                   help="interleaved rounds per figure; best and median reported (default 7)")
    p.add_argument("--threads", default="1,2",
                   help="comma-separated numba/torch thread counts (default 1,2)")
    p.add_argument("--lattices", default=",".join(DEFAULT_LATTICES),
                   help="comma-separated names; 'name^k' is the k-fold product")
    p.add_argument("--seed", type=int, default=0)
    return p


def _parse_threads(text):
    try:
        vals = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        vals = []
    if not vals or min(vals) < 1:
        raise ValueError(f"--threads must be a comma-separated list of positive integers, "
                         f"got {text!r}")
    return vals


@cli_main("python -m benchmarks.decoders")
def main(argv=None):
    args = build_parser().parse_args(argv)

    for name, v in (("--points", 1 if args.points is None else args.points),
                    ("--generic-points", args.generic_points),
                    ("--eager-points", args.eager_points), ("--repeats", args.repeats)):
        if v < 1:
            print(f"error: {name} must be a positive integer, got {v}", file=sys.stderr)
            return 2
    if not np.isfinite(args.megabytes) or args.megabytes <= 0 or args.megabytes > 4096:
        print(f"error: --megabytes must be in (0, 4096], got {args.megabytes}", file=sys.stderr)
        return 2
    try:
        names = list(parse_lattice_list(args.lattices))
        threads = _parse_threads(args.threads)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import numba
    import torch
    from tqdm import tqdm

    too_many = [t for t in threads if t > numba.config.NUMBA_NUM_THREADS]
    if too_many:
        print(f"error: --threads {too_many} exceeds the {numba.config.NUMBA_NUM_THREADS} threads "
              f"numba can use on this machine", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    rows = []
    jobs = [(n, t) for t in threads for n in names]
    for name, t in tqdm(jobs, desc="lattices x threads", disable=args.json, file=sys.stderr):
        rows += measure(name, args.megabytes, args.repeats, args.generic_points, args.seed,
                        args.eager_points, t, args.points)
    env = {
        "command": "python -m benchmarks.decoders " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cpu_count": os.cpu_count(), "threads": threads,
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "python": platform.python_version(), "numpy": np.__version__,
        "numba": numba.__version__, "torch": torch.__version__,
        "machine": platform.machine(), "seed": args.seed, "megabytes": args.megabytes,
        "points": args.points,
    }
    targets = check_targets(rows)
    if args.json:
        print(json.dumps({"environment": env, "results": rows, "targets": targets}, indent=2))
        return 0
    size = f"{args.points} points" if args.points else f"{args.megabytes:g} MB arrays"
    print(f"# nearest-point throughput ({size}, best of {args.repeats} "
          f"interleaved rounds; {env['cpu_count']} cores, numba {env['numba']}, "
          f"torch {env['torch']}; load average {load_before[0]:.2f} before, "
          f"{env['load_average_after'][0]:.2f} after)\n")
    print("| lattice | dim | backend | dtype | threads | M points/s (best) | median | x copy "
          "| x rint | x per-point | x generic | x coset |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['lattice']} | {r['dim']} | {r['backend']} | {r['dtype']} | {r['threads']} | "
              f"{r['points_per_s'] / 1e6:.2f} | {r['median_points_per_s'] / 1e6:.2f} | "
              f"{r['ratio_to_copy']:.3f} | {r['ratio_to_rint']:.3f} | "
              f"{'' if r['speedup_vs_per_point'] is None else format(r['speedup_vs_per_point'], '.2f')} | "
              f"{r['speedup_vs_generic']:.0f} | "
              + ("" if r["speedup_vs_coset_brute_force"] is None
                 else f"{r['speedup_vs_coset_brute_force']:.0f} "
                      f"({r['coset_brute_force_points_per_s']:.0f}/s)") + " |")
    if targets:
        print("\n| target | dtype | threads | ratio | met |")
        print("|---|---|---|---|---|")
        for t in targets:
            print(f"| {t['lattice']} >= {t['target']} x {t['anchor']} | {t['dtype']} | "
                  f"{t['threads']} | {t['ratio']:.3f} | {'yes' if t['met'] else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
