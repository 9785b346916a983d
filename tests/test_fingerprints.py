"""Bit-for-bit fingerprints of fastsmi's numbers: every slice value of a fixed set of calls.

``tests/data/fingerprints.json`` holds, for each case below, the SHA-256 of the float64
bytes of the per-slice estimates (for :func:`fastsmi.smi`) or the exact value as
``float.hex`` (for :func:`fastsmi.mi` and :func:`fastsmi.entropy`).  The cases cover every
estimator, several k, both backends, both joint searches of the 1-D kernels, labels,
k-SMI (``slice_dim > 1``) and the full-dimensional estimators on the KD-tree and on the
brute-force searches (Numba, and numpy under ``FASTSMI_BACKEND=cython``).

A change of structure must leave every fingerprint unchanged.  A change that is meant to
change numbers regenerates the file, on purpose, with::

    python tests/test_fingerprints.py --write

and says so in its commit.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import fastsmi

FILE = Path(__file__).parent / "data" / "fingerprints.json"

ESTIMATORS = ("ksg", "ksg2", "kl", "wkl", "seed")
LABEL_ESTIMATORS = ("ksg", "kl", "wkl", "seed")
SEARCHES = ("grid", "sweep")
N, M = 160, 6


def _gaussian(n: int, dx: int, dy: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dx))
    Y = 0.7 * X[:, :1] + 0.5 * rng.standard_normal((n, dy))
    return X, Y


def _labels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, 3)) + 0.8 * y[:, None]
    return X, y


def _slices_digest(res) -> str:
    return hashlib.sha256(np.ascontiguousarray(res.per_slice, dtype=np.float64).tobytes()).hexdigest()


def _cases() -> dict[str, tuple[dict, Callable[[], str]]]:
    """Case name -> (environment, function returning the fingerprint)."""
    cases: dict[str, tuple[dict, Callable[[], str]]] = {}
    X, Y = _gaussian(N, 3, 2, 1)
    XL, y = _labels(N, 2)
    for backend in ("numba", "cython"):
        for search in SEARCHES:
            env = {"FASTSMI_SEARCH": search}
            for est in ESTIMATORS:
                for k in (1, 3, 5):
                    cases[f"smi-{backend}-{search}-{est}-k{k}"] = (env, lambda b=backend, e=est, k=k: _slices_digest(
                        fastsmi.smi(X, Y, n_projections=M, estimator=e, k=k, seed=7, backend=b)))
            for est in LABEL_ESTIMATORS:
                for k in (2, 5):
                    cases[f"smi-labels-{backend}-{search}-{est}-k{k}"] = (env, lambda b=backend, e=est, k=k: (
                        _slices_digest(fastsmi.smi(XL, y, n_projections=M, estimator=e, k=k, seed=8, backend=b,
                                                   y_discrete=True))))
        for method in ("orthonormal",):
            cases[f"smi-{backend}-{method}"] = ({}, lambda b=backend, mt=method: _slices_digest(
                fastsmi.smi(X, Y, n_projections=2 * M, k=4, seed=9, backend=b, method=mt, block_size=16)))
    for est in ESTIMATORS:
        cases[f"ksmi-{est}"] = ({}, lambda e=est: _slices_digest(
            fastsmi.smi(X, Y, n_projections=4, estimator=e, k=4, seed=10, slice_dim=2)))
    for est in LABEL_ESTIMATORS:
        cases[f"ksmi-labels-{est}"] = ({}, lambda e=est: _slices_digest(
            fastsmi.smi(XL, y, n_projections=4, estimator=e, k=4, seed=11, slice_dim=2, y_discrete=True)))
    # full dimension: joint d = 4 (tree), 10 (KSG brute force, Numba Euclidean brute force) and
    # 12 (numpy Euclidean brute force without Numba); the 1-D mi runs on the slice kernels
    shapes = {"d2": _gaussian(N, 2, 2, 3), "d5": _gaussian(N, 5, 5, 4), "d6": _gaussian(N, 6, 6, 5),
              "d1": _gaussian(N, 1, 1, 6)}
    for where, env in (("default", {}), ("cython", {"FASTSMI_BACKEND": "cython"})):
        for shape, (A, B) in shapes.items():
            for est in ESTIMATORS:
                # the BSY weights of "wkl" need k > d_joint / 4
                for k in ((1, 4) if shape == "d1" else (4, 7)):
                    cases[f"mi-{where}-{shape}-{est}-k{k}"] = (env, lambda A=A, B=B, e=est, k=k: float(
                        fastsmi.mi(A, B, estimator=e, k=k)).hex())
        for est in LABEL_ESTIMATORS:
            cases[f"mi-labels-{where}-{est}"] = (env, lambda e=est: float(
                fastsmi.mi(XL, y, estimator=e, k=3, y_discrete=True)).hex())
            cases[f"mi-labels-1d-{where}-{est}"] = (env, lambda e=est: float(
                fastsmi.mi(XL[:, 0], y, estimator=e, k=3, y_discrete=True)).hex())
        for est in ("kl", "wkl", "seed"):
            for d in (1, 3, 9):
                A = _gaussian(N, d, 1, 12 + d)[0]
                cases[f"entropy-{where}-d{d}-{est}"] = (env, lambda A=A, e=est: float(
                    fastsmi.entropy(A, estimator=e, k=3)).hex())
    # atoms in full dimension (Gao et al.'s counts) and tied data on the slices
    rng = np.random.default_rng(20)
    Xa = rng.integers(0, 4, (N, 2)).astype(float)
    Ya = Xa[:, :1] + rng.standard_normal((N, 1))
    for where, env in (("default", {}), ("cython", {"FASTSMI_BACKEND": "cython"})):
        cases[f"mi-atoms-{where}"] = (env, lambda: float(fastsmi.mi(Xa, Ya, k=3)).hex())
    return cases


CASES = _cases()


def _run(name: str) -> str:
    env, func = CASES[name]
    saved = {key: os.environ.get(key) for key in ("FASTSMI_SEARCH", "FASTSMI_BACKEND")}
    try:
        for key in saved:
            os.environ.pop(key, None)
        os.environ.update(env)
        return func()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _stored() -> dict[str, str]:
    return json.loads(FILE.read_text())["cases"]


def test_every_case_is_stored():
    assert sorted(_stored()) == sorted(CASES)


def _expected(name: str) -> str:
    stored = _stored()
    if "-default-" in name and importlib.util.find_spec("numba") is None:
        # without Numba the default search is the one FASTSMI_BACKEND=cython forces
        return stored[name.replace("-default-", "-cython-")]
    return stored[name]


@pytest.mark.parametrize("name", sorted(CASES))
def test_fingerprint(name):
    if name.startswith(("smi-numba", "smi-labels-numba")):
        pytest.importorskip("numba")
    assert _run(name) == _expected(name), f"{name}: the numbers changed"


if __name__ == "__main__":  # pragma: no cover - regenerates the stored fingerprints on purpose
    if "--write" not in sys.argv:
        sys.exit("usage: python tests/test_fingerprints.py --write")
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    FILE.parent.mkdir(exist_ok=True)
    data = {"generated_at": commit, "cases": {name: _run(name) for name in sorted(CASES)}}
    FILE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"{len(CASES)} fingerprints written to {FILE}")
