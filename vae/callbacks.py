"""Watching a training run: callbacks, ``logging`` and optional TensorBoard.

:func:`vae.train.train` reports through the ``logging`` logger ``"vae.train"`` (one INFO line
per epoch; silent unless the application configures logging, as a library should) and calls
every object of its ``callbacks`` list:

* ``on_step(epoch=, step=, terms=)`` after each optimizer step: ``step`` counts the batches
  from the start of the run (it continues across ``--resume``), ``terms`` holds the batch means
  of the loss and its parts as detached 0-d tensors (no host synchronization unless you call
  ``float`` on them);
* ``on_epoch_end(record)`` after each epoch, with the line written to ``metrics.jsonl``
  (``epoch``, ``train_loss``, ``train_recon``, ``train_rate``, ``train_aux``, diagnostics,
  ``valid_nll``, ``lr``, ``time_s``);
* ``on_train_end(summary)`` once, with the summary written to ``summary.json``.

A callback defines any of these methods (subclass :class:`Callback` or not).
:class:`TensorBoardCallback` writes the epoch records (and every ``step_every``-th step loss)
for TensorBoard through ``torch.utils.tensorboard``; it needs the optional ``tensorboard``
package (``pip install 'lattice-representation-learning[tensorboard]'``).

>>> class Collect(Callback):
...     def __init__(self):
...         self.records = []
...     def on_epoch_end(self, record):
...         self.records.append(record["valid_nll"])
>>> hooks = CallbackList([Collect()])
>>> hooks.on_epoch_end({"epoch": 1, "valid_nll": 90.5})
>>> hooks.callbacks[0].records
[90.5]
"""
from __future__ import annotations

import logging
import math
import sys

__all__ = ["Callback", "CallbackList", "TensorBoardCallback", "HOOKS", "format_epoch",
           "log_to_stderr"]

#: the methods a callback may define
HOOKS = ("on_step", "on_epoch_end", "on_train_end")


class Callback:
    """Base class with no-op hooks; override the ones you need (see the module notes)."""

    def on_step(self, *, epoch: int, step: int, terms: dict) -> None:
        """After optimizer step ``step`` (1-based, counted over the whole run) of ``epoch``."""

    def on_epoch_end(self, record: dict) -> None:
        """After each epoch, with its ``metrics.jsonl`` record."""

    def on_train_end(self, summary: dict) -> None:
        """Once, when :func:`vae.train.train` returns (or stops on a non-finite loss)."""


class CallbackList:
    """Calls each hook on every callback, in order.

    Raises
    ------
    TypeError
        An entry defines none of :data:`HOOKS` (a likely mistake: a class instead of an
        instance, a function instead of an object).
    """

    def __init__(self, callbacks=None):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if isinstance(cb, type) or not any(callable(getattr(cb, h, None)) for h in HOOKS):
                raise TypeError(f"a callback must be an object with any of the methods "
                                f"{', '.join(HOOKS)}; got {cb!r}")

    @property
    def wants_steps(self) -> bool:
        """Whether any callback has ``on_step`` (the trainer skips the per-step work otherwise)."""
        return any(callable(getattr(cb, "on_step", None)) for cb in self.callbacks)

    def _call(self, hook, *args, **kwargs):
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            if callable(method):
                method(*args, **kwargs)

    def on_step(self, *, epoch: int, step: int, terms: dict) -> None:
        self._call("on_step", epoch=epoch, step=step, terms=terms)

    def on_epoch_end(self, record: dict) -> None:
        self._call("on_epoch_end", record)

    def on_train_end(self, summary: dict) -> None:
        self._call("on_train_end", summary)


class TensorBoardCallback(Callback):
    """TensorBoard scalars: ``epoch/<key>`` per epoch, ``step/loss`` every ``step_every`` steps.

    Parameters
    ----------
    log_dir : path
        The event folder (``tensorboard --logdir log_dir``).  A resumed run appends to it; epochs
        and steps continue, so the curves join.
    step_every : int
        Write the batch loss every this many steps (0: never; each write reads the loss back
        from the device).

    Raises
    ------
    ImportError
        The ``tensorboard`` package is missing (the message says how to install it).
    """

    def __init__(self, log_dir, step_every: int = 50):
        if isinstance(step_every, bool) or not isinstance(step_every, int) or step_every < 0:
            raise ValueError(f"step_every must be a non-negative integer, got {step_every!r}")
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ImportError("TensorBoard logging needs the tensorboard package: pip install "
                              "'lattice-representation-learning[tensorboard]' (or pip install "
                              f"tensorboard); {exc}") from exc
        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.step_every = step_every

    def on_step(self, *, epoch, step, terms):
        if self.step_every and step % self.step_every == 0:
            self.writer.add_scalar("step/loss", float(terms["loss"]), step)

    def on_epoch_end(self, record):
        epoch = record["epoch"]
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(f"epoch/{key}", value, epoch)
        self.writer.flush()

    def on_train_end(self, summary):
        self.writer.close()


def format_epoch(record: dict) -> str:
    """The one-line human summary of an epoch record (what the trainer logs at INFO)."""
    return (f"epoch {record['epoch']}: train loss {record['train_loss']:.3f} "
            f"(recon {record['train_recon']:.3f}, rate {record['train_rate']:.3f}, "
            f"aux {record['train_aux']:.3f}), valid NLL {record['valid_nll']:.3f}, "
            f"lr {record['lr']:.2g}, {record['time_s']:.1f} s")


def log_to_stderr(name: str = "vae", level: int = logging.INFO) -> logging.Logger:
    """Send the records of logger ``name`` to stderr as bare lines (what the CLIs do); idempotent."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    return logger


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to the *current* ``sys.stderr`` (which tests and notebooks
    replace), not to the one that existed when it was made."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass
