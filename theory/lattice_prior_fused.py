r"""The fused CPU evaluation of :class:`theory.lattice_prior.LatticePrior` (same numbers, fewer operations).

The eager formulation of :meth:`LatticePrior._log_prob <theory.lattice_prior.LatticePrior>`
spends most of its time dispatching some 60 small torch operations forward and as many
backward (norms, class and head lookups, two ``where`` selections, the escape mixture).
Here the MLP of the head stays in torch (two ``baddbmm`` and a ``tanh``: the only
operations whose cost grows with the head size), and everything after it is one numba
kernel per direction, wrapped in a :class:`torch.autograd.Function`:

* forward: for every (block, sample) the de-scaled norm :math:`k = c^\top G c`, the shell
  class, the head index (binary search over the sorted keys), the Sec. 3.4 log-probability
  of the truncated part and the escape mixture (module notes of
  :mod:`theory.lattice_prior`), plus the local derivatives the backward pass needs;
* backward: the gradient with respect to the head logits (and the flag logit),
  :math:`\Psi`, the escape weight and the geometric ratio, in one pass.

Derivatives used (one block, one sample; :math:`T` the truncated log-probability,
:math:`s = \sigma`):

* head point: :math:`\partial T/\partial g_j = [j = \mathrm{idx}] - \mathrm{softmax}(g)_j`,
  :math:`\partial T/\partial f = s(-f)` (:math:`T \ni \log s(f)`);
* tail point: :math:`\partial T/\partial\Psi_j = [j = \mathrm{cls}] - \mathrm{softmax}(\Psi)_j`,
  :math:`\partial T/\partial f = -s(f)`;
* escape mixture :math:`\mathrm{out} = \mathrm{logaddexp}(\log s(-\epsilon) + T,\ \log s(\epsilon) + E)`
  with responsibilities :math:`w_a + w_b = 1`: :math:`\partial/\partial T = w_a`,
  :math:`\partial/\partial\epsilon = -w_a s(\epsilon) + w_b s(-\epsilon)`,
  :math:`\partial/\partial r = w_b\,\bigl(m(-s(r) - s(r)s(-r)/(1+s(r))) + s(-r)\|c\|_1\bigr)`.

The eager formulation stays the reference (and the path for CUDA tensors and for dithers
that require a gradient); ``tests/test_prior_fused.py`` checks that both agree to
round-off, values and gradients.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

__all__ = ["fused_log_prob", "fused_supported"]


@njit(cache=True, inline="always")
def _log_sigmoid(x):
    """log(1/(1+exp(-x))), stable for both signs."""
    if x >= 0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


@njit(cache=True, inline="always")
def _sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@njit(cache=True)
def _forward_kernel(coords, logits, lse, lsm_psi, log_theta, class_of_norm, gram, head_keys, head_index,
                    radix, key_off, max_norm, threshold, n_head, has_flag, escape, esc_logit, ratio_logit,
                    out, kind_out, idx_out, dT_out, dflag_out, desc_out, drho_out):
    """One pass over (sample n, block r): writes ``out[n, r]`` and the local derivatives (see module)."""
    N, R, m = coords.shape
    n_cls = lsm_psi.shape[1]
    for r in range(R):
        eps = esc_logit[r]
        rho = ratio_logit[r]
        log_keep = _log_sigmoid(-eps)
        log_esc_w = _log_sigmoid(eps)
        s_rho = _sigmoid(rho)
        log_geo = m * (_log_sigmoid(-rho) - math.log1p(s_rho))
        log_rho = _log_sigmoid(rho)
        dgeo = m * (-s_rho - s_rho * (1.0 - s_rho) / (1.0 + s_rho))
        s_eps = _sigmoid(eps)
        for n in range(N):
            norm = 0.0
            l1 = 0
            key = 0
            for i in range(m):
                ci = coords[n, r, i]
                l1 += abs(ci)
                acc = 0.0
                for j in range(m):
                    acc += gram[i, j] * coords[n, r, j]
                norm += acc * ci
                cc = min(max(ci, -key_off), key_off) + key_off
                key += cc * radix[i]
            k = int(np.rint(norm))
            T = -np.inf
            idx = -1
            dflag = 0.0
            flag = 0.0
            if has_flag:
                flag = logits[r, n, n_head]
            if n_head > 0:
                lo = 0
                hi = head_keys.shape[0]
                while lo < hi:                                  # searchsorted, left
                    mid = (lo + hi) // 2
                    if head_keys[mid] < key:
                        lo = mid + 1
                    else:
                        hi = mid
                if lo < head_keys.shape[0] and head_keys[lo] == key:
                    idx = head_index[lo]
            cls = -1
            if idx >= 0:                                  # log-softmax of the head logits
                T = logits[r, n, idx] - lse[r, n]
                if has_flag:
                    T += _log_sigmoid(flag)
                    dflag = _sigmoid(-flag)
            elif k <= max_norm and k >= threshold and n_cls > 0:
                cls = class_of_norm[k]
                if cls >= 0:
                    T = lsm_psi[r, cls] - log_theta[k]
                    if has_flag:
                        T += _log_sigmoid(-flag)
                        dflag = -_sigmoid(flag)
            dT = 1.0 if T > -np.inf else 0.0
            desc = 0.0
            drho = 0.0
            if escape:
                a = log_keep + T
                b = log_esc_w + log_geo + log_rho * l1
                hi_ab = max(a, b)
                o = hi_ab + math.log(math.exp(a - hi_ab) + math.exp(b - hi_ab))
                wa = math.exp(a - o)
                wb = math.exp(b - o)
                dT = wa
                desc = -wa * s_eps + wb * (1.0 - s_eps)
                drho = wb * (dgeo + (1.0 - s_rho) * l1)
                T = o
            out[n, r] = T
            kind_out[r, n] = 1 if idx >= 0 else (2 if cls >= 0 else 0)
            idx_out[r, n] = idx if idx >= 0 else cls        # head index or shell class
            dT_out[r, n] = dT if (idx >= 0 or cls >= 0) else 0.0
            dflag_out[r, n] = dT * dflag
            desc_out[r, n] = desc
            drho_out[r, n] = drho


@njit(cache=True)
def _backward_kernel(g, kind, idx, dT, dflag, desc, drho, ex, ssum, sm_psi, n_head, has_flag,
                     grad_logits, grad_psi, grad_esc, grad_rho):
    """Accumulate the gradients of sum(g * out) (g: (N, R)) from the forward's local derivatives."""
    R, N = idx.shape
    n_cls = sm_psi.shape[1]
    for r in range(R):
        ge = 0.0
        gr = 0.0
        for n in range(N):
            gn = g[n, r]
            ge += gn * desc[r, n]
            gr += gn * drho[r, n]
            c = gn * dT[r, n]
            if n_head > 0:
                if kind[r, n] == 1 and c != 0.0:
                    scale = -c / ssum[r, n]
                    for j in range(n_head):
                        grad_logits[r, n, j] = scale * ex[r, n, j]
                    grad_logits[r, n, idx[r, n]] += c
                else:
                    for j in range(n_head):
                        grad_logits[r, n, j] = 0.0
            if has_flag:
                grad_logits[r, n, n_head] = gn * dflag[r, n]
            if kind[r, n] == 2 and c != 0.0:
                grad_psi[r, idx[r, n]] += c
                for j in range(n_cls):
                    grad_psi[r, j] -= c * sm_psi[r, j]
        grad_esc[r] = ge
        grad_rho[r] = gr


