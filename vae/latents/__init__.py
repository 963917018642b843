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

``build_latent(name, dim, **options)`` is the one way to make a layer; the modules are
imported on first use (a registry of ``"module:Class"`` strings, no if/elif chain).
"""
from __future__ import annotations

import importlib

from .base import (InferenceSamples, LatentLayer, TrainTerms, check_dim, check_sample_count,
                   require_dither)

__all__ = ["LATENTS", "build_latent", "latent_class", "LatentLayer", "TrainTerms",
           "InferenceSamples", "check_dim", "check_sample_count", "require_dither"]

#: registry name -> "module:Class" (relative to this package)
LATENTS: dict[str, str] = {
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


def latent_class(name: str) -> type[LatentLayer]:
    """The class registered under ``name``; ``ValueError`` listing the valid names otherwise."""
    key = str(name).lower()
    if key not in LATENTS:
        raise ValueError(f"unknown latent {name!r}; valid: {', '.join(LATENTS)}")
    module, cls = LATENTS[key].split(":")
    return getattr(importlib.import_module(f".{module}", __name__), cls)


def build_latent(name: str, dim: int, **options) -> LatentLayer:
    """Make the latent layer ``name`` of hidden size ``dim`` (options: see each class)."""
    return latent_class(name)(dim, **options)
