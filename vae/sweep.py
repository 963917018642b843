r"""Run a grid of training runs on Dask: ``python -m vae.sweep CONFIG [--workers N]``.

A sweep is the product datasets × archs × hidden sizes × latents × learning rates × seeds; each
point is one call of the library, :func:`vae.train.train` then :func:`vae.evaluate.evaluate_run`,
in its own run directory named from its parameters::

    OUT/mnist/linear/h32/e8/lr0.001/seed0/{config.json, checkpoint.pt, best.pt, metrics.jsonl,
                                           summary.json, eval.json}

Two protocols:

* ``grid``: every point is run.
* ``paper`` (Sec. 4.1): per configuration (dataset, arch, hidden, latent) the learning rates are
  scanned ``scan_repeats`` times (the paper: 7 rates × 2 = 14 runs, here with seeds
  ``0 .. scan_repeats-1`` at every rate), the rate whose scan run has the best validation NLL is
  selected, and ``further_runs`` more seeds (the paper: 16, here seeds ``scan_repeats ..``) run at
  that rate.  The run reported is the one with the best validation NLL of all of them.

Optional last phase, ``best_eval`` (the paper reports k = 10^4 only for the chosen run): when
every run is done, the best-validation run of each configuration is evaluated once more with
the ``best_eval`` options (e.g. ``{"samples": [100, 10000], "limit": 1000, "subset": "spread"}``:
k = 10^4 on 1000 test images evenly spaced over the test set, affordable where k = 10^4 on every
run is not).  The results go into the
run's ``eval.json`` under their own key and into ``sweep.json``'s selection; a restart evaluates
only what is missing.

Restart semantics: a run is *finished* when its ``summary.json`` says it stopped
(``no_improvement``, ``max_epochs`` at the configured cap, or ``non_finite_loss``) and its
``eval.json`` holds every requested k, written after the summary; a finished run is skipped.
An unfinished run with a ``checkpoint.pt`` is resumed (``resume=True``, bit-identical to an
uninterrupted run), e.g. after an interruption or after raising ``max_epochs``.  A run
directory whose ``config.json`` differs from the sweep's (other than ``max_epochs``) is an
error for that run, never silently reused.

One failed run does not stop the others: its error is recorded in ``failed.json`` and in
``sweep.json`` (rewritten atomically after every finished run), and the exit code is 1.
A bad configuration is exit code 2 with a message naming the key and the valid values.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shlex
import sys
import time
import tomllib
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lattices.utils.io import atomic_write_text, file_sha256
from lattices.cli import ArgumentParser, DefaultsHelpFormatter, check_at_most, cli_main, output_dir, positive_count

__all__ = ["SweepConfig", "RunSpec", "load_config", "parse_config", "plan_grid", "plan_scan",
           "plan_further", "select_lr", "run_dir_name", "run_status", "current_results", "run_task", "run_sweep",
           "build_parser", "main"]

PROTOCOLS = ("grid", "paper")
SWEEP, FAILED = "sweep.json", "failed.json"
#: the paper's seven learning rates (Sec. 4.1)
PAPER_LEARNING_RATES = (1e-4, 3e-4, 5e-4, 7e-4, 1e-3, 3e-3, 5e-3)
_TRAIN_KEYS = ("max_epochs", "patience_halve", "patience_stop", "batch_size", "train_limit",
               "valid_limit")
_EVAL_KEYS = ("samples", "limit", "subset", "split", "seed", "batch_size", "max_elements")
_MODEL_KEYS = ("gate_width", "latent_options")
_TOP_KEYS = ("out", "protocol", "datasets", "archs", "hidden", "latents", "learning_rates", "seeds",
             "scan_repeats", "further_runs", "train", "eval", "best_eval", "model", "device",
             "data_dir", "description")
_STOPPED = ("no_improvement", "max_epochs", "non_finite_loss")

#: The most runs one sweep may plan, checked before the grid is expanded (``seeds = 3000000``
#: used to hang ``--dry-run``).  ``sweep.json`` lists every run (about 0.5 kB each) and is
#: rewritten after each one finishes, so its writes grow with the square of the runs: 25 GB over
#: a sweep of 10 000 runs, 2.5 TB over one of 100 000.  The paper's whole protocol (30 runs per
#: configuration, Sec. 4.1) over every configuration of its tables is about 3400 runs.
MAX_RUNS = 10_000
_MAX_RUNS_WHY = ("sweep.json lists every run and is rewritten after each one; the paper's whole "
                 "protocol is about 3400 runs: split a larger grid into several sweeps")


# ----------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep description (see ``docs/sweeps.md`` for the file format)."""

    out: str
    protocol: str = "grid"
    datasets: tuple = ("mnist",)
    archs: tuple = ("linear",)
    hidden: tuple = (32,)
    latents: tuple = ("gaussian",)
    learning_rates: tuple = (1e-3,)
    seeds: tuple = (0,)                       # grid protocol
    scan_repeats: int = 2                     # paper protocol: each rate is tried this many times
    further_runs: int = 16                    # paper protocol: more seeds at the selected rate
    train: dict = field(default_factory=dict)   # TrainConfig budget fields
    eval: dict = field(default_factory=dict)    # evaluate_run options
    best_eval: dict = field(default_factory=dict)   # evaluate_run options for the reported runs
    model: dict = field(default_factory=dict)   # gate_width, latent_options {latent: {...}}
    device: str = "auto"
    data_dir: str | None = None
    description: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def configurations(self):
        """The (dataset, arch, hidden, latent) tuples, in a fixed order."""
        return [(d, a, h, l) for d in self.datasets for a in self.archs for h in self.hidden
                for l in self.latents]