class _FusedPrior(torch.autograd.Function):
    """The whole prior (MLP, head, shells, escape) -> log p (N, R), gradients for its parameters."""

    @staticmethod
    def forward(ctx, psi, esc_logit, ratio_logit, w1, b1, w2, b2, w_flag, b_flag, coords, x, prior, need_grad):
        dt = psi.dtype
        N, R = coords.shape[0], coords.shape[1]
        H = prior.n_head
        h = w = None
        if prior.has_mlp:                                   # x: de-scaled dithers (R, N, m)
            pre = torch.baddbmm(b1[:, None, :], x, w1)                                 # (R, N, hidden)
            h = torch.sigmoid(pre.mul_(2.0)).mul_(2.0).sub_(1.0)   # tanh(pre), |error| < 4e-16, 5x faster
            w, b = w2, b2
            if prior.has_flag:                              # the flag logit: one more output column
                w = torch.cat([w2, w_flag[..., None]], -1)                              # (R, hidden, H+1)
                b = torch.cat([b2, b_flag[:, None]], -1)
            lg = torch.baddbmm(b[:, None, :], h, w)                                     # (R, N, H[+1])
            head = lg[..., :H]
            if need_grad:                                   # the softmax's exponentials, kept for backward
                top = head.amax(-1, keepdim=True)
                ex = torch.exp(head - top)
                ssum = ex.sum(-1)
                lse = (top[..., 0] + torch.log(ssum)).contiguous()
            else:
                ex = ssum = None
                lse = torch.logsumexp(head, -1).contiguous()
        else:
            lg = torch.zeros((R, N, 0), dtype=dt)
            lse = torch.zeros((R, N), dtype=dt)
            ex = torch.zeros((R, N, 0), dtype=dt)
            ssum = torch.ones((R, N), dtype=dt)
        lsm = torch.log_softmax(psi, -1).contiguous() if prior.n_classes > 0 else psi
        out = torch.empty((N, R), dtype=dt)
        kind = torch.empty((R, N), dtype=torch.int8)
        idx = torch.empty((R, N), dtype=torch.int64)
        dT, dflag, desc, drho = (torch.empty((R, N), dtype=dt) for _ in range(4))
        _forward_kernel(coords.numpy(), lg.numpy(), lse.numpy(), lsm.numpy(),
                        prior._log_theta.numpy(), prior._class_of_norm.numpy(), prior._gram.numpy(),
                        prior._head_keys.numpy(), prior._head_index.numpy(), prior._radix.numpy(),
                        prior._key_off, prior.max_norm, prior.threshold_t, H, prior.has_flag,
                        prior.escape, esc_logit.detach().numpy(), ratio_logit.detach().numpy(),
                        out.numpy(), kind.numpy(), idx.numpy(), dT.numpy(), dflag.numpy(),
                        desc.numpy(), drho.numpy())
        ctx.save_for_backward(ex, ssum, psi, kind, idx, dT, dflag, desc, drho)
        ctx.mlp = (x, h, w)
        ctx.meta = (H, prior.has_flag, prior.n_classes, lg.shape)
        return out

    @staticmethod
    def backward(ctx, g):
        ex, ssum, psi, kind, idx, dT, dflag, desc, drho = ctx.saved_tensors
        H, has_flag, n_cls, lg_shape = ctx.meta
        R = idx.shape[0]
        grad_logits = torch.empty(lg_shape, dtype=psi.dtype)
        grad_psi = torch.zeros_like(psi)
        grad_esc = torch.empty(R, dtype=psi.dtype)
        grad_rho = torch.empty(R, dtype=psi.dtype)
        sm = torch.softmax(psi, -1).contiguous() if n_cls > 0 else psi
        _backward_kernel(g.detach().to(psi.dtype).contiguous().numpy(), kind.numpy(), idx.numpy(),
                         dT.numpy(), dflag.numpy(), desc.numpy(), drho.numpy(), ex.numpy(), ssum.numpy(),
                         sm.numpy(), H, has_flag, grad_logits.numpy(), grad_psi.numpy(),
                         grad_esc.numpy(), grad_rho.numpy())
        grads = [grad_psi, grad_esc, grad_rho] + [None] * 6
        x, h, w = ctx.mlp
        if h is not None:                                   # back through the MLP: three bmm
            grad_w = torch.bmm(h.transpose(1, 2), grad_logits)                          # (R, hidden, H[+1])
            grad_b = grad_logits.sum(1)
            grad_pre = torch.bmm(grad_logits, w.transpose(1, 2))                        # dL/dh
            grad_pre.mul_(1.0 - h * h)                                                  # tanh' = 1 - h^2
            grads[3] = torch.bmm(x.transpose(1, 2), grad_pre)                           # w1
            grads[4] = grad_pre.sum(1)                                                  # b1
            grads[5], grads[6] = grad_w[..., :H], grad_b[..., :H]
            if has_flag:
                grads[7], grads[8] = grad_w[..., H], grad_b[..., H]
        need = ctx.needs_input_grad
        return tuple(gr if i < len(need) and need[i] else None for i, gr in enumerate(grads)) + (None,) * 4


