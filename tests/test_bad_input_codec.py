"""Bad input to the codec's command lines, second round (issue 33, docs/reliability.md).

``python -m vae.compress``, ``python -m vae.decompress`` and ``python -m validation.bitstream``
are called in-process (``main([...])``); each bad-input case asserts exit 2, exactly one line
on stderr without a traceback, the words naming the cause, and that every file under the test
folder -- the run folders' ``best.pt``/``config.json``/``checkpoint.pt``, the ``.lrlb`` inputs,
a user's earlier outputs -- has the same SHA-256 before and after.

Forged files rewrite the header and recompute the checksums (:func:`forge` for format 1,
:func:`forge_v2` for format 2), so that the header checks themselves are tested, not the
checksum in front of them.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import struct
import zlib

import numpy as np
import pytest

from vae import compress, decompress, train
from vae.codec.container import PARAM_NAMES, unpack, write_varint
from vae.codec.latent_coders import CodecError
from validation import bitstream

from shared_data import needs_data

pytestmark = [pytest.mark.usefixtures("vae_data_env"), needs_data]

SMALL = ["--train-limit", "200", "--valid-limit", "100", "--batch-size", "50", "--no-progress",
         "--device", "cpu", "--epochs", "1", "--hidden", "16"]
N_GOOD = 20


# ------------------------------------------------------------------------------ helpers
def snapshot(folder) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def check_one_line_error(main, argv, capsys, folder, *words, code=2):
    before = snapshot(folder)
    capsys.readouterr()
    got = main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert got == code, f"exit {got}, stderr: {captured.err}"
    assert len(lines) == 1, f"expected one line on stderr, got: {captured.err!r}"
    assert "Traceback" not in captured.err and "error" in lines[0]
    for word in words:
        assert word.lower() in lines[0].lower(), f"{word!r} not in {lines[0]!r}"
    assert snapshot(folder) == before, "a user file was changed"
    assert captured.out == "", "nothing may be reported as done"
    return lines[0]


def forge(data: bytes, *, version: int = 1, drop=(), **changes) -> bytes:
    """``data`` with header fields changed (``meta_indices=`` sets meta.indices) and every
    checksum recomputed: the file is intact, only its header lies."""
    header, payload = unpack(data)
    header = copy.deepcopy(header)
    if "meta_indices" in changes:
        header.setdefault("meta", {})["indices"] = changes.pop("meta_indices")
    header.update(changes)
    for key in drop:
        header.pop(key)
    words = np.ascontiguousarray(payload, dtype="<u4").tobytes()
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body = struct.pack("<4sHI", b"LRLB", version, len(text)) + text + words
    return body + hashlib.sha256(body).digest()[:16]


def forge_v2(data: bytes, *, model_hash=None, seed=None, n_images=None, chunk=None, params=None,
             meta: bytes = b"", block_len=None, seed_bytes=None, tail: bytes = b"") -> bytes:
    """A format-2 ``data`` with fields replaced (raw where given as bytes) and the CRC-32
    recomputed: the file is intact, only its header lies."""
    header, payload = unpack(data)
    assert header["version"] == 2
    params = header["coder_params"] if params is None else params
    block = write_varint(header["chunk"] if chunk is None else chunk) + write_varint(len(params))
    for name, value in sorted(params.items()):
        block += write_varint(PARAM_NAMES.index(name)) + write_varint(value)
    block += meta
    body = (b"LRLB" + struct.pack("<H", 2) + (model_hash or bytes.fromhex(header["model_hash"]))
            + (seed_bytes if seed_bytes is not None else write_varint(header["seed"] if seed is None else seed))
            + write_varint(header["n_images"] if n_images is None else n_images)
            + write_varint(len(block) if block_len is None else block_len) + block
            + np.ascontiguousarray(payload, dtype="<u4").tobytes() + tail)
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One folder holding everything a user has: two runs (e8 with the paper prior, a2 with the
    discrete-Gaussian prior), a good file of each (format 2; the e8 one also in format 1, the
    source of the forged format-1 headers), and an earlier output."""
    root = tmp_path_factory.mktemp("codec-bad-input")
    runs = root / "runs"
    assert train.main(["--out", str(runs / "e8"), "--latent", "e8", "--seed", "0", *SMALL]) == 0
    assert train.main(["--out", str(runs / "a2"), "--latent", "a2", "--seed", "0",
                       "--latent-option", "prior=dgauss", *SMALL]) == 0
    good = root / "good.lrlb"
    assert compress.main([str(runs / "e8"), "--images", str(N_GOOD), "--out", str(good), "--no-progress"]) == 0
    assert compress.main([str(runs / "a2"), "--images", "5", "--out", str(root / "a2.lrlb"),
                          "--no-progress"]) == 0
    (root / "keep.npz").write_bytes(b"an earlier reconstruction")
    (root / "folder.lrlb").mkdir()
    (root / "links").mkdir()
    os.symlink(good, root / "links" / "good-link.lrlb")
    os.symlink(runs / "e8" / "best.pt", root / "links" / "model.lrlb")
    from vae.codec.api import compress as api_compress
    from vae.codec.cli import load_model, select

    model, config = load_model(runs / "e8")
    x, idx = select(config, "test", N_GOOD, None, 0)
    data = api_compress(model, x, 0, format_version=1, meta={"run_dir": str(runs / "e8"), "split": "test",
                                                             "indices": {"range": [0, N_GOOD, 1]}})
    v2 = good.read_bytes()
    header, _ = unpack(data)
    forged = root / "forged"
    forged.mkdir()
    s = header["symbol_shape"][1]
    indices_meta = json.dumps({"indices": {"range": [0, 10 ** 18, 1]}}).encode()
    variants = {
        "latent": forge(data, latent="leech"),
        "hidden": forge(data, hidden=32),
        "input_dim": forge(data, input_dim=100),
        "chunk0": forge(data, chunk=0),
        "chunk_negative": forge(data, chunk=-3),
        "chunk_float": forge(data, chunk=2.5),
        "chunk_huge": forge(data, chunk=2 ** 40),
        "n_huge": forge(data, n_images=10 ** 12),
        "n_huge_consistent": forge(data, n_images=10 ** 12, symbol_shape=[10 ** 12, s],
                                   meta_indices={"range": [0, 10 ** 12, 1]}),
        "n_negative": forge(data, n_images=-5, symbol_shape=[-5, s]),
        "n_string": forge(data, n_images="20"),
        "n_bool": forge(data, n_images=True),
        "n_null": forge(data, n_images=None),
        "shape_model": forge(data, symbol_shape=[N_GOOD, s + 1]),
        "shape_malformed": forge(data, symbol_shape="20x16"),
        "seed_negative": forge(data, seed=-1),
        "seed_huge": forge(data, seed=2 ** 64),
        "indices_range": forge(data, meta_indices={"range": [0, 10 ** 18, 1]}),
        "indices_type": forge(data, meta_indices=[1, 2, 3]),
        "coder_params": forge(data, coder_params={"escape_window": -1}),
        "sha_type": forge(data, model_sha256=12345),
        "missing": forge(data, drop=("chunk",)),
        "version99": forge(data, version=99),
        "empty": b"",
        "magic_only": v2[:5],
        "truncated": v2[:-9],
        "v1_truncated": data[:-9],
        # format 2: the header's fields, forged with the CRC-32 recomputed
        "v2_model_hash": forge_v2(v2, model_hash=bytes(8)),
        "v2_n_huge": forge_v2(v2, n_images=2 ** 32 - 1),
        "v2_n_too_many": forge_v2(v2, n_images=2 ** 32),
        "v2_chunk0": forge_v2(v2, chunk=0),
        "v2_chunk_huge": forge_v2(v2, chunk=2 ** 31),
        "v2_seed_overlong": forge_v2(v2, seed_bytes=b"\x80" * 9 + b"\x01"),
        "v2_seed_not_shortest": forge_v2(v2, seed_bytes=b"\x80\x00"),
        "v2_seed_huge": forge_v2(v2, seed=2 ** 63),
        "v2_block_past_end": forge_v2(v2, block_len=10 ** 6),
        "v2_params_foreign": forge_v2(v2, params={"window": 3}),
        "v2_params_value": forge_v2(v2, params={"escape_window": 5000}),
        "v2_meta_unreadable": forge_v2(v2, meta=b"{not json"),
        "v2_meta_indices": forge_v2(v2, meta=indices_meta),
        "v2_not_words": forge_v2(v2, tail=b"\x00\x01\x02"),
        "v2_version99": v2[:4] + struct.pack("<H", 99) + v2[6:],
    }
    for name, content in variants.items():
        (forged / f"{name}.lrlb").write_bytes(content)
    return root


