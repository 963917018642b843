r"""Train a VAE with a lattice (or baseline) latent: ``python -m vae.train``.

The paper's protocol (Sec. 4.1): Adam; the learning rate is halved when the validation loss
has not improved for ``--patience-halve`` (50) epochs, and training stops after
``--patience-stop`` (200) epochs without improvement.  The paper sets no epoch limit; here
``--max-epochs`` caps the total, and ``--epochs`` limits how many epochs this invocation runs
(a later ``--resume`` continues).

The validation loss is the single-sample test bound of the *evaluated* model: for lattice
latents the real quantized model of Sec. 3.6.3, (9) + (10), one dither per image.

A run directory holds

* ``config.json``: the training and model configuration;
* ``checkpoint.pt``: everything needed to continue (weights, Adam state, learning rate,
  schedule counters, metrics), rewritten atomically after every epoch: an interruption
  loses at most the epoch in progress;
* ``best.pt``: the weights of the best validation epoch (what :mod:`vae.evaluate` uses);
* ``metrics.jsonl``: one JSON line per epoch (train loss parts, validation NLL, lr, time);
* ``summary.json``: the outcome (best epoch, best validation NLL, why it stopped);
* ``networks.pt``: the structure of custom encoder/decoder networks (``train(model=...)``).

Observability (:mod:`vae.callbacks`): one INFO line per epoch on the ``logging`` logger
``"vae.train"``; ``callbacks`` with ``on_step`` / ``on_epoch_end`` / ``on_train_end``;
``--tensorboard DIR`` (the optional ``tensorboard`` extra).

Your own model: ``train(config, out, model=VAE(ModelConfig(...), encoder=..., decoder=...))``
trains it with this protocol (``config.model`` is taken from the model).

Randomness: the weights are initialized from ``--seed``; epoch ``t`` draws its batch order,
OMNIGLOT binarization, dithers and noise from a generator seeded by ``(seed, t)``, so a
resumed run produces the same numbers as an uninterrupted one.  A non-finite loss stops
the run with exit code 3 and keeps the last good checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lattices.cli import ArgumentParser, DefaultsHelpFormatter, cli_main, count, positive_count, positive_float
from lattices.utils.io import atomic_write_text

from . import data as vdata
from .callbacks import CallbackList, TensorBoardCallback, format_epoch, log_to_stderr
from .checkpoints import (BEST_KEYS, load_checkpoint, load_with_fallback, previous_path,
                          remove_stale_temporaries, save_checkpoint)
from .latents import LATENTS
from .models import ARCHS, VAE, ModelConfig, load_networks, model_for_state, save_networks
from .runs import (BEST, CHECKPOINT, CONFIG, METRICS, SUMMARY, TrainConfig,  # noqa: F401  (re-exported)
                   _positive_int, load_run)

__all__ = ["TrainConfig", "TrainingDiverged", "train", "run_epoch", "make_optimizer", "build_parser", "main", "epoch_generator",
           "resolve_device", "load_run"]

_FORMAT = 1
#: Named, not ``__name__``: under ``python -m vae.train`` the module is ``__main__``, whose logger
#: is outside the ``vae`` hierarchy that :func:`vae.callbacks.log_to_stderr` shows.
logger = logging.getLogger("vae.train")


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda when available else cpu; ``cuda`` without a GPU is a ValueError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but torch sees no CUDA device; use auto or cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; valid: auto, cpu, cuda")
    return torch.device(device)


def epoch_generator(seed: int, epoch: int, stream: int = 0, device="cpu") -> torch.Generator:
    """The generator of epoch ``epoch`` (stream 0: training, 1: validation), from ``(seed, epoch)``."""
    state = np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(1, np.uint64)[0]
    g = torch.Generator(device=device)
    g.manual_seed(int(state) & ((1 << 63) - 1))
    return g


def make_optimizer(model, lr: float) -> torch.optim.Optimizer:
    """Adam (Sec. 4.1), multi-tensor update (``foreach``: one kernel per step, not one per tensor)."""
    return torch.optim.Adam(model.parameters(), lr=lr, foreach=True)


def _limit(x: torch.Tensor, n: int | None) -> torch.Tensor:
    return x if n is None else x[:n]


def _save(path: Path, obj) -> None:
    save_checkpoint(path, obj, keep_previous=Path(path).name == CHECKPOINT)


def _write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


@torch.no_grad()
def validation_nll(model: VAE, x: torch.Tensor, batch_size: int, generator) -> float:
    """Mean single-sample bound -log w (nats) of the evaluated model over ``x``."""
    model.eval()
    total = 0.0
    for start in range(0, x.shape[0], batch_size):
        total += float(-model.log_weights(x[start:start + batch_size], 1, generator).sum())
    model.train()
    return total / x.shape[0]


def _progress(iterable, total, desc, enabled):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def train(config: TrainConfig, out, *, resume: bool = False, epochs: int | None = None,
          device: str = "auto", data_dir=None, progress: bool = True, callbacks=None,
          model: VAE | None = None) -> dict:
    """Train (or continue) the run in ``out``; returns the summary dict.

    ``epochs``: run at most this many epochs in this call (``None``: until the schedule stops
    or ``max_epochs``).  ``resume``: continue from ``out/checkpoint.pt`` (the saved
    configuration is used; ``config`` only supplies ``max_epochs``).  ``callbacks``: objects
    with ``on_step`` / ``on_epoch_end`` / ``on_train_end`` (:mod:`vae.callbacks`).
    ``model``: train this :class:`~vae.models.VAE` (e.g. with your own encoder and decoder)
    instead of building one from ``config.model``; its initial weights are yours (seed before
    building it).  Custom networks are recorded in ``out/networks.pt`` so that
    :func:`load_run`, ``vae.evaluate`` and a resume without ``model`` can rebuild them.
    """
    out = Path(out)
    hooks = CallbackList(callbacks)
    if model is not None:
        if not isinstance(model, VAE):
            raise TypeError(f"model must be a vae.models.VAE, got {type(model).__name__}")
        config = dataclasses.replace(config, model=model.config.to_dict())
    dev = resolve_device(device)
    if epochs is not None:
        _positive_int("epochs", epochs)
    ckpt_path = out / CHECKPOINT
    if resume:
        state, config = _resume_state(out, config, dev, logger.info)
        if model is not None and config.model != model.config.to_dict():
            raise ValueError(f"--resume: the model passed ({model.config.to_dict()}) is not the one of "
                             f"the run in {out} ({config.model})")
    else:
        if ckpt_path.exists() or previous_path(ckpt_path).exists():
            raise FileExistsError(f"{out} already holds a run ({CHECKPOINT}); continue it with "
                                  f"resume=True (command line: --resume) or choose another output folder")
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(20, "Not a directory (--out must be a run folder)", str(out))
        check_new_run_folder(out, config)
        state = None
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out, RUN_FILES)
    if not (out / CONFIG).exists() or _read_json(out / CONFIG) != config.to_dict():
        _write_json(out / CONFIG, config.to_dict())

    x_train = _limit(vdata.load_dataset(config.dataset, "train", data_dir), config.train_limit).to(dev)
    x_valid = _limit(vdata.load_dataset(config.dataset, "valid", data_dir), config.valid_limit).to(dev)

    if model is None:
        torch.manual_seed(config.seed)                   # weight initialization
        model_config = ModelConfig.from_dict(config.model)
        model = model_for_state(model_config, state and state["model"],
                                **load_networks(out, model_config)).to(dev)
    else:
        model = model.to(dev)
        if state is None:
            _record_networks(model, out)
    optimizer = make_optimizer(model, config.lr)
    if state is None:
        state = {"epoch": 0, "lr": config.lr, "best_val": math.inf, "best_epoch": 0,
                 "since_best": 0, "history": [], "stop_reason": None}
    else:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _repair_best(out, state, config, model)
    _rewrite_metrics(out, state["history"])
    for group in optimizer.param_groups:
        group["lr"] = state["lr"]

    def snapshot():
        return {"format": _FORMAT, "train_config": config.to_dict(), "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                **{k: state[k] for k in ("epoch", "lr", "best_val", "best_epoch", "since_best",
                                         "history", "stop_reason")}}

    def write_summary(reason):
        summary = {"stop_reason": reason, "epochs": state["epoch"], "best_epoch": state["best_epoch"],
                   "best_valid_nll": state["best_val"] if math.isfinite(state["best_val"]) else None,
                   "final_lr": state["lr"], "seed": config.seed, "dataset": config.dataset,
                   **{k: config.model[k] for k in ("latent", "hidden")},
                   "arch": ModelConfig.from_dict(config.model).arch_label,
                   "device": str(dev), "torch": torch.__version__,
                   "train_seconds": sum(h["time_s"] for h in state["history"])}
        _write_json(out / SUMMARY, summary)
        return summary

    try:
        reason = _run_epochs(model, optimizer, config, state, x_train, x_valid, out, dev, epochs,
                             progress, hooks, snapshot)
    except TrainingDiverged:
        hooks.on_train_end(write_summary("non_finite_loss"))
        raise
    if reason is not None and state["stop_reason"] is None:
        state["stop_reason"] = reason
        _save(ckpt_path, snapshot())
    summary = write_summary(reason or "epochs_this_call")
    hooks.on_train_end(summary)
    return summary


def _record_networks(model: VAE, out: Path) -> None:
    """``out/networks.pt`` for custom networks; a warning where their class cannot be recorded."""
    try:
        save_networks(model, out)
    except ValueError as exc:
        logger.warning("the custom networks cannot be recorded in %s (%s): resuming and evaluating "
                       "this run will need the model passed again (train(model=...))", out, exc)


#: every file vae.train writes in a run folder (their stale temporaries are removed at start)
RUN_FILES = (CHECKPOINT, BEST, CONFIG, METRICS, SUMMARY, previous_path(CHECKPOINT).name)


def check_new_run_folder(out: Path, config: TrainConfig) -> None:
    """A new run may start in ``out`` only if nothing there would be replaced: no file named like a
    run file (:data:`RUN_FILES`), except a ``config.json`` that is this very configuration (a run
    interrupted before its first epoch, started again).  A user's own ``config.json``, or the
    config of another run, is refused (``FileExistsError`` naming it), never overwritten."""
    if not out.is_dir():
        return
    for name in RUN_FILES:
        path = out / name
        if not path.exists():
            continue
        if name == CONFIG:
            saved = _read_json(path)
            if saved == config.to_dict():
                continue
            if isinstance(saved, dict) and "model" in saved:
                raise FileExistsError(f"{path} exists and is the configuration of another run (no "
                                      f"{CHECKPOINT} yet); a new run would replace it: choose another "
                                      f"output folder")
            raise FileExistsError(f"{path} exists and is not a run's configuration (a file of yours?); "
                                  f"a new run would replace it: choose another output folder")
        raise FileExistsError(f"{path} exists but {out} holds no {CHECKPOINT}; a new run would replace "
                              f"it: choose another output folder")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _best_state(config, model, epoch, val) -> dict:
    return {"format": _FORMAT, "train_config": config.to_dict(), "model": model.state_dict(),
            "epoch": epoch, "valid_nll": val}


def _resume_state(out: Path, config: TrainConfig, dev, log) -> tuple[dict, TrainConfig]:
    """The checkpoint to continue (falling back to the kept previous one if it is corrupt) and
    the saved configuration with the schedule keys of ``config`` (see :mod:`vae.resume`)."""
    from .resume import OVERRIDABLE

    ckpt_path = out / CHECKPOINT
    if not ckpt_path.exists() and not previous_path(ckpt_path).exists():
        raise FileNotFoundError(f"--resume: no {CHECKPOINT} in {out} (nothing to resume)")
    remove_stale_temporaries(out, RUN_FILES)
    state, _ = load_with_fallback(ckpt_path, dev, log)
    saved = TrainConfig.from_dict(state["train_config"])
    config = dataclasses.replace(saved, **{k: getattr(config, k) for k in OVERRIDABLE})
    reason = state["stop_reason"]
    if reason == "max_epochs" and state["epoch"] < config.max_epochs:
        state["stop_reason"] = None                  # resumed with a higher max_epochs
    elif reason == "no_improvement" and state["since_best"] < config.patience_stop:
        state["stop_reason"] = None                  # resumed with a larger patience_stop
    elif reason is not None:
        log(f"{out}: the run has finished ({reason}, epoch {state['epoch']}); nothing to do. "
            f"To train on, raise the limit: --override max_epochs=N or patience_stop=N")
    return state, config


def _repair_best(out: Path, state: dict, config, model) -> None:
    """Make ``best.pt`` agree with the checkpoint.  A kill between the two writes leaves
    ``best.pt`` one improvement behind; the checkpoint's weights are then the best ones."""
    best = out / BEST
    try:
        best_epoch = load_checkpoint(best, "cpu", BEST_KEYS)["epoch"] if best.exists() else None
    except ValueError:
        best_epoch = None
    if best_epoch != state["best_epoch"] and state["best_epoch"] == state["epoch"] > 0:
        _save(best, _best_state(config, model, state["epoch"], state["best_val"]))


