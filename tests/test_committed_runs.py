"""Behaviour is preserved: committed runs give their recorded numbers, committed files still decode.

* One committed run per (latent, prior family) is re-evaluated at k = 1 over the whole MNIST
  test set with its recorded seed (0) and compared with its ``eval.json`` entry
  ``test/best/seed0/limitNone``; tolerance 1e-9 nats (the evaluation is float64 per image;
  the mean over 10 000 images differs only by summation order, ~1e-13, if at all).
* ``tests/fixtures/lrlb/*.lrlb`` were written by ``vae.compress``'s API *before* the prior
  refactor (issue 29, commit 0eb0cc0: 20 test images, indices 0:10000:500, seed 7, chunk 8);
  each must still decode with its run to the same symbols and the same decoder input
  (SHA-256 of the int64 symbols and the float32 decoder input, in ``manifest.json``).
"""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from shared_data import needs_data

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "lrlb"

pytestmark = [pytest.mark.usefixtures("vae_data_env"), needs_data]

#: (latent, prior family) -> a committed run with best.pt and eval.json
RUNS = {
    ("e8", "paper"): "runs/mnist-linear-h32-converge/mnist/linear/h32/e8/lr0.001/seed0",
    ("a2", "paper"): "runs/mnist-linear-h32-converge/mnist/linear/h32/a2/lr0.001/seed0",
    ("z2", "paper"): "runs/mnist-linear-h32-converge/mnist/linear/h32/z2/lr0.001/seed0",
    ("bw16", "paper"): "runs/mnist-linear-40-bw16-h32/mnist/linear/h32/bw16/lr0.001/seed2",
    ("leech", "paper"): "runs/mnist-linear-40-leech-h24/mnist/linear/h24/leech/lr0.001/seed2",
    ("e8", "dgauss"): "runs/mnist-linear-40-dgauss/mnist/linear/h16/e8/lr0.001/seed0",
    ("a2", "dgauss"): "runs/mnist-linear-40-dgauss/mnist/linear/h16/a2/lr0.001/seed0",
    ("z2", "dgauss"): "runs/mnist-linear-40-dgauss/mnist/linear/h16/z2/lr0.001/seed2",
    ("z-laplace", None): "runs/mnist-linear-h32-converge/mnist/linear/h32/z-laplace/lr0.001/seed0",
    ("vq", None): "runs/mnist-linear-h32-converge/mnist/linear/h32/vq/lr0.001/seed0",
    ("concrete", None): "runs/mnist-linear-h32-converge/mnist/linear/h32/concrete/lr0.001/seed0",
    ("gaussian", None): "runs/mnist-linear-h32-converge/mnist/linear/h32/gaussian/lr0.001/seed0",
}


def _test_images():
    from vae import data as vdata

    return vdata.load_dataset("mnist", "test")


@pytest.mark.parametrize("key", list(RUNS), ids=lambda k: "-".join(p for p in k if p))
def test_committed_run_scores_its_recorded_k1_nll(key):
    from vae.evaluate import iwae_nll
    from vae.runs import load_run
    from vae.train import epoch_generator

    run = ROOT / RUNS[key]
    recorded = json.loads((run / "eval.json").read_text())["evaluations"]["test/best/seed0/limitNone"]["1"]
    model, config = load_run(run, "best", torch.device("cpu"))
    latent, family = key
    assert config.model["latent"] == latent
    if family is not None:
        assert getattr(model.latent.prior, "family", family) == family                  # the loaded prior object's family
    x = _test_images()
    assert len(x) == recorded["n_images"] == 10_000
    nll = iwae_nll(model, x, 1, batch_size=100, generator=epoch_generator(0, 1, 2, "cpu"),
                   max_elements=2 ** 24, progress=False)
    assert abs(float(nll.mean()) - recorded["nll"]) <= 1e-9, (float(nll.mean()), recorded["nll"])


MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_file_written_before_the_prior_refactor_still_decodes(name):
    from vae.codec.api import decompress
    from vae.runs import load_run

    entry = MANIFEST[name]
    model, _ = load_run(ROOT / entry["run"], "best", torch.device("cpu"))
    data = (FIXTURES / f"{name}.lrlb").read_bytes()
    assert len(data) == entry["bytes"]
    out = decompress(model, data)
    symbols = np.ascontiguousarray(out["symbols"], dtype="<i8")
    assert hashlib.sha256(symbols.tobytes()).hexdigest() == entry["symbols_sha256"]
    z = out["decoder_input"].numpy().astype("<f4")
    assert hashlib.sha256(z.tobytes()).hexdigest() == entry["decoder_input_sha256"]
