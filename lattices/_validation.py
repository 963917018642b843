"""One place for checking user input : clear errors naming the bad value."""
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


def scale_range(lattice) -> tuple:
    """``(lo, hi)``: the scales ``s`` for which ``s * lattice`` has a volume, a second moment and a
    Gram matrix that are positive normal float64 numbers (not 0, subnormal or inf).

    With V the volume and m the dimension at scale 1, ``s * lattice`` has volume ``V s^m``, second
    moment ``G V^(2/m) s^2`` with ``1/(2 pi e) < G <= 1/12`` for the lattices of the toolkit, and
    squared norms ``s^2 |v|^2``; each must lie in [2.2e-308, 1.8e308].
    """
    m = lattice.dim
    B = np.asarray(lattice.basis, dtype=np.float64)
    log_v = float(np.linalg.slogdet(B)[1])
    diag = np.einsum("ij,ij->i", B, B)
    log_tiny, log_huge = np.log(np.finfo(np.float64).tiny), np.log(np.finfo(np.float64).max)
    # (log c, p): the quantity c * s^p must be a normal float64
    terms = [(log_v, m),                                            # volume
             (2 * log_v / m - np.log(2 * np.pi * np.e), 2),          # second moment, lower bound
             (2 * log_v / m, 2),                                     # V^(2/m) s^2 (>= sigma^2)
             (float(np.log(diag.min())), 2), (float(np.log(diag.max())), 2)]  # squared norms
    lo = max((log_tiny - c) / p for c, p in terms)
    hi = min((log_huge - c) / p for c, p in terms)
    # a margin of 1e-9 in the logarithm keeps the end points themselves inside
    return float(np.exp(lo + 1e-9)), float(np.exp(hi - 1e-9))


def check_scale_range(lattice, scale, what: str = "--scale") -> float:
    """``ValueError`` naming ``what`` and the valid range unless ``scale * lattice`` has a volume,
    second moment and squared norms that are positive normal float64 numbers (:func:`scale_range`):
    a scale of 1e-320 would report a volume of 0, one of 1e300 an overflow."""
    scale = check_scale(scale, what)
    lo, hi = scale_range(lattice)
    if not lo <= scale <= hi:
        raise ValueError(f"{what} {scale:g} is out of range for {lattice.name}: its volume, second "
                         f"moment and squared norms would underflow or overflow float64; "
                         f"{what} must be in [{lo:.3g}, {hi:.3g}]")
    return scale


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

    if x.is_meta or x.device.type == "meta":
        raise ValueError(f"{what} is a tensor on device {x.device}, which holds no values (a 'meta' "
                         f"tensor has only a shape and dtype); give a tensor on a device with data: "
                         f"cpu or cuda (e.g. x.to('cpu'))")
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


def check_finite_points(arr: np.ndarray, what: str = "x") -> None:
    """``ValueError`` naming the first point of ``arr`` (..., dim) with a NaN or inf."""
    if not np.isfinite(arr).all():
        flat = arr.reshape(-1, arr.shape[-1])
        i = int(np.argmin(np.isfinite(flat).all(axis=-1)))
        raise ValueError(f"{what} has non-finite coordinates (NaN or inf): point {i} of the "
                         f"flattened input is {flat[i].tolist()}")


#: 2^53: every integer up to it is exact in float64, beyond it not.
EXACT_INTEGER_LIMIT = 2 ** 53


def check_exact_integers(x, what: str = "coeffs") -> None:
    """``ValueError`` if integer input ``x`` holds a value beyond 2^53 (not exact in float64).

    Non-integer input passes (it is checked elsewhere); Python ints too large for
    int64 are caught by numpy's conversion and reported the same way.
    """
    if isinstance(x, np.ndarray) and x.dtype.kind not in "iu":
        return
    try:
        arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    except OverflowError as exc:
        raise ValueError(f"{what} holds an integer beyond the int64 range: {x!r}") from exc
    except Exception:  # left to the shape / dtype checks
        return
    if arr.dtype == object:  # e.g. a Python int beyond int64 among others
        try:
            vals = [int(v) for v in np.ravel(arr) if isinstance(v, numbers.Integral)]
        except (TypeError, ValueError):
            return
        if any(abs(v) > EXACT_INTEGER_LIMIT for v in vals):
            raise ValueError(f"{what} holds an integer beyond 2^53 in magnitude, which float64 "
                             f"does not represent exactly: {x!r}")
        return
    if arr.dtype.kind in "iu" and arr.size:
        big = arr > EXACT_INTEGER_LIMIT  # integer comparisons: exact
        if arr.dtype.kind == "i":
            big |= arr < -EXACT_INTEGER_LIMIT
        if big.any():
            v = arr.reshape(-1)[int(np.argmax(big.reshape(-1)))]
            raise ValueError(f"{what} holds the integer {int(v)}, beyond 2^53 in magnitude: "
                             f"float64 does not represent it exactly")


def check_out(out, shape, dtype, kind, device=None) -> None:
    """The ``out=`` argument of a decoder: same type, shape, dtype (and device), C-contiguous."""
    if not isinstance(out, kind):
        raise TypeError(f"out must be a {kind.__module__}.{kind.__name__} like the input, "
                        f"got {type(out).__name__}")
    oshape = tuple(out.shape)
    if oshape != tuple(shape) or out.dtype != dtype:
        raise ValueError(f"out must have the result's shape {tuple(shape)} and dtype {dtype}, "
                         f"got shape {oshape} and dtype {out.dtype}")
    contiguous = out.is_contiguous() if device is not None else out.flags.c_contiguous
    if not contiguous:
        raise ValueError("out must be C-contiguous")
    if device is not None and out.device != device:
        raise ValueError(f"out must be on the input's device {device}, got {out.device}")
    if device is None and not out.flags.writeable:
        raise ValueError("out is read-only")


def check_count(n, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (numbers.Integral, np.integer)):
        raise TypeError(f"{what} must be a non-negative integer, got {n!r}")
    if n < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {n}")
    return int(n)


def check_lattice(obj, what: str = "lattice") -> None:
    """``TypeError`` naming ``obj`` unless it is a :class:`lattices.Lattice`.

    Recognized by what every ``Lattice`` has, a non-empty tuple of decoder segments (each with
    its block ``spec`` and per-copy ``scales``), a Gram matrix and a dimension, so that the
    modules below :mod:`lattices.lattice` in the import order need not import the class.
    """
    segments = getattr(obj, "_segments", None)
    if not (isinstance(segments, tuple) and segments
            and all(hasattr(s, "spec") and hasattr(s, "scales") for s in segments)
            and hasattr(obj, "gram") and isinstance(getattr(obj, "dim", None), int)):
        raise TypeError(f"{what} must be a lattices.Lattice, got {obj!r}")
