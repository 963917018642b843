"""Tests of ``python -m validation.train_vs_inference`` on tiny trained runs.

Runs: ``vae.train`` with 500 training / 100 validation images, 2 epochs, hidden 8, linear, CPU
(about a second each).  Reports use 300 test images x 16 dithers (``--limit``/``--dithers``),
so the whole file stays well under 40 s on 2 cores.  Every report is seeded: same numbers on
every run.
"""
import json
import math

import numpy as np
import pytest
import torch

import lattices
from theory.kl import kl_per_dimension
from validation import train_vs_inference as tvi
from vae import train

from shared_data import needs_data

pytestmark = pytest.mark.usefixtures("vae_data_env")

TINY = ["--train-limit", "500", "--valid-limit", "100", "--epochs", "2", "--no-progress", "--device", "cpu",
        "--hidden", "8"]
REPORT = ["--limit", "300", "--dithers", "16", "--no-progress", "--device", "cpu"]


_RUNS = {}


def trained(tmp_path_factory, latent, dataset="mnist", epochs="2"):
    """A tiny trained run directory (made once per module)."""
    key = (latent, dataset, epochs)
    if key not in _RUNS:
        out = tmp_path_factory.mktemp(f"run-{latent}-{dataset}") / "run"
        args = ["--out", str(out), "--latent", latent, "--dataset", dataset, *TINY]
        if epochs != "2":
            args[args.index("--epochs") + 1] = epochs
        assert train.main(args) == 0
        _RUNS[key] = out
    return _RUNS[key]


def report_json(capsys, *args):
    capsys.readouterr()
    code = tvi.main([*map(str, args), *REPORT, "--json"])
    return code, json.loads(capsys.readouterr().out)


# ------------------------------------------------------------------------------ z-laplace: the claim
@needs_data
@pytest.mark.parametrize("dataset", ["mnist", "omniglot"])
def test_z_laplace_confirms_and_controls_are_refuted(tmp_path_factory, capsys, dataset):
    run_dir = trained(tmp_path_factory, "z-laplace", dataset)
    code, rep = report_json(capsys, run_dir)
    assert code == 0 and rep["confirmed"] is True
    assert rep["latent"] == "z-laplace" and rep["dataset"] == dataset
    assert rep["n_images"] == 300 and rep["n_dithers"] == 16 and rep["seed"] == 0
    assert len(rep["checks"]) == 3 and all(c["passed"] for c in rep["checks"])
    for c in rep["checks"]:                       # the 4-SE rule itself: |z| < 4
        assert abs(c["z"]) < 4 and c["standard_error"] > 0 and c["n_samples"] == 300
    # the negative controls must be refuted: |z| >= 4 (the check has power against them)
    assert len(rep["negative_controls"]) == 2
    assert all(not c["passed"] and abs(c["z"]) >= 4 for c in rep["negative_controls"])
    est = rep["estimates"]
    # the paired total difference is the sum of its two paired parts (per-image means are linear)
    assert est["difference"]["mean"] == pytest.approx(
        est["recon_difference"]["mean"] + est["representation_difference"]["mean"], abs=1e-9)
    assert est["difference"]["mean"] == pytest.approx(
        est["train_loss"]["mean"] - est["inference_loss"]["mean"], abs=1e-9)
    # pairing works: the SE of the difference is far below the spread of either loss over images
    assert est["difference"]["standard_error"] < 0.5 * est["train_loss"]["standard_error"]
    assert "nats per image" in rep["detectable_effect"]


