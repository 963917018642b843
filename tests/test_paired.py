"""Tests of ``python -m validation.paired``: paired differences of runs on the same images.

Runs: the committed, trained MNIST linear runs ``runs/mnist-linear-40-dgauss/.../h16/e8`` (seeds
0 and 1: two trainings of one configuration) and ``.../h16/a2/.../seed0``, read-only: each test
works on copies written with the project's checkpoint functions (``vae.checkpoints``) into a
temporary folder, among them an identical copy, a copy with a perturbed decoder and a copy that
claims another data set.  Reports use 300 spread test images at k = 1 (and k = 3) and a few
evaluation seeds; every number is seeded, so every run of this file gives the same numbers.

Statistical rules: under the null (a run against itself on other seeds) t is approximately
standard normal over the 300 images, so ``|t| < 4`` fails with probability about 6e-5; the
negative control (the perturbed decoder, a real difference of about 1.6 nats per image)
must give ``|t| > 4`` with the same images and seeds, i.e. the null test has power.
"""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from shared_data import needs_data
from validation import paired
from vae.checkpoints import BEST_KEYS, load_checkpoint, save_checkpoint

COMMITTED = Path(__file__).resolve().parents[1] / "runs" / "mnist-linear-40-dgauss" / "mnist" / "linear" / "h16"
SOURCES = {"seed0": COMMITTED / "e8" / "lr0.001" / "seed0", "seed1": COMMITTED / "e8" / "lr0.001" / "seed1",
           "a2": COMMITTED / "a2" / "lr0.001" / "seed0"}
needs_runs = pytest.mark.skipif(not all((p / "best.pt").exists() for p in SOURCES.values()),
                                reason=f"the committed runs under {COMMITTED} are not in this checkout")

pytestmark = [pytest.mark.usefixtures("vae_data_env"), needs_data, needs_runs]

IMAGES = ["--limit", "300", "--subset", "spread", "--no-progress", "--device", "cpu"]
PERTURBATION = 0.3           # added to every decoder bias: costs about 1.6 nats per image (of ~100)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Copies of the committed runs (``seed0``, ``seed1``: E8 h16; ``a2``), plus copies of
    ``seed0``: ``same`` (identical weights), ``perturbed`` (decoder bias + PERTURBATION) and
    ``omniglot`` (its checkpoint says it was trained on OMNIGLOT)."""
    root = tmp_path_factory.mktemp("paired")
    out = {name: copy_run(src, root / name) for name, src in SOURCES.items()}
    out["same"] = copy_run(out["seed0"], root / "same")
    out["perturbed"] = copy_run(out["seed0"], root / "perturbed",
                                lambda s: s["model"]["decoder.bias"].add_(PERTURBATION))
    out["omniglot"] = copy_run(out["seed0"], root / "omniglot",
                               lambda s: s["train_config"].update(dataset="omniglot"))
    return out


def copy_run(src, dst, change=None):
    """A run folder holding ``src``'s ``best.pt`` (changed in place by ``change``) and config."""
    dst.mkdir()
    shutil.copy(src / "config.json", dst / "config.json")
    state = load_checkpoint(src / "best.pt", "cpu", BEST_KEYS)
    if change is not None:
        change(state)
    save_checkpoint(dst / "best.pt", state)
    return dst


