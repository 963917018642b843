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

Before any work the command checks that the run folder can be written (it saves ``eval.json``
there), that one chunk of samples fits in memory (naming ``--batch-size``, ``--samples`` or
``--max-elements``, whichever sets it) and that the whole evaluation, timed on a warm batch,
fits in ``--max-seconds`` (default a day).
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

from lattices.cli import (ArgumentParser, DefaultsHelpFormatter, UsageError, add_max_seconds, check_memory,
                          check_output_path, check_seconds, cli_main, count, format_bytes, format_seconds,
                          positive_count)
from lattices.utils.io import atomic_write_text, file_sha256

from . import data as vdata
from .latents import check_sample_count
from .models import ModelConfig
from .partial_eval import PartialEvaluation
from .runs import BEST, CHECKPOINT, load_run
from .train import epoch_generator, resolve_device

__all__ = ["iwae_nll", "measured_bits", "logmeanexp_streaming", "SUBSETS", "select_images", "eval_key", "evaluate_run",
           "save_result", "expected_seconds", "predict_seconds", "check_run_writable", "check_memory_request",
           "MAX_SECONDS", "build_parser", "main"]

EVAL = "eval.json"

#: The default ``--max-seconds`` of ``python -m vae.evaluate``: a day.  The paper's k = 10^4 on a
#: whole test set takes hours on a CPU, so the default admits it and refuses what cannot finish
#: (``--samples 9223372036854775807``: about 10^10 years, a hang before).  The library's
#: :func:`evaluate_run` has no limit unless given one (the sweeps' long evaluations).
MAX_SECONDS = 86400.0


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
                 max_elements: int = 2 ** 24, progress: bool = True, subset: str = "first",
                 max_seconds: float | None = None) -> dict:
    """Evaluate ``run_dir`` with each k in ``samples``; returns (and saves) the result dict.

    ``limit`` N < the split's size evaluates N images: the first N (``subset="first"``) or N
    evenly spaced over the split (``subset="spread"``, images ``floor(i * size / N)``).  The
    binarized MNIST test set is ordered (the mean ink of its ten blocks of 1000 images ranges
    from 0.076 to 0.170), so the first N images are not a representative sample; "spread" is.

    Before any work: the run folder must be writable (:func:`check_run_writable`), one chunk of
    samples must fit in memory (:func:`check_memory_request`) and, with ``max_seconds``, the
    evaluation's expected time (:func:`expected_seconds`) must not exceed it (``UsageError``).
    """
    ks = [int(k) for k in samples]
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"--samples must be positive integers, got {list(samples)!r}")
    for name, value in (("--batch-size", batch_size), ("--max-elements", max_elements)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if split not in vdata.SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(vdata.SPLITS)}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be a positive integer, got {limit!r}")
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; valid: {', '.join(SUBSETS)}")
    dev = resolve_device(device)
    run_dir = Path(run_dir)
    if run_dir.is_dir():
        check_run_writable(run_dir)
    model, config = load_run(run_dir, which, dev)
    checkpoint = run_dir / (BEST if which == "best" else CHECKPOINT)
    stamp, digest = checkpoint.stat().st_mtime_ns, file_sha256(checkpoint)
    x = vdata.load_dataset(config.dataset, split, data_dir)
    if vdata.is_dynamic(config.dataset, split):          # OMNIGLOT train: one fixed binarization
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
    x = select_images(x, limit, subset).to(dev)
    path = run_dir / EVAL
    key = eval_key(split, which, seed, limit, subset)
    check_memory_request(model, min(batch_size, x.shape[0]), ks, x.shape[1], max_elements, dev)
    seconds = expected_seconds(model, x, ks, batch_size, dev, max_elements)
    check_seconds(seconds, max_seconds, f"the evaluation of {x.shape[0]} images with k = "
                  f"{', '.join(map(str, ks))}", "ask for fewer --samples or fewer images (--limit N)")
    if progress or seconds > 60:
        print(f"vae.evaluate: {x.shape[0]} images, k = {', '.join(map(str, ks))}: expected about "
              f"{format_seconds(seconds)} on this machine (timed on one warm batch); each k is saved "
              f"to {path} as soon as it is done", file=sys.stderr)
    results = {}
    for k in ks:
        gen = epoch_generator(seed, k, 2, dev)
        partial = PartialEvaluation(run_dir, key, k, {
            "n_images": int(x.shape[0]), "batch_size": batch_size, "max_elements": max_elements,
            "checkpoint_sha256": digest, "device": dev.type})
        try:
            nll = iwae_nll(model, x, k, batch_size=batch_size, generator=gen, max_elements=max_elements,
                           progress=progress, partial=partial)
        except RuntimeError as exc:               # the allocator's error: name what to lower
            if not _out_of_memory(exc):
                raise
            raise MemoryError(f"k = {k} ran out of memory with --batch-size {batch_size} and "
                              f"--max-elements {max_elements} ({str(exc).splitlines()[0][:160]}); "
                              f"lower --max-elements or --batch-size (the unfinished k is kept and "
                              f"resumes)") from None
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
              "device": str(dev), "results": results, "expected_seconds": seconds,
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


