"""Normalize the randomness arguments: same seed, same numbers."""
from __future__ import annotations

import numbers

import numpy as np


def as_generator(rng=None) -> np.random.Generator:
    """``None`` -> a fresh Generator; an int seed or SeedSequence -> a seeded one;
    a Generator is used as is."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (numbers.Integral, np.random.SeedSequence)):
        if isinstance(rng, bool):
            raise TypeError(f"rng must be None, an int seed or a numpy Generator, got {rng!r}")
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be None, an int seed or a numpy Generator, got {rng!r}")


def as_torch_generator(generator=None, device=None):
    """``None`` -> None (torch's global RNG); an int -> a seeded generator on ``device``."""
    import torch

    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        g = torch.Generator(device=device if device is not None else "cpu")
        g.manual_seed(int(generator))
        return g
    raise TypeError(f"generator must be None, an int seed or a torch.Generator, got {generator!r}")
