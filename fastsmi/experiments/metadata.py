"""What ``config.json`` records about a synthetic run: versions, backend, threads, scheduler.

Examples
--------
>>> from fastsmi.experiments.config import SyntheticConfig
>>> sorted(environment(SyntheticConfig(n_jobs=1)))[:3]
['backend', 'cpu_count', 'env']
"""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any, Optional

import fastsmi

from .._backends import get_backend
from .._runtime import recorded_settings
from .config import SyntheticConfig

__all__ = ["describe_client", "environment", "threading_layer"]


def _version(package: str) -> Optional[str]:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment(config: SyntheticConfig) -> dict[str, Any]:
    """Versions, backend and threads, for ``config.json`` (imports no optional package)."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "fastsmi": getattr(fastsmi, "__version__", None),
        "versions": {p: _version(p) for p in ("numpy", "scipy", "numba", "matplotlib", "tqdm", "dask", "distributed")},
        "env": recorded_settings(),
    }
    try:
        info["backend"] = get_backend(config.backend).NAME
    except Exception as exc:  # reported, not fatal: the cells will raise the real error
        info["backend"] = f"unavailable: {exc}"
    try:
        import numba

        info["numba_threads"] = numba.get_num_threads()
        info["numba_threading_layer"] = numba.config.THREADING_LAYER
    except Exception:  # numba absent: the Cython backend runs the slices
        info["numba_threads"] = None
    info["threads_per_cell"] = config.n_jobs if config.n_jobs is not None else os.cpu_count()
    return info


def threading_layer() -> dict[str, Any]:
    """The Numba threading layer this process used (known only after a parallel call)."""
    try:
        import numba

        return {"numba_threading_layer": numba.threading_layer()}
    except Exception:  # no parallel region ran here (e.g. every cell ran on Dask workers)
        return {}


def describe_client(client: Any) -> Optional[dict[str, Any]]:
    """Address, workers and threads of a Dask client's cluster."""
    if client is None:
        return None
    try:
        info = client.scheduler_info()
        workers = info.get("workers", {})
        return {"address": info.get("address"), "workers": len(workers),
                "threads": sum(w.get("nthreads", 0) for w in workers.values())}
    except Exception as exc:  # pragma: no cover - diagnostic only
        return {"error": str(exc)}
