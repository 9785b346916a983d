"""Cold start: the first ``fastsmi.smi`` call in a fresh process, per backend and Numba cache state.

Each cell runs a new Python process that imports fastsmi and calls ``smi`` twice
(the second call shows the compute alone).  The package is copied to a scratch
directory first, so no cache left beside the sources is found, and the Numba cache
lives in ``NUMBA_CACHE_DIR``:

* ``empty``: a new, empty cache directory (Numba compiles and fills it);
* ``warm``: the directory an earlier process filled;
* ``read-only``: a copy of the warm directory that cannot be written, with the
  package copy read-only as well (a shared install on a cluster).  As root,
  permissions do not bind, so the process then runs in a private mount namespace
  with both directories mounted read-only (``unshare -m``); if that is not
  possible the row says so.

Run::

    python bench/bench_coldstart.py            # n=3000, d=10+10, m=200, KSG k=5, 2 threads
    python bench/bench_coldstart.py --m 2000   # the canonical case

and read the table (seconds).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import fastsmi
t1 = time.perf_counter()
from fastsmi.experiments.models import GaussianModel
n, d, m, backend, n_jobs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
X, Y = GaussianModel(d, 2.0).sample(n, rng=np.random.default_rng(2024))
t2 = time.perf_counter()
r = fastsmi.smi(X, Y, n_projections=m, k=5, seed=1, backend=backend, n_jobs=n_jobs, progress=False)
t3 = time.perf_counter()
fastsmi.smi(X, Y, n_projections=m, k=5, seed=2, backend=backend, n_jobs=n_jobs, progress=False)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t3 - t2, "second": t4 - t3, "backend": r.backend}))
"""


def _package_copy(dest: str) -> str:
    """Copy the fastsmi package (sources and built extensions, no caches) under ``dest``."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = os.path.join(here, "fastsmi")
    shutil.copytree(src, os.path.join(dest, "fastsmi"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc", "*.c"))
    return dest


def _make_read_only(path: str) -> None:
    for root, dirs, files in os.walk(path):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o555)
    os.chmod(path, 0o555)


def _run(args, env, code_dir: str, read_only: list[str]) -> dict:
    cmd = [sys.executable, "-c", CHILD, str(args.n), str(args.d), str(args.m), args.backend_now, str(args.n_jobs)]
    if read_only and os.geteuid() == 0:
        if shutil.which("unshare") is None:
            return {"error": "root ignores permissions and unshare is missing"}
        mounts = " && ".join(f"mount --bind {p} {p} && mount -o remount,bind,ro {p}" for p in read_only)
        quoted = " ".join("'" + c.replace("'", "'\\''") + "'" for c in cmd)
        cmd = ["unshare", "-m", "sh", "-c", f"{mounts} && exec {quoted}"]
    out = subprocess.run(cmd, env=env, cwd=code_dir, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--m", type=int, default=200)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--backends", default="numba,cython")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fastsmi-coldstart-") as tmp:
        for backend in args.backends.split(","):
            args.backend_now = backend
            code = _package_copy(os.path.join(tmp, f"code-{backend}"))
            cache = os.path.join(tmp, f"cache-{backend}")
            os.makedirs(cache)
            home = os.path.join(tmp, f"home-{backend}")
            os.makedirs(home)
            env = dict(os.environ, PYTHONPATH=code, NUMBA_CACHE_DIR=cache, HOME=home,
                       XDG_CACHE_HOME=os.path.join(home, ".cache"), PYTHONDONTWRITEBYTECODE="1")
            env.pop("FASTSMI_BACKEND", None)
            rows.append((backend, "empty", _run(args, env, code, [])))
            rows.append((backend, "warm", _run(args, env, code, [])))
            ro_cache = os.path.join(tmp, f"cache-ro-{backend}")
            shutil.copytree(cache, ro_cache)
            _make_read_only(ro_cache)
            _make_read_only(os.path.join(code, "fastsmi"))
            env_ro = dict(env, NUMBA_CACHE_DIR=ro_cache)
            rows.append((backend, "read-only", _run(args, env_ro, code, [ro_cache, os.path.join(code, "fastsmi")])))
        for root, dirs, _ in os.walk(tmp):  # let the temporary directory be removed
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
    print(f"first fastsmi.smi call in a fresh process: n={args.n}, d={args.d}+{args.d}, m={args.m}, "
          f"KSG k=5, n_jobs={args.n_jobs} (seconds)")
    print(f"{'backend':8s} {'numba cache':12s} {'import':>8s} {'1st call':>9s} {'2nd call':>9s} {'import+1st':>11s}")
    for backend, state, r in rows:
        if "error" in r:
            print(f"{backend:8s} {state:12s} error: {r['error']}")
            continue
        print(f"{backend:8s} {state:12s} {r['import']:8.2f} {r['first']:9.2f} {r['second']:9.2f} "
              f"{r['import'] + r['first']:11.2f}")


if __name__ == "__main__":
    main()
