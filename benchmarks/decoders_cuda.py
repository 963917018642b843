"""Decoder throughput on a CUDA device: points/s per lattice beside a device copy of the same array.

The CPU table is :mod:`benchmarks.decoders`; this is its GPU counterpart for the eager torch
path that a CUDA tensor takes (``Lattice.nearest`` keeps tensors on their device).  For each
lattice, ``--megabytes`` of standard-normal points (times 4, so that many points leave the
origin's cell) are decoded ``--repeats`` times, timed with CUDA events after a warm-up call, and
compared with ``torch.clone`` of the same tensor in the same run: the ratio ``× copy`` and the
achieved bandwidth (bytes read + written per second, as a fraction of the copy's) say how close
the decoder comes to the memory limit.

Usage::

    python -m benchmarks.decoders_cuda [--lattices z8,e8,...] [--dtype float32|float64]
        [--megabytes 256] [--repeats 5] [--json]

Without CUDA it exits 2 with one line.
"""
from __future__ import annotations

import json
import platform

import torch

import lattices
from lattices.cli import ArgumentParser, cli_main, positive_count

DEFAULT_LATTICES = ["z8", "d4", "a2", "e8", "e8^4", "d8", "e6", "e7", "bw16", "leech"]
# eager code-lattice decoders hold several per-point work arrays: fewer points for those
_MEGABYTES_CAP = {"bw16": 32.0, "leech": 16.0}


def _best_ms(fn, repeats: int) -> float:
    """Fastest of ``repeats`` timed calls (CUDA events), after one untimed warm-up call."""
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(stop))
    return best


def measure(name: str, dtype: torch.dtype, megabytes: float, repeats: int, seed: int = 0) -> dict:
    """One row: points/s of ``nearest`` and of a copy, on the current CUDA device."""
    lat = lattices.parse(name)
    mb = min(megabytes, _MEGABYTES_CAP.get(name, megabytes))
    itemsize = torch.finfo(dtype).bits // 8
    count = max(1, int(mb * 2 ** 20 / (lat.dim * itemsize)))
    gen = torch.Generator(device="cuda").manual_seed(seed)
    x = 4 * torch.randn(count, lat.dim, generator=gen, device="cuda", dtype=dtype)
    copy_ms = _best_ms(lambda: x.clone(), repeats)
    decode_ms = _best_ms(lambda: lat.nearest(x), repeats)
    out = lat.nearest(x)
    assert out.device == x.device and out.dtype == x.dtype
    return {"lattice": name, "dtype": str(dtype).replace("torch.", ""), "points": count,
            "decode_ms": decode_ms, "copy_ms": copy_ms,
            "points_per_s": count / (decode_ms / 1e3), "x_copy": copy_ms / decode_ms,
            "copy_GBps": 2 * x.numel() * itemsize / (copy_ms / 1e3) / 1e9}


def _table(rows, device_name) -> str:
    lines = [f"device: {device_name}; torch {torch.__version__}",
             "| lattice | dtype | points | M points/s | × copy | copy GB/s |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['lattice']} | {r['dtype']} | {r['points']} | {r['points_per_s'] / 1e6:.1f} "
                     f"| {r['x_copy']:.3f} | {r['copy_GBps']:.0f} |")
    return "\n".join(lines)


@cli_main("benchmarks.decoders_cuda")
def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m benchmarks.decoders_cuda", description=__doc__.splitlines()[0])
    p.add_argument("--lattices", default=",".join(DEFAULT_LATTICES))
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--megabytes", type=float, default=256.0)
    p.add_argument("--repeats", type=positive_count, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        p.error("no CUDA device: this benchmark times the decoders on a GPU (the CPU table is "
                "python -m benchmarks.decoders)")
    names = [s.strip() for s in args.lattices.split(",") if s.strip()]
    for name in names:
        lattices.parse(name)                                  # unknown names: exit 2 before any work
    dtype = getattr(torch, args.dtype)
    rows = [measure(name, dtype, args.megabytes, args.repeats) for name in names]
    device_name = torch.cuda.get_device_name()
    if args.json:
        print(json.dumps({"device": device_name, "torch": torch.__version__,
                          "host": platform.node(), "rows": rows}, indent=2))
    else:
        print(_table(rows, device_name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
