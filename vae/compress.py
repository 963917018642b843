r"""Compress images to a file with a trained run: ``python -m vae.compress RUN_DIR --out FILE``.

The file holds the ANS-coded symbols of each image under the run's own prior (exact code
lengths, docs/bitstream.md); the dithers are regenerated from ``--seed`` on both sides.
Prints a summary (``--json``: one object): images, bytes, bits per image, the model's code
length (10) in bits per image and the overhead.  Exit 2 with one line on bad usage; the
output is written atomically and only after everything succeeded.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from lattices.cli import ArgumentParser, cli_main

from lattices.utils.io import atomic_write

from .codec.cli import check_output_path, fail, load_model, parse_indices, select

__all__ = ["build_parser", "main", "summary"]


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m vae.compress", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", help="run directory written by python -m vae.train")
    p.add_argument("--out", required=True, help="the bitstream file to write")
    p.add_argument("--split", default="test", help="train, valid or test")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--images", type=int, default=None, help="code the first N images (default: all)")
    sel.add_argument("--indices", nargs="+", default=None, help="image indices or ranges start:stop")
    p.add_argument("--seed", type=int, default=0, help="dither seed (stored in the header)")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"))
    p.add_argument("--chunk", type=int, default=500, help="images per coding chunk")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true")
    return p


def summary(n_images: int, n_bytes: int, stats: dict) -> dict:
    """The numbers a user wants of a file: sizes per image, the model's code length, the overhead."""
    ideal = float(np.sum(stats["ideal_bits"]))
    bits = 8 * n_bytes
    return {"images": n_images, "bytes": n_bytes, "bits_per_image": bits / n_images,
            "payload_bits_per_image": stats["payload_bits"] / n_images,
            "code_length_bits_per_image": ideal / n_images,
            "overhead_percent": 100.0 * (bits - ideal) / ideal if ideal > 0 else None,
            "payload_overhead_percent": 100.0 * (stats["payload_bits"] - ideal) / ideal if ideal > 0 else None}


@cli_main("python -m vae.compress")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    prog = "python -m vae.compress"
    try:
        out = check_output_path(args.out, "--out")
        if args.images is not None and args.images < 1:
            raise ValueError(f"--images must be a positive integer, got {args.images}")
        if args.chunk < 1:
            raise ValueError(f"--chunk must be a positive integer, got {args.chunk}")
        indices = parse_indices(args.indices) if args.indices is not None else None
        model, config = load_model(args.run_dir, args.checkpoint)
        from .codec.api import compress_with_stats
        from .codec.dispatch import coder_for

        coder_for(model.latent)                               # a continuous latent fails before the data load
        x, idx = select(config, args.split, args.images, indices, args.seed, args.data_dir)
        meta = {"run_dir": str(args.run_dir), "dataset": config.dataset, "split": args.split,
                "checkpoint": args.checkpoint, "indices": _compact(idx)}
        data, stats = compress_with_stats(model, x, args.seed, chunk=args.chunk, meta=meta,
                                          progress=not args.no_progress)
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        return fail(prog, exc)
    atomic_write(out, lambda fh: fh.write(data))
    report = {"file": str(out), "latent": config.model["latent"], "seed": args.seed,
              **summary(len(idx), len(data), stats)}
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(f"{report['file']}: {report['images']} images, {report['bytes']} bytes, "
              f"{report['bits_per_image']:.1f} bits/image (payload {report['payload_bits_per_image']:.1f}); "
              f"code length (10) {report['code_length_bits_per_image']:.1f} bits/image; "
              f"overhead {report['overhead_percent']:.2f} % (payload {report['payload_overhead_percent']:.2f} %)")
    return 0


def _compact(idx):
    """Indices as ``[start, stop, step]`` when they form a range, else the list."""
    idx = [int(i) for i in idx]
    if len(idx) > 1 and len(set(np.diff(idx).tolist())) == 1 and idx[1] > idx[0]:
        return {"range": [idx[0], idx[-1] + 1, idx[1] - idx[0]]}
    if len(idx) == 1:
        return {"range": [idx[0], idx[0] + 1, 1]}
    return {"list": idx}


if __name__ == "__main__":
    sys.exit(main())
