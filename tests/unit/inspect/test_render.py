"""The inspector's outputs: a table within 120 columns, stable JSON, the same YAML."""

from __future__ import annotations

import json

import yaml
from lbc.aws.elbv2 import TargetGroupInfo
from lbc.core.ledger import LedgerPresent
from lbc.core.targets import HealthState, Target
from lbc.inspect.explain import BindingInputs, explain
from lbc.inspect.ownership import assess
from lbc.inspect.render import (
    WIDTH,
    binding_document,
    binding_table,
    dump,
    target_group_document,
    target_group_table,
)

from tests.unit.core.factories import ARN, binding, desired_of, health, t, targets
from tests.unit.inspect.test_ownership import A1, A2, B1, HAND, cluster, facts, group, two_clusters

INFO = TargetGroupInfo(ARN, "web", "ip", "TCP", 80, "vpc-0123456789abcdef0", "ipv4")


def test_the_table_marks_every_row_that_is_not_owned_and_ends_with_the_summary() -> None:
    ownership = assess(group(A1, A2, B1, HAND), two_clusters())
    text = target_group_table(INFO, two_clusters(), ownership)
    lines = text.splitlines()
    rows = {
        line.split()[1 if line.startswith("!") else 0]: line for line in lines if ":8080" in line
    }
    assert rows[HAND].startswith("! ")
    assert all(not rows[i].startswith("!") for i in (A1, A2, B1))
    assert "a:shop/web" in rows[A1]
    assert lines[-1] == (
        "4 targets: 3 owned, 1 orphan, 0 double-claimed, 0 missing, 0 stale, 0 draining, 0 unknown"
    )


def test_the_table_fits_120_columns_whatever_the_cells_hold() -> None:
    long_reason = health(HealthState.UNHEALTHY, "Target.ResponseCodeMismatch" * 3)
    observed = {t(A1): long_reason, Target("fd00:" + "abcd:" * 6 + "1", 8080): health()}
    name = "a-very-long-binding-name-" + "x" * 60
    clusters = [
        cluster(
            "cluster-with-a-long-name",
            facts(
                "cluster-with-a-long-name", desired_of(A1), LedgerPresent(targets(A1)), name=name
            ),
        ),
    ]
    text = target_group_table(INFO, clusters, assess(observed, clusters))
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert "…" in text


def test_the_json_document_is_stable_and_carries_every_row() -> None:
    ownership = assess(group(A1, A2, B1, HAND), two_clusters())
    doc = target_group_document(INFO, two_clusters(), ownership)
    first = dump(doc, "json")
    again = dump(target_group_document(INFO, two_clusters(), ownership), "json")
    assert first == again
    parsed = json.loads(first)
    assert parsed["apiVersion"] == "lbc.inspect/v1"
    assert parsed["kind"] == "TargetGroupInspection"
    assert parsed["summary"]["owned"] == 3
    assert parsed["summary"]["total"] == 4
    assert parsed["healthy"] is False
    hand = next(r for r in parsed["targets"] if r["target"] == HAND)
    assert hand["verdict"] == "orphan"
    assert hand["claimedBy"] == []
    a1 = next(r for r in parsed["targets"] if r["target"] == A1)
    assert a1["claimedBy"] == [{"cluster": "a", "namespace": "shop", "name": "web"}]
    assert a1["state"] == "healthy"
    assert [c["name"] for c in parsed["clusters"]] == ["a", "b"]
    assert parsed["clusters"][0]["bindings"][0]["ledger"]["size"] == 2


def test_yaml_is_the_same_document_as_json() -> None:
    ownership = assess(group(A1, HAND), two_clusters())
    doc = target_group_document(INFO, two_clusters(), ownership, allow_orphans=True)
    assert yaml.safe_load(dump(doc, "yaml")) == json.loads(dump(doc, "json"))


def _report(observed: dict[Target, object] | None = None) -> object:
    b = binding("web", multi_cluster=True)
    return explain(
        BindingInputs(
            cluster="a",
            binding=b,
            desired=desired_of(A1, A2),
            ledger=LedgerPresent(targets(A1, B1)),
            ledger_name="aws-lbc-targets-web",
            arn=ARN,
            group=INFO,
            observed=group(A1, B1) if observed is None else observed,  # type: ignore[arg-type]
            gated_pods=(),
        )
    )


def test_the_binding_table_marks_planned_changes_and_fits_120_columns() -> None:
    report = _report()
    text = binding_table(report)  # type: ignore[arg-type]
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    planned = {line.split()[1]: line for line in text.splitlines() if line.startswith("! ")}
    assert set(planned) == {A2, B1}
    assert planned[A2].rstrip().endswith("register")
    assert planned[B1].rstrip().endswith("deregister")
    assert text.rstrip().endswith("not converged: the plan above changes things")


def test_the_binding_document_lists_the_plan_and_why() -> None:
    doc = json.loads(dump(binding_document(_report()), "json"))  # type: ignore[arg-type]
    assert doc["kind"] == "BindingInspection"
    assert doc["plan"]["register"] == [A2]
    assert doc["plan"]["deregister"] == [B1]
    assert doc["plan"]["ledgerWriteAhead"] == sorted([A1, A2, B1], key=Target.parse)
    assert doc["ledger"]["targets"] == sorted([A1, B1], key=Target.parse)
    assert doc["converged"] is False
    assert any("MultiCluster" in why for why in doc["why"])
