"""Where the tests find the shared data sets (``../shared/data``), and the marker that skips without them."""
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED.is_dir():
    SHARED = Path.cwd().parent / "shared" / "data"

needs_data = pytest.mark.skipif(not SHARED.is_dir(),
                                reason=f"shared data folder not found ({SHARED}); see the data README")
