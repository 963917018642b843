"""Real bitstreams for the discrete latents (see docs/bitstream.md).

* :mod:`vae.entropy_coding`: deterministic integer pmfs, ANS push/pop (``constriction``);
* :mod:`vae.codec.latent_coders`: one coder per discrete latent, exact under its own prior (a
  lattice latent's prior object brings its coder, :mod:`vae.priors`); :mod:`vae.codec.dispatch`:
  which coder codes a latent;
* :mod:`vae.codec.container`: the file format (version, hashes, seed, shapes, checksums);
* :mod:`vae.codec.api`: :func:`compress`, :func:`decompress`, :func:`measure`.
"""
from .api import compress, decompress, measure, model_sha256
from .dispatch import coder_for
from .latent_coders import CodecError

__all__ = ["compress", "decompress", "measure", "model_sha256", "CodecError", "coder_for"]
