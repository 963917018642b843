"""Tests of vae.sweep (Dask grid of training runs, restart semantics, the paper's protocol),
validation.table2 (our Table 2 / 3 / 5-6 beside the paper's) and validation.paper_tables.

The sweeps are tiny (300 training images, 1-2 epochs, 20 test images) and run on a
LocalCluster of 2 worker processes.
"""
import json
import math
import random
from pathlib import Path

import pytest
import torch

from validation import paper_tables, table2
from vae import sweep
from lattices.utils.io import file_sha256

from shared_data import needs_data

TINY_TRAIN = {"max_epochs": 1, "batch_size": 50, "train_limit": 300, "valid_limit": 100}
TINY_EVAL = {"samples": [1, 10], "limit": 20}


@pytest.fixture(scope="module", autouse=True)
def data_env(vae_data_env):
    """The shared data folder and a fresh cache, set before any LocalCluster starts."""
    return vae_data_env


def write_config(path: Path, **cfg) -> Path:
    path.write_text(json.dumps(cfg))
    return path


def grid_config(tmp_path, out, **overrides):
    cfg = {"out": str(out), "protocol": "grid", "datasets": ["mnist"], "archs": ["linear"],
           "hidden": [8], "latents": ["gaussian", "z-laplace"], "learning_rates": [1e-3],
           "seeds": [0, 1], "train": dict(TINY_TRAIN), "eval": dict(TINY_EVAL), "device": "cpu"}
    cfg.update(overrides)
    return write_config(tmp_path / "grid.json", **cfg)


def sweep_json(out) -> dict:
    return json.loads((Path(out) / "sweep.json").read_text())


def statuses(out) -> dict:
    return {r["run_dir"]: r["status"] for r in sweep_json(out)["runs"]}


def lines(path) -> list:
    return Path(path).read_text().splitlines()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("sweeps")


@pytest.fixture(scope="module")
def grid_run(root, data_env):
    """A 2-latent x 2-seed grid (1 epoch each), run once for the module."""
    out = root / "grid"
    cfg = grid_config(root, out)
    assert sweep.main([str(cfg), "--workers", "2", "--no-progress"]) == 0
    return cfg, out


@pytest.fixture(scope="module")
def paper_run(root, data_env):
    """The paper protocol: 2 rates scanned once, 1 further seed at the selected rate (E8, h32)."""
    out = root / "paper"
    cfg = write_config(root / "paper.json", out=str(out), protocol="paper", datasets=["mnist"],
                       archs=["linear"], hidden=[32], latents=["e8"],
                       learning_rates=[1e-4, 3e-3], scan_repeats=1, further_runs=1,
                       train=dict(TINY_TRAIN), eval=dict(TINY_EVAL), device="cpu")
    assert sweep.main([str(cfg), "--workers", "2", "--no-progress"]) == 0
    return cfg, out


# ------------------------------------------------------------------------------ vae.sweep
@needs_data
def test_grid_runs_every_point_on_the_cluster(grid_run, data_env):
    _, out = grid_run
    expected = {f"mnist/linear/h8/{lat}/lr0.001/seed{s}" for lat in ("gaussian", "z-laplace")
                for s in (0, 1)}
    report = sweep_json(out)
    assert statuses(out) == {d: "trained" for d in expected}
    assert report["complete"] and report["n_failed"] == 0
    assert not (out / "failed.json").exists()
    for r in report["runs"]:
        d = out / r["run_dir"]
        assert {"config.json", "checkpoint.pt", "best.pt", "metrics.jsonl", "summary.json",
                "eval.json"} <= {p.name for p in d.iterdir()}
        assert set(r["test_nll"]) == {"1", "10"} and all(math.isfinite(v) for v in r["test_nll"].values())
        assert r["test_nll"]["10"] <= r["test_nll"]["1"] + 5        # k = 10 bound: not looser
        assert r["best_valid_nll"] == json.loads((d / "summary.json").read_text())["best_valid_nll"]
        assert json.loads((d / "config.json").read_text())["seed"] == r["params"]["seed"]
    # the worker processes saw LRL_CACHE: they parsed the data into the test's cache folder
    assert any(data_env.rglob("*")), "workers did not inherit LRL_CACHE"
    sel = {s["latent"]: s for s in report["selection"]}
    for lat, s in sel.items():
        vals = [r["best_valid_nll"] for r in report["runs"] if r["params"]["latent"] == lat]
        assert s["best_valid_nll"] == min(vals) and s["n_runs"] == 2


