"""Scaling of fastsmi.smi (KSG, k = 5, all cores) in n and in m.

n from 10^3 to 10^6 at a fixed number of slices (fewer slices for the large
n, which is fine: slices are independent and the cost is linear in m), and m
from 10^2 to 10^4 at n = 1000.  Each entry records the time per slice and per
point.  The peak resident memory of a full n = 10^6, m = 1000 run is measured
in a separate process (``test_peak_memory_n1e6``): the projections are made in
blocks of at most 128 MiB, so it does not grow with m.  Run::

    pytest bench/bench_scaling.py --benchmark-only
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

import fastsmi  # noqa: E402
from conftest import record  # noqa: E402

SLICES_FOR_N = {1_000: 1000, 10_000: 200, 100_000: 32, 1_000_000: 16}


def _data(n, d=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, X @ rng.standard_normal((d, d)) / np.sqrt(d) + rng.standard_normal((n, d))


@pytest.mark.parametrize("n", sorted(SLICES_FOR_N))
def test_scaling_in_n(benchmark, n):
    X, Y = _data(n)
    m = SLICES_FOR_N[n]
    fastsmi.smi(X[:100], Y[:100], n_projections=2, seed=0)
    benchmark.group = "scaling in n (ksg, k=5, all cores)"
    benchmark.pedantic(fastsmi.smi, args=(X, Y), kwargs=dict(n_projections=m, seed=0, progress=False),
                       rounds=3 if n < 1_000_000 else 1, warmup_rounds=0)
    benchmark.extra_info["us_per_point_per_slice"] = benchmark.stats.stats.median / m / n * 1e6
    record(benchmark, f"scaling in n={n:,}", f"n={n:,}", m)


@pytest.mark.parametrize("m", [100, 1000, 10_000])
def test_scaling_in_m(benchmark, m):
    X, Y = _data(1000)
    fastsmi.smi(X[:100], Y[:100], n_projections=2, seed=0)
    benchmark.group = "scaling in m (n=1000, ksg, k=5, all cores)"
    benchmark.pedantic(fastsmi.smi, args=(X, Y), kwargs=dict(n_projections=m, seed=0, progress=False),
                       rounds=3, warmup_rounds=0)
    record(benchmark, "scaling in m (n=1000)", f"m={m:,}", m)


PEAK_SCRIPT = r"""
import json, resource, sys, time
import numpy as np
import fastsmi
n, m = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.standard_normal((n, 10)); Y = X + rng.standard_normal((n, 10))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
res = fastsmi.smi(X, Y, n_projections=m, seed=0, progress=False)
print(json.dumps(dict(n=n, m=m, seconds=time.perf_counter() - t, value=res.value,
                      peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      rss_before_mib=base / 1024, data_mib=(X.nbytes + Y.nbytes) / 2**20)))
"""


def test_peak_memory_n1e6(benchmark):
    """Peak RSS of a whole n = 10^6 SMI run (m = 64: the blocks, not m, set the peak)."""
    benchmark.group = "peak memory n=1e6"

    def run():
        out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, "1000000", "64"], check=True,
                             capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    info = benchmark.pedantic(run, rounds=1, warmup_rounds=0)
    benchmark.extra_info.update(info)
