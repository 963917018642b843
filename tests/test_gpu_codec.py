"""A file written on a GPU decodes on the CPU (issue 13): the encoder runs on CUDA, the pmfs are
built in float64 on the CPU on both sides, so a CPU copy of the same weights reads the symbols back
bit-exactly.  Marked ``gpu``; skips without a CUDA device.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from vae.codec.api import compress, decompress
from vae.models import VAE, ModelConfig

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch sees none)")]

DGAUSS = {"prior": "dgauss", "prior_components": 2}
CODED = [("z-laplace", 16, {}), ("z2", 16, {}), ("a2", 16, {}), ("e8", 16, {}), ("bw16", 16, {}), ("leech", 24, {}),
         ("vq", 16, {}), ("concrete", 16, {}), ("z2", 16, DGAUSS), ("a2", 16, DGAUSS), ("e8", 16, DGAUSS)]


def write_on_read_on(latent, hidden, options, writer: str, reader: str):
    """Compress 300 seeded binary images with a model on ``writer``; decompress with a copy on ``reader``."""
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent=latent, hidden=hidden, latent_options=options)).eval()
    x = (torch.rand(300, 784, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    written = compress(copy.deepcopy(model).to(writer), x.to(writer), seed=5)
    read_here = decompress(copy.deepcopy(model).to(reader), written)
    read_there = decompress(copy.deepcopy(model).to(writer), written)
    return written, read_here, read_there


@pytest.mark.parametrize("latent,hidden,options", CODED)
def test_file_written_on_cuda_decodes_on_cpu(latent, hidden, options):
    written, on_cpu, on_cuda = write_on_read_on(latent, hidden, options, "cuda", "cpu")
    assert len(written) > 0
    np.testing.assert_array_equal(on_cpu["symbols"], on_cuda["symbols"])           # exact: same integers
    np.testing.assert_array_equal(on_cpu["decoder_input"].numpy(), on_cuda["decoder_input"].numpy())
    # the reconstructions pass through float32 decoders on two devices: round-off only
    torch.testing.assert_close(on_cpu["reconstruction"], on_cuda["reconstruction"], rtol=0, atol=1e-5)