@dataclass(frozen=True)
class RunSpec:
    """One training run: its parameters and the phase of the protocol it belongs to."""

    dataset: str
    arch: str
    hidden: int
    latent: str
    lr: float
    seed: int
    phase: str = "grid"                       # grid | scan | further

    @property
    def configuration(self) -> tuple:
        return (self.dataset, self.arch, self.hidden, self.latent)

    def params(self) -> dict:
        return {"dataset": self.dataset, "arch": self.arch, "hidden": self.hidden,
                "latent": self.latent, "lr": self.lr, "seed": self.seed}


def _bad(key, value, valid) -> ValueError:
    return ValueError(f"config key {key!r}: bad value {value!r}; valid: {valid}")


def _int_list(key, value, minimum=1) -> tuple:
    items = value if isinstance(value, list) else [value]
    if not items or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in items):
        raise _bad(key, value, f"a non-empty list of integers >= {minimum}")
    if len(set(items)) != len(items):
        raise _bad(key, value, "a list without repeated values")
    return tuple(items)


def _name_list(key, value, valid) -> tuple:
    items = value if isinstance(value, list) else [value]
    if not items or any(not isinstance(v, str) or v.lower() not in valid for v in items):
        raise _bad(key, value, f"a non-empty list of names from {', '.join(valid)}")
    items = [v.lower() for v in items]
    if len(set(items)) != len(items):
        raise _bad(key, value, "a list without repeated names")
    return tuple(items)


def _check_keys(where, d, allowed):
    if not isinstance(d, dict):
        raise ValueError(f"config {where}: expected a table/object, got {d!r}")
    unknown = [k for k in d if k not in allowed and not str(k).startswith("_")]
    if unknown:
        raise ValueError(f"config {where}: unknown key(s) {', '.join(map(repr, unknown))}; valid: "
                         f"{', '.join(allowed)} (keys starting with '_' are comments)")


def _parse_eval(section: str, given, defaults: dict, splits) -> dict:
    """An ``eval``-like section: ``defaults`` updated with ``given``, every value checked."""
    _check_keys(f"section {section!r}", given, _EVAL_KEYS)
    ev = {**defaults, **given}
    ev["samples"] = list(_int_list(f"{section}.samples", ev["samples"]))
    if ev["limit"] is not None:
        _int_list(f"{section}.limit", ev["limit"])
    _int_list(f"{section}.seed", ev["seed"], minimum=0)
    for key in ("batch_size", "max_elements"):
        _int_list(f"{section}.{key}", ev[key])
    if ev["split"] not in splits:
        raise _bad(f"{section}.split", ev["split"], ", ".join(splits))
    if ev["subset"] not in ("first", "spread"):
        raise _bad(f"{section}.subset", ev["subset"], "first (the first `limit` images), spread "
                   "(`limit` images evenly spaced over the split)")
    return ev


def _check_run_count(kw: dict, factors: list, further: int = 0) -> None:
    """Refuse (:func:`lattices.cli.check_at_most`, naming the factors) a sweep of more than
    :data:`MAX_RUNS` runs, before the grid is expanded: the product of the lists in ``kw`` and
    ``factors`` ([(key, count)]), plus ``further`` runs per configuration (``paper`` protocol)."""
    counts = [(key, len(kw[key])) for key in ("datasets", "archs", "hidden", "latents", "learning_rates")]
    counts += factors
    configurations = math.prod(n for key, n in counts[:4])
    total = math.prod(n for _, n in counts) + configurations * further
    formula = " x ".join(f"{n} {key}" for key, n in counts)
    if further:
        formula = f"{formula} + {configurations} configurations x {further} further_runs"
    check_at_most(total, MAX_RUNS, f"config: the number of runs, {formula} =", _MAX_RUNS_WHY)


