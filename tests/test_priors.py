"""vae.priors: the prior protocol, its registry, vae.testing.check_prior, and a prior of your own.

* every built-in family passes ``check_prior`` on every lattice it supports;
* ``check_prior`` fails, naming the rule, on nine deliberately broken priors (negative controls);
* the example prior defined outside the package (``examples/geometric_prior.py``) passes it and
  trains, evaluates, compresses and decompresses with the project's commands (``python -m``);
* the registry and the typed options give clear errors;
* the source rules of the issue: no comparison against a prior-family name outside that family's
  own module, no ``vae.train`` import under ``vae/codec``.
"""
import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import lattices
from examples.geometric_prior import GeometricCoder, GeometricPrior
from shared_data import SHARED, needs_data
from vae.priors import (PRIORS, Prior, PriorContext, build_prior, family_of_state, prior_class,
                        prior_families, register_prior)
from vae.testing import PriorContractError, check_prior

ROOT = Path(__file__).resolve().parents[1]

#: every built-in family on every lattice it supports (leech: the ball of <= max_points points
#: is the origin and its 196560 neighbours; bw16 the origin and its 4320)
BUILT_IN = [("paper", "z2"), ("paper", "a2"), ("paper", "e8"), ("paper", "d4"), ("paper", "bw16"),
            ("paper", "leech"), ("dgauss", "z2"), ("dgauss", "a2"), ("dgauss", "d4"), ("dgauss", "e8"),
            ("dgauss", "bw16")]                    # dgauss on leech: tests/test_dgauss_code_lattices.py


@pytest.mark.parametrize("family, lattice", BUILT_IN, ids=lambda v: v)
def test_every_built_in_prior_passes_the_contract(family, lattice):
    torch.manual_seed(0)
    prior = build_prior(family, lattices.get(lattice), 2)
    assert prior.family == family
    assert check_prior(prior, batch=6, max_points=5000 if lattice == "leech" else 200_000) == [
        "structure", "log-pmf", "normalization", "kernels", "gradients", "code length", "round trip",
        "threads", "untrained and state"]


def test_a_concentrated_prior_is_normalized_to_round_off():
    """dgauss on Z2 with scale 0.3: the ball of norm <= 64 holds all but e^-350 of the mass, so the
    enumerated sum must be 1 to round-off (tail_tolerance 1e-12)."""
    prior = build_prior("dgauss", lattices.get("z2"), 3, {"prior_components": 2},
                        PriorContext(sigma2_lattice=1 / 12, init_sigma2_u=1.0, init_sigma2_s=0.08))
    assert prior.scales().max() < 0.5
    assert "normalization" in check_prior(prior, tail_tolerance=1e-12)


# ------------------------------------------------------------------ negative controls
class _Unnormalized(GeometricPrior):
    def log_prob_coords(self, coords, u):
        return super().log_prob_coords(coords, u) + math.log(1.1)          # sums to 1.1


class _TooLargeNormalizer(GeometricPrior):
    def log_prob_coords(self, coords, u):
        return super().log_prob_coords(coords, u) - math.log(2.0)          # sums to 1/2


class _CoderOfAnotherPmf(GeometricPrior):
    def coder(self):
        coder = GeometricCoder(self)
        coder.log_rho = coder.log_rho + 1.0                                 # ratio e x larger
        coder.log_norm = np.log1p(-np.exp(coder.log_rho)) - np.log1p(np.exp(coder.log_rho))
        return coder


class _PopNotInverse(GeometricPrior):
    def coder(self):
        class Coder(GeometricCoder):
            def pop(self, ans, n_img, dither):
                return super().pop(ans, n_img, dither)[::-1]                # images in reverse order
        return Coder(self)


class _ThreadDependentPmf(GeometricPrior):
    def coder(self):
        coder = GeometricCoder(self)
        coder.log_rho = coder.log_rho - 1e-4 * torch.get_num_threads()    # a pmf that depends on threads
        return coder


class _FusedDisagrees(GeometricPrior):
    def log_prob_coords(self, coords, u):
        lp = super().log_prob_coords(coords, u)
        return lp + 1e-6 if self.fused and torch.is_grad_enabled() else lp  # a "fused kernel" off by 1e-6


class _NoGradient(GeometricPrior):
    def log_terms(self):
        a, b = super().log_terms()
        return a.detach(), b.detach()


