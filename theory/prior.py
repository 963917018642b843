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
:func:`lattices.theta.norm_unit` (``Delta**2`` for a common scale), i.e. the shell
index is :math:`\|a\|^2/\Delta^2`, and the MLP sees :math:`u/\Delta`; ``max_norm`` and
``t`` are in de-scaled units.

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

__all__ = ["LatticePrior", "ProductLatticePrior", "enumerate_points"]


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
    from lattices.theta import norm_unit

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


class LatticePrior(nn.Module):
    r"""Learned pmf :math:`p_{\hat Z|U}(a|u)` over the points of an integral (or de-scalable) lattice.

    Parameters
    ----------
    lattice : lattices.Lattice
        Its squared norms must be integers after removing a common scale.
    max_norm : int
        ``K``: support truncated at de-scaled squared norm ``K`` (see module notes).
    threshold_t : int
        ``t``: points with norm < t get the U-dependent pmf.
    u_hidden : int
        Width of the MLP ``u -> (logits over low-norm points, flag logit)``.
    dtype : torch.dtype
        Parameter dtype (float64 default so normalization holds to round-off).

    Examples
    --------
    >>> import lattices, torch
    >>> prior = LatticePrior(lattices.get("a2"), max_norm=4, threshold_t=2)
    >>> pts = torch.as_tensor(prior.support_points())
    >>> u = torch.zeros(1, 2, dtype=torch.float64)
    >>> round(prior.log_prob(pts, u).exp().sum().item(), 12)
    1.0
    """

    def __init__(self, lattice, max_norm: int, threshold_t: int, u_hidden: int = 32,
                 dtype=torch.float64):
        super().__init__()
        from lattices.theta import norm_unit

        if not isinstance(threshold_t, (int, np.integer)) or threshold_t < 0:
            raise ValueError(f"threshold_t must be a non-negative int, got {threshold_t!r}")
        if not isinstance(u_hidden, (int, np.integer)) or u_hidden < 1:
            raise ValueError(f"u_hidden must be a positive int, got {u_hidden!r}")
        self.lattice = lattice
        self.dim = lattice.dim
        self.max_norm = int(max_norm)
        self.threshold_t = int(threshold_t)
        self.unit = float(norm_unit(lattice))
        theta = lattice.theta_series(self.max_norm)                   # exact ints, de-scaled norms
        coords, points, norms = enumerate_points(lattice, self.max_norm)
        counts = np.bincount(norms, minlength=self.max_norm + 1)
        if [int(c) for c in counts] != [int(t) for t in theta]:       # internal invariant
            raise AssertionError(f"enumeration {counts.tolist()} disagrees with theta {theta}")
        self._coords, self._points, self._norms = coords, points, norms
        head = norms < self.threshold_t
        self.n_head = int(head.sum())
        classes = [k for k in range(self.threshold_t, self.max_norm + 1) if theta[k] > 0]
        self.n_classes = len(classes)
        cls_of_norm = np.full(self.max_norm + 1, -1, dtype=np.int64)
        cls_of_norm[classes] = np.arange(len(classes))
        self.register_buffer("_head_coords", torch.as_tensor(coords[head]))          # (H, m)
        self.register_buffer("_class_of_norm", torch.as_tensor(cls_of_norm))         # (K+1,)
        self.register_buffer("_log_theta", torch.as_tensor(
            [math.log(theta[k]) if theta[k] > 0 else 0.0 for k in range(self.max_norm + 1)],
            dtype=dtype))
        self.register_buffer("_basis_inv", torch.as_tensor(np.linalg.inv(lattice.basis), dtype=dtype))
        self.psi = nn.Parameter(torch.zeros(self.n_classes, dtype=dtype))          # Psi: norm logits
        self.has_flag = self.n_head > 0 and self.n_classes > 0
        n_out = self.n_head + (1 if self.has_flag else 0)
        self.mlp = (nn.Sequential(nn.Linear(self.dim, u_hidden, dtype=dtype), nn.Tanh(),
                                  nn.Linear(u_hidden, n_out, dtype=dtype)) if n_out > 0 else None)

    def support_points(self) -> np.ndarray:
        """All lattice points with de-scaled norm <= max_norm, (N, m) float64: the support."""
        return self._points.copy()

    def _coords_and_norms(self, points):
        c = points @ self._basis_inv                                   # (..., m)
        ci = torch.round(c)
        if points.numel() and float((c - ci).abs().max()) > 1e-6:
            raise ValueError("points must be lattice points of the prior's lattice")
        k = torch.round((points * points).sum(-1) / self.unit).to(torch.int64)
        return ci.to(torch.int64), k

    def log_prob(self, points, u):
        r""":math:`\log p_{\hat Z|U}(a|u)` for lattice points ``points`` (..., m) and dithers ``u`` (..., m).

        ``points`` and ``u`` broadcast over the leading axes; returns shape (...,).
        Points of norm > ``max_norm`` get ``-inf``.
        """
        points = torch.as_tensor(points, dtype=self._basis_inv.dtype)
        u = torch.as_tensor(u, dtype=self._basis_inv.dtype)
        if points.shape[-1] != self.dim or u.shape[-1] != self.dim:
            raise ValueError(f"points and u must have last dimension {self.dim}, "
                             f"got {tuple(points.shape)} and {tuple(u.shape)}")
        shape = torch.broadcast_shapes(points.shape[:-1], u.shape[:-1])
        points = points.expand(*shape, self.dim).reshape(-1, self.dim)       # (N, m)
        u = u.expand(*shape, self.dim).reshape(-1, self.dim)                 # (N, m)
        coords, k = self._coords_and_norms(points)
        in_support = k <= self.max_norm
        kc = torch.clamp(k, max=self.max_norm)
        out = torch.full(k.shape, -math.inf, dtype=points.dtype)
        z = self.mlp(u / math.sqrt(self.unit)) if self.mlp is not None else None   # de-scaled u
        if self.has_flag:
            flag = z[:, -1]
            log_head_flag, log_tail_flag = nn.functional.logsigmoid(flag), nn.functional.logsigmoid(-flag)
        else:
            log_head_flag = log_tail_flag = torch.zeros(k.shape, dtype=points.dtype)
        # tail part: Sec. 3.4, logsoftmax(Psi)_{|a|^2} - log theta_{|a|^2}
        if self.n_classes > 0:
            cls = self._class_of_norm[kc]
            is_tail = in_support & (k >= self.threshold_t) & (cls >= 0)
            lsm = torch.log_softmax(self.psi, 0)
            tail = log_tail_flag + lsm[cls.clamp(min=0)] - self._log_theta[kc]
            out = torch.where(is_tail, tail, out)
        # head part: U-dependent pmf over the points of norm < t
        if self.n_head > 0:
            match = (coords[:, None, :] == self._head_coords[None, :, :]).all(-1)     # (N, H)
            is_head = match.any(-1) & (k < self.threshold_t)
            idx = match.to(torch.int64).argmax(-1)
            head_lsm = torch.log_softmax(z[:, :self.n_head], -1)                       # (N, H)
            head = log_head_flag + head_lsm.gather(1, idx[:, None])[:, 0]
            out = torch.where(is_head, head, out)
        return out.reshape(shape)

    def forward(self, points, u):
        """Code length ``-log p(points|u)`` in nats (Sec. 3.4, the second term of (6))."""
        return -self.log_prob(points, u)


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
