r"""``python -m lattices.theta``: the exact theta series of a named lattice or product.

Command line::

    python -m lattices.theta NAME --max-norm K [--scale S] [--json]

``NAME`` is any name understood by :func:`lattices.get`, or ``NAME^r`` for the
r-fold product.  Prints a table of (norm, count) and the total, or one JSON
object with ``--json``.  Exit status 0 on success, 2 on bad usage (unknown
name, negative ``--max-norm``, a lattice whose norms are not integral).

The computation is :mod:`lattices.theta_exact` (:func:`theta_series`, :func:`norm_unit`, re-exported here).
"""
from __future__ import annotations

import json
import math
import sys

from ._validation import check_scale_range
from .cli import (ArgumentParser, add_max_seconds, check_memory, check_seconds, cli_main, count,
                  format_seconds, positive_float)
from .lattice import parse
from .theta_exact import expected_bytes, expected_leaves, expected_seconds, norm_unit, theta_series

__all__ = ["theta_series", "norm_unit", "build_parser", "main"]


def build_parser():
    p = ArgumentParser(
        prog="python -m lattices.theta",
        description="Theta series (number of lattice vectors of each squared norm), exact.",
        epilog="NAME: a name understood by lattices.get (e8, a2, d4, z3, e7*, ...) or NAME^r "
               "for the r-fold product. Exit status 0 on success, 2 on bad usage.")
    p.add_argument("name", metavar="NAME", help="lattice name, e.g. e8, a2, d4, z8, a2^3")
    p.add_argument("--max-norm", type=count, required=True, metavar="K",
                   help="count vectors of squared norm 0..K")
    add_max_seconds(p, what="a request")
    p.add_argument("--scale", type=positive_float, default=1.0,
                   help="scale the lattice by this factor first (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p


@cli_main("python -m lattices.theta")
def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        lat = parse(args.name)
        if args.scale != 1.0:            # squared norms: positive normal float64 numbers
            lat = lat.scaled(check_scale_range(lat, args.scale))
        check_memory(expected_bytes(lat, args.max_norm), f"--max-norm {args.max_norm}")
        seconds = expected_seconds(lat, args.max_norm)
        check_seconds(seconds, args.max_seconds,
                      f"--max-norm {args.max_norm} on {lat.name} (about "
                      f"{expected_leaves(lat, args.max_norm):.3g} lattice vectors to visit)",
                      "lower --max-norm")
        if seconds > 3:
            print(f"python -m lattices.theta: expected about {format_seconds(seconds)} on this "
                  f"machine (Ctrl-C stops)", file=sys.stderr)
        # a bar for a person watching a long run (stderr a terminal, no --json)
        theta = theta_series(lat, args.max_norm,
                             progress=seconds > 3 and sys.stderr.isatty() and not args.json)
        unit = norm_unit(lat)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    note = ("" if unit == 1.0 else
            f"the squared norms of {lat.name} are not integers; entry k counts the vectors of "
            f"squared norm k*s^2 = k*{unit:g} (s = {math.sqrt(unit):g}, the common scale)")
    if args.json:
        print(json.dumps({"lattice": lat.name, "dim": lat.dim, "max_norm": args.max_norm,
                          "theta": theta, "norm_unit": unit, "scale_note": note or None,
                          "total": sum(theta)}))
        return 0
    label = "norm" if unit == 1.0 else f"norm / {unit:g}"
    print(f"# theta series of {lat.name} (dim {lat.dim}), squared norms 0..{args.max_norm}")
    if note:
        print(f"# {note}")
    print()
    print(f"| {label} | count |")
    print("|---|---|")
    for k, c in enumerate(theta):
        print(f"| {k} | {c} |")
    print()
    print(f"total: {sum(theta)} vectors of squared norm <= {args.max_norm}"
          + ("" if unit == 1.0 else f"*{unit:g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
