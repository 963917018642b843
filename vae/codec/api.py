r"""Compress images to a bitstream with a trained VAE and decompress them (Sec. 1, Sec. 3.6.3).

:func:`compress` runs the encoder, quantizes with the shared dither (regenerated from the
``seed`` in the header, never sent), codes the symbols chunk by chunk under the latent's
own prior (:mod:`vae.codec.latent_coders`) and packs the file (:mod:`vae.codec.container`).
:func:`decompress` checks the file and the model, decodes the symbols, checks them and runs
the decoder.  :func:`measure` returns the per-image lengths (the model's code length and the
coded bits) with the payload size, for reports.

The ANS stack is seeded with a 32-bit sentinel (pushed first, popped last and checked): it
gives the first bits-back operation something to take, and it is the symbols' check.  In
format 2 it is the first 4 bytes of the SHA-256 of the symbols (:func:`symbols_check`), so a
decoder whose symbols differ (another seed, another model that slipped through, pmfs that
differ on another machine) fails loudly unless 32 bits agree by chance (2^-32); in format 1 it
was the constant ``b"LRLB"`` and the symbols' SHA-256 was in the header.
"""
from __future__ import annotations

import hashlib
import json

import constriction
import numpy as np
import torch

from .container import FORMAT_VERSION, MAX_CHUNK, MODEL_HASH_BYTES, pack, pack_v1, sha256_hex, unpack
from .dispatch import coder_for
from .latent_coders import CodecError
from vae.entropy_coding import pop_uniform, push_uniform, single_thread

__all__ = ["compress", "compress_with_stats", "decode_payload", "decompress", "measure", "model_sha256",
           "symbols_sha256", "symbols_check", "model_hash", "check_header", "latent_label", "symbols_per_image",
           "DEFAULT_CHUNK"]

DEFAULT_CHUNK = 500
_SENTINEL_V1 = [0x4C, 0x52, 0x4C, 0x42]                 # b"LRLB": the constant sentinel of format 1


def model_sha256(model) -> str:
    """SHA-256 of the model's config and every tensor of its ``state_dict`` (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bool else t.to(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def model_hash(model) -> bytes:
    """The model hash of a format-2 file: the first 8 bytes of :func:`model_sha256`.

    64 bits: two different models share it with probability 2^-64 (for 10^4 runs, some pair
    with ~3e-12); it tells models apart, it does not authenticate (the file is not signed).
    """
    return bytes.fromhex(model_sha256(model))[:MODEL_HASH_BYTES]


def symbols_sha256(symbols: np.ndarray) -> str:
    return sha256_hex(np.ascontiguousarray(symbols, dtype="<i8").tobytes())


def symbols_check(symbols: np.ndarray) -> list[int]:
    """The format-2 sentinel: the first 4 bytes of the SHA-256 of the symbols (int64, little-endian)."""
    return list(hashlib.sha256(np.ascontiguousarray(symbols, dtype="<i8").tobytes()).digest()[:4])


def _sentinel(version: int, symbols) -> list[int]:
    return _SENTINEL_V1 if version == 1 else symbols_check(symbols)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 63:
        raise ValueError(f"seed must be an integer in [0, 2^63), got {seed!r}")
    return int(seed)


def _check_images(model, x):
    x = torch.as_tensor(x)
    if x.dim() != 2 or x.shape[1] != model.config.input_dim or x.shape[0] < 1:
        raise ValueError(f"x must have shape (n >= 1, {model.config.input_dim}), got {tuple(x.shape)}")
    return x


#: Images per call of the networks (encoder, decoder): ~50 MB of float32 MNIST inputs.  Each call
#: of a threaded torch op pays the thread pool's synchronization, which on a loaded machine is a
#: scheduler slice (~10-30 ms): calls of 1000 images cost ~10x the networks' own arithmetic.
NET_BATCH = 1 << 14


@torch.no_grad()
def _encoder_outputs(model, x, batch=NET_BATCH):
    """Encoder outputs on the CPU (the encoder runs on the model's device, in eval mode)."""
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model.encoder(x[i:i + batch].to(dev, torch.float32)).cpu()
                          for i in range(0, len(x), batch)])
    finally:
        model.train(was_training)


