r"""Our Table 2 beside the paper's: ``python -m validation.table2 RUNS_DIR [--out docs/results.md]``.

Collects every run directory under ``RUNS_DIR`` (``config.json`` + ``summary.json`` +
``eval.json``, as written by :mod:`vae.train` / :mod:`vae.evaluate`, e.g. by :mod:`vae.sweep`),
groups the runs by configuration (dataset, arch, hidden, latent) and applies the paper's rule
(Sec. 4.1): per configuration, the run with the best validation NLL is reported, its test NLL
for k = 1 and the largest k evaluated beside the paper's Table 2 (k = 1 and 10^4).

Also, over all the runs of a configuration (every seed and learning rate, as in the paper's
supplement):

* Table 3 style: :math:`P(\text{row better than column})` = the fraction of pairs (a run of the
  row, a run of the column), self-pairs included, in which the row's test NLL is strictly lower;
  with :math:`P(\text{tie})` the fraction of equal pairs,
  :math:`P(a \succ b) + P(b \succ a) + P(\text{tie}) = 1`.  The paper's diagonal, 0.48 =
  (1 - 1/30)/2, shows it counts pairs this way.
* Tables 5/6 style: the mean and standard deviation (ddof = 1) of the test NLL over the runs.

The Markdown (written atomically with ``--out``) records the commands and the training budget
(epoch caps, patience, data limits, number of runs, test images) so that a reader sees how the
runs differ from the paper's (no epoch cap, patience 50/200, 30 runs per configuration, the full
test set).  Exit code 0, or 2 when ``RUNS_DIR`` holds no run.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

from lattices._io import atomic_write_text

from .paper_tables import HIDDEN, LATENT_LABELS, LATENT_ORDER, table2, table3

__all__ = ["collect_runs", "group_runs", "best_run", "pairwise_probabilities", "mean_std",
           "build_report", "to_markdown", "build_parser", "main"]

_BUDGET_KEYS = ("max_epochs", "patience_halve", "patience_stop", "batch_size", "train_limit",
                "valid_limit")
PAPER_BUDGET = ("the paper (Sec. 4.1): no epoch cap, lr halved after 50 epochs without "
                "improvement, stop after 200; per configuration 7 learning rates x 2 + 16 seeds "
                "= 30 runs; the full test set; k = 1 and 10^4")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _parse_eval_key(key: str) -> dict | None:
    parts = key.split("/")            # split/checkpoint/seedS/limitL (vae.evaluate)
    if len(parts) != 4 or not parts[2].startswith("seed") or not parts[3].startswith("limit"):
        return None
    limit = parts[3][len("limit"):]
    return {"split": parts[0], "checkpoint": parts[1], "seed": int(parts[2][4:]),
            "limit": None if limit == "None" else int(limit)}


def _pick_evaluation(evaluations: dict):
    """The test evaluation of the best checkpoint: the full test set first, else the largest
    limit; then the smallest seed.  Returns (key, results) or (None, {})."""
    best = None
    for key, results in evaluations.items():
        info = _parse_eval_key(key)
        if info is None or info["split"] != "test" or info["checkpoint"] != "best" or not results:
            continue
        rank = (info["limit"] is not None, -(info["limit"] or 0), info["seed"])
        if best is None or rank < best[0]:
            best = (rank, key, results)
    return (best[1], best[2]) if best else (None, {})


def _large_k(primary: dict, evaluations: dict) -> dict | None:
    """The best run's evaluation with the largest k over all its test/best evaluations (e.g. the
    sweep's ``best_eval``: k = 10^4 on the first 1000 test images), and, when that one covers
    fewer images than ``primary`` (the full-set evaluation) and both hold a common k0 > 1, the
    full-set estimate  NLL_full(k0) - [NLL_sub(k0) - NLL_sub(k)]: the bound's tightening from k0
    to k measured on the subset, applied to the full-set value (same model, same images for
    the two subset numbers, so the subset's own offset cancels)."""
    best = None
    for key, results in evaluations.items():
        info = _parse_eval_key(key)
        if info is None or info["split"] != "test" or info["checkpoint"] != "best":
            continue
        for k, r in results.items():
            cand = (int(k), -(r.get("n_images") or 0))
            if best is None or cand > best[0]:
                best = (cand, results, int(k))
    if best is None:
        return None
    results, k = best[1], best[2]
    r = results[str(k)]
    out = {"k": k, "nll": r["nll"], "standard_error": r.get("standard_error"),
           "n_images": r.get("n_images"), "full_set_estimate": None, "via_k": None}
    n_full = max((x.get("n_images") or 0 for x in primary.values()), default=0)
    if (r.get("n_images") or 0) < n_full:
        common = [int(c) for c in results if 1 < int(c) < k and c in primary]
        if common:
            k0 = max(common)
            out["via_k"] = k0
            out["full_set_estimate"] = primary[str(k0)]["nll"] - (results[str(k0)]["nll"] - r["nll"])
    else:
        out["full_set_estimate"] = r["nll"]
    return out


def collect_runs(runs_dir) -> list[dict]:
    """Every run directory under ``runs_dir`` (one with ``summary.json`` and ``config.json``)."""
    runs = []
    root = Path(runs_dir)
    for summary_path in sorted(root.rglob("summary.json")):
        d = summary_path.parent
        summary, config = _read_json(summary_path), _read_json(d / "config.json")
        if summary is None or config is None or "model" not in config:
            continue
        evaluations = (_read_json(d / "eval.json") or {}).get("evaluations", {})
        key, results = _pick_evaluation(evaluations)
        val = summary.get("best_valid_nll")
        runs.append({
            "run_dir": str(d.relative_to(root)),
            "dataset": config["dataset"], "arch": config["model"]["arch"],
            "hidden": int(config["model"]["hidden"]), "latent": config["model"]["latent"],
            "lr": config["lr"], "seed": config["seed"],
            "budget": {k: config.get(k) for k in _BUDGET_KEYS},
            "stop_reason": summary.get("stop_reason"), "epochs": summary.get("epochs"),
            "best_valid_nll": val if isinstance(val, (int, float)) and math.isfinite(val) else None,
            "eval_key": key,
            "n_test_images": max((r.get("n_images", 0) for r in results.values()), default=None),
            "test_nll": {int(k): r["nll"] for k, r in results.items()},
            "large_k": _large_k(results, evaluations),
        })
    return runs


def _order(group_key):
    dataset, arch, hidden, latent = group_key
    lat = LATENT_ORDER.index(latent) if latent in LATENT_ORDER else len(LATENT_ORDER)
    return (dataset, arch, hidden, lat, latent)


def group_runs(runs) -> dict[tuple, list[dict]]:
    """Runs by configuration (dataset, arch, hidden, latent), in the paper's row order."""
    groups = defaultdict(list)
    for r in runs:
        groups[(r["dataset"], r["arch"], r["hidden"], r["latent"])].append(r)
    return {k: groups[k] for k in sorted(groups, key=_order)}


def best_run(runs) -> dict | None:
    """The paper's rule: the run with the best (lowest) validation NLL; ties by run folder."""
    ok = [r for r in runs if r["best_valid_nll"] is not None]
    return min(ok, key=lambda r: (r["best_valid_nll"], r["run_dir"])) if ok else None


def pairwise_probabilities(a, b) -> dict:
    """P(a better than b), P(b better than a), P(tie) over all pairs; better = lower NLL.

    >>> pairwise_probabilities([1.0, 3.0], [2.0, 3.0])
    {'better': 0.5, 'worse': 0.25, 'tie': 0.25, 'n_pairs': 4}
    """
    a, b = list(a), list(b)
    if not a or not b:
        raise ValueError("pairwise_probabilities needs at least one value on each side")
    better = sum(x < y for x in a for y in b)
    worse = sum(x > y for x in a for y in b)
    n = len(a) * len(b)
    return {"better": better / n, "worse": worse / n, "tie": (n - better - worse) / n, "n_pairs": n}


def mean_std(values) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof = 1; ``None`` for a single value)."""
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def build_report(runs_dir, command: str = "") -> dict:
    """Everything the Markdown shows, as a JSON-serializable dict."""
    runs_dir = Path(runs_dir)
    runs = collect_runs(runs_dir)
    groups = group_runs(runs)
    ks = sorted({k for r in runs for k in r["test_nll"]})
    k_big = max((k for k in ks if k > 1), default=None)
    rows = []
    for (dataset, arch, hidden, latent), group in groups.items():
        best = best_run(group)
        row = {"dataset": dataset, "arch": arch, "hidden": hidden, "latent": latent,
               "n_runs": len(group), "best_run": best["run_dir"] if best else None,
               "best_lr": best["lr"] if best else None,
               "best_valid_nll": best["best_valid_nll"] if best else None,
               "ours": {}, "paper": {}, "difference": {}}
        for k, paper_k in ((1, 1), (k_big, 10000)):
            if k is None or 1 not in ks and k == 1:
                continue
            ours = best["test_nll"].get(k) if best else None
            paper = (table2(dataset, arch, hidden, latent, paper_k)
                     if (dataset in ("mnist", "omniglot") and arch in ("linear", "gated")
                         and hidden in HIDDEN and latent in LATENT_ORDER) else None)
            row["ours"][str(k)], row["paper"][str(paper_k)] = ours, paper
            row["difference"][str(k)] = (ours - paper) if ours is not None and paper is not None else None
        large = best.get("large_k") if best else None
        row["large_k"] = large
        if large is not None and large["k"] > (k_big or 1):
            paper = row["paper"].get("10000") if "10000" in row["paper"] else (
                table2(dataset, arch, hidden, latent, 10000)
                if (dataset in ("mnist", "omniglot") and arch in ("linear", "gated")
                    and hidden in HIDDEN and latent in LATENT_ORDER) else None)
            row["paper"]["10000"] = paper
            value = large["full_set_estimate"] if large["full_set_estimate"] is not None else large["nll"]
            large["difference"] = (value - paper) if paper is not None else None
        row["stats"] = {}
        for k in ks:
            vals = [r["test_nll"][k] for r in group if k in r["test_nll"]]
            if vals:
                m, s = mean_std(vals)
                row["stats"][str(k)] = {"mean": m, "std": s, "n": len(vals)}
        rows.append(row)

    pairwise = []
    by_table = defaultdict(dict)
    for (dataset, arch, hidden, latent), group in groups.items():
        by_table[(dataset, arch, hidden)][latent] = group
    for (dataset, arch, hidden), lat_groups in by_table.items():
        for k in ks:
            lats = [l for l, g in lat_groups.items() if any(k in r["test_nll"] for r in g)]
            if len(lats) < 1:
                continue
            vals = {l: [r["test_nll"][k] for r in lat_groups[l] if k in r["test_nll"]] for l in lats}
            cells = {}
            for a in lats:
                for b in lats:
                    p = pairwise_probabilities(vals[a], vals[b])
                    paper = (table3(dataset, arch, a, b) if hidden == 32 and dataset in ("mnist", "omniglot")
                             and arch in ("linear", "gated") and a in LATENT_ORDER and b in LATENT_ORDER
                             else None)
                    cells[f"{a}|{b}"] = {**p, "paper": paper}
            pairwise.append({"dataset": dataset, "arch": arch, "hidden": hidden, "k": k,
                             "latents": lats, "n_runs": {l: len(vals[l]) for l in lats},
                             "cells": cells})

    budgets = Counter(json.dumps(r["budget"], sort_keys=True) for r in runs)
    epochs = [r["epochs"] for r in runs if isinstance(r["epochs"], int)]
    sweeps = []
    for path in sorted(runs_dir.rglob("sweep.json")):
        s = _read_json(path) or {}
        sweeps.append({"path": str(path), "command": s.get("command"), "protocol": s.get("protocol"),
                       "description": (s.get("config") or {}).get("description"),
                       "eval": (s.get("config") or {}).get("eval")})
    return {
        "runs_dir": str(runs_dir), "command": command, "n_runs": len(runs), "ks": ks, "k_big": k_big,
        "rows": rows, "pairwise": pairwise,
        "budget": {"train_configs": [{"config": json.loads(b), "n_runs": n} for b, n in budgets.items()],
                   "epochs": {"min": min(epochs), "median": statistics.median(epochs),
                              "max": max(epochs)} if epochs else None,
                   "stop_reasons": dict(Counter(r["stop_reason"] for r in runs)),
                   "runs_per_configuration": sorted({len(g) for g in groups.values()}),
                   "learning_rates": sorted({r["lr"] for r in runs}),
                   "test_images": sorted({r["n_test_images"] for r in runs if r["n_test_images"]}),
                   "eval_keys": sorted({r["eval_key"] for r in runs if r["eval_key"]}),
                   "unevaluated_runs": sum(not r["test_nll"] for r in runs),
                   "paper": PAPER_BUDGET},
        "sweeps": sweeps,
    }


def _f(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def _signed(x):
    return "–" if x is None else f"{x:+.2f}"


def to_markdown(report: dict) -> str:
    """The report as Markdown: Table 2 beside the paper, Table 3 and Tables 5/6 style."""
    ks, k_big = report["ks"], report["k_big"]
    b = report["budget"]
    lines = ["# Test NLL against the paper's Table 2 (Lastras 2020)", "",
             f"Runs: `{report['runs_dir']}` ({report['n_runs']} runs). Generated by:", "", "```bash"]
    for s in report["sweeps"]:
        if s["command"]:
            lines.append(s["command"])
    lines += [report["command"] or "python -m validation.table2 " + shlex.quote(report["runs_dir"]),
              "```", "", "## Budget (how these runs differ from the paper's)", ""]
    for s in report["sweeps"]:
        lines.append(f"- sweep `{s['path']}`: protocol `{s['protocol']}`"
                     + (f" — {s['description']}" if s["description"] else ""))
    for tc in b["train_configs"]:
        c = tc["config"]
        lines.append(f"- {tc['n_runs']} runs: max_epochs {c['max_epochs']}, patience "
                     f"{c['patience_halve']}/{c['patience_stop']} (halve/stop), batch {c['batch_size']}, "
                     f"train_limit {c['train_limit']}, valid_limit {c['valid_limit']}")
    if b["epochs"]:
        lines.append(f"- epochs run: min {b['epochs']['min']}, median {b['epochs']['median']}, "
                     f"max {b['epochs']['max']}; stop reasons: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(b["stop_reasons"].items(), key=str)))
    lines.append(f"- runs per configuration: {', '.join(map(str, b['runs_per_configuration']))}; "
                 f"learning rates: {', '.join(f'{x:g}' for x in b['learning_rates'])}")
    lines.append(f"- test images per evaluation: {', '.join(map(str, b['test_images'])) or '–'}; "
                 f"k evaluated: {', '.join(map(str, ks)) or '–'}"
                 + (f"; {b['unevaluated_runs']} runs without a test evaluation" if b["unevaluated_runs"] else ""))
    lines += [f"- {b['paper']}", ""]

    lines += ["## Table 2: the run with the best validation NLL per configuration", ""]
    note = ""
    if k_big is not None and k_big != 10000:
        note = (f"Our large-k column uses k = {k_big} importance samples, the paper's k = 10^4: "
                f"the bound tightens with k, so ours is expected to be higher by that alone.")
    big = f"k={k_big}" if k_big else None
    large = [r["large_k"] for r in report["rows"] if r.get("large_k") and r["large_k"]["k"] > (k_big or 1)]
    header = "| data | arch | hidden | latent | runs | lr | valid NLL | ours k=1 | paper k=1 | Δ k=1 |"
    sep = "|---|---|---|---|---|---|---|---|---|---|"
    if big:
        header += f" ours {big} | paper k=10⁴ | Δ {big} |"
        sep += "---|---|---|"
    if large:
        header += " large k (test images) | ours ± SE | full-set estimate | Δ vs paper k=10⁴ |"
        sep += "---|---|---|---|"
    lines += [header, sep]
    for r in report["rows"]:
        line = (f"| {r['dataset']} | {r['arch']} | {r['hidden']} | {LATENT_LABELS.get(r['latent'], r['latent'])} "
                f"| {r['n_runs']} | {'–' if r['best_lr'] is None else format(r['best_lr'], 'g')} "
                f"| {_f(r['best_valid_nll'])} | {_f(r['ours'].get('1'))} | {_f(r['paper'].get('1'))} "
                f"| {_signed(r['difference'].get('1'))} |")
        if big:
            line += (f" {_f(r['ours'].get(str(k_big)))} | {_f(r['paper'].get('10000'))} "
                     f"| {_signed(r['difference'].get(str(k_big)))} |")
        if large:
            lk = r.get("large_k") if r.get("large_k") and r["large_k"]["k"] > (k_big or 1) else None
            line += (" – | – | – | – |" if lk is None else
                     f" {lk['k']} ({lk['n_images']}) | {_f(lk['nll'])} ± {_f(lk['standard_error'])} "
                     f"| {_f(lk['full_set_estimate'])} | {_signed(lk.get('difference'))} |")
        lines.append(line)
    lines += ["", "Δ = ours − paper (nats; negative: ours is better). – : not evaluated, or the "
              "paper's cell is garbled in the text (see `validation/paper_tables.py`)."]
    if note:
        lines.append(note)
    if large:
        vias = sorted({lk["via_k"] for lk in large if lk["via_k"] is not None})
        lines.append(
            "Large k: the best run of each configuration evaluated once more with a larger k "
            "(`best_eval` of the sweep), on the first N test images where the whole test set is "
            "too costly; ± is the standard error over those images. Full-set estimate = our "
            f"full-test-set NLL at k = {', '.join(map(str, vias)) or 'k0'} minus the tightening of the bound "
            "from that k to the large k measured on the subset (the subset's own offset from the "
            "full set cancels, since both subset numbers are on the same images); Δ uses it.")

    lines += ["", "## Table 3 style: P(row better than column) over all runs", "",
              "Pairs of runs (every seed and learning rate of the two configurations, self-pairs "
              "included), strictly lower test NLL. In parentheses: the paper's Table 3 (hidden 32 "
              "only; which k it uses is not stated). Ties: the remaining fraction "
              "(P(a>b) + P(b>a) + P(tie) = 1)."]
    for t in report["pairwise"]:
        lats = t["latents"]
        lines += ["", f"**{t['dataset']}, {t['arch']}, hidden {t['hidden']}, k = {t['k']}** "
                  f"(runs: {', '.join(f'{LATENT_LABELS.get(l, l)} {n}' for l, n in t['n_runs'].items())})", "",
                  "| row \\ column | " + " | ".join(LATENT_LABELS.get(l, l) for l in lats) + " |",
                  "|---|" + "---|" * len(lats)]
        for a in lats:
            cells = []
            for c in lats:
                cell = t["cells"][f"{a}|{c}"]
                cells.append(f"{cell['better']:.2f}" + (f" ({cell['paper']:.2f})" if cell["paper"] is not None else ""))
            lines.append(f"| {LATENT_LABELS.get(a, a)} | " + " | ".join(cells) + " |")

    lines += ["", "## Tables 5/6 style: mean / standard deviation of the test NLL over all runs", ""]
    if ks:
        lines += ["| data | arch | hidden | latent | " + " | ".join(f"k={k} mean / sd (n)" for k in ks) + " |",
                  "|---|---|---|---|" + "---|" * len(ks)]
        for r in report["rows"]:
            cells = []
            for k in ks:
                s = r["stats"].get(str(k))
                cells.append("–" if s is None else f"{s['mean']:.2f} / {_f(s['std'])} ({s['n']})")
            lines.append(f"| {r['dataset']} | {r['arch']} | {r['hidden']} | "
                         f"{LATENT_LABELS.get(r['latent'], r['latent'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m validation.table2", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("runs_dir", help="folder holding run directories (e.g. the 'out' of a sweep)")
    p.add_argument("--out", default=None, help="write the Markdown here (atomically), e.g. docs/results.md")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    runs_dir = Path(args.runs_dir)
    if not runs_dir.is_dir():
        print(f"error: RUNS_DIR {str(runs_dir)!r} is not a folder", file=sys.stderr)
        return 2
    command = "python -m validation.table2 " + " ".join(shlex.quote(a) for a in argv)
    report = build_report(runs_dir, command)
    if not report["n_runs"]:
        print(f"error: no run under {str(runs_dir)!r} (looked for summary.json + config.json of "
              f"vae.train runs)", file=sys.stderr)
        return 2
    md = to_markdown(report)
    if args.out:
        atomic_write_text(args.out, md)
    print(json.dumps(report, indent=2, default=float) if args.json else md, end="" if not args.json else "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
