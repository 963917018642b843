"""Command-line reports that confirm (or refute) the paper numerically.

Not yet implemented: this layer is the subject of its own issue.
"""
__all__: list[str] = []
