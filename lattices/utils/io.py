"""Small I/O helpers shared by the command lines, the data cache and the training runs."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def atomic_write(path, write) -> None:
    """Call ``write(fileobj)`` (binary) on a temporary file beside ``path``, then rename it into place.

    An interrupted write leaves the old file intact (``os.replace`` is atomic on POSIX and
    Windows); the data are flushed to disk before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: an interrupted run leaves the old file intact."""
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def file_sha256(path) -> str:
    """The SHA-256 of a file's bytes (hex), read in 4 MiB blocks: a file's identity across machines
    (modification times change with every copy or clone)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
