"""The paper's mathematics as functions (Crypto-Lemma, Theorem 1, eqs. (4)-(8), ...).

Not yet implemented: this layer is the subject of its own issue.  It will
import from :mod:`lattices` only (data flows lattices <- theory <- vae <- validation).
"""
__all__: list[str] = []
