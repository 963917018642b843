r"""One entropy coder per discrete latent, each coding exactly under that latent's own model.

Every coder turns encoder outputs into integer symbols (given the shared dither), codes
them on an ANS stack (:mod:`vae.codec.pmf`) and back, and reports two lengths per image:
``ideal_bits``, the model's code length :math:`-\log_2 p` (eq. (10) for the lattice latents,
computed by the model's own ``log_prob``), and ``coded_bits``, the information content
under the quantized pmfs actually coded (the file's payload is their sum up to the
coder's 32-bit word granularity).

* ``z-laplace`` (:class:`ZLaplaceCoder`): :math:`p_{Z|U}(z_j|u_j)` of Sec. 3.3 per coordinate,
  over the window :math:`|z| \le W` (``W``, the chunk's largest :math:`|z|`, is sent first; the
  pmf is renormalized over the window, never larger than the model's code length).
* ``z2``, ``a2``, ``e8``, ``bw16``, ``leech`` (:class:`ProxyCoder`): the learned prior
  :math:`p_{\hat Z|U}` (:class:`theory.lattice_prior.LatticePrior`, escape mixture) per block,
  as a hierarchy whose probabilities multiply to the model's: the mixture component
  (truncated prior or escape), then for the truncated prior one symbol among the head
  points (norm < t; flag times the U-dependent softmax) and the norm shells
  (1 - flag times softmax(Psi)), then the rank within the shell, uniform over its
  :math:`\theta_k` points (:mod:`lattices.shells`); for the escape component the integer
  coefficients, two-sided geometric over :math:`|c| \le W` (window as for ``z-laplace``).  A point inside the support
  has both components; the encoder chooses one by *bits-back* coding (Frey & Hinton 1997;
  Townsend et al. 2019): it decodes the component from the stack with the posterior
  :math:`P(\text{component}|a, u)` and the decoder re-encodes it, so the net cost is
  :math:`-\log_2 p(a|u)` of the mixture, not of one component.
* ``vq`` (:class:`CategoricalCoder`): the learned categorical prior of each codebook.
* ``concrete`` (:class:`CategoricalCoder`): the learned Bernoulli prior of each bit (the
  symbols are the MAP bits of :meth:`~vae.latents.concrete.ConcreteLatent.encode`).

Each coder codes a chunk of images: ``push`` (encoder, ops in reverse order) and ``pop``
(decoder).  Dithers come from a seeded CPU generator (:meth:`LatentCoder.dither`); every
pmf is computed in float64 on the CPU on one thread.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from lattices.shells import shell_ranker

from .pmf import coded_bits, pop, pop_uniform, push, push_uniform, quantize_pmf, single_thread, uniform_bits

__all__ = ["LatentCoder", "BlockCoder", "ZLaplaceCoder", "ProxyCoder", "CategoricalCoder", "CodecError"]

_LN2 = math.log(2.0)
#: Largest window |symbol| of the z-laplace and escape pmfs (2 MAX_WINDOW + 2 columns per coded row).
MAX_WINDOW = 4096


class CodecError(ValueError):
    """A file that cannot be decoded (truncated, corrupted, another model or format)."""


def _window(symbols) -> int:
    """The largest |symbol| (the window of the z-laplace and escape pmfs), within :data:`MAX_WINDOW`."""
    w = int(np.abs(symbols).max()) if np.size(symbols) else 0
    if w > MAX_WINDOW:
        raise CodecError(f"a symbol of magnitude {w} exceeds the codable window {MAX_WINDOW}")
    return w


def _with_outside(p):
    """Append the mass beyond the window as one more (never coded) symbol: the window's
    symbols keep exactly the model's probabilities."""
    return np.concatenate([p, np.clip(1.0 - p.sum(1, keepdims=True), 0.0, None)], 1)


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
        grid = torch.arange(-w, w + 1, dtype=torch.float64)                   # (2W+1,)
        with single_thread():
            nl = self._neg_log_p(grid, dither[..., None], self.delta[:, None])    # (n, m, 2W+1)
        return quantize_pmf(_with_outside(np.exp(-nl.reshape(-1, 2 * w + 1).numpy())))

    def file_params(self, symbols):
        return {"window": _window(symbols)}

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