def run_dir(world, name="e8"):
    return world / "runs" / name


# ------------------------------------------------------------------------- vae.compress
# (argv with {R}: the e8 run, {W}: the test folder; the words of the one-line message)
COMPRESS_CASES = {
    "out-is-best.pt": (["{R}", "--images", "5", "--out", "{R}/best.pt"], ["--out", "run folder"]),
    "out-is-config.json": (["{R}", "--images", "5", "--out", "{R}/config.json"], ["run folder"]),
    "out-is-checkpoint.pt": (["{R}", "--images", "5", "--out", "{R}/checkpoint.pt"], ["run folder"]),
    "out-dot-path-variant": (["{R}", "--images", "5", "--out", "{R}/./../e8/best.pt"], ["run folder"]),
    "out-link-to-best.pt": (["{R}", "--images", "5", "--out", "{W}/links/model.lrlb"], ["run folder"]),
    "out-unwritable-folder": (["{R}", "--images", "5", "--out", "/proc/x.lrlb"], ["cannot be written"]),
    "out-missing-folder": (["{R}", "--images", "5", "--out", "{W}/nowhere/x.lrlb"], ["does not exist"]),
    "out-is-a-folder": (["{R}", "--images", "5", "--out", "{W}/runs"], ["is a folder"]),
    "run-is-a-file": (["{R}/best.pt", "--images", "5", "--out", "{W}/new.lrlb"], ["is a file"]),
    "run-missing": (["{W}/no-run", "--images", "5", "--out", "{W}/new.lrlb"], ["does not exist"]),
    "indices-beyond-int64": (["{R}", "--indices", "99999999999999999999", "--out", "{W}/new.lrlb"],
                             ["--indices", "out of range"]),
    "indices-out-of-range": (["{R}", "--indices", "10000", "--out", "{W}/new.lrlb"], ["out of range", "9999"]),
    "indices-negative-out-of-range": (["{R}", "--indices", "-10001", "--out", "{W}/new.lrlb"], ["out of range"]),
    "indices-range-beyond-split": (["{R}", "--indices", "9990:20000", "--out", "{W}/new.lrlb"], ["out of range"]),
    "indices-step-0": (["{R}", "--indices", "0:100:0", "--out", "{W}/new.lrlb"], ["step", "0"]),
    "indices-empty-range": (["{R}", "--indices", "5:5", "--out", "{W}/new.lrlb"], ["selects no image"]),
    "indices-empty-backwards": (["{R}", "--indices", "10:5", "--out", "{W}/new.lrlb"], ["selects no image"]),
    "indices-malformed": (["{R}", "--indices", "1:2:3:4", "--out", "{W}/new.lrlb"], ["start:stop[:step]"]),
    "indices-not-a-number": (["{R}", "--indices", "five", "--out", "{W}/new.lrlb"], ["'five'"]),
    "images-0": (["{R}", "--images", "0", "--out", "{W}/new.lrlb"], ["--images", ">= 1"]),
    "images-negative": (["{R}", "--images", "-5", "--out", "{W}/new.lrlb"], ["--images", "non-negative"]),
    "images-more-than-split": (["{R}", "--images", "10001", "--out", "{W}/new.lrlb"],
                               ["--images 10001", "10000 images"]),
    "images-fraction": (["{R}", "--images", "2.5", "--out", "{W}/new.lrlb"], ["whole number"]),
    "seed-negative": (["{R}", "--images", "5", "--seed", "-1", "--out", "{W}/new.lrlb"], ["--seed"]),
    "seed-beyond-int64": (["{R}", "--images", "5", "--seed", "99999999999999999999", "--out", "{W}/new.lrlb"],
                          ["--seed", "2^63"]),
    "chunk-0": (["{R}", "--images", "5", "--chunk", "0", "--out", "{W}/new.lrlb"], ["--chunk"]),
    "chunk-huge": (["{R}", "--images", "5", "--chunk", str(2 ** 40), "--out", "{W}/new.lrlb"],
                   ["--chunk", "too large"]),
    "split-unknown": (["{R}", "--images", "5", "--split", "dev", "--out", "{W}/new.lrlb"], ["split", "dev"]),
}


