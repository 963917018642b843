"""Tests of vae.train and vae.evaluate: the run directory, identical resumption, the NaN stop,
the learning-rate schedule, the importance-weighted bound and the CLI errors (exit code 2).

Short runs use ``--train-limit``/``--valid-limit`` so each epoch takes well under a second.
"""
import json
import math
from pathlib import Path

import pytest
import torch

from vae import evaluate, train
from vae.latents import LATENTS
from vae.models import VAE, ModelConfig

from shared_data import needs_data

pytestmark = pytest.mark.usefixtures("vae_data_env")

SMALL = ["--train-limit", "300", "--valid-limit", "100", "--batch-size", "50", "--no-progress",
         "--device", "cpu"]


def run(tmp_path, name, *args):
    out = tmp_path / name
    code = train.main(["--out", str(out), *SMALL, *args])
    return code, out


def metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def weights(out, name="checkpoint.pt"):
    return torch.load(out / name, weights_only=False)["model"]


# ------------------------------------------------------------------------------ every latent
@needs_data
@pytest.mark.parametrize("dataset", ["mnist", "omniglot"])
@pytest.mark.parametrize("latent", list(LATENTS))
def test_every_latent_trains_resumes_and_evaluates(tmp_path, latent, dataset, capsys):
    """Each latent trains from the CLI, resumes, and evaluates with k = 1 and k = 5000."""
    arch = "gated" if latent in ("e8", "vq") else "linear"        # both architectures exercised
    hidden = "24" if latent == "leech" else "16"                    # a multiple of the block dimension
    code, out = run(tmp_path, "r", "--dataset", dataset, "--latent", latent, "--arch", arch,
                    "--hidden", hidden, "--epochs", "1", "--lr", "3e-3")
    assert code == 0
    assert {p.name for p in out.iterdir()} >= {"config.json", "checkpoint.pt", "best.pt",
                                                "metrics.jsonl", "summary.json"}
    code, _ = run(tmp_path, "r", "--resume", "--epochs", "1")
    assert code == 0
    hist = metrics(out)
    assert [h["epoch"] for h in hist] == [1, 2]
    for h in hist:
        assert math.isfinite(h["valid_nll"]) and 0 < h["valid_nll"] < 784 * math.log(2) * 2
        assert math.isclose(h["train_loss"], h["train_recon"] + h["train_rate"] + h["train_aux"],
                            rel_tol=1e-5)   # float32 sums of the parts (batch means, weighted)
    capsys.readouterr()
    code = evaluate.main([str(out), "--samples", "1", "5000", "--limit", "3", "--json", "--no-progress",
                          "--device", "cpu"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    r1, r5000 = report["results"]["1"], report["results"]["5000"]
    assert r1["n_images"] == r5000["n_images"] == 3
    assert math.isfinite(r1["nll"]) and math.isfinite(r5000["nll"])
    if latent == "vq":       # deterministic quantization: the k samples coincide (Sec. 4.1, point 3)
        # equal up to float32 round-off of the decoder (batch shapes differ): ~1e-6 relative
        assert r5000["nll"] == pytest.approx(r1["nll"], rel=1e-5)
    assert (out / "eval.json").exists()


# ------------------------------------------------------------------------------ resumption
@needs_data
@pytest.mark.parametrize("latent", ["gaussian", "e8"])
def test_resume_gives_identical_results(tmp_path, latent):
    """2 epochs in one go == 1 epoch, then --resume for 1: same weights bit for bit, same metrics."""
    common = ["--latent", latent, "--hidden", "16", "--seed", "3"]
    assert run(tmp_path, "straight", *common, "--epochs", "2")[0] == 0
    assert run(tmp_path, "split", *common, "--epochs", "1")[0] == 0
    assert run(tmp_path, "split", "--resume", "--epochs", "1")[0] == 0
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "split")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    strip = [{k: v for k, v in h.items() if k != "time_s"} for h in metrics(tmp_path / "straight")]
    assert strip == [{k: v for k, v in h.items() if k != "time_s"} for h in metrics(tmp_path / "split")]


@needs_data
def test_interrupted_epoch_loses_only_that_epoch(tmp_path, monkeypatch):
    """An interruption mid-epoch leaves the last finished epoch's checkpoint; resuming matches."""
    assert run(tmp_path, "straight", "--latent", "z-laplace", "--hidden", "8", "--epochs", "2")[0] == 0
    calls = {"n": 0}
    real_step = torch.optim.Adam.step

    def interrupting_step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 6 + 3:          # epoch 2 (300 images / 50 = 6 steps per epoch), step 3
            raise KeyboardInterrupt
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", interrupting_step)
    code, out = run(tmp_path, "cut", "--latent", "z-laplace", "--hidden", "8", "--epochs", "2")
    assert code == 130
    assert torch.load(out / "checkpoint.pt", weights_only=False)["epoch"] == 1
    monkeypatch.setattr(torch.optim.Adam, "step", real_step)
    assert run(tmp_path, "cut", "--resume", "--epochs", "1")[0] == 0
    a, b = weights(tmp_path / "straight"), weights(out)
    assert all(torch.equal(a[k], b[k]) for k in a)


@needs_data
def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    from vae.latents.gaussian import GaussianLatent

    real = GaussianLatent.train_terms
    calls = {"n": 0}

    def poisoned(self, e, generator=None):
        calls["n"] += 1
        terms = real(self, e, generator)
        if calls["n"] > 6:                                   # from the first step of epoch 2
            terms["rate"] = terms["rate"] * float("nan")
        return terms

    monkeypatch.setattr(GaussianLatent, "train_terms", poisoned)
    code, out = run(tmp_path, "nan", "--latent", "gaussian", "--hidden", "8", "--epochs", "3")
    assert code == 3
    err = capsys.readouterr().err
    assert "nan" in err.lower() and "checkpoint (epoch 1)" in err
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert json.loads((out / "summary.json").read_text())["stop_reason"] == "non_finite_loss"


@needs_data
def test_schedule_halves_lr_and_stops(tmp_path, monkeypatch):
    """Sec. 4.1's schedule with patience 1 (halve) and 2 (stop), validation forced to worsen."""
    values = iter([10.0, 11.0, 12.0, 13.0])
    monkeypatch.setattr(train, "validation_nll", lambda *a, **k: next(values))
    code, out = run(tmp_path, "sched", "--latent", "gaussian", "--hidden", "4", "--lr", "0.01",
                    "--patience-halve", "1", "--patience-stop", "2")
    assert code == 0
    hist = metrics(out)
    assert [h["lr"] for h in hist] == [0.01, 0.005, 0.0025]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"] == "no_improvement" and summary["best_epoch"] == 1
    assert summary["epochs"] == 3


@needs_data
def test_max_epochs_cap_and_raise_on_resume(tmp_path):
    code, out = run(tmp_path, "cap", "--latent", "gaussian", "--hidden", "4", "--max-epochs", "1")
    assert code == 0 and json.loads((out / "summary.json").read_text())["stop_reason"] == "max_epochs"
    assert run(tmp_path, "cap", "--resume", "--max-epochs", "2")[0] == 0
    assert [h["epoch"] for h in metrics(out)] == [1, 2]


# ------------------------------------------------------------------------------ CLI errors
@pytest.mark.parametrize("args, message", [
    (["--latent", "bogus"], "valid: gaussian, z-laplace"),
    (["--latent", "e8", "--hidden", "12"], "multiple of 8"),
    (["--arch", "deep"], "valid: linear, gated"),
    (["--dataset", "cifar"], "valid: mnist, omniglot"),
    (["--lr", "-1"], "--lr: expected a positive number"),
    (["--latent", "gaussian", "--latent-option", "no_such_option=1"], "no_such_option"),
    (["--latent", "gaussian", "--latent-option", "oops"], "KEY=VALUE"),
    (["--latent", "gaussian", "--data-dir", "/nonexistent-lrl-data"], "is not a directory"),
])
def test_train_cli_bad_input_exit_2(tmp_path, capsys, args, message):
    code = train.main(["--out", str(tmp_path / "x"), "--no-progress", *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x" / "checkpoint.pt").exists()


@needs_data
def test_train_cli_refuses_to_overwrite_and_to_resume_nothing(tmp_path, capsys):
    assert run(tmp_path, "r", "--latent", "gaussian", "--hidden", "4", "--epochs", "1")[0] == 0
    assert run(tmp_path, "r", "--latent", "gaussian", "--hidden", "4")[0] == 2
    assert "--resume" in capsys.readouterr().err
    assert run(tmp_path, "empty", "--resume")[0] == 2
    assert "nothing to resume" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the message shown without a GPU")
def test_cuda_without_gpu_is_a_clear_error(tmp_path, capsys):
    code = train.main(["--out", str(tmp_path / "x"), "--device", "cuda", "--latent", "gaussian"])
    assert code == 2 and "no CUDA device" in capsys.readouterr().err


def test_evaluate_cli_errors(tmp_path, capsys):
    assert evaluate.main([str(tmp_path), "--no-progress"]) == 2
    assert "run directory" in capsys.readouterr().err
    assert evaluate.main([str(tmp_path), "--samples", "0", "--no-progress"]) == 2
    assert "positive" in capsys.readouterr().err
    assert evaluate.main([str(tmp_path), "--data-dir", str(tmp_path / "nope"), "--no-progress"]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_select_images_spread_covers_the_split_and_first_is_a_prefix():
    x = torch.arange(10000)
    spread = evaluate.select_images(x, 1000, "spread")
    assert spread.tolist() == list(range(0, 10000, 10))                 # every 10th: all blocks
    assert evaluate.select_images(x, 1000, "first").tolist() == list(range(1000))
    assert evaluate.select_images(x, 7, "spread").tolist() == [i * 10000 // 7 for i in range(7)]
    assert evaluate.select_images(x, None, "spread") is x and evaluate.select_images(x, 10**5, "first") is x
    assert evaluate.eval_key("test", "best", 0, 1000, "spread") == "test/best/seed0/limit1000-spread"
    assert evaluate.eval_key("test", "best", 0, None, "spread") == "test/best/seed0/limitNone"


@needs_data
def test_mnist_test_set_is_ordered_so_first_images_are_not_representative():
    """Why ``--subset spread`` exists: the mean ink of the first 1000 binarized MNIST test images
    differs from the whole test set's by far more than 4 standard errors; the evenly spaced
    1000 agree with it within 4 standard errors (the spread sample is every 10th image)."""
    from vae import data as vdata

    x = vdata.load_dataset("mnist", "test").double()
    ink = x.mean(1)
    full = float(ink.mean())
    for subset, representative in (("first", False), ("spread", True)):
        sub = evaluate.select_images(ink, 1000, subset)
        se = float(sub.std() / math.sqrt(len(sub)))
        assert (abs(float(sub.mean()) - full) < 4 * se) is representative, (subset, float(sub.mean()), full, se)


@needs_data
def test_a_run_saved_under_another_default_prior_support_still_loads_and_resumes(tmp_path, monkeypatch):
    """The prior's K (max_norm) is read from the checkpoint when the config leaves it to the
    default: a later change of the default (here K -> K + 8) keeps old runs usable.  Control:
    building the model from the config alone no longer fits the saved state."""
    from vae.models import VAE, ModelConfig
    from vae.priors import paper

    assert run(tmp_path, "r", "--latent", "e8", "--hidden", "8", "--epochs", "1")[0] == 0
    out = tmp_path / "r"
    before = weights(out)
    saved_k = paper.DEFAULTS["e8"][0]
    monkeypatch.setitem(paper.DEFAULTS, "e8", (saved_k + 8, 3))
    cfg = ModelConfig.from_dict(json.loads((out / "config.json").read_text())["model"])
    assert cfg.latent_options == {}
    with pytest.raises(RuntimeError):                          # the control: K + 8 != saved K
        VAE(cfg).load_state_dict(before)
    model, _ = train.load_run(out)
    assert model.latent.prior.max_norm == saved_k
    assert run(tmp_path, "r", "--resume", "--epochs", "1")[0] == 0
    assert metrics(out)[-1]["epoch"] == 2 and weights(out)["latent.prior.psi"].shape == before["latent.prior.psi"].shape


# ------------------------------------------------------------------------------ the IWAE bound
def test_logmeanexp_streaming_matches_direct():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 37, generator=g, dtype=torch.float64) * 50
    direct = torch.logsumexp(a, 1) - math.log(37)
    for sizes in ([37], [1] * 37, [10, 20, 7]):
        chunks = torch.split(a, sizes, dim=1)
        torch.testing.assert_close(evaluate.logmeanexp_streaming(chunks), direct, rtol=0, atol=1e-12)


def test_iwae_k1_is_the_single_sample_loss_and_k_tightens_it():
    """k = 1: -log w of one sample; larger k: a tighter bound (IWAE monotonicity in expectation)."""
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent="gaussian", hidden=4))
    x = torch.bernoulli(torch.full((64, 784), 0.3), generator=torch.Generator().manual_seed(1))
    lw = model.log_weights(x, 1, torch.Generator().manual_seed(5))
    nll1 = evaluate.iwae_nll(model, x, 1, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(nll1, -lw[:, 0], rtol=0, atol=0)
    # E[bound_k] decreases with k (Burda et al. 2016, Thm 1); the mean over 64 images of the
    # k=1 bound exceeds the k=200 bound by many standard errors for an untrained model
    nll200 = evaluate.iwae_nll(model, x, 200, generator=torch.Generator().manual_seed(6), max_elements=784 * 64 * 7)
    diff = nll1 - nll200
    assert float(diff.mean()) > 4 * float(diff.std() / math.sqrt(len(diff)))


# ------------------------------------------------------------------------------ docs and benchmark
def test_docs_vae_python_example_runs():
    """The Python example of docs/vae.md runs as written (and its shapes are what it says)."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "vae.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    scope = {}
    exec(compile(code, "docs/vae.md", "exec"), scope)
    assert scope["symbols"].shape == (100, 32) and scope["symbols"].dtype == torch.int64
    assert scope["probs"].shape == (100, 784) and scope["nll"].dtype == torch.float64
