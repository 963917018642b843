r"""The code-trellis sum of :mod:`theory.code_trellis` in linear space, one numba pass (same numbers).

:meth:`theory.code_trellis.CodeTrellis.log_sum` runs the forward recursion over the states
:math:`(\sigma, \pi)` in log space: a log-sum-exp of four terms per state, parity and step,
with autograd through every step (Leech, batch 100, 2 blocks, 2 components: 2686 states a row,
0.3-0.45 s forward and backward on one core, measured).  :func:`log_sum_glued` computes the same
:math:`\log\sum_g\sum_{c\in C}\sum_{\kappa}\prod_i e^{\ell_{g,i}(c_i + 2\kappa_i)}` (summed over
the glue rows ``g`` as well) with plain multiply-adds, and :func:`residue_log_sums` the prior's
1-D sums :math:`\ell = \log T` with their derivatives in one pass (together about 10-14 ms for
the same step, measured on a loaded 2-core machine; see the notes of each):

* **per-coordinate normalization.**  With :math:`m_i = \max_{g, r}\ell_{g,i}(r)` and
  :math:`w_{g,i}(r) = e^{\ell_{g,i}(r) - m_i} \in (0, 1]`,
  :math:`\log Z = \sum_i m_i + \log S`, :math:`S = \sum_g\sum_{\text{paths}}\prod_i w_{g,i}(r_i)`.
  Every term of :math:`S` is positive (no cancellation): the forward recursion has a relative
  round-off error of a few ulps per step, :math:`O(n\,\varepsilon)` in all, and no
  transcendental call (the ``exp`` of the weights and one ``log`` per row are in torch).
* **no overflow:** :math:`S \le G\,|C|\,2^{n-1}` (every product is at most 1), below
  :math:`2^{37}` for the Leech lattice.
* **no underflow (the bound).**  For the discrete Gaussian prior
  (:meth:`theory.discrete_gaussian_prior.DiscreteGaussianPrior.log_residue_sums`),
  :math:`e^{\ell_{g,i}(r)} = T_{g,i}(r) = \sum_{j\equiv r\,(4)} e^{-(j - x_i)^2/(2\sigma_i^2)}`
  with :math:`\sigma_i = s_i/d`.  Each such sum is at most its largest term plus the integral
  over spacing 4: :math:`T \le 1 + \sqrt{2\pi}\,\sigma_i/4 \le 1 + \sqrt{2\pi}\,S_{MAX}/(4d) <
  8864` (``S_MAX = 1e4``, :math:`d = 1/\sqrt2`), so :math:`e^{m_i} < 8864`.  The lattice point
  :math:`a^*` nearest to :math:`u` lies at :math:`|a^* - u| \le \rho` (the covering radius,
  toolkit scale: :math:`\rho^2 = 3` for BW16, :math:`2` for Leech, ``docs/lattice-tables.md``),
  and its path (code word, :math:`\kappa`, glue) is a term of :math:`S` with each factor
  :math:`T_{g,i} \ge e^{-(a^*_i - u_i)^2/(2 s_i^2)}` (up to the 1-D sums' own error, below
  :math:`10^{-16}` relative); with every :math:`s_i \ge` ``scale_floor``
  :math:`= 4 d\,S_{MIN} = 0.1414` (:math:`2 s^2 \ge 0.04`),

  .. math::

     \log S \;\ge\; -\frac{\rho^2}{2\,\mathrm{floor}^2} - n\log 8864
     \;\ge\; \begin{cases} -75 - 16\cdot 9.09 = -220.5 & BW_{16}\\
                           -50 - 24\cdot 9.09 = -268.2 & \Lambda_{24}\end{cases}
     \;\gg\; \log(2.2\cdot10^{-308}) = -708.4.

  The same holds for every partial sum on that path: its prefix product is at least the whole
  product (the factors are at most 1), so the forward sum of the state it passes is at least
  :math:`e^{-268.2}` at every depth.  States whose sums underflow (to subnormals or 0) carry an
  absolute error below :math:`2^{-1074}` per operation, relative to :math:`S` below
  :math:`10^{-190}` for the :math:`< 10^{6}` operations of a row (each carried into :math:`S` with a
  suffix sum as its weight, at most :math:`2^{37}`): no fallback is needed for these lattices
  and scales (tests: all scales at the floor, :math:`u` at a deep hole, and mixed floor /
  ``S_MAX`` scales).  Other callers get the log-space recursion when the weights are
  not finite float64 CPU tensors; for finite weights the result is exact unless the whole sum
  underflows (:math:`\log S < -708`, impossible for the prior), which gives ``-inf``.
* **gradient** (a ``torch.autograd.Function``): the same pass, when a gradient is needed, runs
  the backward recursion :math:`\beta` and returns :math:`\partial S/\partial w_{g,i}(r) =
  \sum_{\text{edges with residue } r}\alpha_i(\sigma,\pi)\,\beta_{i+1}(\sigma',\pi')` (all terms
  positive); autograd through :math:`w = e^{\ell - m}` (``m`` detached: :math:`\log Z` does not
  depend on it) and :math:`\log S` gives :math:`\partial\log Z/\partial\ell_{g,i}(r)`, the
  marginal probability of residue ``r`` at coordinate ``i`` (glue ``g``): positive sums again,
  with the underflow of the bound above an absolute error below :math:`10^{-190}` per marginal.
  First derivatives only.
* **the kernel** (:func:`_forward_backward`): the states of all depths get global indices,
  with their predecessor and successor tables (:func:`trellis_tables`); every state of the
  pruned trellis has at least one predecessor and one successor (it lies on a codeword path).
  Rows are processed :data:`_CHUNK` at a time, innermost and contiguous, so that the
  multiply-adds of one state run over the rows as SIMD lanes (about 4x faster than row by row,
  measured); the backward sums are gathered from the successors (each written once).

The coder (:mod:`vae.priors.dgauss`) keeps the log-space backward sums
(:meth:`~theory.code_trellis.CodeTrellis.log_suffix`): its pmfs are unchanged bit for bit.
"""
from __future__ import annotations

