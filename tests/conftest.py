"""Shared test configuration: which fastsmi components this machine can run, decided on purpose.

A component (a backend or an optional part of fastsmi) is in one of three states:

* ``ok``: it imports;
* ``missing``: the dependency it is built on is absent (numba not installed, the
  Cython extension not compiled, torch or dask not installed): its tests are skipped,
  and the header of the run says so;
* ``broken``: the dependency is there but fastsmi's module on top of it fails to
  import.  That is a bug in fastsmi, never a reason to skip: the session stops with a
  usage error that shows the original exception.

``FASTSMI_REQUIRE_BACKENDS`` (comma-separated component names) turns ``missing`` into
an error as well: CI names what each pass must test, so nothing it relies on can
vanish into a skip.  ``FASTSMI_TEST_BACKENDS`` (comma-separated) limits the backends
the parametrised tests run on.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import traceback
from dataclasses import dataclass
from typing import Callable, Optional

import pytest

# tests/calibration holds one-off sweeps run by hand, never by the suite
collect_ignore = ["calibration"]


def _has(module: str) -> bool:
    """True when ``module`` can be found, without importing it (a blocked module counts as absent)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _load_backend(name: str):
    from fastsmi._backends import _load

    return _load(name)


def _import_all(*modules: str) -> Callable[[], None]:
    def load() -> None:
        for module in modules:
            importlib.import_module(module)

    return load


@dataclass(frozen=True)
class Component:
    """A testable part of fastsmi: what it is built on, and how to load it."""

    name: str
    depends_on: tuple[str, ...]  # modules whose absence makes the component legitimately missing
    load: Callable[[], object]


COMPONENTS = {
    c.name: c
    for c in (
        Component("numba", ("numba",), lambda: _load_backend("numba")),
        Component("cython", ("fastsmi._cython._slices",), lambda: _load_backend("cython")),
        Component("kdtree", ("fastsmi._cython._kdtree",), _import_all("fastsmi._cython._kdtree")),
        Component("dense", ("numba",), _import_all("fastsmi._numba._dense")),
        Component("torch", ("torch",), _import_all("torch", "fastsmi.mnist.model", "fastsmi.mnist.infoplane",
                                                  "fastsmi.mnist.autoencoder")),
        Component("dask", ("dask", "distributed"), _import_all("dask", "distributed", "fastsmi._distributed")),
    )
}


@dataclass(frozen=True)
class Status:
    state: str  # "ok", "missing" or "broken"
    detail: str = ""


def _probe(component: Component) -> Status:
    absent = [m for m in component.depends_on if not _has(m)]
    if absent:
        return Status("missing", f"{', '.join(absent)} not installed")
    try:
        component.load()
    except Exception as exc:  # noqa: BLE001 - every failure of an installed dependency is reported
        return Status("broken", "".join(traceback.format_exception(exc)))
    return Status("ok")


def _names(variable: str) -> list[str]:
    raw = os.environ.get(variable, "")
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown:
        raise pytest.UsageError(
            f"{variable}={raw!r} names unknown components {unknown}; use any of {', '.join(COMPONENTS)}."
        )
    return names


_STATUS: dict[str, Status] = {}


def status(name: str) -> Status:
    """The state of component ``name``, probed once."""
    if name not in _STATUS:
        _STATUS[name] = _probe(COMPONENTS[name])
    return _STATUS[name]


def _problem(name: str) -> Optional[str]:
    st = status(name)
    if st.state == "broken":
        return (
            f"fastsmi component {name!r} is installed but does not import; this is a failure, not a skip "
            f"(what it is built on, {', '.join(COMPONENTS[name].depends_on)}, is installed). Cause:\n{st.detail}"
        )
    if st.state == "missing" and name in REQUIRED:
        return f"fastsmi component {name!r} is required by FASTSMI_REQUIRE_BACKENDS but is missing: {st.detail}."
    return None


def available(name: str) -> bool:
    """True when component ``name`` imports; a broken or required-but-missing component stops the run."""
    problem = _problem(name)
    if problem:
        raise pytest.UsageError(problem)
    return status(name).state == "ok"


_available = available  # the name other test modules import


def require(name: str) -> None:
    """Skip the calling test module when component ``name`` is legitimately missing."""
    if not available(name):
        pytest.skip(f"{name}: {status(name).detail}", allow_module_level=True)


def requires(name: str) -> pytest.MarkDecorator:
    """A skip mark for tests that need component ``name``."""
    return pytest.mark.skipif(not available(name), reason=f"{name}: {status(name).detail}")


REQUIRED = _names("FASTSMI_REQUIRE_BACKENDS")
# the backends and every required component are checked before any test is collected;
# the optional extras (torch, dask, ...) when the first test module asks for them
_PROBLEMS = [p for p in map(_problem, dict.fromkeys(["numba", "cython", *REQUIRED])) if p]
if _PROBLEMS:
    raise pytest.UsageError("\n\n".join(_PROBLEMS))


def _backends() -> list[str]:
    """Backends under test: FASTSMI_TEST_BACKENDS (comma-separated) or both, keeping those that import."""
    wanted = _names("FASTSMI_TEST_BACKENDS") or ["numba", "cython"]
    bad = [b for b in wanted if b not in ("numba", "cython")]
    if bad:
        raise pytest.UsageError(f"FASTSMI_TEST_BACKENDS may name numba and cython only, got {bad}.")
    return [b for b in wanted if available(b)]


BACKENDS = _backends()
if not BACKENDS:  # pragma: no cover
    raise pytest.UsageError("no fastsmi backend is importable: build the Cython extension or install numba")

requires_numba = requires("numba")


def pytest_report_header(config: pytest.Config) -> Optional[str]:
    parts = [f"{n}: {s.state}" + (f" ({s.detail})" if s.state == "missing" else "") for n, s in _STATUS.items()]
    return "fastsmi components probed so far: " + "; ".join(parts) + f"; backends under test: {', '.join(BACKENDS)}"


@pytest.fixture
def no_tie_policy(monkeypatch):
    """Reach the kernels with tied data that the public tie policy refuses.

    The kernels' tie-breaking (the seeded jitter) is tested for parity and against
    the oracle on such data; tests/test_ties.py tests the policy itself.
    """
    monkeypatch.setattr("fastsmi._validation.check_ties", lambda *args, **kwargs: None)
