"""Data sets of the paper's experiments: static binarized MNIST and 28x28 OMNIGLOT.

Both are returned as float32 tensors of shape ``(N, 784)`` (row-major 28x28 images).

Static binarized MNIST
    Larochelle & Murray (AISTATS 2011), the fixed binarization used throughout the VAE
    literature: 50000 training, 10000 validation and 10000 test images, read from
    ``binarized_mnist_{train,valid,test}.amat`` (one image a line, 784 values 0/1).
OMNIGLOT 28x28
    Rebuilt from the original 105x105 images (Lake et al., 2015) as ``shared/data/README.md``
    describes: ink as 1, an exact area-weighted average down to 28x28 grey levels in [0, 1]
    (:func:`area_downsample`); per character the first 15 drawings (index order 0..14) are
    training images and the last 5 (15..19) test images, so 1623 x 15 = 24345 training and
    1623 x 5 = 8115 test images. A fixed subset of ``OMNIGLOT_VALID_SIZE = 1345`` training
    images (drawn by ``numpy.random.default_rng(OMNIGLOT_SPLIT_SEED = 0)``) is held out as the
    validation set, which leaves **23000 train / 1345 valid / 8115 test**. Training images are
    kept as grey levels and binarized afresh at each draw (:func:`batches`,
    :class:`BinarizedDataset`); validation and test images are binarized once, with Bernoulli
    draws from ``numpy.random.default_rng((OMNIGLOT_BINARIZE_SEED = 0, k))``, k = 1 for
    validation, 2 for test.

Where the files are looked for (first match wins)
    1. the ``data_dir`` argument;
    2. the environment variable ``LRL_DATA_DIR``;
    3. ``../shared/data`` next to the repository root or the current directory, when it exists,
       and files downloaded earlier into ``<cache>/downloads``;
    4. a download from the public URLs (``download=True`` or ``LRL_DOWNLOAD=1``).

Inside a data folder, MNIST files are read from ``binarized_mnist/`` (or the folder itself) and
OMNIGLOT files from ``omniglot/`` (or the folder itself). Every source file is checked against
its published SHA-256 (:data:`SHA256`) before it is parsed.

Parsed arrays are cached, written atomically (temporary file + ``os.replace``), in the cache
folder: ``$LRL_CACHE`` or ``~/.cache/lattice-representation-learning``. A later load reads the
cache only (well under a second) and never touches the source files again.

.. warning::
   The cache is keyed by file name, not by the data folder: after pointing ``data_dir`` at other
   files of the same name, clear the cache (or set ``LRL_CACHE``) to parse them again.

Examples
--------
>>> a = area_weights(105, 28)          # (28, 105) overlap weights
>>> bool(np.allclose(a.sum(axis=1), 105 / 28))
True
"""
from __future__ import annotations

import io
import os
import pickle
import urllib.request
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from lattices.utils.io import atomic_write, file_sha256

__all__ = [
    "DATASETS",
    "check_data_dir",
    "SPLITS",
    "SHA256",
    "MNIST_URL",
    "OMNIGLOT_URL",
    "OMNIGLOT_VALID_SIZE",
    "OMNIGLOT_SPLIT_SEED",
    "OMNIGLOT_BINARIZE_SEED",
    "ChecksumError",
    "BinarizedDataset",
    "load_dataset",
    "batches",
    "is_dynamic",
    "area_weights",
    "area_downsample",
    "parse_amat",
    "resolve_data_dirs",
    "cache_dir",
    "download",
]

DATASETS = ("mnist", "omniglot")
SPLITS = ("train", "valid", "test")

MNIST_URL = ("http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
             "binarized_mnist_{split}.amat")
# The original OMNIGLOT images as PNG archives (Lake et al.); converted to the .npz layout of
# shared/data by :func:`_omniglot_zip_to_npz`.
OMNIGLOT_URL = "https://github.com/brendenlake/omniglot/raw/master/python/{part}.zip"