def parse_config(raw: dict) -> SweepConfig:
    """Validate a raw config dict; ``ValueError`` names the bad key/value and what is valid."""
    from . import data as vdata
    from .latents import LATENTS
    from .models import ARCHS, VAE, ModelConfig

    _check_keys("(top level)", raw, _TOP_KEYS)
    if "out" not in raw or not isinstance(raw["out"], str) or not raw["out"]:
        raise _bad("out", raw.get("out"), "the output folder of the runs (a non-empty string)")
    protocol = raw.get("protocol", "grid")
    if protocol not in PROTOCOLS:
        raise _bad("protocol", protocol, ", ".join(PROTOCOLS))
    kw = {"out": raw["out"], "protocol": protocol}
    kw["datasets"] = _name_list("datasets", raw.get("datasets", ["mnist"]), vdata.DATASETS)
    kw["archs"] = _name_list("archs", raw.get("archs", ["linear"]), ARCHS)
    kw["latents"] = _name_list("latents", raw.get("latents", ["gaussian"]), tuple(LATENTS))
    kw["hidden"] = _int_list("hidden", raw.get("hidden", [32]))
    lrs = raw.get("learning_rates", [1e-3])
    lrs = lrs if isinstance(lrs, list) else [lrs]
    if not lrs or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                      or v <= 0 for v in lrs) or len(set(lrs)) != len(lrs):
        raise _bad("learning_rates", raw.get("learning_rates"),
                   "a non-empty list of distinct positive numbers (the paper: "
                   f"{list(PAPER_LEARNING_RATES)})")
    kw["learning_rates"] = tuple(float(v) for v in lrs)
    if protocol == "grid":
        for key in ("scan_repeats", "further_runs"):
            if key in raw:
                raise ValueError(f"config key {key!r} belongs to protocol 'paper'; with protocol "
                                 f"'grid' list the seeds in 'seeds'")
        seeds = raw.get("seeds", [0])
        count_only = isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1
        _check_run_count(kw, [("seeds", seeds if count_only else len(_int_list("seeds", seeds, minimum=0)))])
        kw["seeds"] = tuple(range(seeds)) if count_only else _int_list("seeds", seeds, minimum=0)
    else:
        if "seeds" in raw:
            raise ValueError("config key 'seeds' belongs to protocol 'grid'; with protocol 'paper' "
                             "set 'scan_repeats' (seeds 0..scan_repeats-1 at every rate) and "
                             "'further_runs' (further seeds at the selected rate)")
        kw["scan_repeats"] = _int_list("scan_repeats", raw.get("scan_repeats", 2))[0]
        kw["further_runs"] = _int_list("further_runs", raw.get("further_runs", 16), minimum=0)[0]
        if isinstance(raw.get("scan_repeats"), list) or isinstance(raw.get("further_runs"), list):
            raise ValueError("config keys 'scan_repeats' and 'further_runs' are single integers")
        _check_run_count(kw, [("scan_repeats", kw["scan_repeats"])], further=kw["further_runs"])

    train = dict(raw.get("train", {}))
    _check_keys("section 'train'", train, _TRAIN_KEYS)
    ev = _parse_eval("eval", raw.get("eval", {}),
                     {"samples": [1, 10000], "limit": None, "subset": "first", "split": "test",
                      "seed": 0, "batch_size": 100, "max_elements": 2 ** 24}, vdata.SPLITS)
    best_eval = {}
    if raw.get("best_eval") is not None:
        _check_keys("section 'best_eval'", raw["best_eval"], _EVAL_KEYS)
        if "samples" not in raw["best_eval"]:
            raise _bad("best_eval.samples", None, "a non-empty list of sample counts k, e.g. "
                       "[100, 10000] (the best run of each configuration is evaluated with them)")
        best_eval = _parse_eval("best_eval", raw["best_eval"], ev, vdata.SPLITS)
    model = dict(raw.get("model", {}))
    _check_keys("section 'model'", model, _MODEL_KEYS)
    options = model.get("latent_options", {})
    if not isinstance(options, dict) or any(k not in kw["latents"] or not isinstance(v, dict)
                                            for k, v in options.items()):
        raise _bad("model.latent_options", options,
                   f"an object {{latent: {{option: value}}}} with latents from {', '.join(kw['latents'])}")
    device = raw.get("device", "auto")
    if device not in ("auto", "cpu", "cuda"):
        raise _bad("device", device, "auto, cpu, cuda")
    data_dir = raw.get("data_dir")
    if data_dir is not None and not isinstance(data_dir, str):
        raise _bad("data_dir", data_dir, "a folder path (string) or null ($LRL_DATA_DIR on the workers)")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _bad("description", description, "a string")
    cfg = SweepConfig(**kw, train=train, eval=ev, best_eval=best_eval, model=model, device=device,
                      data_dir=data_dir, description=description)
    # every model and training budget must be constructible before anything runs
    seen = set()
    for dataset, arch, hidden, latent in cfg.configurations():
        try:
            tc = _train_config(cfg, RunSpec(dataset, arch, hidden, latent, cfg.learning_rates[0], 0))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"config section 'train'/'model' for {dataset}/{arch}/h{hidden}/"
                             f"{latent}: {exc}") from None
        if (latent, hidden) not in seen:
            seen.add((latent, hidden))
            try:
                VAE(ModelConfig.from_dict(tc.model))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"config keys 'hidden'/'latents': hidden={hidden} with latent "
                                 f"{latent!r}: {exc}") from None
    return cfg


