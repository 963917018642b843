"""The coders' integer frequencies do not depend on the machine: deterministic math, cross-process decoding.

* :mod:`vae.fixed_math` agrees with numpy's ``exp``/``log`` to a few ulp and is bit-identical
  between its compiled (vectorized) kernels and its Python source run on Python floats;
* files written in this process decode in subprocesses whose numpy SIMD code paths are switched
  off (``NPY_DISABLE_CPU_FEATURES``), whose torch kernels are the generic ones
  (``ATEN_CPU_CAPABILITY=default``), whose numba code is compiled for a generic x86-64
  (``NUMBA_CPU_NAME=generic``), on 1 and 2 threads: identical symbols, decoder inputs and
  reconstructions;
* negative controls (the tests have power): in such a subprocess numpy's ``exp`` and ``log`` do
  return other bits than in this process (the old float path was not portable), and a one-ulp
  change of one log-probability changes an integer frequency.
"""
import math
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from vae import fixed_math as fm
from vae.entropy_coding import PRECISION, quantize_log_pmf
from vae.models import VAE, ModelConfig

# (latent, hidden, latent options): both priors on E8, the discrete-Gaussian prior on Leech,
# and the other latents' coders
CASES = [("e8", 16, {}), ("e8", 16, {"prior": "dgauss"}), ("leech", 24, {"prior": "dgauss"}),
         ("z-laplace", 8, {}), ("vq", 8, {}), ("concrete", 8, {})]


def _cpu_features():
    """The SIMD features numpy dispatches to on this machine beyond its baseline (their spelling
    differs between numpy versions: AVX512F/AVX2 in 1.x, X86_V3/X86_V4/AVX512_ICL in 2.4)."""
    from numpy._core import _multiarray_umath as mu

    return [f for f in mu.__cpu_dispatch__ if mu.__cpu_features__.get(f)]


def _portable_env(threads, tmp_path, simd_off=True):
    """Another thread count and, with ``simd_off``, other SIMD code paths for numpy, torch and numba."""
    env = dict(os.environ)
    env.update({"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
                "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
                "LRL_TORCH_THREADS": str(threads)})
    if simd_off:
        env.update({"NPY_DISABLE_CPU_FEATURES": " ".join(_cpu_features()), "ATEN_CPU_CAPABILITY": "default",
                    "NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")})
    return env


def _run(code, env):
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def _model(latent, hidden, options, seed=0):
    torch.manual_seed(seed)
    model = VAE(ModelConfig(latent=latent, hidden=hidden, latent_options=options))
    with torch.no_grad():
        if latent in ("vq", "concrete"):                  # a non-uniform prior to code under
            model.latent.prior_logits.normal_(0, 2, generator=torch.Generator().manual_seed(1))
        if latent == "vq":
            model.latent.initialized.fill_(True)
    return model.eval()


