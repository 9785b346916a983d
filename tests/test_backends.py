"""The Cython backend against the Numba backend, and the Cython backend's own contract.

Both backends run the same plan with the same operations in the same order,
so per-slice estimates must agree to 1e-10 (in practice to the last bit) for
every estimator, k, discrete labels and tied data.  The Cython backend must
also give bit-identical results for any thread count.  Comparisons with Numba
skip cleanly where Numba is not installed.  These tests run whenever the
backends import, whatever ``FASTSMI_TEST_BACKENDS`` selects: a CI run per
backend still compares the two.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastsmi
from fastsmi._backends import get_backend
from fastsmi._plan import make_plan

from conftest import requires  # noqa: E402

requires_numba = requires("numba")
requires_cython = requires("cython")

ESTIMATORS = ["ksg", "ksg2", "kl", "wkl", "seed"]
DISCRETE_ESTIMATORS = ["ksg", "kl", "wkl", "seed"]


def _gaussian(n: int, dx: int, dy: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dx))
    Y = 0.6 * X[:, :1] + rng.standard_normal((n, dy))
    return X, Y


def _tied(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer-valued data with duplicated rows: many equal projections and distances."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, (n, 3)).astype(float)
    Y = (X[:, :2] + rng.integers(0, 2, (n, 2))).astype(float)
    X[n // 2:] = X[: n - n // 2]  # exact duplicate rows
    Y[n // 2:] = Y[: n - n // 2]
    return X, Y


def _both(X, Y, **kw):
    a = fastsmi.smi(X, Y, backend="numba", **kw)
    b = fastsmi.smi(X, Y, backend="cython", **kw)
    assert a.backend == "numba" and b.backend == "cython"
    return a.per_slice, b.per_slice


@requires_numba
@requires_cython
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("n", [7, 60, 400])
def test_cython_matches_numba_continuous(estimator, k, n):
    X, Y = _gaussian(n, 3, 2, seed=n + k)
    a, b = _both(X, Y, n_projections=24, estimator=estimator, k=k, seed=11)
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)


@requires_numba
@requires_cython
@pytest.mark.parametrize("search", ["grid", "sweep"])
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("k", [1, 3, 5])
def test_cython_matches_numba_on_ties(estimator, k, search, monkeypatch, no_tie_policy):
    monkeypatch.setenv("FASTSMI_SEARCH", search)
    X, Y = _tied(300, seed=k)
    a, b = _both(X, Y, n_projections=20, estimator=estimator, k=k, seed=5)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)


@requires_numba
@requires_cython
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_cython_matches_numba_on_nearly_dependent_slices(estimator):
    """Correlation near 1: the quantile grid is refined up to its cap of 2 sqrt(n) per side."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((400, 2))
    Y = X + 1e-4 * rng.standard_normal((400, 2))
    theta = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    a = fastsmi.smi(X, Y, directions_x=theta, directions_y=theta, estimator=estimator, k=3, seed=0, backend="numba")
    b = fastsmi.smi(X, Y, directions_x=theta, directions_y=theta, estimator=estimator, k=3, seed=0, backend="cython")
    assert np.all(a.per_slice > 4.0)
    np.testing.assert_allclose(b.per_slice, a.per_slice, rtol=0, atol=1e-10)


@requires_numba
@requires_cython
@pytest.mark.parametrize("estimator", DISCRETE_ESTIMATORS)
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("n,n_classes", [(40, 2), (500, 5)])
def test_cython_matches_numba_discrete(estimator, k, n, n_classes):
    rng = np.random.default_rng(n + k)
    labels = rng.permutation(np.arange(n) % n_classes)  # balanced: every class has > k members
    X = rng.standard_normal((n, 4)) + labels[:, None] * np.array([1.0, 0.0, -0.5, 0.0])
    a, b = _both(X, labels, y_discrete=True, n_projections=20, estimator=estimator, k=k, seed=3)
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)


@requires_numba
@requires_cython
def test_cython_matches_numba_discrete_with_tied_features(no_tie_policy):
    rng = np.random.default_rng(2)
    labels = np.arange(200) % 3
    X = rng.integers(0, 3, (200, 2)).astype(float) + labels[:, None]
    a, b = _both(X, labels, y_discrete=True, n_projections=16, estimator="ksg", k=3, seed=4)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)