class _UntrainedOfAnotherShape(GeometricPrior):
    def untrained(self, seed=0):
        return type(self)(self.lattice, self.n_blocks + 1)


class _FloatCoordsAccepted(GeometricPrior):
    def log_prob_coords(self, coords, u):
        return super().log_prob_coords(torch.as_tensor(coords).round().long(), u)


BROKEN = [(_Unnormalized, "3 (normalization)", None), (_TooLargeNormalizer, "3 (normalization)", 1e-6),
          (_CoderOfAnotherPmf, "6 (code length)", None), (_PopNotInverse, "7 (round trip)", None),
          (_ThreadDependentPmf, "8 (threads)", None), (_FusedDisagrees, "4 (kernels)", None),
          (_NoGradient, "5 (gradients)", None), (_UntrainedOfAnotherShape, "9 (untrained and state)", None),
          (_FloatCoordsAccepted, "2 (log-pmf)", None)]


@pytest.mark.parametrize("cls, rule, tail", BROKEN, ids=lambda v: getattr(v, "__name__", str(v)))
def test_check_prior_fails_each_broken_prior_on_its_rule(cls, rule, tail):
    prior = cls(lattices.get("z2"), 3, init_ratio=0.05)                    # concentrated: the ball holds
    check = GeometricPrior(lattices.get("z2"), 3, init_ratio=0.05)        # ... all but ~1e-40 of the mass
    check_prior(check, tail_tolerance=1e-6)                                 # the unbroken prior passes
    with pytest.raises(PriorContractError, match=rf"prior contract, {rule[:1]} "):
        check_prior(prior, tail_tolerance=tail)


# ------------------------------------------------------------------ registry and options
def test_registry_and_options_errors_name_what_is_valid():
    assert prior_families()[:2] == ["paper", "dgauss"]
    with pytest.raises(ValueError, match="unknown prior 'gauss'; valid: paper, dgauss"):
        prior_class("gauss")
    with pytest.raises(ValueError, match="built-in prior"):
        register_prior("paper", GeometricPrior)
    with pytest.raises(TypeError, match="subclass of vae.priors.Prior"):
        register_prior("mine", dict)
    with pytest.raises(TypeError, match="does not implement coder, from_options, log_prob_coords, untrained"):
        register_prior("mine", type("Half", (Prior,), {}))
    with pytest.raises(ValueError, match="cannot be imported"):
        prior_class("no_such_module:Prior")
    with pytest.raises(ValueError, match="not a subclass of vae.priors.Prior"):
        prior_class("collections:OrderedDict")
    with pytest.raises(ValueError, match="does not implement coder, from_options"):
        prior_class("vae.priors.base:Prior")
    with pytest.raises(ValueError, match=r"'components': not an option of the 'dgauss' prior \(valid: prior_components\)"):
        build_prior("dgauss", lattices.get("e8"), 1, {"components": 3})
    with pytest.raises(ValueError, match="prior_components must be an int in"):
        build_prior("dgauss", lattices.get("e8"), 1, {"prior_components": 2.5})
    with pytest.raises(ValueError, match="u_hidden must be a positive int"):
        build_prior("paper", lattices.get("e8"), 1, {"u_hidden": 0})
    with pytest.raises(ValueError, match="supports the lattices z2, a2, d4, e8"):
        build_prior("dgauss", lattices.get("e7"), 1)


def test_a_registered_prior_builds_by_name_and_its_state_is_recognized():
    register_prior("doc-geometric", GeometricPrior)
    try:
        from vae.models import VAE, ModelConfig, model_for_state

        config = ModelConfig(latent="a2", hidden=4, latent_options={"prior": "doc-geometric", "init_ratio": 0.3})
        model = VAE(config)
        assert isinstance(model.latent.prior, GeometricPrior) and model.latent.prior.family == "doc-geometric"
        assert "prior='geometric'" in repr(model.latent)
        state = model.state_dict()
        bare = ModelConfig(latent="a2", hidden=4)                          # saved without the option
        assert model_for_state(bare, state).latent.prior.family == "doc-geometric"
        assert family_of_state({"log_scale": 0, "mix_logits": 0}) == "dgauss"
        assert family_of_state({"psi": 0, "_class_of_norm": 0}) == "paper"
    finally:
        PRIORS.pop("doc-geometric")


