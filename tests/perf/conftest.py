"""Shared pieces of the benchmarks: one combined table of figures, and the ``bench_lab`` fixture.

**Figures.** A benchmark publishes each figure with :func:`record` (``area: what``, value, unit,
note, and an optional aim such as ``"< 2.5"``). At the end of the run one combined table of
every figure recorded goes to the terminal, each figure with its aim and "met"/"missed", so
``make bench`` prints a single table however many benchmark files ran; with
``LBC_BENCH_JSON=<path>`` the same figures are also written as JSON together with the machine,
the date, the load average and the run's duration (:mod:`tests.perf.report` turns that JSON
into the README's table). Nothing is compared with a previous run and nothing asserts speed:
a missed aim is reported, it does not fail the run.

**The lab** for benchmarks of the daemon process is in :mod:`tests.perf.benchlab` (the lab,
the daemon seen from outside) and :mod:`tests.perf.fleet` (a converged fleet of bindings).
"""

from __future__ import annotations

import json
import operator
import os
import platform
import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from tests.perf.benchlab import BenchLab
from tests.perf.report import number

# -- figures ----------------------------------------------------------------------------------


_COMPARE: Final = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
}
_AIM = re.compile(r"^\s*(<=|>=|==|<|>)\s*([-+]?[0-9][0-9_,]*(?:\.[0-9]+)?)\s*$")


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure: ``name`` is ``"<area>: <what>"`` so the table groups by area.

    ``aim`` is empty (no aim) or a comparison with a number in the figure's unit (``"< 2.5"``,
    ``"== 0"``, ``">= 5000"``); ``met`` is then whether the value satisfies it, else ``None``.
    """

    name: str
    value: float
    unit: str
    note: str = ""
    aim: str = ""
    met: bool | None = None


FIGURES: list[Figure] = []
WHOLE_RUN_BUDGET: Final = 480.0
"""Seconds the whole of ``make bench`` may take (its aim, printed with the run's duration)."""
_STARTED: dict[str, Any] = {}


def meets(value: float, aim: str) -> bool:
    """Whether ``value`` satisfies ``aim`` (``"<op> <number>"``); a malformed aim is an error."""
    match = _AIM.match(aim)
    if match is None:
        raise ValueError(f"aim must be '<op> <number>' with op in {sorted(_COMPARE)}: {aim!r}")
    bound = float(match.group(2).replace(",", "").replace("_", ""))
    return bool(_COMPARE[match.group(1)](value, bound))


def record(name: str, value: float, unit: str, note: str = "", aim: str = "") -> Figure:
    """Publish a figure for the combined table (also printed at once, for live runs)."""
    met = meets(float(value), aim) if aim else None
    figure = Figure(name, float(value), unit, note, aim.strip(), met)
    FIGURES.append(figure)
    verdict = f"  [aim {figure.aim}: {verdict_of(figure)}]" if aim else ""
    print(f"  {name} = {number(figure.value)} {unit}{verdict}  {note}".rstrip(), flush=True)
    return figure


def verdict_of(figure: Figure) -> str:
    """ "met", "missed", or "" for a figure without an aim."""
    if figure.met is None:
        return ""
    return "met" if figure.met else "missed"


def table(figures: Iterable[Figure]) -> list[str]:
    """The aligned lines of the combined table."""
    rows = [(f.name, number(f.value), f.unit, f.aim, verdict_of(f), f.note) for f in figures]
    if not rows:
        return []
    head = ("figure", "value", "unit", "aim", "", "note")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    lines = []
    for n, v, u, a, m, note in [head, *rows]:
        line = f"{n:<{widths[0]}}  {v:>{widths[1]}}  {u:<{widths[2]}}  {a:<{widths[3]}}"
        lines.append(f"{line}  {m:<{widths[4]}}  {note}".rstrip())
        if len(lines) == 1:
            lines.append("-" * max(len(lines[0]), 40))
    return lines


def machine() -> dict[str, Any]:
    """What the figures were measured on (the README states it beside the table)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cpus": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def pytest_sessionstart(session: Any) -> None:
    _STARTED.update(wall=time.monotonic(), load=_load(), date=time.gmtime())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    wall = time.monotonic() - _STARTED.get("wall", time.monotonic())
    selection = os.environ.get("LBC_BENCH_ONLY", "")
    # The whole run is a figure too: `make bench` must stay usable (8 minutes on 2 cores).
    record(
        "bench: whole run",
        wall,
        "s",
        f"selection {selection!r}" if selection else "every benchmark",
        aim="" if selection else f"< {WHOLE_RUN_BUDGET:g}",
    )
    missed = [f for f in FIGURES if f.met is False]
    terminalreporter.section("benchmark figures")
    for line in table(FIGURES):
        terminalreporter.write_line(line)
    terminalreporter.write_line(
        f"{len(FIGURES)} figures, {sum(f.met is not None for f in FIGURES)} with an aim, "
        f"{len(missed)} missed; run took {wall:.0f} s; load average {_STARTED.get('load', 0):.1f}"
        f" at start, {_load():.1f} at end"
    )
    out = os.environ.get("LBC_BENCH_JSON")
    if out:
        date = _STARTED.get("date", time.gmtime())
        document = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", date),
            "machine": machine(),
            "load_average": {"start": _STARTED.get("load"), "end": _load()},
            "seconds": wall,
            "selection": selection,
            "scale": float(os.environ.get("LBC_BENCH_SCALE", "1")),
            "figures": [asdict(f) for f in FIGURES],
        }
        Path(out).write_text(json.dumps(document, indent=1) + "\n")
        terminalreporter.write_line(f"(figures written to {out})")


@pytest.fixture
async def bench_lab(tmp_path: Path) -> AsyncIterator[BenchLab]:
    async with BenchLab(tmp_path) as lab:
        yield lab