def _rewrite_metrics(out: Path, history) -> None:
    """``metrics.jsonl`` = the checkpoint's history: drops lines of epochs a kill lost."""
    text = "".join(json.dumps(h, sort_keys=True) + "\n" for h in history)
    path = out / METRICS
    if not path.exists() or path.read_text() != text:
        atomic_write_text(path, text)


def _append_metrics(out: Path, record: dict) -> None:
    """Append one epoch's line to ``metrics.jsonl`` (a partial line left by a kill is rewritten
    from the checkpoint by :func:`_rewrite_metrics` on the next start)."""
    with open(out / METRICS, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def run_epoch(model, optimizer, x_train, dataset, batch_size, generator, desc=None,
              on_diverge="", on_step=None) -> tuple[dict, float]:
    """One pass of Adam over ``x_train`` (shuffled, OMNIGLOT re-binarized, from ``generator``).

    Returns the per-image means of the loss parts and the wall time in seconds.
    Raises :class:`TrainingDiverged` at the first non-finite loss.  ``on_step(batch_index,
    terms)``, if given, is called after each optimizer step with the detached batch means.
    """
    sums: dict[str, torch.Tensor] = {}
    n_batches = math.ceil(x_train.shape[0] / batch_size)
    t0 = time.perf_counter()
    batches = vdata.batches(dataset, "train", batch_size, generator=generator, data=x_train)
    for i, x in enumerate(_progress(batches, n_batches, desc, desc is not None)):
        terms = model(x, generator=generator)
        loss = terms["loss"]
        if not torch.isfinite(loss):
            parts = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items()
                              if k != "per_example_loss")
            raise TrainingDiverged(f"{desc or 'training'}: the training loss became "
                                   f"{float(loss.detach())} (parts: {parts}). {on_diverge}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on_step is not None:
            on_step(i, {k: v.detach() for k, v in terms.items() if k != "per_example_loss"})
        for key, value in terms.items():        # summed on the device: no host sync per part
            if key != "per_example_loss":
                sums[key] = sums.get(key, 0.0) + value.detach().double() * x.shape[0]
    seconds = time.perf_counter() - t0
    return {k: float(v) / x_train.shape[0] for k, v in sums.items()}, seconds


def _run_epochs(model, optimizer, config, state, x_train, x_valid, out, dev, epochs, progress, hooks,
                snapshot):
    """The epoch loop of :func:`train`; returns the stop reason (None: ``epochs`` reached)."""
    ckpt_path = out / CHECKPOINT
    ran = 0
    reason = state["stop_reason"]
    model.train()
    while reason is None:
        if state["epoch"] >= config.max_epochs:
            reason = "max_epochs"
            break
        if epochs is not None and ran >= epochs:
            reason = None
            break
        epoch = state["epoch"] + 1
        gen = epoch_generator(config.seed, epoch, 0, dev)
        sums, train_time = run_epoch(model, optimizer, x_train, config.dataset, config.batch_size, gen,
                                     desc=f"epoch {epoch}" if progress else None,
                                     on_diverge=f"Stopped; the last good checkpoint (epoch {epoch - 1}) "
                                                f"is kept in {out}. Try a smaller --lr.",
                                     on_step=_step_hook(hooks, epoch, x_train.shape[0], config.batch_size))
        val = validation_nll(model, x_valid, max(config.batch_size, 500),
                             epoch_generator(config.seed, epoch, 1, dev))
        if not math.isfinite(val):
            raise TrainingDiverged(f"epoch {epoch}: the validation NLL is {val}; the last good "
                                   f"checkpoint (epoch {epoch - 1}) is kept in {out}.")
        improved = val < state["best_val"]
        if improved:
            state.update(best_val=val, best_epoch=epoch, since_best=0)
        else:
            state["since_best"] += 1
            if state["since_best"] % config.patience_halve == 0:      # Sec. 4.1: halve the lr
                state["lr"] /= 2
                for group in optimizer.param_groups:
                    group["lr"] = state["lr"]
        record = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "valid_nll": val,
                  "time_s": train_time, **{f"train_{k}": v for k, v in sums.items()}}
        state["history"].append(record)
        state["epoch"] = epoch
        if state["since_best"] >= config.patience_stop:
            state["stop_reason"] = reason = "no_improvement"
        _save(ckpt_path, snapshot())          # first the checkpoint, then best.pt: never ahead of it
        if improved:
            _save(out / BEST, _best_state(config, model, epoch, val))
        _append_metrics(out, record)
        ran += 1
        logger.info(format_epoch(record))
        hooks.on_epoch_end(dict(record))
    return reason


