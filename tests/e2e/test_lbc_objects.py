"""Objects the reference controller leaves behind, end to end: lbc reads them and carries on.

- A QUIC target group: LBC registers each pod with its QUIC server id and records
  ``ip:port:serverId`` in the ledger. lbc must read that ledger (not call it corrupt), register
  with the server ids, deregister by full identity, and delete the binding normally.
- An instance binding whose Service had no nodePort: LBC recorded ``i-…:0`` entries. lbc reads
  them as targets that were never registerable and drops them from the ledger.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbc_lab.scenario import Cluster, World, eventually
from tests.e2e.conftest import (
    APP,
    NS,
    POD_CIDR_A,
    binding,
    echoserver,
    ready_condition,
    wait_binding_gone,
    wait_targets,
)

pytestmark = pytest.mark.timeout(120)

LEDGER = "aws-lbc-targets-web"


async def _lbc_ledger(cluster: Cluster, value: str) -> None:
    """The ledger ConfigMap exactly as LBC writes it: no labels, no owner, one key."""
    await cluster.kube.request(
        "POST",
        f"/api/v1/namespaces/{NS}/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": LEDGER, "namespace": NS},
            "data": {"targets": value},
        },
    )


async def _ledger_entries(cluster: Cluster) -> set[str]:
    found = await cluster.get_configmap(NS, LEDGER)
    assert found is not None
    text: str = found["data"]["targets"]
    return set(text.split(",")) if text else set()


async def _ready(cluster: Cluster) -> dict[str, Any]:
    async def synced() -> bool:
        cond = await ready_condition(cluster, "web")
        return cond is not None and cond["status"] == "True"

    try:
        await eventually(synced, timeout=20, what="Ready=True")
    except TimeoutError:
        raise AssertionError(
            f"binding not Ready: {await ready_condition(cluster, 'web')}"
        ) from None
    cond = await ready_condition(cluster, "web")
    assert cond is not None
    return cond


async def _deleted(cluster: Cluster) -> None:
    await cluster.delete_binding(NS, "web")

    await wait_binding_gone(cluster, "web", what="binding deleted")


async def test_quic_binding_reads_lbc_ledger_and_registers_with_server_ids(world: World) -> None:
    tg = await world.target_group("quic", target_type="ip", port=443, protocol="QUIC")
    a = await world.add_cluster("a", nodes=1, pod_cidr=POD_CIDR_A)
    await a.kube.ensure_namespace(NS)
    port = {"name": "quic", "port": 443, "targetPort": 8080, "protocol": "UDP"}
    await a.kube.apply_service(NS, APP, ports=[port], selector={"app": APP})
    await a.kube.deploy(NS, APP, 2, container_port=8080, quic=True)

    def quic_targets() -> set[str]:
        return {
            f"{a.kube.pod_ip(NS, p)}:8080:{a.kube.pod_server_id(NS, p)}"
            for p in a.kube.pod_names(NS, APP)
        }

    # What LBC left: a target of a pod gone since, registered and recorded with its server id,
    # and a foreign target another cluster registered (not in this ledger).
    stale = {"Id": "10.0.8.200", "Port": 8080, "QuicServerId": "0x00000000000000aa"}
    foreign = {"Id": "10.0.12.200", "Port": 8080, "QuicServerId": "0x00000000000000bb"}
    await world.elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[stale, foreign])
    await _lbc_ledger(a, "10.0.8.200:8080:0x00000000000000aa")
    foreign_identity = "10.0.12.200:8080:0x00000000000000bb"

    await a.apply_binding(binding("web", tg.arn, port="quic", targetGroupProtocol="QUIC"))
    await world.start_daemon(a)
    await wait_targets(
        world, tg.arn, quic_targets() | {foreign_identity}, what="pods with server ids"
    )
    cond = await _ready(a)
    assert "2 desired, 2 registered" in cond["message"]
    assert await _ledger_entries(a) == quic_targets()

    await _deleted(a)
    await wait_targets(world, tg.arn, {foreign_identity}, what="only the foreign target left")
    assert await a.get_configmap(NS, LEDGER) is None


async def test_instance_ledger_with_lbc_port_zero_entries_converges(world: World) -> None:
    tg = await world.target_group("nodeport-zero", target_type="instance")
    a = await world.add_cluster("a", nodes=2, pod_cidr=POD_CIDR_A)
    instances = sorted(i.instance_id for i in a.instances.values())
    await echoserver(a, 1, service_type="NodePort", node_port=31080)
    # LBC reconciled this binding while the Service had no nodePort yet.
    await _lbc_ledger(a, ",".join(f"{i}:0" for i in instances))

    await a.apply_binding(binding("web", tg.arn, target_type="instance"))
    await world.start_daemon(a)
    expected = {f"{i}:31080" for i in instances}
    await wait_targets(world, tg.arn, expected, what="nodes registered on the nodePort")
    await _ready(a)

    async def settled() -> bool:
        return await _ledger_entries(a) == expected

    await eventually(settled, timeout=20, what="port-0 entries dropped from the ledger")
    await _deleted(a)
    await wait_targets(world, tg.arn, set(), what="deregistered on deletion")
