r"""The bitstream file: a 32-byte binary frame around the ANS payload (format 2), and the reader of format 1.

Format 2 (little-endian; docs/bitstream.md, "The file, byte by byte")::

    b"LRLB"  u16 version = 2  model hash (8 bytes)  varint seed  varint n_images
    varint P  params block (P bytes)  payload (u32 words)  CRC-32 (u32) of everything before

The params block holds ``chunk``, the coder's parameters (``coder_params``: small integers,
each named by one byte when its name is in :data:`PARAM_NAMES`, else by its spelling) and,
only when asked for, the metadata (compact JSON: run name, split, indices).  Everything else
the decoder needs (latent, hidden size, input size, symbols per image) comes from the model,
and the model hash (the first 8 bytes of :func:`vae.codec.api.model_sha256`) refuses a model
that did not write the file.  The symbols' own check is the 32-bit word at the bottom of the
ANS stack (:mod:`vae.codec.api`), so it costs no header byte.

The magic, the version and the CRC-32 plus the two varints of the seed (at most 9 bytes, seeds
in [0, 2^63)) and of the image count (at most 5 bytes, counts in [1, 2^32)) make at most
4 + 2 + 8 + 9 + 5 + 4 = 32 bytes (:data:`MAX_FRAME`); a file of 1000 images with seed 0 has 21.

Format 1 (``b"LRLB"``, u16 version 1, u32 header length, JSON header, payload, 16 bytes of
SHA-256) is still read (:func:`unpack`) and can be written (:func:`pack_v1`, for the tests).
"""
from __future__ import annotations

import hashlib
import json
import struct
import zlib

import numpy as np

from .latent_coders import CodecError

__all__ = ["MAGIC", "FORMAT_VERSION", "READABLE_VERSIONS", "REQUIRED", "MAX_CHUNK", "MAX_IMAGES", "MAX_FRAME",
           "MODEL_HASH_BYTES", "PARAM_NAMES", "pack", "pack_v1", "unpack", "sha256_hex", "check_fields",
           "write_varint", "read_varint"]

MAGIC = b"LRLB"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
_PREFIX = struct.Struct("<4sH")                        # magic, version: the same 6 bytes in every format
_PREFIX_V1 = struct.Struct("<4sHI")
_CHECK_V1 = 16
MODEL_HASH_BYTES = 8
_CRC = 4
#: The largest ``chunk`` a file records (a 31-bit count; ``vae.compress --chunk`` has the same bound).
MAX_CHUNK = 2 ** 31 - 1
#: Image counts a format-2 file records: [1, MAX_IMAGES] (a varint of at most 5 bytes).
MAX_IMAGES = 2 ** 32 - 1
_MAX_SEED = 2 ** 63 - 1
#: The most bytes of a format-2 file that are not params block or payload (magic, version, model
#: hash, seed, image count, CRC-32).
MAX_FRAME = _PREFIX.size + MODEL_HASH_BYTES + 9 + 5 + _CRC
#: Coder-parameter names written as one byte (their index); any other name is spelled out.
PARAM_NAMES = ("window", "escape_window", "spread")
_MAX_PARAM = 4096
#: Format-1 header keys.
REQUIRED = ("latent", "hidden", "input_dim", "n_images", "chunk", "seed", "model_sha256",
            "payload_words", "payload_sha256", "symbols_sha256")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------- varints