@pytest.mark.parametrize("case", list(COMPRESS_CASES))
def test_compress_refuses(world, case, capsys):
    argv, words = COMPRESS_CASES[case]
    argv = [a.replace("{R}", str(run_dir(world))).replace("{W}", str(world)) for a in argv]
    check_one_line_error(compress.main, argv + ["--no-progress"], capsys, world, *words)
    assert not (world / "new.lrlb").exists()


# ----------------------------------------------------------------------- vae.decompress
DECOMPRESS_CASES = {
    # no-loss rule: the outputs
    "out-is-the-input": (["{G}", "{R}", "--out", "{G}"], ["--out", "is the input"]),
    "out-is-the-input-by-link": (["{G}", "{R}", "--out", "{W}/links/good-link.lrlb"], ["is the input"]),
    "out-is-the-input-via-dotdot": (["{G}", "{R}", "--out", "{W}/links/../good.lrlb"], ["is the input"]),
    "out-is-best.pt": (["{G}", "{R}", "--out", "{R}/best.pt"], ["run folder"]),
    "png-is-the-input": (["{G}", "{R}", "--out", "{W}/new.npz", "--png", "{G}"], ["--png", "is the input"]),
    "png-is-config.json": (["{G}", "{R}", "--out", "{W}/new.npz", "--png", "{R}/config.json"], ["run folder"]),
    "png-is-out": (["{G}", "{R}", "--out", "{W}/new.npz", "--png", "{W}/new.npz"], ["--png", "--out"]),
    "out-unwritable-folder": (["{G}", "{R}", "--out", "/proc/x.npz"], ["cannot be written"]),
    # inputs of the wrong kind
    "file-is-a-folder": (["{W}/folder.lrlb", "{R}", "--out", "{W}/new.npz"], ["is a folder"]),
    "file-missing": (["{W}/none.lrlb", "{R}", "--out", "{W}/new.npz"], ["does not exist"]),
    "run-is-a-file": (["{G}", "{R}/config.json", "--out", "{W}/new.npz"], ["is a file"]),
    "max-seconds-0": (["{G}", "{R}", "--out", "{W}/new.npz", "--max-seconds", "0"], ["--max-seconds", "positive"]),
    # another model: a real file of another run, named both ways
    "another-latent-real": (["{W}/a2.lrlb", "{R}", "--out", "{W}/new.npz"], ["another model", "e8/paper"]),
    "another-latent-real-reverse": (["{G}", "{W}/runs/a2", "--out", "{W}/new.npz"], ["another model", "a2/dgauss"]),
}
FORGED_CASES = {                          # forged header: the words of the refusal
    "latent": ["latent 'leech'", "e8/paper"],
    "hidden": ["hidden 32", "hidden 16"],
    "input_dim": ["input_dim 100", "784"],
    "chunk0": ["chunk 0", "whole number >= 1"],
    "chunk_negative": ["chunk -3"],
    "chunk_float": ["chunk 2.5"],
    "chunk_huge": ["chunk", "at most"],
    "n_huge": ["symbol_shape", "n_images is 1000000000000"],
    "n_huge_consistent": ["n_images 1000000000000", "memory"],
    "n_negative": ["n_images -5"],
    "n_string": ["n_images '20'"],
    "n_bool": ["n_images True"],
    "n_null": ["n_images None"],
    "shape_model": ["symbols per image", "e8/paper"],
    "shape_malformed": ["symbol_shape"],
    "seed_negative": ["seed -1"],
    "seed_huge": ["seed", "2^63"],
    "indices_range": ["indices", "disagrees"],
    "indices_type": ["indices", "invalid"],
    "coder_params": ["coder_params"],
    "sha_type": ["model_sha256"],
    "missing": ["lacks chunk"],
    "version99": ["format version 99"],
    "empty": ["empty"],
    "magic_only": ["truncated"],
    "truncated": ["checksum", "CRC-32"],
    "v1_truncated": ["checksum"],
    "v2_model_hash": ["another model", "e8/paper", "model hash 0000000000000000"],
    "v2_n_huge": ["n_images 4294967295", "memory"],
    "v2_n_too_many": ["n_images 4294967296", "at most"],
    "v2_chunk0": ["chunk 0", "whole number >= 1"],
    "v2_chunk_huge": ["chunk", "at most"],
    "v2_seed_overlong": ["seed", "longer than 9 bytes"],
    "v2_seed_not_shortest": ["seed", "shortest"],
    "v2_seed_huge": ["seed", "longer than 9 bytes"],            # 2^63 needs 10 varint bytes
    "v2_block_past_end": ["params block", "past the end"],
    "v2_params_foreign": ["coder_params", "['window']", "e8/paper"],
    "v2_params_value": ["coder_params", "[0, 4096]"],
    "v2_meta_unreadable": ["metadata"],
    "v2_meta_indices": ["indices", "disagrees"],
    "v2_not_words": ["32-bit words"],
    "v2_version99": ["format version 99"],
}


