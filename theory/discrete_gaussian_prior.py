r"""A mixture of discrete Gaussians on the shifted lattice :math:`\Lambda - u`: an exactly normalized prior.

The ideal code of Theorem 1 gives the quantized point :math:`a` (de-scaled, a point of the
base lattice :math:`\Lambda`) the probability :math:`\int_{V(a)-u} f_S`, with :math:`u` the
de-scaled dither; for a smooth :math:`f_S` this is about :math:`\mathrm{vol}\,f_S(a-u)`.  This
module's family follows that form with a learned, heavier-tailed :math:`f_S`: per block
:math:`b`, a mixture of :math:`C` axis-aligned Gaussians restricted to the shifted lattice,

.. math::

   p(a|u) = \sum_{c=1}^C w_c\,\frac{\prod_i g_{c,i}(a_i - u_i)}{Z_c(u)}, \qquad
   g_{c,i}(x) = \exp\Bigl(-\frac{x^2}{2 s_{c,i}^2}\Bigr), \qquad
   Z_c(u) = \sum_{a \in \Lambda} \prod_i g_{c,i}(a_i - u_i),

with learned :math:`\log s_{c,i}` and mixture logits (softmax :math:`w`).  Every component is a
pmf over the whole (infinite) lattice, so the mixture is exactly normalized and positive
everywhere: no truncation, no escape component.  It depends on :math:`U` exactly through the
shift.

**The normalizers** :math:`Z_c(u)` are theta functions with characteristic (Conway & Sloane,
SPLAG, ch. 4, §4 (Z^n), §7.1 (D_n), §8.1 (E_8); with unequal scales per axis they stay products
of 1-D sums because the lattices below are unions of cosets of rectangular lattices):

* 1-D: :math:`\vartheta(x; s) = \sum_{k\in\mathbb Z} \exp(-(k-x)^2/(2s^2))`
  (:func:`log_theta_1d`); a coset :math:`c\mathbb Z + h` of spacing :math:`c` gives
  :math:`\sum_k g(ck + h - u) = \vartheta((u-h)/c;\ s/c)`.
* :math:`\mathbb Z^n`: :math:`\prod_i \vartheta(u_i; s_i)`.
* :math:`D_n` (even coordinate sum): the sum over the even-parity points, computed as a
  parity recursion over the coordinates with the even and odd 1-D sums
  :math:`E_i = \vartheta(u_i/2; s_i/2)`, :math:`O_i = \vartheta((u_i-1)/2; s_i/2)`
  (:math:`(e, o) \leftarrow (eE_i + oO_i,\ eO_i + oE_i)`, every term positive, in log space).
  This equals SPLAG's :math:`(\prod_i\vartheta_i + \prod_i\vartheta'_i)/2` (with the alternating
  sums :math:`\vartheta' = E - O`) without its cancellation when :math:`\prod\vartheta'` is
  close to :math:`-\prod\vartheta` (small scales).
* :math:`E_8 = D_8 \cup (D_8 + \tfrac12\mathbf 1)` (the toolkit's coordinates): the
  :math:`D_8` sum at :math:`u` and at :math:`u - \tfrac12\mathbf 1`, added.
* :math:`A_2` with the toolkit's basis :math:`\{(0, 1), (\sqrt3/2, 1/2)\}`:
  :math:`(\sqrt3\mathbb Z \times \mathbb Z) \cup ((\sqrt3\mathbb Z + \sqrt3/2) \times (\mathbb Z + \tfrac12))`.

* :math:`BW_{16}` and the Leech lattice :math:`\Lambda_{24}` (:data:`CODED`, :class:`CodedDecomposition`):
  Construction B over a binary code :math:`C` (SPLAG ch. 4, §10: :math:`\sqrt2\,BW_{16} =
  RM(1,4) + 2D_{16}`; §11: :math:`\sqrt8\,\Lambda_{24} = 2H_{24} \cup (2H_{24} + a)`,
  :math:`H_{24} = G_{24} + 2D_{24}`, :math:`a = (-3, 1^{23})`).  In the toolkit's coordinates
  (textbook scale) both are

  .. math::

     \Lambda = \bigcup_{g} \Bigl\{\, d\,j + t_g \;:\; j \in \mathbb Z^n,\ j \bmod 2 \in C,\
     \textstyle\sum_i (j_i - (j_i \bmod 2))/2 \equiv 0 \pmod 2 \Bigr\},
     \qquad d = 1/\sqrt2,

  with :math:`t_0 = 0` and, for the Leech lattice, the glue :math:`t_1 = a/\sqrt8`
  (:math:`j = c + 2k`, :math:`c \in C`, :math:`\sum k` even: BW16
  :math:`\sqrt2 x = c + 2k`, Leech :math:`\sqrt8 x = g a + 2c + 4k`).  Per coordinate, the sum
  of :math:`g_{c,i}` over the integers :math:`j \equiv r \pmod 4` (:math:`r = b + 2\kappa`: code
  bit :math:`b = j \bmod 2`, parity :math:`\kappa = k \bmod 2`) is the 1-D sum
  :math:`T_i(r) = \vartheta((x_i - r)/4;\ \sigma_i/4)`, :math:`x_i = (u_i - t_{g,i})/d`,
  :math:`\sigma_i = s_i/d`, and :math:`Z_c(u) = \sum_g \sum_{c\in C} \sum_{\kappa:\,\sum\kappa
  \equiv 0} \prod_i T_i(c_i + 2\kappa_i)`: a sum over :math:`2^{k}` codewords (32, 4096)
  computed exactly, every term positive, by the forward recursion over the code's syndrome
  trellis with the parity bit (Wolf 1978; Forney 1988; :class:`theory.code_trellis.CodeTrellis`:
  at most 16 (BW16) and 512 (Leech) trellis states per coordinate, times 2 parities), the
  :math:`D_n` recursion above with the code's states added.  The fused kernel does not know these
  lattices.  With :attr:`DiscreteGaussianPrior.linear_trellis` (default) the recursion runs in
  linear space with per-coordinate normalization, provably without underflow, and the 1-D sums
  and their derivatives in one numba pass (:mod:`theory.code_trellis_fused`: same numbers to
  1e-12, tested); otherwise in log space with autograd through every step (the reference).

The supported lattices are :data:`SUPPORTED` (``z2``, ``a2``, ``d4``, ``e8``: coset unions) and
:data:`CODED` (``bw16``, ``leech``), together :data:`SUPPORTED_NAMES`; the constructor checks
that the lattice's basis spans exactly the union it uses (basis vectors inside it, same
covolume).

**Scales** are clamped to ``[scale_floor, S_MAX]``, ``S_MAX = 1e4`` (de-scaled units, where the
covering cell has size about 1), with ``scale_floor = S_MIN * max_i spacing_i`` (times 2 for the
parity split of :math:`D_n`/:math:`E_8`; ``S_MIN = 0.05``: 0.05 for Z², 0.087 for A2, 0.1 for D4
and E8; ``4 d S_MIN`` = 0.141 for BW16 and Leech, whose 1-D sums see :math:`s/(4d)`), so
that every 1-D sum of the normalizer, at scale ``s / spacing`` (halved for the parity split),
sees a scale of at least ``S_MIN`` and is exact (a clamp inside the 1-D sums alone
would give E8 a wrong normalizer below s = 0.1: the pmf summed to 0.0045 at s = 0.06).  Below the
floor a component is a point mass to double precision anyway
(:math:`g` of the nearest other coset point is below :math:`e^{-50}`), and the clamp keeps
:math:`\log s` finite for blocks that collapse; above :math:`10^4` the pmf is flat over more
points than any code length in this toolkit meets.  The gradient of a clamped scale is 0.

References
----------
J. H. Conway and N. J. A. Sloane, *Sphere Packings, Lattices and Groups*, 3rd ed., ch. 4
(§10 BW16, §11 the Leech lattice).
J. K. Wolf, IEEE Trans. IT-24 (1978), 76-80; G. D. Forney, Jr., "Coset codes -- Part II",
IEEE Trans. IT-34 (1988), 1152-1187 (trellises of codes and lattices).
Poisson summation: e.g. E. M. Stein and R. Shakarchi, *Fourier Analysis*, ch. 5, Thm. 3.1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from .code_trellis import CodeTrellis
from .code_trellis_fused import log_sum_glued, residue_log_sums
from .discrete_gaussian_fused import fused_log_prob, fused_supported

__all__ = ["DiscreteGaussianPrior", "SUPPORTED", "CODED", "SUPPORTED_NAMES", "CodedDecomposition",
           "coded_decomposition", "log_theta_1d", "S_MIN", "S_MAX", "DIRECT_TERMS", "DUAL_TERMS",
           "SWITCH_SCALE"]

#: Clamp range of the scales (module notes).
S_MIN, S_MAX = 0.05, 1.0e4
#: ``s < SWITCH_SCALE``: direct sum over ``|k - round(x)| <= DIRECT_TERMS``; else the
#: Poisson-dual sum over ``|n| <= DUAL_TERMS`` (see :func:`log_theta_1d` for the bounds).
SWITCH_SCALE = 0.5
DIRECT_TERMS = 4
DUAL_TERMS = 3

_SQRT3 = math.sqrt(3.0)

#: Coset decomposition per lattice: (spacings (n,), shifts (cosets, n), parity) with the lattice
#: = union over shifts h of (prod_i spacing_i Z + h), restricted to even coordinate sums of
#: the integer part when ``parity``.
SUPPORTED = {
    "z2": ((1.0, 1.0), ((0.0, 0.0),), False),
    "a2": ((_SQRT3, 1.0), ((0.0, 0.0), (_SQRT3 / 2, 0.5)), False),
    "d4": ((1.0,) * 4, ((0.0,) * 4,), True),
    "e8": ((1.0,) * 8, ((0.0,) * 8, (0.5,) * 8), True),
}


@dataclass(frozen=True)
class CodedDecomposition:
    r"""A lattice by Construction B over a binary code, with glue (module notes):
    :math:`\Lambda = \bigcup_g \{d\,j + t_g : j \bmod 2 \in C,\ \sum_i \lfloor j_i/2\rfloor \equiv 0 \pmod 2\}`.

    Attributes
    ----------
    spacing : float
        :math:`d` (the same on every coordinate).
    shifts : ndarray (G, n) float64
        The glue shifts :math:`t_g` (row 0 is zero).
    codewords : ndarray (M, n) uint8
        The code :math:`C`.
    trellis : theory.code_trellis.CodeTrellis
        Its pruned syndrome trellis.
    source : str
    """

    spacing: float
    shifts: np.ndarray
    codewords: np.ndarray
    trellis: CodeTrellis
    source: str

    @property
    def covolume(self) -> float:
        r""":math:`d^n \cdot 2^n/|C| \cdot 2 / G` (code index, parity, glue)."""
        n = self.shifts.shape[1]
        return self.spacing ** n * 2.0 ** n / len(self.codewords) * 2.0 / len(self.shifts)


def _bw16_decomposition():
    from lattices.codes import rm14_code
    code = np.asarray(rm14_code())
    return CodedDecomposition(1 / math.sqrt(2.0), np.zeros((1, 16)), code, CodeTrellis(code),
                              "SPLAG ch. 4 Sec. 10: sqrt(2) BW16 = RM(1,4) + 2 D16")


def _leech_decomposition():
    from lattices.codes import golay_code
    from lattices.leech import GLUE
    code = np.asarray(golay_code())
    shifts = np.stack([np.zeros(24), np.asarray(GLUE, dtype=np.float64) / math.sqrt(8.0)])
    return CodedDecomposition(1 / math.sqrt(2.0), shifts, code, CodeTrellis(code),
                              "SPLAG ch. 4 Sec. 11: sqrt(8) Leech = 2 H24 u (2 H24 + a), H24 = G24 + 2 D24")


#: Lattices by Construction B over a binary code (module notes): name -> builder of its
#: :class:`CodedDecomposition` (built once, :func:`coded_decomposition`).
CODED = {"bw16": _bw16_decomposition, "leech": _leech_decomposition}
#: Every lattice the prior supports.
SUPPORTED_NAMES = tuple(SUPPORTED) + tuple(CODED)


@lru_cache(maxsize=None)
def coded_decomposition(name: str) -> CodedDecomposition:
    """The :class:`CodedDecomposition` of ``bw16`` or ``leech`` (cached)."""
    if name not in CODED:
        raise ValueError(f"no code decomposition for lattice {name!r}; valid: {', '.join(CODED)}")
    return CODED[name]()


def log_theta_1d(x, s):
    r""":math:`\log\vartheta(x; s) = \log\sum_{k\in\mathbb Z}\exp(-(k-x)^2/(2s^2))`, elementwise, float64.

    Two fixed-length sums, chosen per element by ``torch.where`` (no data-dependent loop
    bounds, no host synchronisation; each branch sees ``s`` clamped to its own range so that
    neither produces a NaN whose gradient would leak through ``where``):

    * ``s < SWITCH_SCALE = 1/2``: the direct sum over :math:`k = m + j`, :math:`|j| \le N = 4`,
      :math:`m = \mathrm{round}(x)`, as a ``logsumexp``.  With :math:`r = x - m \in [-\tfrac12, \tfrac12]`
      the largest term is :math:`\ge e^{-1/(8s^2)}` and an omitted term has
      :math:`|j - r| \ge N + \tfrac12`, so the relative truncation error is at most
      :math:`2.01\,e^{-((N+1/2)^2 - 1/4)/(2s^2)} = 2.01\,e^{-(N^2+N)/(2s^2)} \le 2.01\,e^{-40}
      \approx 9\cdot10^{-18}` for :math:`s < 1/2`.
    * ``s >= 1/2``: Poisson summation,
      :math:`\vartheta(x; s) = s\sqrt{2\pi}\,\bigl(1 + 2\sum_{n\ge1} q^{n^2}\cos(2\pi n x)\bigr)`,
      :math:`q = e^{-2\pi^2 s^2} \le e^{-\pi^2/2} \approx 7.2\cdot10^{-3}`, over :math:`n \le 3`; the
      omitted terms are at most :math:`2.01\,q^{16} \le 2.01\,e^{-8\pi^2} \approx 10^{-34}`
      while the bracket is :math:`\ge 1 - 2.01q > 0.98`, so the relative error is below
      :math:`1.2\cdot10^{-34}`.

    Both bounds are far below float64 round-off; the tests compare against a
    :math:`4\cdot10^4`-term float64 sum.
    """
    x = torch.as_tensor(x)
    s = torch.as_tensor(s, dtype=x.dtype).clamp(min=S_MIN)
    x, s = torch.broadcast_tensors(x, s)
    r = x - torch.round(x)                                             # in [-1/2, 1/2]
    # direct branch (s < 1/2)
    sd = s.clamp(max=SWITCH_SCALE)
    j = torch.arange(-DIRECT_TERMS, DIRECT_TERMS + 1, dtype=x.dtype, device=x.device)
    # no max-shift needed: the largest term is >= exp(-1/(8 s^2)) >= exp(-50) for s >= S_MIN
    direct = torch.log(torch.exp((j - r[..., None]) ** 2 * (-0.5 / sd[..., None] ** 2)).sum(-1))
    # Poisson-dual branch (s >= 1/2)
    sp = s.clamp(min=SWITCH_SCALE)
    n = torch.arange(1, DUAL_TERMS + 1, dtype=x.dtype, device=x.device)
    corr = 2 * (torch.exp((-2 * math.pi ** 2) * sp[..., None] ** 2 * n ** 2)
                * torch.cos((2 * math.pi) * n * r[..., None])).sum(-1)
    dual = torch.log(sp) + 0.5 * math.log(2 * math.pi) + torch.log1p(corr)
    return torch.where(s < SWITCH_SCALE, direct, dual)


class DiscreteGaussianPrior(nn.Module):
    r"""A mixture of ``C`` discrete Gaussians on :math:`\Lambda - u` per block, exactly normalized (module notes).

    Parameters
    ----------
    lattice : lattices.Lattice
        The base lattice; its name must be one of :data:`SUPPORTED_NAMES`.
    n_blocks : int
        ``R`` independent priors (one parameter set each) for the ``R`` blocks of
        :math:`\Lambda^R`, evaluated in one batched pass.
    components : int, default 2
        ``C``: mixture components per block.
    init_scale : float, default 1.0
        Initial de-scaled scale :math:`s`; the components start at
        ``init_scale * exp(linspace(-spread, spread, C))`` so that they differ.
    init_spread : float, default 0.5
    dtype : torch.dtype, default float64

    Examples
    --------
    A wide Gaussian on :math:`\mathbb Z^2` at :math:`u = 0`: :math:`p(0) = 1/Z \approx 1/(2\pi s^2)`.

    >>> import lattices, torch
    >>> p = DiscreteGaussianPrior(lattices.get("z2"), n_blocks=1, components=1, init_scale=3.0)
    >>> lp = p.log_prob_coords(torch.zeros(1, 1, 2, dtype=torch.int64), torch.zeros(1, 1, 2))
    >>> round(lp.item(), 10) == round(-math.log(2 * math.pi * 9), 10)
    True
    """

    #: evaluate CPU tensors with :mod:`theory.discrete_gaussian_fused` (same numbers to round-off,
    #: one numba kernel per direction); ``False``: always the eager formulation below.
    fused = True
    #: bw16 / leech: the trellis normalizer in linear space (:mod:`theory.code_trellis_fused`, same
    #: numbers to round-off); False: the log-space recursion (the reference)
    linear_trellis = True
    #: the module's scale bounds and direct-sum width, read by the fused kernel through the
    #: instance (so that :mod:`theory.discrete_gaussian_fused` need not import this module)
    s_min, s_max, direct_terms = S_MIN, S_MAX, DIRECT_TERMS

    def __init__(self, lattice, n_blocks: int, components: int = 2, init_scale: float = 1.0,
                 init_spread: float = 0.5, dtype=torch.float64):
        super().__init__()
        name = getattr(lattice, "name", None)
        if name not in SUPPORTED_NAMES:
            raise ValueError(f"the discrete Gaussian prior has closed-form normalizers for "
                             f"{', '.join(SUPPORTED_NAMES)} only, got lattice {name!r}; use prior='paper' for it")
        for value, what in ((n_blocks, "n_blocks"), (components, "components")):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{what} must be a positive int, got {value!r}")
        if not (isinstance(init_scale, (int, float)) and S_MIN <= init_scale <= S_MAX):
            raise ValueError(f"init_scale must be a float in [{S_MIN}, {S_MAX}], got {init_scale!r}")
        if not (isinstance(init_spread, (int, float)) and 0 <= init_spread <= 5):
            raise ValueError(f"init_spread must be a float in [0, 5], got {init_spread!r}")
        self.lattice = lattice
        self.dim = n = lattice.dim
        self.n_blocks = R = int(n_blocks)
        self.components = C = int(components)
        #: the code decomposition of bw16 / leech (module notes), else None
        self.coded = coded_decomposition(name) if name in CODED else None
        if self.coded is None:
            spacing, shifts, parity = SUPPORTED[name]
            _check_cosets(lattice, spacing, shifts, parity)
            self.parity = parity
            # every 1-D sum sees the scale s / spacing_i (halved for the parity split of D_n / E8):
            # the parameter floor keeps all of them >= S_MIN, where log_theta_1d is exact
            self.scale_floor = S_MIN * max(spacing) * (2.0 if parity else 1.0)
        else:
            _check_code_cosets(lattice, self.coded)
            spacing, shifts, self.parity = (self.coded.spacing,) * n, self.coded.shifts, True
            self.scale_floor = S_MIN * 4.0 * self.coded.spacing    # the 1-D sums see s / (4 d)
        self.register_buffer("_basis", torch.as_tensor(np.array(lattice.basis, dtype=float), dtype=dtype))
        self.register_buffer("_spacing", torch.as_tensor(spacing, dtype=dtype))           # (n,)
        self.register_buffer("_shifts", torch.as_tensor(shifts, dtype=dtype))             # (H, n)
        offsets = torch.linspace(-init_spread, init_spread, C, dtype=dtype) if C > 1 else torch.zeros(1, dtype=dtype)
        log_s = math.log(init_scale) + offsets[None, :, None].expand(R, C, n)
        self.log_scale = nn.Parameter(log_s.clone())                                        # (R, C, n)
        self.mix_logits = nn.Parameter(torch.zeros(R, C, dtype=dtype))                      # (R, C)

    def coset_decomposition(self):
        r"""``(spacing (n,), shifts (H, n), parity)``: :math:`\Lambda = \bigcup_h (\mathrm{diag}(d)\mathbb Z^n + h)`,
        integer part of even coordinate sum when ``parity`` (float64 numpy, :data:`SUPPORTED`).

        ``TypeError`` for the code lattices (:data:`CODED`): see :attr:`coded`."""
        if self.coded is not None:
            raise TypeError(f"{self.lattice.name} is a union of code cosets, not of rectangular cosets: "
                            f"use prior.coded (a CodedDecomposition)")
        spacing, shifts, parity = SUPPORTED[self.lattice.name]
        return np.asarray(spacing, dtype=np.float64), np.asarray(shifts, dtype=np.float64), bool(parity)

    def scales(self) -> torch.Tensor:
        """The clamped scales :math:`s_{b,c,i}`, shape (R, C, n)."""
        return self.log_scale.clamp(math.log(self.scale_floor), math.log(S_MAX)).exp()

    def log_normalizer(self, u) -> torch.Tensor:
        r""":math:`\log Z_c(u)` for de-scaled dithers ``u`` (N, R, n) -> (N, R, C) (module notes)."""
        if self.coded is not None:
            return self._log_normalizer_coded(u)
        s = self.scales()[None]                                                 # (1, R, C, n)
        u = u[:, :, None, :]                                                    # (N, R, 1, n)
        per_coset = []
        for h in self._shifts:                                                  # 1 or 2 cosets, fixed
            x = (u - h) / self._spacing                                         # (N, R, 1, n)
            sc = s / self._spacing
            if not self.parity:
                per_coset.append(log_theta_1d(x, sc).sum(-1))
                continue
            both = log_theta_1d(torch.stack(torch.broadcast_tensors(x / 2, (x - 1) / 2)), sc / 2)
            log_even, log_odd = both[0], both[1]                                # (N, R, C, n) each
            e, o = log_even[..., 0], log_odd[..., 0]                            # parity recursion
            for i in range(1, self.dim):
                e, o = (torch.logaddexp(e + log_even[..., i], o + log_odd[..., i]),
                        torch.logaddexp(e + log_odd[..., i], o + log_even[..., i]))
            per_coset.append(e)
        return torch.logsumexp(torch.stack(per_coset, 0), 0)

    def log_residue_sums(self, u, shifts=None) -> torch.Tensor:
        r"""The code lattices' 1-D sums :math:`\log T_i(r)`, ``r = 0..3`` (module notes): u (N, R, n) ->
        (G, N, R, C, n, 4), one row per glue shift (``shifts``: (G, n), default the decomposition's)."""
        if self.coded is None:
            raise TypeError(f"log_residue_sums is for the code lattices {', '.join(CODED)}, "
                            f"not {self.lattice.name!r}")
        d = self.coded.spacing
        sh = self._shifts if shifts is None else torch.as_tensor(shifts, dtype=u.dtype, device=u.device)
        x = (u[None, :, :, None, :] - sh[:, None, None, None, :]) / d            # (G, N, R, 1, n)
        sc = self.scales()[None, None] / d                                         # (1, 1, R, C, n)
        r = torch.arange(4, dtype=u.dtype, device=u.device)
        return log_theta_1d((x[..., None] - r) / 4, (sc / 4)[..., None])           # (G, N, R, C, n, 4)

    def _log_normalizer_coded(self, u):
        """log Z_c(u) of bw16 / leech by the trellis recursion, summed over the glue: (N, R, C).

        In linear space with per-coordinate normalization (:func:`theory.code_trellis_fused.log_sum_glued`,
        its notes prove that it cannot underflow for these lattices and scales) when
        :attr:`linear_trellis`, else the log-space reference :meth:`theory.code_trellis.CodeTrellis.log_sum`;
        with :attr:`fused` (CPU float64) the 1-D sums by :func:`theory.code_trellis_fused.residue_log_sums`
        (the formulas of :meth:`log_residue_sums`, same numbers to a few ulps)."""
        if not self.linear_trellis:
            return torch.logsumexp(self.coded.trellis.log_sum(self.log_residue_sums(u)), 0)
        if self.fused and u.device.type == "cpu" and u.dtype == torch.float64:      # the same sums, one numba pass
            x = (u[None] - self._shifts[:, None, None, :]) / self.coded.spacing       # (G, N, R, n)
            lw = residue_log_sums(x, self.scales() / self.coded.spacing, S_MIN, SWITCH_SCALE, DIRECT_TERMS)
        else:
            lw = self.log_residue_sums(u)                                            # (G, N, R, C, n, 4)
        return log_sum_glued(self.coded.trellis, lw)

    def log_prob_coords(self, coords, u):
        r""":math:`\log p(a|u)` for points ``a = coords @ basis``; coords (..., R, n) int, u (..., R, n) -> (..., R)."""
        coords = torch.as_tensor(coords, device=self._basis.device)
        if coords.dtype.is_floating_point or coords.dtype.is_complex:
            raise ValueError(f"coords must be an integer tensor, got dtype {coords.dtype}")
        u = torch.as_tensor(u, dtype=self._basis.dtype, device=self._basis.device)
        tail = (self.n_blocks, self.dim)
        if tuple(coords.shape[-2:]) != tail or tuple(u.shape[-2:]) != tail:
            raise ValueError(f"coords and u must have shape (..., n_blocks, m) = (..., {self.n_blocks}, "
                             f"{self.dim}), got {tuple(coords.shape)} and {tuple(u.shape)}")
        if self.coded is not None:
            return self._log_prob_coded(coords, u)
        lead = coords.shape[:-2]                 # torch.broadcast_shapes costs ~10 us a call: only when needed
        if u.shape[:-2] != lead:
            lead = torch.broadcast_shapes(lead, u.shape[:-2])
        coords = coords.expand(*lead, *tail).reshape(-1, *tail)
        u = u.expand(*lead, *tail).reshape(-1, *tail)
        if self.fused and fused_supported(self, coords, u):          # same numbers, one numba pass
            return fused_log_prob(self, coords, u).reshape(*lead, self.n_blocks)
        a = coords.to(self._basis.dtype) @ self._basis                            # (N, R, n)
        s = self.scales()                                                         # (R, C, n)
        quad = -0.5 * (((a - u)[:, :, None, :] / s) ** 2).sum(-1)                 # (N, R, C)
        comp = quad - self.log_normalizer(u)
        logw = torch.log_softmax(self.mix_logits, -1)                             # (R, C)
        return torch.logsumexp(comp + logw, -1).reshape(*lead, self.n_blocks)

    def _log_prob_coded(self, coords, u):
        """The eager log-pmf of the code lattices; the normalizer once per distinct dither row
        (leading dimensions along which ``u`` is expanded, stride 0, are evaluated once)."""
        R, n = self.n_blocks, self.dim
        keep = tuple(slice(0, 1) if (u.stride(k) == 0 and u.shape[k] > 1) else slice(None)
                     for k in range(u.dim() - 2))
        u_rows = u[keep]                                                             # (..., R, n)
        log_z = self.log_normalizer(u_rows.reshape(-1, R, n)).reshape(*u_rows.shape[:-2], R, self.components)
        a = coords.to(self._basis.dtype) @ self._basis                               # (..., R, n)
        quad = -0.5 * (((a - u)[..., None, :] / self.scales()) ** 2).sum(-1)        # (..., R, C)
        logw = torch.log_softmax(self.mix_logits, -1)                                # (R, C)
        return torch.logsumexp(quad - log_z + logw, -1)

    def log_prob(self, points, u):
        """:meth:`log_prob_coords` for lattice points given as coordinates (..., R, n); ValueError off the lattice."""
        points = torch.as_tensor(points, dtype=self._basis.dtype, device=self._basis.device)
        c = points @ torch.linalg.inv(self._basis)
        ci = torch.round(c)
        if points.numel() and float((c - ci).abs().max()) > 1e-6:
            raise ValueError("points must be lattice points of the prior's lattice")
        return self.log_prob_coords(ci.to(torch.int64), u)

    def forward(self, points, u):
        """Code length ``-log p(points|u)`` in nats."""
        return -self.log_prob(points, u)

    def extra_repr(self) -> str:
        return f"lattice={self.lattice.name!r}, blocks={self.n_blocks}, components={self.components}"


def _check_code_cosets(lattice, dec: CodedDecomposition):
    """Internal invariant: the basis vectors lie in the code-coset union and the covolumes agree."""
    B = np.asarray(lattice.basis, dtype=float)
    words = {tuple(w) for w in np.asarray(dec.codewords, dtype=np.int64).tolist()}
    inside = np.zeros(len(B), dtype=bool)
    for t in dec.shifts:
        j = (B - t) / dec.spacing
        ji = np.rint(j).astype(np.int64)
        ok = np.all(np.abs(j - ji) < 1e-9, axis=1)
        c = ji % 2
        ok &= np.array([tuple(w) in words for w in c.tolist()])
        ok &= ((ji - c) // 2).sum(1) % 2 == 0
        inside |= ok
    if not inside.all() or abs(abs(np.linalg.det(B)) - dec.covolume) > 1e-9 * max(1.0, dec.covolume):
        raise AssertionError(f"{lattice.name}: basis does not span the code-coset union of CODED")


def _check_cosets(lattice, spacing, shifts, parity):
    """Internal invariant: the basis vectors lie in the coset union and the covolumes agree."""
    B = np.asarray(lattice.basis, dtype=float)
    sp, sh = np.asarray(spacing), np.asarray(shifts)
    inside = np.zeros(len(B), dtype=bool)
    for h in sh:
        k = (B - h) / sp
        ok = np.all(np.abs(k - np.rint(k)) < 1e-9, axis=1)
        if parity:
            ok &= np.rint(k).sum(1) % 2 == 0
        inside |= ok
    covolume = np.prod(sp) * (2 if parity else 1) / len(sh)
    if not inside.all() or abs(abs(np.linalg.det(B)) - covolume) > 1e-9:
        raise AssertionError(f"{lattice.name}: basis does not span the coset union of SUPPORTED")
