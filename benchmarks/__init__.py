"""Speed measurements, each a ratio against a baseline timed in the same run.

``python -m benchmarks.decoders``: nearest-point throughput of every named lattice.
"""
__all__ = ["decoders"]