def load_config(path) -> SweepConfig:
    """Read a JSON (``.json``) or TOML (``.toml``) sweep file and validate it."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"config file {str(path)!r} is a folder; give the sweep's .json or .toml file")
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} not found")
    text = path.read_text()
    try:
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"config file {str(path)!r} is not valid "
                         f"{'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {exc}") from None
    return parse_config(raw)


# ----------------------------------------------------------------------------- planning
def _lr_name(lr: float) -> str:
    return f"lr{lr:g}"


def run_dir_name(spec: RunSpec) -> str:
    """The run's folder relative to ``out``, e.g. ``mnist/linear/h32/e8/lr0.001/seed0``."""
    return f"{spec.dataset}/{spec.arch}/h{spec.hidden}/{spec.latent}/{_lr_name(spec.lr)}/seed{spec.seed}"


def plan_grid(cfg: SweepConfig) -> list[RunSpec]:
    """Every (configuration, learning rate, seed) of the ``grid`` protocol."""
    return [RunSpec(*c, lr, s, "grid") for c in cfg.configurations() for lr in cfg.learning_rates
            for s in cfg.seeds]


def plan_scan(cfg: SweepConfig) -> list[RunSpec]:
    """The learning-rate scan of the ``paper`` protocol: seeds 0..scan_repeats-1 at every rate."""
    return [RunSpec(*c, lr, s, "scan") for c in cfg.configurations() for s in range(cfg.scan_repeats)
            for lr in cfg.learning_rates]


def plan_further(cfg: SweepConfig, configuration: tuple, lr: float) -> list[RunSpec]:
    """The further seeds of one configuration at its selected rate (``paper`` protocol)."""
    return [RunSpec(*configuration, lr, cfg.scan_repeats + i, "further") for i in range(cfg.further_runs)]


def select_lr(results: list[dict]) -> float | None:
    """The rate of the scan run with the best (lowest) validation NLL; ties go to the smaller rate.

    Sec. 4.1: "the learning rate with the best validation value is selected".  Runs that failed
    or have no finite validation NLL are ignored; ``None`` when none is left.
    """
    ok = [(r["best_valid_nll"], r["params"]["lr"]) for r in results
          if r.get("best_valid_nll") is not None and math.isfinite(r["best_valid_nll"])]
    return min(ok)[1] if ok else None


def _train_config(cfg: SweepConfig, spec: RunSpec):
    from .models import ModelConfig
    from .train import TrainConfig

    model = ModelConfig(latent=spec.latent, arch=spec.arch, hidden=spec.hidden,
                        gate_width=cfg.model.get("gate_width", 300),
                        latent_options=dict(cfg.model.get("latent_options", {}).get(spec.latent, {})))
    return TrainConfig(dataset=spec.dataset, lr=spec.lr, seed=spec.seed, model=model.to_dict(),
                       **cfg.train)


# ----------------------------------------------------------------------------- one run
def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _normalized_config(saved):
    """A saved ``config.json`` with the defaults of fields added since it was written (e.g. the
    model's ``encoder``/``decoder`` of custom networks), so that a run made by an earlier
    version is recognised as the same run; unreadable or invalid: returned unchanged."""
    from .train import TrainConfig

    if not isinstance(saved, dict):
        return saved
    try:
        return TrainConfig.from_dict(saved).to_dict()
    except (TypeError, ValueError, KeyError):
        return saved


def _eval_key(ev: dict) -> str:
    from .evaluate import eval_key                                       # as vae.evaluate writes it

    return eval_key(ev["split"], "best", ev["seed"], ev["limit"], ev.get("subset", "first"))


def run_status(run_dir, train_config, ev: dict) -> dict:
    """What a run directory holds: ``new``, ``resume``, ``evaluate`` (trained, evaluation missing
    or not of its current ``best.pt``, :func:`current_results`) or ``finished``; plus the saved
    evaluation results."""
    run_dir = Path(run_dir)
    summary = _read_json(run_dir / "summary.json")
    has_ckpt = (run_dir / "checkpoint.pt").exists()
    saved = _normalized_config(_read_json(run_dir / "config.json"))
    if saved is not None:
        want = train_config.to_dict()
        diff = sorted(k for k in set(want) | set(saved)
                      if k != "max_epochs" and want.get(k) != saved.get(k))
        if diff and has_ckpt:
            return {"state": "conflict", "summary": summary,
                    "error": f"{run_dir} holds a run with a different configuration "
                             f"({', '.join(diff)}); move it away or choose another 'out'"}
    stopped = summary is not None and (
        summary.get("stop_reason") in ("no_improvement", "non_finite_loss")
        or (summary.get("stop_reason") == "max_epochs"
            and summary.get("epochs", 0) >= train_config.max_epochs))
    if not stopped:
        return {"state": "resume" if has_ckpt else "new", "summary": summary}
    results = current_results(run_dir, _eval_key(ev))
    missing = [k for k in ev["samples"] if str(k) not in results]
    no_model = summary.get("stop_reason") == "non_finite_loss" and not (run_dir / "best.pt").exists()
    if not missing or no_model:
        return {"state": "finished", "summary": summary, "results": results}
    return {"state": "evaluate", "summary": summary, "results": results, "missing": missing}