#: Published SHA-256 of every source file (shared/data/README.md).
SHA256 = {
    "binarized_mnist_train.amat": "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
    "binarized_mnist_valid.amat": "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
    "binarized_mnist_test.amat": "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
    "images_background.npz": "8bf84167413cd00beacdce3fe582f780ab538d8dbef043a6d688f2527bbce199",
    "images_evaluation.npz": "0b84c7ffd94c4841c0040e529c86a82eaaccb986d8eadad5673f7991b7475276",
}

_MNIST_SIZES = {"train": 50000, "valid": 10000, "test": 10000}
_OMNIGLOT_PARTS = ("images_background", "images_evaluation")
_OMNIGLOT_TRAIN_DRAWINGS = 15          # drawings 0..14 of each character; 15..19 are test
OMNIGLOT_VALID_SIZE = 1345             # held out from the 24345 training images
OMNIGLOT_SPLIT_SEED = 0
OMNIGLOT_BINARIZE_SEED = 0
_OMNIGLOT_CACHE = "omniglot28_v1.npz"
_SUBDIR = {"mnist": "binarized_mnist", "omniglot": "omniglot"}
_README = "shared/data/README.md"


class ChecksumError(ValueError):
    """A source file does not have its published SHA-256 (corrupt or different file)."""


# ----------------------------------------------------------------------------- validation
def _check_name_split(name: str, split: str) -> tuple[str, str]:
    if not isinstance(name, str) or name.lower() not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(DATASETS)}")
    if not isinstance(split, str) or split.lower() not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    return name.lower(), split.lower()


def is_dynamic(name: str, split: str) -> bool:
    """True where :func:`load_dataset` returns grey levels to be binarized at each draw.

    >>> is_dynamic("omniglot", "train"), is_dynamic("mnist", "train")
    (True, False)
    """
    name, split = _check_name_split(name, split)
    return name == "omniglot" and split == "train"


# ----------------------------------------------------------------------------- locations
def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``path``, else ``$LRL_CACHE``, else ``~/.cache/lattice-representation-learning``."""
    if path is None:
        path = os.environ.get("LRL_CACHE") or Path.home() / ".cache" / "lattice-representation-learning"
    return Path(path).expanduser()


def resolve_data_dirs(data_dir: str | os.PathLike | None = None,
                      cache: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for source files, in order (see the module docstring).

    An explicit ``data_dir`` (argument, then ``LRL_DATA_DIR``) is searched alone; otherwise
    ``../shared/data`` (beside the repository root, then beside the current directory) where it
    exists, then ``<cache>/downloads``.
    """
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    env = os.environ.get("LRL_DATA_DIR")
    if env:
        return [Path(env).expanduser()]
    dirs = []
    for base in (Path(__file__).resolve().parents[1], Path.cwd()):
        shared = (base.parent / "shared" / "data").resolve()
        if shared.is_dir() and shared not in dirs:
            dirs.append(shared)
    dirs.append(cache_dir(cache) / "downloads")
    return dirs


def check_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """An explicit ``--data-dir`` must be an existing folder (a typo is an error, not a silent
    fallback to the cache); ``None`` passes through."""
    if data_dir is None:
        return None
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise ValueError(f"--data-dir {str(data_dir)!r} is not a directory; it should hold "
                         f"binarized_mnist/ and/or omniglot/ (see {_README})")
    return path


def _candidates(dirs: list[Path], subdir: str, filename: str) -> list[Path]:
    return [p for d in dirs for p in (d / subdir / filename, d / filename)]


def _missing(name: str, filenames: list[str], tried: list[Path], urls: list[str]) -> FileNotFoundError:
    lines = [f"data set {name!r}: file(s) {', '.join(filenames)} not found.",
             "Paths tried:"] + [f"  {p}" for p in tried] + [
        "Expected layout: <data_dir>/" + _SUBDIR[name] + "/<file> (or <data_dir>/<file>).",
        "Point to the files with load_dataset(..., data_dir=DIR) / --data-dir DIR or the "
        "environment variable LRL_DATA_DIR, or download them with download=True "
        "(or LRL_DOWNLOAD=1) from:"] + [f"  {u}" for u in urls] + [
        f"(see {_README} for the layout and checksums)."]
    return FileNotFoundError("\n".join(lines))


