"""The shared contract of the validation command lines (exit 0: confirmed, 1: refuted, 2: bad usage).

Every report is one JSON-serializable dict::

    {"claim": "Theorem 1, eq. (4)", "statement": "...", "lattice": "a2", "seed": 0,
     "rule": "|difference| < 4 standard errors",
     "checks": [Check, ...],              # the claim itself: must pass
     "negative_controls": [Check, ...],   # deliberately broken inputs: must FAIL
     "confirmed": bool}

A :class:`Check` carries the estimate(s), standard error, sample count and the
verdict of its stated rule.  :func:`emit` prints a readable table (or the JSON
object with ``--json``) and returns the exit code: 0 when every check passes
and every negative control is refuted, 1 otherwise (a claim refuted, or a check
shown to have no power), 2 is for bad usage (raised by the CLIs themselves).
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field

__all__ = ["Check", "z_check", "make_report", "emit", "usage_error"]


@dataclass
class Check:
    name: str
    estimate: float
    reference: float
    standard_error: float
    n_samples: int
    rule: str
    passed: bool
    details: dict = field(default_factory=dict)

    @property
    def z(self) -> float:
        d = self.estimate - self.reference
        return d / self.standard_error if self.standard_error > 0 else (0.0 if d == 0 else math.inf)


def z_check(name, estimate, reference, standard_error, n_samples, k=4.0, **details) -> Check:
    """Pass iff |estimate - reference| < k standard errors (k = 4 by default)."""
    est, ref, se = float(estimate), float(reference), float(standard_error)
    diff = abs(est - ref)
    passed = diff < k * se if se > 0 else diff == 0
    return Check(name, est, ref, se, int(n_samples), f"|difference| < {k:g} standard errors",
                 bool(passed), dict(details))


def make_report(claim, statement, checks, negative_controls, **extra) -> dict:
    confirmed = all(c.passed for c in checks) and all(not c.passed for c in negative_controls)
    return {"claim": claim, "statement": statement, **extra,
            "checks": [_as_dict(c) for c in checks],
            "negative_controls": [_as_dict(c) for c in negative_controls],
            "confirmed": bool(confirmed)}


def _as_dict(c: Check) -> dict:
    d = asdict(c)
    d["z"] = c.z
    d["difference"] = c.estimate - c.reference
    return d


def emit(report: dict, as_json: bool, out=None) -> int:
    out = out or sys.stdout
    if as_json:
        print(json.dumps(report, indent=2, default=float), file=out)
    else:
        print(f"# {report['claim']}", file=out)
        print(report["statement"], file=out)
        for k, v in report.items():
            if k not in ("claim", "statement", "checks", "negative_controls", "confirmed"):
                print(f"{k}: {v}", file=out)
        print("", file=out)
        print("| kind | check | estimate | reference | difference | SE | z | n | verdict |", file=out)
        print("|---|---|---|---|---|---|---|---|---|", file=out)
        for kind, rows, good in (("claim", report["checks"], True),
                                 ("negative control", report["negative_controls"], False)):
            for c in rows:
                if good:
                    verdict = "pass" if c["passed"] else "FAIL"
                else:
                    verdict = "refuted (as it must be)" if not c["passed"] else "NOT refuted: no power"
                print(f"| {kind} | {c['name']} | {c['estimate']:.6g} | {c['reference']:.6g} | "
                      f"{c['difference']:.3g} | {c['standard_error']:.3g} | {c['z']:.2f} | "
                      f"{c['n_samples']} | {verdict} |", file=out)
        print("", file=out)
        print(f"rule: {report['checks'][0]['rule'] if report['checks'] else '-'}", file=out)
        print("verdict: " + ("CONFIRMED" if report["confirmed"] else "REFUTED (or no power)"), file=out)
    return 0 if report["confirmed"] else 1


def usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2