def _images(n=40, seed=0):
    return (torch.rand(n, 784, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


# ------------------------------------------------------------------------------ fixed_math
_RNG = np.random.default_rng(0)
_UNARY = {  # name -> (compiled array function, scalar Python source, inputs)
    "exp": (fm.exp, fm._exp.py_func, np.concatenate([_RNG.uniform(-700, 709, 3000), _RNG.normal(0, 1, 1000),
                                                     [0.0, -0.0, 1e-300, -701.0, 710.0]])),
    "log": (fm.log, fm._log.py_func, np.concatenate([np.exp(_RNG.uniform(-700, 700, 3000)),
                                                     _RNG.uniform(0.5, 2.0, 1000), [1.0, 2.0, 1e-300]])),
    "expm1": (fm.expm1, fm._expm1.py_func, _RNG.uniform(-3, 3, 2000)),
    "log1p": (fm.log1p, fm._log1p.py_func, np.exp(_RNG.uniform(-40, 5, 2000))),
    "cos_2pi": (fm.cos_2pi, fm._cos_2pi.py_func, _RNG.uniform(-4, 4, 2000)),
    "tanh": (fm.tanh, fm._tanh.py_func, _RNG.normal(0, 5, 2000)),
    "log_sigmoid": (fm.log_sigmoid, fm._log_sigmoid.py_func, _RNG.normal(0, 20, 2000)),
}


def _ulps(a, ref):
    return np.abs(a - ref) / np.spacing(np.abs(ref))


def test_exp_and_log_agree_with_numpy_within_a_few_ulp():
    """Stated accuracy (module notes of vae.fixed_math): exp within 2 ulp, log within 4 ulp
    (measured: 1 and 3) of numpy's, on their working ranges; exact special values."""
    x = _UNARY["exp"][2][:4000]
    assert _ulps(fm.exp(x), np.exp(x)).max() <= 2
    y = _UNARY["log"][2]
    assert _ulps(fm.log(y), np.log(y)).max() <= 4
    assert fm.exp(np.array([0.0, -800.0, 800.0, -np.inf])).tolist() == [1.0, 0.0, math.inf, 0.0]
    assert fm.log(np.array([1.0, 0.0, np.inf])).tolist() == [0.0, -math.inf, math.inf]
    t = _UNARY["cos_2pi"][2]
    assert np.abs(fm.cos_2pi(t) - np.cos(2 * np.pi * t)).max() < 4e-15
    z = _UNARY["log_sigmoid"][2]
    assert np.abs(fm.log_sigmoid(z) + np.logaddexp(0, -z)).max() < 1e-14
    assert np.abs(fm.expm1(_UNARY["expm1"][2]) - np.expm1(_UNARY["expm1"][2])).max() < 1e-14


@pytest.mark.parametrize("name", sorted(_UNARY))
def test_compiled_kernels_equal_their_python_source_bit_for_bit(name):
    """The vectorized compiled kernel, the same kernel on one element at a time, and its Python
    source on Python floats (CPython's float ops: IEEE-754 double, no FMA) give the same bits."""
    vec, scalar, x = _UNARY[name]
    whole = vec(x)
    one_by_one = np.array([vec(np.array([v]))[0] for v in x])
    python = np.array([scalar(float(v)) for v in x])
    assert whole.tobytes() == one_by_one.tobytes() == python.tobytes()


def test_fixed_order_sums_and_logsumexp():
    a = _RNG.normal(size=(50, 37)) * 30
    s = fm.row_sum(a)
    assert s.tolist() == [math.fsum([0.0]) + sum(r.tolist()) for r in a]  # Python's left-to-right sum
    ref = np.log(np.exp(a - a.max(1, keepdims=True)).sum(1)) + a.max(1)
    assert np.allclose(fm.logsumexp_last(a), ref, rtol=0, atol=1e-13)
    assert fm.logsumexp_last(np.full((2, 3), -np.inf)).tolist() == [-np.inf, -np.inf]


def test_quantize_log_pmf_sums_to_the_precision_and_keeps_every_symbol():
    lp = _RNG.normal(size=(200, 9)) * 10
    f = quantize_log_pmf(lp)
    assert (f.sum(1) == 1 << PRECISION).all() and (f >= 1).all()
    g = quantize_log_pmf(np.log(np.full((3, 4), 0.2)), outside=True)        # outside mass 0.2
    assert g.shape == (3, 5) and (g.sum(1) == 1 << PRECISION).all()
    assert abs(g[0, -1] / (1 << PRECISION) - 0.2) < 1e-6


def test_one_ulp_in_a_log_probability_changes_an_integer_frequency():
    """Negative control: the integers are sensitive to the last place of the pmf path, so a
    machine-dependent last bit would break decoding; the cross-process test has power.
    Crafted input: bisect (on the float64 bit patterns) the log-probability where the frequency
    of a symbol with probability ~0.3 steps up; the two adjacent floats there get other integers."""
    freq = lambda lp: int(quantize_log_pmf(np.array([[lp]]), outside=True)[0, 0])   # noqa: E731
    a, b = math.log(0.3) - 1e-6, math.log(0.3) + 1e-6
    assert freq(a) < freq(b)
    while np.nextafter(a, np.inf) < b:
        mid = a + (b - a) / 2
        if freq(mid) > freq(a):
            b = mid
        else:
            a = mid
    assert np.nextafter(a, np.inf) == b and freq(a) != freq(b)


_NP_HASH = """
import hashlib, numpy as np
x = np.random.default_rng(0).uniform(-50, 50, 10**6)
print(hashlib.sha256(np.exp(x).tobytes()).hexdigest(), hashlib.sha256(np.log(np.abs(x)).tobytes()).hexdigest())
"""


def test_negative_control_numpy_exp_log_change_with_the_cpu_features(tmp_path):
    """Negative control: the subprocess's environment does change the SIMD code path, so the
    float path the coders used before (numpy's exp/log) returns other bits there; the
    deterministic functions do not."""
    if not _cpu_features():
        pytest.skip("numpy dispatches to no SIMD feature beyond its baseline on this machine")
    here = subprocess.run([sys.executable, "-c", _NP_HASH], capture_output=True, text=True).stdout.split()
    there = _run(_NP_HASH, _portable_env(1, tmp_path)).split()
    assert here != there, "numpy's exp/log did not change: the environment has no power on this machine"


# ------------------------------------------------------------------------------ cross-process
_DECODE = """
import pickle, sys, torch, numpy as np, numba, os
torch.set_num_threads(int(os.environ["LRL_TORCH_THREADS"]))
from vae import fixed_math as fm
items = pickle.load(open(sys.argv[1] if len(sys.argv) > 1 else {path!r}, "rb"))
out = []
for model, data in items:
    d = model.decompress(data)
    out.append((np.asarray(d["symbols"]), d["decoder_input"].numpy(), d["reconstruction"].numpy()))
x = np.random.default_rng(0).uniform(-50, 50, 10**5)
pickle.dump((out, fm.exp(x), fm.log(np.abs(x)), numba.config.NUMBA_NUM_THREADS, torch.get_num_threads()),
            open({result!r}, "wb"))
"""


@pytest.fixture(scope="module")
def files():
    """One file per case, written in this process, and what decoding it gives here."""
    x = _images()
    items, here = [], []
    for latent, hidden, options in CASES:
        model = _model(latent, hidden, options)
        data = model.compress(x, seed=3, chunk=16)
        d = model.decompress(data)
        items.append((model, data))
        here.append((np.asarray(d["symbols"]), d["decoder_input"].numpy(), d["reconstruction"].numpy()))
    return items, here


@pytest.mark.parametrize("threads, simd_off", [(1, True), (2, True), (2, False)])
def test_files_decode_identically_in_another_process_without_simd(files, threads, simd_off, tmp_path):
    """Symbols and decoder inputs bit-identical in every case.  Reconstructions: bit-identical
    when only the thread count changes; with torch's generic kernels the float32 decoder
    *network* (not part of the coder: a learned float network, outside the integer pmf path)
    may round its last place differently, so there within 1e-6."""
    items, here = files
    path, result = tmp_path / "items.pkl", tmp_path / "result.pkl"
    with open(path, "wb") as f:
        pickle.dump(items, f)
    _run(_DECODE.format(path=str(path), result=str(result)), _portable_env(threads, tmp_path, simd_off))
    with open(result, "rb") as f:
        there, exp_there, log_there, nb_threads, torch_threads = pickle.load(f)
    assert (nb_threads, torch_threads) == (threads, threads)
    x = np.random.default_rng(0).uniform(-50, 50, 10**5)
    assert exp_there.tobytes() == fm.exp(x).tobytes() and log_there.tobytes() == fm.log(np.abs(x)).tobytes()
    for (latent, _, options), a, b in zip(CASES, here, there):
        label = f"{latent} {options}"
        assert a[0].tobytes() == b[0].tobytes(), f"{label}: symbols differ"
        assert a[1].tobytes() == b[1].tobytes(), f"{label}: decoder inputs differ"
        if simd_off:
            assert np.abs(a[2] - b[2]).max() <= 1e-6, f"{label}: reconstructions differ"
        else:
            assert a[2].tobytes() == b[2].tobytes(), f"{label}: reconstructions differ"


def test_constants_written_as_literals_equal_the_deterministic_log():
    """``_LOG2_DET`` and ``_HALF_LOG_2PI`` are literals (no numba dispatch at import): they must
    equal what :func:`vae.fixed_math._log` gives."""
    from vae.codec.latent_coders import _LOG2_DET
    from vae.priors.dgauss import _HALF_LOG_2PI

    assert _LOG2_DET == fm._log.py_func(2.0)
    assert _HALF_LOG_2PI == 0.5 * fm._log.py_func(2.0 * math.pi)


def test_importing_the_command_lines_compiles_nothing_and_skips_matplotlib():
    """Start-up (issue 31): importing vae.compress / vae.decompress runs no numba kernel (its
    first dispatch loads numba's registries and scipy, ~0.6 s) and imports no matplotlib."""
    code = textwrap.dedent("""
        import sys
        import numba
        import vae.compress, vae.decompress
        from vae import fixed_math, entropy_coding
        compiled = [f"{m.__name__}.{k}" for m in (fixed_math, entropy_coding) for k, v in vars(m).items()
                    if isinstance(v, numba.core.registry.CPUDispatcher) and v.signatures]
        print(compiled, "matplotlib" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "False"], out.stdout
