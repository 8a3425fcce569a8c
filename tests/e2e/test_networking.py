"""spec.networking end to end: lbc daemons on lab clusters, rules on the lab's EC2 groups.

The seed bindings name the load balancer's group ``sg-06a2bd7d790ac1d2e``; here a real group is
created in the lab's VPC and its id substituted, as the demo substitutes the ARN. Each
cluster's nodes are put in a node security group through EC2 (their primary ENI's group is
what instance targets use).
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from lbc_lab.scenario import EXAMPLES, TGB_PATH, Cluster, World, eventually, load_yaml
from tests.e2e.conftest import (
    APP,
    NS,
    binding,
    echoserver,
    pod_targets,
    wait_binding_gone,
    wait_equal,
    wait_targets,
    warning_reasons,
    watching,
)

pytestmark = pytest.mark.timeout(150)

NODE_PORT = 32197
SEED_GROUP = "sg-06a2bd7d790ac1d2e"
MISSING_GROUP = "sg-0123456789abcdef0"
FAST = {"LBC_NETWORKING_CACHE_TTL": "1s"}

Rule = tuple[str, int, int, str]


def seed(name: str, arn: str, world: World, lb: str) -> dict[str, Any]:
    """A seed binding with the lab's target group ARN and load balancer group."""
    obj = load_yaml(EXAMPLES / name)
    obj["spec"]["targetGroupARN"] = arn
    obj["spec"]["vpcID"] = world.net.vpc_id
    for rule in obj["spec"]["networking"]["ingress"]:
        for peer in rule["from"]:
            if peer.get("securityGroup", {}).get("groupID") == SEED_GROUP:
                peer["securityGroup"]["groupID"] = lb
    return obj


def bound(name: str, arn: str, ingress: list[dict[str, Any]]) -> dict[str, Any]:
    return binding(name, arn, target_type="instance", networking={"ingress": ingress})


def from_group(group: str, *ports: int) -> list[dict[str, Any]]:
    return [
        {
            "from": [{"securityGroup": {"groupID": group}}],
            "ports": [{"protocol": "TCP", "port": p} for p in ports],
        }
    ]


async def rules(world: World, gid: str) -> dict[Rule, frozenset[str]]:
    """Inbound rules of ``gid`` and the clusters tagged as wanting each."""
    found = await world.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [gid]}]
    )
    out: dict[Rule, frozenset[str]] = {}
    for r in found["SecurityGroupRules"]:
        if r["IsEgress"]:
            continue
        source = r.get("CidrIpv4") or r.get("ReferencedGroupInfo", {}).get("GroupId", "")
        tags = {t["Key"] for t in r.get("Tags", [])}
        out[(r["IpProtocol"], r["FromPort"], r["ToPort"], source)] = frozenset(
            t.rsplit("/", 1)[1] for t in tags if t.startswith("elbv2.k8s.aws/cluster/")
        )
    return out


async def wait_rules(
    world: World, gid: str, expected: dict[Rule, frozenset[str]], *, what: str, timeout: float = 30
) -> None:
    await wait_equal(
        world,
        lambda: rules(world, gid),
        expected,
        what=what,
        timeout=timeout,
        report=lambda last: f"expected {expected}, found {last}",
    )


async def node_port_cluster(world: World) -> tuple[str, str, Cluster]:
    """A load balancer's group, cluster a of two nodes in a group of their own, and the
    echoserver on NodePort 32197 there: (lb group, node group, cluster)."""
    lb = await world.security_group("lb")
    nodes = await world.security_group("nodes")
    a = await world.add_cluster("a", nodes=2, pod_cidr="10.0.8.0/22")
    await world.place_nodes(a, nodes)
    await echoserver(a, 2, service_type="NodePort", node_port=NODE_PORT)
    return lb, nodes, a


async def gone(cluster: Cluster, name: str) -> None:
    await wait_binding_gone(cluster, name, what=f"binding {name} deleted", timeout=30)


def instances(cluster: Cluster) -> set[str]:
    return {f"{i.instance_id}:{NODE_PORT}" for i in cluster.instances.values()}