def _step_hook(hooks: CallbackList, epoch: int, n_train: int, batch_size: int):
    """``run_epoch``'s ``on_step`` for the callbacks (None without any): steps count from the
    start of the run, ``(epoch - 1) * batches_per_epoch + batch + 1``, so they continue on resume."""
    if not hooks.wants_steps:
        return None
    first = (epoch - 1) * math.ceil(n_train / batch_size)
    return lambda i, terms: hooks.on_step(epoch=epoch, step=first + i + 1, terms=terms)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m vae.train", description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("--dataset", default="mnist", help=f"one of {', '.join(vdata.DATASETS)}")
    p.add_argument("--latent", default="e8", help=f"one of {', '.join(LATENTS)}")
    p.add_argument("--arch", default="linear", help=f"one of {', '.join(ARCHS)}")
    p.add_argument("--hidden", type=positive_count, default=32, help="latent size m (paper: 16, 24, 32, 200)")
    p.add_argument("--gate-width", type=positive_count, default=300, help="width of the gated layer (gated arch)")
    p.add_argument("--latent-option", action="append", default=[], metavar="KEY=VALUE",
                   help="option of the latent layer (JSON value), e.g. alpha=2.0; repeatable")
    p.add_argument("--epochs", type=positive_count, default=None,
                   help="run at most this many epochs in this call; without it, until the schedule stops")
    p.add_argument("--max-epochs", type=positive_count, default=1000, help="cap on the total number of epochs")
    p.add_argument("--patience-halve", type=positive_count, default=50,
                   help="halve the lr after this many epochs without improvement")
    p.add_argument("--patience-stop", type=positive_count, default=200,
                   help="stop after this many epochs without improvement")
    p.add_argument("--batch-size", type=positive_count, default=100, help="images per Adam step")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam's initial learning rate")
    p.add_argument("--seed", type=count, default=0,
                   help="seed of the weights and of every epoch's batch order, dithers and noise")
    p.add_argument("--train-limit", type=positive_count, default=None,
                   help="use only the first N training images; without it, all")
    p.add_argument("--valid-limit", type=positive_count, default=None,
                   help="use only the first N validation images; without it, all")
    p.add_argument("--config", default=None, metavar="CONFIG_JSON",
                   help="start a new run from a saved RUN/config.json (flags given explicitly replace its values)")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="with --resume: change the schedule of the run (max_epochs, patience_halve, "
                        "patience_stop); other flags must match the saved config")
    p.add_argument("--out", required=True, help="run folder (created; a new run never replaces files there)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where to train; auto: cuda when torch sees one, else cpu")
    p.add_argument("--data-dir", default=None,
                   help="folder with the data sets; without it, $LRL_DATA_DIR or ../shared/data")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also write TensorBoard scalars to DIR (needs the tensorboard extra); without it, none")
    p.add_argument("--quiet", action="store_true", help="no per-epoch log lines on stderr")
    return p


