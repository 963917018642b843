"""Latent layers, one module each, sharing :class:`~vae.latents.base.LatentLayer`.

=============  ===============================================  =========================
name           what                                             module
=============  ===============================================  =========================
``gaussian``   Gaussian VAE baseline                            :mod:`.gaussian`
``z-laplace``  direct lattice training on Z, Laplacian S (3.6.1) :mod:`.z_laplace`
``z2``         Gaussian proxy (3.6.2) on a product of Z^2       :mod:`.proxy`
``a2``         Gaussian proxy on a product of A2                 :mod:`.proxy`
``e8``         Gaussian proxy on a product of E8                 :mod:`.proxy`
``bw16``       Gaussian proxy on a product of BW16               :mod:`.proxy`
``leech``      Gaussian proxy on a product of Leech lattices     :mod:`.proxy`
``proxy``      Gaussian proxy on any registered lattice with a   :mod:`.proxy`
               known theta series (option ``lattice``, e.g.
               ``--latent proxy --latent-option lattice=d4``)
``vq``         VQ-VAE, 4 codebooks x 512, learned prior          :mod:`.vq`
``concrete``   binary Concrete relaxation, temperature 0.1      :mod:`.concrete`
=============  ===============================================  =========================

``build_latent(name, dim, **options)`` is the one way to make a layer; the built-in modules
are imported on first use (a registry of ``"module:Class"`` strings, no if/elif chain).
The registry is open: :func:`register_latent` adds a user's own :class:`LatentLayer`
subclass under a new name, after which ``build_latent``, :class:`vae.models.ModelConfig`,
:class:`vae.models.VAE` and the trainer accept that name.  :func:`vae.testing.check_latent`
runs the contract the built-in layers pass on a user's layer.
"""
from __future__ import annotations

import importlib
import inspect

from .base import (InferenceSamples, LatentLayer, TrainTerms, check_dim, check_encoder_output,
                   check_sample_count, require_dither)

__all__ = ["LATENTS", "build_latent", "latent_class", "register_latent", "LatentLayer", "TrainTerms",
           "InferenceSamples", "check_dim", "check_encoder_output", "check_sample_count",
           "require_dither"]

#: registry name -> "module:Class" (built-in, relative to this package) or a registered class
LATENTS: dict[str, str | type] = {
    "gaussian": "gaussian:GaussianLatent",
    "z-laplace": "z_laplace:ZLaplaceLatent",
    "z2": "proxy:Z2Latent",
    "a2": "proxy:A2Latent",
    "e8": "proxy:E8Latent",
    "bw16": "proxy:BW16Latent",
    "leech": "proxy:LeechLatent",
    "proxy": "proxy:ProxyLatticeLatent",
    "vq": "vq:VQLatent",
    "concrete": "concrete:ConcreteLatent",
}
_BUILT_IN = frozenset(LATENTS)


def latent_class(name: str) -> type[LatentLayer]:
    """The class registered under ``name``; ``ValueError`` listing the valid names otherwise."""
    key = str(name).lower()
    if key not in LATENTS:
        raise ValueError(f"unknown latent {name!r}; valid: {', '.join(LATENTS)} "
                         f"(or a name added with vae.latents.register_latent)")
    entry = LATENTS[key]
    if isinstance(entry, type):
        return entry
    module, cls = entry.split(":")
    return getattr(importlib.import_module(f".{module}", __name__), cls)


def build_latent(name: str, dim: int, **options) -> LatentLayer:
    """Make the latent layer ``name`` of hidden size ``dim`` (options: see each class)."""
    return latent_class(name)(dim, **options)


def register_latent(name: str, cls: type[LatentLayer] | None = None, *, replace: bool = False):
    """Register a user latent layer under ``name`` (usable as a class decorator).

    >>> import torch
    >>> from vae.latents import LatentLayer, register_latent, build_latent
    >>> @register_latent("doc-identity")
    ... class Identity(LatentLayer):
    ...     discrete = False
    ...     def train_terms(self, e, generator=None):
    ...         zero = e.new_zeros(e.shape[0])
    ...         return {"decoder_input": e, "rate": zero, "aux": zero}
    ...     def inference_samples(self, e, k, generator=None):
    ...         return {"decoder_input": e[:, None].expand(-1, k, -1),
    ...                 "log_ratio": e.new_zeros(e.shape[0], k, dtype=torch.float64)}
    >>> build_latent("doc-identity", 4).name
    'doc-identity'
    >>> from vae.latents import LATENTS
    >>> del LATENTS["doc-identity"]                 # tidy the registry of this example

    Parameters
    ----------
    name : str
        The registry key (case-insensitive, stored lower-case; no spaces).  A built-in name
        cannot be taken.
    cls : subclass of :class:`LatentLayer`, optional
        The class; omitted, ``register_latent(name)`` returns a decorator.  Its constructor is
        called as ``cls(dim, **latent_options)``.  Its ``name`` attribute is set to ``name``
        when the class leaves it empty.
    replace : bool
        Allow replacing a user class already registered under ``name`` by a different class
        (registering the same class again, e.g. re-running a notebook cell, is always allowed).

    Returns
    -------
    ``cls`` (so the decorator leaves the class unchanged), or the decorator.

    Raises
    ------
    TypeError
        ``cls`` is not a concrete subclass of :class:`LatentLayer` (the message lists the
        abstract methods left to write).
    ValueError
        ``name`` is empty, has spaces, is built in, or is taken by another class.
    """
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
        raise ValueError(f"a latent name must be a non-empty string without spaces, got {name!r}")
    key = name.lower()

    def decorate(klass):
        if not (isinstance(klass, type) and issubclass(klass, LatentLayer)):
            raise TypeError(f"register_latent({name!r}) needs a subclass of vae.latents.LatentLayer, "
                            f"got {klass!r}")
        if inspect.isabstract(klass):
            missing = ", ".join(sorted(klass.__abstractmethods__))
            raise TypeError(f"{klass.__qualname__} cannot be registered as {name!r}: it does not "
                            f"implement {missing}")
        if key in _BUILT_IN:
            raise ValueError(f"{name!r} is a built-in latent; choose another name "
                             f"(taken: {', '.join(LATENTS)})")
        old = LATENTS.get(key)
        same = isinstance(old, type) and (old.__module__, old.__qualname__) == (klass.__module__,
                                                                                klass.__qualname__)
        if old is not None and not same and not replace:
            raise ValueError(f"the latent name {name!r} is taken by {old.__module__}."
                             f"{old.__qualname__}; pass replace=True to replace it")
        if not klass.name:
            klass.name = key
        LATENTS[key] = klass
        return klass

    return decorate if cls is None else decorate(cls)
