"""validation.experiments: the Table 2 layout, Table 4, convergence rows and the claim verdicts,
on synthetic run folders whose numbers are chosen so that each verdict is known."""
from __future__ import annotations

import json

import pytest

from validation import experiments
from validation.paper_tables import table2, table4


def make_run(root, dataset, arch, hidden, latent, seed, nll1, nll100=None, *, valid=None, epochs=40,
             max_epochs=40, patience=(5, 10), options=None, large=None):
    """A run folder in vae.train's layout with the given test NLLs (k = 1 and k = 100)."""
    tag = latent if not options else f"{latent}-opt"
    d = root / dataset / arch / f"h{hidden}" / tag / "lr0.001" / f"seed{seed}"
    d.mkdir(parents=True)
    cfg = {"batch_size": 100, "dataset": dataset, "lr": 0.001, "max_epochs": max_epochs,
           "patience_halve": patience[0], "patience_stop": patience[1], "seed": seed,
           "train_limit": None, "valid_limit": None,
           "model": {"arch": arch, "hidden": hidden, "latent": latent, "latent_options": options or {},
                     "input_dim": 784, "gate_width": 300, "encoder": None, "decoder": None}}
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "summary.json").write_text(json.dumps({
        "best_valid_nll": nll1 + 1.0 if valid is None else valid, "epochs": epochs,
        "stop_reason": "max_epochs" if epochs >= max_epochs else "no_improvement"}))
    res = {"1": {"nll": nll1, "n_images": 10000, "standard_error": 0.3}}
    if nll100 is not None:
        res["100"] = {"nll": nll100, "n_images": 10000, "standard_error": 0.3}
    evals = {"test/best/seed0/limitNone": res}
    if large is not None:
        evals["test/best/seed0/limit1000-spread"] = {
            "1": {"nll": nll1 + 0.5, "n_images": 1000}, "100": {"nll": nll100 + 0.5, "n_images": 1000},
            "10000": {"nll": large + 0.5, "n_images": 1000}}
    (d / "eval.json").write_text(json.dumps({"evaluations": evals}))
    (d / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e + 1, "time_s": 1.0}) + "\n"
                                             for e in range(epochs)))
    return d


def grid(root, arch, means, seeds=(0, 1, 2), spread=0.1, dataset="mnist", hidden=32, **kw):
    """Runs with k=1 NLL = mean + spread * (seed - 1), k=100 = k=1 - 2 (VQ: equal)."""
    for lat, mean in means.items():
        for s in seeds:
            v = mean + spread * (s - 1)
            make_run(root, dataset, arch, hidden, lat, s, v, v if lat == "vq" else v - 2.0, **kw)


def by_id(report):
    return {c["id"]: c for c in report["claims"]}


