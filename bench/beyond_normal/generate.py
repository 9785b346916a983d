"""Write every public Beyond Normal task's samples and true MI to ``.npz`` files.

Runs in the benchmark's own virtual environment, since ``benchmark-mi`` pins an
old jax::

    python -m venv /work/bmi-venv
    /work/bmi-venv/bin/pip install benchmark-mi jax==0.4.30 jaxlib==0.4.30
    /work/bmi-venv/bin/python bench/beyond_normal/generate.py [DATA] [--sizes 1000,5000,10000] [--seeds 0,1,2]

One file per (task, n, seed), holding ``X`` (n, dim_x), ``Y`` (n, dim_y) and the
metadata: ``task_id``, ``task_name``, ``family`` (the benchmark's own grouping
of its task list), ``mi_true`` (nats), ``n``, ``seed``.  Existing files are kept.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SEEDS, SIZES, data_argument, int_list, sample_name  # noqa: E402


def families() -> list[tuple[str, object]]:
    """Every task of the benchmark with its family: the lists ``bmi.benchmark.task_list`` concatenates."""
    from bmi.benchmark import task_list as tl

    groups = [("one-dimensional", tl.ONE_DIM_TASKS), ("embeddings", tl.EMBEDDINGS_TASKS),
              ("multinormal", tl.MULTINORMAL_TASKS), ("student", tl.STUDENT_TASKS),
              ("transformed", tl.TRANSFORMED_TASKS)]
    out = [(fam, task) for fam, tasks in groups for task in tasks]
    # the concatenation is the benchmark's list: check nothing was missed or added
    assert [t.id for _, t in out] == [t.id for t in tl.BENCHMARK_TASKS_LIST]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_argument(p)
    p.add_argument("--sizes", type=int_list, default=list(SIZES))
    p.add_argument("--seeds", type=int_list, default=list(SEEDS))
    args = p.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    tasks = families()
    t0 = time.perf_counter()
    written = 0
    for fam, task in tasks:
        mi_true = float(task.mutual_information)
        for n in args.sizes:
            for seed in args.seeds:
                path = args.data / sample_name(task.id, n, seed)
                if path.exists():
                    continue
                X, Y = task.sample(n, seed)
                np.savez(path, X=np.asarray(X, dtype=np.float64), Y=np.asarray(Y, dtype=np.float64),
                         task_id=task.id, task_name=task.name, family=fam, mi_true=mi_true, n=n, seed=seed)
                written += 1
        print(f"{fam:16s} {task.id:60s} dx={task.dim_x:2d} dy={task.dim_y:2d} MI={mi_true:.4f}", flush=True)
    print(f"{len(tasks)} tasks, {written} files written to {args.data} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