@needs_data
def test_human_table_and_plot(tmp_path_factory, tmp_path, capsys):
    run_dir = trained(tmp_path_factory, "z-laplace")
    png = tmp_path / "scatter.png"
    capsys.readouterr()
    assert tvi.main([str(run_dir), *REPORT, "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "verdict: CONFIRMED" in out and "| train_loss |" in out and "refuted (as it must be)" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000


@needs_data
def test_sides_match_the_model(tmp_path_factory):
    """The inference side is -model.log_weights, and the z-laplace training side is model(x)'s loss."""
    from vae.data import load_dataset

    model, _ = train.load_run(trained(tmp_path_factory, "z-laplace"), "best")
    x = load_dataset("mnist", "test")[:20]
    gen = torch.Generator().manual_seed(7)
    state = gen.get_state()
    terms = tvi.per_image_terms(model, x, 5, gen)
    gen.set_state(state)
    lw = model.log_weights(x, 5, gen)
    # the same computation in the same order: equal to float64 round-off of the sum
    assert torch.allclose(torch.as_tensor(terms["inf_recon"] + terms["inf_code"]), -lw, rtol=0, atol=1e-9)
    gen.set_state(state)
    t1 = tvi.per_image_terms(model, x, 1, gen, controls=False)
    gen.set_state(state)
    with torch.no_grad():
        loss = model(x, gen)["per_example_loss"].double()      # recon + rate + aux, aux = 0 here
    # float32 forward pass vs the same pass: identical inputs, 1e-4 nats covers summation order
    assert torch.allclose(torch.as_tensor(t1["train_recon"] + t1["train_rate"])[:, 0], loss, atol=1e-4)


# ------------------------------------------------------------------------------ proxy: the measurement
@needs_data
def test_proxy_report_parts_add_up_and_kl_is_eq7(tmp_path_factory, capsys):
    run_dir = trained(tmp_path_factory, "e8")
    code, rep = report_json(capsys, run_dir, "--inner", "256")
    assert code == 0 and rep["confirmed"] is True and rep["negative_controls"] == []
    est = rep["estimates"]
    # gap = recon part + representation part: per image exactly, so the means to float round-off
    assert est["gap"]["mean"] == pytest.approx(
        est["gap_reconstruction"]["mean"] + est["gap_representation"]["mean"], abs=1e-9)
    assert est["gap_representation"]["mean"] == pytest.approx(
        est["proxy_kl_minus_ideal"]["mean"] - est["excess_code_length"]["mean"], abs=1e-9)
    assert est["gap"]["mean"] == pytest.approx(est["train_loss"]["mean"] - est["inference_loss"]["mean"],
                                               abs=1e-9)
    # eq. (7) per dimension, exactly the library's value; the total is m times it (m = 8)
    e8 = lattices.get("e8")
    assert rep["kl_per_dimension_eq7"] == kl_per_dimension(e8)
    assert rep["kl_total_eq7"] == pytest.approx(8 * kl_per_dimension(e8), rel=1e-12)
    assert rep["blocks"] == 1 and rep["inner_samples"] == 256
    # proxy KL - ideal code = h(U) - h(U_G) [= -(m/2) log(2 pi e G) exactly, eq. (8)] + a smoothing
    # term that is small when sigma2_S (1 here) >> the cell (sigma2_U ~ 0.1): eq. (7) explains most of it
    beyond = est["proxy_kl_minus_ideal_beyond_eq7"]["mean"]
    assert beyond == pytest.approx(est["proxy_kl_minus_ideal"]["mean"] + rep["kl_total_eq7"], abs=1e-9)
    assert abs(beyond) < 0.25 * abs(est["proxy_kl_minus_ideal"]["mean"])
    # the Jensen (split-half) correction is tiny against the ideal code length's SE
    assert abs(est["jensen_correction"]["mean"]) < est["ideal_code_length"]["standard_error"]
    for key in ("gap", "ideal_code_length", "excess_code_length", "jensen_correction"):
        assert math.isfinite(est[key]["mean"]) and est[key]["standard_error"] >= 0
    # rate allocation: the closed-form E_U[proxy KL] per block sums to the measured rate (a check
    # of the report, within 4 SE), one entry per block with its n coordinates' activities
    (closed,) = [c for c in rep["checks"] if c["name"].startswith("closed-form E_U[proxy KL]")]
    assert closed["passed"] and closed["estimate"] == pytest.approx(est["train_rate"]["mean"])
    alloc = rep["rate_allocation"]
    assert len(alloc["per_block"]) == 1 and len(alloc["per_block"][0]["activity"]) == 8
    assert sum(b["expected_proxy_kl"] for b in alloc["per_block"]) == pytest.approx(closed["reference"])
    assert alloc["within_block_activity_ratio_max"] >= alloc["within_block_activity_ratio_median"] >= 1


def test_rate_allocation_closed_form_negative_control(tmp_path_factory):
    """The closed form is sensitive: with sigma2_S doubled it no longer matches the Monte Carlo rate."""
    from validation.train_vs_inference import _load_images, rate_allocation
    from vae.train import epoch_generator, load_run

    model, config = load_run(trained(tmp_path_factory, "e8"))
    x = _load_images(config, "test", 200, None, 0, "cpu")
    gen = epoch_generator(0, 0, 3, "cpu")
    with torch.no_grad():
        e = model.encoder(x)
        rates = torch.stack([model.latent.train_terms(e, gen)["rate"] for _ in range(64)]).double().mean(0)
        exact = torch.as_tensor(rate_allocation(model, x)["kl"].sum(1))
        model.latent.log_sigma2_s += math.log(2.0)
        wrong = torch.as_tensor(rate_allocation(model, x)["kl"].sum(1))
    se = float((rates - exact).std() / math.sqrt(len(x)))
    assert abs(float((rates - exact).mean())) < 4 * se
    assert abs(float((rates - wrong).mean())) > 4 * float((rates - wrong).std() / math.sqrt(len(x)))


def test_ideal_code_length_matches_the_closed_form_on_z2():
    """Z^2 with a Gaussian S: f_{S-U}(eta) = P(S in eta + cell)/vol, a product of normal CDF differences."""
    from scipy.stats import norm

    from vae.latents import build_latent

    layer = build_latent("z2", 4).double()
    with torch.no_grad():
        layer.log_sigma2_u.copy_(torch.log(torch.tensor([1 / 12, 0.3], dtype=torch.float64)))   # Delta 1, ~1.9
        layer.log_sigma2_s.copy_(torch.log(torch.tensor([0.5, 2.0], dtype=torch.float64)))
    gen = torch.Generator().manual_seed(3)
    e = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    u = layer.sample_dither(6 * 3, gen, dtype=torch.float64).reshape(6, 3, 4)
    got = tvi.ideal_code_length(layer, e, u, 8192, gen)
    delta = layer.delta().repeat_interleave(2).detach().numpy()
    sd = layer.log_sigma2_s.exp().sqrt().repeat_interleave(2).detach().numpy()
    eta = (e[:, None, :] - u).numpy()
    exact = -np.log(norm.cdf((eta + delta / 2) / sd) - norm.cdf((eta - delta / 2) / sd)).sum(-1)
    # Monte Carlo with J = 8192: the log of the inner mean errs by ~cv/sqrt(J) < 0.01 nats per block
    np.testing.assert_allclose(got["corrected"].numpy(), exact, atol=0.03)
    np.testing.assert_allclose(got["plain"].numpy(), exact, atol=0.03)


# ------------------------------------------------------------------------------ usage errors
@needs_data
def test_gaussian_run_is_a_usage_error(tmp_path_factory, capsys):
    run_dir = trained(tmp_path_factory, "gaussian", epochs="1")
    capsys.readouterr()
    assert tvi.main([str(run_dir), *REPORT]) == 2
    err = capsys.readouterr().err
    assert "'gaussian'" in err and "no lattice quantizer" in err and "z-laplace" in err


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "does not exist"),
    (["{missing}", "--dithers", "0"], "--dithers must be an integer >= 1"),
    (["{missing}", "--plot", "x.pdf"], "--plot must be a .png path"),
])
def test_bad_usage_exit_2(tmp_path, capsys, args, message):
    argv = [a.replace("{missing}", str(tmp_path / "no-such-run")) for a in args]
    assert tvi.main(argv) == 2
    assert message in capsys.readouterr().err


