r"""Compress images to a file with a trained run: ``python -m vae.compress RUN_DIR --out FILE``.

The file holds the ANS-coded symbols of each image under the run's own prior (exact code
lengths, docs/bitstream.md) behind a binary header of at most 32 bytes (format 2: model hash,
seed, image count, CRC-32); the dithers are regenerated from ``--seed`` on both sides.  The
run name, split and image indices are stored only with ``--metadata`` (never a path).
``--images N --subset spread`` codes N images spread evenly over the split (the MNIST test
set is ordered: its first 1000 images are not representative).  Prints a summary (``--json``:
one object): images, bytes, bits per image, the model's code length (10) in bits per image and
the overhead, and names the latent with its prior family (``e8/paper``).  Exit 2 with one line on bad usage, checked before any work: an ``--out``
that is a file of the run folder (``best.pt``, ``config.json``, ...), ``--images`` 0, negative
or more than the split holds, ``--indices`` out of range, empty, malformed or with step 0
(``start:stop[:step]`` has Python's slice semantics over the split; negative indices count
from the end), a seed outside [0, 2^63).  The output is written atomically and only after
everything succeeded.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from lattices.cli import (ArgumentParser, DefaultsHelpFormatter, UsageError, check_at_most, check_not_overwriting,
                          cli_main, input_dir, positive_count)

from lattices.utils.io import atomic_write

from .codec.cli import (allow_negative_indices, check_output_path, check_seed, fail, load_model,
                        parse_indices, select)
from .codec.container import MAX_CHUNK

__all__ = ["build_parser", "main", "summary"]


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m vae.compress", description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("run_dir", type=input_dir, help="run directory written by python -m vae.train")
    p.add_argument("--out", required=True, help="the bitstream file to write (a new path: never a "
                                                   "file of the run folder)")
    p.add_argument("--split", default="test", help="train, valid or test")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--images", type=positive_count, default=None,
                     help="code N images, the first N or --subset spread (default: all; at most what the "
                          "split holds)")
    sel.add_argument("--indices", nargs="+", default=None,
                     help="image indices (negative: from the end) or ranges start:stop[:step] "
                          "(Python slice semantics over the split)")
    p.add_argument("--subset", default="first", choices=("first", "spread"),
                   help="which --images N: the first N, or N spread evenly over the split (images "
                        "floor(i * size / N); the MNIST test set is ordered, so 'spread' is representative)")
    p.add_argument("--metadata", action="store_true",
                   help="store the run's name, the data set, split, checkpoint and image indices in the "
                        "file (vae.decompress then writes the indices); never a path")
    p.add_argument("--seed", type=int, default=0, help="dither seed in [0, 2^63) (stored in the header)")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"),
                   help="the model: best (lowest validation NLL) or last (latest epoch)")
    p.add_argument("--chunk", type=int, default=500, help=f"images per coding chunk (1 to {MAX_CHUNK})")
    p.add_argument("--data-dir", default=None,
                   help="folder with the data sets; without it, $LRL_DATA_DIR or ../shared/data")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    allow_negative_indices(p)
    return p


def summary(n_images: int, n_bytes: int, stats: dict) -> dict:
    """The numbers a user wants of a file: sizes per image, the model's code length, the overhead."""
    ideal = float(np.sum(stats["ideal_bits"]))
    bits = 8 * n_bytes
    return {"images": n_images, "bytes": n_bytes, "bits_per_image": bits / n_images,
            "header_bytes": n_bytes - stats["payload_bits"] // 8,
            "payload_bits_per_image": stats["payload_bits"] / n_images,
            "code_length_bits_per_image": ideal / n_images,
            "overhead_percent": 100.0 * (bits - ideal) / ideal if ideal > 0 else None,
            "payload_overhead_percent": 100.0 * (stats["payload_bits"] - ideal) / ideal if ideal > 0 else None}


@cli_main("python -m vae.compress")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    prog = "python -m vae.compress"
    try:
        # every rule before any work: the output path (writable, not a file of the run folder),
        # the numbers, the syntax of --indices
        out = check_output_path(args.out, "--out")
        check_not_overwriting(out, folders=[args.run_dir], what="--out")
        if args.chunk < 1:
            raise ValueError(f"--chunk must be a positive integer, got {args.chunk}")
        check_at_most(args.chunk, MAX_CHUNK, "--chunk", "the largest chunk a file records")
        check_seed(args.seed)
        from vae.data import SPLITS

        if args.split not in SPLITS:
            raise ValueError(f"unknown --split {args.split!r}; valid: {', '.join(SPLITS)}")
        indices = parse_indices(args.indices) if args.indices is not None else None
        if args.subset != "first" and args.images is None:
            raise UsageError(f"--subset {args.subset} chooses among --images N; give --images (with "
                             f"--indices, the indices are the choice)")
        model, config = load_model(args.run_dir, args.checkpoint)
        from .codec.api import compress_with_stats, latent_label
        from .codec.dispatch import coder_for

        coder_for(model.latent)                               # a continuous latent fails before the data load
        x, idx = select(config, args.split, args.images, indices, args.seed, args.data_dir, args.subset)
        meta = {"run": Path(args.run_dir).resolve().name, "dataset": config.dataset, "split": args.split,
                "checkpoint": args.checkpoint, "indices": _compact(idx)} if args.metadata else None
        data, stats = compress_with_stats(model, x, args.seed, chunk=args.chunk, meta=meta,
                                          progress=not args.no_progress)
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        return fail(prog, exc)
    atomic_write(out, lambda fh: fh.write(data))
    label = latent_label(model)
    report = {"file": str(out), "latent": config.model["latent"], "latent_prior": label, "seed": args.seed,
              **summary(len(idx), len(data), stats)}
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(f"{report['file']}: {report['images']} images, {label} latent, {report['bytes']} bytes "
              f"({report['header_bytes']} beyond the payload), "
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
