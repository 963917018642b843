"""validation.figure2: Appendix 6.2 / Figure 2 (Z² vs A2 at equal second moment)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sympy

import lattices
from validation import figure2

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    """One --json run (exit code, parsed report, PNG path), shared by the tests below."""
    out = tmp_path_factory.mktemp("fig2") / "fig2.png"
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = figure2.main(["--out", str(out), "--json", "--samples", "4000", "--seed", "1"])
    return code, json.loads(buf.getvalue()), out


def _check(report, prefix, key="checks"):
    (c,) = [c for c in report[key] if c["name"].startswith(prefix)]
    return c


def test_matched_scales_exact():
    s = figure2.matched_scales()
    r3 = sympy.sqrt(3)
    # G(Z2) = 1/12, G(A2) = 5 sqrt(3)/108 (Conway & Sloane, Ch. 21, Table 21.1 / Ch. 2)
    assert sympy.simplify(s["G_z2"] - sympy.Rational(1, 12)) == 0
    assert sympy.simplify(s["G_a2"] - 5 * r3 / 108) == 0
    assert s["delta_z2"] == 1
    assert sympy.simplify(s["delta_a2"] ** 2 - sympy.Rational(6, 5)) == 0
    assert sympy.simplify(s["volume_a2"] - 3 * r3 / 5) == 0
    # V_Z2/V_A2 = G(A2)/G(Z2) = 5 sqrt(3)/9, not the printed G(Z2)/G(A2) = 6 sqrt(3)/10
    assert sympy.simplify(s["volume_ratio"] - 5 * r3 / 9) == 0
    assert sympy.simplify(s["volume_ratio"] - s["correct_formula_ratio"]) == 0
    assert sympy.simplify(s["printed_formula_ratio"] - 1 / s["volume_ratio"]) == 0
    # equal second moments, checked against the library's float second moment
    z2 = lattices.get("z2").scaled(float(s["delta_z2"]))
    a2 = lattices.get("a2").scaled(float(s["delta_a2"]))
    assert abs(z2.second_moment() - a2.second_moment()) < 1e-12
    assert abs(a2.volume - float(s["volume_a2"])) < 1e-12


def test_counts_and_placement_mean():
    s = figure2.matched_scales()
    a2 = lattices.get("a2").scaled(float(s["delta_a2"]))
    z2 = lattices.get("z2")
    assert figure2._figure_counts(z2, 7) == 49
    assert figure2._figure_counts(a2, 7) == 45
    # any placement of a 7 x 7 square holds exactly 49 points of Z²
    assert set(figure2.placement_counts(z2, 7, 500, rng=3).tolist()) == {49}
    c = figure2.placement_counts(a2, 7, 4000, rng=3)
    se = c.std(ddof=1) / math.sqrt(len(c))
    assert abs(c.mean() - 245 * math.sqrt(3) / 9) < 4 * se
    # same seed, same result
    assert np.array_equal(c, figure2.placement_counts(a2, 7, 4000, rng=3))


def test_json_report(report_run):
    code, rep, out = report_run
    assert code == 1 and rep["confirmed"] is False  # the caption's ratio is printed wrongly
    assert rep["seed"] == 1 and rep["n_samples"] == 4000
    assert rep["scales"]["delta_a2"] == "sqrt(30)/5"
    assert rep["scales"]["volume_ratio_z2_over_a2"] == "5*sqrt(3)/9"
    assert "G(A2)/G(Z2)" in rep["corrected_statement"]

    formula = _check(rep, "printed formula")
    assert not formula["passed"]
    assert abs(formula["estimate"] - 6 * math.sqrt(3) / 10) < 1e-12  # G(Z2)/G(A2) = 1.0392...
    assert abs(formula["reference"] - 5 * math.sqrt(3) / 9) < 1e-12  # V_Z2/V_A2 = 0.96225...
    value = _check(rep, "printed value")
    assert not value["passed"] and value["details"]["truncated_3"] == 0.962
    assert _check(rep, "A2 uses >= 3 %")["passed"]
    assert abs(_check(rep, "A2 uses >= 3 %")["estimate"] - 0.0377496) < 1e-6
    left, right = _check(rep, "left box"), _check(rep, "right box")
    assert left["passed"] and left["estimate"] == 49
    assert right["passed"] and right["estimate"] == 45
    expected = _check(rep, "expected A2 cells")
    assert expected["passed"] and abs(expected["estimate"] - 245 * math.sqrt(3) / 9) < 1e-12

    a2_mc = _check(rep, "A2: mean count")
    assert a2_mc["passed"] and a2_mc["n_samples"] == 4000 and a2_mc["standard_error"] > 0
    assert abs(a2_mc["reference"] - 47.150272) < 1e-6
    assert _check(rep, "Z²: mean count")["passed"]
    # negative controls: must be refuted
    assert len(rep["negative_controls"]) == 2
    assert not any(c["passed"] for c in rep["negative_controls"])
    assert rep["figure"]["counts_in_drawn_square"] == {"Z²": 49, "A2": 45}


def test_png_written(report_run):
    _, _, out = report_run
    assert out.exists() and out.stat().st_size > 1000
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_table_output_and_other_side(tmp_path, capsys):
    out = tmp_path / "f.png"
    code = figure2.main(["--out", str(out), "--side", "5.5", "--samples", "2000"])
    text = capsys.readouterr().out
    assert code == 1
    assert "| claim | right box (A2, same square) contains 45 points |" in text
    assert "refuted (as it must be)" in text and "NOT refuted" not in text
    assert out.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("argv", [["--side", "-3"], ["--side", "0"], ["--side", "nan"],
                                  ["--samples", "1"], ["--side", "abc"], ["--bogus"]])
def test_bad_usage(tmp_path, argv, capsys):
    assert figure2.main(argv + ["--out", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()
