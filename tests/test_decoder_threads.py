"""Decoding does not depend on the number of numba threads, bit for bit.

The parallel kernels (``decode_tiles``, the elementwise Z^n kernels,
``decode_coded_blocks`` of BW16 and Leech) cut the points into chunks and
decode every chunk with the same serial code, so the output must be the same
bytes whatever the thread count, and the same as decoding the points in small
slices (which takes the serial path, without the thread pool).

The thread counts are set with ``numba.set_num_threads`` in a child process
started with ``NUMBA_NUM_THREADS=3``, so that the test runs the same on a
machine with fewer cores (the pool may be larger than the core count).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["z8", "e8", "d4", "a2", "bw16", "leech"]
THREADS = [1, 2, 3]

CHILD = r"""
import hashlib, json, sys
import numba
import numpy as np
import lattices
from lattices import _kernels

names, threads = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {}
for name in names:
    lat = lattices.get(name)
    # several chunks of the parallel kernels, the last one partial
    n = 3 * _kernels.CHUNK + 123
    rng = np.random.default_rng(7)
    x64 = rng.normal(scale=4.0, size=(n, lat.dim))
    # exact ties too: half-integers and quarter-integers
    x64[: n // 4] = np.round(x64[: n // 4] * 4.0) / 4.0
    for dtype in ("float32", "float64"):
        x = x64.astype(dtype)
        digests = {}
        for t in threads:
            numba.set_num_threads(t)
            digests[str(t)] = hashlib.sha256(lat.nearest(x).tobytes()).hexdigest()
        numba.set_num_threads(1)
        serial = np.concatenate([lat.nearest(x[i:i + 1000]) for i in range(0, n, 1000)])
        digests["serial slices"] = hashlib.sha256(serial.tobytes()).hexdigest()
        # sanity: the output is made of lattice points (they decode to themselves)
        # and is not trivial
        y = lat.nearest(x[:500])
        digests["lattice points"] = bool(np.array_equal(lat.nearest(y), y) and np.any(y != 0))
        out[f"{name} {dtype}"] = digests
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def digests():
    env = dict(os.environ, NUMBA_NUM_THREADS=str(max(THREADS)),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(NAMES), json.dumps(THREADS)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_bytes_for_every_thread_count(digests, name, dtype):
    d = digests[f"{name} {dtype}"]
    assert d["lattice points"], (name, dtype)
    reference = d["1"]
    for key in [str(t) for t in THREADS[1:]] + ["serial slices"]:
        assert d[key] == reference, (name, dtype, key)