def report(capsys, *args, images=IMAGES):
    capsys.readouterr()
    code = paired.main([*map(str, args), *images, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def only(rep, k=1):
    rows = [c for c in rep["comparisons"] if c["k"] == k]
    assert len(rows) == 1
    return rows[0]


# ------------------------------------------------------------------------------ statistics
def test_paired_difference_by_hand():
    """Every field against a hand computation on a 2-seed x 4-image example."""
    a = np.array([[10.0, 20.0, 30.0, 41.0], [11.0, 19.0, 31.0, 40.0]])
    b = np.array([[9.0, 19.5, 29.0, 40.0], [10.0, 20.0, 30.5, 39.0]])
    r = paired.paired_difference(a, b)
    d = a.mean(0) - b.mean(0)                                   # [1, -0.25, 0.75, 1]
    assert r["difference"] == pytest.approx(0.625, abs=1e-15)
    assert r["paired_se"] == pytest.approx(np.std(d, ddof=1) / 2, rel=1e-14)
    per_seed = (a - b).mean(1)                                  # [0.875, 0.375]
    assert r["eval_seed_se_from_seed_means"] == pytest.approx(abs(per_seed[0] - per_seed[1]) / 2, rel=1e-14)
    per_image_var = ((a - b)[0] - (a - b)[1]) ** 2 / 2          # variance over the 2 seeds, per image
    assert r["eval_seed_se"] == pytest.approx(math.sqrt(per_image_var.mean() / (4 * 2)), rel=1e-14)
    assert r["unpaired_se"] == pytest.approx(math.sqrt((np.var(a.mean(0), ddof=1) + np.var(b.mean(0), ddof=1)) / 4),
                                             rel=1e-14)
    assert r["t"] == pytest.approx(0.625 / r["paired_se"], rel=1e-14)
    assert (r["n_images"], r["n_seeds"], r["n_seeds_baseline"]) == (4, 2, 2)


def test_paired_difference_other_seed_lists_and_one_seed():
    """Different seed lists: the eval-seed SE combines the two seed spreads; one seed: None."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 50)), rng.normal(size=(5, 50))
    r = paired.paired_difference(a, b)
    want = math.sqrt(np.var(a.mean(1), ddof=1) / 3 + np.var(b.mean(1), ddof=1) / 5)
    assert r["eval_seed_se_from_seed_means"] == pytest.approx(want, rel=1e-14)
    pooled = math.sqrt((np.var(a, 0, ddof=1).mean() / 3 + np.var(b, 0, ddof=1).mean() / 5) / 50)
    assert r["eval_seed_se"] == pytest.approx(pooled, rel=1e-14)
    # pure noise (no per-image effect): the paired SE and the pooled eval-seed SE estimate one number
    assert r["eval_seed_se"] == pytest.approx(r["paired_se"], rel=0.3)
    assert paired.paired_difference(a[:1], b[:1])["eval_seed_se"] is None
    same = paired.paired_difference(a, a)
    assert same["difference"] == 0.0 and same["paired_se"] == 0.0 and same["t"] == 0.0
    with pytest.raises(ValueError, match="not the same images"):
        paired.paired_difference(a, b[:, :49])


@pytest.mark.parametrize("text, seeds", [("0,1,2,3,4", [0, 1, 2, 3, 4]), ("0-2, 7", [0, 1, 2, 7]), ("5", [5])])
def test_parse_seeds(text, seeds):
    assert paired.parse_seeds(text) == seeds


# ------------------------------------------------------------------------------ runs
def test_same_checkpoint_same_seeds_differs_by_exactly_zero(runs, capsys):
    """Two folders with the same checkpoint, evaluated separately (no cache): bit-identical values."""
    rep = report(capsys, runs["seed0"], "--baseline", runs["same"], "--k", "1", "3", "--eval-seeds", "0,1,2",
                 "--no-cache")
    assert rep["cache"] == {"enabled": False, "reused": 0, "computed": 12}
    for k in (1, 3):
        c = only(rep, k)
        assert c["difference"] == 0.0 and c["paired_se"] == 0.0 and c["eval_seed_se"] == 0.0 and c["t"] == 0.0
        assert c["n_images"] == 300 and c["n_seeds"] == 3
        assert c["unpaired_se"] > 0.1                     # while the spread over images is not zero


def test_self_on_other_seeds_is_null_and_perturbed_copy_is_detected(runs, capsys):
    """Null: run 0 against itself on disjoint seeds, |t| < 4.  Negative control: the copy with a
    perturbed decoder on the same images and seeds, |t| > 4 (the test can fail)."""
    null = only(report(capsys, runs["seed0"], "--baseline", runs["seed0"], "--k", "1",
                       "--eval-seeds", "0-2", "--baseline-eval-seeds", "3-5"))
    assert null["n_seeds"] == 3 and null["n_seeds_baseline"] == 3
    assert null["difference"] != 0.0 and abs(null["t"]) < 4, null
    # no per-image effect: all of the paired SE is evaluation noise.  Both estimate the same SE;
    # the paired SE's relative sampling error is about 1/sqrt(2 x 299) = 4 %: 20 % is 5 of them
    assert null["eval_seed_se"] == pytest.approx(null["paired_se"], rel=0.2)
    control = only(report(capsys, runs["perturbed"], "--baseline", runs["seed0"], "--k", "1",
                          "--eval-seeds", "0-2", "--baseline-eval-seeds", "3-5"))
    assert abs(control["t"]) > 4, control
    assert control["difference"] > 0                      # moving the decoder off its optimum costs nats


def test_pairing_beats_the_unpaired_se_for_correlated_models(runs, capsys):
    """Two trainings of one configuration: per-image NLLs are strongly correlated (hard images are
    hard for both), so the paired SE is far below sqrt(SE_A^2 + SE_B^2)."""
    rep = report(capsys, runs["seed0"], runs["seed1"], "--k", "1", "--eval-seeds", "0,1")
    c = only(rep)
    assert c["correlation"] > 0.8
    assert c["paired_se"] < 0.5 * c["unpaired_se"], c
    se = {r["run"]: r["results"]["1"]["se_images"] for r in rep["runs"]}
    assert c["unpaired_se"] == pytest.approx(math.hypot(se["seed0"], se["seed1"]), rel=1e-12)


def test_per_seed_means_are_vae_evaluate_numbers(runs, capsys, tmp_path):
    """The mean over images of one seed's per-image values equals ``vae.evaluate`` with that seed
    on the same images (same generator convention), to float64 round-off."""
    from vae.evaluate import evaluate_run

    run = copy_run(runs["seed0"], tmp_path / "run")
    rep = report(capsys, run, "--baseline", run, "--k", "1", "3", "--eval-seeds", "2,5")
    for seed in (2, 5):
        ours = rep["runs"][0]["results"]
        want = evaluate_run(run, [1, 3], seed=seed, limit=300, subset="spread", device="cpu", progress=False)
        for k in ("1", "3"):
            assert ours[k]["per_seed_nll"][str(seed)] == pytest.approx(want["results"][k]["nll"], rel=1e-12, abs=0)


def test_cache_is_reused_and_invalidated_when_the_checkpoint_changes(runs, capsys, tmp_path):
    run = copy_run(runs["seed0"], tmp_path / "run")
    args = (run, "--baseline", run, "--k", "1", "--eval-seeds", "0,1")
    first = report(capsys, *args)
    assert first["cache"]["computed"] == 2 and first["cache"]["reused"] == 0
    files = sorted(p.name for p in (run / paired.CACHE_DIR).iterdir())
    assert files == ["test-best-k1-seed0-300spread.npz", "test-best-k1-seed1-300spread.npz"]
    again = report(capsys, *args)
    assert again["cache"]["computed"] == 0 and again["cache"]["reused"] == 2
    assert again["runs"][0]["results"] == first["runs"][0]["results"]
    # another image selection or another k is another entry, not a wrong reuse
    other = report(capsys, *args, images=["--limit", "200", *IMAGES[2:]])
    assert other["cache"]["computed"] == 2 and other["n_images"] == 200
    # a changed checkpoint (same path, new weights): recomputed, new numbers, cache replaced
    state = load_checkpoint(run / "best.pt", "cpu", BEST_KEYS)
    state["model"]["decoder.bias"].add_(PERTURBATION)
    save_checkpoint(run / "best.pt", state)
    changed = report(capsys, *args)
    assert changed["cache"]["computed"] == 2
    assert changed["runs"][0]["results"]["1"]["nll"] != first["runs"][0]["results"]["1"]["nll"]
    assert changed["runs"][0]["checkpoint_sha256"] != first["runs"][0]["checkpoint_sha256"]
    # a corrupt cache file is recomputed, not trusted
    (run / paired.CACHE_DIR / "test-best-k1-seed0-300spread.npz").write_bytes(b"not a cache")
    healed = report(capsys, *args)
    assert healed["cache"] == {"enabled": True, "reused": 1, "computed": 1}
    assert healed["runs"][0]["results"] == changed["runs"][0]["results"]


def test_unwritable_cache_warns_once_and_still_answers(runs, capsys, monkeypatch):
    def refuse(path, values, meta):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(paired, "_write_cache", refuse)
    capsys.readouterr()
    code = paired.main([str(runs["seed0"]), "--baseline", str(runs["seed0"]), "--k", "1", "--eval-seeds", "7,8",
                        *IMAGES, "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["n_images"] == 300
    assert err.count("cannot cache") == 1


def test_markdown_table_and_out_file(runs, capsys, tmp_path):
    md = tmp_path / "paired.md"
    capsys.readouterr()
    assert paired.main([str(runs["seed0"]), str(runs["seed1"]), "--k", "1", "--eval-seeds", "0,1", *IMAGES,
                        "--out", str(md)]) == 0
    out = capsys.readouterr().out
    assert md.read_text() == out
    assert "| seed0 | seed1 | 1 |" in out and "paired SE" in out and "unpaired SE" in out


# ------------------------------------------------------------------------------ bad input: exit 2, one line
@pytest.mark.parametrize("args, message", [
    (["{seed0}", "--baseline", "{missing}", "--k", "1"], "does not exist"),
    (["{seed0}", "--baseline", "{empty}", "--k", "1"], "best.pt not found"),
    (["{seed0}", "{seed1}", "--k", "0"], "--k must be a positive integer"),
    (["{seed0}", "{seed1}"], "give at least one --k"),
    (["{seed0}", "{seed1}", "--k", "1", "--eval-seeds", "a,b"], "--eval-seeds must be non-negative integers"),
    (["{seed0}", "{seed1}", "--k", "1", "--eval-seeds", "0,1,1"], "lists seed 1 twice"),
    (["{seed0}", "{seed1}", "--k", "1", "--eval-seeds", "-3"], "must be non-negative"),
    (["{seed0}", "{seed1}", "--k", "1", "--eval-seeds", ""], "--eval-seeds must be non-negative integers"),
    (["{seed0}", "{seed1}", "--k", "1", "--limit", "0"], "--limit must be an integer >= 2"),
    (["{seed0}", "{seed1}", "--k", "1", "--limit", "1"], "--limit must be an integer >= 2"),
    (["{seed0}", "{seed1}", "--k", "1", "--split", "dev"], "unknown split 'dev'"),
    (["{seed0}", "--k", "1"], "give at least two runs, or one run and --baseline"),
    (["{seed0}", "{seed1}", "--k", "1", "--baseline-eval-seeds", "5"], "--baseline-eval-seeds needs --baseline"),
    (["{seed0}", "{omniglot}", "--k", "1"], "trained on different data sets"),
    (["{seed0}", "{seed1}", "--k", "1", "--out", "{missing}/x.md"], "does not exist"),
])
def test_bad_input_exits_2_with_one_line(runs, capsys, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    names = {"missing": tmp_path / "no-such-run", "empty": tmp_path / "empty", **runs}
    argv = [a.format(**{k: str(v) for k, v in names.items()}) for a in args]
    capsys.readouterr()
    assert paired.main([*argv, "--no-progress", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and err.startswith("python -m validation.paired: error:"), err
    assert not (runs["seed0"] / "per_image" / "test-best-k1-seed0-all.npz").exists()


def test_cli_subprocess_uses_this_checkout(runs, tmp_path):
    """``python -m validation.paired`` from the repository root: exit 0 and a JSON report."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(paired.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-m", "validation.paired", str(runs["seed0"]), str(runs["seed1"]),
                           "--k", "1", "--eval-seeds", "0", *IMAGES, "--json"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["comparisons"][0]["eval_seed_se"] is None and rep["comparisons"][0]["n_seeds"] == 1
    assert torch.isfinite(torch.tensor(rep["comparisons"][0]["difference"]))
