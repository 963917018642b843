r"""Paired comparison of trained runs on the same test images, averaged over evaluation seeds.

    python -m validation.paired RUN [RUN ...] [--baseline RUN] --k 1 [--k 100 ...]
        [--eval-seeds 0,1,2,3,4] [--baseline-eval-seeds 5,6,7,8,9] [--split test]
        [--limit N --subset spread|first] [--checkpoint best|last] [--batch-size 100]
        [--device auto|cpu|cuda] [--data-dir DIR] [--no-cache] [--json] [--out FILE.md]
        [--no-progress]

Two models evaluated on the same n images are compared through their per-image differences,
not through the spread of each over the images: most of the image-to-image spread of the NLL
(some digits are simply harder) is common to both models and cancels in the difference.  At
``k = 1`` the estimate of one image also moves with the dither / sample draw, so each run is
evaluated with S evaluation seeds and the per-image values are averaged over them.

**Per-image values.**  For a run, an importance-sample count k and an evaluation seed s, the
per-image k-sample bound (Burda et al. 2016; for the lattice latents the bound of Sec. 3.6.3,
code length (10) plus the reconstruction term (9))

.. math::  L_{s,i} = -\log\frac1k\sum_{j=1}^k w_{ij}

is computed by :func:`vae.evaluate.iwae_nll` with the generator
``vae.train.epoch_generator(s, k, 2)`` -- the convention of ``vae.evaluate`` -- so the mean over
images for seed s is the number ``python -m vae.evaluate RUN --samples k --seed s`` reports for
the same images, batch size and device.  Each vector is cached in
``RUN/per_image/<split>-<checkpoint>-k<k>-seed<s>-<images>.npz`` with the SHA-256 of the
checkpoint file and every setting that changes the numbers; a cache whose checkpoint or settings
differ is recomputed and replaced (atomic writes).

**Estimators** (run A against baseline B, seeds :math:`s = 1..S`, images :math:`i = 1..n`):

* per-image seed averages :math:`\bar a_i = \frac1S\sum_s A_{s,i}`, likewise :math:`\bar b_i`;
* difference :math:`\bar d = \frac1n\sum_i d_i`, :math:`d_i = \bar a_i - \bar b_i`;
* **paired SE** :math:`\mathrm{sd}(d_i)/\sqrt n`: covers both the choice of test images and
  the evaluation noise (the draws of different images are independent);
* **eval-seed SE**, the part of the uncertainty that comes from the evaluation draws alone (for
  these fixed images), pooled over images: with seed lists of one length for A and B (rows
  paired by position; with the same list these are common random numbers) :math:`\sqrt{\frac1n\sum_i \mathrm{var}_s(A_{s,i} -
  B_{s,i}) / (nS)}`, else :math:`\sqrt{\frac1n\sum_i [\mathrm{var}_s A_{s,i}/S_A +
  \mathrm{var}_s B_{s,i}/S_B] / n}`.  The draws of different images are independent, so the
  variance of a seed's mean over images is the mean of the per-image variances over n; this
  estimate has n(S-1) degrees of freedom, where the SD over the S seed means
  (:math:`D_s = \frac1n\sum_i (A_{s,i} - B_{s,i})`, reported as ``eval_seed_se_from_seed_means``)
  has only S - 1.  With no true difference per image (a run against itself on other seeds) the
  paired SE and the eval-seed SE estimate the same number;
* :math:`t = \bar d / \text{paired SE}`;
* **unpaired SE** :math:`\sqrt{(\mathrm{var}(\bar a_i) + \mathrm{var}(\bar b_i))/n}`, what one
  would report from the two means and their SEs alone; shown beside the paired SE so that a
  reader sees what pairing buys.

This is a measurement, not a claim: the command exits 0 with the table (or ``--json``), 2 on
bad usage (one line: a missing run or checkpoint, k < 1, a bad seed list, runs trained on
different data sets, an empty image selection).
"""
from __future__ import annotations

import argparse
import json
import math
import numbers
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lattices.cli import ArgumentParser, check_output_path, cli_main
from lattices.utils.io import atomic_write, atomic_write_text, file_sha256

__all__ = ["CACHE_DIR", "CACHE_FORMAT", "parse_seeds", "checkpoint_digest", "cache_path", "RunEvaluator",
           "paired_difference", "run_summary", "compare_runs", "format_markdown", "build_parser", "main"]

