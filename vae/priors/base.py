r"""The prior protocol: one object per family owns its parameters, its log-pmf and its coder.

A lattice latent (:class:`vae.latents.proxy.ProxyLatticeLatent`) codes, per block ``b`` of its
product lattice :math:`\Lambda^R`, the quantized point :math:`a_b` (de-scaled: a point of the
base lattice :math:`\Lambda`, given by its integer coefficients ``c_b``, ``a_b = c_b B``) under a
learned pmf :math:`p_{\hat Z|U}(a_b|u_b)` with the de-scaled dither :math:`u_b` (Sec. 3.4, the
second term of eq. (6) in training, the code length (10) at inference).  A :class:`Prior` is
that pmf, as one object (the pattern of CompressAI's entropy models):

============================  ===================================================================
member                        what it is
============================  ===================================================================
``family``                    the registry name (:func:`vae.priors.register_prior`)
``Options``                   a dataclass of the family's options, read from the flat
                              ``latent_options`` of a model config (:meth:`parse_options`)
``from_options`` (classmeth)  build a prior for a lattice, ``n_blocks`` and options
``log_prob_coords(c, u)``     :math:`\log p(a|u)`, coefficients (..., R, n) int, u (..., R, n)
                              -> (..., R): what training and the code length (10) use; the
                              *fused* kernel where one exists, else the eager reference
``log_prob_eager(c, u)``      the eager reference, always (tests compare the two)
``use_kernel(kernel)``        ``"auto"`` (fused where supported) or ``"eager"``, per instance
``coder()``                   a :class:`PriorCoder`: symbols <-> bits under this pmf, exactly
``untrained(seed)``           a freshly initialized prior of the same structure (controls)
``describe()``                a short label (``"dgauss C=2"``) for summaries
``supported_lattice``         (classmethod) ``ValueError`` naming what is valid, else ``None``
``options_for_state``         (classmethod) options under which a saved state loads
``recognizes_state``          (classmethod) whether a saved state is this family's
``support_max_norm()``        the largest de-scaled norm with mass (``None``: all of
                              :math:`\Lambda`), for normalization checks
``norm_shells()``             ``(K, t)`` of a norm-shell part, else ``None`` (reports)
============================  ===================================================================

:func:`vae.testing.check_prior` runs the contract every built-in prior passes on any prior.
"""
from __future__ import annotations

import contextlib
import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

__all__ = ["Prior", "PriorCoder", "PriorContext", "NoOptions", "KERNELS"]

#: The kernel choices of :meth:`Prior.use_kernel`.
KERNELS = ("auto", "eager")


@dataclass(frozen=True)
class NoOptions:
    """The options of a family that has none."""


@dataclass(frozen=True)
class PriorContext:
    r"""What the latent layer tells a prior at construction.

    Attributes
    ----------
    sigma2_lattice : float
        Per-dimension second moment :math:`\sigma^2_\Lambda` of the (unscaled) base lattice.
    init_sigma2_u, init_sigma2_s : float
        The initial proxy variances :math:`\sigma^2_{U_G}`, :math:`\sigma^2_{S_G}` (Sec. 3.6.2): the
        de-scaled point minus the dither, :math:`a - u`, has per-dimension variance about
        :math:`\sigma^2_\Lambda (1 + \sigma^2_{S_G}/\sigma^2_{U_G})` at initialization.
    dtype : torch.dtype
        Parameter dtype (float64 by default: exact normalization to round-off).
    """

    sigma2_lattice: float = 1.0 / 12
    init_sigma2_u: float = 0.1
    init_sigma2_s: float = 1.0
    dtype: torch.dtype = torch.float64

    @property
    def init_scale(self) -> float:
        """De-scaled standard deviation of :math:`a - u` per dimension at initialization."""
        return float(np.sqrt(self.sigma2_lattice * (1 + self.init_sigma2_s / self.init_sigma2_u)))


