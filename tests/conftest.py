"""Shared test configuration: which backends this machine can run."""
from __future__ import annotations

import os

import pytest


def _available(name: str) -> bool:
    from fastsmi._backends import BackendUnavailableError, _load

    try:
        _load(name)
    except BackendUnavailableError:
        return False
    return True


def _backends() -> list[str]:
    """Backends under test: FASTSMI_TEST_BACKENDS (comma-separated) or every importable one."""
    wanted = os.environ.get("FASTSMI_TEST_BACKENDS")
    names = [b.strip() for b in wanted.split(",")] if wanted else ["numba", "cython"]
    return [b for b in names if _available(b)]


BACKENDS = _backends()
if not BACKENDS:  # pragma: no cover
    raise pytest.UsageError("no fastsmi backend is importable: build the Cython extension or install numba")

requires_numba = pytest.mark.skipif("numba" not in BACKENDS, reason="the Numba backend is not installed")
