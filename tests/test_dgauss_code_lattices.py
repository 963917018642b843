"""The discrete-Gaussian prior on BW16 and the Leech lattice: the code-trellis normalizer and its coder.

Checks (theory.discrete_gaussian_prior, theory.code_trellis, vae.priors.dgauss):

* normalization by enumeration: the pmf summed over every lattice point of norm <= K
  (BW16: K = 8, 588 481 points; Leech: K = 4, 196 561 points) at small scales, within 1e-12
  plus a rigorous bound on the mass outside the ball (:func:`_tail_bound`); at large scales,
  the normalizer against the Poisson-dual sum over the dual lattice (independent of the codes);
* brute force: the trellis normalizer equals the explicit sum over all codewords (and glue) of
  the even/odd products of 1-D sums, to 1e-12 in log (relative), for random dithers and random
  unequal scales from the floor (0.141) to 1e3;
* gradients: ``torch.autograd.gradcheck`` in float64 w.r.t. the log-scales and mixture logits;
* negative controls: the same checks with the parity condition dropped, the glue dropped
  (Leech) or one codeword dropped (BW16) must fail;
* the prior contract (:func:`vae.testing.check_prior`), the coder's chain of conditionals
  against the prior, and a tiny model's compress/decompress round trip.
"""
import math

import numpy as np
import pytest
import torch

import lattices
from theory.code_trellis import CodeTrellis, parity_check_matrix
from theory.discrete_gaussian_fused import fused_supported
from theory.discrete_gaussian_prior import CODED, S_MAX, DiscreteGaussianPrior, coded_decomposition
from theory.lattice_prior import enumerate_points
from vae import codec
from vae.codec.api import measure
from vae.codec.container import unpack
from vae.entropy_coding import PRECISION
from vae.models import VAE, ModelConfig
from vae.priors import build_prior
from vae.priors.dgauss import DGaussCodedPriorCoder, DGaussPriorCoder
from vae.testing import check_prior

NAMES = ["bw16", "leech"]


def _prior(name, n_blocks=1, components=2, lo=0.15, hi=0.2, seed=0):
    """A prior with random unequal scales log-uniform in [lo, hi] and random mixture logits."""
    p = DiscreteGaussianPrior(lattices.get(name), n_blocks, components)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        p.log_scale.copy_(torch.empty(p.log_scale.shape, dtype=torch.float64).uniform_(
            math.log(lo), math.log(hi), generator=g))
        p.mix_logits.copy_(torch.randn(p.mix_logits.shape, generator=g, dtype=torch.float64))
    return p


def _residue_products(lt, words):
    """(E, O): log T(c_i) and log T(c_i + 2) per codeword, (G, N, R, C, M, n) each."""
    w = torch.as_tensor(np.asarray(words, dtype=np.int64))                   # (M, n)
    cols = torch.arange(w.shape[1])[None, :]                                 # (1, n)
    return lt[..., cols, w], lt[..., cols, w + 2]                            # (G, N, R, C, M, n) each


def brute_log_z(prior, u, words=None, glue=None, parity=True):
    r"""log Z_c(u) (N, R, C) by the explicit sum over the codewords ``words`` and glue rows ``glue``
    (default: all), each codeword by the even/odd recursion over its coordinates (or, without
    ``parity``, the plain product of :math:`T(c_i) + T(c_i + 2)`): independent of the trellis."""
    dec = prior.coded
    words = dec.codewords if words is None else words
    shifts = dec.shifts if glue is None else dec.shifts[list(glue)]
    with torch.no_grad():
        lt = prior.log_residue_sums(u, shifts)                                # (G, N, R, C, n, 4)
        E, O = _residue_products(lt, words)
        if not parity:
            per_word = torch.logaddexp(E, O).sum(-1)
        else:
            e, o = E[..., 0], O[..., 0]
            for i in range(1, E.shape[-1]):
                e, o = (torch.logaddexp(e + E[..., i], o + O[..., i]),
                        torch.logaddexp(e + O[..., i], o + E[..., i]))
            per_word = e                                                     # (G, N, R, C, M)
        return torch.logsumexp(per_word, -1).logsumexp(0)