def _latent_options(items) -> dict:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--latent-option must be KEY=VALUE, got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _configs(args, explicit) -> TrainConfig:
    """The TrainConfig asked for: the flags, or ``--config`` with the explicit flags on top."""
    from .resume import apply_explicit, load_config_file, unknown_config_keys

    options = _latent_options(args.latent_option)
    try:
        model = ModelConfig(latent=args.latent, arch=args.arch, hidden=args.hidden,
                            gate_width=args.gate_width, latent_options=options)
    except ValueError as exc:
        for name in ("hidden", "gate_width"):            # name the flag the user typed
            if str(exc).startswith(f"{name} "):
                raise ValueError(f"--{name.replace('_', '-')}{str(exc)[len(name):]}") from None
        if not options:
            raise
        raise ValueError(f"--latent-option {' '.join(args.latent_option)}: {exc}") from None
    config = TrainConfig(dataset=args.dataset, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         max_epochs=args.max_epochs, patience_halve=args.patience_halve,
                         patience_stop=args.patience_stop, train_limit=args.train_limit,
                         valid_limit=args.valid_limit, model=model.to_dict())
    if args.config is None:
        return config
    if args.resume:
        raise ValueError("--config starts a new run; --resume continues the saved one: give only one")
    base = load_config_file(args.config)
    unknown = unknown_config_keys(base, TrainConfig) + [f"model.{k}" for k in
                                                        unknown_config_keys(base["model"], ModelConfig)]
    if unknown:
        raise ValueError(f"--config {args.config}: unknown keys {', '.join(unknown)}")
    missing = [k for k in REQUIRED_CONFIG_KEYS if k not in base] + [
        f"model.{k}" for k in REQUIRED_MODEL_KEYS if k not in base["model"]]
    if missing:
        raise ValueError(f"--config {args.config} lacks {', '.join(missing)}: a run's config.json names "
                         f"its data set and model; add them (nothing is filled in from defaults)")
    return TrainConfig.from_dict(apply_explicit(base, config.to_dict(), explicit))


