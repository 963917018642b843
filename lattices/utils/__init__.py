"""Helpers shared by every layer of the toolkit (``lattices``, ``theory``, ``vae``, ``validation``).

* :mod:`lattices.utils.io`: atomic writes (an interrupted write never leaves a half file);
* :mod:`lattices.utils.rng`: one normalization of the randomness arguments (a numpy seed or
  ``Generator``, a torch seed or ``torch.Generator``), so that the same seed gives the same numbers.
"""
from .io import atomic_write, atomic_write_text
from .rng import as_generator, as_torch_generator

__all__ = ["atomic_write", "atomic_write_text", "as_generator", "as_torch_generator"]
