"""Speed measurements, each a ratio against a baseline timed in the same run.

``python -m benchmarks.decoders``: nearest-point throughput of every named lattice.
``python -m benchmarks.nsm``: Monte Carlo NSM, standard error reached per second.
``python -m benchmarks.theta``: theta series against PARI/GP ``qfrep``.
"""
__all__ = ["decoders", "nsm", "theta"]
