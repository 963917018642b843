"""Named lattices register themselves here (a registry, as in CompressAI); :func:`get` looks them up.

The registry holds factories only: it imports no lattice module, so that :mod:`lattices.lattice`
(products of named lattices) and :mod:`lattices.geometry` can look names up without a cycle.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from ._validation import check_scale
from .cli import check_at_most

__all__ = ["register", "get", "names", "MAX_DIMENSION"]

#: The largest dimension of a lattice built from a name or a spec (``z<n>``, ``a2^r``, products).
#: A :class:`lattices.Lattice` holds its dense (dim x dim) float64 basis, and its set-up
#: (pseudo-inverses, the determinant) is cubic in dim: ``z1024`` builds in about 3 s on the
#: 2-core development machine, ``z4096`` in about 100 s; the paper's latent spaces have at most
#: 200 dimensions.  Checked before anything is allocated (the size rule of
#: docs/reliability.md), so ``z100000000`` or ``z^100000000`` is one line, not a hang.
MAX_DIMENSION = 1024
MAX_DIMENSION_WHY = ("the set-up of a lattice is cubic in its dimension: about 3 s at 1024, "
                     "minutes beyond")


@dataclass(frozen=True)
class _Entry:
    pattern: str  # what the user types, e.g. "a<n>*"
    regex: re.Pattern
    factory: Callable  # factory(n) or factory() -> Lattice
    min_n: Optional[int]
    doc: str


_ENTRIES: list[_Entry] = []
_CACHE: dict = {}


def register(pattern: str, min_n: Optional[int] = None, doc: str = ""):
    """Register a factory under a name pattern; ``<n>`` stands for a dimension.

    Exact names take precedence over patterns (``a2`` is the paper's basis, not
    the generic ``a<n>``).
    """
    rx = "^" + re.escape(pattern).replace(re.escape("<n>"), r"(\d+)") + "$"

    def deco(factory):
        entry = _Entry(pattern, re.compile(rx), factory, min_n, doc)
        if "<n>" in pattern:
            _ENTRIES.append(entry)
        else:
            _ENTRIES.insert(0, entry)
        return factory

    return deco


def names() -> list[str]:
    """The valid name patterns, e.g. ``['z', 'a2', 'e8', ..., 'a<n>* (n >= 1)']``."""
    out = []
    for e in sorted(_ENTRIES, key=lambda e: ("<n>" in e.pattern, e.pattern)):
        out.append(e.pattern if e.min_n is None else f"{e.pattern} (n >= {e.min_n})")
    return out


def get(name, scale=1.0):
    """The named lattice, optionally scaled: ``get("e8", scale=0.5)`` has basis ``0.5 B``.

    Names are case-insensitive: ``z`` (Z^1), ``z<n>``, ``a2`` (the paper's
    basis ``[[0, 1], [sqrt(3/4), 1/2]]``), ``a<n>``, ``a<n>*``, ``d<n>``,
    ``d<n>*``, ``e6``, ``e7``, ``e8`` (the paper's basis), ``e6*``, ``e7*``, ``bw16``
    (Barnes–Wall) and ``leech`` (both minimal norm 4).

    >>> get("E8").dim
    8
    """
    if not isinstance(name, str):
        raise TypeError(f"lattice name must be a string, got {name!r}; valid names: "
                        + ", ".join(names()))
    key = name.strip().lower().replace(" ", "")
    scale = check_scale(scale)
    for e in _ENTRIES:
        m = e.regex.match(key)
        if not m:
            continue
        if e.min_n is not None:
            n = int(m.group(1))
            check_at_most(n, MAX_DIMENSION, f"lattice name {name!r}: n =", MAX_DIMENSION_WHY)
            if n < e.min_n:
                raise ValueError(f"lattice name {name!r}: {e.pattern} needs n >= {e.min_n}, "
                                 f"got n = {n}")
            if key not in _CACHE:
                _CACHE[key] = e.factory(n)
        elif key not in _CACHE:
            _CACHE[key] = e.factory()
        lat = _CACHE[key]
        return lat if scale == 1.0 else lat.scaled(scale)
    raise ValueError(f"unknown lattice name {name!r}; valid names: " + ", ".join(names()))
