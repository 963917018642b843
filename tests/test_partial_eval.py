"""An interrupted importance-sampling evaluation resumes where it stopped, with the same numbers.

The unit tests drive :func:`vae.evaluate.iwae_nll` on an untrained model (no data needed); the
last test interrupts ``python -m vae.evaluate`` on a short trained run and runs it again.
"""
import json
import os
import shutil

import pytest
import torch

from vae import evaluate, partial_eval, train
from vae.models import VAE, ModelConfig
from vae.partial_eval import PARTIAL_DIR, PartialEvaluation

from shared_data import needs_data

K, BATCH, N = 40, 8, 37          # 5 batches, the last one of 5 images
# log_weights calls per batch with max_elements = 784 * 8 * 16: chunks of 16, 16, 8 samples for
# the full batches (3 calls), of 25 and 15 for the last one (2 calls): 14 calls in all


def model_and_images(latent="e8"):
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent=latent, hidden=8))
    x = torch.bernoulli(torch.full((N, 784), 0.3), generator=torch.Generator().manual_seed(1))
    return model, x


def bounds(model, x, partial=None):
    return evaluate.iwae_nll(model, x, K, batch_size=BATCH, generator=torch.Generator().manual_seed(7),
                             max_elements=784 * BATCH * 16, partial=partial)   # 3 chunks per batch


def partial_for(tmp_path, meta=None, log=None):
    return PartialEvaluation(tmp_path, "test/best/seed0/limitNone", K,
                             meta or {"n_images": N, "batch_size": BATCH}, every_s=0,
                             log=log or (lambda msg: None))


def interrupt_after(monkeypatch, model, calls):
    """Make ``model.log_weights`` raise KeyboardInterrupt at its ``calls``-th call; count calls."""
    real, count = model.log_weights, {"n": 0}

    def counting(*args, **kwargs):
        count["n"] += 1
        if count["n"] == calls:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "log_weights", counting)
    return count


@pytest.mark.parametrize("latent", ["e8", "gaussian"])
def test_an_interrupted_evaluation_resumes_bit_for_bit(tmp_path, monkeypatch, latent):
    model, x = model_and_images(latent)
    straight = bounds(model, x)
    count = interrupt_after(monkeypatch, model, 3 * 2 + 2)     # batch 3, chunk 2
    with pytest.raises(KeyboardInterrupt):
        bounds(model, x, partial_for(tmp_path))
    saved = torch.load(partial_for(tmp_path).path, weights_only=True)
    assert saved["done"] == 2 * BATCH                          # the two finished batches
    count["n"] = -10 ** 9                                      # no more interruptions; count again
    resumed = bounds(model, x, partial_for(tmp_path))
    assert torch.equal(resumed, straight)
    assert count["n"] + 10 ** 9 == 3 + 3 + 2                   # only the last three batches ran


def test_negative_control_resuming_with_the_wrong_generator_state_changes_the_numbers(tmp_path, monkeypatch):
    """The test above can fail: restore the bounds but not the generator, and the result moves."""
    model, x = model_and_images()
    straight = bounds(model, x)
    count = interrupt_after(monkeypatch, model, 3 * 2 + 2)
    with pytest.raises(KeyboardInterrupt):
        bounds(model, x, partial_for(tmp_path))
    count["n"] = -10 ** 9
    path = partial_for(tmp_path).path                          # the stream's state as at the start
    saved = torch.load(path, weights_only=True)
    saved["generator_state"] = torch.Generator().manual_seed(7).get_state()
    torch.save(saved, path)
    broken = bounds(model, x, partial_for(tmp_path))
    assert torch.equal(broken[:2 * BATCH], straight[:2 * BATCH])
    assert not torch.equal(broken[2 * BATCH:], straight[2 * BATCH:])


