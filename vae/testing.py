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

import numpy as np
import torch

from .latents import LatentLayer, build_latent, latent_class

__all__ = ["LatentContractError", "check_latent", "PriorContractError", "check_prior"]


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


# =============================================================================================
# The prior contract
# =============================================================================================
class PriorContractError(AssertionError):
    """A prior breaks a rule of the contract (the message names the rule and the values)."""


def _prior_require(ok: bool, rule: str, detail: str) -> None:
    if not ok:
        raise PriorContractError(f"prior contract, {rule}: {detail}")


#: Tolerances of :func:`check_prior` (module notes of the contract, below).
PRIOR_ROUND_OFF = 1e-9          # float64 sums of a few 10^5 probabilities, relative
KERNEL_TOLERANCE = 1e-9         # fused against eager, relative (float64 kernels)
BITS_PER_SYMBOL = 0.05          # 24-bit quantized pmf against -log2 p, per block and image
BALL_MAX_NORM = 64              # the normalization ball's largest de-scaled norm


def _prior_inputs(prior, batch: int, seed: int):
    """Integer coefficients (batch, R, n) of points near the origin and de-scaled dithers (batch, R, n)."""
    lat = prior.lattice
    rng = np.random.default_rng(seed)
    R, n = prior.n_blocks, prior.dim
    u = lat.sample_cell(batch * R, rng=rng)                                    # (B R, n) in P_0
    spread = np.where(np.arange(batch) % 2 == 0, 0.3, 1.5).repeat(R)[:, None]  # near the origin, and wider
    x = rng.normal(size=(batch * R, n)) * spread * abs(lat.volume) ** (1 / n)
    a = lat.nearest(x + u)
    coords = np.rint(lat.to_coordinates(a)).astype(np.int64)
    return (torch.as_tensor(coords.reshape(batch, R, n)),
            torch.as_tensor(u.reshape(batch, R, n), dtype=torch.float64))


