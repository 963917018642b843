"""Bad input from every entry point (issue "robust from every entry point", docs/reliability.md).

Each case calls a command line's ``main(argv)`` in-process and asserts

* the exit code (2 for a user error; never 1, which means "claim refuted"),
* exactly one line on stderr, ``PROG: error: ...`` or ``error: ...``, naming the bad value,
  with no traceback,
* that no file the user had was changed (every file under the test's folder is hashed before
  and after).

API cases assert the exception type and the words of the message.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from shared_data import needs_data

pytestmark = pytest.mark.usefixtures("vae_data_env")

SMALL = ["--train-limit", "200", "--valid-limit", "100", "--batch-size", "50", "--no-progress",
         "--device", "cpu"]


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def check_one_line_error(main, argv, capsys, folder, message, code=2):
    before = snapshot(folder)
    capsys.readouterr()
    got = main([str(a).replace("{T}", str(folder)) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert got == code, f"exit {got}, stderr: {err}"
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert "Traceback" not in err
    assert "error" in lines[0]
    assert message.lower() in lines[0].lower(), f"{message!r} not in {lines[0]!r}"
    assert snapshot(folder) == before, "a user file was changed"
    return lines[0]


def cli_mains():
    import benchmarks.decoders
    import benchmarks.nsm
    import benchmarks.theta
    import lattices.__main__
    import lattices.nsm
    import lattices.tables
    import lattices.theta
    import validation.crypto_lemma
    import validation.figure2
    import validation.kl_identity
    import validation.plots
    import validation.table2
    import validation.theorem1

    return {
        "lattices": lattices.__main__.main, "nsm": lattices.nsm.main, "theta": lattices.theta.main,
        "tables": lattices.tables.main, "theorem1": validation.theorem1.main,
        "kl": validation.kl_identity.main, "crypto": validation.crypto_lemma.main,
        "figure2": validation.figure2.main, "table2": validation.table2.main,
        "plots": validation.plots.main, "bench_decoders": benchmarks.decoders.main,
        "bench_nsm": benchmarks.nsm.main, "bench_theta": benchmarks.theta.main,
    }


# (command, argv, words of the one-line message); {T} is the test's folder (holding a user file)
CLI_CASES = [
    ("lattices", ["q7"], "valid names"),
    ("lattices", ["e8", "--bogus"], "unrecognized arguments"),
    ("lattices", ["decode", "e8"] + ["1e300"] * 8, "2**53"),
    ("lattices", ["decode", "e8", "-inf"] + ["0"] * 7, "finite"),
    ("lattices", ["decode", "e8", "nan"] + ["0"] * 7, "finite"),
    ("lattices", ["decode", "e8", "1", "2"], "dimension 8"),
    ("lattices", ["decode", "e8"] + ["x"] * 8, "numbers"),
    ("lattices", ["decode"], "usage"),
    ("lattices", ["decode", "a2^0", "1", "2"], "power"),
    ("lattices", ["decode", "e8 x q", "1"], "valid names"),
    ("nsm", ["nope"], "valid names"),
    ("nsm", ["e8", "--scale", "-1"], "scale"),
    ("nsm", ["e8", "--scale", "nan"], "scale"),
    ("nsm", ["e8", "--method", "exact", "--exact-method", "generic"], "dimension <= 4"),
    ("nsm", ["e8", "--method", "monte-carlo", "--samples", "1"], "samples"),
    ("nsm", ["e8", "--samples", "1.5"], "whole number"),
    ("nsm", ["e8", "--samples", "-3"], "non-negative"),
    ("nsm", ["e8", "--method", "fast"], "invalid choice"),
    ("theta", ["e8", "--max-norm", "-1"], "non-negative"),
    ("theta", ["e8", "--max-norm", "100000000"], "lattice vectors"),
    ("theta", ["e8", "--max-norm", "abc"], "whole number"),
    ("theta", ["a3*", "--max-norm", "4"], "integ"),
    ("theta", ["zz", "--max-norm", "4"], "valid names"),
    ("tables", ["--out", "{T}/missing/x.md", "e8"], "does not exist"),
    ("tables", ["--out", "/proc/x.md", "e8"], "cannot be written"),
    ("tables", ["--out", "{T}", "e8"], "is a folder"),
    ("tables", ["--theta-terms", "0", "e8"], "theta-terms"),
    ("tables", ["nope"], "valid names"),
    ("theorem1", ["--e", "nan,0"], "finite"),
    ("theorem1", ["--e", "1,2,3"], "2 comma-separated"),
    ("theorem1", ["--e", "1,x"], "comma-separated numbers"),
    ("theorem1", ["--lattice", "q"], "valid names"),
    ("theorem1", ["--scale", "0"], "scale"),
    ("theorem1", ["--prior-scale", "-2"], "prior-scale"),
    ("theorem1", ["--prior", "cauchy"], "invalid choice"),
    ("theorem1", ["--dithers", "1"], "dithers"),
    ("theorem1", ["--lattice", "e8", "--method", "quadrature"], "dimension <= 4"),
    ("kl", ["--samples", "1"], "samples"),
    ("kl", ["--lattice", "nope"], "valid names"),
    ("kl", ["--samples", "many"], "whole number"),
    ("crypto", ["--samples", "5"], "samples"),
    ("crypto", ["--permutations", "10"], "permutations"),
    ("crypto", ["--lattice", "a2", "--y", "nan,1"], "finite"),
    ("crypto", ["--lattice", "q2"], "valid names"),
    ("crypto", ["--lattice", "a2", "--samples", "10000000"], "needs about"),
    ("theorem1", ["--dithers", "100000000000000"], "needs about"),
    ("kl", ["--samples", "1e400"], "whole number"),
    ("figure2", ["--out", "/nonexistent/x.png"], "does not exist"),
    ("figure2", ["--side", "-1"], "side"),
    ("figure2", ["--samples", "1"], "samples"),
    ("table2", ["{T}/no-such-runs"], "not a folder"),
    ("table2", ["{T}", "--out", "/nonexistent/r.md"], "does not exist"),
    ("plots", ["{T}/no-such-runs"], "not a folder"),
    ("plots", ["{T}", "--out-dir", "{T}/user.txt"], "is a file"),
    ("bench_decoders", ["--lattices", "nope"], "valid names"),
    ("bench_decoders", ["--points", "0"], "points"),
    ("bench_nsm", ["--target-rse", "0"], "target-rse"),
    ("bench_theta", ["--repeats", "0"], "repeats"),
]


@pytest.mark.parametrize("command, argv, message", CLI_CASES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CLI_CASES)])
def test_cli_bad_input(command, argv, message, capsys, user_folder):
    check_one_line_error(cli_mains()[command], argv, capsys, user_folder, message)


def test_output_path_is_checked_before_the_work(capsys, user_folder, monkeypatch):
    """figure2 with an unwritable --out fails before computing anything."""
    import validation.figure2 as fig

    monkeypatch.setattr(fig, "build_report", lambda *a, **k: pytest.fail("computed before checking --out"))
    check_one_line_error(fig.main, ["--out", "/nonexistent/x.png"], capsys, user_folder, "/nonexistent")


def test_large_monte_carlo_is_chunked_not_allocated(monkeypatch):
    """kl_uniform_gaussian_mc draws in chunks: memory does not grow with n (10^12 used to try
    to allocate 58 TiB).  The sampler records the largest draw it was asked for."""
    import lattices
    from theory.kl import kl_uniform_gaussian_mc

    a2 = lattices.get("a2")
    sizes = []

    def sampler(n, rng):
        sizes.append(n)
        return a2.sample_cell(n, rng)

    est, se = kl_uniform_gaussian_mc(a2, 50_000, 0, cell_sampler=sampler, chunk=8192)
    assert max(sizes) == 8192 and sum(sizes) == 50_000
    one, one_se = kl_uniform_gaussian_mc(a2, 50_000, 0, cell_sampler=a2.sample_cell)
    assert abs(est - one) < 1e-12 and abs(se - one_se) < 1e-12      # same draws, round-off only


def test_memory_refusal_names_the_numbers():
    from lattices.cli import available_memory, check_memory

    with pytest.raises(MemoryError, match="needs about .* of memory; this machine has"):
        check_memory(available_memory() * 10, "--samples 10**15")
    check_memory(1024, "a small request")            # fits: no error


# ------------------------------------------------------------------ decode: no torch, negatives
def test_decode_accepts_negative_numbers_and_every_spec(capsys):
    from lattices.__main__ import main

    assert main(["decode", "e8", "-1e3", "0", "0", "0", "0", "0", "0", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nearest"] == [-1000.0] + [0.0] * 7
    assert main(["decode", "e8 x z", "--json"] + ["0.3"] * 8 + ["-2.6"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nearest"] == [0.5] * 8 + [-3.0]
    assert main(["a2^2", "e8 x z"]) == 0
    assert "| a2^2 | 4 |" in capsys.readouterr().out


def test_decode_on_numpy_input_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, runpy; sys.argv = ['lattices', 'decode', 'e8'] + ['0.3'] * 8\n"
            "try:\n    runpy.run_module('lattices', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print('torch' in sys.modules)")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


# ------------------------------------------------------------------ API cases
API_CASES = [
    (lambda L: L.get("q7"), ValueError, "valid names"),
    (lambda L: L.parse("a2^x"), ValueError, "power"),
    (lambda L: L.parse(3), TypeError, "string"),
    (lambda L: L.get("e8", scale=0), ValueError, "positive"),
    (lambda L: L.get("e8").nearest(np.ones(7)), ValueError, "8"),
    (lambda L: L.get("e8").nearest(np.full(8, np.nan)), ValueError, "nan"),
    (lambda L: L.from_basis([[1, 0], [2, 0]]), ValueError, "singular"),
    (lambda L: L.get("e8").theta_series(-1), ValueError, "non-negative"),
    (lambda L: L.nsm_monte_carlo(L.get("a2"), 1), ValueError, "2"),
]


@pytest.mark.parametrize("call, exc, words", API_CASES, ids=[f"api-{i}" for i in range(len(API_CASES))])
def test_api_bad_input(call, exc, words):
    import lattices

    with pytest.raises(exc) as info:
        call(lattices)
    assert words.lower() in str(info.value).lower()


# ------------------------------------------------------------------ vae.train / vae.evaluate
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from vae import train

    root = tmp_path_factory.mktemp("runs")
    out = root / "z"
    assert train.main(["--out", str(out), *SMALL, "--latent", "z-laplace", "--hidden", "4",
                       "--max-epochs", "2"]) == 0
    return out


def _copy_run(trained_run, folder: Path) -> Path:
    run = folder / "run"
    shutil.copytree(trained_run, run)
    (run / "checkpoint.prev.pt").unlink(missing_ok=True)
    return run


CORRUPTIONS = {
    "empty": lambda b: b"",
    "truncated": lambda b: b[: len(b) // 2],
    "random-bytes": lambda b: np.random.default_rng(0).integers(0, 256, len(b), dtype=np.uint8).tobytes(),
    "foreign-pickle": lambda b: __import__("pickle").dumps({"hello": 1}),
}


@needs_data
@pytest.mark.parametrize("damage", list(CORRUPTIONS))
@pytest.mark.parametrize("which", ["checkpoint.pt", "best.pt"])
def test_corrupt_checkpoint_is_a_one_line_error(trained_run, user_folder, capsys, damage, which):
    from vae import evaluate, train

    run = _copy_run(trained_run, user_folder)
    path = run / which
    path.write_bytes(CORRUPTIONS[damage](path.read_bytes()))
    if which == "checkpoint.pt":
        check_one_line_error(train.main, ["--out", str(run), "--resume", *SMALL, "--override", "max_epochs=3"],
                             capsys, user_folder, "checkpoint.pt")
        check_one_line_error(evaluate.main, [str(run), "--checkpoint", "last", "--samples", "1",
                                             "--no-progress", "--device", "cpu"],
                             capsys, user_folder, "checkpoint.pt")
    else:
        check_one_line_error(evaluate.main, [str(run), "--samples", "1", "--no-progress", "--device", "cpu"],
                             capsys, user_folder, "best.pt")


@needs_data
@pytest.mark.parametrize("argv, message", [
    (["--latent", "e8", "--hidden", "16", "--lr", "0.5", "--seed", "7"], "--latent e8 (saved: z-laplace)"),
    (["--lr", "0.5"], "--lr 0.5 (saved: 0.001)"),
    (["--hidden", "8"], "--hidden 8 (saved: 4)"),
    (["--dataset", "omniglot"], "--dataset omniglot (saved: mnist)"),
    (["--latent-option", "alpha=3"], "--latent-option"),
    (["--override", "lr=1"], "--override must be KEY=VALUE"),
    (["--override", "max_epochs=lots"], "positive integer"),
    (["--config", "{T}/user.txt"], "give only one"),
])
def test_resume_with_contradicting_flags_is_an_error(trained_run, user_folder, capsys, argv, message):
    from vae import train

    run = _copy_run(trained_run, user_folder)
    check_one_line_error(train.main, ["--out", str(run), "--resume", *SMALL, *argv], capsys, user_folder,
                         message)


@needs_data
@pytest.mark.parametrize("argv, message", [
    (["--latent", "gaussian", "--latent-option", "foo=1"], "valid:"),
    (["--override", "max_epochs=5"], "use it with --resume"),
    (["--config", "{T}/user.txt"], "not valid JSON"),
    (["--config", "{T}/nope.json"], "nope.json"),
    (["--epochs", "0"], "epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--seed", "-1"], "--seed"),
])
def test_train_bad_new_run(user_folder, capsys, argv, message):
    from vae import train

    check_one_line_error(train.main, ["--out", "{T}/new", *SMALL, *argv], capsys, user_folder, message)
    assert not (user_folder / "new" / "checkpoint.pt").exists()


@needs_data
def test_evaluate_bad_input(trained_run, user_folder, capsys):
    from vae import evaluate

    run = _copy_run(trained_run, user_folder)
    for argv, message in [([str(run), "--samples", "0"], "positive"),
                          ([str(run), "--split", "nope"], "valid"),
                          ([str(run), "--limit", "0"], "limit"),
                          ([str(user_folder / "nothing")], "run directory")]:
        check_one_line_error(evaluate.main, [*argv, "--no-progress", "--device", "cpu"], capsys,
                             user_folder, message)
