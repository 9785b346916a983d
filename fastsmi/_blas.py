"""Limiting BLAS threads cheaply.

``threadpoolctl.threadpool_limits`` scans the loaded libraries on every call, a few
milliseconds each time; one block of slices costs about 100 ms, so the scan was
a few percent of every SMI estimate.  One controller, made on first use, is
reused instead.
"""
from __future__ import annotations

import threading
from typing import Any

_controller: Any = None
_lock = threading.Lock()


def blas_threads(limit: int) -> Any:
    """Context manager: numpy's and scipy's BLAS and LAPACK use at most ``limit`` threads inside it."""
    global _controller
    with _lock:
        if _controller is None:
            import scipy.linalg  # noqa: F401  (loads scipy's BLAS, so the controller sees it)
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
    return _controller.limit(limits=max(int(limit), 1), user_api="blas")
