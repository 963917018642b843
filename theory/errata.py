"""Where the paper (Lastras 2020) does not hold as printed: one shared, append-only list.

Each entry of :data:`PAPER_ERRATA` is a dict with the keys

``where``      the paper's section / equation,
``statement``  what the claim is about,
``printed``    the formula exactly as the paper prints it,
``corrected``  the statement that does hold,
``evidence``   how we know (exact values, Monte Carlo numbers, the module that checks it).

Modules register their findings at import time with :func:`add_erratum`
(idempotent: the same ``(where, statement)`` pair is stored once), so
``validation.audit`` and the docs can list every discrepancy from one place.

>>> from theory.errata import add_erratum, PAPER_ERRATA
>>> _ = add_erratum("doctest", "x", "1", "2", "example")
>>> any(e["where"] == "doctest" for e in PAPER_ERRATA)
True
>>> _ = PAPER_ERRATA.pop()  # leave the shared list as it was
"""
from __future__ import annotations

__all__ = ["PAPER_ERRATA", "add_erratum", "errata_for"]

#: Every recorded discrepancy between the paper as printed and what holds.
PAPER_ERRATA: list[dict] = []

_KEYS = ("where", "statement", "printed", "corrected", "evidence")


def add_erratum(where: str, statement: str, printed: str, corrected: str, evidence: str) -> dict:
    """Record one discrepancy (once per ``(where, statement)``) and return its entry."""
    for value, key in zip((where, statement, printed, corrected, evidence), _KEYS):
        if not isinstance(value, str) or not value:
            raise TypeError(f"{key} must be a non-empty str, got {value!r}")
    for entry in PAPER_ERRATA:
        if entry["where"] == where and entry["statement"] == statement:
            return entry
    entry = dict(zip(_KEYS, (where, statement, printed, corrected, evidence)))
    PAPER_ERRATA.append(entry)
    return entry


def errata_for(where_prefix: str) -> list[dict]:
    """The entries whose ``where`` starts with ``where_prefix`` (e.g. ``"eq. (7)"``)."""
    return [e for e in PAPER_ERRATA if e["where"].startswith(where_prefix)]
