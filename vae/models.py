r"""Encoders, decoders and the VAE that joins them through a latent layer (Sec. 4.1).

Architectures (paper, Sec. 4.1; the decoder mirrors the encoder with the input and output
widths swapped):

* ``linear``: :math:`z = xA + b`;
* ``gated``: :math:`z = \mathrm{relu}(\sigma(xG + b_0) \odot (xA_1 + b_1))A_2 + b_2`
  (the gated layer of Tomczak & Welling 2018, one gated layer of width ``gate_width``
  followed by a fully connected layer).

The likelihood is Bernoulli on the 784 pixels: the decoder outputs logits and
:math:`-\log p(x|z) = \mathrm{BCEWithLogits}` summed over pixels (nats).

:class:`VAE` holds ``encoder -> latent -> decoder``.  ``forward(x)`` returns the training
dict (``loss`` and its parts, per-batch means, plus per-example tensors), and
:meth:`VAE.log_weights` the importance weights of the evaluated model, from which
:func:`vae.evaluate.iwae_nll` forms the k-sample bound.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from .latents import LATENTS, build_latent

__all__ = ["ARCHS", "ModelConfig", "GatedLayer", "build_network", "VAE", "bernoulli_log_likelihood",
           "model_for_state"]

ARCHS = ("linear", "gated")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model (saved as JSON beside the weights).

    Attributes
    ----------
    latent : one of :data:`vae.latents.LATENTS`.
    arch : ``"linear"`` or ``"gated"``.
    hidden : latent size m (paper: 16, 24, 32, 200).
    input_dim : pixels (784 for 28x28).
    gate_width : width of the gated layer of the ``gated`` architecture.
    latent_options : keyword options of the latent layer (see its class).
    """

    latent: str = "gaussian"
    arch: str = "linear"
    hidden: int = 32
    input_dim: int = 784
    gate_width: int = 300
    latent_options: dict = field(default_factory=dict)

    def __post_init__(self):
        if str(self.latent).lower() not in LATENTS:
            raise ValueError(f"unknown latent {self.latent!r}; valid: {', '.join(LATENTS)}")
        self.latent = str(self.latent).lower()
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; valid: {', '.join(ARCHS)}")
        for name in ("hidden", "input_dim", "gate_width"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class GatedLayer(nn.Module):
    r""":math:`\sigma(xG + b_0) \odot (xA_1 + b_1)` (Dauphin et al. 2017; Tomczak & Welling 2018)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.gate = nn.Linear(n_in, n_out)
        self.value = nn.Linear(n_in, n_out)

    def forward(self, x):
        return torch.sigmoid(self.gate(x)) * self.value(x)


def build_network(arch: str, n_in: int, n_out: int, gate_width: int = 300) -> nn.Module:
    """``linear``: ``x A + b``; ``gated``: ``relu(GatedLayer(x)) A2 + b2`` (Sec. 4.1)."""
    if arch == "linear":
        return nn.Linear(n_in, n_out)
    if arch == "gated":
        return nn.Sequential(GatedLayer(n_in, gate_width), nn.ReLU(), nn.Linear(gate_width, n_out))
    raise ValueError(f"unknown arch {arch!r}; valid: {', '.join(ARCHS)}")


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r""":math:`\log p(x|z) = \sum_i x_i \log\sigma(l_i) + (1-x_i)\log\sigma(-l_i)` over the last axis."""
    return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)


class VAE(nn.Module):
    """Encoder, latent layer and Bernoulli decoder (config + model, STYLE 9).

    >>> model = VAE(ModelConfig(latent="gaussian", arch="linear", hidden=4))
    >>> out = model(torch.zeros(2, 784), generator=torch.Generator().manual_seed(0))
    >>> sorted(k for k in out if not k.startswith("per_example"))
    ['aux', 'loss', 'rate', 'recon']
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.latent = build_latent(config.latent, config.hidden, **config.latent_options)
        self.encoder = build_network(config.arch, config.input_dim, self.latent.encoder_dim,
                                     config.gate_width)
        self.decoder = build_network(config.arch, config.hidden, config.input_dim, config.gate_width)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        """Training objective for a batch ``x`` (batch, 784).

        Returns ``loss`` (mean over the batch of recon + rate + aux), the means ``recon``,
        ``rate``, ``aux``, the means of any diagnostics of the latent layer, and
        ``per_example_loss`` (batch,) = recon + rate + aux.
        """
        terms = self.latent.train_terms(self.encoder(x), generator)
        recon = -bernoulli_log_likelihood(self.decoder(terms["decoder_input"]), x)   # (batch,)
        per_example = recon + terms["rate"] + terms["aux"]
        out = {"loss": per_example.mean(), "recon": recon.mean(), "rate": terms["rate"].mean(),
               "aux": terms["aux"].mean(), "per_example_loss": per_example}
        for key, value in terms.items():
            if key not in ("decoder_input", "rate", "aux"):
                out[key] = value.mean()
        return out

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance log-weights (batch, k), float64, of the evaluated (inference-time) model.

        :math:`\\log w_i = \\log p(x|z_i) + \\log p(z_i) - \\log q(z_i|x)`; for lattice latents
        the samples are k dithers and the prior term is minus the code length (10), the
        reconstruction term (9) (Sec. 3.6.3).
        """
        samples = self.latent.inference_samples(self.encoder(x), k, generator)
        logits = self.decoder(samples["decoder_input"])                               # (batch, k, 784)
        log_px = bernoulli_log_likelihood(logits, x[:, None, :])                       # (batch, k)
        return log_px.double() + samples["log_ratio"]

    def encode(self, x: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """The discrete symbols of ``x`` (lattice coordinates for lattice latents, given the dither ``u``)."""
        return self.latent.encode(self.encoder(x), u)

    def decode(self, symbols: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """Bernoulli pixel probabilities (batch, 784) from symbols (and the same dither ``u``)."""
        return torch.sigmoid(self.decoder(self.latent.decode(symbols, u)))

    def compress(self, x: torch.Tensor, seed: int = 0, **options) -> bytes:
        """A real bitstream of images ``x`` (n, input_dim), dithers from ``seed`` (:func:`vae.codec.compress`)."""
        from .codec import compress

        return compress(self, x, seed, **options)

    def decompress(self, data: bytes, **options) -> dict:
        """Symbols, decoder inputs and reconstructions of a bitstream (:func:`vae.codec.decompress`)."""
        from .codec import decompress

        return decompress(self, data, **options)


#: The state entry that fixes the prior's support: one class index per norm 0..K (theory.prior).
_SUPPORT_KEY = "latent.prior._class_of_norm"


def model_for_state(config: ModelConfig, state_dict=None) -> VAE:
    """The VAE of ``config`` that can hold ``state_dict`` (a saved ``model.state_dict()``).

    A Gaussian-proxy latent whose config leaves the prior support ``max_norm`` (K) to the
    default is built with the K the state was trained with (the length of
    ``latent.prior._class_of_norm`` minus one), so that a run saved under an earlier default
    still loads, resumes and evaluates as it was trained.  Anything else: ``VAE(config)``.
    """
    if state_dict is not None and _SUPPORT_KEY in state_dict and "max_norm" not in config.latent_options:
        saved_k = int(state_dict[_SUPPORT_KEY].shape[0]) - 1
        config = dataclasses.replace(config, latent_options={**config.latent_options, "max_norm": saved_k})
    return VAE(config)
