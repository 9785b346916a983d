"""fastsmi without Numba: a fresh interpreter where ``import numba`` fails.

The interpreter blocks Numba (``sys.modules["numba"] = None``), imports
fastsmi, and estimates SMI with ``backend="auto"``: it must fall back to the
Cython backend with one warning, and never import Numba.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import _available

pytestmark = pytest.mark.skipif(not _available("cython"), reason="the Cython backend is not built")

SCRIPT = textwrap.dedent(
    """
    import sys
    import warnings
    sys.modules["numba"] = None  # any import of numba now raises ImportError

    import numpy as np
    import fastsmi

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    Y = X[:, :2] + rng.standard_normal((200, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fastsmi.smi(X, Y, n_projections=8, seed=1, backend="auto")
        res2 = fastsmi.smi(X, Y, n_projections=8, seed=1, backend="auto")
    lab = fastsmi.smi(X, (X[:, 0] > 0).astype(int), y_discrete=True, n_projections=8, seed=1, backend="cython")
    try:
        fastsmi.smi(X, Y, n_projections=8, seed=1, backend="numba")
    except ImportError as exc:
        numba_error = type(exc).__name__
    else:
        numba_error = "none"
    loaded = sorted(m for m, v in sys.modules.items() if m.split(".")[0] == "numba" and v is not None)
    fallback = [str(w.message) for w in caught if "Cython backend" in str(w.message)]
    print(res.backend, lab.backend, len(fallback), numba_error, loaded, float(res.value) == float(res2.value))
    """
)


def test_package_runs_without_numba():
    # "auto" must discover the missing numba itself, whatever backend the outer run forces
    env = {k: v for k, v in os.environ.items() if k != "FASTSMI_BACKEND"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["cython", "cython", "1", "BackendUnavailableError", "[]", "True"]