#: Folder of a run that holds the cached per-image values.
CACHE_DIR = "per_image"
#: Version of the cache layout; a file of another version is recomputed.
CACHE_FORMAT = 1


def parse_seeds(text, what: str = "--eval-seeds") -> list[int]:
    """A list of distinct non-negative evaluation seeds from ``"0,1,2"`` or ``"0-4"`` (or a mix).

    >>> parse_seeds("0-2,7")
    [0, 1, 2, 7]
    """
    seeds: list[int] = []
    parts = [p.strip() for p in str(text).split(",")]
    try:
        for part in parts:
            lo, dash, hi = part.partition("-")
            if dash and lo.strip():
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise ValueError(f"{what} must be non-negative integers separated by commas (ranges a-b "
                         f"allowed), e.g. 0,1,2,3,4 or 0-4; got {text!r}") from None
    bad = [s for s in seeds if s < 0]
    if bad:
        raise ValueError(f"{what} must be non-negative, got {bad[0]} in {text!r}")
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        raise ValueError(f"{what} lists seed {dup[0]} twice in {text!r}: repeated seeds are the same "
                         f"draws, not independent ones")
    return seeds


def checkpoint_digest(path) -> str:
    """SHA-256 (hex) of a checkpoint file: the identity a cache entry is tied to."""
    return file_sha256(path)


def image_label(limit: int | None, subset: str, n_split: int) -> str:
    """``all`` for the whole split, else ``<N><subset>`` (e.g. ``1000spread``).

    >>> image_label(None, "first", 10), image_label(10, "spread", 10), image_label(3, "spread", 10)
    ('all', 'all', '3spread')
    """
    return "all" if limit is None or limit >= n_split else f"{limit}{subset}"


def cache_path(run_dir, split: str, which: str, k: int, seed: int, images: str) -> Path:
    """``RUN/per_image/<split>-<which>-k<k>-seed<seed>-<images>.npz``."""
    return Path(run_dir) / CACHE_DIR / f"{split}-{which}-k{k}-seed{seed}-{images}.npz"


def _read_cache(path: Path, meta: dict, warn: bool = False):
    """The cached vector when ``path`` holds one made with exactly ``meta``, else None.

    A file that cannot be read (empty, truncated, corrupt: not a zip, a bad member, a bad CRC) is
    derived data: it is recomputed and replaced, and with ``warn`` one line on stderr names it
    (nothing is lost, nothing silent)."""
    import zipfile
    import zlib

    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            saved = json.loads(str(f["meta"]))
            values = np.array(f["nll"], dtype=np.float64)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        if warn:                                      # unreadable: recomputed and replaced
            why = " ".join((str(exc) or type(exc).__name__).split())
            print(f"python -m validation.paired: the cache file {path} is unreadable (truncated or "
                  f"corrupt: {why}); it is recomputed and rewritten now (delete it, or run with "
                  f"--no-cache, to rebuild or bypass it)", file=sys.stderr)
        return None
    if not isinstance(saved, dict):
        return None
    if saved != meta or values.shape != (meta["n_images"],):
        return None
    return values


def _write_cache(path: Path, values: np.ndarray, meta: dict) -> None:
    atomic_write(path, lambda fh: np.savez(fh, nll=values, meta=np.array(json.dumps(meta, sort_keys=True))))


def _load_images(dataset: str, split: str, data_dir, seed: int):
    from vae import data as vdata

    x = vdata.load_dataset(dataset, split, data_dir)
    if vdata.is_dynamic(dataset, split):      # OMNIGLOT train: one binarization per seed, as vae.evaluate
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
    return x


