r"""A run directory of ``python -m vae.train``: its file names, its config and :func:`load_run`.

Everything that *reads* a run lives here, apart from training: :mod:`vae.evaluate`, the codec
(:mod:`vae.codec`), :mod:`validation` and the benchmarks load runs through this module, so
none of them imports the trainer.  A run directory holds

* ``config.json`` (:data:`CONFIG`): the :class:`TrainConfig` (training protocol and model);
* ``checkpoint.pt`` (:data:`CHECKPOINT`): everything needed to continue;
* ``best.pt`` (:data:`BEST`): the weights of the best validation epoch;
* ``metrics.jsonl`` (:data:`METRICS`), ``summary.json`` (:data:`SUMMARY`);
* ``networks.pt``: the structure of custom encoder/decoder networks (:func:`vae.models.load_networks`).

A saved state is turned into a model by :func:`vae.models.model_for_state`, which asks the
latent class (and, for lattice latents, the prior's class) how to read a state saved under an
earlier default.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import data as vdata
from .checkpoints import (BEST_KEYS, CHECKPOINT_KEYS, CorruptCheckpointError, load_checkpoint, load_weights,
                          weights_mismatch)
from .models import VAE, ModelConfig, load_networks, model_for_state

__all__ = ["TrainConfig", "load_run", "model_for_state", "run_file", "CHECKPOINT", "BEST", "CONFIG",
           "METRICS", "SUMMARY"]

CHECKPOINT, BEST, CONFIG, METRICS, SUMMARY = ("checkpoint.pt", "best.pt", "config.json",
                                              "metrics.jsonl", "summary.json")


def _is_bad_int(v) -> bool:
    return isinstance(v, bool) or not isinstance(v, (int, np.integer))


def _positive_int(name, v):
    if _is_bad_int(v) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")


@dataclass
class TrainConfig:
    """The training protocol (saved in ``config.json`` and in the checkpoint)."""

    dataset: str = "mnist"
    batch_size: int = 100
    lr: float = 1e-3
    seed: int = 0
    max_epochs: int = 1000
    patience_halve: int = 50
    patience_stop: int = 200
    train_limit: int | None = None          # use only the first N training images (tests, smoke runs)
    valid_limit: int | None = None
    model: dict = field(default_factory=dict)   # ModelConfig.to_dict()

    def __post_init__(self):
        if self.dataset not in vdata.DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; valid: {', '.join(vdata.DATASETS)}")
        for name in ("batch_size", "max_epochs", "patience_halve", "patience_stop"):
            _positive_int(name, getattr(self, name))
        for name in ("train_limit", "valid_limit"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        if _is_bad_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        self.model = ModelConfig.from_dict(self.model).to_dict()    # validates the model part

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def run_file(run_dir, which: str = "best") -> Path:
    """The checkpoint file of ``which`` (``best`` -> best.pt, ``last`` -> checkpoint.pt) in ``run_dir``."""
    name = {"best": BEST, "last": CHECKPOINT}.get(which)
    if name is None:
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    return Path(run_dir) / name


def load_run(run_dir, which: str = "best", device="cpu") -> tuple[VAE, TrainConfig]:
    """The model of a run directory (``which``: ``best`` or ``last``) and its config."""
    run_dir = Path(run_dir)
    name = {"best": BEST, "last": CHECKPOINT}.get(which)
    if name is None:
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    path = run_dir / name
    if run_dir.is_file():
        raise FileNotFoundError(f"{run_dir} is a file, not a run directory of vae.train (the folder "
                                f"holding {BEST} and config.json)")
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a run directory of vae.train "
                                f"that finished at least one epoch?")
    state = load_checkpoint(path, device, BEST_KEYS if which == "best" else CHECKPOINT_KEYS)
    try:
        config = TrainConfig.from_dict(state["train_config"])
        model_config = ModelConfig.from_dict(config.model)
    except (ValueError, TypeError, AttributeError) as exc:
        raise CorruptCheckpointError(f"checkpoint {path}: the configuration it holds is not valid "
                                     f"({exc}); it was changed after it was saved") from None
    weights = state["model"]
    if not isinstance(weights, dict):
        raise CorruptCheckpointError(f"checkpoint {path}: its 'model' is a {type(weights).__name__}, "
                                     f"not a model's weights")
    networks = load_networks(run_dir, model_config)
    try:
        model = model_for_state(model_config, weights, **networks)
    except (RuntimeError, KeyError, IndexError, ValueError) as exc:
        raise CorruptCheckpointError(weights_mismatch(exc, model_config, path, f"{path.name}'s "
                                                      f"configuration")) from None
    load_weights(model, weights, path, f"{path.name}'s configuration")
    model.to(device).eval()
    return model, config


