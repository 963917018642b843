r"""``vq``: VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017) as the paper's baseline.

Lastras (2020), Sec. 4.1 and Table 2: "VQ-VAE's [implementation] follows [15],
concatenating 4 codes each with 512 vectors with the trick of adding to the loss function
a term to force the encoder output to approximate the quantized output (weight factor
1/4)", with straight-through estimation (Sec. 4).

Latent layout
-------------
The encoder output :math:`e \in \mathbb R^m` is split into ``n_codebooks`` = :math:`G`
consecutive groups of :math:`d = m/G` coordinates,
:math:`e = (e_1, \dots, e_G)`, :math:`e_g \in \mathbb R^d`.  Group :math:`g` has its own
codebook :math:`C_g = \{c_{g,1}, \dots, c_{g,K}\} \subset \mathbb R^d` (``codebook_size``
= :math:`K`) and is quantized to its nearest (Euclidean) codeword

.. math::  i_g = \operatorname{argmin}_k \lVert e_g - c_{g,k} \rVert_2, \qquad
           z_q = (c_{1,i_1}, \dots, c_{G,i_G}) \in \mathbb R^m.

The symbols are the ``G`` indices :math:`(i_1, \dots, i_G) \in \{0..K-1\}^G`.

Loss terms
----------
* decoder input: the straight-through estimator :math:`e + \mathrm{sg}[z_q - e]`
  (value :math:`z_q`, gradient of the identity into the encoder; VQ-VAE eq. (3)).
* ``aux`` (not part of any bound; VQ-VAE eq. (3), squared L2 norms, i.e. **summed** over
  the :math:`m` coordinates so that it is on the per-example scale of the reconstruction
  term, which is summed over the 784 pixels):

  .. math::  \text{aux} = \lVert \mathrm{sg}[e] - z_q \rVert_2^2
             + \beta\, \lVert e - \mathrm{sg}[z_q] \rVert_2^2 ,

  the codebook term (gradient only into the selected codewords) plus the commitment term
  (gradient only into the encoder), :math:`\beta = 1/4` as in the paper.
* ``rate``: the code length under a **learned** categorical prior, one per codebook,
  :math:`\pi_g = \operatorname{softmax}(\ell_g)` with logits :math:`\ell_g \in \mathbb R^K`:

  .. math::  \text{rate} = -\sum_{g=1}^{G} \log \pi_g(i_g).

  The indices carry no gradient, so this term trains only the prior logits.  Since
  :math:`q(z|x)` is a point mass on :math:`z_q`, the ELBO's representation cost is exactly
  this code length, :math:`-\log p(z_q)` (Appendix 6.1: VQ-VAE is an *explicit*
  representation, like the lattices).  The original VQ-VAE trains with a uniform prior
  (constant rate :math:`G \log K`) and fits a prior afterwards; learning it jointly
  makes the reported rate a real code length of the evaluated model.

What is a bound
---------------
``recon + rate`` evaluated at :math:`z_q` is :math:`-\log p(x|z_q) - \log p(z_q)
\ge -\log p(x)`, a true (single-sample, deterministic) upper bound on the negative log
likelihood of the discrete model :math:`p(z)\,p(x|z)`; ``aux`` is added only for training.
Inference (:meth:`VQLatent.inference_samples`) is deterministic: the ``k`` samples are
identical and ``log_ratio`` :math:`= \log p(z_q) - \log q(z_q|x) = -\text{code length}`, so
the IWAE bound does not improve with ``k`` (the paper's observation 3 in Sec. 4.1).

Codebook initialization
-----------------------
``init="data"`` (default): the codebooks are first drawn uniformly in
:math:`[-1/K, 1/K]^d` (torch's global RNG, seeded by ``torch.manual_seed`` like every
``nn.Linear`` weight), and then, at the **first** :meth:`~VQLatent.train_terms` call,
replaced by encoder outputs of that batch: codebook :math:`g` takes the rows
:math:`e_g` of a random arrangement of the batch (a random permutation, repeated when the
batch is smaller than :math:`K`) plus Gaussian noise of standard deviation
:math:`0.01\,\max(s_g, 0.1)`, :math:`s_g` the RMS spread of the batch's :math:`e_g`
around their mean; the noise separates repeated rows, whose Voronoi cells then split
the data between them instead of leaving a duplicate dead.  The randomness comes from the
``generator`` given to ``train_terms``, so the same seed gives the same codebooks.  The
buffer ``initialized`` records that this happened; it is part of the ``state_dict``, so a
layer loaded from a trained checkpoint is never re-initialized.  Every codeword then
starts where the data are, which avoids most dead codes (the same idea as the k-means
initialization of Jukebox, Dhariwal et al. 2020, and of ``vector-quantize-pytorch``).
``init="uniform"``: keep the :math:`[-1/K, 1/K]^d` initialization of the VQ-VAE reference
implementation.

References
----------
A. van den Oord, O. Vinyals, K. Kavukcuoglu, "Neural Discrete Representation Learning",
NeurIPS 2017 (ref. [15] of the paper).  L. Lastras, "Lattice Representation Learning",
2020, Sec. 4, 4.1, Appendix 6.1.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lattices.utils.rng import as_torch_generator

from .base import InferenceSamples, LatentLayer, TrainTerms, check_dim, check_sample_count

__all__ = ["VQLatent"]

_INITS = ("data", "uniform")


class VQLatent(LatentLayer):
    r"""VQ-VAE latent: ``n_codebooks`` codebooks of ``codebook_size`` vectors, learned prior.

    Parameters
    ----------
    dim : int
        Hidden size :math:`m` (decoder input width); a multiple of ``n_codebooks``.
    n_codebooks : int, default 4
        Number :math:`G` of groups / codebooks (the paper: 4).
    codebook_size : int, default 512
        Vectors per codebook :math:`K` (the paper: 512).
    beta : float, default 0.25
        Weight of the commitment term (the paper's "weight factor 1/4").
    init : {"data", "uniform"}, default "data"
        Codebook initialization (see the module notes).

    Attributes
    ----------
    codebooks : nn.Parameter, shape (G, K, m/G)
    prior_logits : nn.Parameter, shape (G, K)
        Logits of the learned categorical prior of each codebook (zeros: uniform).
    initialized : bool tensor buffer
        Whether the data-dependent initialization has been done (saved in the state dict).

    Examples
    --------
    With the initial (uniform) prior every input costs :math:`4 \log 512` nats:

    >>> _ = torch.manual_seed(0)
    >>> layer = VQLatent(16)
    >>> terms = layer.train_terms(torch.randn(8, 16), torch.Generator().manual_seed(0))
    >>> round(terms["code_length"][0].item(), 4), round(4 * math.log(512), 4)
    (24.9533, 24.9533)
    >>> layer.encode(torch.randn(2, 16)).shape, layer.encode(torch.randn(2, 16)).dtype
    (torch.Size([2, 4]), torch.int64)
    """

    name = "vq"
    discrete = True

    def __init__(self, dim: int, n_codebooks: int = 4, codebook_size: int = 512,
                 beta: float = 0.25, init: str = "data"):
        check_dim(n_codebooks, name="n_codebooks")
        check_dim(codebook_size, name="codebook_size")
        check_dim(dim)
        if dim % n_codebooks:
            raise ValueError(f"hidden={dim} must be a multiple of n_codebooks={n_codebooks} "
                             f"(the encoder output is split into n_codebooks equal groups)")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) \
                or not math.isfinite(beta) or beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
        if init not in _INITS:
            raise ValueError(f"init must be one of {', '.join(map(repr, _INITS))}, got {init!r}")
        super().__init__(dim)
        self.n_codebooks = n_codebooks
        self.codebook_size = codebook_size
        self.group_dim = dim // n_codebooks
        self.beta = float(beta)
        self.init = init
        bound = 1.0 / codebook_size                  # VQ-VAE reference: U(-1/K, 1/K)
        self.codebooks = nn.Parameter(
            torch.empty(n_codebooks, codebook_size, self.group_dim).uniform_(-bound, bound))
        self.prior_logits = nn.Parameter(torch.zeros(n_codebooks, codebook_size))
        self.register_buffer("initialized", torch.tensor(init != "data"))

    # ------------------------------------------------------------------ helpers
    def _groups(self, e: torch.Tensor) -> torch.Tensor:
        if e.dim() != 2 or e.shape[1] != self.dim:
            raise ValueError(f"encoder output must have shape (batch, {self.dim}), "
                             f"got {tuple(e.shape)}")
        return e.reshape(e.shape[0], self.n_codebooks, self.group_dim)   # (batch, G, d)

    def _nearest(self, eg: torch.Tensor) -> torch.Tensor:
        """Indices (batch, G) of the nearest codewords of groups ``eg`` (batch, G, d)."""
        cb = self.codebooks.detach()                                         # (G, K, d)
        # ||e - c||^2 = ||e||^2 - 2 e.c + ||c||^2; ||e||^2 is constant in the argmin
        cross = torch.einsum("bgd,gkd->bgk", eg.detach(), cb)                # (batch, G, K)
        dist = cb.pow(2).sum(-1)[None] - 2.0 * cross                         # (batch, G, K)
        return dist.argmin(-1)

    def _lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Codewords (batch, G, d) of indices (batch, G); differentiable in the codebooks."""
        g = torch.arange(self.n_codebooks, device=idx.device)
        return self.codebooks[g[None, :], idx]

    def code_length(self, idx: torch.Tensor) -> torch.Tensor:
        r"""Code length :math:`-\sum_g \log \pi_g(i_g)` in nats of indices (batch, G).

        Differentiable in :attr:`prior_logits` only; same dtype as the logits.
        """
        log_pi = F.log_softmax(self.prior_logits, dim=-1)                   # (G, K)
        g = torch.arange(self.n_codebooks, device=idx.device)
        return -log_pi[g[None, :], idx].sum(-1)                              # (batch,)

    @torch.no_grad()
    def _data_init(self, eg: torch.Tensor, generator) -> None:
        """Codebooks from the rows of the batch ``eg`` (batch, G, d) plus small noise."""
        n, k = eg.shape[0], self.codebook_size
        reps = -(-k // n)                                                    # ceil(k / n)
        perm = torch.cat([torch.randperm(n, generator=generator, device=eg.device)
                          for _ in range(reps)])[:k]                        # (K,)
        rows = eg[perm].transpose(0, 1).to(self.codebooks.dtype)            # (G, K, d)
        spread = (eg - eg.mean(0, keepdim=True)).pow(2).sum(-1).mean(0).sqrt()   # (G,)
        scale = 0.01 * spread.clamp(min=0.1).to(self.codebooks.dtype)
        noise = torch.randn(rows.shape, generator=generator, device=rows.device,
                            dtype=rows.dtype)
        self.codebooks.copy_(rows + scale[:, None, None] * noise)
        self.initialized.fill_(True)

    # ------------------------------------------------------------------ interface
    def train_terms(self, e, generator=None):
        """Straight-through decoder input, code-length ``rate`` and VQ-VAE ``aux`` losses.

        Returns a :class:`~vae.latents.base.TrainTerms` with the extra diagnostics
        ``code_length`` (= ``rate``, detached), ``codebook_loss`` and ``commitment``
        (both (batch,), detached, commitment without the factor ``beta``).
        """
        eg = self._groups(e)                                                 # (batch, G, d)
        if not bool(self.initialized):
            self._data_init(eg.detach(), as_torch_generator(generator, eg.device))
        idx = self._nearest(eg)                                              # (batch, G)
        zq = self._lookup(idx)                                               # (batch, G, d)
        codebook_loss = (eg.detach() - zq).pow(2).sum((1, 2))               # VQ-VAE eq. (3)
        commitment = (eg - zq.detach()).pow(2).sum((1, 2))
        decoder_input = (eg + (zq - eg).detach()).reshape(e.shape)          # straight-through
        rate = self.code_length(idx)
        return TrainTerms(decoder_input=decoder_input, rate=rate,
                          aux=codebook_loss + self.beta * commitment,
                          code_length=rate.detach(), codebook_loss=codebook_loss.detach(),
                          commitment=commitment.detach())

    def inference_samples(self, e, k, generator=None):
        """``k`` identical samples :math:`z_q`; ``log_ratio`` = minus the code length."""
        k = check_sample_count(k)
        idx = self.encode(e)
        zq = self.decode(idx)                                                # (batch, m)
        with torch.no_grad():
            log_pi = F.log_softmax(self.prior_logits.detach().double(), dim=-1)
            g = torch.arange(self.n_codebooks, device=idx.device)
            log_p = log_pi[g[None, :], idx].sum(-1)                          # (batch,) float64
        return InferenceSamples(decoder_input=zq[:, None, :].expand(-1, k, -1),
                                log_ratio=log_p[:, None].expand(-1, k).contiguous())

    def encode(self, e, u=None):
        """Indices (batch, n_codebooks) int64 of the nearest codewords (``u`` is unused)."""
        return self._nearest(self._groups(e))

    def decode(self, symbols, u=None):
        """Quantized vector :math:`z_q` (batch, dim) from indices (batch, n_codebooks)."""
        idx = torch.as_tensor(symbols, device=self.codebooks.device)
        if idx.dim() != 2 or idx.shape[1] != self.n_codebooks:
            raise ValueError(f"indices must have shape (batch, {self.n_codebooks}), "
                             f"got {tuple(idx.shape)}")
        if idx.dtype.is_floating_point or idx.dtype == torch.bool:
            raise ValueError(f"indices must be integers, got dtype {idx.dtype}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.codebook_size):
            raise ValueError(f"indices must lie in [0, {self.codebook_size - 1}], got range "
                             f"[{int(idx.min())}, {int(idx.max())}]")
        return self._lookup(idx.long()).reshape(idx.shape[0], self.dim)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, n_codebooks={self.n_codebooks}, "
                f"codebook_size={self.codebook_size}, beta={self.beta}, init={self.init!r}")