class RunEvaluator:
    """Per-image NLL of one run for any (k, seed), computed once and cached in the run folder.

    Parameters
    ----------
    run_dir : path
        A run directory of ``python -m vae.train``.
    which : {"best", "last"}
        The checkpoint (``best.pt`` or ``checkpoint.pt``).
    device : torch.device
    cache : bool
        Read and write ``RUN/per_image``; an unwritable run folder is reported once on stderr and
        the values are still returned.
    """

    def __init__(self, run_dir, which: str = "best", device=torch.device("cpu"), cache: bool = True):
        from vae.train import BEST, CHECKPOINT, load_run

        self.run_dir = Path(run_dir)
        if not self.run_dir.is_dir():
            raise FileNotFoundError(f"run directory {self.run_dir} does not exist")
        self.checkpoint = self.run_dir / (BEST if which == "best" else CHECKPOINT)
        self.which, self.device, self.cache = which, torch.device(device), cache
        self.model, self.config = load_run(self.run_dir, which, self.device)
        self.digest = checkpoint_digest(self.checkpoint)
        self.hits = self.misses = 0
        self._warned = False

    @property
    def dataset(self) -> str:
        return self.config.dataset

    def describe(self) -> dict:
        """The run's identity in a report: folder, data set, latent, network, checkpoint hash."""
        m = self.config.model
        return {"run_dir": str(self.run_dir), "dataset": self.dataset, "latent": m.get("latent"),
                "arch": m.get("arch"), "hidden": m.get("hidden"), "checkpoint": self.which,
                "checkpoint_sha256": self.digest}

    def meta(self, split, k, seed, images, n, batch_size, max_elements) -> dict:
        return {"format": CACHE_FORMAT, "checkpoint_sha256": self.digest, "split": split, "checkpoint": self.which,
                "k": int(k), "seed": int(seed), "images": images, "n_images": int(n),
                "batch_size": int(batch_size), "max_elements": int(max_elements), "device": self.device.type,
                "generator": "vae.train.epoch_generator(seed, k, 2)"}

    def is_cached(self, x, split: str, k: int, seed: int, images: str, batch_size: int = 100,
                  max_elements: int = 2 ** 24) -> bool:
        """Whether :meth:`per_image` would reuse a cached vector for these arguments."""
        meta = self.meta(split, k, seed, images, x.shape[0], batch_size, max_elements)
        return self.cache and _read_cache(cache_path(self.run_dir, split, self.which, k, seed, images), meta) is not None

    def per_image(self, x, split: str, k: int, seed: int, images: str, *, batch_size: int = 100,
                  max_elements: int = 2 ** 24, progress: bool = False) -> np.ndarray:
        """Per-image k-sample NLL (float64, shape (n,)) of the images ``x`` for evaluation ``seed``."""
        from vae.evaluate import iwae_nll
        from vae.train import epoch_generator

        meta = self.meta(split, k, seed, images, x.shape[0], batch_size, max_elements)
        path = cache_path(self.run_dir, split, self.which, k, seed, images)
        if self.cache:
            values = _read_cache(path, meta, warn=True)
            if values is not None:
                self.hits += 1
                return values
        self.misses += 1
        gen = epoch_generator(seed, k, 2, self.device)
        values = iwae_nll(self.model, x.to(self.device), k, batch_size=batch_size, generator=gen,
                          max_elements=max_elements, progress=progress).numpy()
        if self.cache:
            try:
                _write_cache(path, values, meta)
            except OSError as exc:
                if not self._warned:
                    print(f"validation.paired: cannot cache in {path.parent} ({exc.strerror or exc}); "
                          f"the values are used but not kept", file=sys.stderr)
                    self._warned = True
        return values


def _sd(v) -> float:
    return float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")


def _none_if_nan(v):
    return None if v is None or not math.isfinite(v) else float(v)


def paired_difference(a: np.ndarray, b: np.ndarray) -> dict:
    """Paired statistics of run A against baseline B from per-image values (see the module notes).

    Parameters
    ----------
    a, b : arrays of shape (S_A, n) and (S_B, n)
        Per-image NLL, one row per evaluation seed, columns the same n images in the same order.
        When ``S_A == S_B`` the rows are paired by position for the eval-seed component (with
        the same seed list, the two runs share their draws: common random numbers).

    Returns
    -------
    dict
        ``nll``, ``nll_baseline``, ``difference`` (A - B), ``paired_se``, ``eval_seed_se``
        (None with one seed), ``t`` (0 for identical values; None when the per-image differences
        are all equal but not zero), ``unpaired_se``, ``correlation`` of the per-image seed
        averages, ``n_images``, ``n_seeds``, ``n_seeds_baseline``.

    >>> r = paired_difference(np.array([[1.0, 5.0, 9.0]]), np.array([[0.0, 4.0, 8.5]]))
    >>> round(r["difference"], 6), r["unpaired_se"] > 10 * r["paired_se"]
    (0.833333, True)
    """
    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two runs have {a.shape[1]} and {b.shape[1]} images: not the same images")
    n = a.shape[1]
    if n < 2:
        raise ValueError(f"a standard error needs at least 2 images, got {n}")
    abar, bbar = a.mean(axis=0), b.mean(axis=0)
    d = abar - bbar
    diff = float(d.mean())
    paired = _sd(d) / math.sqrt(n)
    unpaired = math.sqrt((np.var(abar, ddof=1) + np.var(bbar, ddof=1)) / n)
    sa, sb = a.shape[0], b.shape[0]
    seed_se, crude = _eval_seed_se(a, b)
    t = diff / paired if paired > 0 else (0.0 if diff == 0 else float("nan"))
    sda, sdb = _sd(abar), _sd(bbar)
    corr = float(np.corrcoef(abar, bbar)[0, 1]) if sda > 0 and sdb > 0 else float("nan")
    return {"nll": float(abar.mean()), "nll_baseline": float(bbar.mean()), "difference": diff,
            "paired_se": paired, "eval_seed_se": _none_if_nan(seed_se),
            "eval_seed_se_from_seed_means": _none_if_nan(crude), "t": _none_if_nan(t),
            "unpaired_se": unpaired, "correlation": _none_if_nan(corr),
            "n_images": int(n), "n_seeds": int(sa), "n_seeds_baseline": int(sb)}


