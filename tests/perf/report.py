"""Regenerates the README's benchmark table from the JSON a benchmark run wrote.

    .venv/bin/python tests/perf/report.py build/bench.json README.md
    # or: .venv/bin/python -m lbc bench --readme README.md   (make bench-readme)

The table sits between the ``<!-- bench-table:begin -->`` and ``<!-- bench-table:end -->``
lines of the README; everything outside them (the notes that explain the figures) is left
alone. The JSON is the document ``tests/perf/conftest.py`` writes with ``LBC_BENCH_JSON``:
the machine, the date, the load average, the run's duration and every figure with its aim.
The table is only ever produced from such a run, never edited by hand, so a figure in the
README is always one that a benchmark printed.

Only the standard library is imported: the script runs without the package's dependencies.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench-table:begin -->"
END = "<!-- bench-table:end -->"


def number(value: float) -> str:
    """The value as the terminal table prints it (thousands separated, 3 significant digits)."""
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


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(document: dict[str, Any]) -> list[str]:
    """The lines of the README block: the run's circumstances, then one row per figure."""
    box = document.get("machine", {})
    load = document.get("load_average", {})
    start, end = load.get("start"), load.get("end")
    loads = ", ".join(
        f"{word} {value:.1f}"
        for word, value in (("start", start), ("end", end))
        if isinstance(value, int | float) and not math.isnan(value)
    )
    scale = document.get("scale", 1.0)
    selection = document.get("selection") or ""
    lines = [
        BEGIN,
        f"Measured {document.get('date', '?')} on {box.get('cpu', '?')} "
        f"({box.get('cpus', '?')} CPUs), {box.get('system', '?')}, "
        f"Python {box.get('python', '?')}; "
        f"load average {loads or 'unknown'}; the run took {document.get('seconds', 0):.0f} s"
        + (f"; selection `{selection}`" if selection else "")
        + (f"; **scale {scale:g}** (quick check, not a published run)" if scale != 1 else "")
        + ".",
        "",
        "| figure | value | aim | |",
        "|---|---|---|---|",
    ]
    for figure in document.get("figures", []):
        met = figure.get("met")
        verdict = "" if met is None else ("met" if met else "**missed**")
        value = f"{number(float(figure['value']))} {figure.get('unit', '')}".strip()
        note = figure.get("note", "")
        label = f"{figure['name']}" + (f" ({note})" if note else "")
        lines.append(
            f"| {_cell(label)} | {_cell(value)} | {_cell(figure.get('aim', ''))} | {verdict} |"
        )
    lines.append(END)
    return lines


def regenerate(readme: str, document: dict[str, Any]) -> str:
    """``readme`` with the block between the markers replaced; the markers must be present."""
    lines = readme.splitlines()
    try:
        first, last = lines.index(BEGIN), lines.index(END)
    except ValueError:
        raise SystemExit(f"the README has no {BEGIN} ... {END} block") from None
    if last < first:
        raise SystemExit(f"{END} comes before {BEGIN}")
    return "\n".join([*lines[:first], *render(document), *lines[last + 1 :]]) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: report.py FIGURES.json README.md", file=sys.stderr)
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    document = json.loads(source.read_text())
    target.write_text(regenerate(target.read_text(), document))
    print(f"{target}: benchmark table regenerated from {source} ({document.get('date', '?')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