# ------------------------------------------------------------------ the decomposition and trellis
@pytest.mark.parametrize("name", NAMES)
def test_decomposition_spans_the_lattice_and_trellis_profile(name):
    p = DiscreteGaussianPrior(lattices.get(name), 1, 1)
    dec = p.coded
    assert abs(dec.covolume - lattices.get(name).volume) < 1e-9
    # measured state profiles of the pruned syndrome trellis (natural coordinate order)
    want = {"bw16": (1, 2, 4, 8, 8, 16, 16, 16, 8, 16, 16, 16, 8, 8, 4, 2, 1),
            "leech": (1, 2, 4, 8, 16, 32, 64, 128, 64, 128, 256, 512, 256, 512, 256, 128, 64, 128,
                      64, 32, 16, 8, 4, 2, 1)}[name]
    assert dec.trellis.profile == want
    # every codeword is one path ending in the zero state; a non-codeword leaves the trellis
    paths = dec.trellis.state_path(dec.codewords)
    assert (paths[:, -1] == 0).all() and (paths >= 0).all()
    flipped = np.array(dec.codewords[:5], dtype=np.int64)
    flipped[:, 0] ^= 1
    assert (dec.trellis.state_path(flipped)[:, -1] != 0).all()
    H = parity_check_matrix(dec.codewords)
    assert H.shape[0] == dec.codewords.shape[1] - int(round(math.log2(len(dec.codewords))))
    # the fused kernel does not know these lattices: the eager path is used
    c = torch.zeros(2, 1, p.dim, dtype=torch.int64)
    assert not fused_supported(p, c, torch.zeros(2, 1, p.dim, dtype=torch.float64))
    with pytest.raises(TypeError, match="code cosets"):
        p.coset_decomposition()


