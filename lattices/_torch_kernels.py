"""Eager torch versions of the Conway–Sloane base decoders (for tensors on any device).

They mirror :mod:`lattices._kernels` rule for rule, tie-breaking included, so
that a tensor on a GPU gets the same point as the fused CPU kernel.  Shapes:
``y`` is ``(..., k)`` with ``k = width * blocks``.
"""
from __future__ import annotations

import torch


def work_dtype(t: torch.Tensor) -> torch.dtype:
    """float64 wherever the device supports it (exactness), else float32."""
    if t.device.type == "mps":
        return torch.float32
    return torch.float64


def _decode_z(y):
    return torch.round(y)  # round half to even, as numpy's rint


def _decode_d(y):
    """D_w, C&S 1982 Alg. 2: flip the worst rounding when the sum is odd."""
    f = torch.round(y)
    err = y - f
    worst = torch.argmax(err.abs(), dim=-1, keepdim=True)  # first maximum
    step = torch.where(torch.gather(err, -1, worst) >= 0, 1.0, -1.0).to(y.dtype)
    g = f.scatter_add(-1, worst, step)
    odd = torch.remainder(f.sum(-1, keepdim=True), 2.0) != 0
    return torch.where(odd, g, f)


def _decode_a(y):
    """A_{w-1} in R^w, C&S 1982 Sec. III, as the fused kernel does it.

    While the deficiency ``s = sum(round)`` of a point is nonzero, its first
    coordinate with the smallest (s > 0) or largest (s < 0) rounding error
    moves by one towards the hyperplane; all points move together, one round
    per unit of the largest ``|s|`` (usually one or two rounds), so the choice
    is the kernel's, tie for tie.
    """
    f = torch.round(y)
    err = y - f
    s = f.sum(-1, keepdim=True)  # deficiency, an integer
    # rounds: |s| = |sum of the rounding errors| <= w/2 on the hyperplane sum(y) = 0, so off the
    # CPU a fixed floor(w/2) rounds (a round with s = 0 changes nothing) instead of reading the
    # largest |s| back to the host, which would synchronise a GPU stream on every call
    if y.device.type == "cpu":
        rounds = int(s.abs().max()) if s.numel() else 0
    else:
        rounds = y.shape[-1] // 2
    for _ in range(rounds):
        sgn = torch.where(s > 0, 1.0, -1.0).to(y.dtype)
        i = torch.argmin(sgn * err, dim=-1, keepdim=True)  # first minimum
        step = torch.where(s > 0, -1.0, torch.where(s < 0, 1.0, 0.0)).to(y.dtype)
        f = f.scatter_add(-1, i, step)
        err = err.scatter_add(-1, i, -step)
        s = s + step
    return f


_BASE = {"z": _decode_z, "d": _decode_d, "a": _decode_a}


def decode_base(family: str, y: torch.Tensor, width: int, blocks: int) -> torch.Tensor:
    """Decode ``y`` (..., width*blocks) in the product of ``blocks`` copies of the family."""
    shape = y.shape
    yb = y.reshape(*shape[:-1], blocks, width)
    return _BASE[family](yb).reshape(shape)
