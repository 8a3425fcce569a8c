"""Every metric is declared through lbc.observe.metrics, so none can miss the registry.

prometheus_client's metric classes register on the library's default registry unless given
``registry=``, and lbc serves only its own ``REGISTRY``: a metric built directly, without that
argument, silently never appears on /metrics. So outside lbc/observe/metrics.py no module may
call the classes; the factories there (``counter``, ``histogram``, ``gauge``) always pass it.

The scan reads each module's syntax tree and follows its imports, so a comment or a string
naming a class does not count, an alias does, and ``collections.Counter`` is not the library's.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lbc
import lbc.observe.metrics

PACKAGE = Path(lbc.__file__).parent
OWNER = Path(lbc.observe.metrics.__file__)
METRIC_CLASSES = frozenset({"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"})


def _is_prometheus(module: str) -> bool:
    return module == "prometheus_client" or module.startswith("prometheus_client.")


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.C`` as ``["a", "b", "C"]``; None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else [*head, node.attr]
    return None


def direct_constructions(source: str) -> list[str]:
    """``line: Class`` for each call of a prometheus_client metric class in ``source``."""
    tree = ast.parse(source)
    classes: dict[str, str] = {}  # local name -> metric class imported under it
    modules: dict[str, str] = {}  # local name -> prometheus_client module bound to it
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and _is_prometheus(node.module):
            for alias in node.names:
                if alias.name in METRIC_CLASSES:
                    classes[alias.asname or alias.name] = alias.name
                elif node.module == "prometheus_client" and alias.name == "metrics":
                    modules[alias.asname or alias.name] = "prometheus_client.metrics"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_prometheus(alias.name):
                    # `import a.b` binds `a`; `import a.b as x` binds `x` to `a.b`.
                    bound = alias.asname or alias.name.partition(".")[0]
                    modules[bound] = alias.name if alias.asname else bound
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        parts = _dotted(node.func)
        if parts is None:
            continue
        if len(parts) == 1 and parts[0] in classes:
            found.append((node.lineno, classes[parts[0]]))
        elif len(parts) > 1 and parts[0] in modules and parts[-1] in METRIC_CLASSES:
            found.append((node.lineno, parts[-1]))
    return [f"{line}: {name}" for line, name in sorted(found)]


def test_no_module_but_observe_metrics_builds_a_prometheus_metric() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert OWNER in modules
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{hit}"
        for path in modules
        if path != OWNER
        for hit in direct_constructions(path.read_text())
    ]
    assert offenders == [], (
        "declare metrics with lbc.observe.metrics.counter/histogram/gauge (always on REGISTRY), "
        f"not prometheus_client's classes: {offenders}"
    )


def test_the_scan_sees_the_owners_own_constructions() -> None:
    assert sorted(hit.split(": ")[1] for hit in direct_constructions(OWNER.read_text())) == [
        "Counter",
        "Gauge",
        "Histogram",
    ]


def test_the_scan_follows_imports_and_aliases() -> None:
    source = """
import prometheus_client
import prometheus_client.metrics as pm
from prometheus_client import Counter as C, metrics
from prometheus_client.core import Summary

a = C("a", "a")
b = prometheus_client.Gauge("b", "b")
c = pm.Histogram("c", "c")
d = metrics.Enum("d", "d", states=["x"])
e = Summary("e", "e")
"""
    assert direct_constructions(source) == [
        "7: Counter",
        "8: Gauge",
        "9: Histogram",
        "10: Enum",
        "11: Summary",
    ]


def test_the_scan_ignores_comments_strings_and_other_counters() -> None:
    source = '''
from collections import Counter
from enum import Enum

# Counter("lbc_x_total", "not code")
DOC = """Gauge("lbc_y", "not code either")"""
counted = Counter("aab")
Color = Enum("Color", "RED GREEN")
'''
    assert direct_constructions(source) == []
