r"""Decompress a file of ``python -m vae.compress``: ``python -m vae.decompress FILE RUN_DIR --out recon.npz``.

Checks the file (format version, CRC-32) and that RUN_DIR holds the model that wrote it (the
model hash of weights and config), decodes the symbols (checked by the stream's sentinel, the
symbols' hash), and writes ``recon.npz`` with ``reconstruction`` (n, 784) Bernoulli means,
``symbols``, ``decoder_input`` and ``indices`` (the split's image indices when the file was
written with ``vae.compress --metadata``, else empty); ``--png`` also writes a grid of the
reconstructions.  Reads files of format 2 and of format 1 (docs/bitstream.md).
Exit 2 with one line on bad usage or a file that does not decode, checked before any work or
allocation: an ``--out``/``--png`` that is the input file (through any path or link) or a file
of the run folder, a folder given as the file or a file as the run, a file made by another
model (format 1: a header that names another latent, hidden size or input size than the
run's), a forged header (a chunk of 0, a malformed varint, a negative, non-integer or
inconsistent image count, an image count whose decoding needs more memory than this machine
has), a decoding estimated over ``--max-seconds``.  Outputs are written atomically and only
after decoding succeeded.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

from lattices.cli import (ArgumentParser, DefaultsHelpFormatter, UsageError, add_max_seconds, check_not_overwriting, cli_main,
                          input_dir, input_file)

from lattices.utils.io import atomic_write

from .codec.cli import check_output_path, fail, load_model

__all__ = ["build_parser", "main", "grid_png"]


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m vae.decompress", description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter)
    p.add_argument("file", type=input_file, help="bitstream written by python -m vae.compress")
    p.add_argument("run_dir", type=input_dir, help="the run directory whose model wrote the file")
    p.add_argument("--out", required=True, help="the .npz to write (a new path: never the input file "
                                                   "nor a file of the run folder)")
    p.add_argument("--png", default=None, help="also write a PNG grid of (up to 100) reconstructions")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"),
                   help="the model: best (lowest validation NLL) or last (latest epoch)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_max_seconds(p, what="the decoding")
    return p


def grid_png(images: np.ndarray, side: int = 28, columns: int = 10) -> bytes:
    """PNG bytes of up to 100 images (n, side*side) in [0, 1], ``columns`` per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = np.asarray(images[:100]).reshape(-1, side, side)
    rows = -(-len(images) // columns)
    canvas = np.ones((rows * (side + 2), columns * (side + 2)))
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (side + 2) + 1:r * (side + 2) + 1 + side, c * (side + 2) + 1:c * (side + 2) + 1 + side] = 1 - im
    buf = io.BytesIO()
    plt.imsave(buf, canvas, cmap="gray", vmin=0, vmax=1, format="png")
    return buf.getvalue()


def _indices(meta, n: int, build: bool = True):
    """The image indices recorded by ``vae.compress`` (``meta.indices``), checked against the
    header's image count (``build=False``: only checked, nothing allocated, for the check
    before the decoding); empty when the file records none."""
    from .codec.latent_coders import CodecError

    ix = meta.get("indices", {}) if isinstance(meta, dict) else {}

    def whole(v):
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2 ** 63

    if not isinstance(ix, dict):
        raise CodecError(f"the header's meta.indices {ix!r} is invalid: expected an object (a forged or corrupted file)")
    if "range" in ix:
        r = ix["range"]
        if not (isinstance(r, list) and len(r) == 3 and all(whole(v) for v in r) and r[2] >= 1
                and len(range(*r)) == n):
            raise CodecError(f"the header's meta.indices range {r!r} is invalid or disagrees with its "
                             f"{n} images (a forged or corrupted file)")
        return np.arange(*r, dtype=np.int64) if build else None
    items = ix.get("list", [])
    if not (isinstance(items, list) and len(items) in (0, n) and all(whole(v) for v in items)):
        raise CodecError(f"the header's meta.indices list is invalid or disagrees with its {n} images "
                         f"(a forged or corrupted file)")
    return np.asarray(items, dtype=np.int64) if build else None


@cli_main("python -m vae.decompress")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    prog = "python -m vae.decompress"
    try:
        # the no-loss rule before any work: neither output may be the input file (through any
        # path or link) nor a file of the run folder, nor each other
        path = Path(args.file)
        out = check_output_path(args.out, "--out")
        check_not_overwriting(out, inputs=[path], folders=[args.run_dir], what="--out")
        png = None
        if args.png:
            png = check_output_path(args.png, "--png")
            check_not_overwriting(png, inputs=[path], folders=[args.run_dir], what="--png")
            if Path(png).resolve() == Path(out).resolve():
                raise UsageError(f"--png {str(png)!r} is the --out file: the grid would replace the "
                                 f"reconstructions; choose another path")
        data = path.read_bytes()
        from .codec.container import unpack

        header, _ = unpack(data)                         # a bad file fails before the run is loaded
        _indices(header.get("meta"), header["n_images"], build=False)
        model, _ = load_model(args.run_dir, args.checkpoint)
        from .codec.api import decompress, latent_label

        result = decompress(model, data, progress=not args.no_progress, run=f"the run {args.run_dir}",
                            max_seconds=args.max_seconds)
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        from .codec.latent_coders import CodecError

        return fail(prog, f"{args.file}: {exc}" if isinstance(exc, CodecError) else exc)
    header = result["header"]
    arrays = {"reconstruction": result["reconstruction"].numpy(), "symbols": result["symbols"],
              "decoder_input": result["decoder_input"].numpy(),
              "indices": _indices(header.get("meta"), header["n_images"])}

    def write(fh):
        np.savez_compressed(fh, **arrays)

    atomic_write(out, write)
    if png is not None:
        image = grid_png(arrays["reconstruction"], side=int(round(np.sqrt(model.config.input_dim))))
        atomic_write(png, lambda fh: fh.write(image))
    report = {"file": str(path), "out": str(out), "png": str(png) if png else None,
              "images": header["n_images"], "bytes": len(data), "format_version": header["version"],
              "latent": model.config.latent, "latent_prior": latent_label(model),
              "seed": header["seed"], "bits_per_image": 8 * len(data) / header["n_images"]}
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(f"{report['out']}: {report['images']} images decoded from {report['bytes']} bytes "
              f"({report['bits_per_image']:.1f} bits/image), {report['latent_prior']} latent, seed {report['seed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
