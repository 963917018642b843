r"""Decompress a file of ``python -m vae.compress``: ``python -m vae.decompress FILE RUN_DIR --out recon.npz``.

Checks the file (format version, checksums) and that RUN_DIR holds the model that wrote it
(SHA-256 of weights and config), decodes the symbols (checked against the header), and
writes ``recon.npz`` with ``reconstruction`` (n, 784) Bernoulli means, ``symbols``,
``decoder_input`` and ``indices``; ``--png`` also writes a grid of the reconstructions.
Exit 2 with one line on bad usage or a file that does not decode; outputs are written
atomically and only after decoding succeeded.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

from lattices.cli import ArgumentParser, cli_main

from lattices.utils.io import atomic_write

from .codec.cli import check_output_path, fail, load_model

__all__ = ["build_parser", "main", "grid_png"]


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m vae.decompress", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("file", help="bitstream written by python -m vae.compress")
    p.add_argument("run_dir", help="the run directory whose model wrote the file")
    p.add_argument("--out", required=True, help="the .npz to write")
    p.add_argument("--png", default=None, help="also write a PNG grid of (up to 100) reconstructions")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true")
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


def _indices(meta):
    ix = meta.get("indices", {}) if isinstance(meta, dict) else {}
    if "range" in ix:
        return np.arange(*ix["range"])
    return np.asarray(ix.get("list", []), dtype=np.int64)


@cli_main("python -m vae.decompress")
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    prog = "python -m vae.decompress"
    try:
        out = check_output_path(args.out, "--out")
        png = check_output_path(args.png, "--png") if args.png else None
        path = Path(args.file)
        if not path.is_file():
            raise FileNotFoundError(f"bitstream {path} does not exist")
        data = path.read_bytes()
        from .codec.container import unpack

        unpack(data)                                     # a bad file fails before the run is loaded
        model, _ = load_model(args.run_dir, args.checkpoint)
        from .codec.api import decompress

        result = decompress(model, data, progress=not args.no_progress)
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        return fail(prog, exc)
    header = result["header"]
    arrays = {"reconstruction": result["reconstruction"].numpy(), "symbols": result["symbols"],
              "decoder_input": result["decoder_input"].numpy(), "indices": _indices(header.get("meta"))}

    def write(fh):
        np.savez_compressed(fh, **arrays)

    atomic_write(out, write)
    if png is not None:
        image = grid_png(arrays["reconstruction"], side=int(round(np.sqrt(header["input_dim"]))))
        atomic_write(png, lambda fh: fh.write(image))
    report = {"file": str(path), "out": str(out), "png": str(png) if png else None,
              "images": header["n_images"], "bytes": len(data), "latent": header["latent"],
              "seed": header["seed"], "bits_per_image": 8 * len(data) / header["n_images"]}
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(f"{report['out']}: {report['images']} images decoded from {report['bytes']} bytes "
              f"({report['bits_per_image']:.1f} bits/image), {report['latent']} latent, seed {report['seed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