def test_kernels_are_chosen_per_instance():
    torch.manual_seed(0)
    a = build_prior("paper", lattices.get("e8"), 2)
    b = build_prior("paper", lattices.get("e8"), 2)
    a.use_kernel("eager")
    assert a.fused is False and b.fused is True
    with b.kernel("eager"):
        assert b.fused is False
    assert b.fused is True
    with pytest.raises(ValueError, match="kernel must be one of auto, eager"):
        a.use_kernel("triton")
    assert isinstance(a, Prior)


# ------------------------------------------------------------------ your own prior, end to end
def _cli(*args, cwd=ROOT):
    env = {"PATH": "/usr/bin:/bin", "LRL_DATA_DIR": str(SHARED), "PYTHONPATH": str(ROOT)}
    import os

    env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@needs_data
def test_your_own_prior_trains_evaluates_compresses_and_decompresses_with_the_commands(tmp_path):
    run = tmp_path / "run"
    spec = "examples.geometric_prior:GeometricPrior"
    out = _cli("vae.train", "--latent", "e8", "--hidden", "16", "--out", str(run), "--epochs", "1",
               "--train-limit", "300", "--valid-limit", "100", "--batch-size", "50", "--no-progress",
               "--device", "cpu", "--latent-option", f"prior={spec}", "--latent-option", "init_ratio=0.3")
    assert out.returncode == 0, out.stderr
    assert json.loads((run / "config.json").read_text())["model"]["latent_options"]["prior"] == spec
    out = _cli("vae.evaluate", str(run), "--samples", "1", "--limit", "20", "--json", "--no-progress",
               "--device", "cpu")
    assert out.returncode == 0, out.stderr
    assert math.isfinite(json.loads(out.stdout)["results"]["1"]["nll"])
    codes = tmp_path / "codes.lrlb"
    out = _cli("vae.compress", str(run), "--images", "20", "--out", str(codes))
    assert out.returncode == 0, out.stderr
    recon = tmp_path / "recon.npz"
    out = _cli("vae.decompress", str(codes), str(run), "--out", str(recon))
    assert out.returncode == 0, out.stderr
    from vae.codec.api import decompress
    from vae.runs import load_run

    model, _ = load_run(run, "best")
    assert isinstance(model.latent.prior, GeometricPrior)
    got = decompress(model, codes.read_bytes())
    assert np.allclose(np.load(recon)["reconstruction"], got["reconstruction"].numpy())


# ------------------------------------------------------------------ source rules
def _library_sources():
    for pkg in ("lattices", "theory", "vae", "validation", "benchmarks"):
        yield from sorted((ROOT / pkg).rglob("*.py"))


def family_name_uses(source: str, families, own: str | None = None) -> list[str]:
    """Comparisons of a prior-related expression with a family name, and tables keyed by family
    names, in ``source`` (``own``: the family whose module this is, allowed to name itself)."""
    names = set(families) - {own}
    tree = ast.parse(source)

    def strings(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        return set()

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            named = set().union(*(strings(o) for o in operands)) & names
            text = ast.unparse(node).lower()
            if named and any(w in text for w in ("prior", "variant", "family")):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            if len(keys & set(families)) >= 2:
                found.append(f"{node.lineno}: a table keyed by prior families")
    return found


def test_no_comparison_against_a_prior_family_name_outside_its_module():
    families = prior_families()
    offenders = []
    for path in _library_sources():
        rel = path.relative_to(ROOT)
        if rel.as_posix() == "vae/priors/__init__.py":
            continue                                            # the registry itself
        own = path.stem if rel.parts[:2] == ("vae", "priors") else None
        offenders += [f"{rel}:{use}" for use in family_name_uses(path.read_text(), families, own)]
    assert offenders == []


def test_family_scan_flags_a_planted_switch():
    """Negative control: the switches this issue removed are found."""
    planted = ('if layer.prior_family == "dgauss":\n    pass\n'
               '_PRIOR_CODERS = {"paper": 1, "dgauss": 2}\n'
               'ok = variant in (None, "paper")\n')
    assert len(family_name_uses(planted, ["paper", "dgauss"])) == 3
    assert family_name_uses('if cfg.protocol == "paper":\n    pass\n', ["paper", "dgauss"]) == []


def test_the_codec_does_not_import_training():
    offenders = []
    for path in sorted((ROOT / "vae" / "codec").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            level = getattr(node, "level", 0)
            if any(n == "vae.train" or n.startswith("vae.train.") for n in names) or \
                    (isinstance(node, ast.ImportFrom) and level == 2 and node.module == "train"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