def write_varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits a byte, low bits first, the top bit set on every byte but the last.

    >>> write_varint(0), write_varint(500), len(write_varint(2 ** 63 - 1))
    (b'\\x00', b'\\xf4\\x03', 9)
    """
    if value < 0:
        raise ValueError(f"a varint is non-negative, got {value}")
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(data: bytes, pos: int, field: str, max_bytes: int) -> tuple[int, int]:
    """``(value, next position)`` of the varint at ``pos``; :class:`CodecError` naming ``field``
    when it runs past the data, is longer than ``max_bytes`` or is not the shortest encoding."""
    value = shift = 0
    for i in range(max_bytes):
        if pos + i >= len(data):
            raise CodecError(f"the header's {field} runs past the end of the file: truncated")
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise CodecError(f"the header's {field} is not a shortest varint (a forged or corrupted file)")
            return value, pos + i + 1
    raise CodecError(f"the header's {field} is longer than {max_bytes} bytes (a forged or corrupted file)")


# ------------------------------------------------------------------------------- format 2
def _params_block(chunk: int, params: dict, meta: dict | None) -> bytes:
    block = bytearray(write_varint(chunk) + write_varint(len(params)))
    for name in sorted(params):
        if name in PARAM_NAMES:
            block += write_varint(PARAM_NAMES.index(name))
        else:
            spelled = name.encode("ascii")
            block += write_varint(len(PARAM_NAMES) + len(spelled)) + spelled
        block += write_varint(int(params[name]))
    if meta:
        block += json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return bytes(block)


def pack(*, model_hash: bytes, seed: int, n_images: int, chunk: int, coder_params: dict, payload: np.ndarray,
         meta: dict | None = None) -> bytes:
    """The format-2 bytes of a payload (u32 words) and what the decoder needs besides the model.

    ``model_hash``: the first :data:`MODEL_HASH_BYTES` bytes of the model's SHA-256; ``meta``
    (optional, JSON-serializable) is stored only when given and non-empty.
    """
    if len(model_hash) != MODEL_HASH_BYTES:
        raise ValueError(f"model_hash must be {MODEL_HASH_BYTES} bytes, got {len(model_hash)}")
    header = {"n_images": n_images, "chunk": chunk, "seed": seed, "coder_params": dict(coder_params),
              "meta": meta or {}}
    check_fields(header, version=FORMAT_VERSION)
    block = _params_block(chunk, coder_params, meta)
    words = np.ascontiguousarray(payload, dtype="<u4").tobytes()
    body = (_PREFIX.pack(MAGIC, FORMAT_VERSION) + bytes(model_hash) + write_varint(seed) + write_varint(n_images)
            + write_varint(len(block)) + block + words)
    return body + struct.pack("<I", zlib.crc32(body))


def _unpack_v2(data: bytes) -> tuple[dict, np.ndarray]:
    if len(data) < _PREFIX.size + MODEL_HASH_BYTES + 3 + _CRC:
        raise CodecError(f"the file is truncated: {len(data)} bytes, not even a header")
    body, (check,) = data[:-_CRC], struct.unpack("<I", data[-_CRC:])
    if zlib.crc32(body) != check:
        raise CodecError("checksum mismatch (CRC-32): the file is truncated or corrupted")
    pos = _PREFIX.size
    model_hash = body[pos:pos + MODEL_HASH_BYTES]
    pos += MODEL_HASH_BYTES
    seed, pos = read_varint(body, pos, "seed", 9)
    n, pos = read_varint(body, pos, "n_images", 5)
    size, pos = read_varint(body, pos, "params block length", 5)
    end = pos + size
    if end > len(body):
        raise CodecError(f"the header's params block ({size} bytes) runs past the end of the file (a forged "
                         f"or corrupted file)")
    block = body[:end]                                 # positions stay file offsets; reads stop at end
    chunk, pos = read_varint(block, pos, "chunk", 5)
    count, pos = read_varint(block, pos, "coder_params count", 2)
    params = {}
    for _ in range(count):
        token, pos = read_varint(block, pos, "coder_params name", 2)
        if token < len(PARAM_NAMES):
            name = PARAM_NAMES[token]
        else:
            length = token - len(PARAM_NAMES)
            if pos + length > end:
                raise CodecError("the header's coder_params name runs past the params block (a forged or "
                                 "corrupted file)")
            name, pos = block[pos:pos + length].decode("ascii", "replace"), pos + length
        params[name], pos = read_varint(block, pos, f"coder_params {name!r}", 2)
    meta = {}
    if pos < end:
        try:
            meta = json.loads(block[pos:end].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CodecError(f"unreadable metadata ({exc}; a forged or corrupted file)") from None
    words = body[end:]
    if len(words) % 4:
        raise CodecError(f"the payload is {len(words)} bytes, not whole 32-bit words (a forged or corrupted file)")
    header = {"version": FORMAT_VERSION, "model_hash": model_hash.hex(), "seed": seed, "n_images": n,
              "chunk": chunk, "coder_params": params, "meta": meta,
              "header_bytes": len(data) - len(words)}
    check_fields(header, version=FORMAT_VERSION)
    return header, np.frombuffer(words, dtype="<u4").astype(np.uint32)


# ------------------------------------------------------------------------------- format 1
def pack_v1(header: dict, payload: np.ndarray) -> bytes:
    """The format-1 bytes of ``header`` (JSON-serializable, :data:`REQUIRED` keys) and the u32 ``payload``
    (the writer of format 1, kept for the compatibility tests)."""
    words = np.ascontiguousarray(payload, dtype="<u4").tobytes()
    header = {**header, "payload_words": len(words) // 4, "payload_sha256": sha256_hex(words)}
    missing = [k for k in REQUIRED if k not in header]
    if missing:
        raise ValueError(f"header lacks {', '.join(missing)}")
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    body = _PREFIX_V1.pack(MAGIC, 1, len(text)) + text + words
    return body + hashlib.sha256(body).digest()[:_CHECK_V1]


def _unpack_v1(data: bytes) -> tuple[dict, np.ndarray]:
    if len(data) < _PREFIX_V1.size + _CHECK_V1:
        raise CodecError(f"the file is truncated: {len(data)} bytes, not even a header")
    _, _, n_header = _PREFIX_V1.unpack_from(data)
    body, check = data[:-_CHECK_V1], data[-_CHECK_V1:]
    if hashlib.sha256(body).digest()[:_CHECK_V1] != check:
        raise CodecError("checksum mismatch: the file is truncated or corrupted")
    end = _PREFIX_V1.size + n_header
    if end > len(body):
        raise CodecError("the header runs past the end of the file: truncated")
    try:
        header = json.loads(body[_PREFIX_V1.size:end].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodecError(f"unreadable header ({exc})") from None
    missing = [k for k in REQUIRED if k not in header] if isinstance(header, dict) else list(REQUIRED)
    if missing:
        raise CodecError(f"the header lacks {', '.join(missing)}")
    check_fields(header, version=1)
    words = body[end:]
    if len(words) != 4 * header["payload_words"] or sha256_hex(words) != header["payload_sha256"]:
        raise CodecError("payload length or checksum disagrees with the header: corrupted")
    header = {**header, "version": 1, "header_bytes": len(data) - len(words)}
    return header, np.frombuffer(words, dtype="<u4").astype(np.uint32)


# ---------------------------------------------------------------------------------- reader
def unpack(data: bytes) -> tuple[dict, np.ndarray]:
    """``(header, payload)`` of a file of format 1 or 2; :class:`CodecError` naming what is wrong otherwise.

    The header of a format-2 file: ``version``, ``model_hash`` (16 hex digits), ``seed``,
    ``n_images``, ``chunk``, ``coder_params``, ``meta`` (empty unless written with metadata) and
    ``header_bytes`` (the file's bytes beyond the payload); a format-1 file's adds the JSON keys
    (:data:`REQUIRED`).  Checked before anything is allocated (:func:`check_fields`).
    """
    data = bytes(data)
    if len(data) == 0:
        raise CodecError("the file is empty")
    if data[:4] == MAGIC and len(data) < _PREFIX.size:
        raise CodecError(f"the file is truncated: {len(data)} bytes, not even a header")
    if len(data) < _PREFIX.size or data[:4] != MAGIC:
        raise CodecError(f"not a bitstream of this toolkit (expected magic {MAGIC!r}, "
                         f"got {data[:4]!r} in {len(data)} bytes)")
    _, version = _PREFIX.unpack_from(data)
    if version == 1:
        return _unpack_v1(data)
    if version == 2:
        return _unpack_v2(data)
    raise CodecError(f"format version {version} is not readable here (this reader reads versions "
                     f"{', '.join(map(str, READABLE_VERSIONS))})")


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_fields(header: dict, version: int = 1) -> dict:
    """The header's fields have their types and ranges (before anything is allocated or decoded).

    Checked here, without the model: ``n_images`` >= 1 (format 2: at most :data:`MAX_IMAGES`),
    ``chunk`` in [1, :data:`MAX_CHUNK`], ``seed`` in [0, 2^63), ``coder_params`` whole numbers
    in [0, 4096], ``meta`` an object; format 1 also ``hidden`` and ``input_dim`` >= 1,
    ``payload_words`` >= 0 (whole numbers, not ``true``/``2.5``/``"20"``), the latent and the
    hashes strings, ``symbol_shape`` (when present) ``[n_images, S >= 1]``.  The model's own
    agreement (model hash or latent and sizes, symbols per image, memory) is
    :func:`vae.codec.api.check_header`'s.  :class:`CodecError` naming the field otherwise.
    """
    def bad(field, why):
        raise CodecError(f"the header's {field} {header.get(field)!r} is invalid: {why} (a forged or "
                         f"corrupted file)")

    fields = [("n_images", 1), ("chunk", 1), ("seed", 0)]
    if version == 1:
        fields += [("hidden", 1), ("input_dim", 1), ("payload_words", 0)]
    for field, low in fields:
        if not _whole(header[field]) or header[field] < low:
            bad(field, f"expected a whole number >= {low}")
    if header["chunk"] > MAX_CHUNK:
        bad("chunk", f"at most {MAX_CHUNK}")
    if header["seed"] > _MAX_SEED:
        bad("seed", "expected a whole number below 2^63")
    if version != 1 and header["n_images"] > MAX_IMAGES:
        bad("n_images", f"at most {MAX_IMAGES} in format {version}")
    if version == 1:
        for field in ("latent", "model_sha256", "payload_sha256", "symbols_sha256"):
            if not isinstance(header[field], str) or not header[field]:
                bad(field, "expected a non-empty string")
        if "symbol_shape" in header:
            shape = header["symbol_shape"]
            if not (isinstance(shape, list) and len(shape) == 2 and all(_whole(v) for v in shape) and shape[1] >= 1):
                bad("symbol_shape", "expected [images, symbols per image] (whole numbers)")
            if shape[0] != header["n_images"]:
                bad("symbol_shape", f"{shape[0]} images, but n_images is {header['n_images']}")
    params = header.get("coder_params", {})
    if not isinstance(params, dict) or not all(_whole(v) and 0 <= v <= _MAX_PARAM for v in params.values()):
        bad("coder_params", f"expected whole numbers in [0, {_MAX_PARAM}]")
    if not isinstance(header.get("meta", {}), dict):
        bad("meta", "expected an object")
    return header
