"""Checkpoint files of a training run: atomic writes, a kept previous copy, safe loading.

Guarantees (tested in ``tests/test_reliability.py``, stated in ``docs/reliability.md``):

* every file is written to a temporary file beside it, flushed, fsynced and renamed into place
  (:func:`lattices.utils.io.atomic_write`): a reader sees the old file or the new one, never a mix;
* before ``checkpoint.pt`` is replaced, the current one is kept as ``checkpoint.prev.pt`` (a
  hard link, then a rename), so a checkpoint that is found corrupt later (a bad disk, a copy cut
  short) has a fallback one epoch older;
* loading uses ``torch.load(..., weights_only=True)`` (no code in a file is ever run) and turns
  every way a file can be broken (empty, truncated, random bytes, a foreign pickle, missing
  keys) into :class:`CorruptCheckpointError`, a ``ValueError`` naming the file;
* temporary files left by a killed writer (``NAME.*.tmp``) are removed by
  :func:`remove_stale_temporaries` when the run is next started.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from lattices.utils.io import atomic_write

__all__ = ["CorruptCheckpointError", "save_checkpoint", "load_checkpoint", "load_with_fallback",
           "load_weights", "weights_mismatch", "previous_path", "remove_stale_temporaries"]

#: Keys a training checkpoint must hold; ``best.pt`` holds the first three and ``epoch``.
CHECKPOINT_KEYS = ("format", "train_config", "model", "optimizer", "epoch", "lr", "best_val",
                   "best_epoch", "since_best", "history", "stop_reason")
BEST_KEYS = ("format", "train_config", "model", "epoch")


class CorruptCheckpointError(ValueError):
    """A checkpoint file that cannot be read back (empty, truncated, foreign or incomplete)."""


def previous_path(path) -> Path:
    """``checkpoint.pt`` -> ``checkpoint.prev.pt``: the copy kept from the write before."""
    path = Path(path)
    return path.with_name(path.stem + ".prev" + path.suffix)


def save_checkpoint(path, obj, *, keep_previous: bool = False) -> None:
    """Write ``obj`` with ``torch.save`` atomically; with ``keep_previous`` the file it replaces
    stays as :func:`previous_path` (each step is a rename, so some complete copy always exists)."""
    path = Path(path)
    if keep_previous and path.exists():
        prev = previous_path(path)
        link = prev.with_name(prev.name + ".link.tmp")
        if link.exists():
            link.unlink()
        os.link(path, link)
        os.replace(link, prev)
    atomic_write(path, lambda fh: torch.save(obj, fh))


def load_checkpoint(path, device="cpu", keys=CHECKPOINT_KEYS, *, kind: str = "training checkpoint") -> dict:
    """The dict saved in ``path`` (``weights_only=True``), checked to hold ``keys``; ``kind`` names
    what the file should be in the messages (``"model's weights"`` for ``VAE.save``'s ``model.pt``).

    Raises ``FileNotFoundError`` when there is no file and :class:`CorruptCheckpointError`
    (naming the file and what is wrong) when it cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    size = path.stat().st_size
    if size == 0:
        raise CorruptCheckpointError(f"checkpoint {path} is empty (0 bytes): it is not a checkpoint")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except PermissionError:
        raise
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError,
            KeyError, IndexError, AttributeError, TypeError, OSError) as exc:
        what = " ".join(str(exc).split())
        what = what[:what.find(".") + 1] if 0 < what.find(".") < 100 else what[:100]
        raise CorruptCheckpointError(f"checkpoint {path} ({size} bytes) is corrupt or truncated "
                                     f"and cannot be loaded ({type(exc).__name__}: {what})") from None
    if not isinstance(state, dict):
        raise CorruptCheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a {kind}")
    missing = [k for k in keys if k not in state]
    if missing:
        raise CorruptCheckpointError(f"checkpoint {path} lacks {', '.join(missing)}: not a "
                                     f"checkpoint of vae.train")
    return state


def load_weights(model, state_dict, path, config_source=None) -> None:
    """``model.load_state_dict(state_dict)`` for the weights read from ``path``.

    Weights that do not fit the model (another hidden size, latent or architecture: a config
    edited after the weights were saved, or files of two models mixed) raise
    :class:`CorruptCheckpointError` naming ``path``, ``config_source`` (the file the model's
    config was read from) and the first mismatch, instead of torch's list of every tensor.
    """
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise CorruptCheckpointError(weights_mismatch(exc, getattr(model, "config", None), path,
                                                      config_source)) from None


def weights_mismatch(exc: BaseException, config, path, config_source=None) -> str:
    """The one-line message of :func:`load_weights` for the error ``exc`` of building or loading
    the model of ``config`` (a :class:`vae.models.ModelConfig`, or None) from the weights in ``path``."""
    lines = [" ".join(line.split()) for line in str(exc).splitlines()[1:] if line.strip()]
    first = lines[0] if lines else " ".join(str(exc).split())
    first = first if len(first) <= 240 else first[:240] + "..."
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    described = (f" (latent {config.latent}, hidden {config.hidden}, {config.arch_label})"
                 if config is not None else "")
    source = f" of {config_source}" if config_source is not None else ""
    return (f"the weights in {path} do not fit the model{source}{described}: {first}{more}; the "
            f"config or the weights were changed after they were saved (restore the original files)")


def load_with_fallback(path, device="cpu", log=None) -> tuple[dict, Path]:
    """Load ``path``, or, when it is missing or corrupt, the kept previous copy.

    Returns ``(state, path_loaded)``.  Raises the error of ``path`` when no copy is readable.
    """
    path = Path(path)
    try:
        return load_checkpoint(path, device), path
    except (CorruptCheckpointError, FileNotFoundError) as exc:
        prev = previous_path(path)
        if not prev.exists():
            raise
        try:
            state = load_checkpoint(prev, device)
        except CorruptCheckpointError:
            raise exc from None
        if log is not None:
            log(f"{path.name} is unreadable ({exc}); resuming from {prev.name} (epoch {state['epoch']})")
        return state, prev


def remove_stale_temporaries(run_dir, names) -> list[Path]:
    """Remove temporary files (``NAME.*.tmp``) that a killed writer left in ``run_dir``.

    Only files of the given ``names`` are touched; returns the paths removed.  Call it only
    when no other process writes the run (a run is trained by one process at a time).
    """
    run_dir = Path(run_dir)
    removed = []
    if not run_dir.is_dir():
        return removed
    for name in names:
        for tmp in run_dir.glob(f"{name}.*tmp"):
            if tmp.is_file():
                tmp.unlink()
                removed.append(tmp)
    return removed