def _bar(total, desc, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", leave=False, dynamic_ncols=True)


def chunk_slices(n: int, chunk: int) -> list[slice]:
    """The coding chunks of ``n`` images in file order: full chunks, then chunks halving in size.

    The encoder pushes the last chunk first, when the stack holds only the sentinel; its
    bits-back operations can take back only bits that are already there.  Ending with chunks
    of ..., 4, 2, 1 images makes every chunk find a stack several times larger than what it
    takes back, so no bits-back saving is lost (a single chunk of 500 images lost ~600 bits).

    >>> [(s.start, s.stop) for s in chunk_slices(10, 4)]
    [(0, 3), (3, 7), (7, 9), (9, 10)]
    """
    sizes, left, size = [], n, 1
    while left > 0:
        take = min(size, left)
        sizes.append(take)
        left -= take
        size = min(2 * size, chunk)
    stops = np.cumsum([0] + sizes[::-1])
    return [slice(int(a), int(b)) for a, b in zip(stops[:-1], stops[1:])]


def _encode(coder, symbols, dither, chunk, bar=None, version=FORMAT_VERSION):
    """The ANS payload (u32 words) and coded bits per image, chunks pushed last-first."""
    ans = constriction.stream.stack.AnsCoder()
    push_uniform(ans, _sentinel(version, symbols), [256] * 4)
    n = len(symbols)
    bits = np.zeros(n)
    with single_thread():                  # once: toggling torch's pool per chunk costs more than the chunk
        for rows in reversed(chunk_slices(n, chunk)):
            bits[rows] = coder.push(ans, symbols[rows], coder.take(dither, rows))
            if bar is not None:
                bar.update(rows.stop - rows.start)
    return ans.get_compressed(), bits


def compress(model, x, seed: int = 0, *, chunk: int = DEFAULT_CHUNK, meta: dict | None = None,
             progress: bool = False, format_version: int = FORMAT_VERSION) -> bytes:
    """The bitstream (bytes) of images ``x`` (n, input_dim) under ``model``, dithers from ``seed``.

    ``meta``: JSON-serializable facts stored in the file only when given (e.g. the split and
    indices; ``vae.compress --metadata``).  ``format_version=1`` writes the old format (for the
    compatibility tests).  ``TypeError`` for a continuous latent (``gaussian``).
    """
    return _compress(model, x, seed, chunk, meta, progress, False, format_version)[0]


def compress_with_stats(model, x, seed: int = 0, *, chunk: int = DEFAULT_CHUNK, meta: dict | None = None,
                        progress: bool = False, format_version: int = FORMAT_VERSION) -> tuple[bytes, dict]:
    """:func:`compress` and the per-image ``ideal_bits`` (the model's code length) and ``coded_bits``."""
    return _compress(model, x, seed, chunk, meta, progress, True, format_version)


def _compress(model, x, seed, chunk, meta, progress, with_stats, version):
    """The file bytes and, ``with_stats``, the per-image lengths (one more pass of the prior)."""
    seed = _check_seed(seed)
    x = _check_images(model, x)
    coder = coder_for(model.latent)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= MAX_CHUNK:
        raise ValueError(f"chunk must be a whole number in [1, {MAX_CHUNK}], got {chunk!r}")
    if version not in (1, FORMAT_VERSION):
        raise ValueError(f"format_version must be 1 or {FORMAT_VERSION}, got {version!r}")
    bar = _bar(len(x), "compress", progress)      # shown as the work starts (the dither and the
    try:                                          # symbols first run the lattice's compiled decoder)
        dither = coder.dither(len(x), seed)
        symbols = coder.symbols(_encoder_outputs(model, x), dither)
        params = coder.file_params(symbols)
        coder.set_params(params)
        payload, bits = _encode(coder, symbols, dither, chunk, bar, version)
    finally:
        if bar is not None:
            bar.close()
    stats = {"ideal_bits": coder.ideal_bits(symbols, dither), "coded_bits": bits,
             "payload_bits": 32 * len(payload)} if with_stats else None
    if version == 1:
        header = {"latent": model.config.latent, "hidden": model.config.hidden,
                  "input_dim": model.config.input_dim, "n_images": len(x), "chunk": chunk, "seed": seed,
                  "model_sha256": model_sha256(model), "symbols_sha256": symbols_sha256(symbols),
                  "symbol_shape": list(symbols.shape), "coder_params": params, "meta": meta or {}}
        return pack_v1(header, payload), stats
    return pack(model_hash=model_hash(model), seed=seed, n_images=len(x), chunk=chunk, coder_params=params,
                payload=payload, meta=meta), stats


def decode_payload(model, payload, n: int, seed: int, chunk: int, params: dict,
                   progress: bool = False, format_version: int = FORMAT_VERSION) -> np.ndarray:
    """The symbols of a payload, decoded with dithers from ``seed`` (no header checks; for controls).

    :class:`CodecError` when the sentinel at the bottom of the stack disagrees (another seed or model).
    """
    coder = coder_for(model.latent)
    return _decode_symbols(coder, payload, n, coder.dither(n, seed), chunk, params, progress,
                           version=format_version)


def _decode_symbols(coder, payload, n, dither, chunk, params, progress, max_seconds=None,
                    version=FORMAT_VERSION, bar=None):
    """The symbols of a payload; ``bar``: a progress bar already shown (else one when ``progress``)."""
    import time

    from lattices.cli import check_seconds

    coder.set_params(params)
    ans = constriction.stream.stack.AnsCoder(np.asarray(payload, dtype=np.uint32))
    parts = []
    own = bar is None
    if own:
        bar = _bar(n, "decompress", progress)
    t0 = time.perf_counter()
    try:
        with single_thread():
            for i, rows in enumerate(chunk_slices(n, chunk)):
                parts.append(coder.pop(ans, rows.stop - rows.start, coder.take(dither, rows)))
                if bar is not None:
                    bar.update(rows.stop - rows.start)
                if i == 0 and max_seconds is not None and rows.stop < n:     # the time rule, after one chunk
                    rate = rows.stop / max(time.perf_counter() - t0, 1e-9)
                    check_seconds((n - rows.stop) / rate, max_seconds, f"decoding the file's {n} images")
    finally:
        if own and bar is not None:
            bar.close()
    symbols = np.concatenate(parts)
    if pop_uniform(ans, [256] * 4).tolist() != _sentinel(version, symbols) or not ans.is_empty():
        raise CodecError("the decoded symbols fail their check (the stream's sentinel): decoded with another "
                         "model or seed, or with pmfs that differ from the encoder's")
    return symbols


def latent_label(model) -> str:
    """The latent and, where it has one, its prior family: ``"e8/dgauss"``, ``"e8/paper"``, ``"vq"``."""
    family = getattr(getattr(model.latent, "prior", None), "family", "") or ""
    return f"{model.config.latent}/{family}" if family else str(model.config.latent)


def _blank_symbols(model, coder) -> np.ndarray:
    """The symbols (1, S) of a blank image (one encoder pass): the model's symbol layout."""
    e = _encoder_outputs(model, torch.zeros(1, model.config.input_dim))
    return coder.symbols(e, coder.dither(1, 0))


def symbols_per_image(model, coder=None) -> int:
    """How many symbols the model codes per image (one encoder pass on a blank image)."""
    coder = coder_for(model.latent) if coder is None else coder
    return int(_blank_symbols(model, coder).shape[1])


def _check_memory(model, coder, n, s) -> None:
    from lattices.cli import check_memory

    cfg = model.config
    dither = coder.dither(1, 0)
    per_image = (16 * s + 8 * (0 if dither is None else dither[0].numel()) + 16 * cfg.hidden
                 + 8 * cfg.input_dim)                   # symbols (+ parts), dither, decoder input, reconstruction
    check_memory(n * per_image, f"decoding the header's n_images {n}")


def _check_header_v2(model, header, run, coder) -> None:
    """Format 2: the model hash, the coder's parameter names, the memory for ``n_images``."""
    cfg = model.config
    mine = model_hash(model).hex()
    if header["model_hash"] != mine:
        raise CodecError(f"the file was made by another model (model hash {header['model_hash']}); {run} "
                         f"({latent_label(model)}, hidden {cfg.hidden}, input_dim {cfg.input_dim}) has model "
                         f"hash {mine}: decode it with the run that wrote it")
    blank = _blank_symbols(model, coder)
    names = sorted(coder.file_params(blank))
    optional = set(getattr(coder, "optional_params", ()))       # absent in older files of the format
    if sorted(header["coder_params"]) not in (names, sorted(set(names) - optional)):
        raise CodecError(f"the header's coder_params {sorted(header['coder_params'])} are not those of "
                         f"{run}'s coder ({latent_label(model)}: {names}): a forged or foreign file")
    _check_memory(model, coder, header["n_images"], int(blank.shape[1]))


def check_header(model, header: dict, run: str = "this model") -> None:
    """Refuse (:class:`CodecError`, ``MemoryError``) a header that ``model`` must not decode,
    before anything is allocated or decoded.

    Format 2: another model hash ("made by another model", ``run`` naming the model), coder
    parameters other than the model's coder's, and an image count whose decoding needs more
    memory than this machine has (:func:`lattices.cli.check_memory`, naming the header's
    count).  Format 1: another latent, hidden size or input size than the model's (named both
    ways), another number of symbols per image (``symbol_shape``), the memory; the model's
    SHA-256 is compared afterwards by :func:`decompress`."""
    coder = coder_for(model.latent)
    if header.get("version", 1) != 1:
        return _check_header_v2(model, header, run, coder)
    cfg = model.config
    for field, mine in (("latent", cfg.latent), ("hidden", cfg.hidden), ("input_dim", cfg.input_dim)):
        if header[field] != mine:
            theirs = header[field]
            raise CodecError(f"the file's header names the {field} {theirs!r} "
                             f"({header['latent']}, hidden {header['hidden']}, input_dim {header['input_dim']}); "
                             f"{run} has {field} {mine!r} ({latent_label(model)}, hidden {cfg.hidden}, "
                             f"input_dim {cfg.input_dim}): refusing to decode it with another model")
    n = header["n_images"]
    s = symbols_per_image(model, coder)
    if "symbol_shape" in header and header["symbol_shape"][1] != s:
        raise CodecError(f"the file's header has {header['symbol_shape'][1]} symbols per image "
                         f"(symbol_shape {header['symbol_shape']}); {run} ({latent_label(model)}, hidden "
                         f"{cfg.hidden}) codes {s}: a forged or foreign file")
    _check_memory(model, coder, n, s)


@torch.no_grad()
def decompress(model, data: bytes, *, progress: bool = False, run: str = "this model",
               max_seconds: float | None = None) -> dict:
    """Decode a file of :func:`compress` with ``model``.

    Returns ``symbols`` (n, S) int64, ``decoder_input`` (n, m) float32, ``reconstruction``
    (n, input_dim) float32 Bernoulli means, and the ``header`` (:func:`vae.codec.container.unpack`).
    :class:`CodecError` (a ``ValueError``) for a corrupted or forged file or another model
    (:func:`check_header`; format 1 also the model's SHA-256), symbols that fail their check
    after decoding, ``MemoryError`` for an image count this machine cannot hold,
    ``TypeError`` for a continuous latent.  ``max_seconds``: refuse (after the first chunk) a
    decoding estimated to take longer (:func:`lattices.cli.check_seconds`).
    """
    header, payload = unpack(data)
    version = header["version"]
    coder = coder_for(model.latent)
    check_header(model, header, run)
    if version == 1 and header["model_sha256"] != model_sha256(model):
        raise CodecError(f"the file was written by another model (weights/config SHA-256 "
                         f"{header['model_sha256'][:12]}…, {run} {model_sha256(model)[:12]}…)")
    n, chunk, seed = int(header["n_images"]), int(header["chunk"]), int(header["seed"])
    params = header.get("coder_params", {})
    bar = _bar(n, "decompress", progress)           # shown as the work starts (the dither runs the
    try:                                            # lattice's compiled decoder)
        dither = coder.dither(n, seed)
        symbols = _decode_symbols(coder, payload, n, dither, chunk, params, progress, max_seconds, version,
                                  bar=bar)
    finally:
        if bar is not None:
            bar.close()
    if version == 1 and symbols_sha256(symbols) != header["symbols_sha256"]:
        raise CodecError("the decoded symbols disagree with the header's checksum (another model or seed)")
    z = coder.decoder_input(symbols, dither)
    dev = next(model.parameters()).device
    recon = None
    for i in range(0, n, NET_BATCH):                     # written in place: no concatenated copy
        part = torch.sigmoid_(model.decoder(z[i:i + NET_BATCH].to(dev))).cpu()
        if recon is None:
            recon = torch.empty((n, part.shape[1]), dtype=part.dtype)
        recon[i:i + len(part)] = part
    return {"symbols": symbols, "decoder_input": z, "reconstruction": recon.float(), "header": header}


def measure(model, x, seed: int = 0, *, chunk: int = DEFAULT_CHUNK, coding_model=None) -> dict:
    """Per-image lengths of coding ``x``: the model's code length and the coded bits, plus the payload size.

    ``coding_model``: code the symbols of ``model`` under another model's prior (a control;
    same latent and hidden size).  Returns ``ideal_bits`` and ``coded_bits`` (n,) float64,
    ``payload_bits`` (the ANS stream, 32-bit words), ``symbols`` and ``dither``.
    """
    seed = _check_seed(seed)
    x = _check_images(model, x)
    coder = coder_for(model.latent)
    dither = coder.dither(len(x), seed)
    symbols = coder.symbols(_encoder_outputs(model, x), dither)
    by = coder if coding_model is None else coder_for(coding_model.latent)
    by.set_params(coder.file_params(symbols))
    payload, bits = _encode(by, symbols, dither, chunk)
    return {"ideal_bits": by.ideal_bits(symbols, dither), "coded_bits": bits,
            "payload_bits": 32 * len(payload), "symbols": symbols, "payload": payload}