import numpy as np
import torch
from numba import njit

__all__ = ["log_sum_glued", "trellis_tables", "residue_log_sums"]

_TWO_PI = 2.0 * np.pi
_HALF_LOG_TWO_PI = 0.5 * np.log(2.0 * np.pi)


def trellis_tables(trellis):
    """(offsets (n + 2,), pred, succ (total states, 2)) of a :class:`~theory.code_trellis.CodeTrellis`, cached on it.

    State ``t`` of depth ``i`` has the global index ``offsets[i] + t``; ``pred[offsets[i+1] + t, b]``
    is the global index of the state of depth ``i`` that reaches it with bit ``b``, or -1;
    ``succ[offsets[i] + t, b]`` the state of depth ``i + 1`` that it reaches with bit ``b``, or -1.
    """
    tab = getattr(trellis, "_linear_tables", None)
    if tab is None:
        prof = np.asarray(trellis.profile, dtype=np.int64)
        off = np.zeros(len(prof) + 1, dtype=np.int64)
        off[1:] = np.cumsum(prof)
        pred = np.full((int(off[-1]), 2), -1, dtype=np.int64)
        succ = np.full((int(off[-1]), 2), -1, dtype=np.int64)
        for i, (p, q) in enumerate(zip(trellis.pred, trellis.succ)):
            pred[off[i + 1]:off[i + 2]] = np.where(p < prof[i], p + off[i], -1)    # padding |S_i| -> -1
            succ[off[i]:off[i + 1]] = np.where(q >= 0, q + off[i + 1], -1)
        tab = (off, pred, succ)
        trellis._linear_tables = tab
    return tab


#: rows per pass of :func:`_forward_backward`: the inner loops run over them (SIMD), the state
#: tables of one pass (2 x 2686 x 2 x K doubles for Leech) stay in the L2 cache
_CHUNK = 32


