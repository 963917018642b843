r"""The contract every latent layer meets, as a function a user can run on their own layer.

:func:`check_latent` runs the checks that the built-in layers pass (the test suite runs it on
each of them) on any :class:`~vae.latents.LatentLayer`, so that a layer registered with
:func:`vae.latents.register_latent` is known to work with :class:`vae.models.VAE`, the
trainer (:mod:`vae.train`), the importance-weighted evaluation (:mod:`vae.evaluate`) and
:meth:`vae.models.VAE.save` / ``load``::

    from vae.testing import check_latent
    check_latent(MyLatent(16))                 # raises LatentContractError naming the broken rule
    check_latent("my-latent", dim=16)          # also checks the registry and the rebuild by name

The contract (``B`` = batch, ``k`` = samples per input, ``m`` = ``layer.dim``):

1. ``dim`` and ``encoder_dim`` are positive ints; ``name`` is a non-empty string.
2. ``train_terms(e, generator)`` on ``e`` (B, encoder_dim) float32 returns a mapping with
   ``decoder_input`` (B, m) float32, ``rate`` and ``aux`` (B,), every further entry (B,), all
   finite; ``decoder_input`` back-propagates a finite, non-zero gradient into ``e`` (the
   reconstruction term trains the encoder through the layer), and so does the whole loss
   ``sum(decoder_input * w) + sum(rate) + sum(aux)``.
3. ``inference_samples(e, k, generator)`` returns ``decoder_input`` (B, k, m) float32 and
   ``log_ratio`` (B, k) float64, finite: :math:`\log p(z) - \log q(z|x)` of each sample, so that
   :math:`\log w = \text{log\_ratio} + \log p(x|z)` is an importance weight (Burda et al. 2016).
4. The same generator seed gives the same numbers (train and inference), on a copy of the layer.
5. Bad input is a ``ValueError``: an encoder output of the wrong width, ``k = 0``.
6. ``discrete = True``: ``encode(e, u)`` gives integer symbols with the batch first and
   ``decode(symbols, u)`` a finite (B, m) decoder input, both deterministic (``u`` from
   ``sample_dither`` for dithered lattice layers, else ``None``); ``discrete = False``:
   ``encode`` raises ``TypeError``.
7. By name: ``build_latent(name, dim, **options)`` builds the same class, which loads the
   layer's ``state_dict`` (strict) and then gives the same numbers: what ``VAE.load`` does.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping

import torch

from .latents import LatentLayer, build_latent, latent_class

__all__ = ["LatentContractError", "check_latent"]


class LatentContractError(AssertionError):
    """A latent layer breaks a rule of the contract (the message names the rule and the values)."""


def _require(ok: bool, rule: str, detail: str) -> None:
    if not ok:
        raise LatentContractError(f"latent contract, {rule}: {detail}")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_latent(layer, dim: int | None = None, *, batch: int = 6, k: int = 3, seed: int = 0,
                 **options) -> list[str]:
    """Check the latent-layer contract (module notes) on ``layer``; return the rules checked.

    The checks run on the CPU in float32 (move the layer there first).

    Parameters
    ----------
    layer : LatentLayer or str
        A layer instance, or a registered name (then built as
        ``build_latent(layer, dim, **options)`` and rule 7 is checked too).
    dim : int, optional
        Hidden size, with a name only.
    batch, k : int
        Batch size and samples per input of the checks.
    seed : int
        Seed of the encoder outputs and of the generators (same seed, same verdict).
    **options
        Latent options, with a name only.

    Returns
    -------
    list of str
        The rules that were checked (all passed).

    Raises
    ------
    LatentContractError
        The first rule broken, naming it and what was found.
    """
    name = None
    if isinstance(layer, str):
        if dim is None:
            raise TypeError("check_latent(name, dim=...) needs the hidden size dim with a name")
        name, layer = layer, build_latent(layer, dim, **options)
    elif dim is not None or options:
        raise TypeError("dim and latent options go with a registered name, not with a layer instance")
    if not isinstance(layer, LatentLayer):
        raise TypeError(f"check_latent needs a vae.latents.LatentLayer (or a registered name), "
                        f"got {type(layer).__name__}")
    checked = []
    _check_attributes(layer)
    checked.append("attributes")
    e = torch.randn(batch, layer.encoder_dim, generator=_generator(seed))       # (B, encoder_dim)
    layer.train()
    _check_train_terms(layer, e, seed)
    checked.append("train_terms")
    with torch.no_grad():
        _check_inference(layer, e, k, seed)
    checked.append("inference_samples")
    _check_same_seed(layer, e, k, seed)
    checked.append("same seed, same numbers")
    _check_bad_input(layer, e)
    checked.append("bad input")
    with torch.no_grad():
        _check_symbols(layer, e, seed)
    checked.append("symbols")
    if name is not None:
        _check_rebuild(layer, name, e, k, seed, options)
        checked.append("rebuild by name")
    return checked


def _check_attributes(layer):
    for attr in ("dim", "encoder_dim"):
        v = getattr(layer, attr)
        _require(isinstance(v, int) and not isinstance(v, bool) and v > 0, "1 (attributes)",
                 f"{attr} must be a positive int, got {v!r}")
    _require(isinstance(layer.name, str) and bool(layer.name), "1 (attributes)",
             f"name must be a non-empty string, got {layer.name!r}")


def _check_train_terms(layer, e, seed):
    e = e.clone().requires_grad_(True)
    terms = layer.train_terms(e, _generator(seed + 1))
    _require(isinstance(terms, Mapping), "2 (train_terms)", f"must return a mapping, got {type(terms).__name__}")
    missing = {"decoder_input", "rate", "aux"} - set(terms)
    _require(not missing, "2 (train_terms)", f"missing keys {sorted(missing)}")
    z = terms["decoder_input"]
    batch, m = e.shape[0], layer.dim
    _require(isinstance(z, torch.Tensor) and tuple(z.shape) == (batch, m) and z.dtype == e.dtype,
             "2 (train_terms)", f"decoder_input must be ({batch}, {m}) {e.dtype}, got "
             f"{tuple(getattr(z, 'shape', ()))} {getattr(z, 'dtype', type(z).__name__)}")
    for key, value in terms.items():
        if key == "decoder_input":
            continue
        _require(isinstance(value, torch.Tensor) and tuple(value.shape) == (batch,), "2 (train_terms)",
                 f"{key!r} must be a ({batch},) tensor (one value per example), got "
                 f"{tuple(getattr(value, 'shape', ())) or type(value).__name__}")
    for key, value in terms.items():
        _require(bool(torch.isfinite(value).all()), "2 (train_terms)", f"{key!r} has non-finite values")
    w = torch.randn(z.shape, generator=_generator(seed + 2))
    _require(z.requires_grad, "2 (train_terms)", "decoder_input does not depend on e differentiably: "
             "the reconstruction term could not train the encoder")
    (grad_z,) = torch.autograd.grad((z * w).sum(), e, retain_graph=True, allow_unused=True)
    _require(grad_z is not None and bool(torch.isfinite(grad_z).all()) and bool((grad_z != 0).any()),
             "2 (train_terms)", "the gradient of decoder_input with respect to e is missing, zero or "
             "non-finite")
    loss = (z * w).sum() + terms["rate"].sum() + terms["aux"].sum()
    loss.backward()
    _require(e.grad is not None and bool(torch.isfinite(e.grad).all()), "2 (train_terms)",
             "the gradient of the loss with respect to e is missing or non-finite")


def _check_inference(layer, e, k, seed):
    s = layer.inference_samples(e, k, _generator(seed + 3))
    _require(isinstance(s, Mapping) and {"decoder_input", "log_ratio"} <= set(s), "3 (inference_samples)",
             "must return a mapping with decoder_input and log_ratio")
    z, lr = s["decoder_input"], s["log_ratio"]
    batch, m = e.shape[0], layer.dim
    _require(tuple(z.shape) == (batch, k, m) and z.dtype == e.dtype, "3 (inference_samples)",
             f"decoder_input must be ({batch}, {k}, {m}) {e.dtype}, got {tuple(z.shape)} {z.dtype}")
    _require(tuple(lr.shape) == (batch, k) and lr.dtype == torch.float64, "3 (inference_samples)",
             f"log_ratio must be ({batch}, {k}) float64, got {tuple(lr.shape)} {lr.dtype}")
    _require(bool(torch.isfinite(z).all()) and bool(torch.isfinite(lr).all()), "3 (inference_samples)",
             "non-finite decoder_input or log_ratio")


def _outputs(layer, e, k, seed):
    with torch.no_grad():
        t = layer.train_terms(e, _generator(seed + 4))
        s = layer.inference_samples(e, k, _generator(seed + 5))
    return [t["decoder_input"], t["rate"], t["aux"], s["decoder_input"], s["log_ratio"]]


def _check_same_seed(layer, e, k, seed):
    twin = copy.deepcopy(layer)             # after the first train_terms: data-dependent init done
    for a, b, what in zip(_outputs(layer, e, k, seed), _outputs(twin, e, k, seed),
                          ("train decoder_input", "rate", "aux", "inference decoder_input", "log_ratio")):
        _require(torch.equal(a, b), "4 (same seed, same numbers)", f"{what} differs between two calls "
                 "with generators of the same seed")


def _check_bad_input(layer, e):
    wrong = torch.zeros(e.shape[0], layer.encoder_dim + 1)
    for what, call in (("train_terms", lambda: layer.train_terms(wrong, _generator(0))),
                       ("inference_samples", lambda: layer.inference_samples(wrong, 1, _generator(0))),
                       ("inference_samples with k = 0", lambda: layer.inference_samples(e, 0))):
        try:
            with torch.no_grad():
                call()
        except ValueError:
            continue
        except Exception as exc:       # noqa: BLE001 - any other failure breaks the rule too
            raise LatentContractError(f"latent contract, 5 (bad input): {what} raised "
                                      f"{type(exc).__name__} ({exc}); expected ValueError") from exc
        raise LatentContractError(f"latent contract, 5 (bad input): {what} accepted "
                                  + ("k = 0" if "k = 0" in what else
                                     f"an encoder output of width {layer.encoder_dim + 1} "
                                     f"(encoder_dim is {layer.encoder_dim})"))


def _check_symbols(layer, e, seed):
    if not layer.discrete:
        try:
            layer.encode(e)
        except TypeError:
            return
        raise LatentContractError("latent contract, 6 (symbols): discrete = False but encode() did "
                                  "not raise TypeError")
    try:
        u = layer.sample_dither(e.shape[0], _generator(seed + 6))
    except TypeError:
        u = None                                    # not a dithered lattice layer
    symbols = layer.encode(e, u)
    _require(isinstance(symbols, torch.Tensor) and not symbols.dtype.is_floating_point
             and symbols.shape[0] == e.shape[0], "6 (symbols)",
             f"encode must return integer symbols with the batch first, got "
             f"{getattr(symbols, 'dtype', type(symbols).__name__)} {tuple(getattr(symbols, 'shape', ()))}")
    _require(torch.equal(symbols, layer.encode(e, u)), "6 (symbols)", "encode is not deterministic")
    z = layer.decode(symbols, u)
    _require(tuple(z.shape) == (e.shape[0], layer.dim) and bool(torch.isfinite(z).all()), "6 (symbols)",
             f"decode must return a finite ({e.shape[0]}, {layer.dim}) tensor, got {tuple(z.shape)}")
    _require(torch.equal(z, layer.decode(symbols, u)), "6 (symbols)", "decode is not deterministic")


def _check_rebuild(layer, name, e, k, seed, options):
    _require(latent_class(name) is type(layer), "7 (rebuild by name)",
             f"build_latent({name!r}) does not build {type(layer).__qualname__}")
    fresh = build_latent(name, layer.dim, **options)
    try:
        fresh.load_state_dict(layer.state_dict())
    except RuntimeError as exc:
        raise LatentContractError(f"latent contract, 7 (rebuild by name): a fresh {name!r} layer "
                                  f"cannot load the layer's state_dict ({exc})") from exc
    for a, b in zip(_outputs(layer, e, k, seed), _outputs(fresh, e, k, seed)):
        _require(torch.equal(a, b), "7 (rebuild by name)",
                 "a fresh layer with the loaded state_dict gives other numbers (state kept outside "
                 "parameters and buffers?)")