def _eval_seed_se(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(pooled over images, from the S seed means) estimates of the evaluation-draw SE of the mean
    difference; NaN with a single seed on either side (see the module notes)."""
    (sa, n), sb = a.shape, b.shape[0]
    if sa < 2 or sb < 2:
        return float("nan"), float("nan")
    if sa == sb:
        d = a - b
        pooled = math.sqrt(np.var(d, axis=0, ddof=1).mean() / (n * sa))
        crude = _sd(d.mean(axis=1)) / math.sqrt(sa)
    else:
        pooled = math.sqrt((np.var(a, axis=0, ddof=1).mean() / sa + np.var(b, axis=0, ddof=1).mean() / sb) / n)
        crude = math.sqrt(np.var(a.mean(axis=1), ddof=1) / sa + np.var(b.mean(axis=1), ddof=1) / sb)
    return pooled, crude


def run_summary(values: np.ndarray, seeds) -> dict:
    r"""One run at one k: mean NLL, SE over images of the seed averages, and how far one seed moves it.

    ``seed_sd_of_mean`` is the SD of one seed's mean over images under a change of seed, i.e. the
    amount by which a figure from a single evaluation seed moves: pooled over images,
    :math:`\sqrt{\frac1n\sum_i \mathrm{var}_s L_{s,i} / n}` (n(S-1) degrees of freedom);
    ``seed_sd_of_mean_from_seed_means`` is the plain SD over the S seed means (S-1 degrees).
    """
    values = np.atleast_2d(values)
    per_seed = values.mean(axis=1)
    avg = values.mean(axis=0)
    pooled = math.sqrt(np.var(values, axis=0, ddof=1).mean() / values.shape[1]) if len(values) > 1 else None
    return {"nll": float(avg.mean()), "se_images": _sd(avg) / math.sqrt(avg.size),
            "seed_sd_of_mean": pooled, "seed_sd_of_mean_from_seed_means": _none_if_nan(_sd(per_seed)),
            "per_seed_nll": {str(s): float(m) for s, m in zip(seeds, per_seed)},
            "n_images": int(values.shape[1]), "seeds": [int(s) for s in seeds]}


def _is_integer(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_settings(ks, seeds, baseline_seeds, split, limit, subset, which, batch_size, max_elements):
    from vae import data as vdata
    from vae.evaluate import SUBSETS

    if not ks:
        raise ValueError("give at least one --k")
    for k in ks:
        if not _is_integer(k) or k < 1:
            raise ValueError(f"--k must be a positive integer (importance samples per image), got {k!r}")
    for what, s in (("--eval-seeds", seeds), ("--baseline-eval-seeds", baseline_seeds)):
        if not s or len(set(s)) != len(s) or not all(_is_integer(v) and v >= 0 for v in s):
            raise ValueError(f"{what} must be distinct non-negative integers, got {list(s)!r}")
    if split not in vdata.SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(vdata.SPLITS)}")
    if limit is not None and (not _is_integer(limit) or limit < 2):
        raise ValueError(f"--limit must be an integer >= 2 (a standard error needs two images), got {limit!r}")
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; valid: {', '.join(SUBSETS)}")
    if which not in ("best", "last"):
        raise ValueError(f"--checkpoint must be best or last, got {which!r}")
    if batch_size < 1 or max_elements < 1:
        raise ValueError(f"--batch-size and --max-elements must be positive, got {batch_size} and {max_elements}")


def _pairs(runs, baseline, same_seeds: bool):
    """(run, baseline) positions to compare: each run against ``baseline`` (the baseline itself
    left out when it is listed among the runs with the same seeds, unless it is the only run), or,
    without a baseline, all pairs of runs.  The baseline's position is ``len(runs)``."""
    if baseline is None:
        if len(runs) < 2:
            raise ValueError("give at least two runs, or one run and --baseline")
        return [(i, j) for i in range(len(runs)) for j in range(i + 1, len(runs))]
    key = _resolved(baseline)
    pairs = [(i, len(runs)) for i, r in enumerate(runs) if not (same_seeds and _resolved(r) == key)]
    return pairs or [(0, len(runs))]


def _resolved(path) -> str:
    return str(Path(path).resolve())


def _labels(paths) -> tuple[str, list[str]]:
    """The common parent folder of the runs and each run's path below it (its label in tables).

    >>> _labels(["r/a/h32/e8/s0", "r/a/h32/a2/s0"])
    ('r/a/h32', ['e8/s0', 'a2/s0'])
    """
    parts = [Path(p).parts for p in paths]
    common = 0
    while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    prefix = str(Path(*parts[0][:common])) if common else ""
    return prefix, [str(Path(*p[common:])) for p in parts]


class _Images:
    """The selected images of the split, per evaluation seed where the split is binarized per draw."""

    def __init__(self, dataset, split, limit, subset, data_dir):
        from vae import data as vdata

        self.args = (dataset, split, data_dir)
        self.limit, self.subset = limit, subset
        self.dynamic = vdata.is_dynamic(dataset, split)
        self._x = {}
        first = self(0)
        self.n = int(first.shape[0])
        self.label = image_label(limit, subset, self.n_split)

    def __call__(self, seed: int):
        from vae.evaluate import select_images

        key = int(seed) if self.dynamic else None
        if key not in self._x:
            full = _load_images(*self.args, 0 if key is None else key)
            self.n_split = int(full.shape[0])
            self._x[key] = select_images(full, self.limit, self.subset)
        return self._x[key]


def _evaluate_all(evaluators, plan, images, split, batch_size, max_elements, progress):
    """``values[(evaluator index, k, seed)]`` for every entry of ``plan``, with one progress bar."""
    values = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan), desc="per-image NLL (run, k, seed)", unit="eval", dynamic_ncols=True)
    for e, k, s in plan:
        values[(e, k, s)] = evaluators[e].per_image(images(s), split, k, s, images.label, batch_size=batch_size,
                                                    max_elements=max_elements, progress=progress and k >= 100)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return values


