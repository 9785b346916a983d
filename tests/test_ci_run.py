"""``.ci/run`` stops on the first failing step, and runs the README's test command as written.

The script runs with stub ``pip`` and ``python`` commands first on ``PATH``: each logs its
call and exits with the status the test chooses, so nothing is installed or tested for real.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_COMMAND = 'pip install -e ".[test,dask,mnist]" && python -m pytest tests'

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def _run_ci(tmp_path: Path, *, pip_status: int, python_status: int) -> tuple[int, list[str], str]:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "calls.log"
    for name, status in (("pip", pip_status), ("python", python_status)):
        stub = stubs / name
        stub.write_text(
            "#!/bin/sh\n"
            f'echo "{name} $* REQUIRE=$FASTSMI_REQUIRE_BACKENDS" >> "{log}"\n'
            f"exit {status}\n"
        )
        stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTSMI_")}
    env["PATH"] = os.pathsep.join([str(stubs), "/usr/bin", "/bin"])
    proc = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60)
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, calls, proc.stdout + proc.stderr


def test_a_failed_install_fails_ci_before_the_suite(tmp_path):
    rc, calls, out = _run_ci(tmp_path, pip_status=1, python_status=0)
    assert rc != 0, out
    assert calls == ['pip install -e .[test,dask,mnist] REQUIRE=numba,cython,kdtree,dense,torch,dask'], calls
    assert "the README's test command failed" in out


def test_a_failed_suite_fails_ci_at_once(tmp_path):
    rc, calls, out = _run_ci(tmp_path, pip_status=0, python_status=1)
    assert rc != 0, out
    assert [c.split()[0] for c in calls] == ["pip", "python"], calls  # pass 2 never started
    assert calls[1] == "python -m pytest tests REQUIRE=numba,cython,kdtree,dense,torch,dask"


def test_ci_runs_the_readme_command_as_written():
    script = (ROOT / ".ci" / "run").read_text()
    assert README_COMMAND in script
    assert README_COMMAND in (ROOT / "README.md").read_text()