#: Keys a ``--config`` file must state (the rest of a run's configuration has defaults that do
#: not change what is modelled: the schedule, the limits).
REQUIRED_CONFIG_KEYS = ("dataset",)
REQUIRED_MODEL_KEYS = ("latent", "arch", "hidden")


def check_model_memory(model_dict: dict) -> None:
    """Refuse, before anything is allocated, a model whose weights, gradients and Adam moments
    (4 float32 copies of every weight of the built-in networks) do not fit in memory; the
    message names the flags that set the size."""
    from lattices.cli import check_memory

    m = ModelConfig.from_dict(model_dict)
    width = 2 * m.hidden + m.input_dim                     # encoder out (<= 2 m) + decoder in/out
    if m.arch == "gated":
        weights = 2 * (2 * m.input_dim * m.gate_width + m.gate_width * width)
    else:
        weights = 2 * m.input_dim * width
    check_memory(16.0 * weights, f"--hidden {m.hidden}" + (f" --gate-width {m.gate_width}"
                                                            if m.arch == "gated" else ""))


def _check_latent_options(model_dict: dict) -> None:
    """Check the options (typed, :meth:`vae.latents.LatentLayer.check_options`) and build the model
    once, so that a bad ``--latent-option`` is a clear error before any data."""
    try:
        VAE(ModelConfig.from_dict(model_dict))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--latent-option: {exc}") from None


