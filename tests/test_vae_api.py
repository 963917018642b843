"""The open VAE API: your own encoder/decoder (width checks, save/load), your own latent layer
(register_latent, the contract of vae.testing.check_latent with a negative control per rule),
training callbacks, logging and TensorBoard, and the worked examples of docs/vae.md.
"""
import json
import logging
import math
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from vae import evaluate, train
from vae.callbacks import Callback, CallbackList
from vae.latents import LATENTS, LatentLayer, build_latent, register_latent
from vae.models import VAE, ModelConfig, bernoulli_log_likelihood
from vae.testing import LatentContractError, check_latent

from shared_data import needs_data

DOCS = Path(__file__).resolve().parents[1] / "docs" / "vae.md"
SMALL = dict(train_limit=300, valid_limit=100, batch_size=50)
#: -log p(x) of the model that predicts every pixel with probability 1/2: 784 log 2 nats
COIN_NLL = 784 * math.log(2)


def gen(seed):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ networks of the tests
class TinyEncoder(nn.Module):
    """(batch, 784) -> (batch, width) through a 2-channel convolution (not a built-in arch)."""

    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 4, stride=4)                     # 2 x 7 x 7
        self.fc = nn.Linear(2 * 7 * 7, width)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x.view(-1, 1, 28, 28))).flatten(1))


class TinyDecoder(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.fc = nn.Linear(hidden, 784)

    def forward(self, z):
        return self.fc(z)


def custom_model(latent="e8", hidden=8, seed=0):
    torch.manual_seed(seed)
    width = 2 * hidden if latent == "gaussian" else hidden
    return VAE(ModelConfig(latent=latent, hidden=hidden), encoder=TinyEncoder(width),
               decoder=TinyDecoder(hidden))


# ------------------------------------------------------------------ VAE(config, encoder, decoder)
def test_custom_networks_are_used_and_recorded():
    model = custom_model()
    assert isinstance(model.encoder, TinyEncoder) and isinstance(model.decoder, TinyDecoder)
    assert model.config.encoder == f"{__name__}:TinyEncoder"
    assert model.config.decoder == f"{__name__}:TinyDecoder"
    x = torch.bernoulli(torch.rand(4, 784, generator=gen(0)))
    out = model(x, generator=gen(1))
    assert torch.isfinite(out["loss"]) and out["per_example_loss"].shape == (4,)
    assert model.log_weights(x, 3, gen(2)).shape == (4, 3)
    # only the encoder is custom: the decoder comes from arch
    half = VAE(ModelConfig(latent="e8", hidden=8, arch="linear"), encoder=TinyEncoder(8))
    assert isinstance(half.decoder, nn.Linear) and half.config.decoder is None


def test_log_weights_agree_with_a_hand_computation_for_a_custom_decoder():
    """The decoder gets the k samples as (batch * k, m) rows: check against a loop over samples."""
    model = custom_model("gaussian", hidden=4)
    x = torch.bernoulli(torch.rand(3, 784, generator=gen(0)))
    lw = model.log_weights(x, 5, gen(7))
    s = model.latent.inference_samples(model.encoder(x), 5, gen(7))
    for j in range(5):
        expected = bernoulli_log_likelihood(model.decoder(s["decoder_input"][:, j]), x).double() \
            + s["log_ratio"][:, j]
        # float32 decoder on a different batch shape: round-off ~1e-5 on values ~500
        torch.testing.assert_close(lw[:, j], expected, rtol=0, atol=1e-3)


@pytest.mark.parametrize("latent,arch", [("gaussian", "linear"), ("e8", "linear"), ("vq", "gated")])
def test_log_weights_decoded_in_slices_equal_one_call(latent, arch, monkeypatch):
    """``VAE.log_likelihood`` runs the decoder on slices of the k samples (for memory): the same
    dithers and the same numbers as one call over all of them (the rows of a float32 matrix
    product do not depend on each other here: checked bit for bit), uneven last slice included."""
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent=latent, hidden=16, arch=arch)).eval()
    x = torch.bernoulli(torch.rand(3, 784, generator=gen(0)))
    monkeypatch.setattr(VAE, "decode_slice_elements", 2 ** 30)
    whole = model.log_weights(x, 11, gen(5))
    monkeypatch.setattr(VAE, "decode_slice_elements", 3 * 784 * 4)       # slices of 4, 4 and 3 samples
    sliced = model.log_weights(x, 11, gen(5))
    assert torch.equal(sliced, whole)


