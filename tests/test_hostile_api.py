"""Hostile but fair use of the public API: missing data, seeds that replay, concurrency,
memory and interrupts, caches, and options that contradict each other.

The subprocess tests run a fresh interpreter on this checkout, so that environment
variables (Numba's threading layer and cache) and signals act on it alone.
"""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

import fastsmi
from conftest import BACKENDS, requires_numba
from fastsmi import _result, _sliced, projections
from fastsmi._threads import run_chunks, usable_cores

ROOT = pathlib.Path(__file__).resolve().parents[1]

rng0 = np.random.default_rng(11)
X = rng0.standard_normal((200, 3))
Y = X[:, :2] + 0.8 * rng0.standard_normal((200, 2))
LABELS = rng0.integers(0, 3, 200)


def _run(code: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------------------
# missing and masked data
# ---------------------------------------------------------------------------------
def _masked_x():
    data = X.copy()
    data[5, 1] = 1e6  # a masked outlier: used as data, it would move the estimate
    mask = np.zeros(X.shape, dtype=bool)
    mask[5, 1] = True
    mask[17, 0] = True
    return np.ma.masked_array(data, mask=mask), np.setdiff1d(np.arange(200), [5, 17])


def test_masked_array_is_refused_by_default():
    Xm, _ = _masked_x()
    with pytest.raises(ValueError, match=r"X is a numpy masked array with 2 masked entries.*nan_policy='omit'"):
        fastsmi.smi(Xm, Y, n_projections=4, seed=0)
    with pytest.raises(ValueError, match="masked"):
        fastsmi.mi(Xm, Y)
    with pytest.raises(ValueError, match="masked"):
        fastsmi.entropy(Xm)


@pytest.mark.parametrize("backend", BACKENDS)
def test_omit_equals_dropping_the_rows_by_hand(backend):
    Xm, keep = _masked_x()
    with pytest.warns(RuntimeWarning, match=r"dropped 2 of 200 rows"):
        res = fastsmi.smi(Xm, Y, n_projections=32, seed=3, backend=backend, nan_policy="omit")
    ref = fastsmi.smi(X[keep], Y[keep], n_projections=32, seed=3, backend=backend)
    assert res.n_omitted == 2 and ref.n_omitted == 0
    np.testing.assert_array_equal(res.per_slice, ref.per_slice)
    # NaN in Y, on other rows: the union is dropped
    Yn = Y.copy()
    Yn[[40, 41], 0] = np.nan
    with pytest.warns(RuntimeWarning, match=r"dropped 4 of 200 rows .*in X or Y"):
        both = fastsmi.smi(Xm, Yn, n_projections=32, seed=3, backend=backend, nan_policy="omit")
    rows = np.setdiff1d(keep, [40, 41])
    np.testing.assert_array_equal(both.per_slice,
                                  fastsmi.smi(X[rows], Y[rows], n_projections=32, seed=3, backend=backend).per_slice)


def test_nan_raises_naming_the_option():
    Xn = X.copy()
    Xn[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"row 7, column 1.*nan_policy='omit'"):
        fastsmi.smi(Xn, Y, n_projections=4, seed=0)
    with pytest.raises(ValueError, match="nan_policy must be 'raise' or 'omit'"):
        fastsmi.smi(X, Y, n_projections=4, seed=0, nan_policy="propagate")
    # infinities are bad data, not missing data: never dropped
    Xi = X.copy()
    Xi[3, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        fastsmi.smi(Xi, Y, n_projections=4, seed=0, nan_policy="omit")


def test_labels_with_missing_entries():
    lab = LABELS.astype(float)
    lab[[2, 9]] = np.nan
    keep = np.setdiff1d(np.arange(200), [2, 9])
    with pytest.raises(ValueError, match="Y contains NaN"):
        fastsmi.smi(X, lab, y_discrete=True, n_projections=8, seed=1)
    with pytest.warns(RuntimeWarning, match="dropped 2"):
        res = fastsmi.smi(X, lab, y_discrete=True, n_projections=8, seed=1, nan_policy="omit")
    ref = fastsmi.smi(X[keep], LABELS[keep], y_discrete=True, n_projections=8, seed=1)
    np.testing.assert_array_equal(res.per_slice, ref.per_slice)
    masked = np.ma.masked_array(LABELS, mask=np.isin(np.arange(200), [2, 9]))
    with pytest.raises(ValueError, match="Y is a numpy masked array with 2 masked"):
        fastsmi.mi(X, masked, y_discrete=True)
    with pytest.warns(RuntimeWarning, match="dropped 2"):
        got = fastsmi.mi(X, masked, y_discrete=True, nan_policy="omit")
    assert got == fastsmi.mi(X[keep], LABELS[keep], y_discrete=True)


def test_mi_and_entropy_omit():
    Xn = X.copy()
    Xn[[0, 50], [0, 2]] = np.nan
    keep = np.setdiff1d(np.arange(200), [0, 50])
    with pytest.warns(RuntimeWarning, match="dropped 2"):
        assert fastsmi.mi(Xn, Y, nan_policy="omit") == fastsmi.mi(X[keep], Y[keep])
    with pytest.warns(RuntimeWarning, match="dropped 1"):  # column 0 has one NaN
        assert fastsmi.mi(Xn[:, 0], Y[:, 0], nan_policy="omit", seed=2) == fastsmi.mi(X[1:, 0], Y[1:, 0], seed=2)
    with pytest.warns(RuntimeWarning, match="dropped 2"):
        assert fastsmi.entropy(Xn, nan_policy="omit") == fastsmi.entropy(X[keep])
    with pytest.raises(ValueError, match="nan_policy='omit'"):
        fastsmi.entropy(Xn[:, 0])


def test_masked_array_with_nothing_masked_is_plain_data():
    Xm = np.ma.masked_array(X, mask=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fastsmi.smi(Xm, Y, n_projections=8, seed=0)
    assert res == fastsmi.smi(X, Y, n_projections=8, seed=0)


# ---------------------------------------------------------------------------------
# seeds that replay, result equality
# ---------------------------------------------------------------------------------
SEEDS = {
    "int": lambda: 5,
    "numpy-int": lambda: np.int64(5),
    "list": lambda: [1, 2, 3],
    "big-list": lambda: [2**40, 7],
    "seedsequence": lambda: np.random.SeedSequence(5),
    "spawned": lambda: np.random.SeedSequence(5).spawn(3)[2],
    "list-entropy-spawned": lambda: np.random.SeedSequence([4, 2]).spawn(2)[1],
    "pool-size": lambda: np.random.SeedSequence(5, pool_size=8),
    "generator": lambda: np.random.default_rng(9),
    "none": lambda: None,
}


@pytest.mark.parametrize("kind", list(SEEDS))
@pytest.mark.parametrize("slice_dim", [1, 2])
def test_result_seed_replays_bit_for_bit_through_json(kind, slice_dim):
    first = fastsmi.smi(X, Y, n_projections=12, seed=SEEDS[kind](), slice_dim=slice_dim)
    record = json.loads(json.dumps(first.seed))
    again = fastsmi.smi(X, Y, n_projections=12, seed=record, slice_dim=slice_dim)
    np.testing.assert_array_equal(first.per_slice, again.per_slice)
    assert again == first and hash(again) == hash(first)
    assert again.seed == first.seed


def test_spawned_child_keeps_its_spawn_key():
    child = np.random.SeedSequence(5).spawn(2)[1]
    res = fastsmi.smi(X, Y, n_projections=8, seed=child)
    assert res.seed == {"entropy": 5, "spawn_key": [1]}
    assert res != fastsmi.smi(X, Y, n_projections=8, seed=5)


def test_generator_seed_consumes_four_draws():
    g = np.random.default_rng(9)
    ss = projections.as_seed_sequence(g)
    words = np.random.default_rng(9).integers(0, 2**63, size=4, dtype=np.uint64)
    np.testing.assert_array_equal(ss.generate_state(8), np.random.SeedSequence(words).generate_state(8))
    # the generator advanced: a second call draws a different seed
    assert projections.as_seed_sequence(g).entropy != ss.entropy


@pytest.mark.parametrize("bad,error", [("abc", TypeError), (1.5, TypeError), (True, TypeError), (-1, ValueError),
                                       ([], TypeError), ([1, -2], TypeError), ({"spawn_key": [1]}, ValueError),
                                       ({"entropy": 1, "extra": 2}, ValueError), (b"1", TypeError)])
def test_invalid_seeds_raise_everywhere(bad, error):
    with pytest.raises(error, match="seed|entropy|spawn_key"):
        fastsmi.smi(X, Y, n_projections=4, seed=bad)
    with pytest.raises(error, match="seed|entropy|spawn_key"):
        fastsmi.mi(X, Y, seed=bad)  # the full-dimensional path uses no seed, but checks it
    with pytest.raises(error, match="seed|entropy|spawn_key"):
        fastsmi.mi(X[:, 0], Y[:, 0], seed=bad)
    with pytest.raises(error, match="seed|entropy|spawn_key"):
        projections.sphere(3, 2, seed=bad)


def test_result_equality_and_hash():
    a = fastsmi.smi(X, Y, n_projections=8, seed=1)
    b = fastsmi.smi(X, Y, n_projections=8, seed=1)
    c = fastsmi.smi(X, Y, n_projections=8, seed=2)
    assert a == b and a != c and len({a, b, c}) == 2
    assert a != fastsmi.smi(X, Y, n_projections=8, seed=1, return_slices=False)
    one = fastsmi.smi(X, Y, n_projections=1, seed=1)  # stderr is NaN: still equal to its replay
    assert one == fastsmi.smi(X, Y, n_projections=1, seed=1) and np.isnan(one.stderr)
    assert hash(one) == hash(fastsmi.smi(X, Y, n_projections=1, seed=1))
    assert (a == 3) is False


# ---------------------------------------------------------------------------------
# options that contradict each other
# ---------------------------------------------------------------------------------
def test_n_projections_contradicting_directions_raises():
    theta = np.eye(3)
    with pytest.raises(ValueError, match=r"n_projections=5 contradicts directions_x, which has 3 rows"):
        fastsmi.smi(X, Y, directions_x=theta, n_projections=5, seed=0)
    res = fastsmi.smi(X, Y, directions_x=theta, n_projections=3, seed=0)
    assert res == fastsmi.smi(X, Y, directions_x=theta, seed=0)
    with pytest.raises(ValueError, match=r"directions_y has 2 rows but n_projections=3"):
        fastsmi.smi(X, Y, directions_x=theta, directions_y=np.eye(2), seed=0)


@pytest.mark.parametrize("kwargs,message", [
    (dict(directions_x=np.eye(3), directions_y=np.ones((3, 2)), method="orthonormal"), "method='orthonormal' has no"),
    (dict(directions_x=np.eye(3), directions_y=np.ones((3, 2)), method="sphere"), "method='sphere' has no"),
    (dict(slice_dim=2, directions_x=np.eye(3)), "directions_x apply to slice_dim=1 only"),
    (dict(slice_dim=2, method="orthonormal"), "method apply to slice_dim=1 only"),
    (dict(slice_dim=2, block_size=32), "block_size apply to slice_dim=1 only"),
    (dict(slice_dim=2, backend="numba"), "backend apply to slice_dim=1 only"),
    (dict(slice_dim=2, client=object()), "client apply to slice_dim=1 only"),
])
def test_contradicting_options_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fastsmi.smi(X, Y, seed=0, **kwargs)


def test_directions_y_with_labels_raises():
    with pytest.raises(ValueError, match="directions_y has no effect with y_discrete=True"):
        fastsmi.smi(X, LABELS, y_discrete=True, directions_y=np.eye(2), seed=0, n_projections=2)
    with pytest.raises(TypeError, match="return_slices must be True or False"):
        fastsmi.smi(X, Y, n_projections=4, seed=0, return_slices="no")


# ---------------------------------------------------------------------------------
# directions drawn per block; streaming moments
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", projections.METHODS)
@pytest.mark.parametrize("sizes", [[1] * 7, [3, 4], [7], [2, 5]])
def test_direction_stream_does_not_depend_on_blocks(method, sizes):
    stream = projections.DirectionStream(3, method=method, seed=8)
    got = np.vstack([stream.take(b) for b in sizes])
    np.testing.assert_array_equal(got, projections.directions(7, 3, method=method, seed=8))


@pytest.mark.parametrize("method", projections.METHODS)
def test_per_slice_does_not_depend_on_block_size(method):
    runs = [fastsmi.smi(X, Y, n_projections=70, seed=4, method=method, block_size=b).per_slice
            for b in (16, 48, None)]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0], other)


def test_streaming_moments(monkeypatch):
    kept = fastsmi.smi(X, Y, n_projections=150, seed=6)
    monkeypatch.setattr(_sliced, "KEEP_SLICES_MAX", 0)
    monkeypatch.setattr(_result, "MOMENT_CHUNK", 32)
    streamed = [fastsmi.smi(X, Y, n_projections=150, seed=6, return_slices=False, block_size=b) for b in (16, 64)]
    assert streamed[0].per_slice is None
    assert streamed[0].value == streamed[1].value and streamed[0].stderr == streamed[1].stderr
    assert streamed[0].value == pytest.approx(kept.value, rel=1e-13)
    assert streamed[0].stderr == pytest.approx(kept.stderr, rel=1e-11)


def test_memory_does_not_grow_with_the_number_of_slices():
    # 40,000 directions in 400 dimensions for X and Y: 256 MB if drawn at once
    code = """
        import resource, numpy as np, fastsmi
        rng = np.random.default_rng(0)
        X = rng.standard_normal((40, 400)); Y = X + rng.standard_normal((40, 400))
        fastsmi.smi(X, Y, n_projections=32, seed=0, return_slices=False, progress=False)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        res = fastsmi.smi(X, Y, n_projections=40_000, seed=0, return_slices=False, k=3, progress=False)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) // 1024, res.n_projections)
    """
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    grown_mib, m = map(int, proc.stdout.split())
    assert m == 40_000 and grown_mib < 64, proc.stdout


# ---------------------------------------------------------------------------------
# threads: concurrency, caps, interrupts
# ---------------------------------------------------------------------------------
@requires_numba
def test_concurrent_calls_on_the_workqueue_layer():
    code = """
        import threading, numpy as np, numba, fastsmi
        rng = np.random.default_rng(0)
        X = rng.standard_normal((300, 3)); Y = X + rng.standard_normal((300, 3))
        seeds = list(range(6))
        alone = [fastsmi.smi(X, Y, n_projections=48, seed=s, backend="numba").per_slice for s in seeds]
        together = {}
        def work(s):
            for _ in range(3):
                together[s] = fastsmi.smi(X, Y, n_projections=48, seed=s, backend="numba").per_slice
        threads = [threading.Thread(target=work, args=(s,)) for s in seeds]
        [t.start() for t in threads]; [t.join() for t in threads]
        assert all(np.array_equal(alone[s], together[s]) for s in seeds)
        print(numba.threading_layer())
    """
    proc = _run(code, env={"NUMBA_THREADING_LAYER": "workqueue"})
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip() == "workqueue"


def test_thread_counts_are_capped_at_the_usable_cores():
    from fastsmi._threads import resolve_n_jobs
    from fastsmi._backends import get_backend

    cores = usable_cores()
    for name in BACKENDS:
        assert get_backend(name).resolve_n_jobs(1000) <= cores
    assert resolve_n_jobs(1000) <= cores and resolve_n_jobs(None) == cores
    seen = set()
    lock = threading.Lock()

    def func(lo, hi):
        with lock:
            seen.add(threading.get_ident())
        time.sleep(0.01)

    run_chunks(func, 400, 1000, max_chunk=1)
    assert len(seen) <= cores


def test_run_chunks_stops_on_an_error_without_running_the_rest():
    done = []

    def func(lo, hi):
        if lo == 0:
            raise ZeroDivisionError
        time.sleep(0.005)
        done.append(lo)

    with pytest.raises(ZeroDivisionError):
        run_chunks(func, 1000, 2, max_chunk=1)
    assert len(done) < 1000


def test_run_chunks_stops_nested_work_when_the_outer_call_fails():
    if usable_cores() < 2:
        pytest.skip("needs two cores")
    inner_done = []

    def outer(lo, hi):
        if lo == 0:
            time.sleep(0.05)
            raise ZeroDivisionError

        def inner(a, b):
            time.sleep(0.005)
            inner_done.append(a)

        run_chunks(inner, 2000, 1, max_chunk=1)  # about 10 s if nothing stops it

    t0 = time.perf_counter()
    with pytest.raises(ZeroDivisionError):
        run_chunks(outer, 2, 2)
    assert time.perf_counter() - t0 < 2.0 and len(inner_done) < 2000


INTERRUPT_CASES = {
    # full-dimensional KSG, brute force (joint dimension 10), on one thread and on all
    "dense-1": ("X = rng.standard_normal((n, 5)); Y = X + rng.standard_normal((n, 5))",
                "fastsmi.mi(X, Y, n_jobs=1)", 40_000, 1.5),
    "dense-all": ("X = rng.standard_normal((n, 5)); Y = X + rng.standard_normal((n, 5))",
                  "fastsmi.mi(X, Y)", 60_000, 1.5),
    # full-dimensional KSG on the KD-tree
    "kdtree-1": ("X = rng.standard_normal((n, 3)); Y = X + rng.standard_normal((n, 3))",
                 "fastsmi.mi(X, Y, n_jobs=1)", 400_000, 5.0),  # past the tree's construction
    # the sliced block loop
    "sliced": ("X = rng.standard_normal((n, 3)); Y = X + rng.standard_normal((n, 3))",
               "fastsmi.smi(X, Y, n_projections=m, seed=0, progress=False)", 100_000, 1.5),
}


@pytest.mark.parametrize("case", list(INTERRUPT_CASES))
def test_ctrl_c_stops_a_long_call_quickly(case):
    setup, call, n, delay = INTERRUPT_CASES[case]
    code = f"""
        import sys, time, numpy as np, fastsmi
        rng = np.random.default_rng(0)
        n, m = 400, 16
        {setup}
        {call}  # compile (or load) the kernels first
        n, m = {n}, 100_000
        {setup}
        print("start", flush=True)
        t0 = time.perf_counter()
        try:
            {call}
        except KeyboardInterrupt:
            print(f"interrupted {{time.perf_counter() - t0:.2f}}", flush=True)
            raise
        print("finished", flush=True)
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "start", proc.stderr.read()
        time.sleep(delay)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        waited = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "KeyboardInterrupt" in err and "finished" not in out, (out, err[-2000:])
    assert waited < 3.0, (case, waited, out)


# ---------------------------------------------------------------------------------
# caches and environment
# ---------------------------------------------------------------------------------
@requires_numba
def test_unwritable_numba_cache_compiles_in_memory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code = """
        import warnings, numpy as np
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import fastsmi
            from fastsmi._backends import get_backend
            from fastsmi import _config, _fulldim
            name = get_backend("auto").NAME
        rng = np.random.default_rng(0)
        X = rng.standard_normal((300, 5)); Y = X + rng.standard_normal((300, 5))
        value = _fulldim.ksg_mi(X, Y, k=3)  # the brute-force Numba search: compiled, not cached
        print(name, _config.JIT_OPTIONS["cache"], repr(value))
        print(" | ".join(str(w.message) for w in caught))
    """
    # FASTSMI_BACKEND="": "auto" must choose Numba here even in a run that forces the Cython backend
    env = {"NUMBA_CACHE_DIR": str(blocker / "cache"), "NUMBA_CACHE_LOCATOR_CLASSES": "UserProvidedCacheLocator",
           "FASTSMI_BACKEND": ""}
    proc = _run(code, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, messages = proc.stdout.splitlines()[:2]
    name, cached, value = first.split()
    assert name == "numba" and cached == "False"
    assert "cannot use Numba's on-disk cache" in messages and "install numba" not in messages
    from fastsmi import _fulldim

    rng = np.random.default_rng(0)
    Xr = rng.standard_normal((300, 5))
    Yr = Xr + rng.standard_normal((300, 5))
    assert float(value) == _fulldim.ksg_mi(Xr, Yr, k=3)


def test_seed_records_round_trip_any_seed_sequence():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    entropy = st.one_of(st.integers(0, 2**130), st.lists(st.integers(0, 2**70), min_size=1, max_size=5))

    @hypothesis.settings(max_examples=200, deadline=None)
    @hypothesis.given(entropy, st.lists(st.integers(0, 2**40), max_size=4), st.integers(4, 9))
    def check(ent, spawn_key, pool_size):
        ss = np.random.SeedSequence(ent, spawn_key=tuple(spawn_key), pool_size=pool_size)
        record = projections.seed_record(ss)
        back = projections.as_seed_sequence(json.loads(json.dumps(record)))
        np.testing.assert_array_equal(back.generate_state(8), ss.generate_state(8))
        assert projections.seed_record(back) == record

    check()
