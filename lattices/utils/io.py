"""Small I/O helpers shared by the command lines, the data cache and the training runs."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class _RecordingWriter:
    """A binary file that remembers the ``OSError`` of a failed ``write`` (``torch.save`` turns it
    into a ``RuntimeError`` without the cause: a full disk must still read as one)."""

    def __init__(self, fh):
        self._fh = fh
        self.error = None

    def write(self, data):
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def __getattr__(self, name):
        return getattr(self._fh, name)


def atomic_write(path, write) -> None:
    """Call ``write(fileobj)`` (binary) on a temporary file beside ``path``, then rename it into place.

    An interrupted write leaves the old file intact (``os.replace`` is atomic on POSIX and
    Windows); the data are flushed to disk before the rename.  A write that fails for lack of
    room or another I/O error raises ``OSError`` naming ``path`` (whatever the writer made of
    it) and leaves no temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    recorder = None
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "wb") as fh:
            recorder = _RecordingWriter(fh)
            try:
                write(recorder)
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise OSError(exc.errno, f"writing failed ({exc.strerror or exc}); the previous "
                                         f"file, if any, is kept", str(path)) from None
            except Exception:
                if recorder.error is None:
                    raise
                exc = recorder.error
                raise OSError(exc.errno, f"writing failed ({exc.strerror or exc}); the previous "
                                         f"file, if any, is kept", str(path)) from None
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