@njit(cache=True, nogil=True)
def _forward_backward(w, off, pred, succ, want_grad, S, dS):       # pragma: no cover - numba
    """S[b] = sum_g path sums of w[g, :, :, b] ((G, n, 4, B), trellis order); dS (G, n, 4, B) = dS[b]/dw if want_grad.

    Rows in chunks of _CHUNK, innermost (contiguous): alpha[t, parity, k] is the forward sum of
    state t (global index) of row b0 + k, beta[t, parity, k] the backward one."""
    G, n, B = w.shape[0], w.shape[1], w.shape[3]
    T = off[n + 1]
    K = _CHUNK
    alpha = np.zeros((T, 2, K))
    beta = np.zeros((T, 2, K))
    for b in range(B):
        S[b] = 0.0
    for b0 in range(0, B, K):
        kk = min(K, B - b0)
        for g in range(G):
            for k in range(kk):
                alpha[0, 0, k] = 1.0
                alpha[0, 1, k] = 0.0
            for i in range(n):
                w0e = w[g, i, 0, b0:b0 + kk]
                w1e = w[g, i, 1, b0:b0 + kk]
                w0o = w[g, i, 2, b0:b0 + kk]
                w1o = w[g, i, 3, b0:b0 + kk]
                for t in range(off[i + 1], off[i + 2]):
                    p0 = pred[t, 0]
                    p1 = pred[t, 1]
                    if p0 >= 0 and p1 >= 0:
                        for k in range(kk):
                            ae0 = alpha[p0, 0, k]
                            ao0 = alpha[p0, 1, k]
                            ae1 = alpha[p1, 0, k]
                            ao1 = alpha[p1, 1, k]
                            alpha[t, 0, k] = ae0 * w0e[k] + ao0 * w0o[k] + ae1 * w1e[k] + ao1 * w1o[k]
                            alpha[t, 1, k] = ao0 * w0e[k] + ae0 * w0o[k] + ao1 * w1e[k] + ae1 * w1o[k]
                    elif p0 >= 0:
                        for k in range(kk):
                            ae0 = alpha[p0, 0, k]
                            ao0 = alpha[p0, 1, k]
                            alpha[t, 0, k] = ae0 * w0e[k] + ao0 * w0o[k]
                            alpha[t, 1, k] = ao0 * w0e[k] + ae0 * w0o[k]
                    else:
                        for k in range(kk):
                            ae1 = alpha[p1, 0, k]
                            ao1 = alpha[p1, 1, k]
                            alpha[t, 0, k] = ae1 * w1e[k] + ao1 * w1o[k]
                            alpha[t, 1, k] = ao1 * w1e[k] + ae1 * w1o[k]
            for k in range(kk):
                S[b0 + k] += alpha[T - 1, 0, k]
            if not want_grad:
                continue
            for k in range(kk):
                beta[T - 1, 0, k] = 1.0
                beta[T - 1, 1, k] = 0.0
            for i in range(n - 1, -1, -1):                 # gather form: beta of depth i from depth i + 1
                w0e = w[g, i, 0, b0:b0 + kk]
                w1e = w[g, i, 1, b0:b0 + kk]
                w0o = w[g, i, 2, b0:b0 + kk]
                w1o = w[g, i, 3, b0:b0 + kk]
                g0e = dS[g, i, 0, b0:b0 + kk]
                g1e = dS[g, i, 1, b0:b0 + kk]
                g0o = dS[g, i, 2, b0:b0 + kk]
                g1o = dS[g, i, 3, b0:b0 + kk]
                for k in range(kk):
                    g0e[k] = 0.0
                    g1e[k] = 0.0
                    g0o[k] = 0.0
                    g1o[k] = 0.0
                for s_ in range(off[i], off[i + 1]):
                    q0 = succ[s_, 0]
                    q1 = succ[s_, 1]
                    if q0 >= 0 and q1 >= 0:
                        for k in range(kk):
                            ae = alpha[s_, 0, k]
                            ao = alpha[s_, 1, k]
                            be0 = beta[q0, 0, k]
                            bo0 = beta[q0, 1, k]
                            be1 = beta[q1, 0, k]
                            bo1 = beta[q1, 1, k]
                            g0e[k] += ae * be0 + ao * bo0
                            g0o[k] += ae * bo0 + ao * be0
                            g1e[k] += ae * be1 + ao * bo1
                            g1o[k] += ae * bo1 + ao * be1
                            beta[s_, 0, k] = w0e[k] * be0 + w0o[k] * bo0 + w1e[k] * be1 + w1o[k] * bo1
                            beta[s_, 1, k] = w0e[k] * bo0 + w0o[k] * be0 + w1e[k] * bo1 + w1o[k] * be1
                    elif q0 >= 0:
                        for k in range(kk):
                            ae = alpha[s_, 0, k]
                            ao = alpha[s_, 1, k]
                            be0 = beta[q0, 0, k]
                            bo0 = beta[q0, 1, k]
                            g0e[k] += ae * be0 + ao * bo0
                            g0o[k] += ae * bo0 + ao * be0
                            beta[s_, 0, k] = w0e[k] * be0 + w0o[k] * bo0
                            beta[s_, 1, k] = w0e[k] * bo0 + w0o[k] * be0
                    else:
                        for k in range(kk):
                            ae = alpha[s_, 0, k]
                            ao = alpha[s_, 1, k]
                            be1 = beta[q1, 0, k]
                            bo1 = beta[q1, 1, k]
                            g1e[k] += ae * be1 + ao * bo1
                            g1o[k] += ae * bo1 + ao * be1
                            beta[s_, 0, k] = w1e[k] * be1 + w1o[k] * bo1
                            beta[s_, 1, k] = w1e[k] * bo1 + w1o[k] * be1