class Prior(nn.Module, ABC):
    """Base class of the priors :math:`p_{\\hat Z|U}` (module notes).

    A family subclasses it (usually together with the ``nn.Module`` that holds its math, e.g.
    ``class PaperPrior(LatticePrior, Prior)``: the math first in the MRO), sets ``Options`` and implements
    :meth:`from_options`, :meth:`log_prob_coords` (honouring ``self.fused``) and :meth:`coder`.
    """

    #: the family name (a built-in or user class sets it; :func:`vae.priors.register_prior` sets
    #: it to the registered name, a ``"module:Class"`` prior without one gets that path)
    family: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    #: read by :meth:`log_prob_coords` of the built-in families: evaluate with the fused kernel
    #: where it supports the inputs (set per instance through :meth:`use_kernel`)
    fused: bool = True

    # ---------------------------------------------------------------- construction
    @classmethod
    def supported_lattice(cls, lattice) -> str | None:
        """``None`` when the family can be built on ``lattice``, else the reason (names what is valid)."""
        return None

    @classmethod
    def parse_options(cls, options: dict):
        """The family's :attr:`Options` from a flat dict (unknown keys and bad types: ``ValueError``)."""
        fields = {f.name: f for f in dataclasses.fields(cls.Options)}
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise ValueError(f"{', '.join(map(repr, unknown))}: not an option of the {cls.family!r} prior "
                             f"(valid: {', '.join(fields) or 'none'})")
        return cls.Options(**options)

    @classmethod
    @abstractmethod
    def from_options(cls, lattice, n_blocks: int, options, context: PriorContext) -> "Prior":
        """Build the prior for ``n_blocks`` blocks of ``lattice`` with parsed ``options``."""

    @classmethod
    def options_for_state(cls, options: dict, state: dict) -> dict:
        """The options under which ``state`` (this prior's ``state_dict``, keys without prefix) loads.

        A family whose defaults changed since a run was saved reads the old value from the state
        here (the paper prior: its support ``max_norm``)."""
        return options

    @classmethod
    def recognizes_state(cls, state: dict) -> bool:
        """Whether ``state`` (keys without prefix) was saved by this family: a run saved without a
        ``prior`` option loads with the family that recognizes its state."""
        return False

    # ---------------------------------------------------------------- the pmf
    @abstractmethod
    def log_prob_coords(self, coords, u) -> torch.Tensor:
        r""":math:`\log p(a|u)` for ``a = coords @ basis``: coords (..., R, n) int, u (..., R, n) -> (..., R)."""

    def log_prob_eager(self, coords, u) -> torch.Tensor:
        """:meth:`log_prob_coords` through the eager reference formulation, whatever the kernel choice."""
        with self.kernel("eager"):
            return self.log_prob_coords(coords, u)

    def use_kernel(self, kernel: str) -> "Prior":
        """``"auto"``: the fused kernel where it supports the inputs; ``"eager"``: the reference."""
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
        self.fused = kernel == "auto"
        return self

    @contextlib.contextmanager
    def kernel(self, kernel: str):
        """:meth:`use_kernel` inside a ``with`` block, restored after it."""
        before = self.fused
        self.use_kernel(kernel)
        try:
            yield self
        finally:
            self.fused = before

    def support_max_norm(self) -> int | None:
        """The largest de-scaled squared norm with positive mass; ``None`` when every point has mass."""
        return None

    def norm_shells(self) -> tuple[int, int] | None:
        """``(K, t)`` of a prior with a norm-shell part (Sec. 3.4: shells up to de-scaled norm ``K``,
        a U-dependent head below ``t``), for the support report of ``validation.train_vs_inference``;
        ``None`` for a family without one."""
        return None

    # ---------------------------------------------------------------- coding and controls
    @abstractmethod
    def coder(self) -> "PriorCoder":
        """The coder of this pmf (a :class:`PriorCoder`), built from the current parameters."""

    @abstractmethod
    def untrained(self, seed: int = 0) -> "Prior":
        """A freshly initialized prior of the same family and structure (the mismatched-prior control)."""

    def describe(self) -> str:
        """A short label of the family and its structure, e.g. ``"paper K=64 t=3"``."""
        return self.family


class PriorCoder(ABC):
    """Codes the block symbols of a lattice latent under one prior (the encoder and the decoder side).

    Symbols are the integer coefficients (n_img, R * n) int64, block-major per image; dithers are
    the de-scaled dithers (n_img, R, n) float64.  The ANS stack is a stack: :meth:`push` applies
    the decoder's operations in reverse so that :meth:`pop` returns the symbols.  Every pmf must be
    computed the same way on both sides (float64 on the CPU, one thread, the same arrays) and
    quantized with :func:`vae.entropy_coding.quantize_pmf`.
    """

    def __init__(self, prior):
        self.prior = prior
        self.R, self.n = prior.n_blocks, prior.dim
        self.params: dict = {}

    def file_params(self, symbols) -> dict:
        """Small non-negative integers (<= 4096) the decoder needs first, stored in the file header."""
        return {}

    def set_params(self, params: dict) -> None:
        """Adopt the header's :meth:`file_params` (both sides call it)."""
        self.params = {k: int(v) for k, v in params.items()}

    @abstractmethod
    def push(self, ans, symbols, dither) -> np.ndarray:
        """Encode a chunk; returns the coded bits per image (n_img,)."""

    @abstractmethod
    def pop(self, ans, n_img: int, dither) -> np.ndarray:
        """Decode a chunk of ``n_img`` images: symbols (n_img, R * n) int64."""