@pytest.mark.parametrize("latent,hidden,wrong,needed", [("e8", 16, 8, 16), ("gaussian", 4, 4, 8)])
def test_wrong_encoder_width_is_a_clear_error(latent, hidden, wrong, needed):
    with pytest.raises(ValueError, match=rf"encoder maps a \(2, 784\) batch to shape \(2, {wrong}\); "
                                         rf"the '{latent}' latent with hidden={hidden} needs \(2, {needed}\)"):
        VAE(ModelConfig(latent=latent, hidden=hidden), encoder=nn.Linear(784, wrong))


def test_wrong_decoder_and_failing_networks_are_clear_errors():
    with pytest.raises(ValueError, match=r"decoder maps a \(2, 8\) batch to shape \(2, 700\); "
                                         r"input_dim=784 needs \(2, 784\)"):
        VAE(ModelConfig(latent="e8", hidden=8), decoder=nn.Linear(8, 700))
    with pytest.raises(ValueError, match=r"the decoder fails on a \(2, 8\) batch \(RuntimeError"):
        VAE(ModelConfig(latent="e8", hidden=8), decoder=nn.Linear(9, 784))
    with pytest.raises(TypeError, match="encoder must be a torch.nn.Module, got function"):
        VAE(ModelConfig(latent="e8", hidden=8), encoder=lambda x: x)
    named = ModelConfig(latent="e8", hidden=8, encoder="somewhere:Net")
    with pytest.raises(ValueError, match="names a custom encoder 'somewhere:Net'"):
        VAE(named)
    with pytest.raises(ValueError, match="'module:QualName'"):
        ModelConfig(latent="e8", hidden=8, encoder="no-colon")


def test_the_width_check_restores_the_training_mode_and_changes_nothing():
    enc = nn.Sequential(nn.Linear(784, 8), nn.BatchNorm1d(8))
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    VAE(ModelConfig(latent="e8", hidden=8), encoder=enc)
    assert enc.training
    after = enc.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)      # BatchNorm statistics too


# ------------------------------------------------------------------ save / load
@pytest.mark.parametrize("which", ["builtin", "custom"])
def test_save_load_round_trip_gives_the_same_numbers(tmp_path, which):
    model = (VAE(ModelConfig(latent="e8", hidden=8, arch="gated", gate_width=16))
             if which == "builtin" else custom_model())
    x = torch.bernoulli(torch.rand(5, 784, generator=gen(3)))
    model(x, generator=gen(0))["loss"].backward()                    # some non-initial state
    model.save(tmp_path / "m")
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert files == ({"model_config.json", "model.pt"} | ({"networks.pt"} if which == "custom" else set()))
    loaded = VAE.load(tmp_path / "m")
    assert type(loaded.encoder) is type(model.encoder)
    # (the loaded config also states the prior support K that the weights fix: model_for_state)
    strip = lambda c: {k: v for k, v in c.to_dict().items() if k != "latent_options"}   # noqa: E731
    assert strip(loaded.config) == strip(model.config)
    assert not loaded.training
    model.eval()
    torch.testing.assert_close(loaded.log_weights(x, 4, gen(5)), model.log_weights(x, 4, gen(5)),
                               rtol=0, atol=0)
    if which == "custom":            # the structure file holds no weights: far smaller than them
        assert (tmp_path / "m" / "networks.pt").stat().st_size < (tmp_path / "m" / "model.pt").stat().st_size


def test_save_refuses_a_class_defined_in_a_function(tmp_path):
    class Local(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(784, 8)

        def forward(self, x):
            return self.fc(x)

    model = VAE(ModelConfig(latent="e8", hidden=8), encoder=Local())
    with pytest.raises(ValueError, match="defined inside a function"):
        model.save(tmp_path / "m")


def test_load_names_what_is_missing(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="not a directory written by VAE.save"):
        VAE.load(tmp_path)
    # a network class in a module that is gone by load time
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "h16_vanishing_nets.py").write_text(
        "from torch import nn\n"
        "class Enc(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(784, 8)\n"
        "    def forward(self, x):\n        return self.fc(x)\n")
    monkeypatch.syspath_prepend(str(mod_dir))
    import h16_vanishing_nets

    VAE(ModelConfig(latent="e8", hidden=8), encoder=h16_vanishing_nets.Enc()).save(tmp_path / "m")
    monkeypatch.delitem(sys.modules, "h16_vanishing_nets")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(mod_dir)])
    with pytest.raises(ImportError, match=r"the encoder recorded in .*networks.pt is the class "
                                          r"'h16_vanishing_nets:Enc', which cannot be imported"):
        VAE.load(tmp_path / "m")
    (tmp_path / "m" / "networks.pt").unlink()
    with pytest.raises(FileNotFoundError, match="networks.pt not found: the model uses the custom encoder"):
        VAE.load(tmp_path / "m")