@needs_data
def test_restart_skips_finished_and_resumes_unfinished(grid_run, tmp_path):
    cfg, out = grid_run
    ckpts = {p: p.stat().st_mtime_ns for p in out.rglob("checkpoint.pt")}
    assert len(ckpts) == 4
    # 1. everything finished: nothing is trained again (no cluster is even needed)
    assert sweep.main([str(cfg), "--workers", "2", "--no-progress"]) == 0
    assert set(statuses(out).values()) == {"skipped"}
    assert {p: p.stat().st_mtime_ns for p in out.rglob("checkpoint.pt")} == ckpts

    # 1b. as after a fresh clone: every file gets a new modification time, eval.json the oldest
    # and best.pt the newest; the evaluations still belong to the same checkpoints: skipped
    import os

    for i, name in enumerate(("eval.json", "config.json", "metrics.jsonl", "summary.json",
                              "checkpoint.pt", "best.pt")):
        for p in out.rglob(name):
            os.utime(p, ns=(10**18 + i * 10**9,) * 2)
    assert sweep.main([str(cfg), "--workers", "2", "--no-progress"]) == 0
    assert set(statuses(out).values()) == {"skipped"}
    ckpts = {p: p.stat().st_mtime_ns for p in out.rglob("checkpoint.pt")}

    # 2. a run whose summary/evaluation is lost: resumed from its checkpoint, not restarted
    victim = out / "mnist/linear/h8/gaussian/lr0.001/seed1"
    first_epoch = lines(victim / "metrics.jsonl")
    (victim / "summary.json").unlink()
    (victim / "eval.json").unlink()
    assert sweep.main([str(cfg), "--workers", "2", "--no-progress"]) == 0
    st = statuses(out)
    assert st.pop("mnist/linear/h8/gaussian/lr0.001/seed1") == "resumed"
    assert set(st.values()) == {"skipped"}
    assert lines(victim / "metrics.jsonl") == first_epoch            # no epoch was redone
    assert (victim / "eval.json").exists()
    for p, t in ckpts.items():
        if victim not in p.parents:
            assert p.stat().st_mtime_ns == t

    # 3. a higher epoch cap: every run continues from epoch 1 to epoch 2
    before = {p.parent: lines(p) for p in out.rglob("metrics.jsonl")}
    cfg2 = grid_config(tmp_path, out, train={**TINY_TRAIN, "max_epochs": 2})
    assert sweep.main([str(cfg2), "--workers", "2", "--no-progress"]) == 0
    assert set(statuses(out).values()) == {"resumed"}
    for d, old in before.items():
        new = lines(d / "metrics.jsonl")
        assert len(new) == 2 and new[0] == old[0]                    # resumed, not restarted
        assert json.loads((d / "summary.json").read_text())["epochs"] == 2


