r"""One entropy coder per discrete latent, each coding exactly under that latent's own model.

Every coder turns encoder outputs into integer symbols (given the shared dither), codes
them on an ANS stack (:mod:`vae.entropy_coding`) and back, and reports two lengths per image:
``ideal_bits``, the model's code length :math:`-\log_2 p` (eq. (10) for the lattice latents,
computed by the model's own ``log_prob``), and ``coded_bits``, the information content
under the quantized pmfs actually coded (the file's payload is their sum up to the
coder's 32-bit word granularity).

* ``z-laplace`` (:class:`ZLaplaceCoder`): :math:`p_{Z|U}(z_j|u_j)` of Sec. 3.3 per coordinate,
  over the window :math:`|z| \le W` (``W``, the chunk's largest :math:`|z|`, is sent first; the
  pmf is renormalized over the window, never larger than the model's code length).
* ``z2``, ``a2``, ``e8``, ``bw16``, ``leech``, ``proxy`` (:class:`LatticeCoder`): the dither,
  symbols and decoder input of the Gaussian-proxy lattice latent, coded under the layer's own
  prior object, which supplies the coder (:meth:`vae.priors.Prior.coder`: the paper prior's in
  :mod:`vae.priors.paper`, the discrete-Gaussian prior's in :mod:`vae.priors.dgauss`, a user's
  prior's wherever it is defined).
* ``vq`` (:class:`CategoricalCoder`): the learned categorical prior of each codebook.
* ``concrete`` (:class:`CategoricalCoder`): the learned Bernoulli prior of each bit (the
  symbols are the MAP bits of :meth:`~vae.latents.concrete.ConcreteLatent.encode`).

Each coder codes a chunk of images: ``push`` (encoder, ops in reverse order) and ``pop``
(decoder).  Dithers come from a seeded CPU generator (:meth:`LatentCoder.dither`: torch's
serial Mersenne-Twister draws, then fixed-order float64 arithmetic and the lattice's numba
decoder).  Every integer frequency is computed from the model's float64 weights and the dither
with the deterministic arithmetic of :mod:`vae.fixed_math` and
:func:`vae.entropy_coding.quantize_log_pmf` (no libm, no BLAS, no library reductions), so the
encoder and the decoder get the same integers on any IEEE-754 machine and thread count;
``ideal_bits`` (the float model's code length) is computed by the model itself.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from vae import fixed_math as fm
from vae.entropy_coding import CodecError, coded_bits, pop, push, quantize_log_pmf, single_thread, symbol_window

__all__ = ["LatentCoder", "LatticeCoder", "ZLaplaceCoder", "CategoricalCoder", "CodecError"]

_LN2 = math.log(2.0)
#: ``fm._log(2.0)`` as a literal (tests/test_codec_portable.py checks it): evaluating it at import
#: would run numba's first dispatch (~0.6 s of registries and a scipy import) before any work.
_LOG2_DET = 0.6931471805599453


def _neg_log_p_z_given_u(z, u, alpha, delta):
    r""":func:`theory.laplace.neg_log_p_z_given_u` (the same closed forms and branches) in the
    deterministic arithmetic of :mod:`vae.fixed_math`, numpy float64 arrays (broadcasting)."""
    z, u, delta = (np.asarray(a, dtype=np.float64) for a in (z, u, delta))
    h = delta / 2
    # z = 0: -log(1 - e^{-alpha h} cosh(alpha u)), |u| clamped to h
    ac = np.minimum(np.abs(u), h)
    a, b = alpha * (h - ac), alpha * (h + ac)
    q = 0.5 * (fm.exp(-a) + fm.exp(-b))
    p = -0.5 * (fm.expm1(-a) + fm.expm1(-b))
    use_q = q <= 0.5
    zero = np.where(use_q, -fm.log1p(-np.where(use_q, q, 0.5)), -fm.log(p))
    # z != 0: alpha (|z Delta - u| - h) + log 2 - log(-expm1(-2 alpha h))
    oc = np.maximum(np.abs(z * delta - u), h)
    nonzero = alpha * (oc - h) + _LOG2_DET - fm.log(-fm.expm1(-2.0 * alpha * h))
    return np.where(z == 0, zero, nonzero)


class LatentCoder:
    """Interface of the per-latent coders (see the module notes)."""

    def __init__(self, layer):
        self.layer = layer

    def dither(self, n: int, seed: int):
        """Shared randomness for ``n`` images from ``seed`` (None when the latent has none)."""
        return None

    def symbols(self, e: torch.Tensor, dither) -> np.ndarray:
        """Integer symbols (n, S) int64 of encoder outputs ``e`` (n, encoder_dim)."""
        return self.layer.encode(e.detach().cpu().float()).cpu().numpy().astype(np.int64)

    def decoder_input(self, symbols: np.ndarray, dither) -> torch.Tensor:
        """Decoder input (n, m) float32 on the CPU."""
        return self.layer.decode(torch.as_tensor(symbols)).float()

    def file_params(self, symbols) -> dict:
        """Integers the decoder needs before decoding (stored in the file header), from all symbols."""
        return {}

    def set_params(self, params: dict) -> None:
        """Adopt the header's :meth:`file_params` (decoder side; the encoder calls it too)."""
        self.params = {k: int(v) for k, v in params.items()}

    def ideal_bits(self, symbols, dither) -> np.ndarray:
        """The model's code length of each image in bits, (n,) float64."""
        raise TypeError(f"{type(self).__name__} does not implement ideal_bits")

    def push(self, coder, symbols, dither) -> np.ndarray:
        """Encode a chunk (so that :meth:`pop` returns it); returns coded bits per image (n,)."""
        raise TypeError(f"{type(self).__name__} does not implement push")

    def pop(self, coder, n: int, dither) -> np.ndarray:
        """Decode a chunk of ``n`` images: symbols (n, S) int64."""
        raise TypeError(f"{type(self).__name__} does not implement pop")

    @staticmethod
    def take(dither, rows):
        """The dithers of the images ``rows`` (a slice)."""
        return None if dither is None else dither[rows]