class _RowIndex:
    """Position of integer rows in a fixed table of distinct rows (mixed-radix keys, sorted)."""

    def __init__(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        self.off = int(np.abs(rows).max()) + 1 if rows.size else 1
        self.radix = (2 * self.off + 1) ** np.arange(rows.shape[1] if rows.ndim == 2 else 0, dtype=np.int64)
        keys = self._keys(rows) if rows.size else np.zeros(0, dtype=np.int64)
        self.order = np.argsort(keys)
        self.sorted = keys[self.order]

    def _keys(self, rows):
        return ((np.clip(rows, -self.off, self.off) + self.off) * self.radix).sum(1)

    def index(self, rows):
        """Table positions of ``rows`` (each must be in the table)."""
        keys = self._keys(np.asarray(rows, dtype=np.int64))
        pos = np.minimum(np.searchsorted(self.sorted, keys), len(self.sorted) - 1)
        if np.any(self.sorted[pos] != keys):                                  # internal invariant
            raise AssertionError("a row is not in the table")
        return self.order[pos]


_LATTICE_TABLES: dict = {}


def _lattice_tables(lattice, K: int, t: int):
    """The shell ranker up to ``K`` and the head points (norm < ``t``, in the prior's order) of a
    lattice: they depend on the lattice alone, so they are built once per process."""
    from theory.lattice_prior import enumerate_points

    key = (lattice.name, np.asarray(lattice.basis, dtype=np.float64).tobytes(), int(K), int(t))
    if key not in _LATTICE_TABLES:
        n_enum = min(K, t - 1)
        coords, _, norms = enumerate_points(lattice, max(n_enum, 0))
        head = coords[norms < t] if n_enum >= 0 else np.zeros((0, lattice.dim), np.int64)
        _LATTICE_TABLES[key] = (shell_ranker(lattice, K), head)
    return _LATTICE_TABLES[key]


# ---------------------------------------------------------------------------------------------
class BlockCoder(LatentCoder):
    r"""What every coder of a Gaussian-proxy lattice latent shares, whatever its prior family:
    the cell dither from the seed, the symbols (the integer coefficients of
    :math:`K_\Lambda((e + U)/\Delta)` per block), the decoder input :math:`\Delta (K - V)` of
    eq. (9) and the model's code length (10) from the prior's ``log_prob_coords``.  Subclasses
    set ``self.prior``, ``self.R`` (blocks) and ``self.n`` (block dimension) and code the pmf.
    """

    def dither(self, n, seed):
        return self.layer.cell_dither(n, torch.Generator().manual_seed(int(seed)))   # (n, R, nb), de-scaled

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


# ---------------------------------------------------------------------------------------------
class ProxyCoder(BlockCoder):
    r"""The learned lattice prior :math:`p_{\hat Z|U}` of ``z2``/``a2``/``e8`` per block (module notes)."""

    def __init__(self, layer):
        super().__init__(layer)
        prior = layer.prior
        if not prior.escape:
            raise TypeError("the proxy coder needs the prior's escape component (every point codable)")
        self.prior = prior
        self.R, self.n = layer.n_blocks, layer.block_dim
        self.K, self.t = prior.max_norm, prior.threshold_t
        self.ranker, self.head_coords = _lattice_tables(prior.lattice, self.K, self.t)
        self.H = len(self.head_coords)
        if self.H != prior.n_head:                                             # internal invariant
            raise AssertionError("head enumeration disagrees with the prior")
        self.theta = self.ranker.count(np.arange(self.K + 1))
        # Psi's classes: one logit per norm k in [t, K] with theta_k > 0, in increasing k (the
        # prior's documented rule, Sec. 3.4)
        self.class_norms = np.array([k for k in range(self.t, self.K + 1) if self.theta[k] > 0], dtype=np.int64)
        self.C = len(self.class_norms)
        if self.C != prior.n_classes:                                          # internal invariant
            raise AssertionError("norm classes disagree with the prior")
        self.class_of_norm = np.full(self.K + 1, -1, dtype=np.int64)
        self.class_of_norm[self.class_norms] = np.arange(self.C)
        self._head_lookup = _RowIndex(self.head_coords)
        self.gram = np.asarray(prior.lattice.gram, dtype=np.float64) / prior.unit
        with torch.no_grad():
            self.psi_log_softmax = torch.log_softmax(prior.psi.detach(), -1)   # (R, C): the model's alone

    # -------------------------------------------------------------- the prior's tables
    def _tables(self, dither):
        """Per block (N = n R rows): log-pmf of the truncated part's symbol (N, H + C), log eps, log rho."""
        p = self.prior
        N = dither.shape[0] * self.R
        with single_thread(), torch.no_grad():
            # one (n, R, H + C) table written in place: the same float64 values as concatenating
            # the head and shell parts block-major and transposing, without the two copies
            cat = torch.empty((dither.shape[0], self.R, self.H + self.C), dtype=self.psi_log_softmax.dtype)
            if p.has_mlp:
                x = dither.transpose(0, 1) / math.sqrt(p.unit)                   # (R, n, nb)
                h = torch.tanh(torch.baddbmm(p.b1[:, None, :], x, p.w1))
                if p.has_flag:
                    flag = (h * p.w_flag[:, None, :]).sum(-1) + p.b_flag[:, None]
                    lh, lt = torch.nn.functional.logsigmoid(flag), torch.nn.functional.logsigmoid(-flag)
                else:
                    lh = lt = torch.zeros(h.shape[:2], dtype=h.dtype)
                logits = torch.baddbmm(p.b2[:, None, :], h, p.w2)
                torch.add(lh[..., None], torch.log_softmax(logits, -1), out=cat[:, :, :self.H].transpose(0, 1))
            else:
                lt = torch.zeros((self.R, dither.shape[0]), dtype=p.psi.dtype)
            if self.C:
                torch.add(lt[..., None], self.psi_log_softmax[:, None, :], out=cat[:, :, self.H:].transpose(0, 1))
            cat = cat.reshape(N, self.H + self.C)
            log_eps = torch.nn.functional.logsigmoid(p.escape_logit)                       # (R,)
            log_1m_eps = torch.nn.functional.logsigmoid(-p.escape_logit)
            r = p.ratio_logit
            log_rho = torch.nn.functional.logsigmoid(r)
            log_geo = torch.nn.functional.logsigmoid(-r) - torch.log1p(torch.sigmoid(r))  # log (1-rho)/(1+rho)
        tile = lambda a: np.tile(a.numpy(), dither.shape[0])                # noqa: E731  (R,) -> (N,)
        return cat.double().numpy(), tile(log_eps), tile(log_1m_eps), tile(log_rho), tile(log_geo)

    def _norms(self, c):
        return np.rint(np.einsum("ni,ij,nj->n", c, self.gram, c)).astype(np.int64)

    def _trunc_symbol(self, c, norms):
        """Symbol of the truncated part (head index or H + class) and the shell rank, for in-support rows."""
        sym = np.full(len(c), -1, dtype=np.int64)
        rank = np.zeros(len(c), dtype=self.theta.dtype)                  # object: BW16/Leech shells > 2^63
        head = norms < self.t
        if np.any(head):
            sym[head] = self._head_lookup.index(c[head])
        tail = ~head
        if np.any(tail):
            sym[tail] = self.H + self.class_of_norm[norms[tail]]
            rank[tail] = self.ranker.rank(c[tail])[1]
        return sym, rank

    def _component_logits(self, c, norms, sym, tabs):
        """log of (1-eps) p_trunc(a) and eps p_esc(a) per row (in-support rows)."""
        cat, log_eps, log_1m_eps, log_rho, log_geo = tabs
        rows = np.arange(len(c))
        lt = log_1m_eps + cat[rows, sym] - np.where(sym >= self.H, np.log(self.theta[norms].astype(float)), 0.0)
        le = log_eps + self.n * log_geo + log_rho * np.abs(c).sum(1)
        return lt, le

    @staticmethod
    def _esc_freqs(log_rho, log_geo, w):
        grid = np.abs(np.arange(-w, w + 1))
        return quantize_pmf(_with_outside(np.exp(log_geo[:, None] + log_rho[:, None] * grid[None, :])))

    # -------------------------------------------------------------- coding
    def file_params(self, symbols):
        return {"escape_window": _window(symbols)}

    def push(self, coder, symbols, dither):
        n_img = len(symbols)
        c = symbols.reshape(-1, self.n)                                          # (N, nb) block-major per image
        N = len(c)
        tabs = self._tables(dither)
        cat, log_eps, log_1m_eps, log_rho, log_geo = tabs
        norms = self._norms(c)
        inside = norms <= self.K
        bits = np.zeros(N)
        sym = np.full(N, -1, dtype=np.int64)
        rank = np.zeros(N, dtype=self.theta.dtype)
        sym[inside], rank[inside] = self._trunc_symbol(c[inside], norms[inside])
        # 5': bits back, the component of in-support points drawn from the posterior
        comp = np.ones(N, dtype=np.int64)                                       # 1: escape
        lt, le = self._component_logits(c[inside], norms[inside], sym[inside],
                                        tuple(a[inside] for a in tabs))
        post = quantize_pmf(np.exp(np.stack([lt, le], 1) - np.logaddexp(lt, le)[:, None]))
        comp[inside] = pop(coder, post)
        bits[inside] -= coded_bits(post, comp[inside])
        # 4': escape coefficients and their window
        esc = comp == 1
        if np.any(esc):
            w = self.params["escape_window"]
            freqs = np.repeat(self._esc_freqs(log_rho[esc], log_geo[esc], w), self.n, axis=0)
            flat = (c[esc] + w).reshape(-1)
            push(coder, flat, freqs)
            bits[esc] += coded_bits(freqs, flat).reshape(-1, self.n).sum(1)
        # 3': ranks within the shells
        trunc = comp == 0
        shell = trunc & (sym >= self.H)
        sizes = self.theta[norms[shell]]
        push_uniform(coder, rank[shell], sizes)
        bits[shell] += uniform_bits(sizes)
        # 2': the truncated part's symbol
        freqs = quantize_pmf(np.exp(cat if trunc.all() else cat[trunc]))
        push(coder, sym[trunc], freqs)
        bits[trunc] += coded_bits(freqs, sym[trunc])
        # 1': the component
        cfreq = quantize_pmf(np.exp(np.stack([log_1m_eps, log_eps], 1)))
        push(coder, comp, cfreq)
        bits += coded_bits(cfreq, comp)
        return bits.reshape(n_img, self.R).sum(1)

    def pop(self, coder, n_img, dither):
        tabs = self._tables(dither)
        cat, log_eps, log_1m_eps, log_rho, log_geo = tabs
        N = n_img * self.R
        comp = pop(coder, quantize_pmf(np.exp(np.stack([log_1m_eps, log_eps], 1))))          # 1
        trunc = comp == 0
        sym = np.full(N, -1, dtype=np.int64)
        sym[trunc] = pop(coder, quantize_pmf(np.exp(cat if trunc.all() else cat[trunc])))                            # 2
        c = np.zeros((N, self.n), dtype=np.int64)
        head = trunc & (sym < self.H)
        c[head] = self.head_coords[sym[head]]
        shell = trunc & (sym >= self.H)
        norms_shell = self.class_norms[sym[shell] - self.H]
        ranks = pop_uniform(coder, self.theta[norms_shell])                                   # 3
        c[shell] = self.ranker.unrank(norms_shell, ranks)
        esc = comp == 1
        if np.any(esc):                                                                       # 4
            w = self.params["escape_window"]
            freqs = np.repeat(self._esc_freqs(log_rho[esc], log_geo[esc], w), self.n, axis=0)
            c[esc] = (pop(coder, freqs) - w).reshape(-1, self.n)
        norms = self._norms(c)                                                                # 5: bits back
        inside = norms <= self.K
        s_in, _ = self._trunc_symbol(c[inside], norms[inside])
        lt, le = self._component_logits(c[inside], norms[inside], s_in,
                                        tuple(a[inside] for a in tabs))
        post = quantize_pmf(np.exp(np.stack([lt, le], 1) - np.logaddexp(lt, le)[:, None]))
        push(coder, comp[inside], post)
        return c.reshape(n_img, self.R * self.n)


# ---------------------------------------------------------------------------------------------
class CategoricalCoder(LatentCoder):
    """A fixed factorized prior: one categorical per symbol position (``vq``: per codebook; ``concrete``: per bit)."""

    def __init__(self, layer):
        super().__init__(layer)
        with single_thread(), torch.no_grad():
            if layer.name == "vq":
                logp = torch.log_softmax(layer.prior_logits.detach().double().cpu(), -1)   # (G, K)
            else:
                l64 = layer.prior_logits.detach().double().cpu()                            # (m,)
                logp = torch.stack([torch.nn.functional.logsigmoid(-l64),
                                    torch.nn.functional.logsigmoid(l64)], -1)               # (m, 2)
        self.logp = logp.numpy()
        self.freqs = quantize_pmf(np.exp(self.logp))

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
