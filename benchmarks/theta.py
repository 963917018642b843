"""Theta series: time of :func:`lattices.theta.theta_series` against PARI/GP ``qfrep``, one run.

Both count the vectors of each squared norm ``1..K`` of the same lattice,
given by the same Gram matrix.  Ours is timed in this process (best and median
of ``--repeats`` calls after one warm-up call that compiles the numba kernel;
each call includes the integrality check, the LLL reduction and the
enumeration).  PARI is timed inside one ``gp`` process with ``getwalltime()``
around each ``qfrep`` call (best and median of ``--repeats``, after one
warm-up; calls shorter than 50 ms are repeated within one timing, as
``getwalltime`` counts milliseconds), so the interpreter start-up is
excluded; the wall time of a whole
``gp`` process running one ``qfrep`` call (start-up included) is reported
separately.  Two PARI variants are timed where they apply, ``qfrep(2G, K, 1)``
(half the number of vectors with ``x (2G) x^T = 2k``; valid for every lattice
with integral norms) and ``qfrep(G, K)`` (Gram integral, e.g. E8); the faster
one is the baseline.  The counts of both programs must agree exactly; the
figure of merit is ``ratio = ours / PARI`` (best times; target <= 3).

Without PARI (``gp`` not on PATH; Debian package ``pari-gp``) only our time is
reported.

Usage::

    python -m benchmarks.theta [--json] [--max-norm 40] [--lattice e8] [--repeats 7]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

import numpy as np

from ._common import lattice_from_name
from lattices.cli import ArgumentParser, add_max_seconds, check_memory, check_seconds, cli_main

TARGET_RATIO = 3.0


def _integral_gram(lat):
    """The integer Gram matrix whose norms ``theta_series`` counts (``G / norm_unit``)."""
    from lattices.theta import norm_unit

    unit = norm_unit(lat)  # raises ValueError for a non-integral lattice
    G2 = np.rint(2.0 * lat.gram / unit).astype(np.int64)
    return G2  # = 2 G, even diagonal


def time_ours(lat, max_norm, repeats):
    from lattices.theta import theta_series

    theta = theta_series(lat, max_norm)  # warm-up: numba compile / cache load
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        theta = theta_series(lat, max_norm)
        times.append(time.perf_counter() - t0)
    return theta, np.array(times)


def _gp_matrix(M):
    return "[" + ";".join(",".join(str(int(v)) for v in row) for row in M) + "]"


def _pari_script(variants, max_norm, repeats):
    """One gp script timing each variant ``repeats`` times (ms per call, getwalltime).

    ``getwalltime()`` counts milliseconds, so a fast call is repeated ``c``
    times per timing, ``c`` doubled from 1 until one timing takes >= 50 ms.
    """
    lines = ['default(parisizemax, "2G");']
    for tag, (mat, B, flag) in variants.items():
        call = f"v = qfrep(M, {B}, {flag})"
        lines += [
            f"M = {mat};",
            f"{call};",  # warm-up
            f"c = 1; while(1, t = getwalltime(); for(i = 1, c, {call}); "
            f"if(getwalltime() - t >= 50 || c >= 2^20, break); c *= 2);",
            f"T = vector({repeats}, j, my(t = getwalltime()); for(i = 1, c, {call}); "
            f"(getwalltime() - t) * 1.0 / c);",
            f'print("{tag} calls ", c);',
            f'print("{tag} times ", T);',
            f'print("{tag} counts ", Vec(v));',
        ]
    return "\n".join(lines) + "\n"


def _parse_vec(text, kind=int):
    return [kind(v) for v in text.strip().strip("[]").split(",") if v.strip()]


def time_pari(G2, max_norm, repeats):
    """PARI timings and counts per variant, or None when gp is missing."""
    gp = shutil.which("gp")
    if gp is None:
        return None
    variants = {"qfrep(2G,K,1)": (_gp_matrix(G2), max_norm, 1)}
    if np.all(G2 % 2 == 0):  # the Gram matrix itself is integral
        variants["qfrep(G,K)"] = (_gp_matrix(G2 // 2), max_norm, 0)
    res = subprocess.run([gp, "-q", "-f"], input=_pari_script(variants, max_norm, repeats),
                         capture_output=True, text=True, timeout=3600)
    if res.returncode != 0:
        raise RuntimeError(f"gp failed ({res.returncode}): {res.stderr.strip()}")
    out = {}
    for tag, (mat, B, flag) in variants.items():
        calls = re.search(re.escape(tag) + r" calls (\d+)", res.stdout)
        times = re.search(re.escape(tag) + r" times (\[.*\])", res.stdout)
        counts = re.search(re.escape(tag) + r" counts (\[.*\])", res.stdout)
        if times is None or counts is None or calls is None:
            raise RuntimeError(f"unexpected gp output: {res.stdout!r} {res.stderr!r}")
        half = _parse_vec(counts.group(1))
        # entry k (1..K) is half the number of vectors of norm k: flag 0 counts
        # x G x^T = k, flag 1 counts x (2G) x^T = 2k, the same vectors
        theta = [1] + [2 * h for h in half]
        # a whole gp process, start-up included, running one call
        t0 = time.perf_counter()
        subprocess.run([gp, "-q", "-f"], input=f"v = qfrep({mat}, {B}, {flag});\n",
                       capture_output=True, text=True, timeout=3600, check=True)
        wall = time.perf_counter() - t0
        out[tag] = {"times_s": np.array(_parse_vec(times.group(1), float)) / 1000.0,
                    "calls_per_timing": int(calls.group(1)),
                    "theta": theta, "process_wall_s": wall}
    return out


def _gp_version():
    gp = shutil.which("gp")
    if gp is None:
        return None
    res = subprocess.run([gp, "--version-short"], capture_output=True, text=True)
    return res.stdout.strip() or None


def build_parser():
    p = ArgumentParser(prog="python -m benchmarks.theta", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--max-norm", type=int, default=40, help="largest squared norm (default 40)")
    p.add_argument("--lattice", default="e8",
                   help="lattice name (lattices.get), or name^r for a product (default e8)")
    p.add_argument("--repeats", type=int, default=7,
                   help="timed calls per program; best and median are reported (default 7)")
    add_max_seconds(p, what="the benchmark")
    return p


@cli_main("python -m benchmarks.theta")
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.repeats < 1:
        print(f"error: --repeats must be a positive integer, got {args.repeats}", file=sys.stderr)
        return 2
    if args.max_norm < 1:
        print(f"error: --max-norm must be a positive integer, got {args.max_norm}",
              file=sys.stderr)
        return 2
    try:
        lat = lattice_from_name(args.lattice)
        G2 = _integral_gram(lat)
        # the size and time rules, before the work (as python -m lattices.theta): our calls
        # (warm-up + --repeats) and about as many of PARI's
        from lattices.theta_exact import expected_bytes, expected_leaves, expected_seconds

        check_memory(expected_bytes(lat, args.max_norm), f"--max-norm {args.max_norm}")
        check_seconds(2 * (args.repeats + 1) * expected_seconds(lat, args.max_norm), args.max_seconds,
                      f"--max-norm {args.max_norm} x --repeats {args.repeats} on {lat.name} (about "
                      f"{expected_leaves(lat, args.max_norm):.3g} lattice vectors per call)",
                      "lower --max-norm or --repeats")
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import numba

    theta, ours = time_ours(lat, args.max_norm, args.repeats)
    pari = time_pari(G2, args.max_norm, args.repeats)
    result = {
        "lattice": lat.name, "dim": lat.dim, "max_norm": args.max_norm,
        "vectors_counted": sum(theta),
        "ours_best_s": float(ours.min()), "ours_median_s": float(np.median(ours)),
        "pari": None, "pari_installed": pari is not None,
    }
    if pari is not None:
        variants = {}
        for tag, r in pari.items():
            variants[tag] = {"best_s": float(r["times_s"].min()),
                             "median_s": float(np.median(r["times_s"])),
                             "process_wall_s": r["process_wall_s"],
                             "calls_per_timing": r["calls_per_timing"],
                             "counts_identical": r["theta"] == theta}
        base = min(variants, key=lambda t: variants[t]["best_s"])
        ratio = result["ours_best_s"] / max(variants[base]["best_s"], 1e-9)
        result.update({
            "pari": variants, "pari_baseline": base, "pari_best_s": variants[base]["best_s"],
            "ratio_ours_over_pari": ratio, "target_ratio": TARGET_RATIO,
            "counts_identical": all(v["counts_identical"] for v in variants.values()),
            "within_target": bool(ratio <= TARGET_RATIO),
        })
    env = {
        "command": "python -m benchmarks.theta "
                   + " ".join(argv if argv is not None else sys.argv[1:]),
        "cpu_count": os.cpu_count(), "numba_threads": numba.get_num_threads(),
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "pari_gp": _gp_version(), "machine": platform.machine(), "repeats": args.repeats,
    }
    if args.json:
        print(json.dumps({"environment": env, "results": result}, indent=2))
    else:
        print(f"# theta series of {lat.name} (dim {lat.dim}) up to squared norm {args.max_norm}: "
              f"{result['vectors_counted']} vectors (best of {args.repeats}; "
              f"{env['cpu_count']} cores, numba {env['numba']}, PARI/GP {env['pari_gp']})\n")
        print("| program | best (ms) | median (ms) | whole process incl. start-up (ms) "
              "| counts identical |")
        print("|---|---|---|---|---|")
        print(f"| ours (lattices.theta) | {1e3 * result['ours_best_s']:.1f} | "
              f"{1e3 * result['ours_median_s']:.1f} | - | - |")
        if pari is None:
            print("\nPARI/GP (gp) not found: only our time is reported "
                  "(apt-get install pari-gp for the comparison).")
        else:
            for tag, v in result["pari"].items():
                print(f"| PARI {tag} | {1e3 * v['best_s']:.1f} | {1e3 * v['median_s']:.1f} | "
                      f"{1e3 * v['process_wall_s']:.1f} | {v['counts_identical']} |")
            print(f"\nratio ours / PARI ({result['pari_baseline']}, best times): "
                  f"{result['ratio_ours_over_pari']:.2f} (target <= {TARGET_RATIO:g}: "
                  f"{'met' if result['within_target'] else 'NOT met'})")
    if pari is not None and not result["counts_identical"]:
        print("error: our counts differ from PARI's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