# ------------------------------------------------------------------ a user latent layer
class RoundingLatent(LatentLayer):
    r"""Dithered rounding on Z^m with a logistic-free test prior: a small, valid user latent.

    Training: z = e + U, U ~ Unif(-1/2, 1/2)^m (the Crypto-Lemma noise); rate = ||e||^2 / 2.
    Inference: z = round(e + U) - U, log_ratio = -||round(e + U)||^2 / 2 (a stand-in code
    length; finite, float64).  Symbols: the integers round(e + U).
    """

    def __init__(self, dim, scale=1.0):
        super().__init__(dim)
        self.register_buffer("scale", torch.tensor(float(scale)))

    def _check(self, e):
        if e.dim() != 2 or e.shape[1] != self.dim:
            raise ValueError(f"encoder output must have shape (batch, {self.dim}), got {tuple(e.shape)}")
        return e * self.scale

    def sample_dither(self, batch, generator=None, device=None, dtype=torch.float32):
        return torch.rand(batch, self.dim, generator=generator, dtype=dtype) - 0.5

    def train_terms(self, e, generator=None):
        e = self._check(e)
        u = self.sample_dither(e.shape[0], generator, dtype=e.dtype)
        return {"decoder_input": e + u, "rate": 0.5 * e.pow(2).sum(-1), "aux": e.new_zeros(e.shape[0])}

    def inference_samples(self, e, k, generator=None):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        e = self._check(e)
        u = torch.rand(e.shape[0], k, self.dim, generator=generator, dtype=e.dtype) - 0.5
        q = torch.round(e[:, None] + u)
        return {"decoder_input": q - u, "log_ratio": -0.5 * q.double().pow(2).sum(-1)}

    def encode(self, e, u=None):
        return torch.round(self._check(e) + u).long()

    def decode(self, symbols, u=None):
        return symbols.to(u.dtype) - u


@pytest.fixture
def registry():
    """Remove the names a test registers."""
    before = dict(LATENTS)
    yield
    for name in set(LATENTS) - set(before):
        del LATENTS[name]
    LATENTS.update(before)


def test_register_latent_opens_the_registry(registry, tmp_path):
    register_latent("test-rounding", RoundingLatent)
    assert RoundingLatent.name == "test-rounding" and "test-rounding" in LATENTS
    assert check_latent("test-rounding", dim=6, scale=2.0)[-1] == "rebuild by name"
    model = VAE(ModelConfig(latent="test-rounding", hidden=8, latent_options={"scale": 0.5}))
    x = torch.bernoulli(torch.rand(4, 784, generator=gen(0)))
    assert torch.isfinite(model(x, generator=gen(1))["loss"])
    model.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "model_config.json").read_text())
    assert saved["latent_class"] == f"{__name__}:RoundingLatent"
    del LATENTS["test-rounding"]                      # a fresh process: the name is unknown ...
    loaded = VAE.load(tmp_path / "m")                 # ... and the recorded class registers it
    assert "test-rounding" in LATENTS and float(loaded.latent.scale) == 0.5
    model.eval()
    torch.testing.assert_close(loaded.log_weights(x, 3, gen(4)), model.log_weights(x, 3, gen(4)),
                               rtol=0, atol=0)


def test_register_latent_errors(registry):
    with pytest.raises(TypeError, match="needs a subclass of vae.latents.LatentLayer"):
        register_latent("x1", nn.Linear)
    with pytest.raises(TypeError, match="does not implement inference_samples, train_terms"):
        register_latent("x2", type("Half", (LatentLayer,), {}))
    with pytest.raises(ValueError, match="'E8' is a built-in latent"):
        register_latent("E8", RoundingLatent)
    with pytest.raises(ValueError, match="without spaces"):
        register_latent("my latent", RoundingLatent)
    register_latent("x3")(RoundingLatent)
    register_latent("x3", RoundingLatent)             # the same class again: fine (notebook re-run)
    other = type("Other", (RoundingLatent,), {})
    with pytest.raises(ValueError, match="taken by .*RoundingLatent; pass replace=True"):
        register_latent("x3", other)
    register_latent("x3", other, replace=True)
    assert LATENTS["x3"] is other
    with pytest.raises(ValueError, match=r"unknown latent 'nope'; valid: .*register_latent"):
        ModelConfig(latent="nope")


