"""``lbc inspect`` end to end: two clusters with their daemons share a group on the lab."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from lbc_lab.scenario import Cluster, World
from tests.e2e.conftest import (
    APP,
    NS,
    pod_targets,
    register_foreign,
    shared_binding,
)
from tests.integration.inspect.support import merged_kubeconfig

pytestmark = pytest.mark.timeout(180)


async def lbc_inspect(world: World, *argv: str) -> tuple[int, str, str]:
    """``python -m lbc inspect …`` as an operator runs it, against the world's lab ELBv2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LBC_", "AWS_"))}
    env.update(
        LBC_AWS_ENDPOINT_URL=world.elb_url,
        LBC_AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="lab",
        AWS_SECRET_ACCESS_KEY="lab",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lbc", "inspect", *argv,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def verdicts(doc: dict[str, Any]) -> dict[str, str]:
    return {row["target"]: row["verdict"] for row in doc["targets"]}


def owners(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {
        row["target"]: [f"{c['cluster']}:{c['namespace']}/{c['name']}" for c in row["claimedBy"]]
        for row in doc["targets"]
    }


async def stop_daemons(cluster: Cluster) -> None:
    for daemon in cluster.daemons:
        daemon.extra["expected_exit"] = True
        await daemon.stop()


async def test_the_inspector_attributes_every_target_of_a_shared_group(
    world: World, tmp_path: Path
) -> None:
    tg, a, b = await shared_binding(world, "shared", 2)
    a_targets, b_targets = pod_targets(a), pod_targets(b)
    hand = await register_foreign(world, tg.arn, ["10.0.40.5"])
    config = str(merged_kubeconfig(tmp_path / "config", {"a": a.kubeconfig, "b": b.kubeconfig}))
    both = ("--kubeconfig", config, "--context", "a", "--context", "b")

    code, out, err = await lbc_inspect(world, "target-group", tg.arn, *both, "-o", "json")
    assert (code, err) == (1, "")
    doc = json.loads(out)
    expected = dict.fromkeys(a_targets | b_targets, "owned") | dict.fromkeys(hand, "orphan")
    assert verdicts(doc) == expected
    found = owners(doc)
    assert all(found[t] == ["a:echoserver/web"] for t in a_targets)
    assert all(found[t] == ["b:echoserver/web"] for t in b_targets)
    assert doc["summary"]["owned"] == 4
    assert doc["summary"]["orphan"] == 1
    code, _out, _err = await lbc_inspect(world, "target-group", "shared", *both, "--allow-orphans")
    assert code == 0

    # Cluster a's daemon stops; its ledger is then edited to claim one of b's targets, and a
    # new pod of a is never registered.
    await stop_daemons(a)
    stolen = sorted(b_targets)[0]
    ledger = await a.get_configmap(NS, "aws-lbc-targets-web")
    assert ledger is not None
    claimed = ",".join(sorted({*ledger["data"]["targets"].split(","), stolen}))
    await a.kube.request(
        "PATCH",
        f"/api/v1/namespaces/{NS}/configmaps/aws-lbc-targets-web",
        {"data": {"targets": claimed}},
        content_type="application/merge-patch+json",
        ok=(200,),
    )
    await a.kube.scale(NS, APP, 3)
    new = pod_targets(a) - a_targets
    assert len(new) == 1

    code, out, err = await lbc_inspect(world, "target-group", tg.arn, *both, "-o", "json")
    assert (code, err) == (1, "")
    doc = json.loads(out)
    found = verdicts(doc)
    assert found[stolen] == "double-claimed"
    assert owners(doc)[stolen] == ["a:echoserver/web", "b:echoserver/web"]
    assert found[next(iter(new))] == "missing"
    assert all(found[t] == "owned" for t in a_targets)

    code, table, _err = await lbc_inspect(world, "target-group", tg.arn, *both)
    assert code == 1
    lines = table.splitlines()
    assert max(map(len, lines)) <= 120
    marked = {line.split()[1] for line in lines if line.startswith("! ")}
    assert marked == {stolen, next(iter(new)), *hand}
    assert lines[-1].startswith("6 targets: 3 owned, 1 orphan, 1 double-claimed, 1 missing")

    # What a's daemon would do on restart, computed without doing it: register the new pod
    # and deregister b's target, which its ledger now claims.
    code, out, _err = await lbc_inspect(
        world, "binding", f"{NS}/web", "--kubeconfig", config, "--context", "a", "-o", "json"
    )
    assert code == 1
    plan = json.loads(out)["plan"]
    assert plan["register"] == sorted(new)
    assert plan["deregister"] == [stolen]
    assert stolen in {
        t for t, (state, _) in (await world.targets(tg.arn)).items() if state != "draining"
    }
