r"""The priors :math:`p_{\hat Z|U}` of the lattice latents: one object per family, found through a registry.

==========  ==================================================================  ===============
family      what                                                                module
==========  ==================================================================  ===============
``paper``   Sec. 3.4: U-dependent head, norm shells uniform within a shell,     :mod:`.paper`
            escape component (any lattice with a theta series; the default)
``dgauss``  mixture of discrete Gaussians on :math:`\Lambda - u`, exactly         :mod:`.dgauss`
            normalized over the whole lattice (z2, a2, d4, e8, bw16, leech)
==========  ==================================================================  ===============

A prior (:class:`Prior`, :mod:`.base`) owns its options (a dataclass), its parameters, its
log-pmf (an eager reference and, where one exists, a fused kernel) and its coder.  The latent
layer holds the object; the codec, the reports and the benchmarks ask it (``layer.prior.coder()``,
``.untrained()``, ``.describe()``, ``.use_kernel()``), never its family name.

Choosing a family: ``--latent-option prior=NAME`` (a registered name) or
``prior=package.module:Class`` (a :class:`Prior` subclass defined outside this package: the
module is imported, which is how ``vae.train``, ``vae.evaluate``, ``vae.compress`` and
``vae.decompress`` find a user's prior in a fresh process).  :func:`register_prior` adds a
family under a short name; :func:`vae.testing.check_prior` runs the contract.
"""
from __future__ import annotations

import importlib
import inspect

from vae.importing import IMPORT_ERRORS, import_object

from .base import KERNELS, NoOptions, Prior, PriorCoder, PriorContext

__all__ = ["PRIORS", "DEFAULT_PRIOR", "Prior", "PriorCoder", "PriorContext", "NoOptions", "KERNELS",
           "prior_class", "register_prior", "build_prior", "family_of_state", "prior_families"]

#: registry name -> "module:Class" (built-in, relative to this package) or a registered class
PRIORS: dict[str, str | type] = {
    "paper": "paper:PaperPrior",
    "dgauss": "dgauss:DGaussPrior",
}
_BUILT_IN = frozenset(PRIORS)
#: The family used when ``prior`` is not given.
DEFAULT_PRIOR = "paper"


def prior_families() -> list[str]:
    """The registered family names."""
    return list(PRIORS)


def _import_path(path: str) -> type:
    try:
        return import_object(path)
    except IMPORT_ERRORS as exc:
        raise ValueError(f"prior {path!r} cannot be imported ({exc}); install its module or put it "
                         f"on PYTHONPATH") from None


def prior_class(name) -> type[Prior]:
    """The class of the family ``name`` (registered name or ``"module:Class"``); ``ValueError`` otherwise."""
    if isinstance(name, type) and issubclass(name, Prior):
        return name
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"prior must be a family name ({', '.join(PRIORS)}) or 'module:Class', got {name!r}")
    key = name.strip()
    if ":" in key and key not in PRIORS:
        cls = _import_path(key)
        if not (isinstance(cls, type) and issubclass(cls, Prior)):
            raise ValueError(f"prior {name!r} is {cls!r}, not a subclass of vae.priors.Prior")
        if inspect.isabstract(cls):
            raise ValueError(f"prior {name!r} does not implement {', '.join(sorted(cls.__abstractmethods__))}")
        if not cls.family:
            cls.family = key
        return cls
    entry = PRIORS.get(key.lower())
    if entry is None:
        raise ValueError(f"unknown prior {name!r}; valid: {', '.join(PRIORS)} (or 'module:Class' of a "
                         f"vae.priors.Prior subclass, or a name added with vae.priors.register_prior)")
    if isinstance(entry, type):
        return entry
    module, cls = entry.split(":")
    return getattr(importlib.import_module(f".{module}", __name__), cls)


def register_prior(name: str, cls: type[Prior] | None = None, *, replace: bool = False):
    """Register a prior family under ``name`` (usable as a class decorator).

    >>> from vae.priors import Prior, register_prior, prior_class, PRIORS
    >>> from vae.priors.paper import PaperPrior
    >>> @register_prior("doc-example")
    ... class Example(PaperPrior):
    ...     pass
    >>> prior_class("doc-example").family
    'doc-example'
    >>> del PRIORS["doc-example"]                   # tidy the registry of this example

    A built-in name cannot be taken; another class under a taken name needs ``replace=True``.
    ``TypeError`` when ``cls`` is not a concrete :class:`Prior` subclass (the message lists the
    methods left to write).
    """
    if not isinstance(name, str) or not name.strip() or any(c.isspace() or c == ":" for c in name):
        raise ValueError(f"a prior name must be a non-empty string without spaces or ':', got {name!r}")
    key = name.lower()

    def decorate(klass):
        if not (isinstance(klass, type) and issubclass(klass, Prior)):
            raise TypeError(f"register_prior({name!r}) needs a subclass of vae.priors.Prior, got {klass!r}")
        if inspect.isabstract(klass):
            raise TypeError(f"{klass.__qualname__} cannot be registered as {name!r}: it does not implement "
                            f"{', '.join(sorted(klass.__abstractmethods__))}")
        if key in _BUILT_IN:
            raise ValueError(f"{name!r} is a built-in prior; choose another name (taken: {', '.join(PRIORS)})")
        old = PRIORS.get(key)
        same = isinstance(old, type) and (old.__module__, old.__qualname__) == (klass.__module__, klass.__qualname__)
        if old is not None and not same and not replace:
            raise ValueError(f"the prior name {name!r} is taken by {old.__module__}.{old.__qualname__}; "
                             f"pass replace=True to replace it")
        klass.family = key
        PRIORS[key] = klass
        return klass

    return decorate if cls is None else decorate(cls)


def build_prior(name, lattice, n_blocks: int, options: dict | None = None,
                context: PriorContext | None = None) -> Prior:
    """The prior of family ``name`` for ``n_blocks`` blocks of ``lattice`` (options: a flat dict)."""
    cls = prior_class(name)
    reason = cls.supported_lattice(lattice)
    if reason is not None:
        raise ValueError(reason)
    parsed = cls.parse_options(dict(options or {}))
    return cls.from_options(lattice, n_blocks, parsed, context or PriorContext())


def family_of_state(state: dict) -> str | None:
    """The registered family whose saved state this is (keys without prefix), or ``None``."""
    for name in PRIORS:
        if prior_class(name).recognizes_state(state):
            return name
    return None
