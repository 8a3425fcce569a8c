"""README.md (operating sections) stays true to the code: every metric and every reason it can show.

An operator paged at night reads the runbook, not the source. So the metrics table must list
exactly the metrics the daemon registers, and every reason lbc can put on an Event, a condition
or a log line must be explained there. Both are read from the code, never from a list kept here.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import lbc
import pytest
from lbc.observe.metrics import REGISTRY

from tests.integration.manifests.layout import ROOT

DOC = ROOT / "README.md"
METRIC_PACKAGES = ("lbc.observe", "lbc.kube", "lbc.aws", "lbc.control", "lbc.webhook")
REASON_PACKAGES = ("core", "control", "aws")
# The defaults of the error base classes; every error lbc raises on purpose names its own reason.
GENERIC_REASONS = {"Error", "Transient", "Terminal", "Conflict", "NotFound"}
# Calls whose first CamelCase string argument is a reason: diagnostics, failures, events and
# conditions.
REASON_CALLS = {
    "Diagnostic", "_invalid", "Failure", "fail", "Event", "_ready", "emit", "NetworkingState"
}  # fmt: skip
CAMEL = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+$")


def registered_metrics() -> set[str]:
    """Exposition names of every metric the daemon's packages register on ``REGISTRY``."""
    for package in METRIC_PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            importlib.import_module(info.name)
    names: set[str] = set()
    for metric in REGISTRY.collect():
        names.add(f"{metric.name}_total" if metric.type == "counter" else metric.name)
    return names


def documented_metrics() -> set[str]:
    section = DOC.read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))


def _reason_of(call: ast.Call) -> str | None:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    if name not in REASON_CALLS:
        return None
    for arg in call.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and CAMEL.match(arg.value):
            return arg.value
    return None


def code_reasons() -> set[str]:
    reasons: set[str] = set()
    for package in REASON_PACKAGES:
        for path in (Path(lbc.__file__).parent / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call):
                    if (found := _reason_of(node)) is not None:
                        reasons.add(found)
                    for kw in node.keywords:
                        if kw.arg == "reason" and isinstance(kw.value, ast.Constant):
                            reasons.add(str(kw.value.value))
                elif isinstance(node, ast.Dict):
                    # Reason tables: the reconciler's step -> Warning reason map, the AWS
                    # adapters' code -> (error kind, reason) maps.
                    for value in node.values:
                        items = value.elts if isinstance(value, ast.Tuple) else [value]
                        reasons |= {
                            v.value
                            for v in items
                            if isinstance(v, ast.Constant)
                            and isinstance(v.value, str)
                            and CAMEL.match(v.value)
                        }
                elif (
                    isinstance(node, ast.AnnAssign)
                    and isinstance(node.target, ast.Name)
                    and node.target.id.isupper()
                    and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)
                    and CAMEL.match(node.value.value)
                ):
                    # Named reason constants (FAILED: Final = "FailedNetworkReconcile").
                    reasons.add(node.value.value)
                elif (
                    isinstance(node, ast.Assign)
                    and isinstance(node.value, ast.Constant)
                    and any(isinstance(t, ast.Name) and t.id == "reason" for t in node.targets)
                ):
                    reasons.add(str(node.value.value))
    return reasons - GENERIC_REASONS


def test_reason_scan_sees_the_plan_and_the_errors() -> None:
    # Guards the scan: the reasons below come from plan(), desired(), an error class and an
    # AWS error mapping, one per pattern the scan knows.
    assert {"MultiClusterDisableRefused", "BackendNotFound", "LedgerCorrupt", "AwsTimeout"} <= (
        code_reasons()
    )


def test_every_reason_lbc_reports_is_in_the_runbook() -> None:
    runbook = DOC.read_text().split("## Runbook", 1)[1].split("\n## ", 1)[0]
    explained = set(re.findall(r"`([A-Za-z]+)`", runbook))
    assert code_reasons() - explained == set()


@pytest.mark.parametrize(
    ("section", "tokens"),
    [
        pytest.param(
            "Runbook",
            [
                f"`{reason}`"
                for reason in (
                    "InvalidBinding",
                    "BackendNotFound",
                    "TargetGroupNotFound",
                    "LedgerCorrupt",
                    "FailedRegister",
                    "FailedDeregister",
                    "Throttled",
                    "MultiClusterDisableRefused",
                    "FailedCleanup",
                    "FailedNetworkReconcile",
                )
            ],
            id="runbook-the-reasons-the-issue-asks-for",
        ),
        pytest.param(
            "Migration",
            [
                "elbv2.k8s.aws/resources",
                "aws-lbc-targets-<binding>",
                "elbv2.k8s.aws/checkpoint",
                "elbv2.k8s.aws/checkpoint-timestamp",
                "target-health.elbv2.k8s.aws/<binding>",
            ],
            id="migration-what-carries-over",
        ),
    ],
)
def test_section_names(section: str, tokens: list[str]) -> None:
    text = DOC.read_text().split(f"## {section}", 1)[1]
    for token in tokens:
        assert token in text, token


def test_metrics_table_lists_exactly_the_registered_metrics() -> None:
    assert documented_metrics() == registered_metrics()
