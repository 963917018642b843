"""Eager torch versions of the BW16 and Leech decoders (tensors on any device).

The same algorithm as :mod:`lattices._coded_kernels`, vectorized over points:
per-coordinate tables, per-column pattern costs, then for every candidate
"word" (Leech: 128 pairs (pi, hexacode word); BW16: the 4 linear parts of
RM(1,4) on a column) a min-plus pass over the columns' Z_2^2 states, the best
word, and a backward pass that recovers each column's state.  Ties may be
broken differently from the fused kernel (the contract is the same distance).
"""
from __future__ import annotations

import numpy as np
import torch

from ._coded_kernels import HEXACODE, MOG, RM_COLUMN

#: Points decoded per step (bounds the (N, words, 4, 4) work tensor).
CHUNK = 4096

_XOR = np.bitwise_xor.outer(np.arange(4), np.arange(4))  # _XOR[u, v] = u ^ v
_BITS = (np.arange(16)[:, None] >> np.arange(4)) & 1  # (16 patterns, 4 rows)

# word tables: patterns PATS[w, j, t] and the target state of each word
_LEECH_PATS = np.array([[[MOG[h[j], pi, t] for t in (0, 1)] for j in range(6)]
                        for pi in (0, 1) for h in HEXACODE], dtype=np.int64)
_LEECH_TARGET = np.array([2 * pi for pi in (0, 1) for _ in HEXACODE], dtype=np.int64)
_BW16_PATS = np.array([[[RM_COLUMN[L, t] for t in (0, 1)] for _ in range(4)] for L in range(4)],
                      dtype=np.int64)
_BW16_TARGET = np.zeros(4, dtype=np.int64)


def _tables(y):
    """Per coordinate and bit: nearest point of 2Z + b, squared error, parity, move cost."""
    b = torch.tensor([0.0, 1.0], dtype=y.dtype, device=y.device)
    q = torch.round((y[..., None] - b) * 0.5)  # (N, n, 2)
    v = 2.0 * q + b
    d = y[..., None] - v
    return v, d * d, torch.remainder(q, 2.0), 4.0 - 4.0 * d.abs()


def _code_closest(y, pats_np, target_np):
    """Closest point of U_c (c + 2 D_n) for the code described by the word tables."""
    dev = y.device
    N, n = y.shape
    nc = n // 4
    v, e, p, dl = _tables(y)
    bits = torch.as_tensor(_BITS, device=dev)
    rows = torch.arange(4, device=dev).expand(16, 4)
    cols = torch.arange(nc, device=dev)
    idx = 4 * cols[:, None, None] + rows[None]  # (nc, 16, 4) coordinate of (column, pattern, row)
    e_pat = e[:, idx, bits.expand(nc, 16, 4)]  # (N, nc, 16, 4)
    p_pat = p[:, idx, bits.expand(nc, 16, 4)]
    d_pat = dl[:, idx, bits.expand(nc, 16, 4)]
    pc = e_pat.sum(-1)
    pp = torch.remainder(p_pat.sum(-1), 2.0)
    pd, pdi = d_pat.min(-1)  # first minimum
    pats = torch.as_tensor(pats_np, device=dev)  # (W, nc, 2)
    W = pats.shape[0]
    # state costs C[N, W, nc, 4]: state = 2 t + k
    m = pats[:, :, [0, 0, 1, 1]]  # (W, nc, 4)
    k = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=y.dtype, device=dev)
    jj = cols[None, :, None].expand(W, nc, 4)
    C = pc[:, jj, m] + (pp[:, jj, m] != k).to(y.dtype) * pd[:, jj, m]
    xor = torch.as_tensor(_XOR, device=dev)
    accs = [C[:, :, 0]]
    for j in range(1, nc):
        prev = accs[-1]  # (N, W, 4)
        accs.append((prev[..., None, :] + C[:, :, j][..., xor]).amin(-1))
    target = torch.as_tensor(target_np, device=dev)
    final = accs[-1].gather(-1, target.expand(N, W)[..., None])[..., 0]  # (N, W)
    w = final.argmin(-1)  # first best word
    ar = torch.arange(N, device=dev)
    state = target[w]
    states = [None] * nc
    for j in range(nc - 1, 0, -1):
        prev = accs[j - 1][ar, w]  # (N, 4)
        cj = C[ar, w, j]  # (N, 4)
        vbest = (prev + cj.gather(-1, xor[state])).argmin(-1)
        states[j] = state ^ vbest
        state = vbest
    states[0] = state
    z = torch.empty_like(y)
    for j in range(nc):
        st = states[j]
        mj = pats[w, j, st >> 1]  # (N,)
        for r in range(4):
            i = 4 * j + r
            z[:, i] = v[ar, i, (mj >> r) & 1]
        move = (st & 1).to(y.dtype) != pp[ar, j, mj]
        i = 4 * j + pdi[ar, j, mj]
        zi = z[ar, i]
        step = torch.where(y[ar, i] >= zi, 2.0, -2.0).to(y.dtype)
        z[ar, i] = torch.where(move, zi + step, zi)
    return z


def _chunked(fn, y, *args):
    if y.shape[0] <= CHUNK:
        return fn(y, *args)
    return torch.cat([fn(y[i:i + CHUNK], *args) for i in range(0, y.shape[0], CHUNK)])


def bw16_closest(y):
    """Closest point of sqrt(2) BW16 = U_{c in RM(1,4)} (c + 2 D16) to each row of y."""
    return _chunked(_code_closest, y, _BW16_PATS, _BW16_TARGET)


def _leech(y, glue):
    best = None
    for g in (0.0, 1.0):
        z = 2.0 * _code_closest((y - g * glue) * 0.5, _LEECH_PATS, _LEECH_TARGET) + g * glue
        d = ((y - z) ** 2).sum(-1)
        if best is None:
            best, best_d = z, d
        else:
            better = d < best_d
            best = torch.where(better[:, None], z, best)
    return best


def leech_closest(y, glue):
    """Closest point of sqrt(8) Leech = 2 H24 u (2 H24 + glue) to each row of y."""
    return _chunked(_leech, y, glue)
