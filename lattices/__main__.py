"""``python -m lattices``: a table of the named lattices, or decode a point.

Usage::

    python -m lattices [--json] [NAME ...]          # the overview table
    python -m lattices decode NAME X1 X2 ... [--json]  # K_Lambda(x) and its coordinates

NAME is any lattice spec of :func:`lattices.parse` (``e8``, ``a2^2``, ``"e8 x z"``).
Coordinates may be negative (``-1e3``) and are checked: finite, and at most 2^53 in magnitude
(beyond it float64 no longer holds every integer, so the nearest point is not representable).

For each lattice: dimension, volume, minimal squared norm, kissing number
(the number of minimal vectors, all of which are Voronoi-relevant), the center
density, the number of Voronoi-relevant vectors (facets of the Voronoi cell), and
the decoder used; the published NSM where no closed form is known (BW16, Leech).
What is not materialized (Leech's 16,969,680 relevant vectors) is said so, not an error.
Exit codes: 0 on success, 2 on bad usage (one line, no traceback).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .cli import ArgumentParser, UsageError, cli_main

DEFAULT = ["z", "z2", "a2", "a3", "a3*", "d4", "d4*", "d5", "d5*", "e6", "e6*", "e7", "e7*", "e8"]


def describe(lat) -> dict:
    """Facts about one lattice, all computed (nothing typed in).

    The minimal norm and kissing number come from the Voronoi-relevant vectors where they are
    materialized, else from the block's exact constants (BW16, Leech: :mod:`lattices.geometry`);
    what is not materialized is listed under ``not_materialized`` instead of failing.  The decoder
    is the one :meth:`lattices.Lattice.nearest` uses (:attr:`lattices.Lattice.decoder`)."""
    import math

    from . import geometry

    out = {"name": lat.name, "dim": lat.dim, "volume": lat.volume}
    missing = []
    try:
        rv = lat.relevant_vectors()
    except ValueError as exc:          # e.g. Leech: 16,969,680 relevant vectors, not materialized
        rv = None
        missing.append(f"relevant vectors ({exc})")
    if rv is not None:
        norms = (rv ** 2).sum(-1)
        nmin = float(norms.min())
        kissing = int(np.sum(np.isclose(norms, nmin, rtol=1e-9)))
    else:
        nmin = float(4 * geometry.packing_radius(lat) ** 2)
        kissing = geometry.kissing_number(lat)
    out.update(min_norm=nmin, kissing_number=kissing,
               relevant_vectors=None if rv is None else int(rv.shape[0]))
    # packing: radius rho = sqrt(min norm) / 2; center density rho^n / V; density V_n rho^n / V
    n, rho = lat.dim, math.sqrt(nmin) / 2
    log_center = n * math.log(rho) - math.log(lat.volume)
    out["center_density"] = math.exp(log_center)
    out["packing_density"] = math.exp(log_center + (n / 2) * math.log(math.pi) - math.lgamma(n / 2 + 1))
    published = [b.spec.exact_constants() for b in lat.blocks()]
    if len(lat.blocks()) == 1 and published[0] is not None:
        out["nsm"] = published[0].nsm_published
        out["nsm_source"] = "published, SPLAG Table 2.3; no closed form is known"
    out["decoder"] = lat.decoder
    out["not_materialized"] = missing
    return out


#: Coordinates beyond 2**53 cannot be decoded: float64 no longer holds every integer there.
MAX_COORDINATE = 2.0 ** 53


def build_parser():
    p = ArgumentParser(prog="python -m lattices", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("args", nargs="*", help="lattice specs, or: decode NAME X1 ... Xn")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def parse_coordinates(tokens, dim: int) -> np.ndarray:
    """The point of ``decode``: ``dim`` finite numbers of magnitude at most 2**53."""
    try:
        x = np.array([float(v) for v in tokens], dtype=np.float64)
    except ValueError:
        raise UsageError(f"coordinates must be numbers, got {tokens}") from None
    if x.shape != (dim,):
        raise UsageError(f"the lattice has dimension {dim}: give {dim} coordinates (shape (..., {dim})), "
                         f"got {len(tokens)}")
    bad = [t for t, v in zip(tokens, x) if not np.isfinite(v) or abs(v) > MAX_COORDINATE]
    if bad:
        raise UsageError(f"coordinates must be finite with magnitude at most 2**53 "
                         f"(= {MAX_COORDINATE:.0f}), got {', '.join(bad)}")
    return x


def decode(tokens, as_json: bool) -> int:
    """``decode NAME X1 ... Xn [--json]``: parsed by hand, so that ``-1e3`` and ``-inf`` are
    values, not options."""
    from .lattice import parse

    if {"-h", "--help"} & set(tokens):
        print("usage: python -m lattices decode NAME X1 ... Xn [--json]\n\n" + __doc__)
        return 0
    rest = [t for t in tokens if t != "--json"]
    as_json = as_json or len(rest) != len(tokens)
    if len(rest) < 2:
        raise UsageError("usage: python -m lattices decode NAME X1 ... Xn [--json]")
    lat = parse(rest[0])
    x = parse_coordinates(rest[1:], lat.dim)
    point = lat.nearest(x)
    out = {"lattice": lat.name, "x": x.tolist(), "nearest": point.tolist(),
           "coordinates": lat.nearest_coordinates(x).tolist(),
           "squared_distance": float(((x - point) ** 2).sum())}
    if as_json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:17s} {v}")
    return 0


@cli_main("python -m lattices")
def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if "decode" in argv and not {"-h", "--help"} & set(argv[:argv.index("decode")]):
        i = argv.index("decode")
        if all(t == "--json" for t in argv[:i]):
            return decode(argv[i + 1:], bool(argv[:i]))
    from .lattice import parse

    ns = build_parser().parse_intermixed_args(argv)
    rows = [describe(parse(n)) for n in (ns.args or DEFAULT)]
    if ns.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| lattice | dim | volume | min norm | kissing | center density | relevant vectors | decoder |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        relevant = "not materialized" if r["relevant_vectors"] is None else r["relevant_vectors"]
        print(f"| {r['name']} | {r['dim']} | {r['volume']:.6g} | {r['min_norm']:.6g} | "
              f"{r['kissing_number']} | {r['center_density']:.6g} | {relevant} | {r['decoder']} |")
    notes = [f"{r['name']}: NSM {r['nsm']} ({r['nsm_source']})" for r in rows if "nsm" in r]
    notes += [f"{r['name']}: not materialized: {m}" for r in rows for m in r["not_materialized"]]
    if notes:
        print()
        for line in notes:
            print(f"* {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
