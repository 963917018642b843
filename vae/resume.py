"""How ``python -m vae.train`` reconciles its command line with a saved run.

* ``--resume``: the run continues with the configuration saved in ``RUN/config.json`` (in the
  checkpoint).  A training or model flag given on the command line that differs from the saved
  value is an error listing every conflict; a flag equal to the saved value is accepted.  What
  may change while a run goes on is :data:`OVERRIDABLE` (the schedule), set with
  ``--override KEY=VALUE`` (``--max-epochs N`` is the same as ``--override max_epochs=N``).
  A finished run is never extended silently: it is extended only when an override moves its
  stopping point (more ``max_epochs``, a larger ``patience_stop``).
* ``--config RUN/config.json --out NEW``: a new run with the saved configuration, where flags
  given explicitly on the command line replace the saved values.

Only flags the user typed count ("explicit"), never argparse defaults, so the saved
configuration is never rewritten with defaults.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

__all__ = ["OVERRIDABLE", "CONFIG_FLAGS", "explicit_dests", "parse_overrides", "config_conflicts",
           "apply_explicit", "load_config_file"]

#: TrainConfig fields that may change when a run is resumed (the stopping schedule).
OVERRIDABLE = ("max_epochs", "patience_halve", "patience_stop")

#: command-line dest -> (where in the config, key): "train" fields or "model" fields.
CONFIG_FLAGS = {
    "dataset": ("train", "dataset"), "batch_size": ("train", "batch_size"), "lr": ("train", "lr"),
    "seed": ("train", "seed"), "max_epochs": ("train", "max_epochs"),
    "patience_halve": ("train", "patience_halve"), "patience_stop": ("train", "patience_stop"),
    "train_limit": ("train", "train_limit"), "valid_limit": ("train", "valid_limit"),
    "latent": ("model", "latent"), "arch": ("model", "arch"), "hidden": ("model", "hidden"),
    "gate_width": ("model", "gate_width"), "latent_option": ("model", "latent_options"),
}


def explicit_dests(parser: argparse.ArgumentParser, argv) -> set[str]:
    """The dests of the options the user typed in ``argv`` (defaults do not count)."""
    saved = {a.dest: a.default for a in parser._actions}
    try:
        for action in parser._actions:
            action.default = argparse.SUPPRESS
        ns, _ = parser.parse_known_args(argv)
    finally:
        for action in parser._actions:
            action.default = saved[action.dest]
    return set(vars(ns))


def parse_overrides(items) -> dict:
    """``["max_epochs=2000"]`` -> ``{"max_epochs": 2000}``; only :data:`OVERRIDABLE` keys."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in OVERRIDABLE:
            raise ValueError(f"--override must be KEY=VALUE with KEY one of {', '.join(OVERRIDABLE)}, "
                             f"got {item!r}")
        try:
            out[key] = int(value)
        except ValueError:
            raise ValueError(f"--override {key} needs a positive integer, got {value!r}") from None
    return out


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _value(config_dict: dict, dest: str):
    part, key = CONFIG_FLAGS[dest]
    return (config_dict if part == "train" else config_dict["model"]).get(key)


def config_conflicts(saved: dict, wanted: dict, explicit: set[str]) -> list[str]:
    """``--flag VALUE (saved: OLD)`` for each explicit flag whose value differs from ``saved``.

    ``saved`` and ``wanted`` are ``TrainConfig.to_dict()`` dicts; overridable keys are skipped.
    """
    conflicts = []
    for dest in sorted(explicit & set(CONFIG_FLAGS)):
        if dest in OVERRIDABLE:
            continue
        old, new = _value(saved, dest), _value(wanted, dest)
        if dest == "latent_option":
            new = {**old, **new} if isinstance(old, dict) else new
        if old != new:
            shown = json.dumps(new) if dest == "latent_option" else new
            conflicts.append(f"{_flag(dest)} {shown} (saved: {json.dumps(old) if dest == 'latent_option' else old})")
    return conflicts


def apply_explicit(base: dict, wanted: dict, explicit: set[str]) -> dict:
    """``base`` (a ``TrainConfig.to_dict()``) with the explicitly given flags of ``wanted``."""
    out = json.loads(json.dumps(base))
    for dest in explicit & set(CONFIG_FLAGS):
        part, key = CONFIG_FLAGS[dest]
        target = out if part == "train" else out["model"]
        value = _value(wanted, dest)
        target[key] = {**target.get(key, {}), **value} if dest == "latent_option" else value
    return out


def load_config_file(path) -> dict:
    """The ``config.json`` of a run (or any file of that form) as a dict; clear errors."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"--config {path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise ValueError(f"--config {path} is not a vae.train config.json (no 'model' object)")
    return data


def unknown_config_keys(data: dict, cls) -> list[str]:
    """Keys of ``data`` that ``cls`` (a dataclass) does not know."""
    names = {f.name for f in dataclasses.fields(cls)}
    return sorted(set(data) - names)
