r"""Figures for docs/results.md: ``python -m validation.plots RUNS_DIR [RUNS_DIR ...] [--out-dir DIR] [--json]``.

Reads every run directory under ``RUNS_DIR`` (``config.json`` + ``summary.json`` + ``eval.json``
+ ``metrics.jsonl``, as written by :mod:`vae.train` / :mod:`vae.evaluate`, e.g. by
:mod:`vae.sweep`; parsed by :func:`validation.table2.collect_runs`) and writes three PNGs
(atomically: temporary file beside the target, then ``os.replace``) into ``--out-dir``:

``training_curves.png``
    Validation NLL (``metrics.jsonl`` ``valid_nll``, nats) against epoch, one panel per
    (dataset, arch, hidden), one colour per latent (the same in every panel).  The run with
    the best validation NLL of each configuration (the paper's selection rule, Sec. 4.1) is
    drawn thick, the other seeds / learning rates thin.  The y range ends at the 95th
    percentile of the values after each run's first quarter of epochs, so that the first
    epochs do not flatten the rest (:func:`curve_ylim`).

``nll_vs_nsm.png``
    The paper's central hypothesis: a lattice with a lower normalized second moment
    :math:`G(\Lambda) = \sigma^2 / V^{2/m}` (Sec. 3.5) gives a better likelihood ("A primary
    hypothesis in this article is that the overall performance of a lattice based VAE is related
    to such covering efficiency", Sec. 1; "more efficient lattices, in the sense of their
    Normalized Second Moment (NSM), can lead to better overall log likelihood performance",
    Appendix 6.2; "improving the Normalized Second Moment (excluding Z+Laplace, which uses a
    different training algorithm and prior), results in a better result", Sec. 7.1).
    x: :math:`G` of the base lattice of the latents Z² (1/12), A2 (5 sqrt(3)/108) and E8
    (929/12960), computed by :meth:`lattices.Lattice.nsm_exact`; y: test NLL at k = 1 of the
    best-validation run (line, filled markers) with the mean ± sd (ddof = 1) over all runs of the
    configuration (error bars), one line per (dataset, arch, hidden); the paper's Table 2
    (k = 1) as hollow markers on dashed lines.  Z+Laplace is excluded, as in the paper's
    statement: it shares Z²'s lattice but has a different prior and training algorithm.
    Per group the JSON reports whether the NLL ordering equals the NSM ordering (strictly
    increasing NLL with increasing G) and the Spearman rank correlation of (G, NLL)
    (+1: full agreement with the claim, -1: reversed), for ours and for the paper's values.

``figure2.png``
    The paper's Figure 2 (Appendix 6.2) by :func:`validation.figure2.draw_figure`.

Prints a short summary, or with ``--json`` one JSON object (files written and the numbers
plotted).  Exit code 0, or 2 when ``RUNS_DIR`` is not a folder or holds no run.

.. warning:: With few seeds per configuration the ordering flags are noisy: the error bars
   show the seed-to-seed spread, which can exceed the NLL gaps between Z², A2 and E8.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import textwrap
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

import lattices

from .figure2 import draw_figure
from .paper_tables import HIDDEN, LATENT_ORDER, table2
from .table2 import (base_latent, best_run, collect_runs, group_runs, iter_run_dirs, latent_label,
                     mean_std, run_folders)
from lattices.cli import ArgumentParser, DefaultsHelpFormatter, cli_main, output_dir

__all__ = ["FILES", "NSM_LATENTS", "NoRunsError", "load_curves", "latent_colour", "curve_ylim",
           "plot_training_curves", "rank_agreement", "nll_vs_nsm_data", "plot_nll_vs_nsm",
           "build_plots", "summary_text", "build_parser", "main"]

FILES = {"curves": "training_curves.png", "nsm": "nll_vs_nsm.png", "figure2": "figure2.png"}
NSM_LATENTS = {"z2": "z2", "a2": "a2", "e8": "e8", "bw16": "bw16",
               "leech": "leech"}  # latent -> base lattice (lattices.get name)
EXCLUDED = {"z-laplace": "Z+Laplace shares Z²'s lattice but uses a different prior and training "
                         "algorithm; the paper excludes it from the NSM claim (Sec. 7.1)"}
DPI = 110


class NoRunsError(ValueError):
    """``RUNS_DIR`` holds no run directory (the CLI's exit code 2)."""


# --------------------------------------------------------------------------- helpers
def _matplotlib():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save_png(path, draw) -> None:
    """Call ``draw(tmp_path)`` on a ``.png`` temporary file beside ``path``, then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.stem + ".", suffix=".png")
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)
        draw(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _savefig(fig, path) -> None:
    plt = _matplotlib()
    try:
        _save_png(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))
    finally:
        plt.close(fig)


def latent_colour(latent: str):
    """One colour per latent, the same in every figure (tab10 in the paper's row order)."""
    plt = _matplotlib()
    if latent in LATENT_ORDER:
        i = LATENT_ORDER.index(latent)
    else:  # a latent the paper does not have: a stable colour outside the first seven
        i = len(LATENT_ORDER) + zlib.crc32(latent.encode()) % (10 - len(LATENT_ORDER))
    return plt.get_cmap("tab10")(i)


def _label(latent: str) -> str:
    return latent_label(latent)


def _table_groups(runs) -> dict[tuple, dict[str, list[dict]]]:
    """(dataset, arch, hidden) -> {latent: runs}, in the paper's order."""
    out = defaultdict(dict)
    for (dataset, arch, hidden, latent), group in group_runs(runs).items():
        out[(dataset, arch, hidden)][latent] = group
    return dict(out)


def _group_name(key) -> str:
    dataset, arch, hidden = key
    return f"{dataset} {arch} h{hidden}"


# --------------------------------------------------------------------------- training curves
def load_curves(runs_dirs) -> dict[str, list[tuple[int, float]]]:
    """``run_dir`` (keyed as in :func:`collect_runs`) -> [(epoch, valid_nll)], for one folder of
    runs or several.

    Lines of ``metrics.jsonl`` that are not JSON, or lack a finite ``valid_nll``, are skipped.
    """
    curves = {}
    for key, folder in iter_run_dirs(runs_dirs, "metrics.jsonl"):
        path = folder / "metrics.jsonl"
        points = []
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(rec, dict):
                continue
            epoch, nll = rec.get("epoch"), rec.get("valid_nll")
            if isinstance(epoch, int) and isinstance(nll, (int, float)) and math.isfinite(nll):
                points.append((epoch, float(nll)))
        if points:
            curves[key] = sorted(points)
    return curves


def curve_ylim(curves, skip=0.25, high_pct=95.0, margin=0.06) -> tuple[float, float] | None:
    """Y range of validation curves that the first epochs (far above the rest) do not flatten.

    Bottom: the lowest value; top: the ``high_pct`` percentile of the values after the first
    ``skip`` fraction of each curve's epochs; widened by ``margin`` of the span.  ``curves``:
    lists of NLL values in epoch order.

    >>> curve_ylim([[900.0, 130.0, 120.0, 110.0], [800.0, 125.0, 115.0, 100.0]], high_pct=100.0)
    (98.2, 131.8)
    """
    values = [x for c in curves for x in c if math.isfinite(x)]
    tails = [x for c in curves for x in c[int(len(c) * skip):] if math.isfinite(x)]
    if not values:
        return None
    lo, hi = min(values), float(np.percentile(tails, high_pct))
    pad = margin * (hi - lo) if hi > lo else max(1.0, abs(lo) * 0.01)
    return round(lo - pad, 10), round(hi + pad, 10)


def plot_training_curves(runs, curves, path) -> dict:
    """Write ``training_curves.png``; returns what was plotted (per panel: runs and y range)."""
    plt = _matplotlib()
    tables = _table_groups(runs)
    keys = [k for k, lats in tables.items() if any(r["run_dir"] in curves for g in lats.values() for r in g)]
    ncols = min(3, max(1, len(keys)))
    nrows = max(1, math.ceil(len(keys) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.9 * nrows), squeeze=False)
    panels = []
    handles = {}
    for ax, key in zip(axes.flat, keys):
        plotted, values = [], []  # values: one list of NLLs per run
        for latent, group in tables[key].items():
            best = best_run(group)
            for r in sorted(group, key=lambda r: r is best):  # best drawn last, on top
                pts = curves.get(r["run_dir"])
                if not pts:
                    continue
                is_best = r is best
                ep, nll = zip(*pts)
                line, = ax.plot(ep, nll, color=latent_colour(latent), lw=2.2 if is_best else 0.8,
                                alpha=1.0 if is_best else 0.35, zorder=3 if is_best else 2)
                if is_best:
                    handles.setdefault(latent, line)
                values.append(nll)
                plotted.append({"run_dir": r["run_dir"], "latent": latent, "best": is_best,
                                "epochs": len(pts), "first_valid_nll": nll[0],
                                "last_valid_nll": nll[-1], "min_valid_nll": min(nll)})
        ylim = curve_ylim(values)
        if ylim:
            ax.set_ylim(*ylim)
        ax.set_title(_group_name(key), fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation NLL (nats)")
        ax.grid(alpha=0.3)
        panels.append({"dataset": key[0], "arch": key[1], "hidden": key[2], "ylim": ylim,
                       "runs": plotted})
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    if not keys:
        axes.flat[0].text(0.5, 0.5, "no metrics.jsonl with valid_nll", ha="center", va="center")
    order = [l for l in LATENT_ORDER if l in handles] + sorted(set(handles) - set(LATENT_ORDER))
    if order:
        fig.legend([handles[l] for l in order], [_label(l) for l in order], loc="lower center",
                   ncol=len(order), frameon=False, fontsize=9)
    narrow = ncols < 2                                   # one panel: the title on two lines
    fig.suptitle("Validation NLL per epoch" + ("\n" if narrow else " ")
                 + "(thick: best-validation run per configuration; thin: other runs)",
                 fontsize=10 if narrow else 11)
    fig.tight_layout(rect=(0, 0.06 if order else 0, 1, 0.90 if narrow else 0.95))
    _savefig(fig, path)
    return {"path": str(path), "panels": panels,
            "runs_without_curve": sorted(r["run_dir"] for r in runs if r["run_dir"] not in curves)}


# --------------------------------------------------------------------------- NLL against NSM
def _nsm_values() -> dict[str, float]:
    from theory.scaling import nsm_value

    # exact where a closed form exists; BW16 and Leech: SPLAG Table 2.3 (theory.scaling.nsm_value)
    return {latent: nsm_value(lattices.get(name)) for latent, name in NSM_LATENTS.items()}


def rank_agreement(nsm, nll) -> dict:
    """Does the NLL follow the NSM (lower G, lower NLL)?  ``nsm``, ``nll``: {latent: value}.

    ``agrees``: the NLL is strictly increasing in G over the latents present in both
    (``None`` with fewer than 2); ``spearman``: rank correlation of (G, NLL) with average
    ranks for ties (``None`` when undefined), +1 = the claim's ordering, -1 = reversed;
    ``concordant_pairs`` / ``pairs``: pairs of latents ordered as the claim says.

    >>> g = {"z2": 3.0, "a2": 2.0, "e8": 1.0}
    >>> rank_agreement(g, {"z2": 130.0, "a2": 125.0, "e8": 120.0})["spearman"]
    1.0
    >>> rank_agreement(g, {"z2": 120.0, "a2": 125.0, "e8": 130.0})["agrees"]
    False
    """
    lats = sorted((l for l in nsm if nll.get(l) is not None), key=lambda l: nsm[l])
    x = [nsm[l] for l in lats]
    y = [nll[l] for l in lats]
    pairs = [(i, j) for i in range(len(lats)) for j in range(i + 1, len(lats)) if x[i] != x[j]]
    concordant = sum((x[j] - x[i]) * (y[j] - y[i]) > 0 for i, j in pairs)
    rho = None
    if len(lats) >= 2 and len(set(x)) > 1 and len(set(y)) > 1:
        rx, ry = rankdata(x), rankdata(y)
        rho = float(np.corrcoef(rx, ry)[0, 1])
    return {"latents_by_nsm": lats, "nll_order": sorted(lats, key=lambda l: nll[l]),
            "agrees": (concordant == len(pairs) == len(lats) * (len(lats) - 1) // 2)
            if len(lats) >= 2 else None,
            "spearman": rho, "concordant_pairs": concordant, "pairs": len(pairs)}


def _paper_k1(dataset, arch, hidden, latent):
    if (dataset in ("mnist", "omniglot") and arch in ("linear", "gated") and hidden in HIDDEN
            and latent in LATENT_ORDER):  # the paper has no bw16 / leech column
        return table2(dataset, arch, hidden, latent, 1)
    return None


def nll_vs_nsm_data(runs) -> dict:
    """Per (dataset, arch, hidden): G, our k = 1 test NLL (best run; mean, sd, n over all runs),
    the paper's Table 2 value, and the rank agreement of each with the NSM ordering."""
    nsm = _nsm_values()
    groups = []
    for (dataset, arch, hidden), lat_groups in _table_groups(runs).items():
        points = []
        for base in sorted(NSM_LATENTS, key=lambda l: -nsm[l]):
            # the base latent and its variants (other latent options): the one whose best run
            # has the best validation NLL, the paper's selection rule applied across variants
            cands = [(best_run(g), name, g) for name, g in lat_groups.items()
                     if base_latent(name) == base and best_run(g) is not None]
            if not cands:
                continue
            best, variant, group = min(cands, key=lambda c: (c[0]["best_valid_nll"], c[1]))
            latent = base
            vals = [r["test_nll"][1] for r in group if 1 in r["test_nll"]]
            mean, sd = mean_std(vals) if vals else (None, None)
            points.append({"latent": latent, "variant": variant, "variants": sorted(c[1] for c in cands),
                           "lattice": NSM_LATENTS[latent], "nsm": nsm[latent],
                           "best_run": best["run_dir"] if best else None,
                           "best_nll": best["test_nll"].get(1) if best else None,
                           "mean_nll": mean, "sd_nll": sd, "n_runs": len(vals),
                           "paper_nll": _paper_k1(dataset, arch, hidden, latent)})
        if not points:
            continue
        g = {p["latent"]: p["nsm"] for p in points}
        groups.append({"dataset": dataset, "arch": arch, "hidden": hidden, "points": points,
                       "ours": rank_agreement(g, {p["latent"]: p["best_nll"] for p in points}),
                       "ours_mean": rank_agreement(g, {p["latent"]: p["mean_nll"] for p in points}),
                       "paper": rank_agreement(g, {p["latent"]: p["paper_nll"] for p in points})})
    return {"k": 1, "nsm": nsm,
            "nsm_source": "theory.scaling.nsm_value: nsm_exact(), or SPLAG Table 2.3 for bw16/leech",
            "excluded": EXCLUDED, "groups": groups,
            "claim": "lower normalized second moment G -> lower test NLL (Sec. 1, Appendix 6.2, "
                     "Sec. 7.1)"}


def _fmt_rho(rho):
    return "n/a" if rho is None else f"{rho:+.2f}"


NSM_CAPTION = ("Claim (Sec. 1, Appendix 6.2, Sec. 7.1): a lower G gives a lower NLL, i.e. "
               "Spearman ρ(G, NLL) = +1. Filled markers: the best-validation run; error bars "
               "(drawn just right of each point): mean ± sd over all runs of the configuration; "
               "hollow markers, dashed: the paper's Table 2. Z+Laplace is excluded (different prior "
               "and training algorithm, as in the paper).")


def plot_nll_vs_nsm(data, path) -> dict:
    """Write ``nll_vs_nsm.png``: one panel per (dataset, arch), one line per hidden size."""
    plt = _matplotlib()
    panels = defaultdict(list)
    for g in data["groups"]:
        panels[(g["dataset"], g["arch"])].append(g)
    keys = list(panels)
    ncols = min(2, max(1, len(keys)))
    nrows = max(1, math.ceil(len(keys) / ncols))
    width = 8.4 * ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, 4.6 * nrows + 1.1), squeeze=False)
    cmap = plt.get_cmap("viridis")
    lo, hi = min(data["nsm"].values()), max(data["nsm"].values())
    shift = 0.012 * (hi - lo)  # error bars beside, not on, the best-run markers
    for ax, key in zip(axes.flat, keys):
        hiddens = sorted({g["hidden"] for g in panels[key]})
        for g in panels[key]:
            c = cmap(0.85 * hiddens.index(g["hidden"]) / max(1, len(hiddens) - 1))
            pts = g["points"]
            ours = [(p["nsm"], p["best_nll"]) for p in pts if p["best_nll"] is not None]
            if ours:
                ax.plot(*zip(*ours), "o-", color=c, lw=1.8, ms=6, zorder=3,
                        label=f"h{g['hidden']} ours (ρ = {_fmt_rho(g['ours']['spearman'])})")
            bars = [(p["nsm"] + shift, p["mean_nll"], p["sd_nll"] or 0.0)
                    for p in pts if p["mean_nll"] is not None]
            if bars:
                x, m, s = zip(*bars)
                ax.errorbar(x, m, yerr=s, fmt="_", color=c, ms=9, capsize=3, lw=1, alpha=0.8, zorder=2)
            paper = [(p["nsm"], p["paper_nll"]) for p in pts if p["paper_nll"] is not None]
            if paper:
                ax.plot(*zip(*paper), "o--", color=c, mfc="none", lw=1.1, ms=7, zorder=2,
                        label=f"h{g['hidden']} paper (ρ = {_fmt_rho(g['paper']['spearman'])})")
        used = {p["latent"]: p["variant"] for g in panels[key] for p in g["points"]}
        for latent, G in data["nsm"].items():
            ax.axvline(G, color="0.85", lw=0.8, zorder=0)
            ax.annotate(f"{_label(used.get(latent, latent))}\nG = {G:.4f}", (G, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(0, -4), textcoords="offset points", ha="center", va="top", fontsize=8,
                        color="0.35")
        ax.set_xlim(lo - 0.2 * (hi - lo), hi + 0.2 * (hi - lo))   # room for the labels
        ax.margins(y=0.2)
        ax.set_xlabel("normalized second moment G(Λ) of the base lattice")
        ax.set_ylabel(f"test NLL, k = {data['k']} (nats)")
        ax.set_title(f"{key[0]} {key[1]}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    if not keys:
        axes.flat[0].text(0.5, 0.5, "no Z² / A2 / E8 runs", ha="center", va="center")
    fig.suptitle(f"Test NLL (k = {data['k']}) against the normalized second moment G(Λ)", fontsize=11)
    caption = textwrap.fill(NSM_CAPTION, width=int(width * 14))
    fig.text(0.5, 0.01, caption, ha="center", va="bottom", fontsize=8.5, color="0.25")
    fig.tight_layout(rect=(0, 0.8 / (4.6 * nrows + 1.1), 1, 0.96))
    _savefig(fig, path)
    return {"path": str(path), "caption": NSM_CAPTION}


# --------------------------------------------------------------------------- driver
def build_plots(runs_dirs, out_dir) -> dict:
    """Write the three PNGs into ``out_dir``; returns what was written and the numbers plotted."""
    folders, out_dir = run_folders(runs_dirs), Path(out_dir)
    runs_dir = " ".join(map(str, folders))
    runs = collect_runs(folders)
    if not runs:
        raise NoRunsError(f"no run under {runs_dir!r} (looked for summary.json + config.json "
                         f"of vae.train runs)")
    curves = load_curves(folders)
    curves_info = plot_training_curves(runs, curves, out_dir / FILES["curves"])
    data = nll_vs_nsm_data(runs)
    nsm_info = plot_nll_vs_nsm(data, out_dir / FILES["nsm"])
    fig2 = out_dir / FILES["figure2"]
    counts = {}
    _save_png(fig2, lambda tmp: counts.update(draw_figure(tmp)))
    return {"runs_dir": runs_dir, "out_dir": str(out_dir), "n_runs": len(runs),
            "files": [curves_info["path"], nsm_info["path"], str(fig2)],
            "training_curves": curves_info, "nll_vs_nsm": {**nsm_info, **data},
            "figure2": {"path": str(fig2), "counts_in_drawn_square": counts}}


def _agreement_word(a: dict) -> str:
    if a["agrees"] is None:
        return "n/a"
    return (f"{'agrees' if a['agrees'] else 'disagrees'} (ρ = {_fmt_rho(a['spearman'])}, "
            f"{a['concordant_pairs']}/{a['pairs']} pairs)")


def summary_text(report: dict) -> str:
    """The short human summary printed without ``--json``."""
    lines = [f"{report['n_runs']} runs under {report['runs_dir']}; wrote:"]
    lines += [f"  {f}" for f in report["files"]]
    tc = report["training_curves"]
    lines.append(f"training curves: {sum(len(p['runs']) for p in tc['panels'])} runs in "
                 f"{len(tc['panels'])} panels ({len(tc['runs_without_curve'])} runs without metrics.jsonl)")
    nv = report["nll_vs_nsm"]
    lines.append("NLL (k = 1) vs G: " + ", ".join(f"{_label(l)} {g:.5f}" for l, g in nv["nsm"].items())
                 + "; Z+Laplace excluded")
    for g in nv["groups"]:
        lines.append(f"  {_group_name((g['dataset'], g['arch'], g['hidden']))}: ours "
                     f"{_agreement_word(g['ours'])}; mean {_agreement_word(g['ours_mean'])}; "
                     f"paper {_agreement_word(g['paper'])}")
    lines.append(f"figure 2: points in the drawn square {report['figure2']['counts_in_drawn_square']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m validation.plots", description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("runs_dir", nargs="+", metavar="RUNS_DIR",
                   help="folder(s) holding run directories (e.g. the 'out' of a sweep)")
    p.add_argument("--out-dir", type=output_dir, default="docs/figures", help="folder for the PNGs (created if needed)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    return p


@cli_main("python -m validation.plots")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    folders = [Path(d) for d in args.runs_dir]
    for runs_dir in folders:
        if not runs_dir.is_dir():
            print(f"error: RUNS_DIR {str(runs_dir)!r} is not a folder", file=sys.stderr)
            return 2
    try:
        report = build_plots(folders, args.out_dir)
    except NoRunsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, default=float) if args.json else summary_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
