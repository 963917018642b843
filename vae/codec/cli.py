"""Shared pieces of ``python -m vae.compress`` and ``python -m vae.decompress``: run loading,
image selection, output-path checks and the one-line error boundary."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import torch

from lattices.cli import UsageError, check_output_path  # noqa: F401  (re-exported: one output-path rule for every CLI)

__all__ = ["check_output_path", "load_model", "select", "parse_indices", "resolve_indices", "check_seed",
           "allow_negative_indices", "fail"]

#: ``--indices`` items: an integer or a Python slice ``start:stop[:step]`` (each part optional).
_ITEM = re.compile(r"^\s*([+-]?\d+)?\s*:\s*([+-]?\d+)?\s*(?::\s*([+-]?\d+)?\s*)?$")


def fail(prog: str, message) -> int:
    """Print one line ``prog: error: message`` to stderr; exit code 2 (bad usage)."""
    from lattices.cli import error_line

    text = error_line(message) if isinstance(message, BaseException) else " ".join(str(message).split())
    print(f"{prog}: error: {text}", file=sys.stderr)
    return 2


def allow_negative_indices(parser) -> None:
    """Let ``--indices -10: -1`` reach the option (argparse would take ``-10:`` for an option name)."""
    if hasattr(parser, "_negative_number_matcher"):
        parser._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d*:[-+\d:]*$")


def check_seed(seed, what: str = "--seed") -> int:
    """A dither seed: a whole number in [0, 2^63) (the header's range), checked before any work."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
        raise UsageError(f"{what} must be a whole number in [0, 2^63), got {seed!r}")
    return seed


def load_model(run_dir, which: str = "best"):
    """The model and training config of a run directory of ``python -m vae.train``."""
    from vae.runs import load_run

    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"run directory {str(run_dir)!r} is a file; give the run's folder")
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    return load_run(run_dir, which, "cpu")


def parse_indices(items) -> list:
    """``--indices`` items, checked for syntax before any work: ``(text, value)`` pairs where
    ``value`` is an ``int`` or a ``slice`` (Python semantics: ``start:stop[:step]``, each part
    optional, negative values count from the end; step 0 is refused).  The range is checked by
    :func:`resolve_indices` once the split's size is known.

    >>> [v for _, v in parse_indices(["5", "0:10000:10", "-3:"])]
    [5, slice(0, 10000, 10), slice(-3, None, None)]
    """
    if not items:
        raise UsageError("--indices needs at least one index or range start:stop[:step]")
    out = []
    for item in items:
        text = str(item)
        m = _ITEM.match(text)
        if m:
            start, stop, step = (int(g) if g is not None else None for g in m.groups())
            if step == 0:
                raise UsageError(f"--indices {text!r}: the step must not be 0")
            out.append((text, slice(start, stop, step)))
            continue
        try:
            out.append((text, int(text)))
        except ValueError:
            raise UsageError(f"--indices takes integers or ranges start:stop[:step], got {text!r}") from None
    return out


def resolve_indices(specs, n: int, where: str) -> np.ndarray:
    """The image indices (int64, in [0, n)) of :func:`parse_indices`' items over ``n`` images.

    An integer must lie in [-n, n); a range's start and stop in [-n, n] (no silent clipping)
    and it must select at least one image.  ``where`` names the split (e.g. ``"mnist test"``).
    """
    bounds = f"{where} has {n} images: indices 0 to {n - 1}, or -{n} to -1 from the end"
    parts = []
    for text, value in specs:
        if isinstance(value, slice):
            for part in (value.start, value.stop):
                if part is not None and not -n <= part <= n:
                    raise UsageError(f"--indices {text!r} is out of range ({bounds})")
            r = range(n)[value]
            if len(r) == 0:
                raise UsageError(f"--indices {text!r} selects no image ({bounds})")
            parts.append(np.arange(r.start, r.stop, r.step, dtype=np.int64))
        else:
            if not -n <= value < n:
                raise UsageError(f"--indices {text!r} is out of range ({bounds})")
            parts.append(np.array([value % n], dtype=np.int64))
    return np.concatenate(parts)


def select(config, split: str, images, indices, seed: int, data_dir=None, subset: str = "first"):
    """``(x, indices)``: the images of ``split`` to code (``images`` of them, or ``indices``, or all).

    ``subset``: which ``images`` images, the first ones or ``spread`` evenly over the split
    (:func:`vae.evaluate.select_images`: images ``floor(i * n / images)``; the MNIST test set is
    ordered, so its first 1000 images are not representative).  ``indices``:
    :func:`parse_indices`' items (or plain integers in [0, n)); ``images`` more than the split
    holds is refused, not clipped.

    >>> from vae.evaluate import select_images
    >>> select_images(torch.arange(10000), 4, "spread").tolist()
    [0, 2500, 5000, 7500]
    """
    from vae import data as vdata
    from vae.evaluate import SUBSETS, select_images

    if subset not in SUBSETS:
        raise UsageError(f"unknown --subset {subset!r}; valid: {', '.join(SUBSETS)}")

    if split not in vdata.SPLITS:
        raise UsageError(f"unknown split {split!r}; valid: {', '.join(vdata.SPLITS)}")
    if images is not None and (isinstance(images, bool) or images < 1):
        raise UsageError(f"--images must be a positive integer, got {images}")
    x = vdata.load_dataset(config.dataset, split, data_dir)
    n = x.shape[0]
    where = f"{config.dataset} {split}"
    if indices is not None:
        specs = [(str(i), i) if not isinstance(i, tuple) else i for i in indices]
        idx = resolve_indices(specs, n, where)
    else:
        if images is not None and images > n:
            raise UsageError(f"--images {images} is more than the {n} images of {where}")
        idx = select_images(torch.arange(n), images, subset).numpy()
    if vdata.is_dynamic(config.dataset, split):
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
    return x[torch.as_tensor(idx)], idx
