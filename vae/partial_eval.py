"""An unfinished importance-sampling evaluation, saved as it goes so that it resumes exactly.

``k = 10^4`` on a whole test set takes hours on a CPU (the paper's Table 2 column: 10^8 decoder
passes for 10 000 images).  :func:`vae.evaluate.iwae_nll` walks the images in batches and draws
every sample from one generator stream; after a batch it may hand the per-image bounds so far,
the number of images done and the generator's state to a :class:`PartialEvaluation`, which writes
them atomically to ``RUN_DIR/eval.partial/<key>-k<k>.pt`` (at most once every ``every_s``
seconds, so the cost is a few hundred kilobytes a minute).  A later call with the same
evaluation restores the bounds and the generator state and goes on from the next batch: the
result is the same number, bit for bit, as one uninterrupted evaluation.

The file is used only when everything that fixes the sample stream matches (:attr:`meta`: the
``eval.json`` key, k, the number of images, the batch size, ``max_elements``, the checkpoint's
SHA-256 (not its modification time, which a fresh clone changes) and the device type);
otherwise the evaluation starts afresh and says why.  A file that cannot be read is set aside
as ``*.corrupt``, never deleted.  When the evaluation finishes the file is removed.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import save_checkpoint

__all__ = ["PARTIAL_DIR", "SAVE_EVERY_S", "PartialEvaluation", "Resumed"]

#: the folder beside ``eval.json`` that holds unfinished evaluations
PARTIAL_DIR = "eval.partial"

#: default least number of seconds between two writes of a partial evaluation
SAVE_EVERY_S = 60.0

_FORMAT = 1


@dataclass(frozen=True)
class Resumed:
    """What a saved partial evaluation restores: ``values`` (the first ``done`` per-image bounds,
    float64) and the generator's state after them."""

    values: torch.Tensor
    done: int
    generator_state: torch.Tensor


class PartialEvaluation:
    """The saved state of one evaluation (one ``eval.json`` key, one k) of a run.

    ``meta``: the values that fix the sample stream (see the module notes); ``every_s``: the
    least number of seconds between two writes (0: after every batch; default
    :data:`SAVE_EVERY_S`).  :attr:`seconds` is the evaluation's time so far, earlier
    (interrupted) sessions included.
    """

    def __init__(self, run_dir, key: str, k: int, meta: dict, *, every_s: float | None = None,
                 log=lambda msg: print(msg, file=sys.stderr)):
        self.path = Path(run_dir) / PARTIAL_DIR / f"{key.replace('/', '_')}-k{k}.pt"
        self.meta = {"format": _FORMAT, "key": key, "k": int(k), **meta}
        self.every_s = SAVE_EVERY_S if every_s is None else every_s
        self.log = log
        self._last_write = self._started = time.monotonic()
        self._seconds_before = 0.0

    @property
    def seconds(self) -> float:
        """Seconds spent on this evaluation: this session's and the resumed sessions' (if any)."""
        return self._seconds_before + time.monotonic() - self._started

    def load(self) -> Resumed | None:
        """The saved state if it belongs to this evaluation, else None (with the reason logged)."""
        if not self.path.exists():
            return None
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
            values, done = saved["values"], int(saved["done"])
            state, seconds, meta = saved["generator_state"], float(saved["seconds"]), saved["meta"]
        except Exception as exc:                      # unreadable: keep it for inspection, start afresh
            aside = self.path.with_name(self.path.name + ".corrupt")
            os.replace(self.path, aside)
            self.log(f"vae.evaluate: {self.path} could not be read ({type(exc).__name__}: {exc}); "
                     f"moved to {aside.name}, starting afresh")
            return None
        if meta == self.meta and not (0 < done < self.meta["n_images"] and len(values) >= done):
            meta = {**meta, "done": done}             # inconsistent: reported below as a mismatch
        if meta != self.meta:
            diff = sorted(key for key in set(meta) | set(self.meta) if meta.get(key) != self.meta.get(key))
            self.log(f"vae.evaluate: {self.path} is from another evaluation (differs in "
                     f"{', '.join(diff)}); starting afresh")
            return None
        self._seconds_before = seconds
        self.log(f"vae.evaluate: resuming k = {self.meta['k']} at image {done} of "
                 f"{self.meta['n_images']} from {self.path}")
        return Resumed(values[:done].to(torch.float64), done, state)

    def save(self, values: torch.Tensor, done: int, generator, *, force: bool = False) -> bool:
        """Write the first ``done`` bounds and the generator state, unless the last write was less
        than ``every_s`` seconds ago (``force`` writes anyway); True when written."""
        now = time.monotonic()
        if not force and now - self._last_write < self.every_s:
            return False
        save_checkpoint(self.path, {"values": values[:done].detach().cpu().clone(), "done": int(done),
                                    "generator_state": generator.get_state(), "seconds": self.seconds,
                                    "meta": self.meta})
        self._last_write = now
        return True

    def discard(self) -> None:
        """Remove the file (the evaluation is finished), and its folder when it is left empty."""
        if self.path.exists():
            self.path.unlink()
        try:
            self.path.parent.rmdir()
        except OSError:                               # not empty, or already gone
            pass
