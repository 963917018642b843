"""The error boundary of every command line (lattices.cli), on a toy main."""
from __future__ import annotations

import argparse

import pytest

from lattices import cli


def _main_raising(exc):
    @cli.cli_main("python -m toy")
    def main(argv=None):
        if exc is not None:
            raise exc
        return 1                   # "claim refuted" passes through untouched

    return main


@pytest.mark.parametrize("exc, code, words", [
    (ValueError("--x must be positive, got -1"), 2, "python -m toy: error: --x must be positive, got -1"),
    (FileNotFoundError(2, "No such file or directory", "/a/b"), 2, "error: /a/b: No such file or directory"),
    (PermissionError(13, "Permission denied", "/root/x"), 2, "/root/x: Permission denied"),
    (MemoryError(), 2, "not enough memory"),
    (EOFError("Ran out of input"), 2, "Ran out of input"),
    (KeyboardInterrupt(), 130, "interrupted"),
    (SystemExit(2), 2, ""),
    (ZeroDivisionError("a bug"), 70, "internal error (ZeroDivisionError)"),
    (TypeError("a bug too"), 70, "internal error (TypeError)"),
])
def test_boundary_maps_exceptions_to_exit_codes(exc, code, words, capsys):
    assert _main_raising(exc)([]) == code
    err = capsys.readouterr().err
    assert words in err
    if code == 2 and words:
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if code == 70:
        assert "Traceback" in err                       # a bug keeps its traceback


def test_refuted_claim_keeps_exit_1():
    assert _main_raising(None)([]) == 1


def test_argparse_errors_are_one_line(capsys):
    p = cli.ArgumentParser(prog="python -m toy")
    p.add_argument("--n", type=cli.positive_count, required=True)
    with pytest.raises(SystemExit) as info:
        p.parse_args(["--n", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "python -m toy: error: argument --n" in err and ">= 1" in err


@pytest.mark.parametrize("text, value", [("12", 12), ("1e6", 10 ** 6), ("10**9", 10 ** 9), ("0", 0)])
def test_count_accepts_the_usual_spellings(text, value):
    assert cli.count(text) == value


@pytest.mark.parametrize("text", ["1.5", "-1", "nan", "inf", "ten", "1e400"])
def test_count_refuses_the_rest(text):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.count(text)


def test_check_output_path(tmp_path):
    assert cli.check_output_path(tmp_path / "a.md") == tmp_path / "a.md"
    assert cli.check_output_path(tmp_path / "new" / "deeper", directory=True)
    with pytest.raises(cli.UsageError, match="does not exist"):
        cli.check_output_path(tmp_path / "missing" / "a.md")
    with pytest.raises(cli.UsageError, match="is a folder"):
        cli.check_output_path(tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(cli.UsageError, match="is a file"):
        cli.check_output_path(tmp_path / "f", directory=True)
    with pytest.raises(cli.UsageError, match="cannot be written"):
        cli.check_output_path("/proc/x.md")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]      # the probe leaves nothing


def test_chunk_ranges_cover_exactly_and_do_not_depend_on_progress():
    quiet = list(cli.chunk_ranges(10, 3, "t", progress=False))
    assert quiet == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert list(cli.chunk_ranges(10, 3, "t", progress=True)) == quiet


def test_format_seconds_and_bytes():
    assert cli.format_seconds(90) == "1.5 min" and cli.format_seconds(30) == "30.0 s"
    assert cli.format_bytes(3 * 2 ** 40) == "3.0 TiB"
