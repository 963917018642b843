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
    """A_{w-1} in R^w, C&S 1982 Sec. III: repair the deficiency by rank of the error."""
    f = torch.round(y)
    err = y - f
    s = f.sum(-1, keepdim=True)  # deficiency, an integer
    order_up = torch.argsort(err, dim=-1, stable=True)
    rank_up = torch.argsort(order_up, dim=-1, stable=True)
    order_down = torch.argsort(-err, dim=-1, stable=True)
    rank_down = torch.argsort(order_down, dim=-1, stable=True)
    lower = (s > 0) & (rank_up < s)
    raise_ = (s < 0) & (rank_down < -s)
    return f - lower.to(y.dtype) + raise_.to(y.dtype)


_BASE = {"z": _decode_z, "d": _decode_d, "a": _decode_a}


def decode_base(family: str, y: torch.Tensor, width: int, blocks: int) -> torch.Tensor:
    """Decode ``y`` (..., width*blocks) in the product of ``blocks`` copies of the family."""
    shape = y.shape
    yb = y.reshape(*shape[:-1], blocks, width)
    return _BASE[family](yb).reshape(shape)