def _result(spec, out, rel, status, summary=None, results=None, error=None, seconds=0.0) -> dict:
    summary = summary or {}
    results = results or {}
    return {"run_dir": rel, "phase": spec.phase, "params": spec.params(), "status": status,
            "stop_reason": summary.get("stop_reason"), "epochs": summary.get("epochs"),
            "best_epoch": summary.get("best_epoch"), "best_valid_nll": summary.get("best_valid_nll"),
            "test_nll": {str(k): results[str(k)]["nll"] for k in sorted(map(int, results))},
            "test_standard_error": {str(k): results[str(k)].get("standard_error")
                                    for k in sorted(map(int, results))},
            "error": error, "seconds": seconds}


def _one_thread():
    """One core per task (the cluster runs N of them): torch and the numba decoders, whose N
    workers x all cores of spinning kernel threads are many times slower (docs/sweeps.md)."""
    import torch

    torch.set_num_threads(1)
    try:
        import numba

        numba.set_num_threads(1)
    except (ImportError, ValueError):        # pragma: no cover - numba is a dependency
        pass


def _config_from_dict(cfg_dict: dict) -> SweepConfig:
    return SweepConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg_dict.items()})


def best_eval_results(run_dir, best_eval: dict) -> dict:
    """The saved ``best_eval`` results of a run (``{k: {nll, standard_error, ...}}``), possibly
    partial; only those of the current ``best.pt`` (:func:`current_results`)."""
    return current_results(run_dir, _eval_key(best_eval))


def current_results(run_dir, key: str) -> dict:
    """The results saved in ``RUN/eval.json`` under ``key`` that belong to the run's current
    ``best.pt`` (a retrained run is evaluated again).

    A result is matched to ``best.pt`` by its SHA-256 where it records one (a fresh clone keeps
    the content, not the modification time).  A result saved before the SHA-256 was recorded is
    current when it names ``best.pt``'s modification time or when ``eval.json`` is not older
    than ``best.pt`` (the rule it was saved under).  Without ``best.pt`` (a clone that holds only
    the committed summaries) the saved results are all there is, and are returned as they are.
    """
    path = Path(run_dir) / "eval.json"
    saved = _read_json(path) or {}
    results = saved.get("evaluations", {}).get(key, {})
    best = Path(run_dir) / "best.pt"
    if not best.exists():
        return dict(results)
    stamp = best.stat().st_mtime_ns
    digest = file_sha256(best) if any("checkpoint_sha256" in r for r in results.values()) else None
    legacy = path.exists() and path.stat().st_mtime_ns >= stamp
    return {k: r for k, r in results.items()
            if (r["checkpoint_sha256"] == digest if "checkpoint_sha256" in r
                else legacy or r.get("checkpoint_mtime_ns") == stamp)}


def best_eval_task(cfg_dict: dict, rel: str, samples: list) -> dict:
    """Evaluate the reported (best-validation) run ``rel`` with the ``best_eval`` options; the
    unit of work of the sweep's last phase.  Returns ``{"run_dir", "results", "error"}``."""
    from .evaluate import evaluate_run

    _one_thread()
    cfg = _config_from_dict(cfg_dict)
    be = cfg.best_eval
    try:
        report = evaluate_run(Path(cfg.out) / rel, samples, split=be["split"], seed=be["seed"],
                              batch_size=be["batch_size"], limit=be["limit"], device=cfg.device,
                              data_dir=cfg.data_dir, max_elements=be["max_elements"], progress=False,
                              subset=be.get("subset", "first"))
        return {"run_dir": rel, "results": report["results"], "error": None}
    except Exception as exc:                 # recorded, the sweep goes on
        return {"run_dir": rel, "results": {},
                "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"}


def run_task(cfg_dict: dict, spec_dict: dict) -> dict:
    """Train (or resume) and evaluate one run; the unit of work sent to a Dask worker.

    Never raises for a failure of the run itself: the error and traceback go into the result
    (``status: failed``) so that one bad run does not stop the sweep.
    """
    from .evaluate import evaluate_run
    from .train import TrainingDiverged, train

    _one_thread()
    cfg = _config_from_dict(cfg_dict)
    spec = RunSpec(**spec_dict)
    rel = run_dir_name(spec)
    out = Path(cfg.out) / rel
    t0 = time.perf_counter()
    status, diverged = "trained", None
    try:
        tc = _train_config(cfg, spec)
        state = run_status(out, tc, cfg.eval)
        if state["state"] == "conflict":
            return _result(spec, out, rel, "failed", state["summary"], error=state["error"])
        if state["state"] == "finished":
            return _result(spec, out, rel, "skipped", state["summary"], state.get("results"))
        missing = list(cfg.eval["samples"])
        if state["state"] in ("new", "resume"):
            status = "resumed" if state["state"] == "resume" else "trained"
            try:
                summary = train(tc, out, resume=state["state"] == "resume", device=cfg.device,
                                data_dir=cfg.data_dir, progress=False)
            except TrainingDiverged as exc:   # the best epoch so far is still evaluated
                status, diverged = "diverged", str(exc)
                summary = _read_json(out / "summary.json")
                if not (out / "best.pt").exists():
                    return _result(spec, out, rel, "diverged", summary, error=str(exc),
                                   seconds=time.perf_counter() - t0)
        else:
            status, summary, missing = "evaluated", state["summary"], state["missing"]
        report = evaluate_run(out, missing, split=cfg.eval["split"], seed=cfg.eval["seed"],
                              batch_size=cfg.eval["batch_size"], limit=cfg.eval["limit"],
                              device=cfg.device, data_dir=cfg.data_dir,
                              max_elements=cfg.eval["max_elements"], progress=False,
                              subset=cfg.eval.get("subset", "first"))
        results = {**state.get("results", {}), **report["results"]} if state["state"] == "evaluate" \
            else report["results"]
        return _result(spec, out, rel, status, summary, results, diverged, time.perf_counter() - t0)
    except Exception as exc:                 # recorded, the sweep goes on
        return _result(spec, out, rel, "failed", _read_json(out / "summary.json"),
                       error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}",
                       seconds=time.perf_counter() - t0)