@needs_data
def test_best_eval_evaluates_only_the_reported_runs_once(grid_run, tmp_path, capsys):
    """The last phase: k = 30 on 10 test images for the best-validation run of each
    configuration only; a restart redoes nothing; a reported run that cannot be evaluated
    (its best.pt is gone) is a recorded failure, exit code 1."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(grid_run[1], out)
    be = {"samples": [1, 30], "limit": 10, "subset": "spread"}
    cfg = grid_config(tmp_path, out, best_eval=be)
    assert sweep.main([str(cfg), "--workers", "2", "--no-progress"]) == 0
    report = sweep_json(out)
    assert set(statuses(out).values()) == {"skipped"} and report["n_best_eval_failed"] == 0
    key = "test/best/seed0/limit10-spread"
    best = {s["best_run"] for s in report["selection"]}
    assert len(best) == 2
    for r in report["runs"]:
        evals = json.loads((out / r["run_dir"] / "eval.json").read_text())["evaluations"]
        if r["run_dir"] in best:
            assert set(evals[key]) == {"1", "30"} and evals[key]["30"]["n_images"] == 10
            assert evals[key]["30"]["nll"] <= evals[key]["1"]["nll"] + 5
        else:
            assert key not in evals                                   # only the reported runs
    for s in report["selection"]:
        saved = json.loads((out / s["best_run"] / "eval.json").read_text())["evaluations"][key]
        assert s["best_eval"] == saved
    assert "k=30: " in capsys.readouterr().out.split("; best_eval k=1: ")[1]
    # a restart: nothing to evaluate again
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("eval.json")}
    assert sweep.main([str(cfg), "--workers", "2", "--no-progress"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("eval.json")} == stamps
    # every best.pt touched, as by a fresh clone (new modification times, same bytes): nothing
    # is evaluated again, the results are matched to the checkpoints by SHA-256
    import os

    for run in best:
        os.utime(out / run / "best.pt", ns=(stamps[out / run / "eval.json"] + 10**9,) * 2)
    assert sweep.main([str(cfg), "--workers", "2", "--no-progress"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("eval.json")} == stamps
    # a reported run whose best.pt changed (retrained): evaluated again, the others not
    retrained = out / sorted(best)[1]
    ckpt = torch.load(retrained / "best.pt", weights_only=False)
    name = next(iter(ckpt["model"]))
    ckpt["model"][name] = ckpt["model"][name] + 1e-3
    torch.save(ckpt, retrained / "best.pt")
    assert sweep.main([str(cfg), "--workers", "2", "--no-progress"]) == 0
    changed = {p.parent for p, t in stamps.items() if p.stat().st_mtime_ns != t}
    assert changed == {retrained}
    ev = json.loads((retrained / "eval.json").read_text())["evaluations"][key]
    assert ev["30"]["checkpoint_mtime_ns"] == (retrained / "best.pt").stat().st_mtime_ns
    assert ev["30"]["checkpoint_sha256"] == file_sha256(retrained / "best.pt")
    # a reported run whose best.pt is lost (a clone with only the committed summaries): its
    # saved results stand; a larger k for it is a recorded failure, the other run goes on
    victim = sorted(best)[0]
    (out / victim / "best.pt").unlink()
    assert sweep.main([str(cfg), "--workers", "2", "--no-progress"]) == 0
    assert sweep_json(out)["n_best_eval_failed"] == 0
    cfg = grid_config(tmp_path, out, best_eval={**be, "samples": [1, 30, 40]})
    assert sweep.main([str(cfg), "--workers", "2", "--no-progress"]) == 1
    assert "1 best-run evaluations failed" in capsys.readouterr().err
    (failed,) = json.loads((out / "failed.json").read_text())
    assert failed["run_dir"] == victim and failed["status"] == "best_eval failed"
    other = sorted(best)[1]
    assert "40" in json.loads((out / other / "eval.json").read_text())["evaluations"][key]


@needs_data
def test_paper_protocol_runs_further_seeds_at_the_best_rate(paper_run):
    _, out = paper_run
    report = sweep_json(out)
    scan = {r["params"]["lr"]: r["best_valid_nll"] for r in report["runs"] if r["phase"] == "scan"}
    assert set(scan) == {1e-4, 3e-3}
    best_lr = min(scan, key=scan.get)
    (sel,) = report["selection"]
    assert sel["selected_lr"] == best_lr
    further = [r for r in report["runs"] if r["phase"] == "further"]
    assert [(r["params"]["lr"], r["params"]["seed"]) for r in further] == [(best_lr, 1)]
    base = out / "mnist/linear/h32/e8"
    assert sorted(p.name for p in base.iterdir()) == sorted({f"lr{lr:g}" for lr in scan})
    assert sorted(p.name for p in (base / f"lr{best_lr:g}").iterdir()) == ["seed0", "seed1"]
    other = next(lr for lr in scan if lr != best_lr)
    assert sorted(p.name for p in (base / f"lr{other:g}").iterdir()) == ["seed0"]
    # the reported run: the best validation of all three
    assert sel["best_valid_nll"] == min(r["best_valid_nll"] for r in report["runs"])


def plant_foreign_run(out, cfg, seed):
    """A gaussian/h8 run folder holding another configuration's run (batch size 7) and a
    checkpoint that is not ours: the sweep must fail that run and never overwrite it."""
    bad = out / f"mnist/linear/h8/gaussian/lr0.001/seed{seed}"
    bad.mkdir(parents=True)
    (bad / "checkpoint.pt").write_bytes(b"not ours")
    spec = sweep.RunSpec("mnist", "linear", 8, "gaussian", 1e-3, seed)
    foreign = sweep._train_config(sweep.load_config(cfg), spec)
    (bad / "config.json").write_text(json.dumps({**foreign.to_dict(), "batch_size": 7}))
    return bad

@needs_data
def test_a_failing_run_is_recorded_and_the_others_go_on(tmp_path, capsys):
    out = tmp_path / "out"
    cfg = grid_config(tmp_path, out, latents=["gaussian"])
    # seed 1's folder already holds a run of another configuration: that run must fail
    bad = plant_foreign_run(out, cfg, seed=1)
    assert sweep.main([str(cfg), "--workers", "2", "--no-progress"]) == 1
    assert "1 failed" in capsys.readouterr().err
    assert statuses(out) == {"mnist/linear/h8/gaussian/lr0.001/seed0": "trained",
                             "mnist/linear/h8/gaussian/lr0.001/seed1": "failed"}
    (failed,) = json.loads((out / "failed.json").read_text())
    assert failed["params"]["seed"] == 1 and "batch_size" in failed["error"]
    assert (bad / "checkpoint.pt").read_bytes() == b"not ours"          # never overwritten



@needs_data
def test_paper_protocol_with_every_scan_run_failed_schedules_no_further_run(tmp_path, capsys):
    """The scan of the only rate fails (its folder holds another configuration's run): no rate
    can be selected, so no further seed is trained, and the sweep still completes."""
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "paper.json", out=str(out), protocol="paper", datasets=["mnist"],
                       archs=["linear"], hidden=[8], latents=["gaussian"], learning_rates=[1e-3],
                       scan_repeats=1, further_runs=2, train=dict(TINY_TRAIN), eval=dict(TINY_EVAL),
                       device="cpu")
    plant_foreign_run(out, cfg, seed=0)
    assert sweep.main([str(cfg), "--workers", "1", "--no-progress"]) == 1
    report = sweep_json(out)
    assert report["complete"] and report["n_failed"] == 1
    assert [(r["phase"], r["status"]) for r in report["runs"]] == [("scan", "failed")]
    assert sorted(p.name for p in (out / "mnist/linear/h8/gaussian/lr0.001").iterdir()) == ["seed0"]
    assert "best_run" not in report["selection"][0]

def test_select_lr_prefers_lowest_validation_and_ignores_failures():
    runs = [{"params": {"lr": 1e-3}, "best_valid_nll": 100.0},
            {"params": {"lr": 3e-3}, "best_valid_nll": 99.0},
            {"params": {"lr": 5e-3}, "best_valid_nll": None},        # failed
            {"params": {"lr": 1e-4}, "best_valid_nll": 99.0}]        # tie: the smaller rate
    assert sweep.select_lr(runs) == 1e-4
    assert sweep.select_lr([{"params": {"lr": 1e-3}, "best_valid_nll": None}]) is None


@pytest.mark.parametrize("change, words", [
    ({"latents": ["gaussian", "e9"]}, ["latents", "'e9'", "e8", "z-laplace"]),
    ({"protocol": "best"}, ["protocol", "grid", "paper"]),
    ({"epochs": 3}, ["unknown key", "'epochs'", "learning_rates"]),
    ({"hidden": [12], "latents": ["e8"]}, ["hidden=12", "e8", "multiple of 8"]),
    ({"learning_rates": [0.001, -1]}, ["learning_rates", "positive"]),
    ({"train": {"max_epoch": 3}}, ["train", "'max_epoch'", "max_epochs"]),
    ({"eval": {"samples": [0]}}, ["eval.samples", "integers >= 1"]),
    ({"seeds": [0], "protocol": "paper"}, ["seeds", "scan_repeats", "further_runs"]),
    ({"best_eval": {"limit": 10}}, ["best_eval.samples", "[100, 10000]"]),
    ({"best_eval": {"samples": [10], "limits": 3}}, ["best_eval", "'limits'", "max_elements"]),
    ({"best_eval": {"samples": [10], "subset": "random"}}, ["best_eval.subset", "'random'", "spread"]),
])
def test_bad_config_exits_2_naming_the_key(tmp_path, capsys, change, words):
    cfg = json.loads(grid_config(tmp_path, tmp_path / "out").read_text())
    cfg.update(change)
    path = write_config(tmp_path / "bad.json", **cfg)
    assert sweep.main([str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err, (w, err)
    assert not (tmp_path / "out").exists()


def test_unreadable_config_exits_2(tmp_path, capsys):
    (tmp_path / "c.json").write_text("{not json")
    assert sweep.main([str(tmp_path / "c.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert sweep.main([str(tmp_path / "missing.json")]) == 2


def test_dry_run_and_toml_and_shipped_configs(tmp_path, capsys):
    (tmp_path / "c.toml").write_text(
        f'out = "{tmp_path / "o"}"\nprotocol = "paper"\nlatents = ["e8", "gaussian"]\n'
        'hidden = [16, 32]\nlearning_rates = [1e-4, 1e-3, 5e-3]\nscan_repeats = 2\nfurther_runs = 3\n')
    assert sweep.main([str(tmp_path / "c.toml"), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert len(plan["runs"]) == 2 * 2 * 3 * 2 and {r["state"] for r in plan["runs"]} == {"new"}
    assert "mnist/linear/h16/e8/lr0.0001/seed1" in {r["run_dir"] for r in plan["runs"]}
    repo = Path(__file__).resolve().parents[1]
    small = sweep.load_config(repo / "configs" / "mnist-linear-small.json")
    assert (small.protocol, small.hidden, len(small.latents), small.seeds) == ("grid", (16, 24, 32), 7, (0, 1, 2))
    paper = sweep.load_config(repo / "configs" / "paper-table2.json")
    assert paper.learning_rates == sweep.PAPER_LEARNING_RATES            # Sec. 4.1
    assert (paper.scan_repeats, paper.further_runs) == (2, 16)              # 14 + 16 = 30 runs
    assert len(paper.configurations()) == 112                               # "112 configurations"
    assert paper.eval["samples"] == [1, 10000]


# ------------------------------------------------------------------------------ validation.table2
@needs_data
def test_table2_markdown_has_paper_value_and_ours(root, grid_run, paper_run, tmp_path, capsys):
    md_path = tmp_path / "results.md"
    assert table2.main([str(root), "--out", str(md_path)]) == 0
    md = capsys.readouterr().out
    begin, end = f"<!-- BEGIN generated by validation.table2 {root} -->", f"<!-- END generated by validation.table2 {root} -->"
    assert md_path.read_text() == f"{begin}\n{md.rstrip()}\n{end}\n"      # a new file: the block only
    report = table2.build_report(root)
    (e8,) = [r for r in report["rows"] if r["latent"] == "e8"]
    # Table 2, MNIST linear 32, E8, k = 1: 117.07 (paper text, line ~289)
    assert e8["paper"]["1"] == 117.07 and e8["paper"]["10000"] == 109.86
    ours = e8["ours"]["1"]
    best = min((r for r in table2.collect_runs(root) if r["latent"] == "e8"),
               key=lambda r: r["best_valid_nll"])
    assert ours == best["test_nll"][1]                                     # the paper's rule
    assert e8["difference"]["1"] == pytest.approx(ours - 117.07)
    row = next(line for line in md.splitlines() if "| E8 |" in line)
    assert "117.07" in row and f"{ours:.2f}" in row and "109.86" in row
    assert "python -m vae.sweep" in md and "python -m validation.table2" in md
    assert "max_epochs" in md and "train_limit 300" in md and "k = 10 importance samples" in md
    # Table 3 style: probabilities, and a + b + ties = 1 for every pair
    assert report["pairwise"]
    for t in report["pairwise"]:
        for a in t["latents"]:
            for b in t["latents"]:
                ab, ba = t["cells"][f"{a}|{b}"], t["cells"][f"{b}|{a}"]
                assert 0 <= ab["better"] <= 1 and 0 <= ab["tie"] <= 1
                assert ab["better"] + ba["better"] + ab["tie"] == pytest.approx(1)
                assert ab["better"] == pytest.approx(ba["worse"])
    # Tables 5/6 style: mean / sd over the runs of the group
    g = next(r for r in report["rows"] if r["latent"] == "gaussian")
    vals = [r["test_nll"][1] for r in table2.collect_runs(root) if r["latent"] == "gaussian"]
    assert g["stats"]["1"]["mean"] == pytest.approx(sum(vals) / len(vals)) and g["stats"]["1"]["n"] == 2


def test_table2_empty_folder_exits_2(tmp_path, capsys):
    assert table2.main([str(tmp_path)]) == 2
    assert "no run" in capsys.readouterr().err
    assert table2.main([str(tmp_path / "nope")]) == 2


def test_pairwise_probabilities_sum_to_one_with_ties():
    rng = random.Random(0)
    for _ in range(50):
        a = [rng.choice([1.0, 2.0, 3.0]) for _ in range(rng.randint(1, 6))]
        b = [rng.choice([1.0, 2.0, 3.0]) for _ in range(rng.randint(1, 6))]
        p, q = table2.pairwise_probabilities(a, b), table2.pairwise_probabilities(b, a)
        assert p["better"] + q["better"] + p["tie"] == pytest.approx(1)
        assert 0 <= p["better"] <= 1 and p["tie"] == q["tie"]
    # the paper's diagonal: 30 distinct runs against themselves -> (1 - 1/30) / 2 = 0.48
    d = table2.pairwise_probabilities(range(30), range(30))
    assert round(d["better"], 2) == 0.48 and d["tie"] == pytest.approx(1 / 30)


# ------------------------------------------------------------------------------ paper_tables
@pytest.mark.parametrize("cell, value", [
    # values read in the paper's text, Table 2 (lines ~283-311)
    (("mnist", "linear", 16, "z2", 1), 127.61),
    (("mnist", "linear", 32, "e8", 1), 117.07),
    (("mnist", "linear", 200, "vq", 10000), 107.21),
    (("mnist", "gated", 24, "a2", 1), 99.77),
    (("mnist", "gated", 200, "z-laplace", 10000), 101.74),
    (("mnist", "gated", 32, "gaussian", 10000), 89.69),
    (("mnist", "linear", 16, "concrete", 10000), 135.20),
    (("omniglot", "linear", 16, "z2", 1), 145.54),
    (("omniglot", "linear", 200, "vq", 1), 126.17),
    (("omniglot", "gated", 32, "z-laplace", 1), 128.45),
    (("omniglot", "gated", 16, "gaussian", 1), 130.52),
    (("omniglot", "linear", 24, "e8", 10000), 134.89),
    (("omniglot", "gated", 200, "a2", 10000), 118.73),
    (("omniglot", "gated", 32, "z2", 10000), 117.60),
])
def test_paper_table2_transcription(cell, value):
    assert paper_tables.table2(*cell) == value          # exact transcription, no tolerance


def test_paper_tables_garbled_cells_are_none_and_shapes():
    assert paper_tables.table2("omniglot", "linear", 200, "z2", 1) is None     # 146.33/140.00/140.33
    assert paper_tables.table2("omniglot", "gated", 16, "z2", 1) is None       # 132.95/102.30/132.55
    assert paper_tables.table2("omniglot", "linear", 32, "gaussian", 10000) is None   # missing row
    for key, rows in paper_tables.TABLE2.items():
        assert tuple(rows) == paper_tables.LATENT_ORDER and all(len(v) == 4 for v in rows.values())
        if key[0] == "mnist":
            assert all(x is not None for v in rows.values() for x in v)
    # MNIST VQ-VAE: deterministic quantization, the same number for k = 1 and 10K
    for arch in ("linear", "gated"):
        assert (paper_tables.TABLE2[("mnist", arch, 1)]["vq"]
                == paper_tables.TABLE2[("mnist", arch, 10000)]["vq"])
    # Table 3: a row against a column and back sum to 1 - 1/30 (ties = self-pairs) or to 1
    for rows in paper_tables.TABLE3.values():
        for i, a in enumerate(paper_tables.LATENT_ORDER):
            assert rows[a][i] in (0.48, None)
            for j, b in enumerate(paper_tables.LATENT_ORDER[:i]):
                assert abs(rows[a][j] + rows[b][i] - 1) <= 0.011, (a, b)
    assert paper_tables.table3("omniglot", "linear", "concrete", "gaussian") == 1.00
    with pytest.raises(ValueError, match="valid"):
        paper_tables.table2("mnist", "linear", 64, "e8", 1)


def _fake_run(root: Path, latent: str, evaluations: dict, valid=100.0, options=None) -> Path:
    d = root / f"mnist/linear/h32/{latent}/lr0.001/seed0"
    d.mkdir(parents=True)
    cfg = {"dataset": "mnist", "lr": 1e-3, "seed": 0, "max_epochs": 40, "patience_halve": 5,
           "patience_stop": 10, "batch_size": 100, "train_limit": None, "valid_limit": None,
           "model": {"arch": "linear", "hidden": 32, "latent": latent, "latent_options": options or {}}}
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "summary.json").write_text(json.dumps({"best_valid_nll": valid, "epochs": 40,
                                                "stop_reason": "max_epochs"}))
    (d / "eval.json").write_text(json.dumps({"evaluations": evaluations}))
    return d


def _res(n, **nll):
    return {k[1:]: {"k": int(k[1:]), "nll": v, "standard_error": 0.5, "n_images": n}
            for k, v in nll.items()}


def test_table2_large_k_column_and_full_set_estimate(tmp_path):
    """A best_eval on 1000 images (k = 100 and 10^4) beside the full-set k = 1, 100: the
    full-set estimate is full(100) - [sub(100) - sub(10^4)]; without a common k it is absent."""
    _fake_run(tmp_path, "e8", {
        "test/best/seed0/limitNone": _res(10000, k1=120.0, k100=115.0),
        "test/best/seed0/limit1000-spread": _res(1000, k1=122.0, k100=116.0, k10000=114.5)})
    _fake_run(tmp_path, "a2", {
        "test/best/seed0/limitNone": _res(10000, k1=121.0, k100=116.0),
        "test/best/seed0/limit1000": _res(1000, k10000=113.0)})
    report = table2.build_report(tmp_path)
    rows = {r["latent"]: r for r in report["rows"]}
    e8, a2 = rows["e8"]["large_k"], rows["a2"]["large_k"]
    assert (e8["k"], e8["n_images"], e8["via_k"]) == (10000, 1000, 100)
    assert e8["full_set_estimate"] == pytest.approx(115.0 - (116.0 - 114.5))
    assert e8["difference"] == pytest.approx(113.5 - 109.86)          # paper E8 h32 k = 10^4
    assert rows["e8"]["ours"]["1"] == 120.0                            # k = 1: the full test set
    assert a2["full_set_estimate"] is None and a2["via_k"] is None
    assert a2["difference"] == pytest.approx(113.0 - paper_tables.table2("mnist", "linear", 32, "a2", 10000))
    md = table2.to_markdown(report)
    row = next(line for line in md.splitlines() if "| E8 |" in line)
    assert "10000 (1000 spread)" in row and "114.50 ± 0.50" in row and "113.50" in row
    assert e8["subset"] == "spread" and a2["subset"] == "first"
    assert "Full-set estimate" in md
    # the same large k on 1000 and on 2000 images: the larger sample is the one reported
    _fake_run(tmp_path / "more", "e8", {
        "test/best/seed0/limitNone": _res(10000, k1=120.0, k100=115.0),
        "test/best/seed0/limit1000-spread": _res(1000, k100=116.0, k10000=114.5),
        "test/best/seed0/limit2000-spread": _res(2000, k100=115.5, k10000=114.2)})
    (row,) = table2.build_report(tmp_path / "more")["rows"]
    assert row["large_k"]["n_images"] == 2000 and row["large_k"]["nll"] == 114.2


def test_table2_out_keeps_the_rest_of_the_file(tmp_path):
    """--out replaces only the block of its RUNS_DIR: hand-written text and other blocks stay."""
    a, b = tmp_path / "a", tmp_path / "b"
    _fake_run(a, "e8", {"test/best/seed0/limitNone": _res(10000, k1=120.0)})
    _fake_run(b, "a2", {"test/best/seed0/limitNone": _res(10000, k1=121.0)})
    doc = tmp_path / "results.md"
    assert table2.main([str(a), "--out", str(doc)]) == 0
    first = doc.read_text()
    assert first.startswith("<!-- BEGIN generated by validation.table2") and "\n# Test NLL" in first
    doc.write_text("# Results\n\nOur discussion.\n\n" + first + "\nMore discussion.\n")
    assert table2.main([str(b), "--out", str(doc)]) == 0           # a second folder: appended
    assert table2.main([str(a), "--out", str(doc)]) == 0           # the first again: replaced
    text = doc.read_text()
    assert text.startswith("# Results\n\nOur discussion.\n") and "\nMore discussion.\n" in text
    assert text.count("BEGIN generated by validation.table2") == 2
    assert text.count(f"BEGIN generated by validation.table2 {a} -->") == 1
    assert "\n## Test NLL" in text and "\n# Test NLL" not in text  # demoted inside a document
    assert "120.00" in text and "121.00" in text
    assert text.index(str(a)) < text.index("More discussion") < text.index(f"table2 {b} -->")


def test_table2_several_folders_and_latent_option_variants(tmp_path):
    """Two folders make one table; a run with latent options is its own row (never merged with
    the default's), labelled with its options and compared with the paper's row of its base."""
    from validation import plots

    a, b = tmp_path / "default", tmp_path / "k64"
    _fake_run(a, "e8", {"test/best/seed0/limitNone": _res(10000, k1=120.0)}, valid=100.0)
    _fake_run(a, "a2", {"test/best/seed0/limitNone": _res(10000, k1=119.0)}, valid=99.5)
    _fake_run(b, "e8", {"test/best/seed0/limitNone": _res(10000, k1=118.0)}, valid=98.0,
              options={"max_norm": 64})
    report = table2.build_report([a, b])
    rows = {r["latent"]: r for r in report["rows"]}
    assert set(rows) == {"e8", "a2", "e8 (max_norm=64)"} and report["n_runs"] == 3
    assert rows["e8"]["ours"]["1"] == 120.0 and rows["e8 (max_norm=64)"]["ours"]["1"] == 118.0
    assert rows["e8 (max_norm=64)"]["paper"]["1"] == rows["e8"]["paper"]["1"] == 117.07
    assert rows["e8 (max_norm=64)"]["best_run"].startswith(str(b) + "/")
    md = table2.to_markdown(report)
    assert "| E8 (max_norm=64) |" in md and "| E8 |" in md
    assert table2.main([str(a), str(tmp_path / "missing")]) == 2
    # the NSM figure: per lattice the variant whose best run validates best (here K = 64)
    data = plots.nll_vs_nsm_data(table2.collect_runs([a, b]))
    (group,) = data["groups"]
    e8 = next(p for p in group["points"] if p["latent"] == "e8")
    assert e8["variant"] == "e8 (max_norm=64)" and e8["best_nll"] == 118.0
    assert e8["variants"] == ["e8", "e8 (max_norm=64)"]


def _saved_run(run_dir: Path, config: dict) -> Path:
    """A run folder as vae.train leaves it mid-run: its config and a (dummy) checkpoint."""
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "checkpoint.pt").write_bytes(b"not read by run_status")
    return run_dir


def test_run_status_accepts_configs_written_before_new_model_fields(tmp_path):
    """A run saved before ``encoder``/``decoder`` joined the model config is the same run (it
    resumes), while a real difference (the hidden size) is still a conflict naming the key."""
    from vae.models import ModelConfig
    from vae.train import TrainConfig

    want = TrainConfig(dataset="mnist", lr=1e-3, seed=0, max_epochs=2,
                       model=ModelConfig(latent="e8", hidden=16).to_dict())
    old = want.to_dict()
    old["model"] = {k: v for k, v in old["model"].items() if k not in ("encoder", "decoder")}
    ev = {"samples": [1], "split": "test", "seed": 0, "limit": None}
    same = sweep.run_status(_saved_run(tmp_path / "old", old), want, ev)
    assert same["state"] == "resume"
    other = dict(old, model=dict(old["model"], hidden=24))
    clash = sweep.run_status(_saved_run(tmp_path / "other", other), want, ev)
    assert clash["state"] == "conflict" and "(model)" in clash["error"]


def test_current_results_match_the_checkpoint_by_content_and_legacy_results_by_time(tmp_path):
    """Which saved evaluations belong to the run's best.pt (sweep.current_results)."""
    import os

    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"weights")
    digest = file_sha256(run / "best.pt")
    key = "test/best/seed0/limitNone"

    def write(results, eval_ns, best_ns):
        (run / "eval.json").write_text(json.dumps({"evaluations": {key: results}}))
        os.utime(run / "eval.json", ns=(eval_ns, eval_ns))
        os.utime(run / "best.pt", ns=(best_ns, best_ns))
        return set(sweep.current_results(run, key))

    by_content = {"1": {"checkpoint_sha256": digest}, "100": {"checkpoint_sha256": "0" * 64}}
    assert write(by_content, 1, 2) == {"1"}                  # times do not matter, content does
    legacy = {"1": {"checkpoint_mtime_ns": 5}, "100": {}}
    assert write(legacy, 9, 5) == {"1", "100"}               # eval.json newer than best.pt
    assert write(legacy, 4, 5) == {"1"}                      # older: only the one naming best.pt's time
    assert write(legacy, 4, 6) == set()                      # best.pt rewritten after both
    (run / "best.pt").unlink()
    assert set(sweep.current_results(run, key)) == {"1", "100"}   # no checkpoint: what was saved stands
