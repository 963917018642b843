r"""Importance-weighted test NLL of a trained run: ``python -m vae.evaluate RUN_DIR --samples 1 5000``.

For ``k`` samples per image the bound is (Burda et al. 2016)

.. math::  -\log p(x) \le -\log \frac1k \sum_{i=1}^k w_i, \qquad
           \log w_i = \log p(x|z_i) + \log p(z_i) - \log q(z_i|x),

computed as a log-mean-exp in float64.  For the lattice latents the ``k`` samples are ``k``
dithers and :math:`\log p(z_i) - \log q(z_i|x)` is minus the code length (10) of the
quantized point, :math:`-\log p_{\hat Z|U}(K(e(x)+U_i)|U_i)` (the bound of Sec. 3.6.3);
``k = 1`` is the single-sample estimate (9) + (10).  For VQ-VAE the samples coincide
(deterministic quantization), so its number does not move with ``k``.

The k samples of an image are drawn in chunks and folded into a running log-sum-exp, so
memory stays bounded (about ``--max-elements`` decoder outputs at a time) for ``k = 10^4``; the
decoder runs on smaller slices of a chunk (:meth:`vae.models.VAE.log_likelihood`, same numbers).
The result is printed (a table, or JSON with ``--json``) and written atomically to
``RUN_DIR/eval.json`` (merged with earlier evaluations).  An unfinished k is saved as it goes
(at most once a minute, :mod:`vae.partial_eval`): the same command run again resumes it from
the last saved batch and gives the same number as an uninterrupted evaluation.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

from lattices.utils.io import atomic_write_text, file_sha256
from lattices.cli import format_seconds

from . import data as vdata
from .latents import check_sample_count
from .models import ModelConfig
from .partial_eval import PartialEvaluation
from .runs import BEST, CHECKPOINT, load_run
from .train import epoch_generator, resolve_device
from lattices.cli import ArgumentParser, cli_main

__all__ = ["iwae_nll", "measured_bits", "logmeanexp_streaming", "SUBSETS", "select_images", "eval_key", "evaluate_run",
           "save_result", "expected_seconds",
           "build_parser", "main"]

EVAL = "eval.json"


def logmeanexp_streaming(chunks) -> torch.Tensor:
    r""":math:`\log\frac1k\sum_i e^{a_i}` per row, folding float64 chunks (batch, k_j) in turn.

    >>> a = torch.tensor([[0.0, 1000.0], [-5.0, -5.0]], dtype=torch.float64)
    >>> logmeanexp_streaming([a[:, :1], a[:, 1:]]).tolist() == [1000.0 - math.log(2), -5.0]
    True
    """
    total, count = None, 0
    for chunk in chunks:
        chunk = chunk.double()
        part = torch.logsumexp(chunk, dim=1)
        total = part if total is None else torch.logaddexp(total, part)
        count += chunk.shape[1]
    if total is None:
        raise ValueError("no samples")
    return total - math.log(count)


def _chunk_size(batch: int, k: int, input_dim: int, max_elements: int) -> int:
    return max(1, min(k, max_elements // max(1, batch * input_dim)))


@torch.no_grad()
def iwae_nll(model, x: torch.Tensor, k: int, *, batch_size: int = 100, generator=None,
             max_elements: int = 2 ** 24, progress: bool = False,
             partial: PartialEvaluation | None = None) -> torch.Tensor:
    """Per-image k-sample bound ``-log mean_i w_i`` (float64, shape (n,)) for images ``x`` (n, 784).

    With ``partial`` (:class:`vae.partial_eval.PartialEvaluation`) the bounds so far and the
    state of ``generator`` are saved after batches, and a saved state of the same evaluation is
    resumed from: same numbers, bit for bit, as one uninterrupted call.
    """
    check_sample_count(k)
    if partial is not None and generator is None:
        raise ValueError("a resumable evaluation (partial=...) needs an explicit generator")
    model.eval()
    n = x.shape[0]
    out = torch.empty(n, dtype=torch.float64)
    first = 0
    resumed = partial.load() if partial is not None else None
    if resumed is not None:
        out[:resumed.done] = resumed.values
        first = resumed.done
        generator.set_state(resumed.generator_state)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n * k, initial=first * k, desc=f"k={k}", unit="sample", unit_scale=True,
                   leave=False, dynamic_ncols=True)
    for start in range(first, n, batch_size):
        xb = x[start:start + batch_size]
        kc = _chunk_size(xb.shape[0], k, x.shape[1], max_elements)

        def chunks():
            done = 0
            while done < k:
                step = min(kc, k - done)
                yield model.log_weights(xb, step, generator).cpu()             # (batch, step)
                done += step
                if bar is not None:
                    bar.update(xb.shape[0] * step)

        out[start:start + xb.shape[0]] = -logmeanexp_streaming(chunks())
        if partial is not None and start + xb.shape[0] < n:
            partial.save(out, start + xb.shape[0], generator)
    if bar is not None:
        bar.close()
    return out


SUBSETS = ("first", "spread")


def select_images(x, limit: int | None, subset: str = "first"):
    """``limit`` images of ``x``: the first ones, or evenly spaced (``spread``); all when ``limit`` is None.

    >>> select_images(torch.arange(10), 3, "spread").tolist()
    [0, 3, 6]
    """
    if limit is None or limit >= x.shape[0]:
        return x
    if subset == "first":
        return x[:limit]
    return x[(torch.arange(limit) * x.shape[0]) // limit]


def eval_key(split: str, which: str, seed: int, limit: int | None, subset: str = "first") -> str:
    """The key of an evaluation in ``eval.json``: ``split/checkpoint/seedS/limitN`` (+ ``-spread``)."""
    return f"{split}/{which}/seed{seed}/limit{limit}" + ("-spread" if subset == "spread" and limit else "")


def evaluate_run(run_dir, samples=(1,), *, split: str = "test", seed: int = 0, batch_size: int = 100,
                 limit: int | None = None, device: str = "auto", data_dir=None, which: str = "best",
                 max_elements: int = 2 ** 24, progress: bool = True, subset: str = "first") -> dict:
    """Evaluate ``run_dir`` with each k in ``samples``; returns (and saves) the result dict.

    ``limit`` N < the split's size evaluates N images: the first N (``subset="first"``) or N
    evenly spaced over the split (``subset="spread"``, images ``floor(i * size / N)``).  The
    binarized MNIST test set is ordered (the mean ink of its ten blocks of 1000 images ranges
    from 0.076 to 0.170), so the first N images are not a representative sample; "spread" is.
    """
    ks = [int(k) for k in samples]
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"--samples must be positive integers, got {list(samples)!r}")
    if split not in vdata.SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(vdata.SPLITS)}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be a positive integer, got {limit!r}")
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; valid: {', '.join(SUBSETS)}")
    dev = resolve_device(device)
    run_dir = Path(run_dir)
    model, config = load_run(run_dir, which, dev)
    checkpoint = run_dir / (BEST if which == "best" else CHECKPOINT)
    stamp, digest = checkpoint.stat().st_mtime_ns, file_sha256(checkpoint)
    x = vdata.load_dataset(config.dataset, split, data_dir)
    if vdata.is_dynamic(config.dataset, split):          # OMNIGLOT train: one fixed binarization
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
    x = select_images(x, limit, subset).to(dev)
    path = run_dir / EVAL
    key = eval_key(split, which, seed, limit, subset)
    seconds = expected_seconds(model, x, ks, batch_size, dev)
    if progress or seconds > 60:
        print(f"vae.evaluate: {x.shape[0]} images, k = {', '.join(map(str, ks))}: expected about "
              f"{format_seconds(seconds)} on this machine (measured on one batch); each k is saved "
              f"to {path} as soon as it is done", file=sys.stderr)
    results = {}
    for k in ks:
        gen = epoch_generator(seed, k, 2, dev)
        partial = PartialEvaluation(run_dir, key, k, {
            "n_images": int(x.shape[0]), "batch_size": batch_size, "max_elements": max_elements,
            "checkpoint_sha256": digest, "device": dev.type})
        nll = iwae_nll(model, x, k, batch_size=batch_size, generator=gen, max_elements=max_elements,
                       progress=progress, partial=partial)
        results[str(k)] = {"k": k, "nll": float(nll.mean()),
                           "standard_error": float(nll.std(unbiased=True) / math.sqrt(len(nll)))
                           if len(nll) > 1 else None,
                           "n_images": int(len(nll)), "seconds": partial.seconds,
                           "checkpoint_mtime_ns": stamp, "checkpoint_sha256": digest}
        save_result(path, key, results[str(k)])           # an interrupted run keeps every finished k
        partial.discard()                                 # ... and an unfinished k its images so far
    bits = measured_bits(model, x, seed) if getattr(model.latent, "discrete", False) else None
    report = {"run_dir": str(run_dir), "split": split, "seed": seed, "checkpoint": which, "bits": bits,
              "dataset": config.dataset, **{key: config.model[key] for key in ("latent", "arch", "hidden")},
              "arch": ModelConfig.from_dict(config.model).arch_label,
              "device": str(dev), "results": results,
              "note": "nll in nats per image: mean over images of -log (1/k) sum_i w_i; standard_error "
                      "is over images (the spread of the data set, not Monte Carlo error alone)"}
    return report


def save_result(path, key: str, result: dict) -> None:
    """Merge one k's ``result`` into ``eval.json`` under ``key`` (atomically; an unreadable
    file is set aside as ``eval.json.corrupt`` rather than lost)."""
    path = Path(path)
    saved = {}
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except json.JSONDecodeError:
            os.replace(path, path.with_name(path.name + ".corrupt"))
    saved.setdefault("evaluations", {}).setdefault(key, {})[str(result["k"])] = result
    atomic_write_text(path, json.dumps(saved, indent=2, sort_keys=True) + "\n")


@torch.no_grad()
def expected_seconds(model, x, ks, batch_size: int, device) -> float:
    """Seconds the evaluation of ``x`` with each k of ``ks`` should take here: one batch with a
    few samples is timed (after a warm-up) and scaled to ``len(x) * sum(ks)`` image-samples."""
    xb = x[:min(batch_size, x.shape[0])]
    probe = 4
    gen = torch.Generator(device=device).manual_seed(12345)     # not the evaluation's stream
    model.log_weights(xb, 1, gen)                                  # warm-up
    t0 = time.perf_counter()
    model.log_weights(xb, probe, gen)
    if device.type == "cuda":
        torch.cuda.synchronize()
    per = (time.perf_counter() - t0) / (xb.shape[0] * probe)
    return per * x.shape[0] * sum(ks)


def measured_bits(model, x, seed: int = 0) -> dict:
    """Real file bits per image beside the ideal code length for a discrete latent (:mod:`vae.codec`).

    The images are compressed with dithers from ``seed`` (on the CPU); ``payload`` is the
    entropy-coded part, ``file`` adds the header (per file, not per image).  A latent the codec
    cannot code (a Gaussian-proxy latent on a lattice whose shells are too large to tabulate
    and that has no code construction in :mod:`lattices.shells`) gives
    ``{"images": n, "unavailable": reason}`` instead of failing the evaluation.
    """
    from .codec.api import compress_with_stats
    from .codec.dispatch import coder_for

    try:
        coder_for(model.latent)
    except (TypeError, ValueError) as exc:        # e.g. a lattice without a shell ranker
        return {"images": int(x.shape[0]), "unavailable": str(exc)}
    data, stats = compress_with_stats(model, x.cpu(), seed)
    n = x.shape[0]
    ideal = float(stats["ideal_bits"].sum())
    return {"images": int(n), "file_bits_per_image": 8 * len(data) / n,
            "payload_bits_per_image": stats["payload_bits"] / n, "code_length_bits_per_image": ideal / n,
            "payload_overhead_percent": 100 * (stats["payload_bits"] - ideal) / ideal if ideal > 0 else None}


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m vae.evaluate", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", help="run directory written by python -m vae.train")
    p.add_argument("--samples", type=int, nargs="+", default=[1, 5000],
                   help="numbers k of importance samples (the paper: 1 and 10000)")
    p.add_argument("--split", default="test", help=f"one of {', '.join(vdata.SPLITS)}")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"),
                   help="best validation epoch (the paper's choice) or the last epoch")
    p.add_argument("--seed", type=int, default=0, help="seed of the dithers / samples")
    p.add_argument("--batch-size", type=int, default=100, help="images per batch")
    p.add_argument("--limit", type=int, default=None, help="evaluate only N images (see --subset)")
    p.add_argument("--subset", default="first", choices=SUBSETS,
                   help="with --limit: the first N images, or N evenly spaced over the split (the "
                        "MNIST test set is ordered: 'spread' is the representative choice)")
    p.add_argument("--max-elements", type=int, default=2 ** 24,
                   help="decoder outputs held at once (memory bound: ~4 bytes x 3 each)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true")
    return p


@cli_main("python -m vae.evaluate")
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    vdata.check_data_dir(args.data_dir)
    if args.batch_size < 1 or args.max_elements < 1:
        raise ValueError(f"--batch-size and --max-elements must be positive, got "
                         f"{args.batch_size} and {args.max_elements}")
    report = evaluate_run(args.run_dir, args.samples, split=args.split, seed=args.seed,
                          batch_size=args.batch_size, limit=args.limit, device=args.device,
                          data_dir=args.data_dir, which=args.checkpoint,
                          max_elements=args.max_elements, progress=not args.no_progress,
                          subset=args.subset)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(f"{report['latent']} / {report['arch']} / hidden {report['hidden']} on "
              f"{report['dataset']} {report['split']} ({report['checkpoint']} checkpoint, seed {report['seed']})")
        print(f"{'k':>8}  {'NLL (nats)':>12}  {'SE':>8}  {'images':>7}  {'seconds':>8}")
        for r in report["results"].values():
            se = f"{r['standard_error']:.3f}" if r["standard_error"] is not None else "-"
            print(f"{r['k']:>8}  {r['nll']:>12.3f}  {se:>8}  {r['n_images']:>7}  {r['seconds']:>8.1f}")
        if report.get("bits") and "unavailable" in report["bits"]:
            print(f"bitstream: not measured ({report['bits']['unavailable']})")
        elif report.get("bits"):
            b = report["bits"]
            print(f"bitstream: {b['payload_bits_per_image']:.2f} bits/image coded ({b['file_bits_per_image']:.2f} "
                  f"with the header) vs code length (10) {b['code_length_bits_per_image']:.2f} bits/image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