def compare_runs(runs, *, baseline=None, ks=(1,), seeds=(0, 1, 2, 3, 4), baseline_seeds=None,
                 split: str = "test", limit: int | None = None, subset: str = "first", which: str = "best",
                 batch_size: int = 100, max_elements: int = 2 ** 24, device: str = "auto", data_dir=None,
                 cache: bool = True, progress: bool = True) -> dict:
    """Paired comparison of ``runs`` (each against ``baseline``, or all pairs); the report dict.

    ``seeds`` are the evaluation seeds of every run; ``baseline_seeds`` (default: ``seeds``)
    those of the baseline, e.g. a disjoint list to compare a run with itself as a noise-only
    control.  A run folder given twice is loaded and evaluated once.  ``ValueError`` /
    ``FileNotFoundError`` for bad usage (see the module notes).
    """
    from vae.train import resolve_device

    t0 = time.perf_counter()
    seeds = list(seeds)
    baseline_seeds = seeds if baseline_seeds is None else list(baseline_seeds)
    if baseline is None and baseline_seeds != seeds:
        raise ValueError("--baseline-eval-seeds needs --baseline")
    _check_settings(list(ks), seeds, baseline_seeds, split, limit, subset, which, batch_size, max_elements)
    ks = sorted({int(k) for k in ks})
    seeds, baseline_seeds = [int(s) for s in seeds], [int(s) for s in baseline_seeds]
    limit = None if limit is None else int(limit)
    runs = [str(r) for r in runs]
    if not runs:
        raise ValueError("give at least one run")
    paths = runs + ([str(baseline)] if baseline is not None else [])
    pairs = _pairs(runs, baseline, baseline_seeds == seeds)
    dev = resolve_device(device)
    keys = list(dict.fromkeys(_resolved(p) for p in paths))          # one evaluator per folder
    slot = [keys.index(_resolved(p)) for p in paths]
    evaluators = [RunEvaluator(paths[slot.index(i)], which, dev, cache) for i in range(len(keys))]
    datasets = {e.dataset for e in evaluators}
    if len(datasets) > 1:
        named = ", ".join(f"{e.run_dir} ({e.dataset})" for e in evaluators)
        raise ValueError(f"the runs were trained on different data sets ({named}): their test images are "
                         f"not the same, so a paired comparison is meaningless")
    images = _Images(datasets.pop(), split, limit, subset, data_dir)
    if images.n < 2:
        raise ValueError(f"a standard error needs at least 2 images; the {split} split gives {images.n}")
    seeds_of = [baseline_seeds if baseline is not None and p == len(paths) - 1 else seeds
                for p in range(len(paths))]
    plan = list(dict.fromkeys((slot[p], k, s) for p in range(len(paths)) for k in ks for s in seeds_of[p]))
    if progress:
        _announce(evaluators, plan, images, split, batch_size, max_elements)
    values = _evaluate_all(evaluators, plan, images, split, batch_size, max_elements, progress)
    prefix, labels = _labels(paths)

    def matrix(p, k):
        return np.stack([values[(slot[p], k, s)] for s in seeds_of[p]])

    comparisons = [{"run": labels[i], "baseline": labels[j], "k": k, **paired_difference(matrix(i, k), matrix(j, k))}
                   for k in ks for i, j in pairs]
    run_rows = [{"run": labels[p], **evaluators[slot[p]].describe(),
                 "results": {str(k): run_summary(matrix(p, k), seeds_of[p]) for k in ks}}
                for p in range(len(paths))]
    return {"measurement": "paired comparison of runs on the same images, averaged over evaluation seeds",
            "dataset": evaluators[0].dataset, "split": split, "images": images.label, "n_images": images.n,
            "subset": subset if images.label != "all" else None, "checkpoint": which, "ks": ks,
            "eval_seeds": seeds, "baseline_eval_seeds": baseline_seeds if baseline is not None else None,
            "baseline": labels[-1] if baseline is not None else None, "common_prefix": prefix,
            "device": str(dev), "batch_size": batch_size, "generator": "vae.train.epoch_generator(seed, k, 2)",
            "runs": run_rows, "comparisons": comparisons,
            "cache": {"enabled": cache, "reused": sum(e.hits for e in evaluators),
                      "computed": sum(e.misses for e in evaluators)},
            "seconds": round(time.perf_counter() - t0, 2),
            "note": "nats per image; difference = run - baseline (negative: the run is better); paired_se = SE "
                    "over images of the seed-averaged per-image difference; eval_seed_se = the part from the "
                    "evaluation draws alone (per-image variance over seeds, pooled over images); unpaired_se = "
                    "sqrt(SE_run^2 + SE_baseline^2) from the spread over images; t = difference / paired_se; "
                    "seed_sd_of_mean = how far one evaluation seed's mean moves (pooled over images)"}