# ------------------------------------------------------------------ the latent contract
CONTRACT_CASES = {"gaussian": 8, "z-laplace": 8, "z2": 8, "a2": 8, "e8": 16, "vq": 8, "concrete": 8}


@pytest.mark.parametrize("name", sorted(CONTRACT_CASES))
def test_every_builtin_latent_meets_the_contract(name):
    checked = check_latent(name, dim=CONTRACT_CASES[name])
    assert checked == ["attributes", "train_terms", "inference_samples", "same seed, same numbers",
                       "bad input", "symbols", "rebuild by name"]


def _broken(method, body):
    return type(f"Broken_{method}", (RoundingLatent,), {method: body})


def _unseeded_train_terms(self, e, generator=None):
    return RoundingLatent.train_terms(self, e, None)              # global RNG: not reproducible


class _StateOutsideBuffers(RoundingLatent):
    def __init__(self, dim, scale=1.0):
        super().__init__(dim, scale)
        self.shift = torch.rand(())                                # neither parameter nor buffer

    def train_terms(self, e, generator=None):
        t = super().train_terms(e, generator)
        return {**t, "decoder_input": t["decoder_input"] + self.shift}


BROKEN = {
    "2 (train_terms)": [
        _broken("train_terms", lambda self, e, g=None: {**RoundingLatent.train_terms(self, e, g),
                                                         "rate": e.sum()}),                 # a scalar rate
        _broken("train_terms", lambda self, e, g=None: {**RoundingLatent.train_terms(self, e, g),
                                                         "decoder_input": e.detach()}),    # no gradient
    ],
    "3 (inference_samples)": [
        _broken("inference_samples", lambda self, e, k, g=None: {
            **RoundingLatent.inference_samples(self, e, k, g),
            "log_ratio": RoundingLatent.inference_samples(self, e, k, g)["log_ratio"].float()}),
    ],
    "4 (same seed, same numbers)": [_broken("train_terms", _unseeded_train_terms)],
    "5 (bad input)": [_broken("_check", lambda self, e: e * self.scale)],       # no width check
    "6 (symbols)": [_broken("encode", lambda self, e, u=None: torch.round(e + u))],   # float symbols
    "7 (rebuild by name)": [_StateOutsideBuffers],
}


@pytest.mark.parametrize("rule,index", [(r, i) for r, cases in BROKEN.items() for i in range(len(cases))])
def test_each_contract_rule_rejects_a_broken_latent(registry, rule, index):
    """Negative controls: the valid RoundingLatent passes, each broken variant fails its rule."""
    register_latent("test-ok", RoundingLatent)
    check_latent("test-ok", dim=4)
    register_latent("test-broken", BROKEN[rule][index])
    with pytest.raises(LatentContractError, match="latent contract, " + re.escape(rule)):
        check_latent("test-broken", dim=4)


def test_check_latent_usage_errors():
    with pytest.raises(TypeError, match="needs the hidden size dim"):
        check_latent("e8")
    with pytest.raises(TypeError, match="go with a registered name"):
        check_latent(build_latent("gaussian", 4), dim=4)
    with pytest.raises(TypeError, match="got Linear"):
        check_latent(nn.Linear(2, 2))


# ------------------------------------------------------------------ callbacks, logging, TensorBoard
class Recorder(Callback):
    def __init__(self):
        self.steps, self.epochs, self.summaries = [], [], []

    def on_step(self, *, epoch, step, terms):
        assert not terms["loss"].requires_grad and "per_example_loss" not in terms
        self.steps.append((epoch, step, float(terms["loss"])))

    def on_epoch_end(self, record):
        self.epochs.append(record)

    def on_train_end(self, summary):
        self.summaries.append(summary)


def test_callback_list_rejects_what_cannot_be_called():
    with pytest.raises(TypeError, match="a callback must be an object with any of the methods"):
        CallbackList([Recorder])                           # the class, not an instance
    with pytest.raises(TypeError, match="a callback must be an object"):
        CallbackList([print])
    assert not CallbackList([type("OnlyEpochs", (), {"on_epoch_end": lambda self, r: None})()]).wants_steps