def _saved_config(out: Path) -> dict:
    """The saved configuration of the run in ``out``: ``config.json``, or, where that file is
    missing or unreadable, the copy every checkpoint holds (a warning says so; the run keeps its
    own schedule, never the command line's defaults)."""
    saved = _read_json(out / CONFIG)
    if isinstance(saved, dict) and isinstance(saved.get("model"), dict):
        return saved
    ckpt = out / CHECKPOINT
    if not ckpt.exists() and not previous_path(ckpt).exists():
        raise FileNotFoundError(f"--resume: no {CHECKPOINT} in {out} (nothing to resume)")
    state, _ = load_with_fallback(ckpt, "cpu", logger.info)
    logger.warning("%s is missing or unreadable; the run's configuration is read from its checkpoint "
                   "and %s is restored from it", out / CONFIG, CONFIG)
    return state["train_config"]


def _reconcile_resume(args, config: TrainConfig, explicit) -> TrainConfig:
    """On ``--resume``: the conflicts of the explicit flags with the saved config are an error;
    the schedule keys may change (``--override`` or ``--max-epochs``)."""
    from .resume import OVERRIDABLE, config_conflicts, parse_overrides

    saved_dict = _saved_config(Path(args.out))
    overrides = {k: getattr(config, k) for k in OVERRIDABLE if k in explicit}
    for key, value in parse_overrides(args.override).items():
        if key in overrides and overrides[key] != value:
            raise ValueError(f"--{key.replace('_', '-')} {overrides[key]} and --override {key}={value} "
                             f"disagree: give one of them")
        overrides[key] = value
    conflicts = config_conflicts(saved_dict, config.to_dict(), explicit)
    if conflicts:
        raise ValueError(f"--resume: {len(conflicts)} flag(s) contradict the saved config of {args.out}: "
                         f"{'; '.join(conflicts)}. Drop them (the run keeps its config), or start a new "
                         f"run with --config {Path(args.out) / CONFIG} --out NEW and the changed flags; "
                         f"what may change on resume: --override {'|'.join(OVERRIDABLE)}=N")
    saved = TrainConfig.from_dict(saved_dict)
    return dataclasses.replace(saved, **{k: overrides.get(k, getattr(saved, k)) for k in OVERRIDABLE})