# ---------------------------------------------------------------------------------------------
class ZLaplaceCoder(LatentCoder):
    r""":math:`p_{Z|U}` of Sec. 3.3 per coordinate: :math:`S \sim` Laplace(:math:`\alpha`),
    :math:`z = \mathrm{round}((e + U)/\Delta)`, :math:`U = \Delta(V - \tfrac12)`."""

    def __init__(self, layer):
        super().__init__(layer)
        self.delta = layer.delta.detach().double().cpu()                     # (m,)
        self.alpha = float(layer.alpha)

    def dither(self, n, seed):
        g = torch.Generator().manual_seed(int(seed))
        v = torch.rand((n, self.layer.dim), generator=g, dtype=torch.float64)
        return self.delta * (v - 0.5)                                        # (n, m) float64

    def symbols(self, e, dither):
        return torch.round((e.detach().cpu().double() + dither) / self.delta).to(torch.int64).numpy()

    def decoder_input(self, symbols, dither):
        return (torch.as_tensor(symbols).double() * self.delta - dither).float()

    def _neg_log_p(self, z, u, delta):
        from theory.laplace import neg_log_p_z_given_u

        return neg_log_p_z_given_u(z.double(), u, self.alpha, delta)

    def ideal_bits(self, symbols, dither):
        with single_thread():
            return (self._neg_log_p(torch.as_tensor(symbols), dither, self.delta).sum(-1) / _LN2).numpy()

    def _freqs(self, dither, w):
        grid = np.arange(-w, w + 1, dtype=np.float64)                          # (2W+1,)
        nl = _neg_log_p_z_given_u(grid, np.asarray(dither)[..., None], self.alpha,
                                  self.delta.numpy()[:, None])               # (n, m, 2W+1), deterministic
        return quantize_log_pmf(-nl.reshape(-1, 2 * w + 1), outside=True)

    def file_params(self, symbols):
        return {"window": symbol_window(symbols)}

    def _groups(self, n):
        """Image groups whose pmf table (images x m x (2W + 2) float64) stays under ~64 MB."""
        per_image = self.layer.dim * (2 * self.params["window"] + 2)
        size = max(1, (1 << 23) // per_image)
        return [slice(a, min(a + size, n)) for a in range(0, n, size)]

    def push(self, coder, symbols, dither):
        w = self.params["window"]
        bits = np.zeros(len(symbols))
        for rows in reversed(self._groups(len(symbols))):
            freqs = self._freqs(dither[rows], w)
            flat = (symbols[rows] + w).reshape(-1)
            push(coder, flat, freqs)
            bits[rows] = coded_bits(freqs, flat).reshape(rows.stop - rows.start, -1).sum(1)
        return bits

    def pop(self, coder, n, dither):
        w = self.params["window"]
        return np.concatenate([(pop(coder, self._freqs(dither[rows], w)) - w).reshape(-1, self.layer.dim)
                               for rows in self._groups(n)])


# ---------------------------------------------------------------------------------------------
class LatticeCoder(LatentCoder):
    r"""The Gaussian-proxy lattice latents, whatever their prior: the cell dither from the seed,
    the symbols (the integer coefficients of :math:`K_\Lambda((e + U)/\Delta)` per block), the
    decoder input :math:`\Delta (K - V)` of eq. (9), the model's code length (10) from the prior's
    ``log_prob_coords``, and the coding itself by the prior's own coder (:meth:`vae.priors.Prior.coder`)."""

    def __init__(self, layer):
        super().__init__(layer)
        self.prior = layer.prior
        self.R, self.n = layer.n_blocks, layer.block_dim
        self.prior_coder = layer.prior.coder()

    def __getattr__(self, name):
        """The prior coder's attributes (e.g. its tables) through the latent's coder."""
        if name == "prior_coder":                     # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.prior_coder, name)

    def dither(self, n, seed):
        """De-scaled cell dithers (n, R, nb) float64: the draws of
        :meth:`~vae.latents.proxy.ProxyLatticeLatent.cell_dither` (uniform coefficients times the basis, minus the nearest point), with the product by the
        basis written as a fixed-order sum of float64 products (no BLAS): the same bits on any machine."""
        layer = self.layer
        g = torch.Generator().manual_seed(int(seed))
        r = torch.rand((n * self.R, self.n), generator=g, dtype=torch.float64).numpy()   # serial MT19937 draws
        basis = layer._basis.detach().cpu().double().numpy()                                # (nb, nb)
        w = r[:, 0, None] * basis[0]
        for i in range(1, self.n):                                                          # fixed order
            w = w + r[:, i, None] * basis[i]
        v = w - layer.base.nearest(w)
        return torch.from_numpy(v.reshape(n, self.R, self.n))

    def symbols(self, e, dither):
        return self.layer.block_coefficients(e.cpu(), dither).reshape(len(e), -1).numpy()

    def decoder_input(self, symbols, dither):
        c = torch.as_tensor(symbols).reshape(len(symbols), self.R, self.n)
        return self.layer.decoder_input_from(c, dither).float()                # Delta (K - V), eq. (9)

    def ideal_bits(self, symbols, dither):
        c = torch.as_tensor(symbols).reshape(len(symbols), self.R, self.n)
        with single_thread(), torch.no_grad():
            lp = self.prior.log_prob_coords(c, dither)                        # (n, R) nats
        return (-lp.sum(-1) / _LN2).numpy()

    def file_params(self, symbols):
        return self.prior_coder.file_params(symbols)

    def set_params(self, params):
        super().set_params(params)
        self.prior_coder.set_params(params)

    def push(self, coder, symbols, dither):
        return self.prior_coder.push(coder, symbols, dither)

    def pop(self, coder, n, dither):
        return self.prior_coder.pop(coder, n, dither)


# ---------------------------------------------------------------------------------------------
class CategoricalCoder(LatentCoder):
    """A fixed factorized prior: one categorical per symbol position (``vq``: per codebook; ``concrete``: per bit).

    The integer pmfs use the *spread* quantization rule (:func:`vae.entropy_coding.quantize_log_pmf`),
    recorded in the file as the coder parameter ``spread = 1``: with the argmax rule, a ``vq``
    prior of 512 nearly uniform codewords gave its argmax up to ~1 % more mass than the float
    model (a trained run whose encoder favours that codeword coded 0.14 % below its code length
    (10)).  A file without the parameter (format 1, and format-2 files written before it) is
    decoded with the argmax rule it was written with.
    """

    #: Parameters a file may lack (older files): the pmfs they were written with are the default.
    optional_params = ("spread",)

    def __init__(self, layer):
        super().__init__(layer)
        with single_thread(), torch.no_grad():
            if layer.name == "vq":
                logp = torch.log_softmax(layer.prior_logits.detach().double().cpu(), -1)   # (G, K)
            else:
                l64 = layer.prior_logits.detach().double().cpu()                            # (m,)
                logp = torch.stack([torch.nn.functional.logsigmoid(-l64),
                                    torch.nn.functional.logsigmoid(l64)], -1)               # (m, 2)
        self.logp = logp.numpy()                                   # the float model (ideal_bits)
        l64 = layer.prior_logits.detach().double().cpu().numpy()
        if layer.name == "vq":                                     # the coded pmfs: deterministic
            self._det = l64                                        # quantize_log_pmf normalizes the rows
        else:
            self._det = np.stack([fm.log_sigmoid(-l64), fm.log_sigmoid(l64)], -1)
        self.set_params({})

    def file_params(self, symbols):
        return {"spread": 1}

    def set_params(self, params):
        """``spread`` 1: the spread quantization rule; absent (older files): the argmax rule."""
        spread = int(params.get("spread", 0))
        if spread not in (0, 1):
            raise CodecError(f"the header's coder parameter spread={spread} is not a known quantization rule "
                             f"(0 or 1): a forged or newer file")
        super().set_params(params)
        self.freqs = quantize_log_pmf(self._det, spread=bool(spread))

    def ideal_bits(self, symbols, dither):
        pos = np.arange(symbols.shape[1])
        return -self.logp[pos[None, :], symbols].sum(1) / _LN2

    def push(self, coder, symbols, dither):
        freqs = np.tile(self.freqs, (len(symbols), 1))
        flat = symbols.reshape(-1)
        push(coder, flat, freqs)
        return coded_bits(freqs, flat).reshape(len(symbols), -1).sum(1)

    def pop(self, coder, n, dither):
        return pop(coder, np.tile(self.freqs, (n, 1))).reshape(n, -1)
