"""Shared pieces of ``python -m vae.compress`` and ``python -m vae.decompress``: run loading,
image selection, output-path checks and the one-line error boundary."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from lattices.cli import check_output_path  # noqa: F401  (re-exported: one output-path rule for every CLI)

__all__ = ["check_output_path", "load_model", "select", "parse_indices", "fail"]


def fail(prog: str, message) -> int:
    """Print one line ``prog: error: message`` to stderr; exit code 2 (bad usage)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def load_model(run_dir, which: str = "best"):
    """The model and training config of a run directory of ``python -m vae.train``."""
    from vae.runs import load_run

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    return load_run(run_dir, which, "cpu")


def parse_indices(items) -> list[int]:
    """Image indices from ``5 7 100:200`` (ranges are half-open, ``start:stop``)."""
    out = []
    for item in items:
        try:
            if ":" in item:
                a, b = item.split(":", 1)
                a, b = int(a), int(b)
                if b <= a:
                    raise ValueError
                out.extend(range(a, b))
            else:
                out.append(int(item))
        except ValueError:
            raise ValueError(f"--indices takes integers or ranges start:stop, got {item!r}") from None
    return out


def select(config, split: str, images, indices, seed: int, data_dir=None):
    """``(x, indices)``: the images of ``split`` to code (the first ``images``, or ``indices``, or all)."""
    from vae import data as vdata

    if split not in vdata.SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(vdata.SPLITS)}")
    if images is not None and (isinstance(images, bool) or images < 1):
        raise ValueError(f"--images must be a positive integer, got {images}")
    x = vdata.load_dataset(config.dataset, split, data_dir)
    if vdata.is_dynamic(config.dataset, split):
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
    n = x.shape[0]
    if indices is not None:
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"--indices must lie in [0, {n - 1}] for {config.dataset} {split}, got "
                             f"{'none' if idx.size == 0 else f'[{idx.min()}, {idx.max()}]'}")
    else:
        idx = np.arange(min(images, n) if images is not None else n)
    return x[torch.as_tensor(idx)], idx