def test_trellis_counts_a_small_code_exactly():
    """Sum over codewords and even kappa with random weights, against the explicit enumeration."""
    words = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1]])
    t = CodeTrellis(words, order=[2, 0, 3, 1])
    lw = torch.randn(3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    want = []
    for row in lw:
        total = []
        for c in words:
            for kap in np.ndindex(*(2,) * 4):
                if sum(kap) % 2 == 0:
                    total.append(sum(float(row[i, c[i] + 2 * kap[i]]) for i in range(4)))
        want.append(float(torch.logsumexp(torch.tensor(total, dtype=torch.float64), 0)))
    np.testing.assert_allclose(t.log_sum(lw).numpy(), want, rtol=0, atol=1e-13)
    beta = t.log_suffix(lw.numpy())
    np.testing.assert_allclose(beta[0][:, 0, 0], want, rtol=0, atol=1e-13)


# ------------------------------------------------------------------ (b) brute force
@pytest.mark.parametrize("name", NAMES)
def test_trellis_normalizer_equals_the_sum_over_all_codewords(name):
    p = _prior(name, n_blocks=2, components=3, lo=0.05, hi=1e3, seed=3)   # below the floor: clamped to 0.141
    with torch.no_grad():
        p.log_scale[0, 0, :4] = math.log(p.scale_floor)                     # tiny and huge ones for sure
        p.log_scale[1, 2, :4] = math.log(S_MAX)
    g = torch.Generator().manual_seed(4)
    u = (torch.rand(6, 2, p.dim, dtype=torch.float64, generator=g) - 0.5) * 8
    with torch.no_grad():
        trellis = p.log_normalizer(u)
    brute = brute_log_z(p, u)
    np.testing.assert_allclose(trellis.numpy(), brute.numpy(), rtol=0, atol=1e-12)   # log: relative
    # negative controls: the parity condition dropped; a coset missing
    assert (brute_log_z(p, u, parity=False) - trellis).abs().max() > 0.1
    if name == "leech":
        assert (brute_log_z(p, u, glue=[0]) - trellis).abs().max() > 0.1
    else:
        assert (brute_log_z(p, u, words=p.coded.codewords[1:]) - trellis).abs().max() > 1e-3


# ------------------------------------------------------------------ (a) normalization by enumeration
def _tail_bound(name, K, u, centre, log_z_floor, s_max):
    r"""A bound on the mass of one component outside the ball of norm <= K:

    .. math:: \sum_{|a|^2 > K} \prod_i g_i(a_i - u_i) \big/ Z
              \le \sum_{m > K} \theta_m\, e^{-\rho_m^2/(2 s_{max}^2)} \big/ e^{\log Z_{floor}}

    (every :math:`g_i \le e^{-x^2/(2s_{max}^2)}`; :math:`Z \ge` its largest term,
    ``log_z_floor``) with :math:`\rho_m \le |a - u|` for :math:`|a|^2 = m`: :math:`\sqrt m - |u|`
    and, where ``centre`` is a lattice vector :math:`c` (:math:`|c|^2 \le K`) and
    :math:`u = c/2 + \delta`, :math:`|a - c/2| - |\delta|` with the parallelogram law
    :math:`|a - c/2|^2 = (|a|^2 + |a - c|^2)/2 - |c|^2/4` and :math:`|a - c|^2 \ge
    \max(4, (\sqrt m - |c|)^2)` (minimal norm 4, :math:`a \ne c`).  :math:`\theta_m` exactly
    (modular forms) for :math:`m \le 400`; beyond, :math:`\theta_m \le (2\sqrt{Dm}+1)^n`
    (:math:`\sqrt D\,a` is an integer vector, D = 2, 8) with :math:`\rho_m = \sqrt m - |u|`, the
    terms added to m = 4000 (they fall faster than geometrically: the rest is below the last, under e^-700)."""
    lat = lattices.get(name)
    D, n = {"bw16": (2, 16), "leech": (8, 24)}[name]
    theta = lat.theta_series(400)
    u = np.asarray(u, dtype=np.float64).ravel()
    logs = []
    for m in range(K + 1, 4001):
        count = theta[m] if m <= 400 else (2 * math.sqrt(D * m) + 1) ** n
        if count == 0:
            continue
        rho = max(0.0, math.sqrt(m) - np.linalg.norm(u))
        if centre is not None and m <= 400:
            c = np.asarray(centre, dtype=np.float64)
            half2 = (m + max(4.0, (math.sqrt(m) - np.linalg.norm(c)) ** 2)) / 2 - c @ c / 4
            rho = max(rho, math.sqrt(max(half2, 0.0)) - np.linalg.norm(u - c / 2))
        logs.append(math.log(count) - rho ** 2 / (2 * s_max ** 2))
    assert logs[-1] < -700
    return math.exp(np.logaddexp.reduce(logs) - log_z_floor)


def _ball_mass(p, coords, u, log_z):
    """The mixture pmf with the normalizer ``log_z`` (R=1, C) summed over the points ``coords``."""
    a = torch.as_tensor(coords, dtype=torch.float64) @ p._basis               # (P, n)
    with torch.no_grad():
        quad = -0.5 * (((a[:, None, :] - u[0]) / p.scales()[0]) ** 2).sum(-1)  # (P, C)
        lw = torch.log_softmax(p.mix_logits[0], -1)
        return float(torch.logsumexp(quad - log_z + lw, -1).exp().sum()), quad


def _test_dithers(name, coords, pts, norms, rng):
    """(dither, centre) pairs with the mass on 1 or 2 points: near 0; midway to a minimal vector
    of each glue coset (the centre); midway to sqrt(2) e_1 (a point of the lattice without its
    parity condition; no centre)."""
    n = pts.shape[1]
    out = [(rng.uniform(-0.125, 0.125, n), np.zeros(n))]
    dec = coded_decomposition(name)
    minimal = pts[norms == 4]
    for g in range(len(dec.shifts)):
        y = (minimal - dec.shifts[g]) / dec.spacing
        v = minimal[np.argmax(np.all(np.abs(y - np.rint(y)) < 1e-9, axis=1))]
        out.append((v / 2 + rng.uniform(-0.02, 0.02, n), v))
    e1 = np.zeros(n)
    e1[0] = math.sqrt(2.0) / 2
    out.append((e1, None))
    return [(torch.as_tensor(x[None, None, :]), c) for x, c in out]


@pytest.mark.parametrize("name,K", [("bw16", 8), ("leech", 4)])
def test_pmf_sums_to_one_over_the_enumerated_ball(name, K):
    p = _prior(name, n_blocks=1, components=2, lo=0.145, hi=0.17, seed=5)
    coords, pts, norms = enumerate_points(p.lattice, K)
    rng = np.random.default_rng(6)
    bad = {"parity dropped": [], "coset dropped": []}
    for u, centre in _test_dithers(name, coords, pts, norms, rng):
        with torch.no_grad():
            log_z = p.log_normalizer(u)[0, 0]                                  # (C,)
            via_prior = p.log_prob_coords(torch.as_tensor(coords)[:, None, :], u.expand(len(coords), 1, p.dim))
        total, quad = _ball_mass(p, coords, u, log_z)
        np.testing.assert_allclose(via_prior.exp().sum().item(), total, rtol=1e-13)
        s = p.scales()[0].detach()
        floor = float((quad.max(0).values).min())                             # Z_c >= its largest term
        bound = _tail_bound(name, K, u.numpy(), centre, floor, float(s.max()))
        assert bound < 1e-10, bound
        assert abs(total - 1) <= 1e-12 + bound, (total, bound)
        # negative controls: the same sum with a wrong normalizer
        bad["parity dropped"].append(_ball_mass(p, coords, u, brute_log_z(p, u, parity=False)[0, 0])[0])
        if name == "leech":
            wrong = brute_log_z(p, u, glue=[0])[0, 0]
        else:
            nearest = coords[np.argmax(quad.max(1).values.numpy())] @ p.lattice.basis
            c = np.rint(nearest * math.sqrt(2)).astype(np.int64) % 2         # the codeword of the mode
            keep = [w for w in p.coded.codewords.tolist() if w != c.tolist()]
            wrong = brute_log_z(p, u, words=np.array(keep))[0, 0]
        bad["coset dropped"].append(_ball_mass(p, coords, u, wrong)[0])
    for what, totals in bad.items():
        assert max(abs(t - 1) for t in totals) > 0.2, (what, totals)


def _dual_points(name, K):
    """Points of the dual lattice (rows of inv(B)^T generate it) of norm <= K, and the dual covolume."""
    lat = lattices.get(name)
    B = np.asarray(lat.basis, dtype=np.float64)
    dual_basis = np.linalg.inv(B).T
    coeff = dual_basis @ np.linalg.inv(B)                                     # dual basis in the basis B
    if np.allclose(coeff, np.rint(coeff), atol=1e-9) and abs(abs(np.linalg.det(coeff)) - 1) < 1e-9:
        return enumerate_points(lat, K)[1], lat.volume                        # self-dual (Leech): faster
    dual = lattices.from_basis(dual_basis)
    return enumerate_points(dual, K)[1], dual.volume


@pytest.mark.parametrize("name,K", [("bw16", 3), ("leech", 4)])
def test_normalizer_equals_the_poisson_dual_sum_at_large_scales(name, K):
    r"""Independent of the code decomposition (Poisson summation, e.g. Stein & Shakarchi, Fourier
    Analysis ch. 5, Thm. 3.1, on the lattice): for :math:`g(x) = \prod_i e^{-x_i^2/(2s_i^2)}`,

    .. math:: Z(u) = \frac{1}{\mathrm{vol}\,\Lambda} \sum_{w\in\Lambda^*} \prod_i s_i\sqrt{2\pi}\,
              e^{-2\pi^2 s_i^2 w_i^2}\,\cos(2\pi\,w\cdot u),

    summed over the dual points of norm <= K (BW16*: norms 2, 3; Leech* = Leech: norm 4) at scales
    in [0.9, 3], dithers anywhere.  The rest is at most :math:`\sum_{t \ge K} N(t+1)\,e^{-2\pi^2
    s_{min}^2 t}` relative, with :math:`N(t) \le V_n(\sqrt t + \rho^*)^n/\mathrm{vol}\,\Lambda^*`
    (disjoint balls of the dual packing radius :math:`\rho^*`), below 1e-13 here.  Negative
    controls: the parity condition or a coset dropped changes the normalizer by more than 0.01."""
    p = _prior(name, n_blocks=1, components=2, lo=0.9, hi=3.0, seed=11)
    w, dual_vol = _dual_points(name, K)                                        # (P, n)
    g = torch.Generator().manual_seed(12)
    u = (torch.rand(5, 1, p.dim, dtype=torch.float64, generator=g) - 0.5) * 4
    with torch.no_grad():
        log_z = p.log_normalizer(u)[:, 0].numpy()                             # (5, C)
    s = p.scales()[0].detach().numpy()                                         # (C, n)
    n = p.dim
    for c in range(p.components):
        damp = np.exp(-2 * math.pi ** 2 * (w ** 2 * s[c] ** 2).sum(1))         # (P,)
        phase = np.cos(2 * math.pi * w @ u[:, 0].numpy().T)                    # (P, 5)
        dual = (np.log(s[c] * math.sqrt(2 * math.pi)).sum() - math.log(1 / dual_vol)
                + np.log(damp @ phase))
        # bound on the omitted dual terms (relative to the w = 0 term, which is 1)
        rho = math.sqrt(float(np.min((w[1:] ** 2).sum(1)))) / 2
        v_n = math.pi ** (n / 2) / math.gamma(n / 2 + 1)
        a = 2 * math.pi ** 2 * float(s[c].min()) ** 2
        rest = sum(v_n * (math.sqrt(t + 1) + rho) ** n * dual_vol ** -1 * math.exp(-a * t)
                   for t in range(K, 400))
        assert rest < 1e-13, rest
        np.testing.assert_allclose(log_z[:, c], dual, rtol=0, atol=1e-12 + 2 * rest)
    # negative controls (brute force with the wrong sum condition / a missing coset)
    assert np.abs(brute_log_z(p, u, parity=False)[:, 0].numpy() - log_z).min() > 0.01
    wrong = brute_log_z(p, u, glue=[0]) if name == "leech" else brute_log_z(p, u, words=p.coded.codewords[1:])
    assert np.abs(wrong[:, 0].numpy() - log_z).min() > 0.01


# ------------------------------------------------------------------ the linear-space trellis sum
def _normalizer_and_grads(p, u, linear):
    """log Z (N, R, C) and its gradients w.r.t. the log-scales and u (random cotangent), one trellis path."""
    p.linear_trellis = linear
    u = u.detach().clone().requires_grad_()
    p.zero_grad()
    z = p.log_normalizer(u)
    v = torch.randn(z.shape, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    (z * v).sum().backward()
    p.linear_trellis = True
    return z.detach(), p.log_scale.grad.clone(), u.grad.clone()


def _assert_paths_agree(p, u, u_atol=0.0):
    """Same log Z and gradients to 1e-12 relative (``u_atol``: where the dither gradient is 0 by
    symmetry, both are round-off of terms of size about 1/floor^2)."""
    (z0, s0, u0), (z1, s1, u1) = _normalizer_and_grads(p, u, False), _normalizer_and_grads(p, u, True)
    assert torch.isfinite(z1).all() and torch.isfinite(s1).all() and torch.isfinite(u1).all()
    np.testing.assert_allclose(z1.numpy(), z0.numpy(), rtol=1e-12, atol=0)
    for a, b, atol in ((s1, s0, 0.0), (u1, u0, u_atol)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12,
                                   atol=max(atol, 1e-12 * float(b.abs().max())))


@pytest.mark.parametrize("name", NAMES)
def test_linear_trellis_equals_the_log_space_recursion(name):
    """Values and gradients (log-scales, dithers) of the linear-space normalizer against the log-space
    reference, to 1e-12 relative, random dithers and unequal scales from the floor to 1e3 and S_MAX."""
    p = _prior(name, n_blocks=2, components=3, lo=0.05, hi=1e3, seed=21)
    assert DiscreteGaussianPrior.linear_trellis                            # the default path
    with torch.no_grad():
        p.log_scale[0, 0, :5] = math.log(p.scale_floor)
        p.log_scale[1, 2, :5] = math.log(S_MAX)
    u = (torch.rand(12, 2, p.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(22)) - 0.5) * 8
    _assert_paths_agree(p, u)


def _deep_hole(name):
    """A deep hole of the toolkit's lattice (distance^2 = covering radius^2: 3 for BW16, 2 for Leech)."""
    if name == "bw16":
        return np.r_[np.full(15, 0.5), -1.5] / math.sqrt(2.0)         # sqrt2 BW16 = RM(1,4) + 2 D16
    return np.r_[4.0, np.zeros(23)] / math.sqrt(8.0)                    # sqrt8 Leech


@pytest.mark.parametrize("name", NAMES)
def test_linear_trellis_cannot_underflow_at_the_extremes(name):
    """The bound of theory.code_trellis_fused: log S = log Z - sum_i m_i >= -rho^2/(2 floor^2) -
    n log(1 + sqrt(2 pi) S_MAX / (4 d)), far above -708, at its worst cases: u at a deep hole with
    every scale at the floor, and with half the coordinates at S_MAX; same numbers as the log space."""
    rho2 = {"bw16": 3.0, "leech": 2.0}[name]
    hole = _deep_hole(name)
    lat = lattices.get(name)
    a = np.asarray(lat.nearest(torch.as_tensor(hole[None])))[0]
    assert abs(((a - hole) ** 2).sum() - rho2) < 1e-9                      # it is a deep hole
    p = _prior(name, n_blocks=2, components=2, seed=23)
    n, d = p.dim, p.coded.spacing
    bound = -rho2 / (2 * p.scale_floor ** 2) - n * math.log(1 + math.sqrt(2 * math.pi) * S_MAX / (4 * d))
    assert bound > -300
    with torch.no_grad():
        p.log_scale.fill_(math.log(p.scale_floor))
        p.log_scale[1, :, n // 2:] = math.log(S_MAX)                     # block 1: mixed floor / S_MAX
        p.log_scale[1, 1, : n // 2] = math.log(S_MAX)                    # component 1: the other half
        p.log_scale[1, 1, n // 2:] = math.log(p.scale_floor)
    u = torch.as_tensor(np.stack([hole, hole]))[None].repeat(3, 1, 1)      # (3, 2, n)
    u[1] += torch.as_tensor(a)                                             # other copies of the hole
    u[2] = -u[2]
    with torch.no_grad():
        z = p.log_normalizer(u)
        m = p.log_residue_sums(u).amax(dim=(0, -1)).sum(-1)                # sum_i m_i, (N, R, C)
    log_s = z - m
    assert (log_s >= bound).all(), (float(log_s.min()), bound)
    _assert_paths_agree(p, u, u_atol=1e-12 / p.scale_floor ** 2)        # grad_u = 0 at a deep hole, floor block


@pytest.mark.parametrize("name", NAMES)
def test_fused_residue_sums_equal_the_eager_ones(name):
    """residue_log_sums (numba) against log_residue_sums (log_theta_1d): values and gradients w.r.t.
    the dithers and log-scales to 1e-12, scales from below the floor to S_MAX, both branches, at the switch."""
    from theory.code_trellis_fused import residue_log_sums
    from theory.discrete_gaussian_prior import DIRECT_TERMS, S_MIN, SWITCH_SCALE
    p = _prior(name, n_blocks=2, components=3, lo=0.05, hi=1e3, seed=25)
    d = p.coded.spacing
    with torch.no_grad():
        p.log_scale[0, 0, :3] = math.log(p.scale_floor)
        p.log_scale[0, 1, :3] = math.log(SWITCH_SCALE * 4 * d)             # sc / 4 at the switch
        p.log_scale[1, 2, :3] = math.log(S_MAX)
    u0 = (torch.rand(7, 2, p.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(26)) - 0.5) * 8
    u0[0, 0, :4] = torch.tensor([0.0, 0.5, 0.25, -0.75]) * d * 4         # x - r on the rounding ties
    v = torch.randn(2, 7, 2, 3, p.dim, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(27))
    out = []
    for fused in (False, True):
        u = u0.clone().requires_grad_()
        p.zero_grad()
        if fused:
            x = (u[None] - p._shifts[:, None, None, :]) / d
            lt = residue_log_sums(x, p.scales() / d, S_MIN, SWITCH_SCALE, DIRECT_TERMS)
        else:
            lt = p.log_residue_sums(u)
        (lt * v[:lt.shape[0]]).sum().backward()
        out.append((lt.detach(), u.grad.clone(), p.log_scale.grad.clone()))
    for a, b in zip(out[1], out[0]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12 * float(b.abs().max()))


def test_log_sum_glued_small_code_and_gradcheck():
    """log_sum_glued against the enumeration (glue rows added), its log-space fallback, and gradcheck."""
    from theory.code_trellis_fused import log_sum_glued
    words = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1]])
    t = CodeTrellis(words, order=[2, 0, 3, 1])
    lw = torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(24)) * 30
    want = torch.logsumexp(t.log_sum(lw), 0)
    np.testing.assert_allclose(log_sum_glued(t, lw).numpy(), want.numpy(), rtol=1e-13, atol=0)
    lw_inf = lw.clone()
    lw_inf[0, 0, 1, 3] = -math.inf                                         # not finite: the reference path
    np.testing.assert_allclose(log_sum_glued(t, lw_inf).numpy(),
                               torch.logsumexp(t.log_sum(lw_inf), 0).numpy(), rtol=1e-13, atol=0)
    x = (lw / 30).requires_grad_()
    assert torch.autograd.gradcheck(lambda y: log_sum_glued(t, y), (x,), eps=1e-6, atol=1e-8, rtol=1e-7)


# ------------------------------------------------------------------ (c) gradients
@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_log_prob_wrt_scales_and_logits(name):
    p = _prior(name, n_blocks=1, components=2, lo=0.3, hi=4.0, seed=7)
    g = torch.Generator().manual_seed(8)
    u = (torch.rand(2, 1, p.dim, dtype=torch.float64, generator=g) - 0.5)
    coords = torch.as_tensor(enumerate_points(p.lattice, 4)[0][[0, 1, 7]])[:, None, :]   # 3 points
    points = (coords.double() @ p._basis)[:, None]                                        # (3, 1, 1, n)

    def f(log_scale, mix_logits):
        out = torch.func.functional_call(p, {"log_scale": log_scale, "mix_logits": mix_logits},
                                         (points, u[None]))
        return out

    inputs = (p.log_scale.detach().clone().requires_grad_(), p.mix_logits.detach().clone().requires_grad_())
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-6)


