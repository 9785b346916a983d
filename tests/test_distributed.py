"""smi(..., client=) on a Dask LocalCluster, with worker threads or worker processes, is
bit-identical to a local run; dask stays optional."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


def test_client_run_is_bit_identical_to_local():
    distributed = pytest.importorskip("distributed")
    import fastsmi

    rng = np.random.default_rng(0)
    X = rng.standard_normal((800, 4))
    Y = X @ rng.standard_normal((4, 3)) + rng.standard_normal((800, 3))
    labels = rng.integers(0, 3, 800)
    local = fastsmi.smi(X, Y, n_projections=70, seed=5)
    local_disc = fastsmi.smi(X, labels, y_discrete=True, n_projections=40, seed=5)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = fastsmi.smi(X, Y, n_projections=70, seed=5, client=client, block_size=16)
        remote_disc = fastsmi.smi(X, labels, y_discrete=True, n_projections=40, seed=5, client=client,
                                  block_size=32)
    np.testing.assert_array_equal(local.per_slice, remote.per_slice)
    np.testing.assert_array_equal(local_disc.per_slice, remote_disc.per_slice)


def test_process_workers_are_bit_identical_to_local():
    """Worker processes (pickled data, their own kernels and thread pools) give the local numbers."""
    distributed = pytest.importorskip("distributed")
    import fastsmi

    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 3))
    Y = X[:, :2] + rng.standard_normal((300, 2))
    labels = rng.integers(0, 2, 300)
    local = fastsmi.smi(X, Y, n_projections=24, seed=7)
    local_disc = fastsmi.smi(X, labels, y_discrete=True, n_projections=12, seed=7)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        # the workers must run this checkout, not another installed copy
        files = set(client.run(lambda: __import__("fastsmi").__file__).values())
        assert files == {fastsmi.__file__}
        remote = fastsmi.smi(X, Y, n_projections=24, seed=7, client=client, block_size=8)
        remote_disc = fastsmi.smi(X, labels, y_discrete=True, n_projections=12, seed=7, client=client,
                                  block_size=5)
    np.testing.assert_array_equal(local.per_slice, remote.per_slice)
    np.testing.assert_array_equal(local_disc.per_slice, remote_disc.per_slice)
    assert (remote.value, remote.seed) == (local.value, local.seed)


def test_dask_is_not_imported_unless_asked():
    code = (
        "import sys, numpy as np, fastsmi;"
        "X = np.random.default_rng(0).standard_normal((100, 3));"
        "fastsmi.smi(X, X + 1, n_projections=4, seed=0);"
        "import fastsmi.cli;"
        "bad = [m for m in ('dask', 'distributed', 'torch', 'matplotlib') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