def test_a_partial_file_of_another_evaluation_is_not_used(tmp_path, monkeypatch):
    model, x = model_and_images()
    straight = bounds(model, x)
    count = interrupt_after(monkeypatch, model, 5)
    with pytest.raises(KeyboardInterrupt):
        bounds(model, x, partial_for(tmp_path))
    count["n"] = -10 ** 9
    messages = []
    other = partial_for(tmp_path, {"n_images": N, "batch_size": BATCH, "checkpoint_sha256": "0" * 64},
                        log=messages.append)
    assert torch.equal(bounds(model, x, other), straight)
    assert count["n"] + 10 ** 9 == 14                          # started afresh: all five batches
    assert "another evaluation" in messages[0] and "checkpoint_sha256" in messages[0]


def test_an_unreadable_partial_file_is_set_aside_not_deleted(tmp_path):
    model, x = model_and_images()
    p = partial_for(tmp_path)
    p.path.parent.mkdir(parents=True)
    p.path.write_bytes(b"not a torch file")
    messages = []
    assert torch.equal(bounds(model, x, partial_for(tmp_path, log=messages.append)), bounds(model, x))
    assert (p.path.parent / (p.path.name + ".corrupt")).read_bytes() == b"not a torch file"
    assert "could not be read" in messages[0]


def test_writes_are_throttled_and_discard_removes_the_folder(tmp_path):
    p = PartialEvaluation(tmp_path, "k", K, {"n_images": N}, every_s=3600)
    values = torch.zeros(N, dtype=torch.float64)
    assert not p.save(values, BATCH, torch.Generator())        # within the hour: skipped
    assert p.save(values, BATCH, torch.Generator(), force=True)
    assert p.path.exists()
    p.discard()
    assert not (tmp_path / PARTIAL_DIR).exists()


def test_a_resumable_evaluation_needs_an_explicit_generator(tmp_path):
    model, x = model_and_images()
    with pytest.raises(ValueError, match="explicit generator"):
        evaluate.iwae_nll(model, x, K, partial=partial_for(tmp_path))


@needs_data
@pytest.mark.usefixtures("vae_data_env")
def test_the_evaluate_command_resumes_after_ctrl_c(tmp_path, monkeypatch, capsys):
    """Ctrl-C in ``python -m vae.evaluate`` (exit 130) keeps the finished batches; the same command
    again finishes from there, with the number of an uninterrupted evaluation, and cleans up."""
    out = tmp_path / "run"
    assert train.main(["--out", str(out), "--latent", "a2", "--hidden", "8", "--epochs", "1",
                       "--train-limit", "200", "--valid-limit", "50", "--batch-size", "50",
                       "--no-progress", "--device", "cpu"]) == 0
    shutil.copytree(out, tmp_path / "copy")
    capsys.readouterr()
    args = ["--samples", "30", "--limit", "40", "--batch-size", "10", "--json", "--no-progress", "--device", "cpu"]
    assert evaluate.main([str(tmp_path / "copy"), *args]) == 0
    straight = json.loads(capsys.readouterr().out)["results"]["30"]

    monkeypatch.setattr(partial_eval, "SAVE_EVERY_S", 0.0)
    real, count = VAE.log_weights, {"n": 0}

    def interrupting(self, *a, **kw):
        count["n"] += 1
        if count["n"] == 2 + 3:     # two calls time one batch first; then one call (chunk) per batch
            raise KeyboardInterrupt
        return real(self, *a, **kw)

    monkeypatch.setattr(VAE, "log_weights", interrupting)
    assert evaluate.main([str(out), *args]) == 130
    assert len(list((out / PARTIAL_DIR).iterdir())) == 1
    os.utime(out / "best.pt", ns=(1, 1))     # as after a fresh clone: the content identifies it
    monkeypatch.setattr(VAE, "log_weights", real)
    capsys.readouterr()
    assert evaluate.main([str(out), *args]) == 0
    captured = capsys.readouterr()
    resumed = json.loads(captured.out)["results"]["30"]
    assert "resuming k = 30 at image 20 of 40" in captured.err
    assert resumed["nll"] == straight["nll"] and resumed["standard_error"] == straight["standard_error"]
    assert not (out / PARTIAL_DIR).exists()
    saved = json.loads((out / "eval.json").read_text())["evaluations"]
    assert saved["test/best/seed0/limit40"]["30"]["nll"] == straight["nll"]
