"""Theorem 1, eq. (4): both sides for any lattice and prior, with a negative control.

    python -m validation.theorem1 --lattice a2 [--prior gaussian|laplace|mixture]
        [--scale DELTA] [--prior-scale S] [--e E1,E2,..] [--dithers N]
        [--method auto|quadrature|monte-carlo] [--n-inner K] [--seed S] [--json]

Lattices: any name of ``lattices.get`` (``a2``, ``z``, ``d4``, ``a3*``, ``e8``...) and
products ``a2^2`` or ``a2xz`` (factors joined by ``x``); ``--scale`` scales the lattice.
Both sides of (4) are averaged over the same N dithers (paired); the verdict is
|LHS - RHS| < 4 standard errors of the paired difference.  Inner integrals: quadrature
over the exact simplices of P_0 in dimension <= 4, Monte Carlo above (``theory.theorem1``).
For Z with a Laplace prior the exact value of both sides (closed forms from the Laplace CDF,
integrated over u by adaptive quadrature) is checked as well.

Negative control: the same with U uniform over the centred fundamental parallelepiped
(uniform over [0, 1)^m B when the basis is orthogonal and that parallelepiped *is* P_0);
it must be refuted.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import numpy as np

import lattices
from theory.crypto_lemma import parallelepiped_is_cell
from theory.densities import Gaussian, Laplace, Mixture
from theory.theorem1 import (laplace_log_p_z_given_u, laplace_theorem1_exact, log_p_z_given_u,
                             theorem1_sides)
from validation._report import Check, emit, make_report, usage_error, z_check
from lattices.cli import (check_scale_range, PROGRESS_AFTER_S, ArgumentParser, add_max_seconds, check_memory, check_seconds,
                          cli_main, format_seconds, positive_float)

__all__ = ["build_parser", "main", "parse_lattice", "make_prior", "run"]

PRIORS = ("gaussian", "laplace", "mixture")


#: The lattice spec parser shared by every CLI (``a2``, ``a2^2``, ``a2xz``).
parse_lattice = lattices.parse


def expected_seconds(lattice, prior, e, n_dithers: int, method: str, n_inner: int) -> float:
    """Seconds :func:`run` should take here: a pilot of 8 dithers (its own seed, so the report's
    numbers are untouched) scaled to the ``2 * n_dithers`` of the claim and its control."""
    pilot = 8
    if n_dithers <= 4 * pilot and n_inner <= 4096:
        return 0.0
    import warnings

    # the Monte Carlo inner densities cost about n_inner each: the pilot uses at most 4096 of them
    # and is scaled up, so that the estimate of a huge --n-inner is itself quick
    pilot_inner = min(n_inner, 4096) if method == "monte-carlo" else n_inner
    t0 = time.perf_counter()
    with warnings.catch_warnings():           # the run itself gives the warnings that apply
        warnings.simplefilter("ignore")
        theorem1_sides(lattice, prior, e, pilot, np.random.default_rng(987654321), n_inner=pilot_inner,
                       method=method)
    return (time.perf_counter() - t0) * 2 * n_dithers / pilot * (n_inner / pilot_inner)


def make_prior(kind: str, scale: float, dim: int):
    if kind == "gaussian":
        return Gaussian(scale, dim)
    if kind == "laplace":
        return Laplace(scale, dim)
    if kind == "mixture":  # a two-component, asymmetric mixture of a Gaussian and a Laplace
        loc = np.array([np.full(dim, 0.5 * scale), np.full(dim, -0.75 * scale)])
        return Mixture([Gaussian(scale, dim), Laplace(scale, dim)], [0.6, 0.4], loc)
    raise ValueError(f"prior must be one of {PRIORS}, got {kind!r}")


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m validation.theorem1",
                                description="Theorem 1, eq. (4): both sides, with a negative control.")
    p.add_argument("--lattice", default="a2", help="lattice name, a2^2 or a2xz for products (default a2)")
    p.add_argument("--prior", default="gaussian", choices=PRIORS)
    p.add_argument("--scale", type=positive_float, default=1.0, help="lattice scale Delta (default 1)")
    p.add_argument("--prior-scale", type=positive_float, default=None,
                   help="prior scale (Gaussian sd, Laplace 1/alpha); default 0.25 V^(1/m) "
                        "with quadrature, V^(1/m) with Monte Carlo")
    p.add_argument("--e", default=None, help="encoder output e, comma separated "
                   "(default 0.3 * sum of the basis vectors)")
    p.add_argument("--dithers", type=int, default=None,
                   help="number of dithers U (default 10000 in dim <= 2, 2000 in dim 3-4, 1000 above)")
    p.add_argument("--method", default="auto", choices=("auto", "quadrature", "monte-carlo"))
    p.add_argument("--n-inner", type=int, default=1024, help="Monte Carlo samples per inner density")
    p.add_argument("--seed", type=int, default=0)
    add_max_seconds(p, what="the check")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def run(lattice, prior, e, n_dithers, method, n_inner, seed, lattice_name=None,
        progress=False) -> dict:
    """Run the check and its negative control; returns the report dict.

    ``progress``: a tqdm bar on stderr over the ``2 * n_dithers`` dithers (claim, then
    control); it does not change the numbers.
    """
    t0 = time.perf_counter()
    m = lattice.dim
    control = "corner" if parallelepiped_is_cell(lattice) else "parallelepiped"
    ss = np.random.SeedSequence(seed)
    r_main, r_ctrl = (np.random.default_rng(s) for s in ss.spawn(2))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=2 * n_dithers, unit="dither", file=sys.stderr, leave=False,
                   desc=f"Theorem 1 on {lattice_name or lattice.name}", dynamic_ncols=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # MC bias: stated in the report's notes
            res = theorem1_sides(lattice, prior, e, n_dithers, r_main, n_inner=n_inner,
                                 method=method, progress=bar)
            ctl = theorem1_sides(lattice, prior, e, n_dithers, r_ctrl, n_inner=n_inner,
                                 method=method, dither=control, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    checks = [z_check("eq. (4): LHS E[log 1/p_{Z|U}(K(e+U)|U)] vs RHS E[log f_U(U)/f_{S-U}(e-U)]",
                      res.lhs, res.rhs, res.difference_se, res.n_dithers,
                      lhs_se=res.lhs_se, rhs_se=res.rhs_se, method=res.method, n_inner=res.n_inner)]
    controls = [z_check(f"eq. (4) with U uniform over the {'centred ' if control == 'parallelepiped' else ''}"
                        f"fundamental parallelepiped ({control})", ctl.lhs, ctl.rhs, ctl.difference_se,
                        ctl.n_dithers, lhs_se=ctl.lhs_se, rhs_se=ctl.rhs_se)]
    extra = {}
    is_z = (m == 1 and isinstance(prior, Laplace))
    if is_z:  # Sec. 3.3: exact values from the Laplace CDF
        delta = float(lattice.basis[0, 0])
        alpha = prior.alpha
        lhs_x, rhs_x, qerr = laplace_theorem1_exact(float(e[0]), delta, alpha)
        checks.append(z_check("Z+Laplace: LHS estimate vs exact value (Laplace CDF, adaptive quadrature)",
                              res.lhs, lhs_x, res.lhs_se, res.n_dithers))
        checks.append(z_check("Z+Laplace: RHS estimate vs exact value", res.rhs, rhs_x, res.rhs_se,
                              res.n_dithers))
        u = np.linspace(-delta / 2, delta / 2, 201)[1:-1]
        zi = np.floor((e[0] + u) / delta + 0.5)
        cf = laplace_log_p_z_given_u(zi, u, delta, alpha)
        qd = log_p_z_given_u(lattice, prior, (zi * delta)[:, None], u[:, None]).value
        err = float(np.max(np.abs(cf - qd)))
        tol = 1e-6
        checks.append(Check("Z+Laplace: log p_{Z|U} quadrature vs Laplace-CDF closed form (199 u)",
                            err, 0.0, tol / 4, u.size, f"max |difference| < {tol:g}", err < tol))
        extra["exact_lhs_rhs"] = [lhs_x, rhs_x, qerr]
    return make_report(
        "Theorem 1, eq. (4)",
        "E_U[log 1/p_{Z|U}(K(e+U)|U)] = E_U[log f_U(U)/f_{S-U}(e-U)], U uniform over P_0",
        checks, controls,
        lattice=lattice_name or lattice.name, dim=m, prior=prior.name, e=[float(x) for x in e],
        seed=seed, method=res.method, n_dithers=res.n_dithers, n_inner=res.n_inner,
        quadrature_error=res.quadrature_error, control_dither=control,
        control_z=ctl.z, notes=res.notes, **extra,
        detectable_effect=(f"a gap of {4 * res.difference_se:.3g} nats between the two sides "
                           f"(4 SE of the paired difference at {res.n_dithers} dithers)"),
        rule="|LHS - RHS| < 4 SE of the paired difference", seconds=round(time.perf_counter() - t0, 2))


@cli_main("python -m validation.theorem1")
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits: cli_main returns their code (0 or 2)
    try:
        if not (math.isfinite(args.scale) and args.scale > 0):
            raise ValueError(f"--scale must be positive, got {args.scale}")
        if args.prior_scale is not None and not (math.isfinite(args.prior_scale) and args.prior_scale > 0):
            raise ValueError(f"--prior-scale must be a positive finite number, got {args.prior_scale}")
        lat = parse_lattice(args.lattice)
        if args.scale != 1.0:           # volume, second moment: positive normal float64 numbers
            lat = lat.scaled(check_scale_range(lat, args.scale))
        m = lat.dim
        method = args.method if args.method != "auto" else ("quadrature" if m <= 4 else "monte-carlo")
        ps = args.prior_scale
        if ps is None:
            ps = (0.25 if method == "quadrature" else 1.0) * lat.volume ** (1.0 / m)
        prior = make_prior(args.prior, ps, m)
        if args.e is None:
            e = 0.3 * lat.basis.sum(axis=0)
        else:
            try:
                e = np.array([float(x) for x in args.e.split(",")])
            except ValueError:
                raise ValueError(f"--e needs {m} comma-separated numbers, got {args.e!r}") from None
            if e.shape != (m,):
                raise ValueError(f"--e needs {m} comma-separated numbers, got {args.e!r}")
            if not np.all(np.isfinite(e)):
                raise ValueError(f"--e must be finite numbers (no nan or inf), got {args.e!r}")
        n = args.dithers if args.dithers is not None else (10000 if m <= 2 else 2000 if m <= 4 else 1000)
        if n < 2:
            raise ValueError(f"--dithers must be >= 2, got {n}")
        if args.n_inner < 2:
            raise ValueError(f"--n-inner must be >= 2, got {args.n_inner}")
        if method == "quadrature" and m > 4:
            raise ValueError(f"--method quadrature needs dimension <= 4, got {m}")
    except (ValueError, TypeError) as exc:
        return usage_error(str(exc))
    check_memory(64.0 * n * m + 16.0 * args.n_inner * m * min(n, 4096),
                 f"--dithers {n} with --n-inner {args.n_inner}")
    seconds = expected_seconds(lat, prior, e, n, method, args.n_inner)
    check_seconds(seconds, args.max_seconds, f"--dithers {n} with --n-inner {args.n_inner} ({method})",
                  "lower --dithers or --n-inner")
    if seconds > PROGRESS_AFTER_S:
        print(f"python -m validation.theorem1: {n} dithers ({method}), expected about "
              f"{format_seconds(seconds)} on this machine (Ctrl-C stops)", file=sys.stderr)
    # a bar for a person watching a long run (stderr a terminal, no --json)
    progress = seconds > PROGRESS_AFTER_S and sys.stderr.isatty() and not args.json
    report = run(lat, prior, e, n, method, args.n_inner, args.seed, args.lattice, progress)
    return emit(report, args.json)


if __name__ == "__main__":
    sys.exit(main())