async def condition(cluster: Cluster, name: str, kind: str) -> dict[str, Any] | None:
    found = await cluster.get_binding(NS, name)
    for cond in ((found or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def rule_watch(world: World, gid: str, rule: Rule) -> AbstractAsyncContextManager[list[str]]:
    """Records every poll at which ``rule`` was missing from ``gid``."""

    async def probe() -> list[str]:
        return [] if rule in await rules(world, gid) else [f"{rule} missing"]

    return watching(probe)


async def test_seed_bindings_open_the_node_port_and_deletion_keeps_what_others_want(
    world: World,
) -> None:
    tg = await world.target_group("echoserver", target_type="instance")
    spare = await world.target_group("spare", target_type="instance")
    lb = await world.security_group("lb")
    a = await world.add_cluster("a", nodes=2, pod_cidr="10.0.8.0/22")
    b = await world.add_cluster("b", nodes=2, pod_cidr="10.0.12.0/22")
    ga, gb = await world.security_group("nodes-a"), await world.security_group("nodes-b")
    await world.place_nodes(a, ga)
    await world.place_nodes(b, gb)
    for cluster in (a, b):
        await echoserver(cluster, 2, service_type="NodePort", node_port=NODE_PORT)
    seed_a = seed("tgb-cluster-a.yaml", tg.arn, world, lb)
    await a.apply_binding(seed_a)
    await b.apply_binding(seed("tgb-cluster-b.yaml", tg.arn, world, lb))
    # A second binding in cluster a wants the same rule (another target group).
    await a.apply_binding(bound("second", spare.arn, from_group(lb, NODE_PORT)))
    await world.start_daemon(a, env=FAST)
    await world.start_daemon(b, env=FAST)

    node_port = ("tcp", NODE_PORT, NODE_PORT, lb)
    await wait_rules(world, ga, {node_port: frozenset("a")}, what="cluster a's node group")
    await wait_rules(world, gb, {node_port: frozenset("b")}, what="cluster b's node group")
    await wait_targets(world, tg.arn, instances(a) | instances(b), what="both clusters' nodes")

    async def networking_ready() -> bool:
        cond = await condition(a, seed_a["metadata"]["name"], "NetworkingReady")
        return cond is not None and cond.get("status") == "True"

    await eventually(networking_ready, timeout=15, what="NetworkingReady=True written")

    async with rule_watch(world, ga, node_port) as missing:
        await a.delete_binding(NS, seed_a["metadata"]["name"])
        await gone(a, seed_a["metadata"]["name"])
        await wait_targets(world, tg.arn, instances(b), what="cluster a's targets deregistered")
    assert missing == [], "a rule another binding wants was revoked"
    assert await rules(world, gb) == {node_port: frozenset("b")}

    await a.delete_binding(NS, "second")
    await wait_rules(world, ga, {}, what="rule revoked once no binding wants it")
    assert await rules(world, gb) == {node_port: frozenset("b")}


async def test_clusters_sharing_a_node_group_keep_each_others_rules_through_churn_and_deletion(
    world: World,
) -> None:
    tg = await world.target_group("echoserver", target_type="instance")
    lb = await world.security_group("lb")
    shared = await world.security_group("shared-nodes")
    a = await world.add_cluster("a", nodes=2, pod_cidr="10.0.8.0/22")
    b = await world.add_cluster("b", nodes=2, pod_cidr="10.0.12.0/22")
    await world.place_nodes(a, shared)
    await world.place_nodes(b, shared)
    for cluster in (a, b):
        await echoserver(cluster, 2, service_type="NodePort", node_port=NODE_PORT)
    seed_a = seed("tgb-cluster-a.yaml", tg.arn, world, lb)
    seed_b = seed("tgb-cluster-b.yaml", tg.arn, world, lb)
    # Each cluster also has a rule of its own on the shared group.
    seed_a["spec"]["networking"]["ingress"][0]["ports"].append({"protocol": "TCP", "port": 30001})
    seed_b["spec"]["networking"]["ingress"][0]["ports"].append({"protocol": "TCP", "port": 30002})
    await a.apply_binding(seed_a)
    await b.apply_binding(seed_b)
    await world.start_daemon(a, env=FAST)
    await world.start_daemon(b, env=FAST)

    node_port = ("tcp", NODE_PORT, NODE_PORT, lb)
    own_a, own_b = ("tcp", 30001, 30001, lb), ("tcp", 30002, 30002, lb)
    await wait_rules(
        world,
        shared,
        {node_port: frozenset("ab"), own_a: frozenset("a"), own_b: frozenset("b")},
        what="one shared rule wanted by both, one of each cluster's own",
    )

    async with (
        rule_watch(world, shared, node_port) as missing_shared,
        rule_watch(world, shared, own_b) as missing_b,
    ):
        # Churn in a: nodes join (into the shared group) and one leaves; a's spec changes.
        joined = await world.add_nodes(a, 2)
        await world.place_nodes(a, shared, joined)
        await a.kube.delete_node(sorted(a.instances)[0])
        found = await a.get_binding(NS, seed_a["metadata"]["name"])
        assert found is not None
        networking = found["spec"]["networking"]
        networking["ingress"][0]["ports"][1]["port"] = 30003
        # A merge patch, as `kubectl patch` sends: the daemon writes the binding's status and
        # checkpoint meanwhile, so a read-modify-PUT would race it for the resourceVersion.
        await a.kube.request(
            "PATCH",
            f"{TGB_PATH.format(ns=NS)}/{seed_a['metadata']['name']}",
            {"spec": {"networking": networking}},
            content_type="application/merge-patch+json",
        )
        own_a3 = ("tcp", 30003, 30003, lb)
        await wait_rules(
            world,
            shared,
            {node_port: frozenset("ab"), own_a3: frozenset("a"), own_b: frozenset("b")},
            what="a's changed rule replaced, b's untouched",
        )
        # a deletes its binding: b's rules stay, a's own goes.
        await a.delete_binding(NS, seed_a["metadata"]["name"])
        await gone(a, seed_a["metadata"]["name"])
        await wait_rules(
            world,
            shared,
            {node_port: frozenset("b"), own_b: frozenset("b")},
            what="only b's interest left after a's deletion",
        )
    assert missing_shared == [], "the rule both clusters wanted went missing"
    assert missing_b == [], "cluster a touched cluster b's rule"

    await b.delete_binding(NS, seed_b["metadata"]["name"])
    await wait_rules(world, shared, {}, what="the last cluster revokes what it alone wanted")


async def test_nonexistent_source_group_fails_only_its_binding(world: World) -> None:
    tg_bad = await world.target_group("bad", target_type="instance")
    tg_good = await world.target_group("good", target_type="instance")
    lb, nodes, a = await node_port_cluster(world)
    await a.apply_binding(bound("bad", tg_bad.arn, from_group(MISSING_GROUP, 1000)))
    await world.start_daemon(a, env=FAST)

    async def failing() -> dict[str, Any] | None:
        cond = await condition(a, "bad", "NetworkingReady")
        return cond if cond is not None and cond.get("status") == "False" else None

    cond = await eventually(failing, timeout=30, what="NetworkingReady=False on the bad binding")
    assert MISSING_GROUP in cond["message"]
    assert "FailedNetworkReconcile" in await warning_reasons(a)
    # Registration is not blocked by the networking failure.
    await wait_targets(world, tg_bad.arn, instances(a), what="bad binding's targets registered")

    async def ready_true() -> bool:
        cond = await condition(a, "bad", "Ready")
        return cond is not None and cond.get("status") == "True"

    await eventually(ready_true, timeout=15, what="Ready=True beside NetworkingReady=False")

    # Another binding's new rule on the same group lands while the bad one keeps failing.
    await a.apply_binding(bound("good", tg_good.arn, from_group(lb, 2000)))
    await wait_rules(world, nodes, {("tcp", 2000, 2000, lb): frozenset("a")}, what="good rule")
    await wait_targets(world, tg_good.arn, instances(a), what="good binding's targets")
    assert (await failing()) is not None


async def test_empty_ports_open_all_tcp_and_a_host_bits_cidr_is_granted_once(
    world: World,
) -> None:
    tg = await world.target_group("web", target_type="instance")
    lb, nodes, a = await node_port_cluster(world)
    ingress = [
        {"from": [{"securityGroup": {"groupID": lb}}], "ports": []},
        {"from": [{"ipBlock": {"cidr": "10.1.2.3/16"}}], "ports": [{"port": 8443}]},
    ]
    await a.apply_binding(bound("web", tg.arn, ingress))
    await world.start_daemon(a, env=FAST)
    await wait_rules(
        world,
        nodes,
        {("tcp", 0, 65535, lb): frozenset("a"), ("tcp", 8443, 8443, "10.1.0.0/16"): frozenset("a")},
        what="all TCP from the load balancer, the CIDR in canonical form",
    )
    control = world.control
    assert control is not None
    since = control.last_seq()
    authorized = control.count("AuthorizeSecurityGroupIngress")

    async def reread() -> bool:
        # Several passes past the 1 s cache: each re-reads the group's rules from EC2.
        world.check_daemons()
        return control.count("DescribeSecurityGroupRules", since=since) >= 4

    # A pod churns to wake the binding's reconciles.
    await a.kube.deploy(NS, "echoserver", 3, container_port=8080)
    await eventually(reread, timeout=30, what="several fresh reads of the group")
    assert control.count("AuthorizeSecurityGroupIngress") == authorized


async def test_restart_with_a_deleted_target_group_revokes_an_unwanted_rule_at_once(
    world: World,
) -> None:
    tg_x = await world.target_group("x", target_type="instance")
    tg_y = await world.target_group("y", target_type="instance")
    lb, nodes, a = await node_port_cluster(world)
    await a.apply_binding(bound("x", tg_x.arn, from_group(lb, 30001)))
    await a.apply_binding(bound("y", tg_y.arn, from_group(lb, 30002)))
    daemon = await world.start_daemon(a, env=FAST)
    x_rule, y_rule = ("tcp", 30001, 30001, lb), ("tcp", 30002, 30002, lb)
    await wait_rules(world, nodes, {x_rule: frozenset("a"), y_rule: frozenset("a")}, what="both")

    daemon.extra["expected_exit"] = True
    await daemon.stop()
    # While lbc is down: x's target group is deleted, and y no longer wants its rule.
    assert tg_x.listener_arn is not None
    await world.elbv2.delete_listener(ListenerArn=tg_x.listener_arn)
    await world.elbv2.delete_target_group(TargetGroupArn=tg_x.arn)
    found = await a.get_binding(NS, "y")
    assert found is not None
    found["spec"]["networking"]["ingress"][0]["ports"] = [{"protocol": "TCP", "port": 30003}]
    await a.kube.request("PUT", f"{TGB_PATH.format(ns=NS)}/y", found)

    await world.start_daemon(a, env={**FAST, "LBC_REQUEUE_PERIOD": "1s"})
    y_new = ("tcp", 30003, 30003, lb)
    await wait_rules(
        world,
        nodes,
        {x_rule: frozenset("a"), y_new: frozenset("a")},
        what="the unwanted rule revoked although x's target group is gone",
        timeout=15,
    )

    async def x_failed() -> bool:
        return "TargetGroupNotFound" in await warning_reasons(a)

    # x really is failing on its target group, and its own rule is still there.
    await eventually(x_failed, timeout=15, what="x reporting its missing target group")
    assert x_rule in await rules(world, nodes)


async def test_named_port_of_pods_on_branch_enis_opens_their_own_group_not_the_nodes(
    world: World,
) -> None:
    tg = await world.target_group("echo-ip", target_type="ip")
    lb = await world.security_group("lb")
    a = await world.add_cluster("a", nodes=2, pod_cidr="10.0.8.0/22")
    node_group = await world.security_group("nodes-a")
    pod_group = await world.security_group("pods-a")
    await world.place_nodes(a, node_group)
    await a.kube.ensure_namespace(NS)
    await a.kube.apply_service(
        NS,
        APP,
        type_="ClusterIP",
        ports=[{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        selector={"app": APP},
    )
    await a.kube.deploy(NS, APP, 2, container_port=8080, port_name="http")
    # Security groups for pods: the VPC resource controller gives each pod a branch ENI in the
    # pod's own group and names it in the pod-eni annotation.
    for pod in a.kube.pod_names(NS, APP):
        ip = a.kube.pod_ip(NS, pod)
        made = await world.ec2.create_network_interface(
            SubnetId=world.net.subnets[0].subnet_id, Groups=[pod_group], PrivateIpAddress=ip
        )
        eni = made["NetworkInterface"]["NetworkInterfaceId"]
        annotation = [{"eniId": eni, "privateIp": ip, "vlanId": 1, "subnetCidr": "10.0.0.0/20"}]
        await a.kube.request(
            "PATCH",
            f"/api/v1/namespaces/{NS}/pods/{pod}",
            {"metadata": {"annotations": {"vpc.amazonaws.com/pod-eni": json.dumps(annotation)}}},
            content_type="application/merge-patch+json",
        )
    ingress = [{"from": [{"securityGroup": {"groupID": lb}}], "ports": [{"port": "http"}]}]
    name = "branch"
    await a.apply_binding(binding(name, tg.arn, networking={"ingress": ingress}))
    await world.start_daemon(a, env=FAST)

    await wait_rules(
        world, pod_group, {("tcp", 8080, 8080, lb): frozenset("a")}, what="the pods' own group"
    )
    await wait_targets(world, tg.arn, pod_targets(a), what="pods registered")

    async def networking_ready() -> bool:
        cond = await condition(a, name, "NetworkingReady")
        return cond is not None and cond.get("status") == "True"

    await eventually(networking_ready, timeout=15, what="NetworkingReady=True written")
    assert await rules(world, node_group) == {}, "the node's group got a pod rule"
