"""Benchmark helpers: a summary of per-slice times and speed-ups printed after the run.

Benchmarks that time a subset of slices record ``extra_info["slices"]``; the
summary divides each median by its slice count, so baselines timed on a
subset are compared per slice with fastsmi timed on the full case, all
measured in the same run.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

_ROWS: list[tuple[str, str, float, float, int]] = []


def record(benchmark, group: str, label: str, slices: int) -> None:
    """Remember a finished pedantic benchmark for the per-slice summary."""
    stats = benchmark.stats.stats
    _ROWS.append((group, label, stats.median, stats.median / slices, slices))
    benchmark.extra_info["slices"] = slices
    benchmark.extra_info["median_s_per_slice"] = stats.median / slices


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _ROWS:
        return
    tr = terminalreporter
    tr.section("fastsmi: per-slice medians and speed-ups (same run)")
    groups: dict[str, list] = {}
    for row in _ROWS:
        groups.setdefault(row[0], []).append(row)
    for group, rows in groups.items():
        tr.write_line(f"[{group}]")
        fast = min(r[3] for r in rows)
        for _, label, median, per_slice, slices in sorted(rows, key=lambda r: r[3]):
            tr.write_line(
                f"  {label:<42s} median {median:9.4f} s for {slices:5d} slices = "
                f"{per_slice * 1e3:9.3f} ms/slice   x{per_slice / fast:8.1f}"
            )
