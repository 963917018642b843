"""Helpers shared by the benchmark command lines."""
from __future__ import annotations


def lattice_from_name(name: str):
    """``e8``, ``a2^16`` (the r-fold product) or ``a2xz``: see :func:`lattices.parse`."""
    import lattices

    return lattices.parse(name)


def parse_lattice_list(text: str) -> dict:
    """``"e8,a2^16"`` -> {name: Lattice}; raises ValueError/TypeError for a bad name."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise ValueError(f"no lattice names in {text!r}")
    return {name: lattice_from_name(name) for name in names}