def test_nsm_order_reproduced_when_separated_and_refuted_when_reversed(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    grid(good, "linear", {"z2": 122.0, "a2": 121.0, "e8": 120.0})
    grid(bad, "linear", {"z2": 120.0, "a2": 121.0, "e8": 122.0})       # negative control: reversed
    assert by_id(experiments.build_report([good]))["nsm-order"]["verdict"] == experiments.REPRODUCED
    assert by_id(experiments.build_report([bad]))["nsm-order"]["verdict"] == experiments.NOT_REPRODUCED


def test_single_seed_is_inconclusive(tmp_path):
    grid(tmp_path, "linear", {"z2": 122.0, "a2": 121.0, "e8": 120.0}, seeds=(0,))
    c = by_id(experiments.build_report([tmp_path]))["nsm-order"]
    assert c["verdict"] == experiments.INCONCLUSIVE and c["counts"]["unresolved"] == 2


def test_overlapping_seeds_are_unresolved(tmp_path):
    grid(tmp_path, "linear", {"z2": 121.05, "a2": 121.0, "e8": 120.95}, spread=0.5)
    c = by_id(experiments.build_report([tmp_path]))["nsm-order"]
    assert c["counts"] == {"agrees": 0, "contradicts": 0, "unresolved": 2}


def test_vq_e8_switch_needs_both_architectures(tmp_path):
    grid(tmp_path, "linear", {"vq": 115.0, "e8": 120.0})
    grid(tmp_path, "gated", {"vq": 104.0, "e8": 100.0})
    c = by_id(experiments.build_report([tmp_path]))["vq-e8-switch"]
    assert c["verdict"] == experiments.REPRODUCED and c["counts"]["agrees"] == 2
    other = tmp_path / "same"
    grid(other, "linear", {"vq": 125.0, "e8": 120.0})                 # E8 better with both networks
    grid(other, "gated", {"vq": 104.0, "e8": 100.0})
    assert by_id(experiments.build_report([other]))["vq-e8-switch"]["verdict"] == experiments.INCONCLUSIVE


def test_more_samples_vq_flat_lattices_improve(tmp_path):
    grid(tmp_path, "linear", {"vq": 115.0, "e8": 120.0})
    c = by_id(experiments.build_report([tmp_path]))["more-samples"]
    assert c["counts"] == {"agrees": 6, "contradicts": 0, "unresolved": 0}
    make_run(tmp_path, "mnist", "linear", 16, "vq", 0, 110.0, 109.0)   # a VQ that "improves": contradicts
    assert by_id(experiments.build_report([tmp_path]))["more-samples"]["counts"]["contradicts"] == 1


def test_more_samples_vq_round_off_is_no_gain(tmp_path):
    """VQ-VAE's k = 1 and k = 100 differ by float32 round-off (1.7e-9 nats seen): still flat;
    a difference of 1e-3 is a real change and contradicts."""
    make_run(tmp_path, "mnist", "gated", 32, "vq", 0, 132.41376752215118, 132.41376752388106)
    assert by_id(experiments.build_report([tmp_path]))["more-samples"]["counts"]["agrees"] == 1
    make_run(tmp_path, "mnist", "gated", 32, "vq", 1, 132.414, 132.413)
    assert by_id(experiments.build_report([tmp_path]))["more-samples"]["counts"]["contradicts"] == 1


def test_z_laplace_direction_is_the_papers_per_cell(tmp_path):
    paper = table2("mnist", "linear", 32, "z-laplace", 1) - table2("mnist", "linear", 32, "z2", 1)
    assert paper < 0                                                   # the paper: Z+Laplace better here
    grid(tmp_path, "linear", {"z2": 121.0, "z-laplace": 120.0})
    assert by_id(experiments.build_report([tmp_path]))["z-laplace-vs-z2"]["verdict"] == experiments.REPRODUCED


def test_layout_cells_best_validation_run_and_paper(tmp_path):
    make_run(tmp_path, "mnist", "gated", 32, "e8", 0, 101.0, 99.0, valid=105.0)
    make_run(tmp_path, "mnist", "gated", 32, "e8", 1, 100.0, 98.0, valid=106.0, large=96.0)
    rep = experiments.build_report([tmp_path])
    block = next(b for b in rep["layout"] if (b["dataset"], b["arch"]) == ("mnist", "gated"))
    cell = next(r for r in block["rows"] if r["latent"] == "e8")["cells"]["32"]
    assert cell["best_run"].endswith("seed0")                         # lower validation NLL, not lower test
    assert cell["k1"] == 101.0 and cell["paper_k1"] == table2("mnist", "gated", 32, "e8", 1)
    assert cell["delta_k1"] == pytest.approx(101.0 - cell["paper_k1"], abs=1e-12)
    assert cell["large_k"] == 100 and cell["large"] == 99.0           # seed 0 has no k = 10^4
    assert cell["n_runs"] == 2 and cell["mean_k1"] == pytest.approx(100.5)
    assert any(b["budget"] is None for b in rep["layout"])             # the pairs not run are listed
    md = experiments.to_markdown(rep)
    assert "101.00 (" in md and "not run yet" in md and "[k=100]" in md


def test_full_set_estimate_for_large_k(tmp_path):
    make_run(tmp_path, "mnist", "linear", 32, "e8", 0, 120.0, 114.0, large=112.0)
    cell = next(r for r in experiments.build_report([tmp_path])["layout"][0]["rows"]
                if r["latent"] == "e8")["cells"]["32"]
    # the subset's k=100 -> k=10^4 tightening (114.5 - 112.5 = 2) applied to the full set's k=100
    assert cell["large_k"] == 10000 and cell["large"] == pytest.approx(112.0, abs=1e-12)


def test_table4_from_benchmark_reports(tmp_path):
    rep = {"machine": {"platform": "x", "cpus": 2, "torch": "t", "threads": 1, "device": "cpu",
                       "load_average": [1.0, 1.0, 1.0]},
           "epochs": [{"arch": "gated", "latent": "gaussian", "hidden": 32, "epoch_seconds": 2.0,
                       "ratio_to_gaussian": 1.0, "images": 23000},
                      {"arch": "gated", "latent": "e8/paper", "hidden": 32, "epoch_seconds": 3.0,
                       "ratio_to_gaussian": 1.5, "images": 23000},
                      {"arch": "gated", "latent": "e8/dgauss", "hidden": 32, "epoch_seconds": 2.5,
                       "ratio_to_gaussian": 1.25, "images": 23000},
                      {"arch": "linear", "latent": "e8/paper", "hidden": 32, "epoch_seconds": 1.0}]}
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(rep))
    rows = {r["latent"]: r for r in experiments.table4_rows(experiments.read_benchmarks([path]))}
    assert set(rows) == {"gaussian", "e8/paper", "e8/dgauss"}                 # the linear row is not Table 4
    assert rows["e8/paper"]["ratio"] == 1.5
    assert rows["e8/paper"]["paper_ratio"] == pytest.approx(table4("e8", 32) / table4("gaussian", 32))
    assert rows["e8/dgauss"]["paper_ms"] is None                             # the paper had no such prior
    md = experiments.to_markdown(experiments.build_report([_one_run(tmp_path)], benchmarks=[path]))
    assert "| 32 | E8 (dgauss prior) | 2.50 | 1.25 | – | – |" in md
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="no 'epochs'"):
        experiments.read_benchmarks([tmp_path / "bad.json"])