@cli_main("python -m vae.train")
def main(argv=None) -> int:
    from .resume import explicit_dests, parse_overrides

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    explicit = explicit_dests(parser, argv)
    if args.override and not args.resume:
        parse_overrides(args.override)
        raise ValueError("--override changes a saved run: use it with --resume (a new run takes the flags)")
    config = _configs(args, explicit)
    vdata.check_data_dir(args.data_dir)
    if args.resume:
        config = _reconcile_resume(args, config, explicit)
    else:
        check_model_memory(config.model)
        _check_latent_options(config.model)      # bad latent options fail here, before any data is read
    callbacks = [] if args.tensorboard is None else [TensorBoardCallback(args.tensorboard)]
    log_to_stderr("vae", logging.WARNING if args.quiet else logging.INFO)
    resume_cmd = f"python -m vae.train --out {args.out} --resume"
    try:
        summary = train(config, args.out, resume=args.resume, epochs=args.epochs, device=args.device,
                        data_dir=args.data_dir, progress=not args.no_progress, callbacks=callbacks)
    except TrainingDiverged as exc:
        print(f"{parser.prog}: stopped: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        if (Path(args.out) / CHECKPOINT).exists():
            print(f"{parser.prog}: interrupted; every finished epoch is saved. Continue with: {resume_cmd}",
                  file=sys.stderr)
        else:
            print(f"{parser.prog}: interrupted before the first epoch finished; nothing to resume: "
                  f"run the same command again", file=sys.stderr)
        return 130
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
