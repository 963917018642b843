r"""Training-time loss vs inference-time loss of a trained lattice VAE (Sec. 3.3, 3.5, 3.6).

    python -m validation.train_vs_inference RUN_DIR [--split test] [--limit 1000] [--subset first|spread] [--dithers 32]
        [--inner 512] [--seed 0] [--checkpoint best|last] [--batch-size 100] [--device auto]
        [--data-dir DIR] [--plot PATH.png] [--json] [--no-progress]

For each image ``x`` of the split and ``K`` dithers per image, with ``e = e(x)``:

* **training-time loss** (quantization free), the per-example objective without ``aux``:

  - ``z-laplace`` (Sec. 3.6.1), eq. (5): :math:`-\log p(x|e-U) + \log f_U(U)/f_{S-U}(e-U)`,
    U uniform over the cell of :math:`\Delta\mathbb Z^m` (``LatentLayer.train_terms``: ``rate``);
  - ``z2``/``a2``/``e8`` (Sec. 3.6.2): :math:`-\log p(x|e-U_G)` + the proxy KL,
    :math:`U_G\sim\mathcal N(0,\sigma^2_{U_G}I)` (the code-length term of eq. (6) is ``aux``: left out);

* **inference-time loss** (Sec. 3.6.3), (9) + (10): :math:`-\log p(x|K(e+U)-U) - \log p_{\hat Z|U}(K(e+U)|U)`
  = ``-model.log_weights(x, K)`` (one number per dither; the mean over dithers is the expected
  single-sample loss, not a log-mean-exp).

**Estimators.**  Per image the mean over its K dithers of each side; the reported means are the
means over the n images, the standard errors ``std(per-image means) / sqrt(n)`` (images and their
dithers are independent, so the SE covers the data spread and the dither noise).  The difference is
**paired**: per image, (mean train) - (mean inference), then its mean and SE over images.

**z-laplace: the claim** (Sec. 3.3, "in expectation, the performance of either will be
identical"): for every x, E_U[train] = E_U[inference], from the Crypto-Lemma (reconstruction:
:math:`e-U \overset{d}{=} K(e+U)-U`) and Theorem 1 (representation: E rate = E code length).
Checks: the total, the reconstruction part and the representation part, each
``|mean difference| < 4 SE`` (``validation._report.z_check``).  Both sides use the *same* dither
per sample (common random numbers: each side keeps its own law, so the expectation of the
difference is unchanged and its variance is smaller).

Negative controls (must be refuted, ``|mean difference| >= 4 SE``), each an inference side with a
dither that breaks the premise of the lemma:

* *unshared dither*: the decoder subtracts an independent dither, :math:`K(e+U)-U'` with
  :math:`U'\perp U` (encoder and decoder do not share the randomness; the noise around e has
  about 3x the variance, :math:`\Delta^2/4` instead of :math:`\Delta^2/12` per coordinate on
  average), code length unchanged;
* *prior of the wrong cell*: the code length of :math:`p_{Z|U}` for the lattice
  :math:`2\Delta\mathbb Z` (a different Delta in the code length): for every U it is a
  valid pmf over the indices z, but U is uniform over only half of that lattice's cell, so
  Theorem 1 does not hold for it (reconstruction left correct).

A third candidate, :math:`U' = U/2` throughout (quantizer, decoder, code length), was measured and
dropped: it has no power (z = -0.97 on the test model), because averaged over where e lies in its
cell, the error :math:`K(e+U')-(e+U')` is again uniform over the cell.

The report states the detectable effect: 4 SE of the total paired difference.

**z2/a2/e8: a measurement, not a claim.**  The two losses differ by design; the report gives
the gap (train - inference) split into the reconstruction part (recon at :math:`e-U_G` minus
recon at :math:`K(e+U)-U`) and the representation part (proxy KL minus code length), with

(a) the per-dimension KL of eq. (7), :math:`\tfrac12\log(2\pi e G(\Lambda))`
    (``theory.kl.kl_per_dimension``), and the total :math:`\tfrac m2\log(2\pi eG)`;
(b) the learned prior's excess code length: code length minus the ideal code length of the true
    :math:`p_{Z|U}` induced by :math:`S_G\sim\mathcal N(0,\sigma^2_{S_G,b}I)` per block, which by
    Theorem 1 has the expectation :math:`E_U[\log f_U(U)/f_{S-U}(e-U)]`,
    :math:`f_{S-U}(\eta) = E_V f_S(\eta - V)`, V uniform over the scaled cell (Sec. 3.4).  It is
    estimated on the *same* dithers as the code length, with ``--inner J`` fresh V per image and
    block, :math:`\log\frac1J\sum_j f_S(\eta-V_j)`.  Jensen: :math:`E\log\hat f \le \log f`, a
    bias of order 1/J; the estimate is the Richardson (split-half) correction
    :math:`2L_J - \tfrac12(L_{J/2}^{(1)} + L_{J/2}^{(2)})`, bias :math:`O(J^{-2})`, and the
    report gives the size of the correction.

Why (a) belongs beside the gap: the expected proxy KL minus the expected ideal code length is
:math:`h(U) - h(U_G)` plus :math:`E[-\log\mathcal N(e-U_G; \sigma^2_U+\sigma^2_S)] - E[-\log f_{S-U}(e-U)]`;
with the matched second moments of eq. (8), :math:`h(U) - h(U_G) = -\tfrac m2\log(2\pi eG)`
exactly, and the second term vanishes as :math:`\sigma^2_{S_G}` grows against the cell.  The
report gives ``proxy_kl_minus_ideal_beyond_eq7`` = (proxy KL - ideal) + :math:`\tfrac m2\log(2\pi eG)`.

The representation part is further split as (proxy KL - ideal code length) + (ideal - learned
code length); the parts add up to the total gap to float round-off.  ``checks`` of a proxy
report are what is verifiable about the measurement: the parts add up (< 1e-9 nats relative
to the sizes involved), and the Jensen correction of the ideal code length is smaller than its
SE (else raise ``--inner``).  ``confirmed`` (exit 0) means: the measurement ran and is sound;
exit 1: a soundness check failed; exit 2: bad usage (missing run, a latent without a lattice).

.. warning:: The SEs are over the n images of the split prefix (``--limit``); the per-image
   values of a trained model are far from Gaussian (digits differ), but n ~ 1000 is ample for
   the central limit theorem at the 4-SE level.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from theory.kl import kl_per_dimension
from validation._report import Check, emit, make_report, usage_error, z_check
from vae.evaluate import SUBSETS, select_images
from lattices.cli import ArgumentParser, cli_main, output_path

__all__ = ["LATTICE_LATENTS", "build_parser", "main", "run", "per_image_terms", "ideal_code_length",
           "paired_stats"]

#: latents with a dithered lattice quantizer (a training and an inference regime).
LATTICE_LATENTS = ("z-laplace", "z2", "a2", "e8", "bw16", "leech", "proxy")
_PROXY = ("z2", "a2", "e8", "bw16", "leech", "proxy")


def paired_stats(a: np.ndarray) -> dict:
    """Mean, standard error (ddof 1, over the first axis) and count of per-image values ``a`` (n,)."""
    a = np.asarray(a, dtype=np.float64)
    n = a.shape[0]
    se = float(a.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"mean": float(a.mean()), "standard_error": se, "n_images": int(n)}


def _recon(model, decoder_input, x):
    """-log p(x | decoder_input), float64, (batch, k) for decoder inputs (batch, k, m)."""
    from vae.models import bernoulli_log_likelihood

    logits = model.decoder(decoder_input)                                      # (batch, k, 784)
    return -bernoulli_log_likelihood(logits, x[:, None, :]).double()


def _swap_state(gen, state):
    old = gen.get_state()
    gen.set_state(state)
    return old


@torch.no_grad()
def ideal_code_length(latent, e, u, inner: int, generator) -> dict:
    r"""Theorem 1's RHS per dither for a Gaussian-proxy layer, :math:`\log f_U(U) - \log\hat f_{S-U}(e-U)`.

    Parameters
    ----------
    latent : ProxyLatticeLatent
    e : (B, m) encoder outputs; u : (B, k, m) dithers (uniform over the scaled cell), float64.
    inner : int, even, J inner samples V per image and block (shared by that image's k dithers).

    Returns
    -------
    dict of (B, k) float64: ``plain`` (log-mean-exp over all J), ``half`` (mean of the two
    split-half estimates), ``corrected`` = 2 plain - half (Richardson: the O(1/J) Jensen bias
    cancels).
    """
    B, k, _ = u.shape
    R, n = latent.n_blocks, latent.block_dim
    delta = latent.delta().detach().double()                                   # (R,)
    s2s = latent.log_sigma2_s.detach().double().exp()                          # (R,)
    eta = (e.detach().double()[:, None, :] - u).reshape(B, k, R, n)            # e - U, (B, k, R, n)
    v = latent.base.sample_cell_torch(B * R * inner, generator=generator, device=e.device,
                                      dtype=torch.float64).reshape(B, R, inner, n)
    w = delta[None, :, None, None] * v                                         # V over the scaled cell
    # ||eta - w||^2 = ||eta||^2 - 2 eta.w + ||w||^2, (B, R, k, J)
    eta_r = eta.permute(0, 2, 1, 3)                                            # (B, R, k, n)
    d2 = ((eta_r ** 2).sum(-1)[..., None] - 2 * eta_r @ w.transpose(-1, -2)
          + (w ** 2).sum(-1)[:, :, None, :]).clamp_min(0)
    log_fs = -0.5 * n * torch.log(2 * math.pi * s2s)[None, :, None, None] - d2 / (2 * s2s[None, :, None, None])
    log_fu = -(n * torch.log(delta) + math.log(latent.base.volume))            # (R,): 1 / vol(scaled cell)

    def code(block):                                                           # (B, R, k, J') -> (B, k)
        lf = torch.logsumexp(block, dim=-1) - math.log(block.shape[-1])        # log f^_{S-U}(e - U)
        return (log_fu[None, :, None] - lf).sum(1)

    plain = code(log_fs)
    half = 0.5 * (code(log_fs[..., : inner // 2]) + code(log_fs[..., inner // 2:]))
    return {"plain": plain, "half": half, "corrected": 2 * plain - half}


@torch.no_grad()
def per_image_terms(model, x, k: int, generator, *, inner: int = 512, controls: bool = True) -> dict:
    """Per-(image, dither) terms of both losses for a batch ``x`` (B, 784): dict of (B, k) float64.

    Keys: ``train_recon``, ``train_rate``, ``inf_recon``, ``inf_code`` (their sums are the two
    losses); for z-laplace with ``controls`` also ``ctl_recon``, ``ctl_code`` (a correct inference
    side on fresh dithers), ``ctl_unshared_recon``, ``ctl_wide_code``; for proxy latents
    ``ideal_plain``, ``ideal_half``, ``ideal`` (:func:`ideal_code_length`).
    ``inf_recon + inf_code`` equals ``-model.log_weights(x, k, generator)`` for the same generator
    state (the inference side is computed exactly as ``VAE.log_weights`` does).
    """
    latent = model.latent
    name = latent.name
    B = x.shape[0]
    e = model.encoder(x)                                                       # (B, m)
    m = e.shape[1]
    state0 = generator.get_state()
    samples = latent.inference_samples(e, k, generator)                        # Sec. 3.6.3
    out = {"inf_recon": _recon(model, samples["decoder_input"], x),            # eq. (9)
           "inf_code": -samples["log_ratio"].double()}                         # eq. (10)
    state1 = generator.get_state()
    e_rep = e[:, None, :].expand(B, k, m).reshape(B * k, m)
    if name == "z-laplace":
        # the same uniforms as inference_samples: U_train = U_inference (common random numbers)
        _swap_state(generator, state0)
        terms = latent.train_terms(e_rep, generator)                           # eq. (5)
        generator.set_state(state1)
    else:
        # Sec. 3.6.2 steps 1-2 as in ProxyLatticeLatent.train_terms, without its aux (the code
        # length of eq. (6), outside the trained bound, and the costliest part to evaluate)
        sigma_u = (0.5 * latent.log_sigma2_u).exp().repeat_interleave(latent.block_dim).to(e.dtype)
        u_g = sigma_u * torch.randn(e_rep.shape, generator=generator, device=e.device, dtype=e.dtype)
        terms = {"decoder_input": e_rep - u_g, "rate": latent.proxy_rate(e_rep, u_g)}
    out["train_recon"] = _recon(model, terms["decoder_input"].reshape(B, k, m), x)
    out["train_rate"] = terms["rate"].double().reshape(B, k)
    if name == "z-laplace" and controls:
        from theory.laplace import neg_log_p_z_given_u

        delta = latent.delta.detach()
        u = latent.sample_dither(B * k, generator, e.device, e.dtype).reshape(B, k, m)
        u2 = latent.sample_dither(B * k, generator, e.device, e.dtype).reshape(B, k, m)
        z = torch.round((e[:, None, :] + u) / delta)
        out["ctl_recon"] = _recon(model, z * delta - u, x)                    # a correct (9) on these U
        out["ctl_unshared_recon"] = _recon(model, z * delta - u2, x)           # decoder: U' indep. of U
        out["ctl_code"] = neg_log_p_z_given_u(z.double(), u.double(), latent.alpha,
                                              delta.double()).sum(-1)          # a correct (10)
        # p_{Z|U} of the lattice 2 Delta Z: a valid pmf over z for every U, but U covers only
        # half of that lattice's cell, so Theorem 1 does not apply to it
        out["ctl_wide_code"] = neg_log_p_z_given_u(z.double(), u.double(), latent.alpha,
                                                   2 * delta.double()).sum(-1)
    if name in _PROXY:
        # the dithers of inference_samples again (same draws), for Theorem 1's RHS on the same U
        old = _swap_state(generator, state0)
        u = latent.sample_dither(B * k, generator, e.device, torch.float64).reshape(B, k, m)
        generator.set_state(old)
        lattice_pts = samples["decoder_input"].double() + u                    # z = (z - U) + U
        coef = (lattice_pts.reshape(B, k, latent.n_blocks, latent.block_dim)
                / latent.delta().detach().double()[:, None]) @ latent._basis_inv
        assert float((coef - coef.round()).abs().max()) < 1e-3, "dither re-draw is not the inference dither"
        ideal = ideal_code_length(latent, e, u, inner, generator)
        out.update(ideal_plain=ideal["plain"], ideal_half=ideal["half"], ideal=ideal["corrected"])
    return out


@torch.no_grad()
def rate_allocation(model, x, batch_size: int = 100) -> dict:
    r"""Where the proxy rate goes, per block of the product lattice (Sec. 3.6.2, 3.5).

    With :math:`U_G \sim N(0, \sigma^2_{U,b} I_n)` the proxy KL of block b has the closed-form
    expectation :math:`\tfrac12[(\lVert e_b\rVert^2 + n\sigma^2_{U,b})/(\sigma^2_{U,b}+\sigma^2_{S,b})
    - n - n\log(\sigma^2_{U,b}/(\sigma^2_{U,b}+\sigma^2_{S,b}))]`.  Returns the per-image
    expectation per block ``kl`` (N, R) and, per block, :math:`\sigma^2_U`, :math:`\sigma^2_S` and the
    activity :math:`\mathrm{Var}_x(e_j)/\sigma^2_{U,b}` of each of its n coordinates: one step
    :math:`\Delta_b` (eq. (8)) serves all n coordinates of a block, so a block whose coordinates
    differ in activity cannot give each its own rate as a Gaussian VAE (or Z², n = 2) can.
    """
    lat = model.latent
    e = torch.cat([model.encoder(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]).double()
    s2u, s2s = lat.log_sigma2_u.exp().double(), lat.log_sigma2_s.exp().double()
    tot, n = s2u + s2s, lat.block_dim
    eb = lat.blocks(e)                                                           # (N, R, n)
    kl = 0.5 * ((eb ** 2).sum(-1) + n * s2u) / tot - 0.5 * n - 0.5 * n * torch.log(s2u / tot)
    activity = e.var(0).reshape(lat.n_blocks, n) / s2u[:, None]
    return {"kl": kl.cpu().numpy(), "sigma2_u": s2u.cpu().numpy(), "sigma2_s": s2s.cpu().numpy(),
            "activity": activity.cpu().numpy()}


@torch.no_grad()
def support_usage(model, x, dithers: int, generator, batch_size: int = 100) -> dict:
    r"""How much of the quantized points the prior's norm-shell support covers (Sec. 3.4).

    Quantizes every image with ``dithers`` fresh dithers, per block, and returns the de-scaled
    squared norms' percentiles and the fraction of blocks beyond ``K = max_norm``, where only
    the escape component gives them mass (``vae.latents.proxy``: K must grow with
    :math:`\sigma^2_S/\sigma^2_U`, which training increases).  For the full-support prior
    ``prior='dgauss'`` there is no ``K``: ``max_norm_K``, ``threshold_t`` and
    ``fraction_beyond_K`` are ``None`` (n/a) and only the percentiles are reported.
    """
    from lattices.theta_exact import norm_unit

    lat = model.latent
    prior = lat.prior
    unit = float(norm_unit(lat.base))
    delta = lat.delta().detach().double()
    norms = []
    for i in range(0, x.shape[0], batch_size):
        e = model.encoder(x[i:i + batch_size])
        B = e.shape[0]
        v = lat.cell_samples((B, dithers), generator, e.device)
        eb = lat.blocks(e)[:, None].expand(B, dithers, lat.n_blocks, lat.block_dim)
        pts = lat.points_from_coefficients(lat.quantize_blocks(eb, v, delta))
        norms.append(((pts ** 2).sum(-1) / unit).reshape(-1).cpu())
    norms = torch.cat(norms).numpy()
    pct = np.percentile(norms, [50, 90, 99, 99.9])
    shells = prior.norm_shells()                # None: no norm-shell part (e.g. prior='dgauss'), all points have mass
    return {"max_norm_K": None if shells is None else int(shells[0]),
            "threshold_t": None if shells is None else int(shells[1]),
            "fraction_beyond_K": None if shells is None else float(np.mean(norms > shells[0] + 1e-9)),
            "norm_percentiles": {"50": float(pct[0]), "90": float(pct[1]), "99": float(pct[2]),
                                 "99.9": float(pct[3])},
            "n_blocks_quantized": int(norms.size)}


def _load_images(config, split, limit, data_dir, seed, device, subset="first"):
    from vae import data as vdata

    x = vdata.load_dataset(config.dataset, split, data_dir)
    if vdata.is_dynamic(config.dataset, split):                # OMNIGLOT train: one fixed binarization
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
    return select_images(x, limit, subset).to(device)


def run(run_dir, *, split="test", limit=1000, subset="first", dithers=32, inner=512, seed=0, which="best",
        batch_size=100, device="auto", data_dir=None, progress=True, plot=None) -> dict:
    """Compute the report of ``run_dir`` (see the module notes); ``ValueError`` for bad usage."""
    from vae import data as vdata
    from vae.train import epoch_generator, load_run, resolve_device

    t0 = time.perf_counter()
    if split not in vdata.SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(vdata.SPLITS)}")
    for opt, val, low in (("--limit", limit, 2), ("--dithers", dithers, 1), ("--batch-size", batch_size, 1),
                          ("--inner", inner, 2)):
        if isinstance(val, bool) or not isinstance(val, int) or val < low:
            raise ValueError(f"{opt} must be an integer >= {low}, got {val!r}")
    if inner % 2:
        raise ValueError(f"--inner must be even (split-half Jensen correction), got {inner}")
    dev = resolve_device(device)
    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise FileNotFoundError(f"run directory {run_dir} is a file; give the run's folder "
                                f"(the one holding best.pt and config.json)")
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    model, config = load_run(run_dir, which, dev)
    latent = config.model["latent"]
    if latent not in LATTICE_LATENTS:
        raise ValueError(f"run {run_dir} has latent {latent!r}, which has no lattice quantizer: the "
                         f"training-vs-inference comparison needs one of {', '.join(LATTICE_LATENTS)}")
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; valid: {', '.join(SUBSETS)}")
    x = _load_images(config, split, limit, data_dir, seed, dev, subset)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 images, the {split} split gives {n}")
    gen = epoch_generator(seed, 0, 3, dev)
    parts: dict[str, list] = {}
    starts = range(0, n, batch_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="images", unit="img", leave=False, dynamic_ncols=True)
    for start in starts:
        xb = x[start:start + batch_size]
        terms = per_image_terms(model, xb, dithers, gen, inner=inner)
        for key, val in terms.items():
            parts.setdefault(key, []).append(val.cpu().numpy())
        if bar is not None:
            bar.update(xb.shape[0])
    if bar is not None:
        bar.close()
    t = {key: np.concatenate(v, axis=0) for key, v in parts.items()}           # (n, K) each
    img = {key: v.mean(axis=1) for key, v in t.items()}                         # per-image means
    train = img["train_recon"] + img["train_rate"]
    infer = img["inf_recon"] + img["inf_code"]
    meta = dict(run_dir=str(run_dir), latent=latent, dataset=config.dataset, arch=config.model["arch"],
                hidden=config.model["hidden"], checkpoint=which, split=split, subset=subset, n_images=int(n),
                n_dithers=int(dithers), seed=int(seed))
    est = {"train_loss": paired_stats(train), "inference_loss": paired_stats(infer),
           "difference": paired_stats(train - infer),
           "train_recon": paired_stats(img["train_recon"]), "train_rate": paired_stats(img["train_rate"]),
           "inference_recon": paired_stats(img["inf_recon"]),
           "inference_code_length": paired_stats(img["inf_code"]),
           "recon_difference": paired_stats(img["train_recon"] - img["inf_recon"]),
           "representation_difference": paired_stats(img["train_rate"] - img["inf_code"])}
    if plot is not None:
        _plot(plot, train, infer, meta)
    if latent == "z-laplace":
        report = _laplace_report(img, train, infer, est, meta)
    else:
        report = _proxy_report(model, img, train, infer, est, meta, inner,
                               rate_allocation(model, x, batch_size))
        report["prior_support"] = support_usage(model, x, dithers, gen, batch_size)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    if plot is not None:
        report["plot"] = str(plot)
    return report


def _check(name, a, b, **details) -> Check:
    """Paired check: mean of per-image ``a - b`` vs 0 within 4 SE; estimate/reference are the two means."""
    d = paired_stats(a - b)
    return z_check(name, float(np.mean(a)), float(np.mean(b)), d["standard_error"], d["n_images"], **details)


def _laplace_report(img, train, infer, est, meta) -> dict:
    n_se = est["difference"]["standard_error"]
    checks = [
        _check("total: eq. (5) training loss vs (9)+(10) inference loss", train, infer),
        _check("reconstruction (Crypto-Lemma): -log p(x|e-U) vs -log p(x|K(e+U)-U)",
               img["train_recon"], img["inf_recon"]),
        _check("representation (Theorem 1): rate log f_U/f_{S-U}(e-U) vs code length -log p_{Z|U}",
               img["train_rate"], img["inf_code"]),
    ]
    unshared = img["ctl_unshared_recon"] + img["ctl_code"]
    wide = img["ctl_recon"] + img["ctl_wide_code"]
    controls = [
        _check("unshared dither: decoder input K(e+U)-U' with U' independent of U", train, unshared),
        _check("code length of p_{Z|U} for 2*Delta Z: U uniform over only half of its cell", train, wide),
    ]
    est["control_unshared_dither"] = paired_stats(train - unshared)
    est["control_prior_2delta"] = paired_stats(train - wide)
    return make_report(
        "Sec. 3.3: training loss (5) = inference loss (9)+(10) in expectation (z-laplace)",
        "for every x, E_U[-log p(x|e-U) + log f_U(U)/f_{S-U}(e-U)] = "
        "E_U[-log p(x|K(e+U)-U) - log p_{Z|U}(K(e+U)|U)], U uniform over the cell of Delta Z^m",
        checks, controls, **meta,
        rule="|mean paired difference| < 4 SE (SE over images of the per-image mean over dithers)",
        detectable_effect=(f"{4 * n_se:.3g} nats per image (4 SE of the total paired difference, "
                           f"{meta['n_images']} images x {meta['n_dithers']} dithers)"),
        estimates=est)


def _proxy_report(model, img, train, infer, est, meta, inner, alloc) -> dict:
    latent = model.latent
    base = latent.base
    m = meta["hidden"]
    kl_dim = float(kl_per_dimension(base))
    gap = train - infer
    recon_part = img["train_recon"] - img["inf_recon"]
    rep_part = img["train_rate"] - img["inf_code"]
    proxy_vs_ideal = img["train_rate"] - img["ideal"]
    excess = img["inf_code"] - img["ideal"]
    jensen = img["ideal_half"] - img["ideal_plain"]                 # ~ the O(1/J) bias removed
    est.update(gap=paired_stats(gap), gap_reconstruction=paired_stats(recon_part),
               gap_representation=paired_stats(rep_part),
               ideal_code_length=paired_stats(img["ideal"]),
               ideal_code_length_uncorrected=paired_stats(img["ideal_plain"]),
               jensen_correction=paired_stats(jensen),
               proxy_kl_minus_ideal=paired_stats(proxy_vs_ideal),
               # E[proxy KL - ideal] = h(U) - h(U_G) + (the f_{S-U} vs Gaussian term); with matched
               # second moments (eq. (8)) h(U) - h(U_G) = -(m/2) log(2 pi e G) exactly, so this
               # residual is the second term alone, ~0 when sigma2_S >> the cell
               proxy_kl_minus_ideal_beyond_eq7=paired_stats(proxy_vs_ideal + m * kl_dim),
               excess_code_length=paired_stats(excess))
    # the identities (per image, exact up to float64 round-off)
    scale = float(np.max(np.abs(np.stack([train, infer, img["train_rate"], img["ideal"]])))) + 1.0
    err_total = float(np.max(np.abs(recon_part + rep_part - gap)))
    err_rep = float(np.max(np.abs(proxy_vs_ideal - excess - rep_part)))
    tol = 1e-9 * scale
    checks = [
        Check("gap = reconstruction part + representation part (per image)", err_total, 0.0, tol / 4,
              meta["n_images"], f"max |difference| < {tol:.2g} (1e-9 x the largest term)", err_total < tol),
        Check("representation part = (proxy KL - ideal code) - (learned - ideal code) (per image)",
              err_rep, 0.0, tol / 4, meta["n_images"], f"max |difference| < {tol:.2g}", err_rep < tol),
    ]
    jc, ise = est["jensen_correction"]["mean"], est["ideal_code_length"]["standard_error"]
    checks.append(Check(f"Jensen correction of the ideal code length (J={inner}) below its SE",
                        abs(jc), 0.0, ise, meta["n_images"],
                        "|mean correction| < 1 SE of the ideal code length (else raise --inner)",
                        abs(jc) < ise))
    expected_rate = alloc["kl"].sum(axis=1)
    checks.append(_check("closed-form E_U[proxy KL], summed over blocks, vs the measured training rate",
                         img["train_rate"], expected_rate))
    act = alloc["activity"]
    per_block = [{"expected_proxy_kl": float(alloc["kl"][:, b].mean()),
                  "sigma2_u": float(alloc["sigma2_u"][b]), "sigma2_s": float(alloc["sigma2_s"][b]),
                  "activity": [round(float(a), 4) for a in act[b]]} for b in range(act.shape[0])]
    spread = act.max(axis=1) / np.maximum(act.min(axis=1), 1e-300)
    rate_alloc = {"per_block": per_block,
                  "within_block_activity_ratio_median": float(np.median(spread)),
                  "within_block_activity_ratio_max": float(np.max(spread)),
                  "note": "activity = Var_x(e_j) / sigma2_U of the block; ratio = max/min activity "
                          "within a block (1: the block's coordinates are alike, one step suits all)"}
    from theory.scaling import nsm_value

    G = nsm_value(base)  # exact, or SPLAG's value for BW16 / Leech (no closed form)
    return make_report(
        f"Sec. 3.5: Gaussian-proxy training loss vs lattice inference loss ({meta['latent']}, measured)",
        "gap = E[recon(e-U_G) + proxy KL] - E[recon(K(e+U)-U) + code length]: a measured quantity "
        "(no equality is claimed); checks: the decomposition is exact and the ideal code length's "
        "Monte Carlo bias is negligible",
        checks, [], **meta,
        base_lattice=base.name, nsm=G, blocks=int(latent.n_blocks), inner_samples=int(inner),
        kl_per_dimension_eq7=kl_dim, kl_total_eq7=m * kl_dim, rate_allocation=rate_alloc,
        ideal_code_estimator=(f"log f_U(U) - log (1/J) sum_j f_S(e-U-V_j), J={inner} fresh V per image and "
                              f"block, Richardson split-half correction 2 L_J - (L_J/2 + L_J/2')/2 "
                              f"(Jensen bias O(1/J^2)); same dithers U as the code length"),
        rule="measurement; exit 0 when the decomposition checks hold and the Jensen correction < 1 SE",
        estimates=est)


def _plot(path, train, infer, meta):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(infer, train, s=6, alpha=0.5)
    lo, hi = float(min(train.min(), infer.min())), float(max(train.max(), infer.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="train = inference")
    ax.set_xlabel("inference loss (9)+(10), mean over dithers (nats)")
    ax.set_ylabel("training loss, mean over dithers (nats)")
    ax.set_title(f"{meta['latent']} / {meta['dataset']} {meta['split']}: "
                 f"{meta['n_images']} images x {meta['n_dithers']} dithers", fontsize=9)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def _print_estimates(report, out=None):
    out = out or sys.stdout
    print("| quantity (nats per image) | mean | SE |", file=out)
    print("|---|---|---|", file=out)
    for key, s in report["estimates"].items():
        print(f"| {key} | {s['mean']:.4f} | {s['standard_error']:.3g} |", file=out)
    print("", file=out)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m validation.train_vs_inference",
                                description="Training-time loss vs inference-time loss of a trained "
                                            "lattice VAE (Sec. 3.3, 3.5).")
    p.add_argument("run_dir", help="run directory written by python -m vae.train (z-laplace or a "
                                   "Gaussian-proxy latent: z2, a2, e8, bw16, leech, proxy)")
    p.add_argument("--split", default="test", help="train, valid or test (default test)")
    p.add_argument("--limit", type=int, default=1000, help="N images of the split (default 1000)")
    p.add_argument("--subset", default="first", choices=SUBSETS,
                   help="the first N images (default) or N evenly spaced over the split (the MNIST "
                        "test set is ordered: 'spread' is representative of the whole split)")
    p.add_argument("--dithers", type=int, default=32, help="dithers per image (default 32)")
    p.add_argument("--inner", type=int, default=512,
                   help="inner samples V per image and block for the ideal code length (proxy; default 512)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default="best", choices=("best", "last"))
    p.add_argument("--batch-size", type=int, default=100, help="images per batch (default 100)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--plot", type=output_path, default=None, metavar="PATH.png",
                   help="scatter of per-image training vs inference loss with the diagonal")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


@cli_main("python -m validation.train_vs_inference")
def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits: cli_main returns their code (0 or 2)
    if args.plot is not None and not str(args.plot).lower().endswith(".png"):
        return usage_error(f"--plot must be a .png path, got {args.plot!r}")
    try:
        report = run(args.run_dir, split=args.split, limit=args.limit, subset=args.subset, dithers=args.dithers,
                     inner=args.inner, seed=args.seed, which=args.checkpoint, batch_size=args.batch_size,
                     device=args.device, data_dir=args.data_dir, progress=not args.no_progress,
                     plot=None if args.plot is None else str(args.plot))
    except (ValueError, FileNotFoundError) as exc:
        return usage_error(str(exc))
    if args.json:
        return emit(report, True)
    _print_estimates(report)
    return emit({k: v for k, v in report.items() if k != "estimates"}, False)


if __name__ == "__main__":
    sys.exit(main())
