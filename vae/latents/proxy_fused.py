r"""The Gaussian-proxy part of a training step (Sec. 3.6.2, steps 1-2) as one autograd node on the CPU.

:meth:`vae.latents.proxy.ProxyLatticeLatent.train_terms` needs, per block :math:`b` of
dimension :math:`n` (:math:`\sigma^2_U = e^{\ell_U}`, :math:`\sigma^2_S = e^{\ell_S}`,
:math:`\tau = \sigma^2_U + \sigma^2_S`), the decoder input :math:`d = e - U_G` with
:math:`U_G = \sigma_U\varepsilon` and the proxy KL

.. math::  \mathrm{rate} = \sum_b \tfrac12\Bigl(\frac{\|d_b\|^2}{\tau_b} - \frac{\|U_{G,b}\|^2}{\sigma^2_{U,b}}
           - n\log\frac{\sigma^2_{U,b}}{\tau_b}\Bigr).

Written as torch operations this is about 20 small operations forward and 30 backward, whose
dispatch (a few microseconds each) costs more than their arithmetic at a batch of 100.  Here
one numba kernel computes both outputs and a second one the gradients, with the derivatives
(:math:`D_b = \|d_b\|^2`; :math:`\|U_{G,b}\|^2/\sigma^2_{U,b} = \|\varepsilon_b\|^2` does not
depend on the parameters):

* :math:`\partial\mathrm{rate}/\partial e_i = d_i/\tau_b`, :math:`\partial d_i/\partial e_i = 1`;
* :math:`\partial\mathrm{rate}/\partial\ell_{U,b} = \tfrac12\bigl(-\sigma_U\sum_{i\in b} d_i\varepsilon_i/\tau_b
  - D_b\sigma^2_U/\tau_b^2 - n\sigma^2_S/\tau_b\bigr)`,
  :math:`\partial d_i/\partial\ell_{U,b} = -\tfrac12\sigma_U\varepsilon_i`;
* :math:`\partial\mathrm{rate}/\partial\ell_{S,b} = \tfrac12\bigl(-D_b\sigma^2_S/\tau_b^2 + n\sigma^2_S/\tau_b\bigr)`.

Sums are accumulated in float64 and the outputs stored in the dtype of ``e``, so in float32
the result differs from the torch formulation by float32 round-off only
(``tests/test_proxy_fused.py``: values and every gradient against the torch formulation,
and ``gradcheck`` in float64).
"""
from __future__ import annotations

import math

import torch
from numba import njit

__all__ = ["proxy_terms", "proxy_terms_supported"]


@njit(cache=True)
def _forward_kernel(e, eps, log_s2u, log_s2s, n, dec, rate):
    """dec = e - sigma_U eps (B, m) and rate (B,) of the module notes; blocks of ``n`` coordinates."""
    B, m = e.shape
    R = m // n
    for b in range(B):
        acc = 0.0
        for r in range(R):
            s2u = math.exp(float(log_s2u[r]))
            tot = s2u + math.exp(float(log_s2s[r]))
            su = math.exp(0.5 * float(log_s2u[r]))
            dd = 0.0
            uu = 0.0
            for i in range(r * n, (r + 1) * n):
                ug = su * eps[b, i]
                d = e[b, i] - ug
                dec[b, i] = d
                dd += d * d
                uu += ug * ug
            acc += 0.5 * (dd / tot - uu / s2u - n * math.log(s2u / tot))
        rate[b] = acc


@njit(cache=True)
def _backward_kernel(g_rate, g_dec, dec, eps, log_s2u, log_s2s, n, grad_e, grad_lu, grad_ls):
    """Gradients of sum(g_rate * rate) + sum(g_dec * dec) (module notes); grad_lu, grad_ls zeroed."""
    B, m = dec.shape
    R = m // n
    for r in range(R):
        s2u = math.exp(float(log_s2u[r]))
        s2s = math.exp(float(log_s2s[r]))
        tot = s2u + s2s
        su = math.exp(0.5 * float(log_s2u[r]))
        glu = 0.0
        gls = 0.0
        for b in range(B):
            gr = float(g_rate[b])
            dd = 0.0
            de = 0.0
            ge = 0.0
            for i in range(r * n, (r + 1) * n):
                d = float(dec[b, i])
                dd += d * d
                de += d * eps[b, i]
                ge += g_dec[b, i] * eps[b, i]
                grad_e[b, i] = gr * d / tot + g_dec[b, i]
            glu += 0.5 * gr * (-su * de / tot - dd * s2u / (tot * tot) - n * s2s / tot) - 0.5 * su * ge
            gls += 0.5 * gr * (-dd * s2s / (tot * tot) + n * s2s / tot)
        grad_lu[r] = glu
        grad_ls[r] = gls


class _ProxyTerms(torch.autograd.Function):
    @staticmethod
    def forward(ctx, e, log_s2u, log_s2s, eps, n):
        e = e.detach().contiguous()
        eps = eps.detach().contiguous()
        dec = torch.empty_like(e)
        rate = torch.empty(e.shape[0], dtype=e.dtype)
        _forward_kernel(e.numpy(), eps.numpy(), log_s2u.detach().numpy(), log_s2s.detach().numpy(), n,
                        dec.numpy(), rate.numpy())
        ctx.save_for_backward(dec, eps, log_s2u, log_s2s)
        ctx.n = n
        return dec, rate

    @staticmethod
    def backward(ctx, g_dec, g_rate):
        dec, eps, log_s2u, log_s2s = ctx.saved_tensors
        g_dec = torch.zeros_like(dec) if g_dec is None else g_dec.to(dec.dtype).contiguous()
        g_rate = torch.zeros(dec.shape[0], dtype=dec.dtype) if g_rate is None else g_rate.contiguous()
        grad_e = torch.empty_like(dec)
        grad_lu = torch.empty_like(log_s2u)
        grad_ls = torch.empty_like(log_s2s)
        _backward_kernel(g_rate.numpy(), g_dec.numpy(), dec.numpy(), eps.numpy(), log_s2u.detach().numpy(),
                         log_s2s.detach().numpy(), ctx.n, grad_e.numpy(), grad_lu.numpy(), grad_ls.numpy())
        need = ctx.needs_input_grad
        return (grad_e if need[0] else None, grad_lu if need[1] else None,
                grad_ls if need[2] else None, None, None)


def proxy_terms_supported(e, log_s2u, eps) -> bool:
    """Whether :func:`proxy_terms` applies: CPU float32/float64 tensors, ``eps`` without a gradient."""
    return (e.device.type == "cpu" and log_s2u.device.type == "cpu" and not eps.requires_grad
            and e.dtype in (torch.float32, torch.float64) and log_s2u.dtype in (torch.float32, torch.float64))


def proxy_terms(e, log_s2u, log_s2s, eps, block_dim):
    r"""``(e - U_G, rate)`` of Sec. 3.6.2 for ``e``, ``eps`` (B, m), log-variances (R,) (module notes).

    ``U_G = \sigma_U\varepsilon`` with the standard normal draws ``eps``; ``rate`` (B,) in the dtype of ``e``.
    """
    return _ProxyTerms.apply(e, log_s2u, log_s2s, eps, int(block_dim))
