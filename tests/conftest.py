"""Shared pytest configuration: hypothesis profiles.

``HYPOTHESIS_PROFILE=thorough pytest -m theorem`` runs the property tests with
many more examples; the default ``ci`` profile keeps the suite fast.
"""
import os

from hypothesis import HealthCheck, settings

# differing_executors: the shared contract suites (one test class subclassed per
# lattice) run the same @given method on different instances by design;
# each subclass fixes its lattice, so examples replay deterministically.
_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.differing_executors]

settings.register_profile(
    "ci", max_examples=40, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=_SUPPRESS,
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, print_blob=True,
    suppress_health_check=_SUPPRESS,
)
settings.register_profile("dev", max_examples=10, deadline=None, suppress_health_check=_SUPPRESS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def vae_data_env(tmp_path_factory):
    """The shared data folder as LRL_DATA_DIR and a fresh cache (LRL_CACHE) for one test module.

    Use with ``pytestmark = pytest.mark.usefixtures("vae_data_env")``; yields the cache folder.
    """
    from shared_data import SHARED

    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("lrl_cache")
    mp.setenv("LRL_CACHE", str(cache))
    mp.setenv("LRL_DATA_DIR", str(SHARED))
    mp.delenv("LRL_DOWNLOAD", raising=False)
    yield cache           # set before any Dask LocalCluster starts: its workers inherit it
    mp.undo()


def compress_with_threads(model, x, threads: int, seed: int = 1) -> bytes:
    """``model.compress(x, seed)`` with torch and numba limited to ``threads`` (restored after):
    the codec tests' check that the bytes do not depend on the thread count."""
    import numba
    import torch

    before, nb_before = torch.get_num_threads(), numba.get_num_threads()
    try:
        torch.set_num_threads(threads)
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        return model.compress(x, seed=seed)
    finally:
        torch.set_num_threads(before)
        numba.set_num_threads(nb_before)


@pytest.fixture
def user_folder(tmp_path):
    """A folder holding a file of the user's (``user.txt``): the bad-input tests hash every file
    under it before and after a refused command (tests/test_bad_input.py)."""
    (tmp_path / "user.txt").write_text("the user's own file\n")
    return tmp_path
