"""``python -m lattices.nsm NAME``: the normalized second moment of a lattice.

Usage::

    python -m lattices.nsm NAME [--method exact|monte-carlo] [--exact-method auto|generic|structured]
                                [--samples N] [--seed S] [--scale D] [--json]

``exact`` (default): G = sigma^2 / V^{2/m} (paper, Sec. 3.5) as an exact closed form
and to 10 digits, with sigma^2, V and the method used (see :mod:`lattices.geometry`).
``monte-carlo``: the estimate and its standard error from ``--samples`` dithers
(:func:`lattices.nsm_monte_carlo`), with the seed; when the exact value is
available the report adds the difference in standard errors.

Exit codes: 0 on success, 2 on bad usage (unknown name, bad option values).
"""
from __future__ import annotations

import argparse
import json
import sys
from .cli import ArgumentParser, cli_main


def build_parser():
    p = ArgumentParser(prog="python -m lattices.nsm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="lattice name, e.g. e8, a2, d4*, z3 (see python -m lattices)")
    p.add_argument("--method", choices=["exact", "monte-carlo"], default="exact")
    p.add_argument("--exact-method", choices=["auto", "generic", "structured"], default="auto",
                   help="which exact method (default: structured for named lattices)")
    p.add_argument("--samples", type=int, default=10**7, help="Monte Carlo samples (default 1e7)")
    p.add_argument("--seed", type=int, default=0, help="Monte Carlo seed (default 0)")
    p.add_argument("--scale", type=float, default=1.0, help="scale the lattice by this factor")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p


def exact_report(lat, method="auto") -> dict:
    import sympy

    G = lat.nsm_exact(method=method)
    s2 = lat.second_moment_exact(method=method)
    V = lat.volume_exact()
    return {"lattice": lat.name, "dim": lat.dim, "method": "exact", "exact_method": method,
            "nsm": str(G), "nsm_float": float(G), "nsm_10_digits": sympy.N(G, 10).__str__(),
            "second_moment": str(s2), "volume": str(V)}


@cli_main("python -m lattices.nsm")
def main(argv=None):
    import lattices

    args = build_parser().parse_args(argv)
    try:
        lat = lattices.get(args.name, scale=args.scale)
        if args.method == "monte-carlo" and args.samples < 2:
            raise ValueError(f"--samples must be an integer >= 2, got {args.samples}")
        if args.method == "exact":
            out = exact_report(lat, args.exact_method)
        else:
            from .montecarlo import nsm_monte_carlo

            est, se = nsm_monte_carlo(lat, args.samples, rng=args.seed, progress=not args.json)
            out = {"lattice": lat.name, "dim": lat.dim, "method": "monte-carlo",
                   "estimate": est, "standard_error": se, "samples": args.samples,
                   "seed": args.seed}
            try:
                exact = float(lat.nsm_exact())
                out["exact"] = exact
                out["difference_in_standard_errors"] = (est - exact) / se
            except ValueError:
                out["exact"] = None
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for k, v in out.items():
        print(f"{k:30s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
