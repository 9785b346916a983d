"""Running the blocks of one SMI computation on a Dask cluster.

The data and jitter are scattered to the workers once, each block's directions
travel with its task; every block is a
task that calls the same :func:`fastsmi._block.compute_block` a local run calls,
so the result is bit-identical to a local run with the same seed.  Dask is
imported only here, and only when a client is passed.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._block import compute_block


def run_on_client(client: Any, X: np.ndarray, Y: Any, thetas: list[tuple[np.ndarray, Any]],
                  jitter_x: np.ndarray, jitter_y: Any, blocks: list[tuple[int, int]], common: dict,
                  per_slice: np.ndarray, status: np.ndarray) -> None:
    """Fill ``per_slice`` and ``status`` by running every block as a task on ``client``.

    ``thetas[i]`` holds the directions of block ``blocks[i] = (start, stop)``; they
    travel with the block's task, the data and jitter are scattered once.
    """
    try:
        from distributed import as_completed
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("client= needs dask.distributed: pip install 'fastsmi[dask]'") from exc
    arrays = {"X": X, "Y": Y, "jitter_x": jitter_x, "jitter_y": jitter_y}
    present = {name: a for name, a in arrays.items() if a is not None}
    scattered = dict(zip(present, client.scatter(list(present.values()), broadcast=True, hash=False)))
    futures = {}
    for (start, stop), (theta_x, theta_y) in zip(blocks, thetas):
        fut = client.submit(compute_block, scattered["X"], scattered.get("Y"), theta_x, theta_y,
                            scattered["jitter_x"], scattered.get("jitter_y"), start=0, stop=stop - start,
                            pure=False, **common)
        futures[fut] = (start, stop)
    for fut in as_completed(list(futures)):
        start, stop = futures[fut]
        out, st = fut.result()
        per_slice[start:stop] = out
        status[start:stop] = st
