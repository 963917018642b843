"""``vae.train``, second round of bad input (issue 33, docs/reliability.md "Second round: training").

Each command-line case asserts exit 2, exactly one ``error:`` line on stderr naming the option or
file (no traceback), and that no file of the user's folder changed (hashed before and after:
:func:`test_bad_input.check_one_line_error`).  The cases that are not errors check what must
happen instead: a run whose ``config.json`` was lost keeps its own schedule; a full disk during
the first checkpoint leaves no temporary file; per-epoch lines reach a user of ``python -m``.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared_data import SHARED, needs_data
from test_bad_input import SMALL, check_one_line_error, snapshot, trained_run  # noqa: F401 (a fixture: the finished 2-epoch Z + Laplace run, hidden 4)

pytestmark = [pytest.mark.usefixtures("vae_data_env"), needs_data]

REPO = Path(__file__).resolve().parents[1]


def copy_run(run: Path, folder: Path) -> Path:
    dest = folder / "run"
    shutil.copytree(run, dest)
    return dest


def write_config(folder: Path, data) -> Path:
    path = folder / "cfg.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def base_config(trained_run: Path) -> dict:
    return json.loads((trained_run / "config.json").read_text())


# ---------------------------------------------------------------- a new run: flags
NEW_RUN_CASES = [
    (["--seed", "-1"], "--seed"),
    (["--seed", "1.5"], "--seed"),
    (["--hidden", "1e9"], "--hidden"),
    (["--hidden", "1000000000"], "--hidden 1000000000 is too large"),
    (["--hidden", "0"], "--hidden"),
    (["--arch", "gated", "--gate-width", "99999999"], "--gate-width 99999999 is too large"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "-1"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--batch-size", "-5"], "--batch-size"),
    (["--max-epochs", "1.5"], "--max-epochs"),
    (["--max-epochs", "0"], "--max-epochs"),
    (["--patience-stop", "-3"], "--patience-stop"),
    (["--patience-halve", "0"], "--patience-halve"),
    (["--train-limit", "0"], "--train-limit"),
    (["--valid-limit", "-1"], "--valid-limit"),
    (["--latent", "e9"], "e9"),
    (["--arch", "convolutional"], "unknown arch 'convolutional'; valid: linear, gated"),
    (["--latent", "e8", "--latent-option", "max_norm=100000000"], "max_norm 100000000 is too large"),
    (["--latent", "e8", "--latent-option", "threshold_t=40"], "threshold_t 40 is too large"),
    (["--latent", "leech", "--hidden", "24", "--latent-option", "max_norm=100000"], "max_norm 100000"),
    (["--latent", "e8", "--latent-option", "max_norm=-3"], "max_norm"),
    (["--latent", "e8", "--latent-option", "nonsense=1"], "nonsense"),
    (["--override", "max_epochs=5"], "use it with --resume"),
    (["--resume"], "nothing to resume"),
]


@pytest.mark.parametrize("argv, message", NEW_RUN_CASES, ids=[" ".join(a) for a, _ in NEW_RUN_CASES])
def test_new_run_bad_flag(user_folder, capsys, argv, message):
    from vae import train

    check_one_line_error(train.main, ["--out", "{T}/new", *SMALL, *argv], capsys, user_folder, message)
    assert not (user_folder / "new" / "checkpoint.pt").exists()


def test_memory_refusal_names_the_flags(user_folder, capsys, monkeypatch):
    """A model whose weights, gradients and Adam moments exceed the memory is refused before it is
    allocated, naming --hidden and --gate-width (the machine's memory is faked to 1 GB, so the
    case does not depend on this machine: 784 x 65536 x 2 layers x 16 bytes is 3.3 GB)."""
    import lattices.cli
    from vae import train

    monkeypatch.setattr(lattices.cli, "available_memory", lambda: 1e9)
    line = check_one_line_error(train.main, ["--out", "{T}/new", *SMALL, "--arch", "gated", "--hidden",
                                             "65536", "--gate-width", "65536"], capsys, user_folder,
                                "--hidden 65536 --gate-width 65536")
    assert "memory" in line


# ---------------------------------------------------------------- a new run: --config files
CONFIG_CASES = [
    (lambda c: {**c, "model": {**c["model"], "width": 7}}, "model.width"),
    (lambda c: {k: v for k, v in c.items() if k != "dataset"}, "lacks dataset"),
    (lambda c: {**c, "model": {k: v for k, v in c["model"].items() if k != "latent"}}, "model.latent"),
    (lambda c: {**c, "model": {k: v for k, v in c["model"].items() if k != "hidden"}}, "model.hidden"),
    (lambda c: {**c, "model": {**c["model"], "latent_options": [1, 2]}}, "latent_options"),
    (lambda c: {**c, "model": {**c["model"], "latent_options": None}}, "latent_options"),
    (lambda c: {}, "lacks"),
    (lambda c: [c], "not a vae.train config.json"),
    (lambda c: "{not json", "not valid JSON"),
    (lambda c: {**c, "max_epochs": "many"}, "max_epochs"),
    (lambda c: {**c, "colour": "red"}, "colour"),
]


@pytest.mark.parametrize("edit, message", CONFIG_CASES, ids=[m.split()[-1] for _, m in CONFIG_CASES])
def test_bad_config_file(trained_run, user_folder, capsys, edit, message):
    from vae import train

    data = edit(base_config(trained_run))
    path = write_config(user_folder, data if isinstance(data, str) else json.dumps(data))
    check_one_line_error(train.main, ["--out", "{T}/new", "--config", str(path), "--no-progress"], capsys,
                         user_folder, message)
    assert not (user_folder / "new" / "config.json").exists()


# ---------------------------------------------------------------- nothing a user had is replaced
def test_out_with_a_users_config_json_is_refused(user_folder, capsys):
    from vae import train

    own = user_folder / "mine"
    own.mkdir()
    (own / "config.json").write_text('{"editor": "my own settings"}\n')
    check_one_line_error(train.main, ["--out", str(own), *SMALL, "--latent", "z-laplace", "--hidden", "4"], capsys, user_folder,
                         "not a run's configuration")


def test_out_with_another_runs_config_is_refused(trained_run, user_folder, capsys):
    from vae import train

    other = user_folder / "other"
    other.mkdir()
    shutil.copy(trained_run / "config.json", other / "config.json")      # no checkpoint: not started
    check_one_line_error(train.main, ["--out", str(other), *SMALL, "--latent", "z-laplace", "--hidden", "8"], capsys, user_folder,
                         "another run")


def test_out_with_a_stray_run_file_is_refused(trained_run, user_folder, capsys):
    from vae import train

    stray = user_folder / "stray"
    stray.mkdir()
    shutil.copy(trained_run / "metrics.jsonl", stray / "metrics.jsonl")
    check_one_line_error(train.main, ["--out", str(stray), *SMALL, "--latent", "z-laplace", "--hidden", "4"], capsys, user_folder,
                         "metrics.jsonl")


def test_out_that_is_a_file_is_refused(user_folder, capsys):
    from vae import train

    check_one_line_error(train.main, ["--out", "{T}/user.txt", *SMALL], capsys, user_folder, "user.txt")


def test_restart_with_the_same_config_before_the_first_epoch_is_allowed(trained_run, tmp_path):
    """The one case where a config.json may be there: this very configuration, written by a run
    interrupted before its first checkpoint (started again, it is the same run)."""
    from vae import train

    out = tmp_path / "again"
    out.mkdir()
    config = base_config(trained_run)
    (out / "config.json").write_text(json.dumps(config))
    assert train.main(["--out", str(out), "--config", str(out / "config.json"), "--no-progress",
                       "--device", "cpu"]) == 0
    assert (out / "checkpoint.pt").exists()


def test_train_api_into_an_existing_run_names_the_argument(trained_run, user_folder):
    """From Python the hint is the argument ``resume=True``, not only the flag."""
    from vae.train import TrainConfig, train

    run = copy_run(trained_run, user_folder)
    before = snapshot(user_folder)
    config = TrainConfig.from_dict(base_config(trained_run))
    with pytest.raises(FileExistsError, match="resume=True"):
        train(config, run, progress=False)
    assert snapshot(user_folder) == before


# ---------------------------------------------------------------- resuming
@pytest.mark.parametrize("argv, message", [
    (["--max-epochs", "3", "--override", "max_epochs=5"], "disagree"),
    (["--override", "nonsense=5"], "nonsense"),
    (["--override", "max_epochs=0"], "positive integer"),
])
def test_resume_bad_flags(trained_run, user_folder, capsys, argv, message):
    from vae import train

    run = copy_run(trained_run, user_folder)
    check_one_line_error(train.main, ["--out", str(run), "--resume", "--no-progress", "--device", "cpu", *argv],
                         capsys, user_folder, message)


def test_resume_without_checkpoint_is_refused(user_folder, capsys):
    from vae import train

    empty = user_folder / "empty"
    empty.mkdir()
    check_one_line_error(train.main, ["--out", str(empty), "--resume", "--no-progress"], capsys, user_folder,
                         "nothing to resume")


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_lost_config_json_is_restored_not_extended(trained_run, tmp_path, capsys, damage):
    """A finished run whose config.json was deleted or truncated is not extended with the command
    line's defaults (1000 epochs): its configuration comes from the checkpoint, a warning says so,
    and config.json is restored to what it was."""
    from vae import train

    run = copy_run(trained_run, tmp_path)
    original = json.loads((run / "config.json").read_text())
    epochs_before = len((run / "metrics.jsonl").read_text().splitlines())
    if damage == "deleted":
        (run / "config.json").unlink()
    else:
        text = (run / "config.json").read_text()
        (run / "config.json").write_text(text[: len(text) // 2])
    capsys.readouterr()
    assert train.main(["--out", str(run), "--resume", "--no-progress", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "read from its checkpoint" in err
    assert json.loads((run / "config.json").read_text()) == original
    assert len((run / "metrics.jsonl").read_text().splitlines()) == epochs_before   # finished: no epoch


def test_full_disk_during_the_first_checkpoint(user_folder, capsys, monkeypatch):
    """ENOSPC while the first checkpoint is written: one line naming the file and the cause, exit
    2, and no temporary file left (the write is atomic: lattices.utils.io.atomic_write)."""
    import lattices.utils.io as io
    from vae import train

    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fh):
            self._fh = fh

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self._fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._fh.close()

    monkeypatch.setattr(io.os, "fdopen", lambda fd, mode="r", *a, **k: Full(real_fdopen(fd, mode, *a, **k)))
    line = check_one_line_error(train.main, ["--out", "{T}/new", *SMALL, "--latent", "z-laplace", "--hidden", "4", "--max-epochs", "1"],
                                capsys, user_folder, "writing failed")
    assert "No space left" in line
    assert not list(user_folder.rglob("*.tmp"))


# ---------------------------------------------------------------- what a newcomer sees
def test_per_epoch_lines_under_python_m(tmp_path):
    """``python -m vae.train`` prints one line per epoch (the logger is ``vae.train``, not
    ``__main__``): run as a user runs it, in a subprocess."""
    env = {**os.environ, "LRL_DATA_DIR": str(SHARED), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "vae.train", "--out", str(tmp_path / "r"), *SMALL,
                           "--latent", "z-laplace", "--hidden", "4", "--max-epochs", "2"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^.*epoch 1\b", proc.stderr, re.M), proc.stderr
    assert re.search(r"^.*epoch 2\b", proc.stderr, re.M), proc.stderr


HELP_COMMANDS = ["vae.train", "vae.evaluate", "vae.sweep", "vae.compress", "vae.decompress"]


def _options_help(text: str) -> dict:
    """``{option: its help text}`` from argparse's --help output: an option line is two spaces,
    the invocation, then (after two or more spaces, or on the indented lines below) its help."""
    out, current = {}, None
    for line in text.splitlines():
        if re.match(r"^  -", line):
            invocation, _, help_text = line[2:].partition("  ")
            current = invocation.split(",")[-1].split()[0]
            out[current] = help_text.strip()
        elif current and re.match(r"^\s{6,}\S", line):
            out[current] = (out[current] + " " + line.strip()).strip()
        else:
            current = None
    return out


@pytest.mark.parametrize("module", HELP_COMMANDS)
def test_help_states_each_default_once_and_helps_every_option(module):
    proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "(default: None)" not in proc.stdout
    options = _options_help(proc.stdout)
    assert options, proc.stdout
    for option, text in options.items():
        if option in ("-h", "--help"):
            continue
        assert text.count("(default") <= 1, f"{module} {option}: {text}"
        assert len(text.split()) >= 2, f"{module} {option} has no help: {text!r}"


def test_custom_networks_are_not_labelled_linear(tmp_path):
    """A run with user networks records their classes as its architecture, not 'linear'."""
    from vae.models import ModelConfig

    cfg = ModelConfig(latent="gaussian", hidden=4, encoder="torch.nn:Identity", decoder="torch.nn:Identity")
    assert cfg.arch_label != "linear"
    assert "Identity" in cfg.arch_label


def test_lattice_prior_api_refuses_a_huge_head():
    """:class:`theory.lattice_prior.LatticePrior` with a threshold whose head would hold more than
    MAX_HEAD_POINTS points is refused before enumerating (E8, t = 40: 10^8 points)."""
    import lattices
    from theory.lattice_prior import MAX_HEAD_POINTS, LatticePrior

    with pytest.raises(ValueError, match=f"at most {MAX_HEAD_POINTS}"):
        LatticePrior(lattices.get("e8"), max_norm=64, threshold_t=40)


@pytest.mark.parametrize("command, argv, message", [
    ("vae.evaluate", ["{T}/user.txt", "--device", "cpu"], "is a file, not a run directory"),
    ("validation.train_vs_inference", ["{T}/user.txt", "--device", "cpu"], "is a file; give the run's folder"),
    ("vae.sweep", ["{T}"], "is a folder; give the sweep's .json"),
])
def test_a_file_or_folder_of_the_wrong_kind_is_named(command, argv, message, capsys, user_folder):
    """A file given where a run folder is expected (or a folder for a file) says so, instead of
    "does not exist" or "best.pt not found"."""
    import importlib

    main = importlib.import_module(command).main
    check_one_line_error(main, argv, capsys, user_folder, message)
