"""Which coder codes a latent: :func:`coder_for` and :func:`register_coder`.

The coders live in :mod:`vae.codec.latent_coders` (the paper's prior, z-laplace, VQ-VAE,
Concrete) and :mod:`vae.codec.dgauss_coder` (the discrete-Gaussian prior, built on the former);
this module sits above both, so neither imports the other back.
"""
from __future__ import annotations

import copy

from vae.latents.proxy import ProxyLatticeLatent

from .dgauss_coder import DGaussCoder
from .latent_coders import CategoricalCoder, LatentCoder, ProxyCoder, ZLaplaceCoder

__all__ = ["coder_for", "register_coder"]


#: Coders by latent name (``layer.name``).
_CODERS = {"z-laplace": ZLaplaceCoder, "z2": ProxyCoder, "a2": ProxyCoder, "e8": ProxyCoder,
           "bw16": ProxyCoder, "leech": ProxyCoder,
           "vq": CategoricalCoder, "concrete": CategoricalCoder}

#: Coders of the lattice latents by prior family (``layer.prior_family``), checked before
#: the latent name: the Sec. 3.4 prior (``"paper"``) is :class:`ProxyCoder`'s, the
#: discrete-Gaussian prior :class:`DGaussCoder`'s.  A value may also be a lazy ``"module:Class"``
#: string (:func:`register_coder`).
_PRIOR_CODERS: dict = {"paper": ProxyCoder, "dgauss": DGaussCoder}


def register_coder(cls, *, latent: str | None = None, prior_family: str | None = None) -> None:
    """Make :func:`coder_for` use ``cls`` (a :class:`LatentCoder` subclass, or a ``"module:Class"``
    string) for a latent name or for a lattice latent's prior family (the family wins)."""
    if (latent is None) == (prior_family is None):
        raise ValueError("register_coder needs exactly one of latent= or prior_family=")
    (_CODERS if latent is not None else _PRIOR_CODERS)[latent if latent is not None else prior_family] = cls


def _resolve(cls):
    if isinstance(cls, str):
        import importlib

        module, name = cls.split(":")
        return getattr(importlib.import_module(module), name)
    return cls


def coder_for(layer) -> LatentCoder:
    """The coder of a latent layer; ``TypeError`` for a continuous (``gaussian``) latent.

    Dispatch: a lattice latent's prior family (``_PRIOR_CODERS``), else the latent name
    (``_CODERS``), else :class:`ProxyCoder` for any other Gaussian-proxy lattice latent with
    the paper's prior; :func:`register_coder` adds an entry.  The coder works on a CPU copy of
    a layer that lives on another device: the pmfs are always computed on the CPU.
    """
    if not getattr(layer, "discrete", False):
        raise TypeError(f"the {layer.name!r} latent is continuous: it has no symbols to compress "
                        f"(discrete latents: {', '.join(_CODERS)})")
    family = getattr(layer, "prior_family", None) if isinstance(layer, ProxyLatticeLatent) else None
    if family is not None and family not in _PRIOR_CODERS:
        raise TypeError(f"no coder for the {family!r} prior of the {layer.name!r} latent "
                        f"(coded prior families: {', '.join(_PRIOR_CODERS)})")
    cls = _PRIOR_CODERS.get(family) or _CODERS.get(layer.name)
    if cls is None and isinstance(layer, ProxyLatticeLatent):
        cls = ProxyCoder                                           # any other Gaussian-proxy lattice latent
    if cls is None:
        raise TypeError(f"no coder for the {layer.name!r} latent (coded: {', '.join(_CODERS)})")
    if any(t.device.type != "cpu" for t in list(layer.parameters()) + list(layer.buffers())):
        layer = copy.deepcopy(layer).cpu()
    return _resolve(cls)(layer)
