"""PyTorch VAEs with lattice latents and the paper's baselines.

Not yet implemented: this layer is the subject of its own issue.
"""
__all__: list[str] = []
