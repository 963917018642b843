"""The paper's mathematics as functions, each citing its equation (Lastras 2020).

Modules: ``crypto_lemma`` (Lemma 1), ``theorem1`` (Lemma 2 and Theorem 1, eq. (4):
p_{Z|U}, f_{S-U} by quadrature over the exact cell or by Monte Carlo, both sides of
(4)), ``densities`` (Gaussian, Laplace, mixture densities f_S for the auxiliary vector S), ``laplace`` (Z + Laplace closed forms, Sec. 3.3), ``kl`` (eq. (7)),
``scaling`` (eq. (8) and the Gaussian-proxy KL term of Sec. 3.6.2), ``lattice_prior``
(the lattice prior p_{Z^|U} of Sec. 3.4), ``errata`` (statements of the paper
found not to hold as printed, with the corrected statement and the evidence).
Data flows one way: ``lattices`` <- ``theory`` <- ``vae`` <- ``validation``.
"""
from . import crypto_lemma, densities, errata, kl, laplace, lattice_prior, scaling, theorem1  # noqa: F401

__all__ = ["crypto_lemma", "densities", "errata", "kl", "laplace", "lattice_prior", "scaling", "theorem1"]
