r"""The lattice prior :math:`p_{\hat Z|U}` of Sec. 3.4 as a torch module, exactly normalized.

The paper's family (Sec. 3.4), for an integral lattice (squared norms are integers):

* for :math:`\|a\|^2 \ge t`: :math:`\log p(a) = \mathrm{logsoftmax}(\Psi)_{\|a\|^2} - \log\theta_{\|a\|^2}`
  (learned logits :math:`\Psi` over the norms, :math:`\theta_k` the theta-series coefficient =
  number of lattice vectors of norm ``k``: uniform within a norm shell);
* for :math:`\|a\|^2 < t`: a learned pmf over the finitely many such points that depends on
  ``U`` (here: an MLP ``u -> logits``);
* a learned binary flag choosing between the two parts (here U-dependent: one more MLP
  output), "incorporated in the overall representation cost": its log-probability is added.

Hence, with :math:`\pi(u) = \sigma(f(u))` the probability of the low-norm part,

.. math::

   \log p(a|u) = \begin{cases} \log\pi(u) + \mathrm{logsoftmax}(g(u))_a & \|a\|^2 < t \\
      \log(1-\pi(u)) + \mathrm{logsoftmax}(\Psi)_{\|a\|^2} - \log\theta_{\|a\|^2} & t \le \|a\|^2 \le K \\
      -\infty & \|a\|^2 > K \end{cases}

**Choices the paper leaves open (documented here):** the support is truncated at the
squared norm ``K = max_norm`` (no tail bucket: a uniform distribution over the
infinitely many points beyond ``K`` does not exist, and the paper uses a finite
precomputed list of theta coefficients); ``Psi`` has one logit per norm ``k`` in
``[t, K]`` with :math:`\theta_k > 0` (empty shells get no mass, which keeps the
distribution exactly normalized); with ``t = 0`` the low-norm part is empty and the flag
is dropped, with ``t > K`` the norm part is empty.  Then
:math:`\sum_{a \in \Lambda} p(a|u) = 1` exactly (up to float round-off), which the tests check
by enumerating every point of norm :math:`\le K` (:func:`enumerate_points`).

**Scaled lattices** (:math:`\Lambda_\Delta`, not integral): norms are de-scaled by
:func:`lattices.theta_exact.norm_unit` (``Delta**2`` for a common scale), i.e. the shell
index is :math:`\|a\|^2/\Delta^2`, and the MLP sees :math:`u/\Delta`; ``max_norm`` and
``t`` are in de-scaled units.

**Escape component (``escape=True``), an addition to the paper:** at inference the
quantized point :math:`K_\Lambda(e + U)` can land beyond ``K``, where the truncated pmf
above is 0 and the code length (10) infinite.  With ``escape=True`` the prior is the
mixture

.. math::

   p(a|u) = (1-\varepsilon)\,p_\text{trunc}(a|u) + \varepsilon\,p_\text{esc}(a), \qquad
   p_\text{esc}(a) = \prod_{i=1}^m \frac{1-\rho}{1+\rho}\,\rho^{|c_i|}

with :math:`c = a B^{-1} \in \mathbb Z^m` the integer coefficients of ``a`` and learned
:math:`\varepsilon = \sigma(\cdot)`, :math:`\rho = \sigma(\cdot)` (one each per block).
Since :math:`\sum_{k \in \mathbb Z}\rho^{|k|} = (1+\rho)/(1-\rho)`, :math:`p_\text{esc}` sums
to 1 over :math:`\mathbb Z^m`, i.e. over all of :math:`\Lambda` (``c -> c B`` is a bijection),
so the mixture is exactly normalized and positive everywhere; :math:`\log p` is a
``logsumexp`` of the two parts.

**Blocks (``n_blocks=R``):** ``R`` independent priors over the same lattice (one set of
parameters each: ``psi`` (R, C), the MLP weights (R, ...), escape parameters (R,)),
evaluated in one batched pass (``einsum`` over the block axis, a sorted-key lookup of the
head points), for the ``R`` blocks of a product :math:`\Lambda^R`.

**Products** (Sec. 4.1): :class:`ProductLatticePrior` factorizes over blocks,
:math:`\log p(a|u) = \sum_b \log p_b(a_b|u_b)` with one :class:`LatticePrior` per block
(normalized because each factor is).  A :class:`LatticePrior` on a product lattice
itself is also valid (its theta series is the convolution of the factors'), but does
not factorize.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .lattice_prior_fused import fused_log_prob, fused_supported

__all__ = ["LatticePrior", "ProductLatticePrior", "enumerate_points"]


#: The largest head (points of norm < t) :class:`LatticePrior` enumerates: one logit per point,
#: block and sample; the paper's largest is E8's 241.
MAX_HEAD_POINTS = 1 << 16


def enumerate_points(lattice, max_norm):
    r"""Every point of ``lattice`` with de-scaled squared norm :math:`\le` ``max_norm``.

    Fincke-Pohst enumeration (level by level, vectorized) over the Cholesky form of
    the Gram matrix, then an exact check of the norms.

    Returns
    -------
    coords : (N, m) int64 ndarray
        Integer coefficients ``i`` (the point is ``i @ lattice.basis``).
    points : (N, m) float64 ndarray
    norms : (N,) int64 ndarray
        De-scaled squared norms (``|a|^2 / norm_unit``), sorted ascending.
    """
    from lattices.theta_exact import norm_unit

    if not isinstance(max_norm, (int, np.integer)) or isinstance(max_norm, bool) or max_norm < 0:
        raise ValueError(f"max_norm must be a non-negative int, got {max_norm!r}")
    unit = norm_unit(lattice)
    B = np.asarray(lattice.basis, dtype=float)
    m = lattice.dim
    Q = B @ B.T
    R = np.linalg.cholesky(Q).T                              # Q = R^T R, R upper triangular
    bound = max_norm * unit * (1 + 1e-9) + 1e-12
    x = np.zeros((1, m), dtype=np.int64)
    rem = np.array([bound])
    for i in range(m - 1, -1, -1):
        c = -(x[:, i + 1:] @ R[i, i + 1:]) / R[i, i] if i < m - 1 else np.zeros(len(x))
        r = np.sqrt(np.maximum(rem, 0.0)) / R[i, i]
        lo = np.ceil(c - r - 1e-9).astype(np.int64)
        hi = np.floor(c + r + 1e-9).astype(np.int64)
        cnt = np.maximum(hi - lo + 1, 0)
        rep = np.repeat(np.arange(len(x)), cnt)
        offs = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        x = x[rep].copy()
        x[:, i] = lo[rep] + offs
        partial = R[i, i] * x[:, i] + x[:, i + 1:] @ R[i, i + 1:]
        rem = rem[rep] - partial ** 2
    points = x.astype(float) @ B
    raw = (points * points).sum(1) / unit
    norms = np.rint(raw).astype(np.int64)
    keep = norms <= max_norm
    order = np.lexsort((np.arange(keep.sum()), norms[keep]))
    return x[keep][order], points[keep][order], norms[keep][order]


_THETA_CACHE: dict = {}


def _theta_series(lattice, max_norm: int) -> list:
    """``lattice.theta_series(max_norm)``, computed once per process for each (basis, K): a
    sweep or a test builds many priors of one lattice (E8 up to K = 64 costs ~0.5 s)."""
    key = (lattice.name, np.asarray(lattice.basis, dtype=float).tobytes(), int(max_norm))
    if key not in _THETA_CACHE:
        _THETA_CACHE[key] = tuple(lattice.theta_series(max_norm))
    return list(_THETA_CACHE[key])


class LatticePrior(nn.Module):
    r"""Learned pmf :math:`p_{\hat Z|U}(a|u)` over the points of an integral (or de-scalable) lattice.

    Parameters
    ----------
    lattice : lattices.Lattice
        Its squared norms must be integers after removing a common scale.
    max_norm : int
        ``K``: support of the Sec. 3.4 part truncated at de-scaled squared norm ``K``
        (see module notes).
    threshold_t : int
        ``t``: points with norm < t get the U-dependent pmf.
    u_hidden : int
        Width of the MLP ``u -> (logits over low-norm points, flag logit)``.
    dtype : torch.dtype
        Parameter dtype (float64 default so normalization holds to round-off).
    n_blocks : int or None
        ``None`` (default): one prior; ``points`` and ``u`` have shape (..., m) and
        :meth:`log_prob` returns (...).  An int ``R``: ``R`` independent priors (one
        parameter set each, evaluated in one batched pass, no Python loop over blocks)
        for the ``R`` blocks of a product :math:`\Lambda^R` (Sec. 4.1); ``points`` and
        ``u`` have shape (..., R, m) and :meth:`log_prob` returns the per-block
        log-probabilities (..., R).
    escape : bool
        ``False`` (default): points beyond ``K`` have probability 0.  ``True``: the
        exactly normalized mixture (module notes)
        :math:`(1-\varepsilon)\,p_\text{trunc}(a|u) + \varepsilon\,p_\text{esc}(a)` with
        learned :math:`\varepsilon` and geometric ratio :math:`\rho`, finite for every point.

    Examples
    --------
    >>> import lattices, torch
    >>> prior = LatticePrior(lattices.get("a2"), max_norm=4, threshold_t=2)
    >>> pts = torch.as_tensor(prior.support_points())
    >>> u = torch.zeros(1, 2, dtype=torch.float64)
    >>> round(prior.log_prob(pts, u).exp().sum().item(), 12)
    1.0

    With the escape component, a point far beyond ``K`` gets exactly
    :math:`\log\varepsilon + \log p_\text{esc}` (at init :math:`\varepsilon = 10^{-2}`,
    :math:`\rho = 1/2`: :math:`p_\text{esc}(a) = \prod_i \tfrac13 2^{-|a_i|}`):

    >>> p = LatticePrior(lattices.get("z2"), max_norm=4, threshold_t=2, n_blocks=3, escape=True)
    >>> far = torch.tensor([[[10, -20]] * 3])                       # (1 sample, 3 blocks, m=2)
    >>> lp = p.log_prob_coords(far, torch.zeros(1, 3, 2, dtype=torch.float64))
    >>> lp.shape, round(lp[0, 0].item(), 10) == round(math.log(1e-2) + 2 * math.log(1 / 3) - 30 * math.log(2), 10)
    (torch.Size([1, 3]), True)
    """

    #: initial escape weight epsilon and geometric ratio rho (``escape=True``): a small
    #: weight so that the Sec. 3.4 part governs the support, a ratio of 1/2 per coefficient.
    ESCAPE_INIT = 1e-2
    RATIO_INIT = 0.5

    #: evaluate CPU tensors with the fused kernels of :mod:`theory.lattice_prior_fused` (same
    #: numbers to round-off, about 10x fewer torch operations) when a gradient is recorded
    #: (training); ``False``: always the eager formulation :meth:`_log_prob` (the reference, the
    #: path for other devices, and, measured faster there, for evaluation without gradients).
    fused = True

    def __init__(self, lattice, max_norm: int, threshold_t: int, u_hidden: int = 32,
                 dtype=torch.float64, n_blocks: int | None = None, escape: bool = False):
        super().__init__()
        from lattices.theta_exact import norm_unit

        if not isinstance(threshold_t, (int, np.integer)) or threshold_t < 0:
            raise ValueError(f"threshold_t must be a non-negative int, got {threshold_t!r}")
        if not isinstance(u_hidden, (int, np.integer)) or u_hidden < 1:
            raise ValueError(f"u_hidden must be a positive int, got {u_hidden!r}")
        if n_blocks is not None and (isinstance(n_blocks, bool) or not isinstance(n_blocks, (int, np.integer))
                                     or n_blocks < 1):
            raise ValueError(f"n_blocks must be None or a positive int, got {n_blocks!r}")
        if not isinstance(escape, bool):
            raise ValueError(f"escape must be True or False, got {escape!r}")
        self.lattice = lattice
        self.dim = lattice.dim
        self.n_blocks = None if n_blocks is None else int(n_blocks)
        R = 1 if n_blocks is None else int(n_blocks)
        self.max_norm = int(max_norm)
        self.threshold_t = int(threshold_t)
        self.escape = escape
        self.unit = float(norm_unit(lattice))
        theta = _theta_series(lattice, self.max_norm)                 # exact ints, de-scaled norms
        # Only the head (norm < t) is enumerated here: the norm part needs the theta
        # coefficients alone, so K can be large (E8, K = 64: 7.3e7 points never listed).
        # support_points() enumerates the whole support on demand.
        n_enum = min(self.max_norm, self.threshold_t - 1)
        n_head = sum(int(c) for c in theta[:max(n_enum, 0) + 1])
        if n_head > MAX_HEAD_POINTS:
            raise ValueError(f"threshold_t {threshold_t} is too large for {lattice.name}: its head would hold "
                             f"{n_head} points (one logit each per block and sample), at most "
                             f"{MAX_HEAD_POINTS}; use a smaller t")
        coords, _, norms = enumerate_points(lattice, max(n_enum, 0))
        counts = np.bincount(norms, minlength=n_enum + 1)[:n_enum + 1]
        if n_enum >= 0 and [int(c) for c in counts] != [int(t) for t in theta[:n_enum + 1]]:
            raise AssertionError(f"enumeration {counts.tolist()} disagrees with theta {theta}")   # invariant
        self._support = None
        head = norms < self.threshold_t
        self.n_head = int(head.sum())
        classes = [k for k in range(self.threshold_t, self.max_norm + 1) if theta[k] > 0]
        self.n_classes = len(classes)
        cls_of_norm = np.full(self.max_norm + 1, -1, dtype=np.int64)
        cls_of_norm[classes] = np.arange(len(classes))
        # head lookup: integer coefficients -> one int64 key (mixed radix), sorted for searchsorted
        self._key_off = int(np.abs(coords[head]).max()) + 1 if self.n_head else 1
        base = 2 * self._key_off + 1                                  # digits 0..2*off: clamp keeps |c| <= off
        if base ** self.dim >= 2 ** 62:
            raise ValueError(f"threshold_t={threshold_t} is too large for {lattice!r}: the "
                             f"{self.n_head} head points cannot be indexed (use a smaller t)")
        radix = torch.as_tensor([base ** i for i in range(self.dim)], dtype=torch.int64)
        self.register_buffer("_radix", radix)                                         # (m,)
        head_keys = self._keys(torch.as_tensor(coords[head]))                         # (H,)
        order = torch.argsort(head_keys)
        self.register_buffer("_head_keys", head_keys[order])                          # (H,) sorted
        self.register_buffer("_head_index", order)                                    # sorted pos -> head idx
        self.register_buffer("_class_of_norm", torch.as_tensor(cls_of_norm))         # (K+1,)
        self.register_buffer("_log_theta", torch.as_tensor(
            [math.log(theta[k]) if theta[k] > 0 else 0.0 for k in range(self.max_norm + 1)],
            dtype=dtype))
        self.register_buffer("_basis_inv", torch.as_tensor(np.linalg.inv(lattice.basis), dtype=dtype))
        self.register_buffer("_gram", torch.as_tensor(lattice.gram / self.unit, dtype=dtype))
        self.psi = nn.Parameter(torch.zeros(R, self.n_classes, dtype=dtype))        # Psi: norm logits
        self.has_flag = self.n_head > 0 and self.n_classes > 0
        self.has_mlp = self.n_head > 0
        if self.has_mlp:                 # R independent MLPs u -> tanh -> logits (+ flag), nn.Linear's init
            self.w1 = nn.Parameter(_linear_init(R, self.dim, u_hidden, dtype))      # (R, m, h)
            self.b1 = nn.Parameter(_linear_init(R, self.dim, u_hidden, dtype, bias=True))
            self.w2 = nn.Parameter(_linear_init(R, u_hidden, self.n_head, dtype))   # (R, h, H)
            self.b2 = nn.Parameter(_linear_init(R, u_hidden, self.n_head, dtype, bias=True))
        if self.has_flag:                # the flag logit: one more output unit of the same MLP
            self.w_flag = nn.Parameter(_linear_init(R, u_hidden, 1, dtype)[..., 0])  # (R, h)
            self.b_flag = nn.Parameter(_linear_init(R, u_hidden, 1, dtype, bias=True)[..., 0])  # (R,)
        if escape:
            logit = lambda p: math.log(p / (1 - p))  # noqa: E731
            self.escape_logit = nn.Parameter(torch.full((R,), logit(self.ESCAPE_INIT), dtype=dtype))
            self.ratio_logit = nn.Parameter(torch.full((R,), logit(self.RATIO_INIT), dtype=dtype))

    def _support_arrays(self):
        if self._support is None:                                     # enumerated once, on demand
            coords, points, norms = enumerate_points(self.lattice, self.max_norm)
            counts = np.bincount(norms, minlength=self.max_norm + 1)
            theta = self.lattice.theta_series(self.max_norm)
            if [int(c) for c in counts] != [int(t) for t in theta]:   # internal invariant
                raise AssertionError(f"enumeration {counts.tolist()} disagrees with theta {theta}")
            self._support = (coords, points, norms)
        return self._support

    def support_points(self) -> np.ndarray:
        """All lattice points with de-scaled norm <= max_norm, (N, m) float64: the support of p_trunc.

        Enumerated on first call (Fincke-Pohst); large for big ``max_norm`` in high dimension.
        """
        return self._support_arrays()[1].copy()

    def support_coords(self) -> np.ndarray:
        """Integer coefficients (N, m) int64 of :meth:`support_points` w.r.t. ``lattice.basis``."""
        return self._support_arrays()[0].copy()

    def support_norms(self) -> np.ndarray:
        """De-scaled squared norms (N,) int64 of :meth:`support_points` (ascending)."""
        return self._support_arrays()[2].copy()

    def _keys(self, coords):
        c = coords.clamp(-self._key_off, self._key_off) + self._key_off   # clamped: never a false match
        return (c * self._radix).sum(-1)

    def _batched(self, a, u):
        """Broadcast ``a`` and ``u`` and flatten them to (N, R, m); also return the output shape."""
        tail = (self.dim,) if self.n_blocks is None else (self.n_blocks, self.dim)
        if tuple(a.shape[-len(tail):]) != tail or tuple(u.shape[-len(tail):]) != tail:
            want = "(..., m)" if self.n_blocks is None else "(..., n_blocks, m)"
            raise ValueError(f"points and u must have shape {want} = (..., {', '.join(map(str, tail))}), "
                             f"got {tuple(a.shape)} and {tuple(u.shape)}")
        lead = torch.broadcast_shapes(a.shape[:-len(tail)], u.shape[:-len(tail)])
        R = 1 if self.n_blocks is None else self.n_blocks
        a = a.expand(*lead, *tail).reshape(-1, R, self.dim)
        u = u.expand(*lead, *tail).reshape(-1, R, self.dim)
        out_shape = lead if self.n_blocks is None else (*lead, self.n_blocks)
        return a, u, out_shape

    def log_prob(self, points, u):
        r""":math:`\log p_{\hat Z|U}(a|u)` for lattice points ``points`` and dithers ``u``.

        Shapes: (..., m) -> (...) when ``n_blocks`` is None, (..., R, m) -> (..., R)
        otherwise; ``points`` and ``u`` broadcast over the leading axes.  Points of norm >
        ``max_norm`` get ``-inf`` unless ``escape``.  ``ValueError`` for non-lattice points.
        """
        dt = self._basis_inv.dtype
        points = torch.as_tensor(points, dtype=dt, device=self._basis_inv.device)
        c = points @ self._basis_inv                                   # (..., m) real coefficients
        ci = torch.round(c)
        if points.numel() and float((c - ci).abs().max()) > 1e-6:
            raise ValueError("points must be lattice points of the prior's lattice")
        return self.log_prob_coords(ci.to(torch.int64), u)

    def log_prob_coords(self, coords, u):
        r""":meth:`log_prob` of the points ``coords @ lattice.basis`` given their integer coefficients.

        The fast path for callers that already hold the coefficients (no lattice-point check).
        """
        coords = torch.as_tensor(coords, device=self._basis_inv.device)
        if coords.dtype.is_floating_point or coords.dtype.is_complex:
            raise ValueError(f"coords must be an integer tensor, got dtype {coords.dtype}")
        u = torch.as_tensor(u, dtype=self._basis_inv.dtype, device=self._basis_inv.device)
        coords, u, shape = self._batched(coords.to(torch.int64), u)
        if self.fused and torch.is_grad_enabled() and fused_supported(self, coords, u):
            return fused_log_prob(self, coords, u).reshape(shape)
        return self._log_prob(coords, u).reshape(shape)

    def part_log_probs(self, u):
        r"""The U-dependent tables of the truncated part, one definition for the pmf and the coder.

        ``u`` (N, R, m) de-scaled dithers -> ``log_head_flag`` (R, N): :math:`\log\pi(u)`;
        ``head`` (R, N, H): :math:`\mathrm{logsoftmax}(g(u))_j` over the head points (norm < t, in
        the order of :attr:`head_coords`), so that a head point has :math:`\log\pi(u) +
        \mathrm{logsoftmax}(g(u))_j` (``None`` for both without head); ``log_tail_flag`` (R, N):
        :math:`\log(1-\pi(u))` (zeros without the flag).  The shell part adds
        :math:`\mathrm{logsoftmax}(\Psi)_k - \log\theta_k` to ``log_tail_flag``.
        """
        R, N = u.shape[1], u.shape[0]
        if not self.has_mlp:
            return None, None, torch.zeros((R, N), dtype=self._gram.dtype, device=u.device)
        x = u.transpose(0, 1) / math.sqrt(self.unit)                              # (R, N, m) de-scaled u
        h = torch.tanh(torch.baddbmm(self.b1[:, None, :], x, self.w1))            # (R, N, hidden)
        if self.has_flag:
            flag = (h * self.w_flag[:, None, :]).sum(-1) + self.b_flag[:, None]       # (R, N)
            log_head_flag, log_tail_flag = nn.functional.logsigmoid(flag), nn.functional.logsigmoid(-flag)
        else:
            log_head_flag = log_tail_flag = torch.zeros(h.shape[:2], dtype=h.dtype, device=h.device)
        logits = torch.baddbmm(self.b2[:, None, :], h, self.w2)                       # (R, N, H)
        return log_head_flag, torch.log_softmax(logits, -1), log_tail_flag

    def escape_log_params(self):
        r"""Per block (R,): :math:`\log\varepsilon`, :math:`\log(1-\varepsilon)`, :math:`\log\rho` and
        :math:`\log\frac{1-\rho}{1+\rho}` of the escape component (``escape=True``)."""
        r = self.ratio_logit
        log_geo = nn.functional.logsigmoid(-r) - torch.log1p(torch.sigmoid(r))      # log (1-rho)/(1+rho)
        return (nn.functional.logsigmoid(self.escape_logit), nn.functional.logsigmoid(-self.escape_logit),
                nn.functional.logsigmoid(r), log_geo)

    @property
    def head_coords(self) -> np.ndarray:
        """Integer coefficients (H, m) of the head points (norm < t) in the order of :meth:`part_log_probs`."""
        order = self._head_index.cpu().numpy()
        keys = self._head_keys.cpu().numpy()
        base = 2 * self._key_off + 1
        digits = (keys[:, None] // base ** np.arange(self.dim)[None, :]) % base - self._key_off
        out = np.empty_like(digits)
        out[order] = digits
        return out.astype(np.int64)

    def _log_prob(self, coords, u):
        """Core: coords (N, R, m) int64, u (N, R, m) -> (N, R); works block-major, (R, N, ...)."""
        coords = coords.transpose(0, 1)                                               # (R, N, m)
        cf = coords.to(self._gram.dtype)
        k = torch.round(((cf @ self._gram) * cf).sum(-1)).to(torch.int64)            # (R, N) de-scaled norms
        in_support = k <= self.max_norm
        kc = torch.clamp(k, max=self.max_norm)
        out = torch.full(k.shape, -math.inf, dtype=self._gram.dtype, device=k.device)
        log_head_flag, head_table, log_tail_flag = self.part_log_probs(u)
        # tail part: Sec. 3.4, logsoftmax(Psi)_{|a|^2} - log theta_{|a|^2}
        if self.n_classes > 0:
            cls = self._class_of_norm[kc]                                             # (R, N)
            is_tail = in_support & (k >= self.threshold_t) & (cls >= 0)
            lsm = torch.log_softmax(self.psi, -1)                                     # (R, C)
            tail = log_tail_flag + lsm.gather(1, cls.clamp(min=0)) - self._log_theta[kc]
            out = torch.where(is_tail, tail, out)
        # head part: U-dependent pmf over the points of norm < t (found by key lookup)
        if self.n_head > 0:
            key = self._keys(coords)                                                  # (R, N)
            pos = torch.searchsorted(self._head_keys, key).clamp(max=self.n_head - 1)
            is_head = self._head_keys[pos] == key
            idx = self._head_index[pos]
            head = log_head_flag + head_table.gather(-1, idx[..., None])[..., 0]
            out = torch.where(is_head, head, out)
        if self.escape:
            # escape component: (1 - eps) p_trunc + eps prod_i (1-rho)/(1+rho) rho^{|a_i|}
            log_eps, log_1m_eps, log_rho, log_geo = (t[:, None] for t in self.escape_log_params())   # (R, 1)
            log_esc = self.dim * log_geo + log_rho * coords.abs().sum(-1).to(out.dtype)
            out = torch.logsumexp(torch.stack([log_1m_eps + out, log_eps + log_esc], 0), 0)
        return out.T                                                                   # (N, R)

    def forward(self, points, u):
        """Code length ``-log p(points|u)`` in nats (Sec. 3.4, the second term of (6))."""
        return -self.log_prob(points, u)


def _linear_init(R, fan_in, fan_out, dtype, bias=False):
    """``R`` stacked copies of :class:`torch.nn.Linear`'s default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    shape = (R, fan_out) if bias else (R, fan_in, fan_out)
    return torch.empty(shape, dtype=dtype).uniform_(-bound, bound)


