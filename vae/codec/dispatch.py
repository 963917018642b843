"""Which coder codes a latent: :func:`coder_for` and :func:`register_coder`.

A Gaussian-proxy lattice latent is coded by :class:`vae.codec.latent_coders.LatticeCoder`, which
asks the layer's prior object for its coder (:meth:`vae.priors.Prior.coder`): no table of prior
families here.  The other discrete latents have a coder per latent name.
"""
from __future__ import annotations

import copy

from vae.latents.proxy import ProxyLatticeLatent

from .latent_coders import CategoricalCoder, LatentCoder, LatticeCoder, ZLaplaceCoder

__all__ = ["coder_for", "register_coder"]


#: Coders by latent name (``layer.name``) for the latents that are not Gaussian-proxy lattices.
_CODERS = {"z-laplace": ZLaplaceCoder, "vq": CategoricalCoder, "concrete": CategoricalCoder}


def register_coder(cls, *, latent: str) -> None:
    """Make :func:`coder_for` use ``cls`` (a :class:`LatentCoder` subclass, or a ``"module:Class"``
    string) for the latent named ``latent`` (a prior brings its own coder: :meth:`vae.priors.Prior.coder`)."""
    if not isinstance(latent, str) or not latent:
        raise ValueError(f"register_coder needs latent=<a latent name>, got {latent!r}")
    _CODERS[latent] = cls


def _resolve(cls):
    if isinstance(cls, str):
        import importlib

        module, name = cls.split(":")
        return getattr(importlib.import_module(module), name)
    return cls


def coder_for(layer) -> LatentCoder:
    """The coder of a latent layer; ``TypeError`` for a continuous (``gaussian``) latent.

    Dispatch: a Gaussian-proxy lattice latent (any lattice, any prior) gets :class:`LatticeCoder`
    (its prior codes), any other latent the coder of its name (:func:`register_coder` adds one).
    The coder works on a CPU copy of a layer that lives on another device: the pmfs are always
    computed on the CPU.
    """
    if not getattr(layer, "discrete", False):
        raise TypeError(f"the {layer.name!r} latent is continuous: it has no symbols to compress "
                        f"(discrete latents: the lattice latents, {', '.join(_CODERS)})")
    cls = LatticeCoder if isinstance(layer, ProxyLatticeLatent) else _CODERS.get(layer.name)
    if cls is None:
        raise TypeError(f"no coder for the {layer.name!r} latent (coded: the lattice latents, "
                        f"{', '.join(_CODERS)})")
    if any(t.device.type != "cpu" for t in list(layer.parameters()) + list(layer.buffers())):
        layer = copy.deepcopy(layer).cpu()
    return _resolve(cls)(layer)