def _one_run(tmp_path):
    make_run(tmp_path / "one", "mnist", "gated", 32, "e8", 0, 101.0, 99.0)
    return tmp_path / "one"


def test_convergence_rows_beside_the_40_epoch_runs(tmp_path):
    make_run(tmp_path / "short", "mnist", "linear", 32, "e8", 0, 121.0, 115.0)
    make_run(tmp_path / "long", "mnist", "linear", 32, "e8", 0, 118.0, 112.0, epochs=400, max_epochs=1000,
             patience=(50, 200))
    rep = experiments.build_report([tmp_path / "short", tmp_path / "long"])
    (row,) = rep["convergence"]
    assert row["k1"] == 118.0 and row["short_k1"] == 121.0 and row["epochs"] == 400 and row["finished"]
    # the two budgets are separate cells, never pooled into one seed spread
    blocks = [b for b in rep["layout"] if b["arch"] == "linear" and b["budget"]]
    assert len(blocks) == 2


def test_cli_writes_block_and_bad_input_exits_2(tmp_path, capsys):
    grid(tmp_path / "runs", "linear", {"z2": 122.0, "a2": 121.0, "e8": 120.0})
    out = tmp_path / "results.md"
    out.write_text("# Results\n\nhand-written text\n")
    assert experiments.main([str(tmp_path / "runs"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "hand-written text" in text and "<!-- BEGIN generated by validation.experiments" in text
    assert experiments.main([str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:                             # checked before any work
        experiments.main([str(tmp_path / "runs"), "--out", str(tmp_path / "no" / "such" / "dir.md")])
    assert exc.value.code == 2
    (tmp_path / "empty").mkdir()
    assert experiments.main([str(tmp_path / "empty")]) == 2
    assert "no run folders" in capsys.readouterr().err


def test_audit_gets_one_row_per_claim_from_runs(tmp_path, capsys):
    from validation import audit

    grid(tmp_path / "runs", "linear", {"z2": 122.0, "a2": 121.0, "e8": 120.0})
    rows = audit.experiment_rows([tmp_path / "runs"])
    by = {r.id: r for r in rows}
    assert by["exp-nsm-order"].status == experiments.REPRODUCED
    assert by["exp-vq-e8-switch"].status == experiments.INCONCLUSIVE
    md = audit.render_markdown(rows, "python -m validation.audit --runs x")
    n_rep = sum(r.status == experiments.REPRODUCED for r in rows)
    assert f"experimental claims (from trained runs): {n_rep} reproduced" in md and "--runs x" in md
    assert audit.main(["--quick", "--runs", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_z_laplace_claim_skips_a_cell_the_paper_leaves_blank(tmp_path):
    """OMNIGLOT gated hidden 16 has no Z² value in the paper's Table 2: that cell makes no claim
    (it used to raise a TypeError from inside the report)."""
    from validation.paper_tables import table2

    assert table2("omniglot", "gated", 16, "z2", 1) is None
    for seed in (0, 1):
        make_run(tmp_path, "omniglot", "gated", 16, "z2", seed, 130.0 + seed, 126.0)
        make_run(tmp_path, "omniglot", "gated", 16, "z-laplace", seed, 131.0 + seed, 127.0)
    c = by_id(experiments.build_report([tmp_path]))["z-laplace-vs-z2"]
    assert c["counts"] == {"agrees": 0, "contradicts": 0, "unresolved": 0}


def test_gaussian_first_and_concrete_last_with_their_negative_controls(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    grid(good, "linear", {"gaussian": 110.0, "e8": 120.0, "vq": 121.0, "concrete": 130.0})
    grid(bad, "linear", {"gaussian": 125.0, "e8": 120.0, "vq": 121.0, "concrete": 115.0})  # swapped
    ok, swapped = by_id(experiments.build_report([good])), by_id(experiments.build_report([bad]))
    for claim in ("gaussian-first", "concrete-last"):
        assert ok[claim]["verdict"] == experiments.REPRODUCED
        assert swapped[claim]["verdict"] == experiments.NOT_REPRODUCED


def test_paper_exceptions_are_judged_in_the_papers_direction(tmp_path):
    """OMNIGLOT linear: the paper's Table 2 has Concrete ahead of every latent, the Gaussian
    included.  Those pairs leave "Gaussian first" / "Concrete last" and form the
    table2-exceptions claim (Sec. 4.1 (5)); a grid with Concrete last there contradicts it
    (negative control)."""
    assert experiments.paper_direction("omniglot", "linear", 24, "concrete", "gaussian") == "<"
    good, bad = tmp_path / "good", tmp_path / "bad"
    means = {"gaussian": 137.0, "e8": 141.0, "concrete": 135.0}
    grid(good, "linear", means, dataset="omniglot", hidden=24)
    grid(bad, "linear", {**means, "concrete": 150.0}, dataset="omniglot", hidden=24)
    ok, last = by_id(experiments.build_report([good])), by_id(experiments.build_report([bad]))
    # Concrete vs Gaussian and vs E8: both exceptions, counted once though both claims name the first
    assert ok["table2-exceptions"]["counts"] == {"agrees": 2, "contradicts": 0, "unresolved": 0}
    assert ok["table2-exceptions"]["verdict"] == experiments.REPRODUCED
    assert last["table2-exceptions"]["verdict"] == experiments.NOT_REPRODUCED
    # evidence lines end with their status, so the summary lists disagreements first
    assert all(l.endswith("contradicts") and "(paper's exception)" in l
               for l in last["table2-exceptions"]["evidence"])
    # what remains of the stated claims here: Gaussian < E8 only; Concrete has no pair left
    assert ok["gaussian-first"]["counts"] == {"agrees": 1, "contradicts": 0, "unresolved": 0}
    assert ok["concrete-last"]["counts"] == {"agrees": 0, "contradicts": 0, "unresolved": 0}


def test_paper_exception_vq_ahead_of_gaussian_at_mnist_linear_32(tmp_path):
    assert experiments.paper_direction("mnist", "linear", 32, "vq", "gaussian") == "<"
    grid(tmp_path, "linear", {"gaussian": 110.0, "vq": 112.0})         # ours: the Gaussian ahead
    c = by_id(experiments.build_report([tmp_path]))
    assert c["table2-exceptions"]["counts"]["contradicts"] == 1
    assert sum(c["gaussian-first"]["counts"].values()) == 0


def test_z_laplace_claim_skips_a_cell_where_the_paper_ties(tmp_path):
    """OMNIGLOT linear hidden 32: Z+Laplace and Z² are both 139.94 in the paper's Table 2, so
    the paper claims no direction there (it used to count as 'Z+Laplace behind')."""
    assert table2("omniglot", "linear", 32, "z-laplace", 1) == table2("omniglot", "linear", 32, "z2", 1)
    assert experiments.paper_direction("omniglot", "linear", 32, "z-laplace", "z2") is None
    grid(tmp_path, "linear", {"z2": 139.0, "z-laplace": 141.0}, dataset="omniglot", hidden=32)
    c = by_id(experiments.build_report([tmp_path]))["z-laplace-vs-z2"]
    assert c["counts"] == {"agrees": 0, "contradicts": 0, "unresolved": 0}


@pytest.mark.parametrize("hidden", [48, 200])
def test_ordering_claims_are_about_hidden_16_to_32_only(tmp_path, hidden):
    """Hidden 48 is not in the paper's Table 2 (no direction, no error); hidden 200 is, with
    reversals of its own, but the statements are about hidden 16-32."""
    if hidden == 48:
        assert experiments.paper_direction("mnist", "linear", 48, "gaussian", "e8") is None
    else:
        assert experiments.paper_direction("mnist", "linear", 200, "vq", "gaussian") == "<"
    grid(tmp_path, "linear", {"gaussian": 110.0, "e8": 120.0, "vq": 121.0, "concrete": 130.0},
         hidden=hidden)
    c = by_id(experiments.build_report([tmp_path]))
    for claim in ("gaussian-first", "concrete-last", "table2-exceptions"):
        assert sum(c[claim]["counts"].values()) == 0


def test_out_block_keeps_its_place_when_the_run_folders_change(tmp_path):
    """A glob that matches one more folder names other markers; the report still has one block, in place."""
    grid(tmp_path / "a", "linear", {"z2": 122.0, "a2": 121.0, "e8": 120.0})
    grid(tmp_path / "b", "gated", {"z2": 102.0, "a2": 101.0, "e8": 100.0})
    out = tmp_path / "results.md"
    out.write_text("# Results\n\nbefore\n")
    assert experiments.main([str(tmp_path / "a"), "--out", str(out)]) == 0
    with out.open("a") as f:
        f.write("\nafter\n")
    assert experiments.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.count("<!-- BEGIN generated by validation.experiments") == 1
    assert text.count("<!-- END generated by validation.experiments") == 1
    assert text.index("before") < text.index("BEGIN generated") < text.index("END generated") < text.index("after")
    assert f"validation.experiments {tmp_path / 'a'} {tmp_path / 'b'} -->" in text   # the new key
    # a file that already holds two blocks of the tool (the old behaviour) is mended to one
    first = text[text.index("<!-- BEGIN"):text.index("-->", text.index("<!-- END")) + 3]
    out.write_text(text + "\ntail\n\n" + first.replace(str(tmp_path / "b"), str(tmp_path / "c")) + "\n")
    assert experiments.main([str(tmp_path / "a"), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.count("<!-- BEGIN generated by validation.experiments") == 1
    assert text.count("<!-- END generated by validation.experiments") == 1
    assert text.index("BEGIN generated") < text.index("after") < text.index("tail")


def test_one_block_per_file_keeps_other_tools_quoted_markers_and_lost_ends(tmp_path):
    """``write_block(one_per_file=True)`` touches only whole-line markers of its own tool."""
    from validation.table2 import write_block
    out = tmp_path / "results.md"
    other = ("<!-- BEGIN generated by validation.table2 runs/x -->\ntable2 text\n"
             "<!-- END generated by validation.table2 runs/x -->")
    out.write_text("# Results\n\n"
                   "prose quoting `<!-- BEGIN generated by validation.experiments RUNS -->` markers\n\n"
                   "<!-- BEGIN generated by validation.experiments runs/lost-its-end -->\n"
                   "hand-written after a lost END\n\n"
                   "<!-- BEGIN generated by validation.experiments runs/a -->\nold report\n"
                   "<!-- END generated by validation.experiments runs/a -->\n\n" + other + "\n\n"
                   "<!-- BEGIN generated by validation.experiments runs/b -->\nolder report\n"
                   "<!-- END generated by validation.experiments runs/b -->\n\ntail\n")
    text = write_block(out, "runs/a runs/c", "new report", tool="validation.experiments", one_per_file=True)
    assert "prose quoting" in text and "hand-written after a lost END" in text and other in text
    assert "old report" not in text and "older report" not in text and "tail" in text
    assert text.count("new report") == 1 and "\n\n\n" not in text
    assert text.index("hand-written after") < text.index("new report") < text.index("table2 text")
    assert text.count("<!-- END generated by validation.experiments") == 1
    # the per-key mode of validation.table2 is unchanged: its own block only
    text = write_block(out, "runs/x", "table2 again")
    assert "table2 again" in text and "table2 text" not in text and "new report" in text
