"""Helpers shared by the benchmark command lines."""
from __future__ import annotations


def lattice_from_name(name: str):
    """A name understood by :func:`lattices.get`, or ``name^r`` for the r-fold product."""
    import lattices

    if "^" in name:
        base, _, r = name.partition("^")
        if not r.isdigit() or int(r) < 1:
            raise ValueError(f"in {name!r} the power must be a positive integer, got {r!r}")
        return lattices.product([lattices.get(base)] * int(r))
    return lattices.get(name)


def parse_lattice_list(text: str) -> dict:
    """``"e8,a2^16"`` -> {name: Lattice}; raises ValueError/TypeError for a bad name."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise ValueError(f"no lattice names in {text!r}")
    return {name: lattice_from_name(name) for name in names}