class _PathSum(torch.autograd.Function):
    """S (B,) = sum over glue rows and trellis paths of the products of w (G, B, n, 4), trellis order."""

    @staticmethod
    def forward(ctx, w, tables):
        wn = w.detach().permute(0, 2, 3, 1).contiguous().numpy()            # (G, n, 4, B): rows innermost
        G, n, _, B = wn.shape
        S = np.empty(B)
        want = bool(ctx.needs_input_grad[0])
        dS = np.empty((G, n, 4, B) if want else (1, 1, 4, 1))
        _forward_backward(wn, *tables, want, S, dS)
        if want:
            ctx.save_for_backward(torch.from_numpy(dS).permute(0, 3, 1, 2))  # (G, B, n, 4)
        return torch.from_numpy(S)

    @staticmethod
    def backward(ctx, grad):
        (dS,) = ctx.saved_tensors
        return grad[None, :, None, None] * dS, None


def log_sum_glued(trellis, log_w: torch.Tensor) -> torch.Tensor:
    r""":math:`\log\sum_g \exp(` ``trellis.log_sum(log_w[g])`` :math:`)` in linear space (module notes), differentiable.

    Parameters
    ----------
    trellis : theory.code_trellis.CodeTrellis
    log_w : Tensor (G, ..., n, 4)
        :math:`\ell_{g,i}(r)`, one row per glue shift ``g``, coordinate ``i`` in the lattice order.

    Returns
    -------
    Tensor (...)
    """
    if log_w.dtype != torch.float64 or log_w.device.type != "cpu" or not bool(torch.isfinite(log_w).all()):
        return torch.logsumexp(trellis.log_sum(log_w), 0)           # the log-space reference
    G, lead, n = log_w.shape[0], log_w.shape[1:-2], log_w.shape[-2]
    lw = log_w.reshape(G, -1, n, 4)
    m = lw.detach().amax(dim=(0, 3))                                 # (B, n)
    w = torch.exp(lw - m[None, :, :, None])[:, :, torch.from_numpy(trellis.order)]    # trellis order
    S = _PathSum.apply(w, trellis_tables(trellis))
    return (m.sum(-1) + torch.log(S)).reshape(lead)


