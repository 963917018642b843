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
from .cli import ArgumentParser, PROGRESS_AFTER_S, cli_main, count, format_seconds, positive_float


def build_parser():
    p = ArgumentParser(prog="python -m lattices.nsm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="lattice spec of lattices.parse, e.g. e8, a2, d4*, a2^2, 'e8 x z'")
    p.add_argument("--method", choices=["exact", "monte-carlo"], default="exact")
    p.add_argument("--exact-method", choices=["auto", "generic", "structured"], default="auto",
                   help="which exact method (default: structured for named lattices)")
    p.add_argument("--samples", type=count, default=10**7, help="Monte Carlo samples (default 1e7; 1e9 and 10**9 accepted)")
    p.add_argument("--seed", type=int, default=0, help="Monte Carlo seed (default 0)")
    p.add_argument("--scale", type=positive_float, default=1.0, help="scale the lattice by this factor")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p


def expected_seconds(lat, n_samples: int) -> float:
    """Seconds ``nsm_monte_carlo(lat, n_samples)`` should take here, from a timed pilot of
    2**18 samples (after a warm-up run that compiles the kernel); a different seed, so the
    estimate does not touch the reported numbers.  Memory does not grow with ``n_samples``:
    the samples are drawn in fixed chunks."""
    import time

    from .montecarlo import nsm_monte_carlo

    pilot = 1 << 18
    if n_samples <= pilot:
        return 0.0
    nsm_monte_carlo(lat, 1 << 12, rng=12345, progress=False)
    t0 = time.perf_counter()
    nsm_monte_carlo(lat, pilot, rng=12345, progress=False)
    return (time.perf_counter() - t0) * n_samples / pilot


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
        from ._validation import check_scale_range

        lat = lattices.parse(args.name)
        if args.scale != 1.0:            # volume and second moment: positive normal float64 numbers
            lat = lat.scaled(check_scale_range(lat, args.scale))
        if args.method == "monte-carlo" and args.samples < 2:
            raise ValueError(f"--samples must be an integer >= 2, got {args.samples}")
        if args.method == "exact":
            out = exact_report(lat, args.exact_method)
        else:
            from .montecarlo import nsm_monte_carlo

            seconds = expected_seconds(lat, args.samples)
            if seconds > PROGRESS_AFTER_S:
                print(f"python -m lattices.nsm: {args.samples:.4g} samples of {lat.name}, expected about "
                      f"{format_seconds(seconds)} on this machine (Ctrl-C stops)", file=sys.stderr)
            est, se = nsm_monte_carlo(lat, args.samples, rng=args.seed,
                                      progress=seconds > PROGRESS_AFTER_S)
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
