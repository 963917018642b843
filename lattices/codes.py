"""The binary codes behind BW16 and the Leech lattice: RM(1,4), the hexacode, the Golay code.

* ``RM(1, 4)``: the first-order Reed–Muller code of length 16, the affine
  functions ``f(i) = a . i + e`` on F_2^4 (coordinate ``i`` read as 4 bits);
  [16, 5, 8], weights 0, 8, 16 (MacWilliams & Sloane 1977, ch. 13).
* The hexacode: the [6, 3, 4] code over GF(4) = {0, 1, w, w'} of the words
  ``(a, b, c, f(1), f(w), f(w'))`` with ``f(x) = a x^2 + b x + c`` (SPLAG ch. 11
  Sec. 2).  GF(4) elements are coded 0, 1, 2 = w, 3 = w'; addition is XOR.
* The extended binary Golay code G24 in the MOG (Miracle Octad Generator)
  arrangement: a 4 x 6 array, rows labelled 0, 1, w, w'; coordinate
  ``4 j + r`` is row ``r`` of column ``j``.  A word is in G24 iff every column
  has the parity of the top row and the column *scores* (the GF(4) sum of the
  labels of the rows holding a 1) form a hexacode word (Conway's MOG
  description, SPLAG ch. 11 Sec. 2; Conway & Sloane 1986).

>>> golay_code().shape, sorted(set(golay_code().sum(1).tolist()))
((4096, 24), [0, 8, 12, 16, 24])
>>> rm14_code().shape, sorted(set(rm14_code().sum(1).tolist()))
((32, 16), [0, 8, 16])
"""
from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

__all__ = ["gf4_mul", "hexacode", "column_score", "mog_patterns", "golay_code", "rm14_code"]

#: GF(4) labels of the MOG rows 0..3: 0, 1, w, w'.
ROW_LABELS = (0, 1, 2, 3)


def gf4_mul(a: int, b: int) -> int:
    """Product in GF(4) = {0, 1, w, w'} coded 0..3 (w^2 = w' = w + 1)."""
    if a == 0 or b == 0:
        return 0
    log = {1: 0, 2: 1, 3: 2}
    return (1, 2, 3)[(log[a] + log[b]) % 3]


@lru_cache(maxsize=None)
def hexacode() -> np.ndarray:
    """The 64 hexacode words, int64 (64, 6), in the order of ``(a, b, c)`` (a slowest)."""
    words = []
    for a, b, c in itertools.product(range(4), repeat=3):
        def f(x):
            return gf4_mul(a, gf4_mul(x, x)) ^ gf4_mul(b, x) ^ c
        words.append((a, b, c, f(1), f(2), f(3)))
    out = np.array(words, dtype=np.int64)
    out.setflags(write=False)
    return out


def column_score(pattern: int) -> int:
    """The GF(4) score of a 4-bit MOG column: the sum of the labels of its set rows."""
    s = 0
    for r in range(4):
        if (pattern >> r) & 1:
            s ^= ROW_LABELS[r]
    return s


@lru_cache(maxsize=None)
def mog_patterns() -> np.ndarray:
    """``P[s, parity, top]``: the one 4-bit column with score ``s``, weight parity
    ``parity`` and top-row bit ``top`` (int64, (4, 2, 2)).

    The 16 columns split into 4 scores x 2 parities, two columns each; the two
    are complements (complementing 4 bits keeps score and parity, flips the top bit).
    """
    P = -np.ones((4, 2, 2), dtype=np.int64)
    for m in range(16):
        P[column_score(m), bin(m).count("1") % 2, m & 1] = m
    if (P < 0).any():  # internal invariant
        raise AssertionError("MOG column table incomplete")
    P.setflags(write=False)
    return P


@lru_cache(maxsize=None)
def golay_code() -> np.ndarray:
    """The 4096 words of G24 (uint8, (4096, 24)) built from the MOG rule, sorted."""
    P = mog_patterns()
    words = set()
    for h in hexacode():
        for parity in (0, 1):
            for tops in itertools.product((0, 1), repeat=6):
                if sum(tops) % 2 != parity:
                    continue
                v = 0
                for j in range(6):
                    v |= int(P[h[j], parity, tops[j]]) << (4 * j)
                words.add(v)
    code = np.array([[(v >> i) & 1 for i in range(24)] for v in sorted(words)], dtype=np.uint8)
    code.setflags(write=False)
    return code


@lru_cache(maxsize=None)
def rm14_code() -> np.ndarray:
    """The 32 words of RM(1, 4) (uint8, (32, 16)): ``f(i) = a . i + e``."""
    i = np.arange(16)
    bits = (i[:, None] >> np.arange(4)) & 1  # (16, 4)
    words = []
    for a in range(16):
        lin = (bits @ ((a >> np.arange(4)) & 1)) % 2
        words += [lin, 1 - lin]
    code = np.array(sorted(map(tuple, words)), dtype=np.uint8)
    code.setflags(write=False)
    return code


def binary_rank(words) -> int:
    """Rank over GF(2) of 0/1 rows."""
    rows = [int("".join(str(int(b)) for b in w), 2) for w in np.asarray(words)]
    rank = 0
    while rows:
        pivot = max(rows)
        if pivot == 0:
            break
        rows.remove(pivot)
        top = pivot.bit_length() - 1
        rows = [r ^ pivot if (r >> top) & 1 else r for r in rows]
        rank += 1
    return rank


def generator_rows(code) -> np.ndarray:
    """A GF(2) basis of a linear binary code (rows of ``code``, greedy)."""
    out = []
    for w in np.asarray(code):
        if binary_rank(out + [w]) > len(out):
            out.append(w)
    return np.array(out, dtype=np.int64)
