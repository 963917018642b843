"""Bitstream throughput: compress and decompress (images/s) beside the model's forward pass.

For each discrete latent (linear networks, hidden 32 by default, Leech 24; or the models of ``--runs``),
on ``--images`` MNIST test images (random binary images when the data set is absent), the
best of ``--repeats`` timings, interleaved within each repeat so that a slow window of a
shared machine hits all of them alike:

* ``forward``: ``decoder(encoder(x))``, the two networks (the anchor of the issue's target:
  E8 hidden 32 compress + decompress at least half as fast, ratio >= 0.5);
* ``inference``: ``model.log_weights(x, 1)``, the evaluated model with one dither (networks,
  lattice quantizer and code length (10));
* ``compress`` / ``decompress``: :meth:`vae.models.VAE.compress` / ``decompress`` (CPU);
* ``roundtrip_ratio``: forward time / (compress + decompress time), the speed of a round trip
  relative to the forward pass (issue 31: target ``>= 0.3`` for E8 hidden 32 with both priors
  and Leech hidden 24 with the discrete-Gaussian prior, one thread; ``targets`` in the output).

``--threads 1,2`` repeats the whole measurement with torch and numba limited to each thread
count (the forward pass is measured under the same limit, interleaved, so each ratio compares
like with like).  The load average (``os.getloadavg``, as ``uptime`` prints it) is recorded
before and after.  Output: a Markdown table, or with ``--json`` one JSON object (``meta``,
``rows``, ``targets``).

Usage::

    python -m benchmarks.bitstream [--json] [--latents e8,z2,...] [--runs DIR ...] [--images N]
        [--repeats 3] [--hidden 32] [--threads 1,2] [--target 0.3]

The issue-31 measurement (trained runs, read only)::

    python -m benchmarks.bitstream --threads 1,2 --runs \
        runs/mnist-linear-h32-converge/mnist/linear/h32/e8/lr0.001/seed0 \
        runs/mnist-linear-40-dgauss/mnist/linear/h32/e8/lr0.001/seed0 \
        runs/mnist-linear-40-leech-dgauss/mnist/linear/h24/leech/lr0.001/seed0
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch

DEFAULT_LATENTS = ["z-laplace", "z2", "a2", "e8", "bw16", "leech", "vq", "concrete"]


def _images(n, seed=0):
    try:
        from vae import data as vdata

        return vdata.load_dataset("mnist", "test")[:n], "mnist test"
    except (FileNotFoundError, ValueError, OSError):
        return (torch.rand(n, 784, generator=torch.Generator().manual_seed(seed)) < 0.3).float(), "random"


def _models(latents, runs, hidden):
    from vae.models import VAE, ModelConfig

    out = {}
    for run in runs or []:
        from vae.codec.cli import load_model

        model, config = load_model(run)
        opts = config.model.get("latent_options") or {}
        prior = opts.get("prior", "paper") if config.model["latent"] in _BLOCK else None
        label = f"{config.model['latent']} h{config.model['hidden']}" + (f" {prior}" if prior else "")
        out[f"{label} ({run})"] = model
    for name in latents if not runs else []:
        h = _hidden_for(name, hidden)
        torch.manual_seed(0)
        out[name if h == hidden else f"{name} (hidden {h})"] = VAE(ModelConfig(latent=name, hidden=h)).eval()
    return out


_BLOCK = {"bw16": 16, "leech": 24, "e8": 8, "z2": 2, "a2": 2, "d4": 4, "e6": 6, "e7": 7}


def _hidden_for(latent, hidden):
    """``hidden``, or for a block latent whose block does not divide it (Leech: 24) the largest
    multiple of the block up to ``hidden`` (at least one block)."""
    block = _BLOCK.get(latent, 1)
    return max(block, hidden - hidden % block)


def _best(fn, times):
    t0 = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - t0)
    return result


def _set_threads(n):
    import numba

    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


@torch.no_grad()
def measure(models, x, repeats, threads=None):
    """Best seconds per (model, operation) and the derived throughputs and ratios (``threads``:
    torch and numba limited to that many threads while measuring, restored after)."""
    if threads is not None:
        import numba

        before = torch.get_num_threads(), numba.get_num_threads()
        _set_threads(threads)
        try:
            return measure(models, x, repeats)
        finally:
            torch.set_num_threads(before[0])
            numba.set_num_threads(before[1])
    timings = {name: {k: [] for k in ("forward", "inference", "compress", "decompress")} for name in models}
    sizes = {}
    gen = torch.Generator().manual_seed(0)
    for name, m in models.items():                      # warm-up: numba kernels, caches
        m.decompress(m.compress(x[:50]))
        m.log_weights(x[:50], 1, gen)
    for _ in range(repeats):
        for name, m in models.items():
            t = timings[name]
            _best(lambda: m.decoder(m.encoder(x)), t["forward"])
            _best(lambda: m.log_weights(x, 1, gen), t["inference"])
            data = _best(lambda: m.compress(x, seed=0), t["compress"])
            _best(lambda: m.decompress(data), t["decompress"])
            sizes[name] = len(data)
    rows = []
    n = len(x)
    for name, t in timings.items():
        best = {k: min(v) for k, v in t.items()}
        rows.append({"model": name, "images": n, "bytes": sizes[name], "threads": torch.get_num_threads(),
                     **{f"{k}_seconds": v for k, v in best.items()},
                     **{f"{k}_images_per_s": n / v for k, v in best.items()},
                     "roundtrip_ratio": best["forward"] / (best["compress"] + best["decompress"]),
                     "roundtrip_vs_inference": best["inference"] / (best["compress"] + best["decompress"])})
    return rows


def build_parser():
    p = argparse.ArgumentParser(prog="python -m benchmarks.bitstream", description=__doc__.split("\n\n")[0])
    p.add_argument("--latents", default=",".join(DEFAULT_LATENTS))
    p.add_argument("--runs", nargs="*", default=None, help="run directories instead of fresh models")
    p.add_argument("--images", type=int, default=10000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--threads", default=None, help="comma-separated thread counts, e.g. 1,2 (default: as is)")
    p.add_argument("--target", type=float, default=0.3,
                   help="the issue's ratio target for forward / (compress + decompress) (default 0.3)")
    p.add_argument("--json", action="store_true")
    return p


def _parse_threads(text):
    if text is None:
        return [None]
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        vals = []
    if not vals or min(vals) < 1:
        raise ValueError(f"--threads must be a comma-separated list of positive integers, got {text!r}")
    return vals


def targets(rows, target):
    """The issue-31 targets: E8 hidden 32 (both priors) and Leech hidden 24 (dgauss) at
    ``roundtrip_ratio >= target``, for every row of those models (and every thread count)."""
    out = []
    for r in rows:
        name = r["model"].split(" (")[0]
        if name in ("e8 h32 paper", "e8 h32 dgauss", "leech h24 dgauss"):
            out.append({"model": r["model"], "threads": r["threads"], "ratio": r["roundtrip_ratio"],
                        "target": target, "met": r["roundtrip_ratio"] >= target})
    return out


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.images < 1 or args.repeats < 1:
            raise ValueError(f"--images and --repeats must be positive, got {args.images}, {args.repeats}")
        latents = [s.strip() for s in args.latents.split(",") if s.strip()]
        from vae.latents import LATENTS

        bad = [s for s in latents if s not in LATENTS or s == "gaussian"]
        if bad:
            raise ValueError(f"unknown or continuous latents {bad}; valid: {', '.join(DEFAULT_LATENTS)}")
        x, source = _images(args.images)
        models = _models(latents, args.runs, args.hidden)
        threads = _parse_threads(args.threads)
    except (ValueError, FileNotFoundError) as exc:
        print(f"python -m benchmarks.bitstream: error: {exc}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    rows = [r for t in threads for r in measure(models, x, args.repeats, t)]
    meta = {"images": len(x), "source": source, "repeats": args.repeats, "threads": threads,
            "cpu_count": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
            "load_average_before": load_before, "load_average_after": os.getloadavg()}
    goals = targets(rows, args.target)
    if args.json:
        print(json.dumps({"meta": meta, "rows": rows, "targets": goals}, indent=2))
        return 0
    print(f"{meta['images']} {source} images, best of {args.repeats} interleaved, {meta['cpu_count']} cores, "
          f"load average (1, 5, 15 min) {', '.join(f'{v:.2f}' for v in load_before)} before, "
          f"{', '.join(f'{v:.2f}' for v in meta['load_average_after'])} after\n")
    print("| model | threads | forward img/s | inference img/s | compress img/s | decompress img/s | bits/img "
          "| forward / (compress + decompress) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['threads']} | {r['forward_images_per_s']:.0f} | "
              f"{r['inference_images_per_s']:.0f} | "
              f"{r['compress_images_per_s']:.0f} | {r['decompress_images_per_s']:.0f} | "
              f"{8 * r['bytes'] / r['images']:.1f} | {r['roundtrip_ratio']:.3f} |")
    if goals:
        print("\n| target | threads | ratio | met |")
        print("|---|---|---|---|")
        for g in goals:
            print(f"| {g['model'].split(' (')[0]} >= {g['target']} | {g['threads']} | {g['ratio']:.3f} | "
                  f"{'yes' if g['met'] else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