@pytest.mark.parametrize("case", list(DECOMPRESS_CASES))
def test_decompress_refuses(world, case, capsys):
    argv, words = DECOMPRESS_CASES[case]
    argv = [a.replace("{G}", str(world / "good.lrlb")).replace("{R}", str(run_dir(world)))
             .replace("{W}", str(world)) for a in argv]
    check_one_line_error(decompress.main, argv + ["--no-progress"], capsys, world, *words)
    assert not (world / "new.npz").exists()


@pytest.mark.parametrize("case", list(FORGED_CASES))
def test_decompress_refuses_forged_headers(world, case, capsys):
    argv = [world / "forged" / f"{case}.lrlb", run_dir(world), "--out", world / "keep.npz", "--no-progress"]
    check_one_line_error(decompress.main, argv, capsys, world, *FORGED_CASES[case])


def test_out_given_as_dot_relative_path_is_the_input(world, capsys, monkeypatch):
    monkeypatch.chdir(world)
    check_one_line_error(decompress.main, ["./good.lrlb", str(run_dir(world)), "--out", "good.lrlb"],
                         capsys, world, "is the input")
    check_one_line_error(compress.main, [str(run_dir(world)), "--images", "3", "--out", "./runs/e8/best.pt"],
                         capsys, world, "run folder")