def fused_supported(prior, coords, u) -> bool:
    """Whether :func:`fused_log_prob` applies: CPU tensors, a float32/float64 prior, no gradient for ``u``."""
    return (coords.device.type == "cpu" and u.device.type == "cpu" and not u.requires_grad
            and prior._gram.dtype in (torch.float32, torch.float64))


def fused_log_prob(prior, coords, u):
    r"""``prior._log_prob(coords, u)`` (coords (N, R, m) int64, u (N, R, m)) -> (N, R), fused.

    The head's MLP in three torch operations (the flag logit as one more output column),
    then :class:`_FusedTail`.  Same numbers as the eager formulation up to round-off.
    """
    dt = prior._gram.dtype
    R = coords.shape[1]
    x = u.transpose(0, 1).div(math.sqrt(prior.unit)).contiguous() if prior.has_mlp else None   # (R, N, m)
    empty = torch.zeros(R, dtype=dt)
    mlp = [getattr(prior, n, None) for n in ("w1", "b1", "w2", "b2", "w_flag", "b_flag")]
    need_grad = torch.is_grad_enabled() and any(q.requires_grad for q in prior.parameters())
    return _FusedPrior.apply(prior.psi, prior.escape_logit if prior.escape else empty,
                             prior.ratio_logit if prior.escape else empty, *mlp, coords.contiguous(), x, prior,
                             need_grad)