@requires_numba
@requires_cython
def test_cython_matches_numba_across_blocks():
    """Several blocks, the last one padded: the padding columns are ignored by both backends."""
    X, Y = _gaussian(150, 5, 5, seed=9)
    a, b = _both(X, Y, n_projections=37, block_size=16, k=4, seed=8)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-10)


@requires_cython
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_cython_thread_count_does_not_change_results(estimator):
    X, Y = _gaussian(300, 4, 3, seed=1)
    one = fastsmi.smi(X, Y, n_projections=40, estimator=estimator, k=3, seed=2, backend="cython", n_jobs=1)
    two = fastsmi.smi(X, Y, n_projections=40, estimator=estimator, k=3, seed=2, backend="cython", n_jobs=2)
    assert np.array_equal(one.per_slice, two.per_slice)


@requires_cython
def test_cython_thread_count_does_not_change_discrete_results():
    rng = np.random.default_rng(4)
    labels = np.arange(300) % 4
    X = rng.standard_normal((300, 3)) + labels[:, None]
    kw = dict(y_discrete=True, n_projections=33, k=4, seed=6, backend="cython")
    one = fastsmi.smi(X, labels, n_jobs=1, **kw)
    two = fastsmi.smi(X, labels, n_jobs=2, **kw)
    assert np.array_equal(one.per_slice, two.per_slice)


@requires_cython
def test_cython_ksg_recovers_gaussian_slice_mi():
    """One slice of a bivariate Gaussian: KSG is within its error of -0.5 log(1 - rho^2)."""
    rng = np.random.default_rng(0)
    # n = 16,000: at n = 4000 one slice spreads by 0.015, and a 10% bias (0.051) hid inside the old 0.05.
    # tests/calibration/sweep.py cython_ksg_slice[n=16000], 100 seeds: bias +0.0033, sd 0.0083, largest
    # error 0.0244 -> tol = |bias| + 3.29 sd = 0.0307 (99.9% of seeds pass); a 10% bias fails 97% of seeds
    n, rho = 16000, 0.8
    x = rng.standard_normal(n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    res = fastsmi.smi(x[:, None], y[:, None], n_projections=1, k=5, seed=0, backend="cython")
    assert res.value == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.0307)


@requires_cython
def test_auto_honours_environment(monkeypatch):
    monkeypatch.setenv("FASTSMI_BACKEND", "cython")
    assert get_backend("auto").NAME == "cython"
    X, Y = _gaussian(50, 2, 2, seed=0)
    assert fastsmi.smi(X, Y, n_projections=4, seed=0, backend="auto").backend == "cython"


@requires_cython
def test_constant_projection_status():
    """A constant column gives status 1 (X) or 2 (Y) and NaN, like the Numba kernels."""
    mod = get_backend("cython")
    n = 30
    rng = np.random.default_rng(0)
    PX = rng.standard_normal((n, 16))
    PY = rng.standard_normal((n, 16))
    PX[:, 1] = 2.5
    PY[:, 2] = -1.0
    plan = make_plan("ksg", 3, n)
    out = np.empty(4)
    status = np.zeros(4, dtype=np.int8)
    jit = np.zeros(n)
    mod.run_block(plan, PX, PY, jit, jit, np.zeros(2), None, out, status, "grid")
    assert status.tolist() == [0, 1, 2, 0]
    assert np.isnan(out[1]) and np.isnan(out[2]) and np.isfinite(out[[0, 3]]).all()
    # a constant column is accepted (with a warning); a direction that sees only it gives a constant projection
    with pytest.raises(ValueError, match=r"the projection of X on direction 0 is constant.*drop redundant columns"), \
            pytest.warns(UserWarning, match="column 1 of X is constant; a constant coordinate carries no information"):
        fastsmi.smi(np.c_[rng.standard_normal(n), np.zeros(n)], PY[:, :2], directions_x=[[0.0, 1.0]],
                    directions_y=[[1.0, 0.0]], backend="cython")


