"""VAE training speed: epoch time of each latent against ``gaussian``, same architecture, one run.

For each architecture (``linear`` and ``gated``, hidden 32 by default) and each latent, one
full MNIST training epoch (50000 images, batch 100, Adam) is timed ``--repeats`` times,
latents interleaved within each repeat so that a slow window of a shared machine hits all of
them alike; the figure is the best time, and the ratio is against ``gaussian`` measured in the
same run.  The paper's E8 epoch was about 2x its Gaussian epoch on a V100 (Table 4); the
target here is at most 1.3x.

``--eval-images`` (default 10000, the whole MNIST test set) times a ``k = --eval-k`` (10^4)
importance-weighted evaluation of the linear, hidden-32 model for ``--eval-latents``.
The models are freshly initialized (seeded): the cost of an epoch does not depend on the
weights, except through the code lengths of the lattice priors, which are evaluated for
every point whatever its value.

Usage::

    python -m benchmarks.training [--json] [--repeats 2] [--latents gaussian,e8,...]
        [--archs linear,gated] [--hidden 32] [--train-limit N] [--eval-images N] [--eval-k K]
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time

import torch
from lattices.cli import ArgumentParser, cli_main

DEFAULT_LATENTS = ["gaussian", "z-laplace", "z2", "a2", "e8", "vq", "concrete"]


def _model(latent, arch, hidden, seed):
    from vae.models import VAE, ModelConfig

    torch.manual_seed(seed)
    return VAE(ModelConfig(latent=latent, arch=arch, hidden=hidden))


def time_epochs(latents, archs, hidden, repeats, x_train, seed=0):
    """Best epoch time per (arch, latent), with the ratio to gaussian of the same arch."""
    from vae.train import epoch_generator, make_optimizer, run_epoch

    rows = []
    for arch in archs:
        models = {name: _model(name, arch, hidden, seed) for name in latents}
        optims = {name: make_optimizer(m, 1e-3) for name, m in models.items()}
        times = {name: [] for name in latents}
        for name in latents:                                   # warm-up: kernels compiled, caches filled
            run_epoch(models[name], optims[name], x_train[:1000], "mnist", 100, epoch_generator(seed, 0))
        for rep in range(repeats):
            for name in latents:
                _, seconds = run_epoch(models[name], optims[name], x_train, "mnist", 100,
                                       epoch_generator(seed, rep + 1))
                times[name].append(seconds)
        base = min(times["gaussian"]) if "gaussian" in times else None
        for name in latents:
            best = min(times[name])
            rows.append({"arch": arch, "latent": name, "hidden": hidden, "epoch_seconds": best,
                         "all_seconds": times[name], "images": int(x_train.shape[0]),
                         "ratio_to_gaussian": best / base if base else None})
    return rows


def time_evaluation(latents, hidden, n_images, k, x_test, seed=0):
    """Seconds of a k-sample evaluation of ``n_images`` test images, linear architecture."""
    from vae.evaluate import iwae_nll
    from vae.train import epoch_generator

    rows = []
    for name in latents:
        model = _model(name, "linear", hidden, seed)
        x = x_test[:n_images]
        iwae_nll(model, x[:10], 10, generator=epoch_generator(seed, 0, 2))        # warm-up
        t0 = time.perf_counter()
        iwae_nll(model, x, k, generator=epoch_generator(seed, k, 2), progress=sys.stderr.isatty())
        seconds = time.perf_counter() - t0
        rows.append({"latent": name, "arch": "linear", "hidden": hidden, "k": k, "images": int(len(x)),
                     "seconds": seconds, "samples_per_second": len(x) * k / seconds})
    return rows


def _list(text, valid, what):
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if s not in valid]
    if not items or bad:
        raise ValueError(f"bad {what} {bad or text!r}; valid: {', '.join(valid)}")
    return items


def build_parser():
    p = ArgumentParser(prog="python -m benchmarks.training", description=__doc__.split("\n\n")[0])
    p.add_argument("--latents", default=",".join(DEFAULT_LATENTS))
    p.add_argument("--archs", default="linear,gated")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--train-limit", type=int, default=None, help="images per timed epoch (default: all 50000)")
    p.add_argument("--eval-images", type=int, default=10000, help="test images of the k-sample timing (0: skip)")
    p.add_argument("--eval-k", type=int, default=10000)
    p.add_argument("--eval-latents", default="gaussian,e8")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    return p


@cli_main("python -m benchmarks.training")
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from vae import data
    from vae.latents import LATENTS
    from vae.models import ARCHS

    try:
        latents = _list(args.latents, list(LATENTS), "latent")
        if "gaussian" not in latents:
            latents = ["gaussian", *latents]                   # the baseline of every ratio
        archs = _list(args.archs, list(ARCHS), "arch")
        eval_latents = _list(args.eval_latents, list(LATENTS), "latent")
        for name in ("hidden", "repeats", "eval_k"):
            if getattr(args, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
        x_train = data.load_dataset("mnist", "train")
        x_test = data.load_dataset("mnist", "test")
    except (ValueError, FileNotFoundError) as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    if args.train_limit:
        x_train = x_train[:args.train_limit]
    report = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "device": "cpu"},
        "epochs": time_epochs(latents, archs, args.hidden, args.repeats, x_train, args.seed),
        "evaluation": (time_evaluation(eval_latents, args.hidden, args.eval_images, args.eval_k, x_test, args.seed)
                       if args.eval_images > 0 else []),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"MNIST epoch ({report['epochs'][0]['images']} images, batch 100), hidden {args.hidden}, "
          f"best of {args.repeats}; {report['machine']['threads']} torch threads")
    print(f"{'arch':<8} {'latent':<10} {'epoch s':>8} {'x gaussian':>10}")
    for r in report["epochs"]:
        print(f"{r['arch']:<8} {r['latent']:<10} {r['epoch_seconds']:>8.2f} {r['ratio_to_gaussian']:>10.2f}")
    for r in report["evaluation"]:
        print(f"evaluation k={r['k']}, {r['images']} test images, {r['latent']} linear {r['hidden']}: "
              f"{r['seconds']:.1f} s ({r['samples_per_second']:.3g} samples/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