# ----------------------------------------------------------------------------- the sweep
def _selection(cfg: SweepConfig, results: dict[str, dict]) -> list[dict]:
    """Per configuration: the scan's chosen rate (paper) and the run with the best validation."""
    out = []
    for conf in cfg.configurations():
        runs = [r for r in results.values()
                if (r["params"]["dataset"], r["params"]["arch"], r["params"]["hidden"],
                    r["params"]["latent"]) == conf]
        entry = {"dataset": conf[0], "arch": conf[1], "hidden": conf[2], "latent": conf[3],
                 "n_runs": len(runs)}
        if cfg.protocol == "paper":
            scan = [r for r in runs if r["phase"] == "scan"]
            entry["scan_valid_nll"] = {f"{lr:g}": min((r["best_valid_nll"] for r in scan
                                                       if r["params"]["lr"] == lr
                                                       and r["best_valid_nll"] is not None),
                                                      default=None) for lr in cfg.learning_rates}
            entry["selected_lr"] = select_lr(scan) if len(scan) == len(cfg.learning_rates) * cfg.scan_repeats else None
        valid = [r for r in runs if r["best_valid_nll"] is not None]
        if valid:
            best = min(valid, key=lambda r: (r["best_valid_nll"], r["run_dir"]))
            entry.update(best_run=best["run_dir"], best_valid_nll=best["best_valid_nll"],
                         test_nll=best["test_nll"])
            if cfg.best_eval:
                saved = best_eval_results(Path(cfg.out) / best["run_dir"], cfg.best_eval)
                entry["best_eval"] = {str(k): saved[str(k)] for k in cfg.best_eval["samples"]
                                      if str(k) in saved}
        out.append(entry)
    return out


def _write_reports(cfg, out: Path, results, command, started, done: bool,
                   best_eval_errors: dict | None = None):
    runs = sorted(results.values(), key=lambda r: r["run_dir"])
    failed = [r for r in runs if r["status"] in ("failed", "diverged")
              or r["stop_reason"] == "non_finite_loss"]
    failed += [{"run_dir": rel, "params": results.get(rel, {}).get("params"),
                "status": "best_eval failed", "error": err}
               for rel, err in (best_eval_errors or {}).items()]
    report = {"command": command, "protocol": cfg.protocol, "config": cfg.to_dict(),
              "started": started, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "complete": done, "n_runs": len(runs),
              "n_failed": sum(r["status"] == "failed" for r in runs),
              "n_diverged": sum(r["status"] == "diverged" for r in runs),
              "n_best_eval_failed": len(best_eval_errors or {}),
              "selection": _selection(cfg, results), "runs": runs}
    atomic_write_text(out / SWEEP, json.dumps(report, indent=2, sort_keys=True) + "\n")
    if failed:
        atomic_write_text(out / FAILED, json.dumps(
            [{"run_dir": r["run_dir"], "params": r["params"], "status": r["status"],
              "error": r["error"]} for r in failed], indent=2, sort_keys=True) + "\n")
    elif (out / FAILED).exists():
        (out / FAILED).unlink()              # nothing fails any more: no stale list
    return report


def require_dask() -> None:
    """``ImportError`` saying how to install Dask (the optional ``sweep`` extra) when it is missing."""
    try:
        import dask.distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError("vae.sweep runs the grid on Dask, which is not installed: pip install "
                          f"'lattice-representation-learning[sweep]' ({exc})") from exc


def _make_client(scheduler: str | None, workers: int):
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)   # ":0": any free port for the dashboard
    return Client(cluster), cluster


