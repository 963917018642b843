"""The command-line entry points, called through ``main(argv)`` (build_parser() and main(argv), as in CompressAI)."""
from __future__ import annotations

import json

from benchmarks import decoders as bench
from lattices import __main__ as cli


def test_table(capsys):
    assert cli.main(["e8", "a2", "a3*"]) == 0
    out = capsys.readouterr().out
    # center density rho^n / V with rho = sqrt(min norm) / 2: E8 1/16, A2 1/(2 sqrt 3), A3* (SPLAG Table 1.2)
    assert "| e8 | 8 | 1 | 2 | 240 | 0.0625 | 240 | fast (Conway & Sloane 1982) |" in out
    assert "| a2 | 2 | 0.866025 | 1 | 6 | 0.288675 | 6 |" in out
    assert "| a3* | 3 | 0.5 | 0.75 | 8 | 0.16238 | 14 |" in out


def test_table_code_lattices(capsys):
    """Leech prints what is known (its relevant vectors are not materialized), and BW16 and
    Leech name their own decoders, not the generic one."""
    assert cli.main(["leech", "bw16"]) == 0
    out = capsys.readouterr().out
    assert "| leech | 24 | 1 | 4 | 196560 | 1 | not materialized | hexacode" in out
    assert "| bw16 | 16 | 16 | 4 | 4320 | 0.0625 | 65760 | Reed-Muller" in out
    assert "generic" not in out


def test_table_json(capsys):
    assert cli.main(["--json", "d4"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["kissing_number"] == 24 and row["relevant_vectors"] == 24 and row["dim"] == 4


def test_decode(capsys):
    assert cli.main(["decode", "e8", "--json"] + ["0.3"] * 8) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nearest"] == [0.5] * 8
    assert out["coordinates"] == [0, 0, 0, 0, 0, 0, 0, 1]
    assert abs(out["squared_distance"] - 8 * 0.04) < 1e-12


def test_bad_usage_exit_2(capsys):
    assert cli.main(["q7"]) == 2
    assert "valid names" in capsys.readouterr().err
    assert cli.main(["decode", "e8", "1", "2"]) == 2
    assert "shape (..., 8)" in capsys.readouterr().err
    assert cli.main(["decode", "e8"] + ["x"] * 8) == 2
    assert "numbers" in capsys.readouterr().err


def test_benchmark_small_run(capsys):
    assert bench.main(["--json", "--points", "2000", "--generic-points", "200",
                       "--eager-points", "200", "--repeats", "1", "--lattices", "a2,e8^2"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["results"]
    assert {r["lattice"] for r in rows} == {"a2", "e8^2"}
    assert {r["backend"] for r in rows} == {"numpy", "torch", "torch-eager"}
    assert all(r["points_per_s"] > 0 and r["ratio_to_copy"] > 0 for r in rows)
    assert out["environment"]["points"] == 2000


def test_benchmark_bad_usage(capsys):
    assert bench.main(["--lattices", "nope"]) == 2
    assert "valid names" in capsys.readouterr().err
    assert bench.main(["--points", "0"]) == 2


def test_nsm_exact_cli(capsys):
    from lattices import nsm

    assert nsm.main(["e8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nsm"] == "929/12960" and out["second_moment"] == "929/12960"
    assert out["nsm_10_digits"] == "0.07168209877"
    assert nsm.main(["a2", "--exact-method", "generic"]) == 0
    assert "5*sqrt(3)/108" in capsys.readouterr().out
    assert nsm.main(["e8", "--exact-method", "generic"]) == 2  # dimension 8 > 4
    assert "dimension <= 4" in capsys.readouterr().err
    assert nsm.main(["nope"]) == 2
    assert nsm.main(["e8", "--scale", "-1"]) == 2


def test_nsm_monte_carlo_cli(capsys):
    from lattices import nsm

    assert nsm.main(["a2", "--method", "monte-carlo", "--samples", "200000", "--seed", "3",
                     "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seed"] == 3 and out["samples"] == 200000
    assert abs(out["difference_in_standard_errors"]) < 4
    assert nsm.main(["a2", "--method", "monte-carlo", "--samples", "1"]) == 2


def test_tables_cli(tmp_path, capsys):
    from lattices import tables

    out = tmp_path / "t.md"
    assert tables.main(["a2", "a3*", "e8", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| e8 | 8 | `1` | `929/12960` | 0.07168209877 | `sqrt(2)/2` | `1` | 240 | 1 | 1, 0, 240, 0, 2160, 0, 6720 |" in text
    assert "| a2 | 2 | `sqrt(3)/2` | `5*sqrt(3)/108` |" in text
    assert "| a3* | 3 |" in text and "| 1/4 |" in text  # dual: theta in units of 1/4
    assert tables.main(["--json", "z"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["theta"] == [1, 2, 0, 0, 2, 0, 0]
    assert tables.main(["nope"]) == 2