def _announce(evaluators, plan, images, split, batch_size, max_elements):
    """One line on stderr: how many of the evaluations are cached and how many image-samples remain."""
    todo = [(e, k, s) for e, k, s in plan
            if not evaluators[e].is_cached(images(s), split, k, s, images.label, batch_size, max_elements)]
    samples = sum(k for _, k, _ in todo) * images.n
    print(f"validation.paired: {len(plan)} per-image evaluations of {images.n} images, {len(plan) - len(todo)} "
          f"cached; {samples:,} image-samples to compute", file=sys.stderr)


def _fmt(v, digits=3) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.{digits}f}"


def format_markdown(report: dict) -> str:
    """The report as Markdown: the settings, one row per run and k, one row per comparison."""
    r = report
    seeds = ",".join(map(str, r["eval_seeds"]))
    lines = [f"# Paired comparison on {r['dataset']} {r['split']} "
             f"({r['n_images']} images{', ' + r['subset'] if r['subset'] else ''}; {r['checkpoint']} checkpoint)", "",
             f"Evaluation seeds {seeds}" + (f" (baseline: {','.join(map(str, r['baseline_eval_seeds']))})"
                                            if r["baseline_eval_seeds"] not in (None, r["eval_seeds"]) else "")
             + f"; generator {r['generator']} on {r['device']}, as vae.evaluate.  Runs below "
               f"`{r['common_prefix'] or '.'}`.", "",
             "| run | latent | k | NLL (nats) | SE over images | SD of one seed's mean |",
             "|---|---|---|---|---|---|"]
    for run in r["runs"]:
        for k, s in run["results"].items():
            lines.append(f"| {run['run']} | {run['latent']} | {k} | {s['nll']:.3f} | {s['se_images']:.3f} | "
                         f"{_fmt(s['seed_sd_of_mean'])} |")
    lines += ["", "| run | baseline | k | NLL run | NLL baseline | difference | paired SE | eval-seed SE | t | "
                  "unpaired SE | n | seeds |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in r["comparisons"]:
        t = _fmt(c["t"], 2)
        nseeds = f"{c['n_seeds']}" if c["n_seeds"] == c["n_seeds_baseline"] else f"{c['n_seeds']}/{c['n_seeds_baseline']}"
        lines.append(f"| {c['run']} | {c['baseline']} | {c['k']} | {c['nll']:.3f} | {c['nll_baseline']:.3f} | "
                     f"{c['difference']:+.3f} | {c['paired_se']:.3f} | {_fmt(c['eval_seed_se'])} | {t} | "
                     f"{c['unpaired_se']:.3f} | {c['n_images']} | {nseeds} |")
    lines += ["", "difference = run - baseline (nats per image; negative: the run is better); t = difference / "
                  "paired SE; eval-seed SE: the evaluation draws' share of the paired SE (pooled over images); "
                  "SD of one seed's mean: how far a single evaluation seed moves the run's figure.",
              f"cache: {r['cache']['reused']} evaluations reused, {r['cache']['computed']} computed; "
              f"{r['seconds']:.1f} s."]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m validation.paired",
                       description="Paired comparison of trained runs on the same test images, "
                                   "averaged over evaluation seeds.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories of python -m vae.train")
    p.add_argument("--baseline", default=None, metavar="RUN",
                   help="compare every RUN against this run (default: all pairs of RUNs)")
    p.add_argument("--k", dest="ks", type=int, action="extend", nargs="+", metavar="K",
                   help="importance samples per image; repeat or list several (e.g. --k 1 --k 100)")
    p.add_argument("--eval-seeds", default="0,1,2,3,4",
                   help="evaluation seeds, averaged per image (default 0,1,2,3,4; ranges a-b allowed)")
    p.add_argument("--baseline-eval-seeds", default=None,
                   help="other seeds for the baseline (default: --eval-seeds); a disjoint list with the "
                        "baseline among the RUNs is the noise-only control")
    p.add_argument("--split", default="test", help="train, valid or test (default test)")
    p.add_argument("--limit", type=int, default=None, help="N images of the split (default: all)")
    p.add_argument("--subset", default="first", choices=("first", "spread"),
                   help="with --limit: the first N images or N evenly spaced (the MNIST test set is "
                        "ordered: 'spread' is representative)")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"))
    p.add_argument("--batch-size", type=int, default=100, help="images per batch (default 100, as vae.evaluate)")
    p.add_argument("--max-elements", type=int, default=2 ** 24, help="decoder outputs held at once")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--no-cache", action="store_true", help="neither read nor write RUN/per_image")
    p.add_argument("--out", default=None, metavar="FILE.md", help="also write the Markdown table here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


@cli_main("python -m validation.paired")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from vae import data as vdata

    vdata.check_data_dir(args.data_dir)
    if args.out is not None:
        check_output_path(args.out, "--out")
    if not args.ks:
        raise ValueError("give at least one --k (importance samples per image), e.g. --k 1")
    seeds = parse_seeds(args.eval_seeds)
    base_seeds = None if args.baseline_eval_seeds is None else parse_seeds(args.baseline_eval_seeds,
                                                                         "--baseline-eval-seeds")
    report = compare_runs(args.runs, baseline=args.baseline, ks=args.ks, seeds=seeds, baseline_seeds=base_seeds,
                          split=args.split, limit=args.limit, subset=args.subset, which=args.checkpoint,
                          batch_size=args.batch_size, max_elements=args.max_elements, device=args.device,
                          data_dir=args.data_dir, cache=not args.no_cache, progress=not args.no_progress)
    text = format_markdown(report)
    if args.out is not None:
        atomic_write_text(args.out, text)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