def check_run_writable(run_dir) -> Path:
    """Refuse (:class:`lattices.cli.UsageError`), before any work, a run folder in which the
    results cannot be saved (``eval.json`` and ``eval.partial/`` are written there): a read-only
    folder used to fail on its temporary file after the whole evaluation had run."""
    try:
        return check_output_path(run_dir, "run folder", directory=True)
    except UsageError as exc:
        raise UsageError(f"{exc}: vae.evaluate saves its results there ({EVAL}); copy the run to a "
                         f"writable place (cp -r {run_dir} COPY) and evaluate the copy") from None


#: Bytes held per latent coordinate of each (image, sample) pair of a chunk while its
#: log-weights are computed, measured as the peak resident memory of ``log_weights`` (linear
#: arch, 200-500 images x 500-4000 samples): Gaussian 40, z-Laplace 97, Concrete 16, VQ 2;
#: Gaussian-proxy lattices Leech 71, BW16 121, A2 385, E8 564 (the prior's terms of the candidate
#: points).  The largest of each kind is rounded up, so the check errs towards refusing.
_BYTES_PER_COORD_LATTICE, _BYTES_PER_COORD_OTHER = 600, 128


def check_memory_request(model, batch: int, ks, input_dim: int, max_elements: int, device=None) -> float:
    """Refuse (``MemoryError``), before any work, a chunk of samples that does not fit in memory.

    One chunk holds ``batch`` images x ``kc`` samples (``kc`` = the largest k, capped by
    ``max_elements`` decoder outputs, :func:`_chunk_size`), their latent tensors and one decoder
    slice (:attr:`vae.models.VAE.decode_slice_elements`, float32 logits and two temporaries).  The
    message names the option that sets the size: ``--batch-size`` when one sample per image
    already exceeds ``--max-elements``, ``--samples`` when k is below the cap, else
    ``--max-elements``.  On a CUDA ``device`` the GPU's free memory is the bound (untested on a
    GPU here), else the machine's (:func:`lattices.cli.check_memory`).  Returns the bytes estimated.
    """
    from .latents.proxy import ProxyLatticeLatent

    per_coord = (_BYTES_PER_COORD_LATTICE if isinstance(model.latent, ProxyLatticeLatent)
                 else _BYTES_PER_COORD_OTHER)
    k = max(ks)
    kc = _chunk_size(batch, k, input_dim, max_elements)
    step = max(1, getattr(model, "decode_slice_elements", 2 ** 20) // max(1, batch * input_dim))
    need = float(batch) * kc * (per_coord * model.config.hidden + 16) + 12.0 * batch * input_dim * min(step, kc)
    if kc == 1 and batch * input_dim > max_elements:
        what, lower = f"--batch-size {batch}", "--batch-size"
    elif kc == k:
        what, lower = f"--samples {k} with --batch-size {batch}", "--batch-size or --max-elements"
    else:
        what, lower = f"--max-elements {max_elements} with --batch-size {batch}", "--max-elements"
    if device is not None and torch.device(device).type == "cuda":
        free = torch.cuda.mem_get_info(torch.device(device))[0]
        if need > 0.8 * free:
            raise MemoryError(f"{what} needs about {format_bytes(need)} of GPU memory; the GPU has "
                              f"{format_bytes(free)} free; lower {lower}")
        return need
    try:
        check_memory(need, what)
    except MemoryError as exc:
        raise MemoryError(f"{exc}; lower {lower}") from None
    return need


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is torch's allocation failure (CPU: a ``RuntimeError`` of the allocator)."""
    text = str(exc).lower()
    return (isinstance(exc, getattr(torch, "OutOfMemoryError", ())) or "can't allocate memory" in text
            or "out of memory" in text or "not enough memory" in text)


#: A first call of the largest chunk that takes longer than this (seconds) is not repeated warm:
#: its time stands for every call (an overestimate: a cold call, and smaller calls cost less).
_PROBE_BUDGET_S = 5.0


@torch.no_grad()
def expected_seconds(model, x, ks, batch_size: int, device, max_elements: int = 2 ** 24, *,
                     clock=time.perf_counter) -> float:
    """Seconds the evaluation of ``x`` with each k of ``ks`` should take here.

    The evaluation calls ``log_weights`` on batches of ``batch_size`` images with chunks of ``kc``
    samples (:func:`_chunk_size`), then one call with the ``k % kc`` left.  The time of a call is
    far from proportional to its samples (a fixed part, and code paths and allocations that
    change with the size: on a small E8 model a call of 1 sample took 0.18 s, one of 2 samples
    0.01 s), and a call larger than any before pays one-time costs (fresh memory, lazily built
    tables).  So one batch is timed with exactly the sizes the evaluation uses: a first, cold
    call of the largest is not counted, then each size once, warm; :func:`predict_seconds` adds
    them up.  Before, a 4-sample call (the first of its size) was scaled per sample, counting its
    fixed and one-time parts once per 4 samples: 17.2 minutes predicted for an evaluation of 3.6.
    On a loaded machine single calls still vary (2-3x here), and so does the estimate.
    ``clock``: the timer (tests).
    """
    xb = x[:min(batch_size, x.shape[0])]
    chunks = [_chunk_size(xb.shape[0], k, x.shape[1], max_elements) for k in ks]
    sizes = sorted(set(chunks) | {int(k) % kc for k, kc in zip(ks, chunks) if int(k) % kc})
    gen = torch.Generator(device=device).manual_seed(12345)     # not the evaluation's stream

    def timed(samples: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = clock()
        model.log_weights(xb, samples, gen)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return clock() - t0

    cold = timed(sizes[-1])                                        # one-time costs: not counted
    if cold > _PROBE_BUDGET_S:
        times = {size: cold for size in sizes}
    else:
        times = {size: timed(size) for size in sizes}
    return predict_seconds(times, x.shape[0], xb.shape[0], ks, chunks)


def _call_seconds(times: dict, samples: int) -> float:
    """Seconds of one call with ``samples`` samples from the timed calls ``times`` ({samples:
    seconds}): its own time, else that of the nearest larger size timed, else proportional to the
    largest."""
    if samples in times:
        return times[samples]
    larger = [size for size in times if size > samples]
    if larger:
        return times[min(larger)]
    largest = max(times)
    return times[largest] * samples / largest


def predict_seconds(times: dict, n: int, batch: int, ks, chunks) -> float:
    """Seconds of an evaluation of ``n`` images in batches of ``batch``, for each k of ``ks`` in
    chunks of ``chunks[i]`` samples, from the seconds of calls on one batch ``times`` ({samples:
    seconds}): per batch, ``k // kc`` full chunks and one of ``k % kc`` samples, times ``n / batch``.

    >>> predict_seconds({1: 0.5, 10: 0.6, 5: 0.55}, 1000, 100, [1, 105], [1, 10])
    70.5
    """
    total = 0.0
    for k, kc in zip(ks, chunks):
        k, kc = int(k), int(kc)
        per_batch = (k // kc) * _call_seconds(times, kc) + (_call_seconds(times, k % kc) if k % kc else 0.0)
        total += n / batch * per_batch
    return total


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


def _sample_count(text) -> int:
    """argparse ``type`` of ``--samples``: :func:`lattices.cli.positive_count`, said for k."""
    try:
        return positive_count(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected positive whole numbers k of samples per image "
                                         f"(e.g. 1 5000, 1e4, 10**4), got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m vae.evaluate", description=__doc__.split("\n\n")[0],
                       formatter_class=DefaultsHelpFormatter)
    p.add_argument("run_dir", help="run directory written by python -m vae.train (eval.json is saved there)")
    p.add_argument("--samples", type=_sample_count, nargs="+", default=[1, 5000], metavar="K",
                   help="numbers k of importance samples per image (the paper: 1 and 10000)")
    p.add_argument("--split", default="test", help=f"one of {', '.join(vdata.SPLITS)}")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"),
                   help="best validation epoch (the paper's choice) or the last epoch")
    p.add_argument("--seed", type=count, default=0, help="seed of the dithers / samples (default: 0)")
    p.add_argument("--batch-size", type=positive_count, default=100, help="images per batch")
    p.add_argument("--limit", type=positive_count, default=None, metavar="N",
                   help="evaluate only N images (see --subset); without it, the whole split")
    p.add_argument("--subset", default="first", choices=SUBSETS,
                   help="with --limit: the first N images, or N evenly spaced over the split (the "
                        "MNIST test set is ordered: 'spread' is the representative choice)")
    p.add_argument("--max-elements", type=positive_count, default=2 ** 24,
                   help="decoder outputs per chunk of samples (bounds the memory; checked against "
                        "the memory available before any work)")
    add_max_seconds(p, MAX_SECONDS, "an evaluation")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where to evaluate; auto: cuda when torch sees one, else cpu")
    p.add_argument("--data-dir", default=None,
                   help="folder with the data sets; without it, $LRL_DATA_DIR or ../shared/data")
    p.add_argument("--json", action="store_true", help="print one JSON object (eval.json is written as well)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


@cli_main("python -m vae.evaluate")
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    vdata.check_data_dir(args.data_dir)
    report = evaluate_run(args.run_dir, args.samples, split=args.split, seed=args.seed,
                          batch_size=args.batch_size, limit=args.limit, device=args.device,
                          data_dir=args.data_dir, which=args.checkpoint,
                          max_elements=args.max_elements, progress=not args.no_progress,
                          subset=args.subset, max_seconds=args.max_seconds)
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
