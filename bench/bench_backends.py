"""The canonical SMI case on the Numba backend and on the Cython backend.

X, Y in R^10, jointly Gaussian with I(X; Y) = 2 nats, n = 3000 samples,
m = 2000 random directions, KSG (algorithm 1) with k = 5, two threads.
Each backend gets one warm-up call (Numba's JIT or cache load), then three
timed rounds.  The target is the Cython backend within 1.5x of Numba (measured
five times in docs/cython.md).

Run::

    pytest bench/bench_backends.py --benchmark-only

Both entries share the benchmark group ``smi-canonical-n3000-m2000-d10`` so
they are printed side by side.
"""
import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

import fastsmi  # noqa: E402
from fastsmi._backends import BackendUnavailableError, get_backend  # noqa: E402
from fastsmi.experiments.models import GaussianModel  # noqa: E402

N = 3000
DIM = 10
MI = 2.0
M = 2000
K = 5
N_JOBS = 2
SEED = 12345
GROUP = "smi-canonical-n3000-m2000-d10"


@pytest.fixture(scope="module")
def canonical():
    """The canonical sample and the Numba backend's per-slice estimates (None without Numba)."""
    X, Y = GaussianModel(DIM, MI).sample(N, rng=np.random.default_rng(20240601))
    return X, Y, {}


def _run(X, Y, backend):
    return fastsmi.smi(X, Y, n_projections=M, estimator="ksg", k=K, seed=SEED, n_jobs=N_JOBS, backend=backend,
                       progress=False)


@pytest.mark.parametrize("backend", ["numba", "cython"])
@pytest.mark.benchmark(group=GROUP)
def test_smi_canonical(benchmark, canonical, backend):
    try:
        get_backend(backend)
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    X, Y, results = canonical
    res = benchmark.pedantic(_run, args=(X, Y, backend), rounds=3, iterations=1, warmup_rounds=1)
    assert res.backend == backend and np.isfinite(res.value)
    results[backend] = res.per_slice
    if len(results) == 2:
        np.testing.assert_allclose(results["cython"], results["numba"], rtol=0, atol=1e-10)