def test_api_refuses_a_forged_latent_before_decoding(world):
    """The same rule through the Python API (``model.decompress``), not only the command line."""
    from vae.codec.cli import load_model

    model, _ = load_model(run_dir(world))
    with pytest.raises(CodecError, match="latent 'leech'.*e8/paper"):
        model.decompress((world / "forged" / "latent.lrlb").read_bytes())
    with pytest.raises(CodecError, match="chunk 0"):
        model.decompress((world / "forged" / "chunk0.lrlb").read_bytes())
    with pytest.raises(MemoryError, match="n_images 1000000000000"):
        model.decompress((world / "forged" / "n_huge_consistent.lrlb").read_bytes())


def test_decompress_time_rule(world, capsys, monkeypatch):
    """A decoding estimated over --max-seconds stops after its first chunk, with one line."""
    from vae.codec import api
    from vae.codec.cli import load_model

    data = api.compress(load_model(run_dir(world))[0], _images(40), seed=0, chunk=4)
    f = world / "slow.lrlb"
    f.write_bytes(data)
    try:
        monkeypatch.setattr("time.perf_counter", _clock())
        check_one_line_error(decompress.main, [f, run_dir(world), "--out", world / "new.npz", "--no-progress",
                                               "--max-seconds", "1"], capsys, world,
                             "decoding the file's 40 images", "--max-seconds 1")
    finally:
        f.unlink()


def _images(n):
    import torch

    return (torch.rand(n, 784, generator=torch.Generator().manual_seed(0)) < 0.3).float()


def _clock():
    """A clock whose every reading is 10 s after the last: the first chunk seems slow."""
    t = [0.0]

    def now():
        t[0] += 10.0
        return t[0]

    return now