# ------------------------------------------------------------------ (e) the prior contract and the coder
@pytest.mark.parametrize("name,max_points", [("bw16", 70_000), ("leech", 5000)])
def test_check_prior(name, max_points):
    prior = build_prior("dgauss", lattices.get(name), 2)
    assert "round trip" in check_prior(prior, max_points=max_points)
    assert type(prior.coder()) is DGaussCodedPriorCoder


def test_supported_lattice_message_lists_the_code_lattices():
    from vae.priors.dgauss import DGaussPrior
    assert DGaussPrior.supported_lattice(lattices.get("bw16")) is None
    msg = DGaussPrior.supported_lattice(lattices.get("e7"))
    assert "bw16" in msg and "leech" in msg and set(CODED) == {"bw16", "leech"}
    with pytest.raises(TypeError, match="coset"):
        DGaussPriorCoder(DiscreteGaussianPrior(lattices.get("leech"), 1, 1))


@pytest.mark.parametrize("name", NAMES)
def test_chain_of_conditionals_is_the_priors_pmf(name):
    """The product of the coder's conditionals equals p(a|u) (1e-11 in log); every conditional
    over a wide window sums to 1 less the outside mass; a symbol leaving the code has p = 0."""
    p = _prior(name, n_blocks=2, components=3, lo=0.3, hi=3.0, seed=9)
    coder = DGaussCodedPriorCoder(p)
    rng = np.random.default_rng(10)
    coords = enumerate_points(p.lattice, 6 if name == "bw16" else 4)[0]
    pick = coords[rng.integers(0, len(coords), 40)]                            # (40, n): 20 images x 2 blocks
    v = rng.uniform(-1, 1, pick.shape)
    h, k = coder.split(pick)
    np.testing.assert_array_equal(coder.join(h, k), pick)
    window = 40                                                               # 9 sigma at s = 3
    chain = coder.conditionals(v, 0)
    rows = np.arange(len(h))
    total = chain.coset_log_pmf()[rows, h] if coder.H > 1 else np.zeros(len(h))
    if coder.H > 1:
        np.testing.assert_allclose(np.exp(chain.coset_log_pmf()).sum(1), 1, rtol=1e-13)
    chain.choose_coset(h)
    for i in range(coder.n):
        log_pmf, lc = chain.coordinate_log_pmf(i, window)
        assert np.all(np.exp(log_pmf).sum(1) <= 1 + 1e-12) and np.all(np.exp(log_pmf).sum(1) > 1 - 1e-9)
        total = total + log_pmf[rows, k[:, i] + window]
        chain.advance(k[:, i], log_pmf, lc, window)
    with torch.no_grad():
        want = p.log_prob_coords(torch.as_tensor(pick).reshape(20, 2, p.dim),
                                 torch.as_tensor(v).reshape(20, 2, p.dim)).reshape(-1).numpy()
    np.testing.assert_allclose(total, want, rtol=0, atol=1e-11)


@pytest.mark.parametrize("name", NAMES)
def test_tiny_model_compress_decompress_round_trip(name):
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent=name, hidden=16 if name == "bw16" else 24,
                            latent_options={"prior": "dgauss"})).eval()
    x = (torch.rand(30, 784, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    coder = codec.coder_for(model.latent)
    assert type(coder.prior_coder) is DGaussCodedPriorCoder
    data = model.compress(x, seed=3)
    out = model.decompress(data)
    m = measure(model, x, seed=3)
    assert (out["symbols"] == m["symbols"]).all()
    window = unpack(data)[0]["coder_params"]["window"]
    steps = coder.prior_coder.n + (coder.prior_coder.H > 1)
    bound = coder.prior_coder.R * steps * -math.log2(1 - (2 * window + 2) / 2 ** PRECISION)
    gap = m["coded_bits"] - m["ideal_bits"]
    assert np.all(gap <= bound + 1e-9) and abs(gap.sum()) <= 1e-3 * m["ideal_bits"].sum()
    assert m["coded_bits"].sum() - 1 <= m["payload_bits"] <= m["coded_bits"].sum() + 64 + 32
