"""``lbc inspect`` against lab API servers and the lab ELBv2: verdicts, errors, no writes."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lbc.inspect.command import run

from lbc_lab.apiserver.server import LabApiServer
from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import BoundTargetGroup, Network, create_network, create_target_group
from lbc_lab.processes import free_port
from tests.integration.inspect.support import (
    POD_PORT,
    kubeconfig_to,
    lay_out,
    ledger_value,
    merged_kubeconfig,
    pod_object,
    reads,
    slice_object,
    writes,
)

A_PODS = {"echoserver-a-1": "10.0.8.1", "echoserver-a-2": "10.0.8.2"}
B_PODS = {"echoserver-b-1": "10.0.12.1"}
HAND = "10.0.4.5"


@dataclass
class Lab:
    a: LabApiServer
    b: LabApiServer
    kubeconfig: Path
    elbv2: Any
    tg: BoundTargetGroup
    net: Network
    elb: ElbLab


@pytest.fixture
async def lab(elb_lab: ElbLab, tmp_path: Path) -> AsyncIterator[Lab]:
    async with (
        LabApiServer.running(kubeconfig_path=tmp_path / "a.kubeconfig") as a,
        LabApiServer.running(kubeconfig_path=tmp_path / "b.kubeconfig") as b,
        elb_lab.client("ec2") as ec2,
        elb_lab.client("elbv2") as elbv2,
    ):
        net = await create_network(ec2)
        tg = await create_target_group(elbv2, net, "shared", attach=False)
        lay_out(a, tg.arn, A_PODS)
        lay_out(b, tg.arn, B_PODS)
        ips = [*A_PODS.values(), *B_PODS.values(), HAND]
        await elbv2.register_targets(
            TargetGroupArn=tg.arn, Targets=[{"Id": ip, "Port": POD_PORT} for ip in ips]
        )
        kubeconfig = merged_kubeconfig(
            tmp_path / "config", {"a": a.kubeconfig_path, "b": b.kubeconfig_path}
        )
        yield Lab(a, b, kubeconfig, elbv2, tg, net, elb_lab)


async def inspect(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def by_target(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["target"]: row for row in doc["targets"]}


def owner(row: dict[str, Any]) -> list[str]:
    return [f"{c['cluster']}:{c['namespace']}/{c['name']}" for c in row["claimedBy"]]


async def test_each_clusters_targets_are_owned_and_the_hand_registered_one_is_orphan(
    lab: Lab,
) -> None:
    code, out, err = await inspect(
        "target-group", lab.tg.arn, "--kubeconfig", str(lab.kubeconfig),
        "--context", "a", "--context", "b", "-o", "json",
    )  # fmt: skip
    assert err == ""
    assert code == 1
    rows = by_target(json.loads(out))
    assert {t: r["verdict"] for t, r in rows.items()} == {
        "10.0.8.1:8080": "owned",
        "10.0.8.2:8080": "owned",
        "10.0.12.1:8080": "owned",
        f"{HAND}:8080": "orphan",
    }
    assert owner(rows["10.0.8.1:8080"]) == ["a:echoserver/web"]
    assert owner(rows["10.0.12.1:8080"]) == ["b:echoserver/web"]
    code, _out, _err = await inspect(
        "target-group", "shared", "--kubeconfig", str(lab.kubeconfig),
        "--context", "a", "--context", "b", "--allow-orphans",
    )  # fmt: skip
    assert code == 0


async def test_the_inspection_writes_nothing_and_lists_each_kind_once_per_cluster(
    lab: Lab,
) -> None:
    mark = lab.elb.control.last_seq()
    code, _out, _err = await inspect(
        "target-group", lab.tg.arn, "--kubeconfig", str(lab.kubeconfig),
        "--context", "a", "--context", "b",
    )  # fmt: skip
    assert code == 1
    for api in (lab.a, lab.b):
        assert writes(api) == {}
        assert reads(api) == {
            "get configmaps": 1,
            "list endpointslices.discovery.k8s.io": 1,
            "list nodes": 1,
            "list pods": 1,
            "list services": 1,
            "list targetgroupbindings.elbv2.k8s.aws": 1,
        }
    calls = [c.operation for c in lab.elb.control.calls(since=mark)]
    assert sorted(calls) == ["DescribeTargetGroups", "DescribeTargetHealth"]


async def test_an_unreachable_cluster_is_reported_while_the_others_still_are(
    lab: Lab, tmp_path: Path
) -> None:
    gone = kubeconfig_to(tmp_path / "gone.yaml", f"http://127.0.0.1:{free_port()}")
    b_only = merged_kubeconfig(tmp_path / "b-only", {"b": lab.b.kubeconfig_path})
    code, out, err = await inspect(
        "target-group", lab.tg.arn, "--kubeconfig", str(b_only), "--kubeconfig", str(gone),
        "-o", "json", "--timeout", "5",
    )  # fmt: skip
    assert code == 1
    assert "Traceback" not in err
    doc = json.loads(out)
    clusters = {c["name"]: c for c in doc["clusters"]}
    assert clusters["b"]["reachable"] is True
    assert clusters["gone"]["reachable"] is False
    assert clusters["gone"]["error"]
    rows = by_target(doc)
    assert rows["10.0.12.1:8080"]["verdict"] == "owned"
    assert rows["10.0.8.1:8080"]["verdict"] == "unknown"
    assert rows[f"{HAND}:8080"]["verdict"] == "unknown"
    assert any("gone unreachable" in s for s in doc["unknownSources"])
    code, table, _err = await inspect(
        "target-group", lab.tg.arn, "--kubeconfig", str(b_only), "--kubeconfig", str(gone),
    )  # fmt: skip
    assert "UNREACHABLE" in table


async def test_a_corrupt_ledger_is_named_without_a_traceback(lab: Lab) -> None:
    rtype = lab.a.type_of("v1", "ConfigMap")
    current = lab.a.get("v1", "ConfigMap", "aws-lbc-targets-web", "echoserver") or {}
    current["data"] = {"targets": "10.0.8.1:8080,not a target"}
    lab.a.objects.update(rtype, "echoserver", "aws-lbc-targets-web", current)
    code, out, err = await inspect(
        "target-group", lab.tg.arn, "--kubeconfig", str(lab.kubeconfig),
        "--context", "a", "--context", "b",
    )  # fmt: skip
    assert code == 1
    assert err == ""
    assert "aws-lbc-targets-web is unreadable" in out
    assert "not a target" in out
    code, out, err = await inspect(
        "binding", "echoserver/web", "--kubeconfig", str(lab.kubeconfig), "--context", "a",
        "-o", "json",
    )  # fmt: skip
    assert code == 1
    doc = json.loads(out)
    assert doc["ledger"]["state"] == "unreadable"
    assert doc["plan"]["failure"]["reason"] == "LedgerCorrupt"
    assert doc["plan"]["register"] == doc["plan"]["deregister"] == []


async def test_an_unknown_target_group_is_bad_usage(lab: Lab) -> None:
    unknown = lab.tg.arn.rsplit("/", 1)[0] + "/0000000000000000"
    code, out, err = await inspect(
        "target-group", unknown, "--kubeconfig", str(lab.kubeconfig), "--context", "a"
    )
    assert code == 2
    assert out == ""
    assert err.startswith(f"lbc inspect: target group {unknown} not found")
    code, _out, err = await inspect(
        "target-group", "no-such-group", "--kubeconfig", str(lab.kubeconfig), "--context", "a"
    )
    assert code == 2
    assert "no-such-group" in err


async def test_a_binding_shows_the_plan_for_a_new_pod_without_carrying_it_out(lab: Lab) -> None:
    pods = {**A_PODS, "echoserver-a-3": "10.0.8.3"}
    lab.a.create(pod_object("echoserver-a-3", "10.0.8.3"))
    rtype = lab.a.type_of("discovery.k8s.io/v1", "EndpointSlice")
    current = lab.a.get("discovery.k8s.io/v1", "EndpointSlice", "echoserver-abcde", "echoserver")
    obj = slice_object(pods)
    obj["metadata"]["resourceVersion"] = (current or {})["metadata"]["resourceVersion"]
    lab.a.objects.update(rtype, "echoserver", "echoserver-abcde", obj)
    mark = lab.elb.control.last_seq()
    code, out, err = await inspect(
        "binding", "echoserver/web", "--kubeconfig", str(lab.kubeconfig), "--context", "a",
        "-o", "json",
    )  # fmt: skip
    assert err == ""
    assert code == 1
    doc = json.loads(out)
    assert doc["plan"]["register"] == ["10.0.8.3:8080"]
    assert doc["plan"]["deregister"] == []
    assert doc["plan"]["ledgerWriteAhead"] == ledger_value(pods.values()).split(",")
    assert doc["ledger"]["targets"] == ledger_value(A_PODS.values()).split(",")
    assert doc["plan"]["untouched"] == 2
    assert writes(lab.a) == {}
    operations = {c.operation for c in lab.elb.control.calls(since=mark)}
    assert operations == {"DescribeTargetGroups", "DescribeTargetHealth"}
    code, table, _err = await inspect(
        "binding", "echoserver/web", "--kubeconfig", str(lab.kubeconfig), "--context", "a"
    )
    assert "! 10.0.8.3:8080" in table
    assert max(len(line) for line in table.splitlines()) <= 120


async def test_an_unknown_binding_is_bad_usage(lab: Lab) -> None:
    code, _out, err = await inspect(
        "binding", "echoserver/nope", "--kubeconfig", str(lab.kubeconfig), "--context", "a"
    )
    assert code == 2
    assert err == "lbc inspect: binding echoserver/nope in cluster a not found\n"