@requires_cython
def test_cython_threads_context_restores():
    mod = get_backend("cython")
    before = mod._current_threads()
    with mod.threads(1) as n:
        assert n == 1 and mod._current_threads() == 1
    assert mod._current_threads() == before
    assert mod.resolve_n_jobs(-1) == mod.max_threads() >= 1
    assert mod.resolve_n_jobs(10**6) == mod.max_threads()
    with pytest.raises(ValueError, match="n_jobs"):
        mod.resolve_n_jobs(0)


@requires_cython
def test_cython_rejects_bad_search():
    mod = get_backend("cython")
    plan = make_plan("ksg", 3, 20)
    z = np.zeros(20)
    with pytest.raises(ValueError, match="search"):
        mod.run_block(plan, np.ones((20, 16)), np.ones((20, 16)), z, z, np.zeros(2), None, np.empty(1),
                      np.zeros(1, np.int8), "kdtree")


# --------------------------------------------------------------------------- skips are deliberate

_INJECT = '''
import importlib.abc
import importlib.machinery
import os
import sys

BROKEN = [m for m in os.environ.get("FASTSMI_TEST_BREAK", "").split(",") if m]
MISSING = [m for m in os.environ.get("FASTSMI_TEST_HIDE", "").split(",") if m]
for name in MISSING:
    sys.modules[name] = None  # "not installed": any import of it raises ImportError


class _Failing(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError(f"injected failure while importing {module.__name__}")


class _Breaker(importlib.abc.MetaPathFinder):
    """The module is found (it is installed) but importing it fails."""

    def find_spec(self, name, path=None, target=None):
        if name in BROKEN:
            return importlib.machinery.ModuleSpec(name, _Failing())
        return None


sys.meta_path.insert(0, _Breaker())
'''


def _session(tmp_path, test_file: str, *, broken: str = "", hidden: str = "", required: str = ""):
    """Collect ``test_file`` in a fresh pytest whose plugin breaks or hides modules before conftest loads."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "fastsmi_inject.py").write_text(_INJECT)
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTSMI_")}
    env.update(PYTHONPATH=os.pathsep.join([str(tmp_path), str(root)]), FASTSMI_TEST_BREAK=broken,
               FASTSMI_TEST_HIDE=hidden, FASTSMI_REQUIRE_BACKENDS=required)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "fastsmi_inject", "-p", "no:cacheprovider", "--collect-only", "-q",
         f"tests/{test_file}"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )
    return proc.returncode, proc.stdout + proc.stderr


@requires_numba
def test_a_broken_numba_backend_fails_the_run_and_says_why(tmp_path):
    # numba imports, fastsmi._numba.backend does not: the run must stop, not drop the Numba cases
    rc, out = _session(tmp_path, "test_kernels.py", broken="fastsmi._numba.backend")
    assert rc != 0, out
    assert "'numba' is installed but does not import" in out, out
    assert "injected failure while importing fastsmi._numba.backend" in out, out
    assert "-numba]" not in out and "-cython]" not in out, out  # nothing was collected


@requires_numba
def test_broken_dense_search_and_kdtree_fail_the_run(tmp_path):
    rc, out = _session(tmp_path, "test_dense_fulldim.py", broken="fastsmi._numba._dense")
    assert rc != 0 and "'dense' is installed but does not import" in out, out
    rc, out = _session(tmp_path, "test_kdtree.py", broken="fastsmi._cython._kdtree")
    assert rc != 0 and "'kdtree' is installed but does not import" in out, out


@requires_cython
def test_missing_numba_is_a_skip_unless_required(tmp_path):
    rc, out = _session(tmp_path, "test_kernels.py", hidden="numba")
    assert rc == 0, out
    assert "-cython]" in out and "-numba]" not in out, out
    rc, out = _session(tmp_path, "test_kernels.py", hidden="numba", required="numba,cython")
    assert rc != 0, out
    assert "'numba' is required by FASTSMI_REQUIRE_BACKENDS but is missing: numba not installed" in out, out
    rc, out = _session(tmp_path, "test_kernels.py", hidden="numba", required="cython")
    assert rc == 0, out
