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

__all__ = ["MAGIC", "FORMAT_VERSION", "REQUIRED", "pack", "unpack", "sha256_hex"]

MAGIC = b"LRLB"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<4sHI")
_CHECK = 16
REQUIRED = ("latent", "hidden", "input_dim", "n_images", "chunk", "seed", "model_sha256",
            "payload_words", "payload_sha256", "symbols_sha256")


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
    words = body[end:]
    if len(words) != 4 * header["payload_words"] or sha256_hex(words) != header["payload_sha256"]:
        raise CodecError("payload length or checksum disagrees with the header: corrupted")
    return header, np.frombuffer(words, dtype="<u4").astype(np.uint32)
