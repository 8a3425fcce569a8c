"""Shared pieces of the benchmarks: one combined table of figures, and the ``bench_lab`` fixture.

**Figures.** A benchmark publishes each figure with :func:`record` (``area: what``, value, unit,
note). At the end of the run one combined table of every figure recorded goes to the terminal,
so ``make bench`` prints a single table however many benchmark files ran; with
``LBC_BENCH_JSON=<path>`` the same figures are also written as JSON (for the docs). Figures
are kept in memory only: nothing is compared with a previous run, nothing asserts speed.

**The lab** for benchmarks of the daemon process is in :mod:`tests.perf.benchlab` (the lab,
the daemon seen from outside) and :mod:`tests.perf.fleet` (a converged fleet of bindings).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.perf.benchlab import BenchLab

# -- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure: ``name`` is ``"<area>: <what>"`` so the table groups by area."""

    name: str
    value: float
    unit: str
    note: str = ""


FIGURES: list[Figure] = []


def record(name: str, value: float, unit: str, note: str = "") -> Figure:
    """Publish a figure for the combined table (also printed at once, for live runs)."""
    figure = Figure(name, float(value), unit, note)
    FIGURES.append(figure)
    print(f"  {name} = {_format(figure.value)} {unit}  {note}".rstrip(), flush=True)
    return figure


def _format(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000 or value == int(value):
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(figures: Iterable[Figure]) -> list[str]:
    """The aligned lines of the combined table."""
    rows = [(f.name, _format(f.value), f.unit, f.note) for f in figures]
    if not rows:
        return []
    head = ("figure", "value", "unit", "note")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    lines = [f"{head[0]:<{widths[0]}}  {head[1]:>{widths[1]}}  {head[2]:<{widths[2]}}  {head[3]}"]
    lines.append("-" * (sum(widths) + 6 + max(len(r[3]) for r in [head, *rows])))
    lines += [
        f"{n:<{widths[0]}}  {v:>{widths[1]}}  {u:<{widths[2]}}  {note}".rstrip()
        for n, v, u, note in rows
    ]
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("benchmark figures")
    for line in table(FIGURES):
        terminalreporter.write_line(line)
    out = os.environ.get("LBC_BENCH_JSON")
    if out:
        Path(out).write_text(json.dumps([asdict(f) for f in FIGURES], indent=1) + "\n")
        terminalreporter.write_line(f"(figures written to {out})")


@pytest.fixture
async def bench_lab(tmp_path: Path) -> AsyncIterator[BenchLab]:
    async with BenchLab(tmp_path) as lab:
        yield lab