# ------------------------------------------------------------ what is accepted, and named
def test_indices_take_python_slices(world, tmp_path, capsys):
    f, npz = tmp_path / "s.lrlb", tmp_path / "s.npz"
    assert compress.main([str(run_dir(world)), "--indices", "0:10000:500", "-1", "-3:", "::-2500",
                          "--out", str(f), "--no-progress", "--metadata"]) == 0
    assert decompress.main([str(f), str(run_dir(world)), "--out", str(npz), "--no-progress"]) == 0
    with np.load(npz) as z:
        assert z["indices"].tolist() == (list(range(0, 10000, 500)) + [9999, 9997, 9998, 9999]
                                          + [9999, 7499, 4999, 2499])
    capsys.readouterr()
    assert compress.main([str(run_dir(world)), "--indices", "0:10000:10", "--out", str(f), "--no-progress",
                          "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 1000


def test_summary_lines_name_the_latent_and_its_prior(world, tmp_path, capsys):
    f = tmp_path / "a.lrlb"
    assert compress.main([str(run_dir(world, "a2")), "--images", "4", "--out", str(f), "--no-progress"]) == 0
    assert "a2/dgauss latent" in capsys.readouterr().out
    assert decompress.main([str(f), str(run_dir(world, "a2")), "--out", str(tmp_path / "a.npz"),
                            "--no-progress"]) == 0
    assert "a2/dgauss latent" in capsys.readouterr().out
    assert compress.main([str(run_dir(world)), "--images", "4", "--out", str(f), "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["latent_prior"] == "e8/paper"


# ------------------------------------------------------------------ validation.bitstream
VALIDATION_CASES = {
    "run-is-a-file": (["{R}/best.pt"], ["is a file"]),
    "run-missing": (["{W}/no-run"], ["does not exist"]),
    "control-run-is-a-file": (["{R}", "--control-run", "{R}/config.json"], ["--control-run", "is a file"]),
    "images-0": (["{R}", "--images", "0"], ["--images"]),
    "images-more-than-split": (["{R}", "--images", "20000"], ["more than the 10000 images"]),
    "seed-negative": (["{R}", "--images", "5", "--seed", "-1"], ["--seed"]),
    "chunk-0": (["{R}", "--images", "5", "--chunk", "0"], ["--chunk"]),
}


@pytest.mark.parametrize("case", list(VALIDATION_CASES))
def test_validation_refuses(world, case, capsys):
    argv, words = VALIDATION_CASES[case]
    argv = [a.replace("{R}", str(run_dir(world))).replace("{W}", str(world)) for a in argv]
    check_one_line_error(bitstream.main, argv, capsys, world, *words)


def test_validation_control_without_power_is_not_a_refutation(world, capsys, monkeypatch):
    """The claim holds but the mismatched-prior control cannot tell (here: forced, the "mismatched"
    prior is the model's own): exit 0, the verdict says which control had no power, with numbers."""
    monkeypatch.setattr(bitstream, "mismatched_model", lambda model, seed=0: copy.deepcopy(model))
    code = bitstream.main([str(run_dir(world)), "--images", "1000", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["confirmed"]
    assert all(c["passed"] for c in report["checks"])
    assert report["negative_controls"][-1]["passed"]                     # not refuted
    assert "had no power" in report["verdict"] and "untrained e8/paper" in report["verdict"]
    assert "allowance" in report["controls_without_power"][0]
    code = bitstream.main([str(run_dir(world)), "--images", "1000"])
    out = capsys.readouterr().out
    assert code == 0
    verdict = [line for line in out.splitlines() if line.startswith("verdict:")]
    assert len(verdict) == 1 and verdict[0].startswith("verdict: CONFIRMED; control") and "no power" in verdict[0]


def test_validation_broken_claim_exits_1(world, capsys, monkeypatch):
    """A check of the claim fails (here: an impossible file-length allowance): exit 1, REFUTED."""
    monkeypatch.setattr(bitstream, "OVERHEAD_BITS", -10 ** 9)
    code = bitstream.main([str(run_dir(world)), "--images", "1000", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and not report["confirmed"]
    assert report["verdict"].startswith("REFUTED") and "file" in report["verdict"]


def test_validation_confirmed_names_the_prior(world, capsys):
    code = bitstream.main([str(run_dir(world)), "--images", "1000", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["latent_prior"] == "e8/paper"
    assert report["verdict"].startswith("CONFIRMED")