def check_prior(prior, *, batch: int = 12, seed: int = 0, max_points: int = 200_000,
                tail_tolerance: float | None = None) -> list[str]:
    r"""Check the prior contract on ``prior`` (a :class:`vae.priors.Prior`); return the rules checked.

    The contract every built-in prior passes (``R`` blocks of an ``n``-dimensional lattice):

    1. *structure*: a :class:`vae.priors.Prior` with a family name, ``n_blocks``, ``dim`` and
       ``lattice`` that agree.
    2. *log-pmf*: ``log_prob_coords`` of integer coefficients (B, R, n) and dithers (B, R, n) is
       (B, R), finite, at most 0, deterministic; a float ``coords`` tensor is a ``ValueError``.
    3. *normalization*: for two dithers per block, the pmf summed over every lattice point of
       de-scaled norm up to ``K`` (enumerated; ``K`` = the prior's ``support_max_norm()`` when
       finite, else the largest norm up to 64 whose ball holds at most ``max_points`` points) is at most
       :math:`1 + 10^{-9}` and, when the ball holds the whole support, at least :math:`1 - 10^{-9}`;
       otherwise at least ``1 - tail_tolerance`` when it is given (the mass a caller knows to lie
       in the ball, e.g. ``1e-6`` for a concentrated prior; not checked by default).
    4. *kernels*: the fused path (``use_kernel("auto")``, with gradients recorded) equals the eager
       reference (``log_prob_eager``) to :data:`KERNEL_TOLERANCE` (relative), values and gradients.
    5. *gradients*: the summed log-pmf back-propagates finite gradients into the parameters, not
       all zero.
    6. *code length*: the prior's coder codes B images with coded bits per image at most
       :math:`-\log_2 p` plus :data:`BITS_PER_SYMBOL` bits per block (the 24-bit quantization of the
       pmfs), and at least :math:`-\log_2 p` minus as much for the images whose every block costs
       under 20 bits (a symbol rarer than :math:`2^{-24}` is floored to frequency 1 and may cost less).
    7. *round trip*: what the coder pushes, it pops back exactly, leaving the stack empty.
    8. *threads*: the bytes are identical with 1 and 2 torch threads.
    9. *untrained and state*: ``untrained()`` has the same family and ``state_dict`` structure, and
       after loading this prior's state gives the same log-pmf (what ``VAE.load`` relies on).

    Raises :class:`PriorContractError` naming the first broken rule.
    """
    import math

    import constriction

    from vae.priors import Prior

    from theory.lattice_prior import enumerate_points

    if not isinstance(prior, Prior):
        raise TypeError(f"check_prior needs a vae.priors.Prior, got {type(prior).__name__}")
    checked = []
    R, n = getattr(prior, "n_blocks", None), getattr(prior, "dim", None)
    lat = getattr(prior, "lattice", None)
    _prior_require(isinstance(prior.family, str) and bool(prior.family), "1 (structure)",
                   f"family must be a non-empty string, got {prior.family!r}")
    _prior_require(isinstance(R, int) and R > 0 and isinstance(n, int) and lat is not None and lat.dim == n,
                   "1 (structure)", f"n_blocks={R!r}, dim={n!r}, lattice={lat!r} must agree")
    checked.append("structure")

    coords, u = _prior_inputs(prior, batch, seed)
    with torch.no_grad():
        lp = prior.log_prob_coords(coords, u)
        again = prior.log_prob_coords(coords, u)
    _prior_require(tuple(lp.shape) == (batch, R), "2 (log-pmf)", f"shape {tuple(lp.shape)}, want {(batch, R)}")
    _prior_require(bool(torch.isfinite(lp).all()) and bool((lp <= 1e-12).all()), "2 (log-pmf)",
                   f"log-probabilities must be finite and <= 0, got max {float(lp.max())}")
    _prior_require(torch.equal(lp, again), "2 (log-pmf)", "two evaluations differ")
    try:
        prior.log_prob_coords(coords.double(), u)
        raised = False
    except ValueError:
        raised = True
    _prior_require(raised, "2 (log-pmf)", "float coords must raise ValueError")
    checked.append("log-pmf")

    K_support = prior.support_max_norm()
    cap = BALL_MAX_NORM if K_support is None else min(K_support, BALL_MAX_NORM)
    counts = np.cumsum([int(t) for t in lat.theta_series(cap)])               # points of norm <= k
    K = int(max(0, np.searchsorted(counts, max_points, side="right") - 1))      # the largest ball of <= max_points
    full = K_support is not None and K >= K_support
    tol = PRIOR_ROUND_OFF if full else (1.0 if tail_tolerance is None else tail_tolerance)
    ball, _, _ = enumerate_points(lat, K)                                      # (N, n)
    ball = torch.as_tensor(ball)
    with torch.no_grad():
        for j in range(2):
            uu = u[j].expand(len(ball), R, n)
            total = prior.log_prob_coords(ball[:, None, :].expand(len(ball), R, n), uu).exp().sum(0)   # (R,)
            _prior_require(bool((total <= 1 + PRIOR_ROUND_OFF).all()), "3 (normalization)",
                           f"the pmf sums to {total.tolist()} > 1 over the {len(ball)} points of norm <= {K}")
            _prior_require(bool((total >= 1 - tol).all()), "3 (normalization)",
                           f"the pmf sums to {total.tolist()} over the {len(ball)} points of norm <= {K} "
                           f"(at least 1 - {tol:g} expected{'' if full else '; pass tail_tolerance'})")
    checked.append("normalization")

    params = [p for p in prior.parameters() if p.requires_grad]
    fused_lp = prior.log_prob_coords(coords, u)                                 # the fused path where supported
    eager_lp = prior.log_prob_eager(coords, u)
    scale = float(eager_lp.detach().abs().max()) + 1.0
    diff = float((fused_lp - eager_lp).detach().abs().max())
    _prior_require(diff <= KERNEL_TOLERANCE * scale, "4 (kernels)", f"fused and eager log-pmfs differ by {diff:.3g}")
    if params:
        _prior_require(fused_lp.requires_grad and eager_lp.requires_grad, "5 (gradients)",
                       "the log-pmf does not depend on the parameters (no autograd graph)")
        g_fused = torch.autograd.grad(fused_lp.sum(), params, allow_unused=True)
        g_eager = torch.autograd.grad(eager_lp.sum(), params, allow_unused=True)
        for p, a, b in zip(params, g_fused, g_eager):
            a = torch.zeros_like(p) if a is None else a
            b = torch.zeros_like(p) if b is None else b
            gscale = float(b.abs().max()) + 1.0
            _prior_require(float((a - b).abs().max()) <= KERNEL_TOLERANCE * gscale, "4 (kernels)",
                           f"fused and eager gradients differ by {float((a - b).abs().max()):.3g}")
        checked.append("kernels")
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, g_eager)]
        _prior_require(all(bool(torch.isfinite(g).all()) for g in grads)
                       and any(bool((g != 0).any()) for g in grads), "5 (gradients)",
                       "the log-pmf must give finite gradients, not all zero, to the parameters")
        checked.append("gradients")

    symbols = coords.reshape(batch, R * n).numpy().astype(np.int64)

    def encode(threads):
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            coder = prior.coder()
            coder.set_params(coder.file_params(symbols))
            ans = constriction.stream.stack.AnsCoder()
            bits = coder.push(ans, symbols, u)
            return coder, ans, np.asarray(bits, dtype=np.float64)
        finally:
            torch.set_num_threads(before)

    coder, ans, bits = encode(1)
    data = ans.get_compressed()
    ideal = -lp.sum(-1).double().numpy() / math.log(2)
    gap = bits - ideal
    # both ways where no symbol can be rarer than 2^-20 (every block under 20 bits), else one way
    typical = (-lp.detach().double().numpy() / math.log(2) < 20).all(1)
    _prior_require(bits.shape == (batch,) and bool(np.all(gap <= BITS_PER_SYMBOL * R))
                   and bool(np.all(np.abs(gap[typical]) <= BITS_PER_SYMBOL * R)), "6 (code length)",
                   f"coded bits differ from -log2 p by up to {np.abs(gap).max():.3g} bits per image "
                   f"(allowed {BITS_PER_SYMBOL * R:g}; {int(typical.sum())} of {batch} images checked both ways)")
    checked.append("code length")
    decoded = coder.pop(ans, batch, u)
    _prior_require(np.array_equal(np.asarray(decoded), symbols) and ans.is_empty(), "7 (round trip)",
                   "the decoded symbols differ from the coded ones (or the stack is not empty)")
    checked.append("round trip")
    _, ans2, _ = encode(2)
    _prior_require(np.array_equal(ans2.get_compressed(), data), "8 (threads)",
                   "the bytes differ between 1 and 2 torch threads")
    checked.append("threads")

    fresh = prior.untrained(seed)
    _prior_require(type(fresh) is type(prior) and fresh.family == prior.family, "9 (untrained and state)",
                   f"untrained() gave {type(fresh).__name__}, want {type(prior).__name__}")
    mine, theirs = prior.state_dict(), fresh.state_dict()
    _prior_require({k: tuple(v.shape) for k, v in mine.items()} == {k: tuple(v.shape) for k, v in theirs.items()},
                   "9 (untrained and state)", "untrained() has another state_dict structure")
    fresh.load_state_dict(mine)
    with torch.no_grad():
        _prior_require(torch.equal(fresh.log_prob_coords(coords, u), lp), "9 (untrained and state)",
                       "a prior loaded with this state gives other log-probabilities")
    checked.append("untrained and state")
    return checked
