"""Tests of vae.data: split sizes and values, checksums, caching, the OMNIGLOT area average,
binarization reproducibility, and the errors for missing data and bad arguments."""
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vae import data

from shared_data import SHARED, needs_data

SIZES = {("mnist", "train"): 50000, ("mnist", "valid"): 10000, ("mnist", "test"): 10000,
         ("omniglot", "train"): 23000, ("omniglot", "valid"): 1345, ("omniglot", "test"): 8115}


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """One cache folder for the whole session, set as LRL_CACHE (parse each data set once)."""
    path = tmp_path_factory.mktemp("lrl_cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("LRL_CACHE", str(path))
    mp.delenv("LRL_DATA_DIR", raising=False)
    mp.delenv("LRL_DOWNLOAD", raising=False)
    yield path
    mp.undo()


def _load(name, split, cache):
    return data.load_dataset(name, split, SHARED, cache=cache)


# ----------------------------------------------------------------------------- sizes and values
@needs_data
@pytest.mark.parametrize("name,split", sorted(SIZES))
def test_split_sizes_and_values(name, split, cache):
    x = _load(name, split, cache)
    assert x.dtype == torch.float32 and tuple(x.shape) == (SIZES[name, split], 784)
    if data.is_dynamic(name, split):
        # grey levels of the area average: multiples of 1/3.75^2/16 in [0, 1], not only 0/1
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
        assert ((x > 0) & (x < 1)).any()
        steps = x.double() * 14.0625 * 16
        assert torch.allclose(steps, steps.round(), atol=1e-3)
    else:
        assert set(torch.unique(x).tolist()) == {0.0, 1.0}
    # ink is the minority of pixels (sanity check of polarity: background 0, ink 1)
    assert 0.03 < float(x.mean()) < 0.2


@needs_data
def test_omniglot_total_size_matches_readme(cache):
    # README: 1623 characters x 15 training drawings = 24345; x 5 test drawings = 8115
    n_train = sum(_load("omniglot", s, cache).shape[0] for s in ("train", "valid"))
    assert n_train == 24345 == 1623 * 15
    assert _load("omniglot", "test", cache).shape[0] == 8115 == 1623 * 5


# ----------------------------------------------------------------------------- checksums and parsing
@needs_data
def test_sha256_mismatch_is_a_clear_error(tmp_path):
    folder = tmp_path / "data" / "binarized_mnist"
    folder.mkdir(parents=True)
    copy = folder / "binarized_mnist_valid.amat"
    shutil.copyfile(SHARED / "binarized_mnist" / copy.name, copy)
    with open(copy, "r+b") as f:          # flip one pixel: still a valid .amat file
        first = f.read(1)
        f.seek(0)
        f.write(b"1" if first == b"0" else b"0")
    with pytest.raises(data.ChecksumError, match="SHA-256 mismatch") as info:
        data.load_dataset("mnist", "valid", tmp_path / "data", cache=tmp_path / "cache")
    assert str(copy) in str(info.value) and data.SHA256[copy.name] in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not (tmp_path / "cache" / "binarized_mnist_valid.npy").exists()


@needs_data
def test_omniglot_sha256_mismatch(tmp_path):
    folder = tmp_path / "data" / "omniglot"
    folder.mkdir(parents=True)
    shutil.copyfile(SHARED / "omniglot" / "images_background.npz", folder / "images_background.npz")
    with open(folder / "images_evaluation.npz", "wb") as f:
        f.write(b"not the published archive")
    with pytest.raises(data.ChecksumError, match="images_evaluation.npz"):
        data.load_dataset("omniglot", "test", tmp_path / "data", cache=tmp_path / "cache")


def test_parse_amat_small_synthetic():
    rng = np.random.default_rng(0)
    want = (rng.random((7, 784)) < 0.3).astype(np.uint8)
    text = "\n".join(" ".join(map(str, row)) for row in want).encode() + b"\n"
    got = data.parse_amat(text)
    assert got.dtype == np.uint8 and np.array_equal(got, want)
    with pytest.raises(ValueError, match="0 or 1"):
        data.parse_amat(b"0 2 1\n", n_cols=3)
    with pytest.raises(ValueError, match="0 or 1"):
        data.parse_amat(b"0 10 1\n", n_cols=3)
    with pytest.raises(ValueError, match="expected 3 per line"):
        data.parse_amat(b"0 1\n1 0\n", n_cols=3)


# ----------------------------------------------------------------------------- caching
@needs_data
def test_second_load_is_cached_fast_and_identical(cache):
    first = _load("mnist", "train", cache)               # parsed (or cached by an earlier test)
    assert (cache / "binarized_mnist_train.npy").is_file()
    t0 = time.perf_counter()
    second = _load("mnist", "train", cache)
    elapsed = time.perf_counter() - t0
    assert torch.equal(first, second)
    assert elapsed < 2.0, f"cached load took {elapsed:.2f} s"
    assert not list(cache.glob("*.tmp")), "temporary files left in the cache"


@needs_data
def test_cache_is_used_without_the_source(cache, tmp_path):
    want = _load("mnist", "test", cache)
    # an empty data folder: the cached array is still served
    got = data.load_dataset("mnist", "test", tmp_path, cache=cache)
    assert torch.equal(got, want)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "x.npy"

    def broken(f):
        f.write(b"partial")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        data._atomic_write(target, broken)
    assert not target.exists() and list(target.parent.iterdir()) == []
    data._atomic_write(target, lambda f: np.save(f, np.arange(3)))
    assert np.load(target).tolist() == [0, 1, 2] and list(target.parent.iterdir()) == [target]


# ----------------------------------------------------------------------------- OMNIGLOT area average
def test_area_weights_rows_and_columns():
    a = data.area_weights(105, 28)
    assert a.shape == (28, 105)
    assert np.allclose(a.sum(axis=1), 3.75) and np.allclose(a.sum(axis=0), 1.0)


def test_area_average_constant_and_mass():
    const = np.full((105, 105), 0.7)
    assert np.allclose(data.area_downsample(const), 0.7, atol=1e-15)
    rng = np.random.default_rng(1)
    x = rng.random((3, 105, 105)) < 0.2
    y = data.area_downsample(x)
    assert y.shape == (3, 28, 28) and y.min() >= 0 and y.max() <= 1
    # total ink mass preserved up to the factor (28/105)^2
    assert np.allclose(y.sum(axis=(1, 2)), x.sum(axis=(1, 2)) * (28 / 105) ** 2, rtol=1e-13)


def test_area_average_matches_exact_block_mean():
    # Independent reference: upsample 105 -> 420 by 4x4 replication; each output pixel is then
    # exactly the mean of a 15x15 block (420 / 28 = 15).
    rng = np.random.default_rng(2)
    x = (rng.random((105, 105)) < 0.3).astype(float)
    big = np.kron(x, np.ones((4, 4)))
    ref = big.reshape(28, 15, 28, 15).mean(axis=(1, 3))
    assert np.allclose(data.area_downsample(x), ref, atol=1e-14)


# ----------------------------------------------------------------------------- binarization
@needs_data
def test_omniglot_train_binarization_reproducible_and_fresh(cache):
    grey = _load("omniglot", "train", cache)
    kw = dict(data=grey, batch_size=4096)
    a = list(data.batches("omniglot", "train", generator=torch.Generator().manual_seed(5), **kw))
    b = list(data.batches("omniglot", "train", generator=5, **kw))
    assert all(torch.equal(u, v) for u, v in zip(a, b)) and len(a) == len(b) == 6
    full = torch.cat(a)
    assert full.shape == grey.shape and set(torch.unique(full).tolist()) == {0.0, 1.0}
    # the same order, fresh draws: unshuffled passes with one generator differ
    g = torch.Generator().manual_seed(7)
    p1 = torch.cat(list(data.batches("omniglot", "train", shuffle=False, generator=g, **kw)))
    p2 = torch.cat(list(data.batches("omniglot", "train", shuffle=False, generator=g, **kw)))
    assert not torch.equal(p1, p2)
    # Bernoulli means: the binary pass matches the grey levels on average (n ~ 1.8e7 pixels)
    assert abs(float(p1.mean()) - float(grey.mean())) < 1e-3
    # binary pixels only where the grey level allows it
    assert not bool(((p1 == 1) & (grey == 0)).any()) and not bool(((p1 == 0) & (grey == 1)).any())


@needs_data
def test_omniglot_valid_test_fixed(cache, tmp_path):
    valid, test = _load("omniglot", "valid", cache), _load("omniglot", "test", cache)
    # rebuilt from scratch in a fresh cache: the same fixed-seed binarization
    assert torch.equal(data.load_dataset("omniglot", "valid", SHARED, cache=tmp_path), valid)
    assert torch.equal(data.load_dataset("omniglot", "test", SHARED, cache=tmp_path), test)
    # batches over a fixed split are not re-binarized
    got = torch.cat(list(data.batches("omniglot", "test", 1000, generator=0, shuffle=False, data=test)))
    assert torch.equal(got, test)


@needs_data
def test_mnist_batches_and_dataset(cache):
    x = _load("mnist", "valid", cache)
    got = list(data.batches("mnist", "valid", 3000, shuffle=False, data=x))
    assert [len(b) for b in got] == [3000, 3000, 3000, 1000] and torch.equal(torch.cat(got), x)
    dropped = list(data.batches("mnist", "valid", 3000, generator=1, data=x, drop_last=True))
    assert len(dropped) == 3
    perm = torch.cat(list(data.batches("mnist", "valid", 3000, generator=1, data=x)))
    assert not torch.equal(perm, x) and torch.equal(perm.sum(0), x.sum(0))
    ds = data.BinarizedDataset("mnist", "valid", SHARED)
    assert len(ds) == 10000 and torch.equal(ds[3], x[3])
    om = data.BinarizedDataset("omniglot", "train", SHARED, generator=3)
    assert om.dynamic and set(torch.unique(om[0:50]).tolist()) <= {0.0, 1.0}


# ----------------------------------------------------------------------------- errors and resolution
def test_missing_data_is_file_not_found(tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    for name, filename in (("mnist", "binarized_mnist_test.amat"), ("omniglot", "images_evaluation.npz")):
        with pytest.raises(FileNotFoundError) as info:
            data.load_dataset(name, "test", empty, cache=tmp_path / "cache", download=False)
        msg = str(info.value)
        assert filename in msg and str(empty / data._SUBDIR[name] / filename) in msg
        assert "http" in msg and "LRL_DATA_DIR" in msg


def test_env_data_dir_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("LRL_DATA_DIR", str(tmp_path / "envdir"))
    assert data.resolve_data_dirs() == [tmp_path / "envdir"]
    assert data.resolve_data_dirs(tmp_path / "arg") == [tmp_path / "arg"]   # argument first
    with pytest.raises(FileNotFoundError, match="envdir"):
        data.load_dataset("mnist", "valid", cache=tmp_path / "cache", download=False)


@needs_data
def test_download_path_without_network(tmp_path, monkeypatch):
    """The download branch, with the network replaced by a copy of the shared file."""
    urls = []

    def fake_download(url, dest, sha256=None, timeout=60.0):
        urls.append(url)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHARED / "binarized_mnist" / dest.name, dest)
        return dest

    monkeypatch.setattr(data, "download", fake_download)
    target = tmp_path / "dl"
    x = data.load_dataset("mnist", "test", target, cache=tmp_path / "cache", download=True)
    assert urls == [data.MNIST_URL.format(split="test")]
    assert (target / "binarized_mnist" / "binarized_mnist_test.amat").is_file()
    assert tuple(x.shape) == (10000, 784)


@pytest.mark.parametrize("name,split,match", [
    ("cifar", "train", "valid names: mnist, omniglot"),
    ("mnist", "validation", "valid splits: train, valid, test"),
    (3, "train", "valid names"),
])
def test_bad_name_or_split(name, split, match):
    with pytest.raises(ValueError, match=match):
        data.load_dataset(name, split)
    with pytest.raises(ValueError, match=match):
        next(data.batches(name, split, 10))


def test_bad_batch_size_and_generator():
    with pytest.raises(ValueError, match="batch_size"):
        next(data.batches("mnist", "test", 0))
    with pytest.raises(TypeError, match="generator"):
        next(data.batches("mnist", "test", 10, generator="seed", data=torch.zeros(4, 784)))