@needs_data
@pytest.mark.usefixtures("vae_data_env")
def test_callbacks_and_logging_see_every_step_and_epoch_and_resume_continues(tmp_path, caplog):
    rec = Recorder()
    config = train.TrainConfig(**SMALL, model=ModelConfig(latent="e8", hidden=8).to_dict())
    with caplog.at_level(logging.INFO, logger="vae.train"):
        summary = train.train(config, tmp_path / "r", epochs=2, device="cpu", progress=False,
                              callbacks=[rec])
    steps_per_epoch = 300 // 50
    assert [s[:2] for s in rec.steps] == [(1 + i // steps_per_epoch, i + 1) for i in range(12)]
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert rec.epochs == [json.loads(line) for line in lines]
    assert rec.summaries == [summary] == [json.loads((tmp_path / "r" / "summary.json").read_text())]
    logged = [r.getMessage() for r in caplog.records if r.name == "vae.train"]
    assert len(logged) == 2 and logged[1].startswith("epoch 2: train loss")
    # the train loss of an epoch is the image-weighted mean of its batch losses (equal batches)
    mean = sum(s[2] for s in rec.steps[:steps_per_epoch]) / steps_per_epoch
    assert rec.epochs[0]["train_loss"] == pytest.approx(mean, rel=1e-5)       # float32 sums
    rec2 = Recorder()
    train.train(config, tmp_path / "r", resume=True, epochs=1, device="cpu", progress=False,
                callbacks=[rec2])
    assert [s[1] for s in rec2.steps] == list(range(13, 19)) and rec2.epochs[0]["epoch"] == 3


@needs_data
@pytest.mark.usefixtures("vae_data_env")
def test_tensorboard_option_writes_the_epoch_records(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, tb = tmp_path / "r", tmp_path / "tb"
    code = train.main(["--out", str(out), "--latent", "gaussian", "--hidden", "4", "--epochs", "2",
                       "--train-limit", "300", "--valid-limit", "100", "--batch-size", "50",
                       "--no-progress", "--device", "cpu", "--tensorboard", str(tb)])
    assert code == 0
    assert "epoch 2: train loss" in capsys.readouterr().err          # the CLI logs on stderr
    acc = EventAccumulator(str(tb))
    acc.Reload()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    scalars = acc.Scalars("epoch/valid_nll")
    assert [s.step for s in scalars] == [1, 2]
    # TensorBoard stores float32: relative round-off 6e-8
    assert [s.value for s in scalars] == pytest.approx([r["valid_nll"] for r in records], rel=1e-6)
    assert "epoch/train_code_length" not in acc.Tags()["scalars"]    # gaussian has no code length


@needs_data
@pytest.mark.usefixtures("vae_data_env")
def test_tensorboard_without_the_package_is_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)        # import fails
    code = train.main(["--out", str(tmp_path / "r"), "--latent", "gaussian", "--hidden", "4",
                       "--tensorboard", str(tmp_path / "tb")])
    assert code == 2
    assert "pip install 'lattice-representation-learning[tensorboard]'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ the trainer with your own model
@needs_data
@pytest.mark.usefixtures("vae_data_env")
def test_custom_model_trains_resumes_without_the_model_and_evaluates(tmp_path, capsys):
    """2 epochs straight == 1 epoch + a resume that rebuilds the networks from networks.pt."""
    config = train.TrainConfig(**SMALL, seed=1)
    train.train(config, tmp_path / "straight", model=custom_model(seed=5), epochs=2, device="cpu",
                progress=False)
    train.train(config, tmp_path / "split", model=custom_model(seed=5), epochs=1, device="cpu",
                progress=False)
    train.train(config, tmp_path / "split", resume=True, epochs=1, device="cpu", progress=False)
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=False)["model"]
            for d in ("straight", "split"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    saved = json.loads((tmp_path / "split" / "config.json").read_text())["model"]
    assert saved["encoder"] == f"{__name__}:TinyEncoder"
    model, _ = train.load_run(tmp_path / "split")
    assert isinstance(model.encoder, TinyEncoder)
    code = evaluate.main([str(tmp_path / "split"), "--samples", "1", "20", "--limit", "4", "--json",
                          "--no-progress", "--device", "cpu"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert math.isfinite(report["results"]["20"]["nll"])
    assert report["arch"] == f"encoder {__name__}:TinyEncoder, decoder {__name__}:TinyDecoder"
    with pytest.raises(ValueError, match="is not the one of the run"):
        train.train(config, tmp_path / "split", resume=True, epochs=1, device="cpu", progress=False,
                    model=custom_model("gaussian", hidden=4))


# ------------------------------------------------------------------ the worked examples of docs/vae.md
def _example(marker):
    text = DOCS.read_text()
    return text.split(f"<!-- example: {marker} -->\n```python\n", 1)[1].split("```", 1)[0]


@needs_data
@pytest.mark.usefixtures("vae_data_env")
def test_docs_conv_e8_example(tmp_path, monkeypatch, capsys):
    """The convolutional E8 example, saved as conv_e8.py and run as a script, as the docs say."""
    code = _example("conv-e8")
    user_lines = [line for line in code.splitlines() if line.strip()]
    assert len(user_lines) <= 45                                       # "about 40 lines"
    (tmp_path / "conv_e8.py").write_text(code)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "conv_e8", raising=False)
    scope = runpy.run_path(str(tmp_path / "conv_e8.py"), run_name="__main__")
    assert "test NLL (k = 100)" in capsys.readouterr().out
    summary, nll, model = scope["summary"], scope["nll"], scope["model"]
    assert summary["epochs"] == 1 and summary["latent"] == "e8"
    # one epoch must beat the coin-flip model (784 log 2 = 543.4 nats) on every image's bound
    assert nll.shape == (100,) and bool((nll < COIN_NLL).all()), nll.max()
    run = tmp_path / "runs" / "conv-e8"
    assert (run / "networks.pt").exists()
    assert json.loads((run / "config.json").read_text())["model"]["encoder"] == "conv_e8:ConvEncoder"
    loaded = VAE.load(tmp_path / "models" / "conv-e8")
    x = scope["x_test"][:8]
    torch.testing.assert_close(loaded.log_weights(x, 3, gen(0)), model.log_weights(x, 3, gen(0)),
                               rtol=0, atol=0)
    assert evaluate.main([str(run), "--samples", "5", "--limit", "3", "--no-progress",
                          "--device", "cpu"]) == 0                     # the CLI rebuilds the networks


@needs_data
@pytest.mark.usefixtures("vae_data_env")
def test_docs_own_training_loop_example(capsys):
    scope = {"__name__": "docs_own_loop"}
    exec(compile(_example("own-loop"), "docs/vae.md (own-loop)", "exec"), scope)
    assert "test NLL (k = 50)" in capsys.readouterr().out
    losses, nll = scope["losses"], scope["nll"]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first - 100, (first, last)        # seeded run: batch loss 568 -> 260 nats
    assert nll.dtype == torch.float64 and nll.shape == (100,) and bool((nll < COIN_NLL).all())
    assert scope["symbols"].dtype == torch.int64 and scope["symbols"].shape == (100, 16)
    pixels = scope["pixels"]
    assert pixels.shape == (100, 784) and bool(((pixels >= 0) & (pixels <= 1)).all())


@needs_data
@pytest.mark.usefixtures("vae_data_env")
def test_networks_that_cannot_be_recorded_still_train_with_a_warning(tmp_path, caplog):
    """A class that pickle cannot find by name (here: claims a module it is not in) cannot be
    saved (clear ValueError); the trainer warns and trains, and a class of __main__ warns."""
    Hidden = type("Hidden", (TinyDecoder,), {"__module__": "h16_nowhere"})
    model = VAE(ModelConfig(latent="e8", hidden=8), decoder=Hidden(8))
    with pytest.raises(ValueError, match="cannot save the custom networks \\(decoder\\)"):
        model.save(tmp_path / "m")
    with caplog.at_level(logging.WARNING, logger="vae"):
        summary = train.train(train.TrainConfig(**SMALL), tmp_path / "r", model=model, epochs=1,
                              device="cpu", progress=False)
    assert summary["epochs"] == 1 and not (tmp_path / "r" / "networks.pt").exists()
    assert any("cannot be recorded" in r.getMessage() for r in caplog.records)
    main = sys.modules["__main__"]
    InMain = type("InMain", (TinyDecoder,), {"__module__": "__main__"})
    monkey = pytest.MonkeyPatch()
    monkey.setattr(main, "InMain", InMain, raising=False)
    try:
        with caplog.at_level(logging.WARNING, logger="vae"):
            VAE(ModelConfig(latent="e8", hidden=8), decoder=InMain(8)).save(tmp_path / "main")
    finally:
        monkey.undo()
    assert any("classes of __main__ (__main__:InMain)" in r.getMessage() for r in caplog.records)
