"""The audit of the paper's claims and the shared report contract of the validation CLIs."""
from __future__ import annotations

import json

import numpy as np
import pytest

from validation import _report, audit


@pytest.fixture(scope="module")
def rows():
    return {r.id: r for r in audit.run(quick=True)}


def test_every_row_evaluates_to_its_established_status(rows):
    bad = {k: (r.status, r.expected_status, r.result) for k, r in rows.items()
           if r.status != r.expected_status}
    assert not bad
    assert {r.status for r in rows.values()} <= {audit.VERIFIED, audit.REFUTED, audit.NOT_CHECKABLE}


def test_refuted_rows_carry_a_correction(rows):
    for r in rows.values():
        if r.status == audit.REFUTED:
            assert r.correction, r.id


def test_known_findings(rows):
    assert rows["sec3.5-limit"].status == audit.REFUTED  # 1/(2 pi e^2) vs 1/(2 pi e)
    assert rows["sec6.2-e8-decoder"].evidence["fraction_not_in_E8"] > 0.4
    assert rows["sec3.5-bounds"].evidence[1]["G_best"] == pytest.approx(1 / 12, abs=1e-15)
    assert rows["sec3.4-integral"].evidence["a2"] == {"integral": False, "integer_norms": True}


def test_literal_paper_e8_decoder_is_wrong_and_ours_is_not():
    import lattices

    x = np.array([[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.6]])  # round(x) has odd sum
    lit = audit.paper_e8_decoder_as_printed(x)
    assert lit.sum() % 2 == 1  # not an E8 point
    c = lattices.get("e8").nearest(x)
    assert c.sum() % 2 == 0 and ((x - c) ** 2).sum() > ((x - lit) ** 2).sum()


def test_audit_cli_writes_markdown(tmp_path, capsys):
    out = tmp_path / "audit.md"
    assert audit.main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Audit of the paper's claims")
    assert "| **refuted** |" in text and "| **verified** |" in text
    assert audit.main(["--quick", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["regressions"] == [] and len(data["rows"]) >= 15


def test_report_contract(capsys):
    ok = _report.z_check("claim", 1.0, 1.01, 0.01, 100)
    bad = _report.z_check("control", 1.0, 2.0, 0.01, 100)
    assert ok.passed and not bad.passed and ok.rule == "|difference| < 4 standard errors"
    rep = _report.make_report("c", "s", [ok], [bad], seed=1)
    assert rep["confirmed"] and _report.emit(rep, as_json=True) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 1
    # a negative control that is NOT refuted means the check has no power: exit 1
    rep2 = _report.make_report("c", "s", [ok], [ok])
    assert not rep2["confirmed"] and _report.emit(rep2, as_json=False) == 1
    assert "NOT refuted" in capsys.readouterr().out
    assert _report.usage_error("bad") == 2