def _download_enabled(download: bool | None) -> bool:
    if download is None:
        return os.environ.get("LRL_DOWNLOAD", "").strip().lower() in ("1", "true", "yes")
    return bool(download)


# ----------------------------------------------------------------------------- file helpers
def _verify(path: Path, expected: str | None = None) -> None:
    expected = expected or SHA256.get(path.name)
    if expected is None:
        return
    got = file_sha256(path)
    if got != expected:
        raise ChecksumError(
            f"{path}: SHA-256 mismatch (expected {expected}, got {got}); the file is corrupt or "
            f"not the published one. Replace it (see {_README} or download it again).")


#: What reading a truncated, empty or foreign ``.npy`` / ``.npz`` raises.
_UNREADABLE = (ValueError, EOFError, OSError, KeyError, zipfile.BadZipFile, pickle.UnpicklingError)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    end = text.find(". ")
    text = text[:end + 1] if 0 < end < 120 else text[:120]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _read_cache(path: Path, read, shape: tuple) -> np.ndarray:
    """``read(path)``, an array of the parsed-data cache that must have ``shape`` (``None``: any size).

    A cache file left truncated or damaged (a full disk, a copy cut short, another program) is a
    ``ValueError`` naming it and saying to delete it (it is derived from the source files, so
    nothing is lost: the next load parses them again), instead of numpy's error.
    """
    try:
        array = read(path)
    except PermissionError:
        raise
    except _UNREADABLE as exc:
        raise ValueError(f"the data cache file {path} is truncated or corrupt ({_reason(exc)}); delete "
                         f"it: it is rebuilt from the source files on the next load") from None
    if array.ndim != len(shape) or any(want is not None and got != want
                                       for got, want in zip(array.shape, shape)):
        raise ValueError(f"the data cache file {path} holds an array of shape {array.shape}, expected "
                         f"{shape}; delete it: it is rebuilt from the source files on the next load")
    return array


