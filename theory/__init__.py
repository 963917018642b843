"""The paper's mathematics as functions, each citing its equation (Lastras 2020).

Modules: ``laplace`` (Z + Laplace closed forms, Sec. 3.3), ``kl`` (eq. (7)),
``scaling`` (eq. (8) and the Gaussian-proxy KL term of Sec. 3.6.2), ``prior``
(the lattice prior p_{Z^|U} of Sec. 3.4), ``errata`` (statements of the paper
found not to hold as printed, with the corrected statement and the evidence).
Data flows one way: ``lattices`` <- ``theory`` <- ``vae`` <- ``validation``.
"""
from . import errata, kl, laplace, prior, scaling  # noqa: F401

__all__ = ["errata", "kl", "laplace", "prior", "scaling"]
