"""benchmarks.training: the prior families and the eager reference as rows of one run, the
evaluation ratio, and its command-line errors (exit status 2, one line)."""
import json

import pytest
import torch

from benchmarks import training

from shared_data import needs_data

pytestmark = pytest.mark.usefixtures("vae_data_env")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a CUDA device")
def test_cuda_without_a_gpu_is_one_line_and_exit_2(capsys):
    assert training.main(["--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sees no CUDA device" in err[0]


@pytest.mark.parametrize("args,needle", [(["--priors", "best"], "bad prior"),
                                         (["--device", "tpu"], "unknown device"),
                                         (["--threads", "0"], "--threads must be positive")])
def test_bad_options_exit_2(args, needle, capsys):
    assert training.main(args) == 2
    assert needle in capsys.readouterr().err


def test_variants_expand_proxy_latents_per_prior():
    assert training.variants(["gaussian", "e8", "bw16"], ["paper", "dgauss"], eager=True) == [
        "gaussian", "e8/paper", "e8/paper-eager", "e8/dgauss", "e8/dgauss-eager", "bw16/paper",
        "bw16/paper-eager", "bw16/dgauss", "bw16/dgauss-eager"]     # dgauss on bw16: the code trellis (issue 30)
    assert training.variants(["e8"], ["paper", "dgauss"], eager=False, torch_step=True) == [
        "e8/paper", "e8/paper-torch-step", "e8/dgauss", "e8/dgauss-torch-step"]


def test_variant_rows_choose_kernels_on_their_own_model_only():
    """Kernels are chosen per model instance (no global switch): a torch-step or eager row does
    not change a model built after it."""
    cpu = torch.device("cpu")
    torch_step = training._model("e8/dgauss-torch-step", "linear", 8, 0, cpu).latent
    assert torch_step.fused is False and torch_step.prior.fused is True
    eager = training._model("e8/paper-eager", "linear", 8, 0, cpu).latent
    assert eager.fused is True and eager.prior.fused is False
    plain = training._model("e8/paper", "linear", 8, 0, cpu).latent
    assert plain.fused is True and plain.prior.fused is True


@needs_data
def test_tiny_run_reports_every_variant_and_ratios(capsys):
    code = training.main(["--latents", "gaussian,z2", "--archs", "linear", "--train-limit", "200",
                          "--repeats", "1", "--eager", "--eval-latents", "z2", "--eval-images", "2",
                          "--eval-k", "3", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    rows = ["gaussian", "z2/paper", "z2/paper-eager", "z2/dgauss", "z2/dgauss-eager"]
    assert [r["latent"] for r in report["epochs"]] == rows
    assert report["epochs"][0]["ratio_to_gaussian"] == 1.0
    assert all(r["epoch_seconds"] > 0 for r in report["epochs"])
    assert [r["latent"] for r in report["evaluation"]] == rows
    assert report["machine"]["device"] == "cpu"