@njit(cache=True, nogil=True)
def _residue_kernel(x, sc, s_min, switch, direct_terms, lt, dx, ds):     # pragma: no cover - numba
    """lt[g, b, R, c, i, r] = log theta((x[g, b, R, i] - r)/4; sc[R, c, i]/4) and its derivatives
    w.r.t. x (dx) and sc (ds, 0 where the clamp at s_min binds), the formulas of log_theta_1d."""
    G, B, RR, n = x.shape
    C = sc.shape[1]
    for g in range(G):
        for b in range(B):
            for R in range(RR):
                for c in range(C):
                    for i in range(n):
                        s = sc[R, c, i] / 4.0
                        live = 1.0
                        if s < s_min:
                            s = s_min
                            live = 0.0
                        xi = x[g, b, R, i]
                        if s < switch:
                            k = 0.5 / (s * s)
                            ratio2 = np.exp(-2.0 * k)              # the ratios shrink by this per step
                            for r in range(4):
                                y = (xi - r) / 4.0
                                rr = y - np.rint(y)
                                # tau_j = exp(-k (j - rr)^2), |j| <= N: from j = 0 (>= e^-50) outwards by the
                                # exact ratio recurrence (the ratios are <= 1: no overflow)
                                tau0 = np.exp(-k * rr * rr)
                                tot = tau0
                                m1 = -tau0 * rr
                                m2 = tau0 * rr * rr
                                for sgn in (1.0, -1.0):
                                    tau = tau0
                                    q = np.exp(-k * (1.0 - 2.0 * sgn * rr))
                                    for j in range(1, direct_terms + 1):
                                        tau *= q
                                        q *= ratio2
                                        dj = sgn * j - rr
                                        tot += tau
                                        m1 += tau * dj
                                        m2 += tau * dj * dj
                                lt[g, b, R, c, i, r] = np.log(tot)
                                dx[g, b, R, c, i, r] = (m1 / tot) * (2.0 * k) / 4.0
                                ds[g, b, R, c, i, r] = live * (m2 / tot) * (2.0 * k / s) / 4.0
                        else:
                            e1 = np.exp(-2.0 * np.pi * np.pi * s * s)
                            e2 = e1 * e1
                            e4 = e2 * e2
                            e9 = e4 * e4 * e1
                            base = np.log(s) + _HALF_LOG_TWO_PI
                            for r in range(4):
                                y = (xi - r) / 4.0
                                rr = y - np.rint(y)
                                c1 = np.cos(_TWO_PI * rr)
                                s1 = np.sin(_TWO_PI * rr)
                                c2 = 2.0 * c1 * c1 - 1.0
                                s2 = 2.0 * s1 * c1
                                c3 = c1 * (4.0 * c1 * c1 - 3.0)
                                s3 = s1 * (3.0 - 4.0 * s1 * s1)
                                corr = 2.0 * (e1 * c1 + e4 * c2 + e9 * c3)
                                den = 1.0 + corr
                                lt[g, b, R, c, i, r] = base + np.log1p(corr)
                                dcorr_dy = -2.0 * _TWO_PI * (e1 * s1 + 2.0 * e4 * s2 + 3.0 * e9 * s3)
                                dcorr_ds = -8.0 * np.pi * np.pi * s * (e1 * c1 + 4.0 * e4 * c2 + 9.0 * e9 * c3)
                                dx[g, b, R, c, i, r] = dcorr_dy / den / 4.0
                                ds[g, b, R, c, i, r] = live * (1.0 / s + dcorr_ds / den) / 4.0


class _ResidueSums(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, sc, consts):
        xn = x.detach().contiguous().numpy()
        sn = sc.detach().contiguous().numpy()
        G, B, R, n = xn.shape
        C = sn.shape[1]
        lt, dx, ds = (np.empty((G, B, R, C, n, 4)) for _ in range(3))
        _residue_kernel(xn, sn, *consts, lt, dx, ds)
        ctx.save_for_backward(torch.from_numpy(dx), torch.from_numpy(ds))
        return torch.from_numpy(lt)

    @staticmethod
    def backward(ctx, grad):
        dx, ds = ctx.saved_tensors
        gx = (grad * dx).sum(dim=(3, 5)) if ctx.needs_input_grad[0] else None      # (G, B, R, n)
        gs = (grad * ds).sum(dim=(0, 1, 5)) if ctx.needs_input_grad[1] else None   # (R, C, n)
        return gx, gs, None


def residue_log_sums(x, sc, s_min, switch, direct_terms):
    r"""The code lattices' :math:`\log T_{g,i}(r) = \log\vartheta((x - r)/4;\ \sigma/4)`, differentiable.

    ``x`` (G, N, R, n): de-scaled, de-glued dithers :math:`(u - t_g)/d`; ``sc`` (R, C, n):
    :math:`\sigma = s/d`; returns (G, N, R, C, n, 4), with the derivatives w.r.t. ``x`` and ``sc``
    from the same numba pass.  The formulas of :func:`theory.discrete_gaussian_prior.log_theta_1d`
    (same branches, switch, term counts and clamp), with the direct terms by the exact ratio
    recurrence from the central term outwards, :math:`\tau_{j\pm1}/\tau_j = e^{-k(1 \pm 2(j - r))}`,
    ratios at most 1 (three ``exp`` per sum; a few ulps per term), and the dual cosines
    :math:`\cos 2\pi n r`, n = 2, 3, by the multiple-angle formulas (round-off only): the same
    numbers to a few ulps (tests: 1e-12 relative, values and gradients).
    """
    return _ResidueSums.apply(x, sc, (float(s_min), float(switch), int(direct_terms)))
