"""Small I/O helpers shared by the command lines."""
from __future__ import annotations

import os
import tempfile


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: an interrupted run leaves the old file intact."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