class _SweepRunner:
    """One execution of a sweep: the plan, the dask client (started only when a run needs a
    worker), the results as they arrive, and the reports written after each."""

    def __init__(self, cfg: SweepConfig, scheduler: str | None, workers: int, progress: bool,
                 command: str):
        from tqdm.auto import tqdm

        self.cfg = dataclasses.replace(cfg, out=str(Path(cfg.out).resolve()))   # workers may run elsewhere
        self.out = Path(self.cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.scheduler, self.workers, self.progress, self.command = scheduler, workers, progress, command
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.cfg_dict = self.cfg.to_dict()
        self.first = plan_grid(self.cfg) if self.cfg.protocol == "grid" else plan_scan(self.cfg)
        total = len(self.first) + (len(self.cfg.configurations()) * self.cfg.further_runs
                                   if self.cfg.protocol == "paper" else 0)
        self.results: dict[str, dict] = {}
        self.best_eval_errors: dict[str, str] = {}
        self.bar = tqdm(total=total, desc="runs", unit="run", disable=not progress, dynamic_ncols=True)
        self.pending_conf = {c: len(self.cfg.learning_rates) * self.cfg.scan_repeats
                             for c in self.cfg.configurations()}
        self.client = self.cluster = self.completed = None
        self.futures: dict = {}

    # ------------------------------------------------------------------ the runs
    def finished_result(self, spec):
        """The result of a finished run, read in the driver (no worker needed), else None."""
        rel = run_dir_name(spec)
        state = run_status(self.out / rel, _train_config(self.cfg, spec), self.cfg.eval)
        if state["state"] != "finished":
            return None
        return _result(spec, self.out, rel, "skipped", state["summary"], state.get("results"))

    def _ensure_client(self):
        if self.client is None:             # start the cluster only when there is work
            self.client, self.cluster = _make_client(self.scheduler, self.workers)

    def schedule(self, spec):
        from dask.distributed import as_completed

        res = self.finished_result(spec)
        if res is not None:
            self.record(spec, res)
            return
        self._ensure_client()
        if self.completed is None:
            self.completed = as_completed()
        fut = self.client.submit(run_task, self.cfg_dict, dataclasses.asdict(spec), pure=False,
                                 key=f"{run_dir_name(spec).replace('/', '-')}-{uuid.uuid4().hex[:8]}")
        self.futures[fut] = spec
        self.completed.add(fut)

    def record(self, spec, res):
        self.results[res["run_dir"]] = res
        self.bar.update(1)
        self.bar.set_postfix_str(f"{res['status']} {res['run_dir']}", refresh=False)
        self._write(done=False)
        if self.cfg.protocol == "paper" and spec.phase == "scan":
            self._after_scan_run(spec)

    def _after_scan_run(self, spec):
        """Paper protocol: when the scan of a configuration is done, schedule its further runs
        at the selected learning rate (none when every scan run failed)."""
        self.pending_conf[spec.configuration] -= 1
        if self.pending_conf[spec.configuration]:
            return
        scan = [r for r in self.results.values() if r["phase"] == "scan"
                and tuple(r["params"][k] for k in ("dataset", "arch", "hidden", "latent"))
                == spec.configuration]
        lr = select_lr(scan)
        if lr is None:                      # every scan run failed: nothing to continue
            self.bar.total -= self.cfg.further_runs
            self.bar.refresh()
            return
        for further in plan_further(self.cfg, spec.configuration, lr):
            self.schedule(further)

    def wait_for_runs(self):
        while self.futures:
            fut = next(self.completed)
            spec = self.futures.pop(fut)
            try:
                res = fut.result()
            except Exception as exc:         # the worker died (KilledWorker, ...) or similar
                res = _result(spec, None, run_dir_name(spec), "failed",
                              error=f"{type(exc).__name__}: {exc}")
            self.record(spec, res)

    # ------------------------------------------------------------------ the last phase
    def best_eval_todo(self) -> list[tuple[str, list[int]]]:
        """(reported run, sample counts k it still lacks) of every configuration."""
        todo = []
        for entry in _selection(self.cfg, self.results):
            if "best_run" in entry:
                saved = best_eval_results(self.out / entry["best_run"], self.cfg.best_eval)
                missing = [k for k in self.cfg.best_eval["samples"] if str(k) not in saved]
                if missing:
                    todo.append((entry["best_run"], missing))
        return todo

    def evaluate_best(self):
        """The last phase: the reported run of every configuration with ``best_eval``."""
        from dask.distributed import as_completed
        from tqdm.auto import tqdm

        todo = self.best_eval_todo()
        if not todo:
            return
        self._ensure_client()
        bar = tqdm(total=len(todo), desc="best-run evaluations", unit="run", disable=not self.progress,
                   dynamic_ncols=True)
        try:
            futs = {self.client.submit(best_eval_task, self.cfg_dict, rel, missing, pure=False,
                                       key=f"best-{rel.replace('/', '-')}-{uuid.uuid4().hex[:8]}"): rel
                    for rel, missing in todo}
            for fut in as_completed(list(futs)):
                try:
                    res = fut.result()
                except Exception as exc:     # the worker died: the run is still named
                    res = {"run_dir": futs[fut], "error": f"{type(exc).__name__}: {exc}"}
                if res["error"]:
                    self.best_eval_errors[res["run_dir"]] = res["error"]
                bar.update(1)
                self._write(done=False)
        finally:
            bar.close()

    # ------------------------------------------------------------------ driver
    def _write(self, done: bool) -> dict:
        return _write_reports(self.cfg, self.out, self.results, self.command, self.started, done=done,
                              best_eval_errors=self.best_eval_errors)

    def run(self) -> dict:
        try:
            for spec in self.first:
                self.schedule(spec)
            self.wait_for_runs()
            if self.cfg.best_eval:
                self.evaluate_best()
            return self._write(done=True)
        finally:
            self.bar.close()
            if self.client is not None:
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def run_sweep(cfg: SweepConfig, *, scheduler: str | None = None, workers: int = 2,
              progress: bool = True, command: str = "") -> dict:
    """Run the sweep (skip finished runs, resume unfinished ones); returns the ``sweep.json`` dict."""
    require_dask()
    return _SweepRunner(cfg, scheduler, workers, progress, command).run()


def _dry_run(cfg: SweepConfig) -> dict:
    """The plan and the state of every run directory, without running anything."""
    specs = plan_grid(cfg) if cfg.protocol == "grid" else plan_scan(cfg)
    runs = []
    for spec in specs:
        rel = run_dir_name(spec)
        state = run_status(Path(cfg.out) / rel, _train_config(cfg, spec), cfg.eval)
        runs.append({"run_dir": rel, "phase": spec.phase, "params": spec.params(),
                     "state": state["state"]})
    plan = {"protocol": cfg.protocol, "out": cfg.out, "n_configurations": len(cfg.configurations()),
            "runs": runs}
    if cfg.protocol == "paper":
        plan["further_runs_per_configuration"] = cfg.further_runs
        plan["note"] = (f"after the scan, {cfg.further_runs} further seeds "
                        f"({cfg.scan_repeats}..{cfg.scan_repeats + cfg.further_runs - 1}) per "
                        f"configuration run at its selected learning rate")
    if cfg.best_eval:
        be = cfg.best_eval
        images = ("the whole" if be["limit"] is None else f"the first {be['limit']}"
                  if be.get("subset", "first") == "first" else f"{be['limit']} evenly spaced")
        plan["best_eval"] = be
        plan["note"] = ((plan["note"] + "; ") if "note" in plan else "") + (
            f"then the best-validation run of each configuration is evaluated with k = "
            f"{', '.join(map(str, be['samples']))} on {images} {be['split']} images")
    return plan


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m vae.sweep", description=__doc__.split("\n\n")[0],
                       formatter_class=DefaultsHelpFormatter)
    p.add_argument("config", help="sweep description (.json or .toml), see docs/sweeps.md")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="address of a running dask scheduler (tcp://host:8786); without it, a "
                        "LocalCluster of --workers processes")
    p.add_argument("--workers", type=positive_count, default=max(1, (os.cpu_count() or 2) // 2),
                   help="LocalCluster worker processes (1 thread each)")
    p.add_argument("--out", type=output_dir, default=None,
                   help="override the config's 'out' folder; without it, the config's")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the state of each run")
    p.add_argument("--json", action="store_true", help="print sweep.json (or the plan) as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


@cli_main("python -m vae.sweep")
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    cfg = load_config(args.config)             # a bad config: one line, exit 2 (cli_main)
    if args.out is not None:
        cfg = dataclasses.replace(cfg, out=str(args.out))
    if args.dry_run:
        plan = _dry_run(cfg)
        if args.json:
            print(json.dumps(plan, indent=2))
        else:
            for r in plan["runs"]:
                print(f"{r['state']:>9}  {r['phase']:<7} {r['run_dir']}")
            print(f"{len(plan['runs'])} runs planned in {cfg.out} ({cfg.protocol} protocol)"
                  + (f"; {plan['note']}" if "note" in plan else ""))
        return 0
    command = "python -m vae.sweep " + " ".join(shlex.quote(a) for a in argv)
    try:
        require_dask()
    except ImportError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    try:
        report = run_sweep(cfg, scheduler=args.scheduler, workers=args.workers,
                           progress=not args.no_progress, command=command)
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; finished epochs and runs are saved, run the same "
              f"command again to continue", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        counts = {}
        for r in report["runs"]:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        print(f"{report['n_runs']} runs in {cfg.out}: "
              + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
        for sel in report["selection"]:
            tests = ", ".join(f"k={k}: {v:.2f}" for k, v in sel.get("test_nll", {}).items())
            best = ", ".join(f"k={k}: {v['nll']:.2f} ± {v['standard_error']:.2f} ({v['n_images']} images)"
                             for k, v in sel.get("best_eval", {}).items())
            lr = f" lr {sel['selected_lr']:g}" if sel.get("selected_lr") is not None else ""
            print(f"  {sel['dataset']}/{sel['arch']}/h{sel['hidden']}/{sel['latent']}:{lr} best "
                  f"{sel.get('best_run', '-')} valid {sel.get('best_valid_nll') or float('nan'):.2f}"
                  f" test {tests or '-'}" + (f"; best_eval {best}" if best else ""))
        n_bad = report["n_failed"] + report["n_diverged"] + report.get("n_best_eval_failed", 0)
        if n_bad:
            print(f"{report['n_failed']} failed, {report['n_diverged']} diverged, "
                  f"{report.get('n_best_eval_failed', 0)} best-run evaluations failed: see "
                  f"{Path(cfg.out) / FAILED}", file=sys.stderr)
    return 1 if report["n_failed"] or report.get("n_best_eval_failed", 0) else 0


if __name__ == "__main__":
    sys.exit(main())
