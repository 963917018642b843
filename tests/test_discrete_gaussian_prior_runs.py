"""prior=dgauss end to end on tiny MNIST runs: train, resume bit for bit, evaluate, train_vs_inference."""
import json
import math

import pytest
import torch

from shared_data import needs_data
from validation import train_vs_inference as tvi
from vae import evaluate, train

pytestmark = pytest.mark.usefixtures("vae_data_env")

SMALL = ["--train-limit", "300", "--valid-limit", "100", "--batch-size", "50", "--no-progress",
         "--device", "cpu", "--latent", "e8", "--hidden", "16", "--seed", "3",
         "--latent-option", "prior=dgauss", "--latent-option", "prior_components=3"]


def _weights(out):
    return torch.load(out / "checkpoint.pt", weights_only=False)["model"]


@needs_data
def test_dgauss_run_trains_resumes_evaluates_and_is_measured(tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert train.main(["--out", str(straight), *SMALL, "--epochs", "2"]) == 0
    assert train.main(["--out", str(split), *SMALL, "--epochs", "1"]) == 0
    assert train.main(["--out", str(split), "--resume", "--epochs", "1", "--no-progress", "--device", "cpu"]) == 0
    a, b = _weights(straight), _weights(split)
    assert "latent.prior.log_scale" in a and "latent.prior._class_of_norm" not in a
    assert a["latent.prior.log_scale"].shape == (2, 3, 8)                  # (blocks, components, n)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    capsys.readouterr()
    assert evaluate.main([str(straight), "--samples", "1", "100", "--limit", "5", "--json", "--no-progress",
                          "--device", "cpu"]) == 0
    res = json.loads(capsys.readouterr().out)["results"]
    assert math.isfinite(res["1"]["nll"]) and math.isfinite(res["100"]["nll"])
    assert tvi.main([str(straight), "--limit", "200", "--dithers", "8", "--inner", "128", "--no-progress",
                     "--device", "cpu", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["confirmed"] is True
    sup = rep["prior_support"]
    assert sup["max_norm_K"] is None and sup["fraction_beyond_K"] is None     # full support: n/a
    assert math.isfinite(rep["estimates"]["excess_code_length"]["mean"])
