"""Networking peers LBC accepts although they set both or neither of ipBlock and securityGroup.

LBC's CRD and webhook let such peers through; its networking uses the security group when both
are set and fails the binding's rules when neither is. A binding LBC served must keep being
reconciled after a switch to lbc: targets registered, the security group's rule granted (not
the CIDR's), and a Warning saying which field was used.
"""

from __future__ import annotations

import pytest

from lbc_lab.scenario import World, eventually
from tests.e2e.conftest import echoserver, wait_targets, warning_reasons
from tests.e2e.test_networking import NODE_PORT, bound, condition, instances, wait_rules

pytestmark = pytest.mark.timeout(150)


async def test_peers_with_both_or_neither_field_are_reconciled_as_lbc_does(world: World) -> None:
    tg = await world.target_group("peers", target_type="instance")
    spare = await world.target_group("peers-empty", target_type="instance")
    lb = await world.security_group("lb")
    a = await world.add_cluster("a", nodes=2, pod_cidr="10.0.8.0/22")
    nodes = await world.security_group("nodes-a")
    await world.place_nodes(a, nodes)
    await echoserver(a, 2, service_type="NodePort", node_port=NODE_PORT)
    both = {"ipBlock": {"cidr": "10.99.0.0/16"}, "securityGroup": {"groupID": lb}}
    ports = [{"protocol": "TCP", "port": NODE_PORT}]
    await a.apply_binding(bound("both", tg.arn, [{"from": [both], "ports": ports}]))
    await a.apply_binding(bound("neither", spare.arn, [{"from": [{}], "ports": ports}]))
    await world.start_daemon(a, env={"LBC_NETWORKING_CACHE_TTL": "1s"})

    # Both: the security group is the source, the CIDR is ignored.
    node_port = ("tcp", NODE_PORT, NODE_PORT, lb)
    await wait_rules(world, nodes, {node_port: frozenset("a")}, what="rule from the group only")
    await wait_targets(world, tg.arn, instances(a), what="targets of the binding with both")
    # Neither: its targets are registered all the same; its networking reports the peer.
    await wait_targets(world, spare.arn, instances(a), what="targets of the binding with neither")

    async def reported() -> bool:
        cond = await condition(a, "neither", "NetworkingReady")
        return cond is not None and cond["status"] == "False"

    await eventually(reported, timeout=20, what="NetworkingReady=False on the empty peer")
    cond = await condition(a, "neither", "NetworkingReady")
    assert cond is not None
    assert "neither ipBlock nor securityGroup" in cond["message"]

    async def both_ready() -> bool:
        # Written after its registrations, so not necessarily there yet when they are.
        ready = await condition(a, "both", "Ready")
        return ready is not None and ready["status"] == "True"

    await eventually(both_ready, timeout=20, what="Ready=True on the binding with both")

    async def warned() -> bool:
        reasons = await warning_reasons(a)
        return {"NetworkingPeerAmbiguous", "NetworkingPeerEmpty"} <= reasons

    await eventually(warned, timeout=20, what="a Warning naming each peer")