def _atomic_write(path: Path, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it into place."""
    atomic_write(path, write)


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, checking ``sha256`` when given."""
    dest = Path(dest)

    def write(f):
        with urllib.request.urlopen(url, timeout=timeout) as r:
            for block in iter(lambda: r.read(1 << 20), b""):
                f.write(block)

    _atomic_write(dest, write)
    if sha256 is not None:
        try:
            _verify(dest, sha256)
        except ChecksumError:
            dest.unlink()
            raise
    return dest


# ----------------------------------------------------------------------------- MNIST
def parse_amat(data: bytes, n_cols: int = 784) -> np.ndarray:
    """Parse the text of a binarized-MNIST ``.amat`` file into a ``(N, n_cols)`` uint8 array.

    Reads the '0'/'1' characters straight from the bytes (no float parsing); any other value
    raises ``ValueError``.

    >>> parse_amat(b"0 1 1\\n1 0 0\\n", n_cols=3).tolist()
    [[0, 1, 1], [1, 0, 0]]
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    digit = (raw == ord("0")) | (raw == ord("1"))
    sep = (raw == ord(" ")) | (raw == ord("\n")) | (raw == ord("\r")) | (raw == ord("\t"))
    if not np.all(digit | sep):
        bad = raw[~(digit | sep)][0]
        raise ValueError(f"unexpected character {chr(bad)!r} in .amat data: values must be 0 or 1")
    # Each value must be a single character: no digit may follow another digit.
    if np.any(digit[1:] & digit[:-1]):
        raise ValueError(".amat data holds a value other than 0 or 1")
    values = raw[digit] - ord("0")
    lines = [ln for ln in data.splitlines() if ln.strip()]
    if values.size != len(lines) * n_cols:
        raise ValueError(f".amat data: {values.size} values on {len(lines)} lines, "
                         f"expected {n_cols} per line")
    return values.reshape(len(lines), n_cols)


def _load_mnist(split: str, data_dir, cache, download_: bool | None) -> np.ndarray:
    filename = f"binarized_mnist_{split}.amat"
    cached = cache_dir(cache) / f"binarized_mnist_{split}.npy"
    if cached.is_file():
        return _read_cache(cached, lambda path: np.load(path), (_MNIST_SIZES[split], 784))
    dirs = resolve_data_dirs(data_dir, cache)
    tried = _candidates(dirs, "binarized_mnist", filename)
    source = next((p for p in tried if p.is_file()), None)
    if source is None:
        url = MNIST_URL.format(split=split)
        if not _download_enabled(download_):
            raise _missing("mnist", [filename], tried, [url])
        target = (dirs[0] if data_dir is not None else cache_dir(cache) / "downloads")
        try:
            source = download(url, target / "binarized_mnist" / filename, SHA256[filename])
        except OSError as err:
            raise _missing("mnist", [filename], tried, [url]) from err
    _verify(source)
    array = parse_amat(source.read_bytes())
    if array.shape[0] != _MNIST_SIZES[split]:
        raise ValueError(f"{source}: {array.shape[0]} images, expected {_MNIST_SIZES[split]}")
    _atomic_write(cached, lambda f: np.save(f, array))
    return array


# ----------------------------------------------------------------------------- OMNIGLOT
def area_weights(n_in: int = 105, n_out: int = 28) -> np.ndarray:
    r"""Overlap weights of an exact area-average resampling, shape ``(n_out, n_in)``.

    Output pixel :math:`i` covers :math:`[i s, (i+1) s)` with :math:`s = n_{in}/n_{out}` (3.75 for
    105 -> 28); :math:`A_{ij} = |[i s, (i+1) s) \cap [j, j+1)|`, so each row sums to :math:`s`
    and each column to 1.

    >>> area_weights(105, 28)[0, :5].tolist()
    [1.0, 1.0, 1.0, 0.75, 0.0]
    """
    s = n_in / n_out
    lo = np.arange(n_out)[:, None] * s
    j = np.arange(n_in)[None, :]
    return np.clip(np.minimum(lo + s, j + 1) - np.maximum(lo, j), 0.0, None)


def area_downsample(images: np.ndarray, n_out: int = 28, chunk: int = 2048) -> np.ndarray:
    r"""Exact area average of square images ``(..., n, n)`` down to ``(..., n_out, n_out)``.

    .. math:: Y = A X A^\top / s^2, \qquad s = n / n_{out},

    with :math:`A` from :func:`area_weights`: every output pixel is the mean of the input over
    its square of side :math:`s`, so a constant image stays constant and the total mass is
    multiplied by :math:`(n_{out}/n)^2`. Computed in float64.
    """
    images = np.asarray(images)
    n = images.shape[-1]
    if images.shape[-2] != n:
        raise ValueError(f"images must be square, got shape {images.shape}")
    a = area_weights(n, n_out)
    scale = (n / n_out) ** 2
    flat = images.reshape(-1, n, n)
    out = np.empty((flat.shape[0], n_out, n_out), dtype=np.float64)
    for start in range(0, flat.shape[0], chunk):
        x = flat[start:start + chunk].astype(np.float64)
        out[start:start + chunk] = a @ x @ a.T / scale
    return out.reshape(images.shape[:-2] + (n_out, n_out))


def _omniglot_zip_to_npz(zip_path: Path, npz_path: Path) -> None:
    """Convert an original OMNIGLOT PNG archive into the ``images``/``labels`` .npz of shared/data.

    Characters in sorted (alphabet, character) order, drawings in sorted file-name order;
    ``images`` (C, 20, 105, 105) bool with True = background, ``labels`` (C, 20) the character
    index. The result is not byte-identical to the published archive, so its SHA-256 is not checked.
    """
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("converting the OMNIGLOT PNG archive needs Pillow (pip install pillow)") from err
    chars: dict[tuple[str, str], list[str]] = {}
    with zipfile.ZipFile(zip_path) as z:
        for member in z.namelist():
            parts = member.split("/")
            if member.endswith(".png") and len(parts) >= 4:
                chars.setdefault((parts[-3], parts[-2]), []).append(member)
        keys = sorted(chars)
        images = np.zeros((len(keys), 20, 105, 105), dtype=bool)
        for c, key in enumerate(keys):
            for d, member in enumerate(sorted(chars[key])[:20]):
                with z.open(member) as f:
                    images[c, d] = np.asarray(Image.open(io.BytesIO(f.read())).convert("1"), dtype=bool)
    labels = np.repeat(np.arange(len(keys), dtype=np.int64)[:, None], 20, axis=1)
    _atomic_write(npz_path, lambda f: np.savez_compressed(f, images=images, labels=labels))


def _omniglot_sources(data_dir, cache, download_: bool | None) -> list[Path]:
    dirs = resolve_data_dirs(data_dir, cache)
    filenames = [f"{p}.npz" for p in _OMNIGLOT_PARTS]
    sources, tried = [], []
    for fn in filenames:
        cands = _candidates(dirs, "omniglot", fn)
        tried += cands
        sources.append(next((p for p in cands if p.is_file()), None))
    if all(sources):
        for s in sources:
            if not s.with_suffix(".zip").is_file():   # converted from a download: not byte-identical
                _verify(s)
        return sources
    urls = [OMNIGLOT_URL.format(part=p) for p in _OMNIGLOT_PARTS]
    missing = [fn for fn, s in zip(filenames, sources) if s is None]
    if not _download_enabled(download_):
        raise _missing("omniglot", missing, tried, urls)
    target = (dirs[0] if data_dir is not None else cache_dir(cache) / "downloads") / "omniglot"
    try:
        for i, part in enumerate(_OMNIGLOT_PARTS):
            if sources[i] is None:
                archive = download(OMNIGLOT_URL.format(part=part), target / f"{part}.zip")
                sources[i] = target / f"{part}.npz"
                _omniglot_zip_to_npz(archive, sources[i])
    except OSError as err:
        raise _missing("omniglot", missing, tried, urls) from err
    return sources


def _read_source_images(path: Path) -> np.ndarray:
    """The ``images`` array of an OMNIGLOT source ``.npz``; a truncated or foreign file is a
    ``ValueError`` naming it (one converted from a download has no published SHA-256 to check)."""
    try:
        with np.load(path) as z:
            return z["images"]
    except PermissionError:
        raise
    except _UNREADABLE as exc:
        raise ValueError(f"the OMNIGLOT source file {path} is truncated or corrupt ({_reason(exc)}); "
                         f"delete it and download it again (LRL_DOWNLOAD=1), or replace it (see "
                         f"{_README})") from None


def _build_omniglot(sources: list[Path]) -> dict[str, np.ndarray]:
    images = np.concatenate([_read_source_images(s) for s in sources])  # (1623, 20, 105, 105) bool
    if images.shape[1:] != (20, 105, 105):
        raise ValueError(f"OMNIGLOT images have shape {images.shape}, expected (C, 20, 105, 105)")
    grey = area_downsample(~images).reshape(images.shape[0], 20, 784)    # ink = 1; (C, 20, 784)
    train_all = grey[:, :_OMNIGLOT_TRAIN_DRAWINGS].reshape(-1, 784)      # (24345, 784), char-major
    test = grey[:, _OMNIGLOT_TRAIN_DRAWINGS:].reshape(-1, 784)           # (8115, 784)
    perm = np.random.default_rng(OMNIGLOT_SPLIT_SEED).permutation(train_all.shape[0])
    valid_idx = np.sort(perm[:OMNIGLOT_VALID_SIZE])
    train_idx = np.sort(perm[OMNIGLOT_VALID_SIZE:])
    valid = train_all[valid_idx]

    def binarize(x, k):
        rng = np.random.default_rng((OMNIGLOT_BINARIZE_SEED, k))
        return (rng.random(x.shape) < x).astype(np.uint8)

    return {"train": train_all[train_idx].astype(np.float32),
            "valid": binarize(valid, 1), "test": binarize(test, 2),
            "valid_index": valid_idx}


def _load_omniglot(split: str, data_dir, cache, download_: bool | None) -> np.ndarray:
    cached = cache_dir(cache) / _OMNIGLOT_CACHE
    if not cached.is_file():
        arrays = _build_omniglot(_omniglot_sources(data_dir, cache, download_))
        _atomic_write(cached, lambda f: np.savez(f, **arrays))

    def read(path):
        with np.load(path) as z:
            return z[split]

    return _read_cache(cached, read, (None, 784))


# ----------------------------------------------------------------------------- public API
def load_dataset(name: str, split: str, data_dir: str | os.PathLike | None = None, *,
                 cache: str | os.PathLike | None = None, download: bool | None = None) -> torch.Tensor:
    """Load one split of a data set as a float32 tensor of shape ``(N, 784)``.

    Parameters
    ----------
    name : {"mnist", "omniglot"}
    split : {"train", "valid", "test"}
    data_dir : path, optional
        Folder holding the source files (see the module docstring for the search order).
    cache : path, optional
        Cache folder (default ``$LRL_CACHE`` or ``~/.cache/lattice-representation-learning``).
    download : bool, optional
        Download missing files from the public URLs (default: ``LRL_DOWNLOAD=1`` in the
        environment, else False).

    Returns
    -------
    torch.Tensor
        Values in {0, 1} for every MNIST split and OMNIGLOT valid/test; grey levels in [0, 1] for
        OMNIGLOT train (binarize them at each draw: :func:`batches`, :class:`BinarizedDataset`).
        Sizes: MNIST 50000/10000/10000; OMNIGLOT 23000/1345/8115.

    Raises
    ------
    ValueError
        Unknown name or split; :class:`ChecksumError` (a ValueError) when a source file does not
        have its published SHA-256.
    FileNotFoundError
        The source files are not found (the message lists the paths tried and the URLs).
    """
    name, split = _check_name_split(name, split)
    if name == "mnist":
        array = _load_mnist(split, data_dir, cache, download)
    else:
        array = _load_omniglot(split, data_dir, cache, download)
    return torch.from_numpy(np.ascontiguousarray(array)).to(torch.float32)


def _as_generator(generator: torch.Generator | int | None) -> torch.Generator | None:
    """Normalize ``generator``: a torch Generator, an int seed, or None (torch's global RNG)."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    raise TypeError(f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}")


def batches(name: str, split: str, batch_size: int, generator: torch.Generator | int | None = None,
            shuffle: bool = True, data_dir: str | os.PathLike | None = None, *,
            drop_last: bool = False, data: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """Yield float32 binary batches ``(batch_size, 784)`` of one pass over a split.

    The order (when ``shuffle``) and the fresh binarization of OMNIGLOT training images
    (``torch.bernoulli`` of the grey levels) both draw from ``generator``: the same seed gives
    the same batches, and successive passes with one generator differ. ``data`` reuses a tensor
    already returned by :func:`load_dataset` (avoids reloading each epoch).
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    dynamic = is_dynamic(name, split)
    gen = _as_generator(generator)
    x = load_dataset(name, split, data_dir) if data is None else data
    n = x.shape[0]
    order = (torch.randperm(n, generator=gen, device=x.device) if shuffle
             else torch.arange(n, device=x.device))
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        batch = x[order[start:start + batch_size]]                       # (batch, 784)
        yield torch.bernoulli(batch, generator=gen) if dynamic else batch


class BinarizedDataset(torch.utils.data.Dataset):
    """Map-style dataset of binary images ``(784,)``.

    For OMNIGLOT train each access draws a fresh binarization from ``generator`` (a torch
    Generator or an int seed; None uses torch's global RNG); other splits are fixed.
    """

    def __init__(self, name: str, split: str, data_dir: str | os.PathLike | None = None,
                 generator: torch.Generator | int | None = None):
        self.name, self.split = _check_name_split(name, split)
        self.dynamic = is_dynamic(name, split)
        self.generator = _as_generator(generator)
        self.data = load_dataset(self.name, self.split, data_dir)

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index) -> torch.Tensor:
        x = self.data[index]
        return torch.bernoulli(x, generator=self.generator) if self.dynamic else x