def test_support_usage_counts_blocks_beyond_the_prior_support(tmp_path_factory, capsys):
    """prior_support: the fraction of quantized blocks beyond K, with K lowered to 0 (every
    non-zero point beyond) and raised far past the data (none beyond) as the two controls."""
    from validation.train_vs_inference import _load_images, support_usage
    from vae.train import epoch_generator, load_run

    run_dir = trained(tmp_path_factory, "e8")
    code, rep = report_json(capsys, run_dir, "--inner", "256")
    sup = rep["prior_support"]
    assert code == 0 and sup["max_norm_K"] == 64 and 0 <= sup["fraction_beyond_K"] <= 1
    p = sup["norm_percentiles"]
    assert p["50"] <= p["90"] <= p["99"] <= p["99.9"]
    model, config = load_run(run_dir)
    x = _load_images(config, "test", 100, None, 0, "cpu")

    def usage(K):
        model.latent.prior.max_norm = K
        return support_usage(model, x, 4, epoch_generator(0, 0, 3, "cpu"))

    zero, big = usage(0), usage(10**6)
    assert big["fraction_beyond_K"] == 0.0
    assert zero["fraction_beyond_K"] > 0.5 and zero["n_blocks_quantized"] == 100 * 4 * 1
    assert zero["norm_percentiles"] == big["norm_percentiles"]        # same dithers, same points


def test_subset_spread_takes_evenly_spaced_images(tmp_path_factory, capsys):
    """--subset spread: the same count, other images than the first N (the MNIST test set is
    ordered), so the estimates differ; the report records the choice."""
    run_dir = trained(tmp_path_factory, "z-laplace")
    code_first, first = report_json(capsys, run_dir)
    code_spread, spread = report_json(capsys, run_dir, "--subset", "spread")
    assert code_first == code_spread == 0
    assert (first["subset"], spread["subset"]) == ("first", "spread")
    assert first["n_images"] == spread["n_images"]
    assert first["estimates"]["train_loss"]["mean"] != spread["estimates"]["train_loss"]["mean"]
