r"""The bitstream file: magic, format version, JSON header, ANS payload, checksum.

Layout (little-endian)::

    b"LRLB"  u16 format version  u32 header length  header (UTF-8 JSON)  payload (u32 words)  16-byte checksum

The checksum is the first 16 bytes of the SHA-256 of everything before it, so a flipped or
missing byte anywhere is detected before any decoding.  The header carries what the
decoder must agree on (:data:`REQUIRED`): the latent, the shapes, the SHA-256 of the
model's weights and config, the dither seed, the payload's length and SHA-256, and the
SHA-256 of the symbols (checked after decoding: a decoder with another seed or model
fails loudly instead of returning garbage).
"""
from __future__ import annotations

import hashlib
import json
import struct

import numpy as np

from .latent_coders import CodecError

__all__ = ["MAGIC", "FORMAT_VERSION", "REQUIRED", "MAX_CHUNK", "pack", "unpack", "sha256_hex", "check_fields"]

MAGIC = b"LRLB"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<4sHI")
_CHECK = 16
REQUIRED = ("latent", "hidden", "input_dim", "n_images", "chunk", "seed", "model_sha256",
            "payload_words", "payload_sha256", "symbols_sha256")
#: The largest ``chunk`` a file records (a 31-bit count; ``vae.compress --chunk`` has the same bound).
MAX_CHUNK = 2 ** 31 - 1


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack(header: dict, payload: np.ndarray) -> bytes:
    """The file bytes of ``header`` (JSON-serializable, :data:`REQUIRED` keys) and the u32 ``payload``."""
    words = np.ascontiguousarray(payload, dtype="<u4").tobytes()
    header = {**header, "payload_words": len(words) // 4, "payload_sha256": sha256_hex(words)}
    missing = [k for k in REQUIRED if k not in header]
    if missing:
        raise ValueError(f"header lacks {', '.join(missing)}")
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(text)) + text + words
    return body + hashlib.sha256(body).digest()[:_CHECK]


def unpack(data: bytes) -> tuple[dict, np.ndarray]:
    """``(header, payload)`` of a file; :class:`CodecError` naming what is wrong otherwise."""
    data = bytes(data)
    if len(data) == 0:
        raise CodecError("the file is empty")
    if data[:4] == MAGIC and len(data) < _PREFIX.size + _CHECK:
        raise CodecError(f"the file is truncated: {len(data)} bytes, not even a header")
    if len(data) < _PREFIX.size + _CHECK or data[:4] != MAGIC:
        raise CodecError(f"not a bitstream of this toolkit (expected magic {MAGIC!r}, "
                         f"got {data[:4]!r} in {len(data)} bytes)")
    _, version, n_header = _PREFIX.unpack_from(data)
    if version != FORMAT_VERSION:
        raise CodecError(f"format version {version} is not readable here (this reader reads version "
                         f"{FORMAT_VERSION})")
    body, check = data[:-_CHECK], data[-_CHECK:]
    if hashlib.sha256(body).digest()[:_CHECK] != check:
        raise CodecError("checksum mismatch: the file is truncated or corrupted")
    end = _PREFIX.size + n_header
    if end > len(body):
        raise CodecError("the header runs past the end of the file: truncated")
    try:
        header = json.loads(body[_PREFIX.size:end].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodecError(f"unreadable header ({exc})") from None
    missing = [k for k in REQUIRED if k not in header] if isinstance(header, dict) else list(REQUIRED)
    if missing:
        raise CodecError(f"the header lacks {', '.join(missing)}")
    check_fields(header)
    words = body[end:]
    if len(words) != 4 * header["payload_words"] or sha256_hex(words) != header["payload_sha256"]:
        raise CodecError("payload length or checksum disagrees with the header: corrupted")
    return header, np.frombuffer(words, dtype="<u4").astype(np.uint32)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_fields(header: dict) -> dict:
    """The header's fields have their types and ranges (before anything is allocated or decoded).

    Checked here, without the model: ``n_images`` >= 1, ``chunk`` in [1, :data:`MAX_CHUNK`],
    ``seed`` in [0, 2^63), ``hidden`` and ``input_dim`` >= 1, ``payload_words`` >= 0 (whole
    numbers, not ``true``/``2.5``/``"20"``), the latent and the hashes strings, ``symbol_shape``
    (when present) ``[n_images, S >= 1]``, ``coder_params`` whole numbers in [0, 4096], ``meta``
    an object.  The model's own agreement (latent, sizes, symbols per image, memory) is
    :func:`vae.codec.api.check_header`'s.  :class:`CodecError` naming the field otherwise.
    """
    def bad(field, why):
        raise CodecError(f"the header's {field} {header.get(field)!r} is invalid: {why} (a forged or "
                         f"corrupted file)")

    for field, low in (("n_images", 1), ("chunk", 1), ("hidden", 1), ("input_dim", 1), ("seed", 0),
                       ("payload_words", 0)):
        if not _whole(header[field]) or header[field] < low:
            bad(field, f"expected a whole number >= {low}")
    if header["chunk"] > MAX_CHUNK:
        bad("chunk", f"at most {MAX_CHUNK}")
    if header["seed"] >= 2 ** 63:
        bad("seed", "expected a whole number below 2^63")
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
    if not isinstance(params, dict) or not all(_whole(v) and 0 <= v <= 4096 for v in params.values()):
        bad("coder_params", "expected whole numbers in [0, 4096]")
    if not isinstance(header.get("meta", {}), dict):
        bad("meta", "expected an object")
    return header
