"""One place for checking user input (STYLE 8): clear errors naming the bad value."""
from __future__ import annotations

import numbers
import sys

import numpy as np


def is_torch_tensor(x) -> bool:
    """Whether ``x`` is a torch tensor, without importing torch: if torch was never imported,
    nothing can be a tensor (this keeps numpy-only work, e.g. ``python -m lattices decode``,
    free of torch's start-up time)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def check_scale(delta, what: str = "scale") -> float:
    """A positive, finite real scale factor."""
    if isinstance(delta, bool) or not isinstance(delta, (numbers.Real, np.floating, np.integer)):
        if not (is_torch_tensor(delta) and delta.numel() == 1):
            raise TypeError(f"{what} must be a positive real number, got {delta!r} "
                            f"of type {type(delta).__name__}")
        delta = float(delta)
    delta = float(delta)
    if not np.isfinite(delta) or delta <= 0.0:
        raise ValueError(f"{what} must be a positive finite number, got {delta!r}")
    return delta


def check_basis(B) -> np.ndarray:
    """A real, square, finite, full-rank basis as a float64 array (rows = basis vectors)."""
    if is_torch_tensor(B):
        B = B.detach().cpu().numpy()
    try:
        arr = np.asarray(B)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"basis must be a square 2-d array of real numbers, got {B!r}") from exc
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"basis must hold real numbers, got dtype {arr.dtype} ({B!r})")
    if arr.dtype.kind == "b":
        raise TypeError("basis must hold real numbers, got a boolean array")
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"basis must be a non-empty square (n, n) matrix, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"basis has non-finite entries: {arr.tolist()}")
    n = arr.shape[0]
    sv = np.linalg.svd(arr, compute_uv=False)
    if sv[-1] <= sv[0] * n * 1e-12:
        raise ValueError(
            f"basis is singular (smallest/largest singular value {sv[-1]:.3g}/{sv[0]:.3g}); "
            f"a lattice basis must have full rank {n}: {arr.tolist()}")
    return arr


def as_float_points(x, dim: int, what: str = "x"):
    """Validate points of shape (..., dim); return (array, original dtype kind).

    Accepts numpy arrays and array-likes (lists).  Integer input is decoded as
    float64; boolean, complex, object and string input raise ``TypeError``.
    """
    arr = x if isinstance(x, np.ndarray) else None
    if arr is None:
        try:
            arr = np.asarray(x)
        except Exception as exc:
            raise ValueError(f"{what} must be an array of shape (..., {dim}), got {x!r}") from exc
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise TypeError(f"{what} must be a real floating or integer array, got dtype {arr.dtype}")
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.float64)
    if arr.ndim == 0 or arr.shape[-1] != dim:
        raise ValueError(f"{what} must have shape (..., {dim}) for this {dim}-dimensional "
                         f"lattice, got shape {arr.shape}")
    return arr


def check_tensor_points(x, dim: int, what: str = "x", check_finite: bool = True):
    """Validate a tensor of points (..., dim).  ``check_finite=False`` leaves the
    NaN/inf check to the caller (the fused kernels check while decoding)."""
    import torch

    if x.dtype == torch.bool or x.is_complex() or not (x.is_floating_point() or x.dtype in (
            torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise TypeError(f"{what} must be a real floating or integer tensor, got dtype {x.dtype}")
    if not x.is_floating_point():
        x = x.to(torch.float64)
    if x.ndim == 0 or x.shape[-1] != dim:
        raise ValueError(f"{what} must have shape (..., {dim}) for this {dim}-dimensional "
                         f"lattice, got shape {tuple(x.shape)}")
    if check_finite and not bool(torch.isfinite(x).all()):
        bad = torch.nonzero(~torch.isfinite(x))[0].tolist()
        raise ValueError(f"{what} has non-finite coordinates (NaN or inf), first at index {bad}")
    return x


def check_count(n, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (numbers.Integral, np.integer)):
        raise TypeError(f"{what} must be a non-negative integer, got {n!r}")
    if n < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {n}")
    return int(n)