class ProductLatticePrior(nn.Module):
    r"""Factorized prior over a product lattice: :math:`\sum_b \log p_b(a_b | u_b)` (Sec. 4.1).

    ``factors``: the block lattices (e.g. ``[lattices.get("e8")] * 4``); one independent
    :class:`LatticePrior` per block, each over its own coordinates of ``a`` and ``u``.
    """

    def __init__(self, factors, max_norm: int, threshold_t: int, u_hidden: int = 32,
                 dtype=torch.float64):
        super().__init__()
        factors = list(factors)
        if not factors:
            raise ValueError("factors must be a non-empty list of lattices")
        self.blocks = nn.ModuleList(LatticePrior(f, max_norm, threshold_t, u_hidden, dtype)
                                    for f in factors)
        self.dims = [f.dim for f in factors]
        self.dim = sum(self.dims)

    def log_prob(self, points, u):
        points = torch.as_tensor(points, dtype=self.blocks[0]._basis_inv.dtype)
        u = torch.as_tensor(u, dtype=points.dtype)
        if points.shape[-1] != self.dim or u.shape[-1] != self.dim:
            raise ValueError(f"points and u must have last dimension {self.dim}")
        total, start = 0, 0
        for blk, d in zip(self.blocks, self.dims):
            total = total + blk.log_prob(points[..., start:start + d], u[..., start:start + d])
            start += d
        return total

    def forward(self, points, u):
        return -self.log_prob(points, u)
