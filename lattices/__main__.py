"""``python -m lattices``: a table of the named lattices, or decode a point.

Usage::

    python -m lattices [--json] [NAME ...]          # the overview table
    python -m lattices decode NAME X1 X2 ... [--json]  # K_Lambda(x) and its coordinates

For each lattice: dimension, volume, minimal squared norm, kissing number
(the number of minimal vectors, all of which are Voronoi-relevant), the number
of Voronoi-relevant vectors (facets of the Voronoi cell), and the decoder used.
Exit codes: 0 on success, 2 on bad usage.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

DEFAULT = ["z", "z2", "a2", "a3", "a3*", "d4", "d4*", "d5", "d5*", "e6", "e6*", "e7", "e7*", "e8"]


def describe(lat) -> dict:
    """Facts about one lattice, all computed (nothing typed in)."""
    from ._spec import FastSpec

    rv = lat.relevant_vectors()
    norms = (rv ** 2).sum(-1)
    nmin = norms.min()
    kissing = int(np.sum(np.isclose(norms, nmin, rtol=1e-9)))
    decoder = "fast (Conway & Sloane 1982)" if all(
        isinstance(s.spec, FastSpec) for s in lat._segments) else "generic (LLL + Schnorr-Euchner)"
    return {"name": lat.name, "dim": lat.dim, "volume": lat.volume, "min_norm": float(nmin),
            "kissing_number": kissing, "relevant_vectors": int(rv.shape[0]), "decoder": decoder}


def build_parser():
    p = argparse.ArgumentParser(prog="python -m lattices", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("args", nargs="*", help="lattice names, or: decode NAME X1 ... Xn")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def main(argv=None):
    import lattices

    parser = build_parser()
    ns = parser.parse_intermixed_args(argv)
    try:
        if ns.args and ns.args[0] == "decode":
            if len(ns.args) < 3:
                raise ValueError("usage: python -m lattices decode NAME X1 ... Xn")
            lat = lattices.get(ns.args[1])
            try:
                x = np.array([float(v) for v in ns.args[2:]])
            except ValueError as exc:
                raise ValueError(f"coordinates must be numbers, got {ns.args[2:]}") from exc
            point = lat.nearest(x)
            out = {"lattice": lat.name, "x": x.tolist(), "nearest": point.tolist(),
                   "coordinates": lat.nearest_coordinates(x).tolist(),
                   "squared_distance": float(((x - point) ** 2).sum())}
            if ns.json:
                print(json.dumps(out))
            else:
                for k, v in out.items():
                    print(f"{k:17s} {v}")
            return 0
        rows = [describe(lattices.get(n)) for n in (ns.args or DEFAULT)]
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if ns.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| lattice | dim | volume | min norm | kissing | relevant vectors | decoder |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['dim']} | {r['volume']:.6g} | {r['min_norm']:.6g} | "
              f"{r['kissing_number']} | {r['relevant_vectors']} | {r['decoder']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
