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

**Your own networks.** ``VAE(config, encoder=my_encoder, decoder=my_decoder)`` takes any pair
of ``nn.Module``: the encoder maps a batch of flattened images ``(batch, input_dim)`` to
``(batch, latent.encoder_dim)``, the decoder maps ``(batch, hidden)`` to Bernoulli logits
``(batch, input_dim)``.  Both widths are checked at construction by one forward pass of a
zero batch (a clear ``ValueError`` otherwise).  The import path of a custom network's class
is recorded in ``config.encoder`` / ``config.decoder`` (``"module:QualName"``), and
:meth:`VAE.save` stores its structure beside the weights so that :meth:`VAE.load` rebuilds
it where that module can be imported.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from lattices.utils.io import atomic_write, atomic_write_text

from .importing import IMPORT_ERRORS, import_object
from .latents import LATENTS, build_latent, latent_class, register_latent

logger = logging.getLogger(__name__)

__all__ = ["ARCHS", "ModelConfig", "GatedLayer", "build_network", "VAE", "bernoulli_log_likelihood",
           "model_for_state", "class_path", "save_networks", "load_networks"]

ARCHS = ("linear", "gated")

#: The widest layer (``hidden``, ``gate_width``, ``input_dim``) a config may ask for.  The paper's
#: widest is 300 (the gated layer) and its largest latent 200; a 784 x 65536 float32 layer with
#: its gradient and Adam's two moments takes 0.8 GB, about what a laptop can train.  A larger
#: value is refused before anything is allocated (before: the allocator's traceback, or a hang).
MAX_LAYER_WIDTH = 1 << 16


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
    encoder, decoder : ``None`` (built from ``arch``) or the ``"module:QualName"`` of a custom
        network passed to :class:`VAE` (filled in by the VAE; ``arch`` is then unused for it).
    """

    latent: str = "gaussian"
    arch: str = "linear"
    hidden: int = 32
    input_dim: int = 784
    gate_width: int = 300
    latent_options: dict = field(default_factory=dict)
    encoder: str | None = None
    decoder: str | None = None

    def __post_init__(self):
        if str(self.latent).lower() not in LATENTS:
            raise ValueError(f"unknown latent {self.latent!r}; valid: {', '.join(LATENTS)} "
                             f"(or a name added with vae.latents.register_latent)")
        self.latent = str(self.latent).lower()
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; valid: {', '.join(ARCHS)}")
        for name in ("hidden", "input_dim", "gate_width"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
            if v > MAX_LAYER_WIDTH:
                raise ValueError(f"{name} {v} is too large: at most {MAX_LAYER_WIDTH} (the widest layer "
                                 f"this toolkit builds; the paper's widest is 300)")
        latent_class(self.latent).check_options(self.latent_options)   # typed, without building
        for name in ("encoder", "decoder"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or ":" not in v):
                raise ValueError(f"{name} must be None or the 'module:QualName' of a network class, "
                                 f"got {v!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def arch_label(self) -> str:
        """``arch``, or what replaces it: ``"encoder mod:Enc, decoder linear"`` for custom networks."""
        if self.encoder is None and self.decoder is None:
            return self.arch
        return f"encoder {self.encoder or self.arch}, decoder {self.decoder or self.arch}"

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
    """Encoder, latent layer and Bernoulli decoder (config + model, after pythae).

    Parameters
    ----------
    config : ModelConfig
        The latent, its size and options, and the built-in architecture (``arch``).
    encoder, decoder : nn.Module, optional
        Your own networks.  The encoder maps ``(batch, config.input_dim)`` to
        ``(batch, latent.encoder_dim)`` (``2 * hidden`` for ``gaussian``, ``hidden`` for the
        lattice latents), the decoder maps ``(batch, hidden)`` to ``(batch, input_dim)``
        logits.  Omitted: built from ``config.arch``.

    Raises
    ------
    ValueError
        A network whose output width is wrong (or that fails on a batch of the stated input
        width), or a config that names a custom network which is not passed.
    TypeError
        ``encoder`` / ``decoder`` not an ``nn.Module``.

    >>> model = VAE(ModelConfig(latent="gaussian", arch="linear", hidden=4))
    >>> out = model(torch.zeros(2, 784), generator=torch.Generator().manual_seed(0))
    >>> sorted(k for k in out if not k.startswith("per_example"))
    ['aux', 'loss', 'rate', 'recon']
    >>> VAE(ModelConfig(latent="e8", hidden=16), encoder=nn.Linear(784, 8))
    Traceback (most recent call last):
    ...
    ValueError: the encoder maps a (2, 784) batch to shape (2, 8); the 'e8' latent with hidden=16 needs (2, 16) (latent.encoder_dim)
    """

    def __init__(self, config: ModelConfig, encoder: nn.Module | None = None,
                 decoder: nn.Module | None = None):
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a vae.models.ModelConfig, got {type(config).__name__}")
        self.latent = build_latent(config.latent, config.hidden, **config.latent_options)
        self.encoder = _network("encoder", encoder, config.encoder, config.arch, config.input_dim,
                                self.latent.encoder_dim, config.gate_width)
        self.decoder = _network("decoder", decoder, config.decoder, config.arch, config.hidden,
                                config.input_dim, config.gate_width)
        self.config = dataclasses.replace(
            config, encoder=None if encoder is None else class_path(encoder),
            decoder=None if decoder is None else class_path(decoder))
        need = f"the {config.latent!r} latent with hidden={config.hidden} needs"
        _check_width(self.encoder, "encoder", config.input_dim, self.latent.encoder_dim,
                     f"{need} (2, {self.latent.encoder_dim}) (latent.encoder_dim)")
        _check_width(self.decoder, "decoder", config.hidden, config.input_dim,
                     f"input_dim={config.input_dim} needs (2, {config.input_dim}) logits")

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
        z = samples["decoder_input"]                                                   # (batch, k, m)
        return self.log_likelihood(z, x).double() + samples["log_ratio"]

    #: decoder outputs per slice in :meth:`log_likelihood` (4 MB in float32): large enough for
    #: the matrix products' speed, small enough that the temporaries are reused from the heap.
    #: One slice of 2^24 outputs (the evaluation's default chunk) spent as long in page faults
    #: as in arithmetic: k = 1000 on 100 images, linear h32, one thread, one slice against
    #: 2^20-output slices: Gaussian 0.55 s against 0.14 s, E8/dgauss 1.02 against 0.61
    #: (docs/performance.md, "Third round").
    decode_slice_elements = 2 ** 20

    def log_likelihood(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\log p(x|z)` (batch, k) for decoder inputs ``z`` (batch, k, m) and images ``x``
        (batch, input_dim), the decoder run on slices of the k samples: the same numbers as one call
        up to float32 round-off of differently shaped matrix products (bit for bit for the built-in
        networks except gated Concrete, 7e-8 nats; ``tests/test_vae_api.py``)."""
        B, k = z.shape[:2]
        step = max(1, self.decode_slice_elements // max(1, B * x.shape[-1]))
        if step >= k:
            logits = self.decoder(z.reshape(-1, z.shape[-1])).reshape(B, k, -1)     # (batch, k, 784)
            return bernoulli_log_likelihood(logits, x[:, None, :])
        out = torch.empty((B, k), dtype=z.dtype, device=z.device)
        for j in range(0, k, step):
            zj = z[:, j:j + step]
            logits = self.decoder(zj.reshape(-1, z.shape[-1])).reshape(B, zj.shape[1], -1)
            out[:, j:j + step] = bernoulli_log_likelihood(logits, x[:, None, :])
        return out

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


    def save(self, directory) -> Path:
        """Write the model to ``directory``: ``model_config.json``, ``model.pt`` (the weights)
        and, for custom networks, ``networks.pt`` (their structure, without weights).

        The files are written atomically.  A custom network's class must be importable by
        :meth:`load` (defined at module level); one defined inside a function is refused here.
        Returns the directory.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_networks(self, directory)
        atomic_write(directory / _WEIGHTS, lambda fh: torch.save(self.state_dict(), fh))
        meta = {"format": _SAVE_FORMAT, "config": self.config.to_dict(),
                "latent_class": class_path(self.latent), "torch": torch.__version__}
        atomic_write_text(directory / _MODEL_CONFIG, json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return directory

    @classmethod
    def load(cls, directory, device="cpu") -> "VAE":
        """The model saved by :meth:`save` in ``directory``, in eval mode, on ``device``.

        A user latent (:func:`vae.latents.register_latent`) is registered by importing the
        module recorded in ``model_config.json``; custom networks are rebuilt from
        ``networks.pt``, which imports their classes.

        .. warning:: ``networks.pt`` is a pickle: load only directories you trust.

        Raises
        ------
        FileNotFoundError
            ``directory`` holds no saved model.
        ValueError
            A saved file that cannot be read back, named with what is wrong:
            ``model_config.json`` that is not JSON or not a saved model's config (e.g. ``{}``),
            ``model.pt`` empty, truncated or not a state dict, or weights that do not fit the
            config (e.g. its ``hidden`` edited): :class:`vae.checkpoints.CorruptCheckpointError`.
        ImportError
            The module of a custom network or latent cannot be imported (the message names it).
        """
        from .checkpoints import load_checkpoint

        directory = Path(directory)
        path = directory / _MODEL_CONFIG
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: {directory} is not a directory written by "
                                    f"VAE.save")
        config = _read_model_config(path)
        weights = directory / _WEIGHTS
        state = load_checkpoint(weights, device, keys=(), kind="state dict of a model's weights")
        model = _model_for_saved_weights(config, state, load_networks(directory, config), weights, path)
        return model.to(device).eval()


_MODEL_CONFIG, _WEIGHTS, _NETWORKS, _SAVE_FORMAT = "model_config.json", "model.pt", "networks.pt", 1


def class_path(obj) -> str:
    """``"module:QualName"`` of the class of ``obj`` (how :meth:`VAE.load` finds it again)."""
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_class(path: str, what: str, source) -> type:
    """The class at ``"module:QualName"``; ``ImportError`` naming what is missing otherwise."""
    module_name = path.partition(":")[0]
    hint = ("it was defined in a script or notebook (__main__) when saved: define it in a module "
            "that can be imported" if module_name == "__main__" else
            "install that module or put it on PYTHONPATH")
    try:
        return import_object(path)
    except IMPORT_ERRORS as exc:
        raise ImportError(f"{what} recorded in {source} is the class {path!r}, which cannot be "
                          f"imported ({exc}); {hint}") from exc


def _network(role, module, recorded, arch, n_in, n_out, gate_width) -> nn.Module:
    if module is None:
        if recorded is not None:
            raise ValueError(f"the config names a custom {role} {recorded!r}: pass {role}=<that "
                             f"nn.Module> to VAE, or rebuild the saved model with VAE.load(dir)")
        return build_network(arch, n_in, n_out, gate_width)
    if not isinstance(module, nn.Module):
        raise TypeError(f"{role} must be a torch.nn.Module, got {type(module).__name__}")
    return module


def _check_width(net: nn.Module, role: str, n_in: int, n_out: int, need: str) -> None:
    """One forward pass of a zero batch (2, n_in) in eval mode: the output must be (2, n_out)."""
    param = next(iter(net.parameters()), None)
    kwargs = {} if param is None else {"device": param.device, "dtype": param.dtype}
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(torch.zeros(2, n_in, **kwargs))
    except Exception as exc:
        raise ValueError(f"the {role} fails on a (2, {n_in}) batch ({type(exc).__name__}: {exc}); "
                         f"{need}") from exc
    finally:
        net.train(was_training)
    shape = tuple(getattr(out, "shape", ()))
    if not isinstance(out, torch.Tensor) or shape != (2, n_out):
        got = f"shape {shape}" if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
        raise ValueError(f"the {role} maps a (2, {n_in}) batch to {got}; {need}")


def save_networks(model: VAE, directory) -> Path | None:
    """Write the structure of ``model``'s custom networks to ``directory/networks.pt``.

    The networks are pickled on the ``meta`` device (no weights: those live in the model's
    state dict), so the file is small; their classes are found again by import path.
    Returns the path, or ``None`` when both networks are built from ``config.arch``.

    Raises
    ------
    ValueError
        A custom network whose class cannot be found again by import path (defined inside a
        function, or not where its ``__module__`` says).  A class of ``__main__`` is saved with
        a warning: only a process whose ``__main__`` defines it can load it.
    """
    nets = {role: getattr(model, role) for role in ("encoder", "decoder")
            if getattr(model.config, role) is not None}
    if not nets:
        return None
    for role, net in nets.items():
        for sub in net.modules():
            if "<locals>" in type(sub).__qualname__:
                raise ValueError(f"cannot save the {role}: its part {class_path(sub)!r} is a class "
                                 f"defined inside a function, which VAE.load cannot import; define "
                                 f"it at module level")
        in_main = sorted({class_path(sub) for sub in net.modules() if type(sub).__module__ == "__main__"})
        if in_main:
            logger.warning("the %s uses classes of __main__ (%s): only a process whose __main__ "
                           "defines them can load it; put them in a module to load it anywhere",
                           role, ", ".join(in_main))
    skeletons = {role: copy.deepcopy(net).to("meta") for role, net in nets.items()}
    path = Path(directory) / _NETWORKS
    try:
        atomic_write(path, lambda fh: torch.save(skeletons, fh))
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise ValueError(f"cannot save the custom networks ({', '.join(nets)}): a class cannot be "
                         f"found again by its import path ({exc}); define it at module level in "
                         f"an importable module") from exc
    return path


def load_networks(directory, config: ModelConfig) -> dict:
    """The custom networks that ``config`` names, rebuilt from ``directory/networks.pt``.

    Returns ``{"encoder": module, "decoder": module}`` with the entries ``config`` names (empty
    for built-in architectures); their parameters are allocated but uninitialized, ready for
    ``load_state_dict``.  ``FileNotFoundError`` / ``ImportError`` say what is missing.
    """
    roles = [role for role in ("encoder", "decoder") if getattr(config, role) is not None]
    if not roles:
        return {}
    path = Path(directory) / _NETWORKS
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the model uses the custom "
                                f"{' and '.join(f'{r} {getattr(config, r)!r}' for r in roles)}, whose "
                                f"structure is saved there by VAE.save / vae.train")
    for role in roles:
        _import_class(getattr(config, role), f"the {role}", path)     # a clear error first
    try:
        skeletons = torch.load(path, map_location="meta", weights_only=False)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"{path}: a part of the custom networks cannot be imported ({exc}); "
                          f"install its module or put it on PYTHONPATH") from exc
    return {role: skeletons[role].to_empty(device="cpu") for role in roles}


#: Keys that :meth:`VAE.load` requires in a saved config (nothing that fixes the weights' shapes
#: is filled in from defaults).
_REQUIRED_MODEL_KEYS = ("latent", "arch", "hidden")


def _read_model_config(path: Path) -> ModelConfig:
    """The :class:`ModelConfig` of ``model_config.json`` (:meth:`VAE.save`); a file that is not JSON
    or not such a config is a ``ValueError`` naming ``path`` and what is wrong.  A user latent
    recorded there is registered by importing its module."""
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); it should be the model_config.json "
                         f"written by VAE.save") from None
    config = meta.get("config") if isinstance(meta, dict) else None
    if not isinstance(config, dict):
        raise ValueError(f"{path} holds no model config (expected an object with a 'config' "
                         f"object, as VAE.save writes it; got {json.dumps(meta)[:80]})")
    missing = [key for key in _REQUIRED_MODEL_KEYS if key not in config]
    if missing:
        raise ValueError(f"{path}: the config lacks {', '.join(missing)} (nothing that fixes the "
                         f"weights' shapes is filled in from defaults)")
    if str(config["latent"]).lower() not in LATENTS:       # a user latent: import registers it
        latent = _import_class(meta.get("latent_class", ""), f"the latent {config['latent']!r}", path)
        if str(config["latent"]).lower() not in LATENTS:
            register_latent(config["latent"], latent)
    try:
        return ModelConfig.from_dict(config)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def _model_for_saved_weights(config: ModelConfig, state: dict, networks: dict, weights: Path,
                             config_path: Path) -> VAE:
    """The VAE of ``config`` holding ``state`` (read from ``weights``); weights that do not fit the
    config are a :class:`vae.checkpoints.CorruptCheckpointError` naming both files."""
    from .checkpoints import CorruptCheckpointError, load_weights, weights_mismatch

    bad = [key for key, value in state.items() if not isinstance(key, str) or not torch.is_tensor(value)]
    if bad:
        raise CorruptCheckpointError(f"{weights} is not a model's state dict (entry {bad[0]!r} is not "
                                     f"a named tensor)")
    try:
        model = model_for_state(config, state, **networks)
    except (RuntimeError, KeyError, IndexError, ValueError) as exc:
        raise CorruptCheckpointError(weights_mismatch(exc, config, weights, config_path)) from None
    load_weights(model, state, weights, config_path)
    return model


def model_for_state(config: ModelConfig, state_dict=None, encoder: nn.Module | None = None,
                    decoder: nn.Module | None = None) -> VAE:
    """The VAE of ``config`` that can hold ``state_dict`` (a saved ``model.state_dict()``).

    The latent class reads what its options leave to defaults from the state
    (:meth:`vae.latents.LatentLayer.options_for_state`): a Gaussian-proxy latent asks its prior
    family (:meth:`vae.priors.Prior.options_for_state`), e.g. a paper prior whose config leaves
    ``max_norm`` (K) to the default is built with the K the state was trained with, and a state
    saved without a ``prior`` option loads with the family that recognizes it.  So a run saved
    under an earlier default still loads, resumes and evaluates as it was trained.
    ``encoder`` / ``decoder``: the custom networks ``config`` names (see :func:`load_networks`).
    """
    if state_dict is not None:
        latent_state = {k[len("latent."):]: v for k, v in state_dict.items() if k.startswith("latent.")}
        options = latent_class(config.latent).options_for_state(dict(config.latent_options), latent_state)
        if options != config.latent_options:
            config = dataclasses.replace(config, latent_options=options)
    return VAE(config, encoder=encoder, decoder=decoder)
