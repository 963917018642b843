"""VAE training speed: epoch time of each latent against ``gaussian``, same architecture, one run.

For each architecture (``linear`` and ``gated``, hidden 32 by default) and each latent, one
full MNIST training epoch (50000 images, batch 100, Adam) is timed ``--repeats`` times,
latents interleaved within each repeat so that a slow window of a shared machine hits all of
them alike; the figure is the best time, and the ratio is against ``gaussian`` measured in the
same run.  The paper's E8 epoch was about 2x its Gaussian epoch on a V100 (Table 4); the
target here is at most 1.3x (linear) and 1.15x (gated).

Each Gaussian-proxy latent (``z2``, ``a2``, ``e8``, ...) is timed once per prior family of
``--priors`` it supports (``paper``: Sec. 3.4; ``dgauss``: the discrete Gaussian mixture), as
rows ``e8/paper``, ``e8/dgauss``; ``--eager`` adds ``e8/paper-eager``, ``e8/dgauss-eager``: each
prior through its eager reference formulation (``prior.use_kernel("eager")`` on that model's
prior object), i.e. the cost before the fused CPU kernels, in the same run; ``--torch-step`` adds
``e8/paper-torch-step``, ``e8/dgauss-torch-step``: the same prior kernels with the proxy KL and the
decoder input of Sec. 3.6.2 as torch operations (``layer.use_kernels(step="torch")``) instead of
one fused node.  Kernels are chosen per model instance, never by a global switch.  ``--device cuda`` runs everything on the
GPU (exit status 2 with one line when torch sees none); ``--threads`` sets torch's CPU threads.

``--eval-images`` (default 10000, the whole MNIST test set) times a ``k = --eval-k`` (10^4)
importance-weighted evaluation of the linear, hidden-32 model for ``--eval-latents``.
The models are freshly initialized (seeded): the cost of an epoch does not depend on the
weights, except through the code lengths of the lattice priors, which are evaluated for
every point whatever its value.

Usage::

    python -m benchmarks.training [--json] [--repeats 2] [--latents gaussian,e8,...]
        [--archs linear,gated] [--hidden 32] [--train-limit N] [--eval-images N] [--eval-k K]
        [--priors paper,dgauss] [--eager] [--torch-step] [--device cpu|cuda] [--threads N]
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


#: variant suffixes: the prior's eager reference, the proxy step as torch operations
_EAGER, _TORCH_STEP = "-eager", "-torch-step"


def _model(variant, arch, hidden, seed, device):
    """The freshly initialized (seeded) model of a variant ``latent[/prior[-eager|-torch-step]]``,
    its kernels chosen on the instance (:meth:`vae.latents.proxy.ProxyLatticeLatent.use_kernels`)."""
    from vae.models import VAE, ModelConfig

    latent, _, rest = variant.partition("/")
    prior = rest.removesuffix(_EAGER).removesuffix(_TORCH_STEP)
    options = {"prior": prior} if prior else {}
    torch.manual_seed(seed)
    model = VAE(ModelConfig(latent=latent, arch=arch, hidden=hidden, latent_options=options)).to(device)
    if prior:
        model.latent.use_kernels(prior="eager" if rest.endswith(_EAGER) else "auto",
                                 step="torch" if rest.endswith(_TORCH_STEP) else "fused")
    return model


def variants(latents, priors, eager, torch_step=False):
    """Latent names expanded per prior family: ``e8`` -> ``e8/paper``, ``e8/dgauss`` (where the family
    supports the lattice: :meth:`vae.priors.Prior.supported_lattice`); ``eager`` adds
    ``e8/<prior>-eager`` (the prior's eager reference), ``torch_step`` adds ``e8/<prior>-torch-step``
    after each."""
    import lattices
    from vae.latents import latent_class
    from vae.latents.proxy import ProxyLatticeLatent
    from vae.priors import prior_class

    out = []
    for name in latents:
        if not issubclass(latent_class(name), ProxyLatticeLatent) or name == "proxy":
            if name != "proxy":
                out.append(name)
            continue
        for prior in priors:
            if prior_class(prior).supported_lattice(lattices.get(name)) is not None:
                continue
            out.append(f"{name}/{prior}")
            if torch_step:
                out.append(f"{name}/{prior}{_TORCH_STEP}")
            if eager:
                out.append(f"{name}/{prior}{_EAGER}")
    return out


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_epochs(names, archs, hidden, repeats, x_train, seed=0, device=torch.device("cpu"), threads=None):
    """Best epoch time per (arch, variant), with the ratio to gaussian of the same arch."""
    from vae.train import epoch_generator, make_optimizer, run_epoch

    rows = []
    for arch in archs:
        models = {name: _model(name, arch, hidden, seed, device) for name in names}
        optims = {name: make_optimizer(m, 1e-3) for name, m in models.items()}
        if threads:                                      # after the models: numba's first use resets it
            torch.set_num_threads(threads)
        times = {name: [] for name in names}
        for name in names:                                     # warm-up: kernels compiled, caches filled
            run_epoch(models[name], optims[name], x_train[:1000], "mnist", 100,
                      epoch_generator(seed, 0, 0, device))
        for rep in range(repeats):
            for name in names:
                _sync(device)
                t0 = time.perf_counter()
                run_epoch(models[name], optims[name], x_train, "mnist", 100,
                          epoch_generator(seed, rep + 1, 0, device))
                _sync(device)
                times[name].append(time.perf_counter() - t0)
        base = min(times["gaussian"]) if "gaussian" in times else None
        for name in names:
            best = min(times[name])
            rows.append({"arch": arch, "latent": name, "hidden": hidden, "epoch_seconds": best,
                         "all_seconds": times[name], "images": int(x_train.shape[0]),
                         "ratio_to_gaussian": best / base if base else None})
    return rows


def time_evaluation(names, hidden, n_images, k, x_test, seed=0, device=torch.device("cpu"), threads=None):
    """Seconds of a k-sample evaluation of ``n_images`` test images, linear architecture, interleaved."""
    from vae.evaluate import iwae_nll
    from vae.train import epoch_generator

    x = x_test[:n_images]
    models = {name: _model(name, "linear", hidden, seed, device) for name in names}
    if threads:
        torch.set_num_threads(threads)
    seconds = {}
    for name, model in models.items():
        iwae_nll(model, x[:10], 10, generator=epoch_generator(seed, 0, 2, device))   # warm-up
        _sync(device)
        t0 = time.perf_counter()
        iwae_nll(model, x, k, generator=epoch_generator(seed, k, 2, device), progress=sys.stderr.isatty())
        _sync(device)
        seconds[name] = time.perf_counter() - t0
    base = seconds.get("gaussian")
    return [{"latent": name, "arch": "linear", "hidden": hidden, "k": k, "images": int(len(x)),
             "seconds": sec, "samples_per_second": len(x) * k / sec,
             "ratio_to_gaussian": sec / base if base else None} for name, sec in seconds.items()]


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
    p.add_argument("--priors", default="paper,dgauss",
                   help="prior families of the Gaussian-proxy latents (paper, dgauss)")
    p.add_argument("--eager", action="store_true",
                   help="also time each prior's eager reference formulation (rows */<prior>-eager)")
    p.add_argument("--torch-step", action="store_true",
                   help="also time each proxy latent with its proxy KL as torch operations (rows */<prior>-torch-step: "
                        "layer.use_kernels(step='torch'))")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    return p


@cli_main("python -m benchmarks.training")
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"{parser.prog}: error: --device cuda was requested but torch {torch.__version__} sees no "
              "CUDA device; use --device cpu", file=sys.stderr)
        return 2
    from vae import data
    from vae.latents import LATENTS
    from vae.models import ARCHS
    from vae.priors import prior_families

    try:
        latents = _list(args.latents, list(LATENTS), "latent")
        if "gaussian" not in latents:
            latents = ["gaussian", *latents]                   # the baseline of every ratio
        archs = _list(args.archs, list(ARCHS), "arch")
        eval_latents = _list(args.eval_latents, list(LATENTS), "latent")
        if "gaussian" not in eval_latents:
            eval_latents = ["gaussian", *eval_latents]
        priors = _list(args.priors, prior_families(), "prior")
        if args.device not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {args.device!r}; valid: cpu, cuda")
        if args.threads is not None and args.threads < 1:
            raise ValueError(f"--threads must be positive, got {args.threads}")
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
    device = torch.device(args.device)
    x_train, x_test = x_train.to(device), x_test.to(device)
    names = variants(latents, priors, args.eager, args.torch_step)
    epochs = time_epochs(names, archs, args.hidden, args.repeats, x_train, args.seed, device, args.threads)
    evaluation = (time_evaluation(variants(eval_latents, priors, args.eager), args.hidden, args.eval_images,
                                  args.eval_k, x_test, args.seed, device, args.threads)
                  if args.eval_images > 0 else [])
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    report = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "device": str(device), "card": card,
                    "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "epochs": epochs,
        "evaluation": evaluation,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    m = report["machine"]
    print(f"MNIST epoch ({report['epochs'][0]['images']} images, batch 100), hidden {args.hidden}, "
          f"best of {args.repeats}; {m['device']}{' (' + card + ')' if card else ''}, {m['threads']} torch "
          f"threads, load average {m['load_average']}")
    print(f"{'arch':<8} {'latent':<18} {'epoch s':>8} {'x gaussian':>10}")
    for r in report["epochs"]:
        print(f"{r['arch']:<8} {r['latent']:<18} {r['epoch_seconds']:>8.2f} {r['ratio_to_gaussian']:>10.2f}")
    for r in report["evaluation"]:
        print(f"evaluation k={r['k']}, {r['images']} test images, {r['latent']} linear {r['hidden']}: "
              f"{r['seconds']:.1f} s ({r['samples_per_second']:.3g} samples/s), "
              f"{r['ratio_to_gaussian']:.2f} x gaussian")
    return 0


if __name__ == "__main__":
    sys.exit(main())
