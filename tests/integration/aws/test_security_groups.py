"""The networking controller and its EC2 adapter against the lab's EC2 (moto over HTTP).

Each test builds security groups and instances through EC2 calls, feeds the controller bindings
and desired targets directly (as the binding reconciler does; its part is covered end to end in
tests/e2e/test_networking.py), runs the group keys this queued until none is left (as its
workers would), and checks the rules EC2 ends up holding.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from lbc.aws.securitygroups import SecurityGroups
from lbc.control.entry import BindingEntry, binding_entry
from lbc.control.networking import NetworkingController
from lbc.core.desired import DesiredSet, DesiredTarget, Resolution
from lbc.core.networking import LIMIT, SHARED_DESCRIPTION
from lbc.core.objects import NodeView, PodView
from lbc.core.targets import Target
from lbc.kube.events import EventType, ObjectRef
from lbc.kube.informer import Store

from tests.integration.aws.conftest import Adapter, metric, metric_sum

MISSING_GROUP = "sg-0123456789abcdef0"


@dataclass
class Events:
    seen: list[tuple[str, str, str, str]] = field(default_factory=list)

    async def emit(self, ref: ObjectRef, type_: EventType, reason: str, message: str) -> None:
        self.seen.append((ref.name, type_, reason, message))


@dataclass
class Cluster:
    """One cluster's networking controller, with the stores and desired targets it reads.

    ``woken`` lists the bindings the controller woke (their outcome changed), ``passes`` the
    group keys reconciled.
    """

    name: str
    manager: NetworkingController
    bindings: Store[BindingEntry]
    nodes: Store[NodeView]
    desired: dict[str, DesiredSet]
    events: Events
    woken: list[str]
    passes: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)
    node_id: str | None = None  # the instance of node n1, when it has one

    def add_node(self, name: str, instance_id: str) -> None:
        self.nodes.put(name, NodeView(name, {}, f"aws:///us-east-1a/{instance_id}", "True", 0))

    def bind(self, name: str, source: str, *ports: int | None) -> BindingEntry:
        """Binding ``name`` letting ``source`` reach ``ports``, for targets on node n1 (port 80)."""
        assert self.node_id is not None, "the cluster was made without a node"
        return self.put(name, from_group(source, *ports), [(self.node_id, 80, "n1")])

    def put(
        self,
        name: str,
        ingress: list[dict[str, Any]],
        targets: Iterable[tuple[str, int, str]],
        *,
        deleting: bool = False,
        pods: dict[str, str] | None = None,
        branch: dict[str, str] | None = None,
        named: tuple[tuple[str, int, str], ...] = (),
    ) -> BindingEntry:
        """Binding ``name`` with ``ingress``; targets are (id, port, node name).

        ``pods`` names the pod of each target (ip targets), ``branch`` its branch ENI id and
        ``named`` the named container ports every pod declares.
        """
        meta: dict[str, Any] = {"name": name, "namespace": "echoserver", "uid": f"uid-{name}"}
        if deleting:
            meta |= {"deletionTimestamp": "2026-11-24T00:00:00Z", "finalizers": ["x"]}
        entry = binding_entry(
            {
                "metadata": meta,
                "spec": {
                    "serviceRef": {"name": "echoserver", "port": 80},
                    "targetGroupARN": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/1",
                    "targetType": "ip" if pods else "instance",
                    "networking": {"ingress": ingress},
                },
            }
        )
        assert entry.binding is not None, entry.error
        found: dict[Target, DesiredTarget] = {}
        for tid, port, node in targets:
            pod = None
            if pods is not None:
                eni = (branch[tid],) if branch and tid in branch else ()
                pod = PodView(
                    "echoserver",
                    pods[tid],
                    "u",
                    tid,
                    node,
                    0,
                    (),
                    True,
                    branch_enis=eni,
                    named_ports=named,
                )
            found[Target(tid, port)] = DesiredTarget(Target(tid, port), 0, node, pod)
        self.desired[entry.key] = DesiredSet(Resolution.RESOLVED, found)
        self.bindings.put(entry.key, entry)
        return entry

    async def reconcile(self, entry: BindingEntry) -> bool:
        """The binding reconciler's part, then the groups' passes it caused.

        True when the binding's NetworkingReady condition must be written.
        """
        await self.manager.observe(entry, self.desired[entry.key], changed=True)
        await self.drain()
        return not self.manager.status_current(entry.key)

    async def reconcile_all(self, *entries: BindingEntry) -> None:
        """:meth:`reconcile` of each entry, in order."""
        for entry in entries:
            await self.reconcile(entry)

    async def drain(self) -> None:
        """Reconcile queued groups until none is left.

        A retry a pass asks for is not waited for: it comes due at the next drain, as if its
        delay passed between two reconciles of the test.
        """
        queue = self.manager.queue
        for gid in self.retries:
            queue.add(gid)
        self.retries.clear()
        while len(queue):
            gid = await queue.get()
            try:
                self.passes.append(gid)
                result = await self.manager.reconcile(gid)
            finally:
                queue.done(gid)
            if result is not None and result.requeue_after is not None:
                self.retries.append(gid)

    def state(self, entry: BindingEntry) -> Any:
        return self.manager.condition(entry.key)


def cluster(
    adapter: Adapter,
    name: str,
    *,
    node: str | None = None,
    ttl: float = 300.0,
    pass_timeout: float = 30.0,
) -> Cluster:
    """One cluster's networking controller on ``adapter``; ``node``: instance of its node n1."""
    groups = SecurityGroups(adapter.ec2, adapter.calls, ttl=ttl)
    bindings: Store[BindingEntry] = Store()
    nodes: Store[NodeView] = Store()
    desired: dict[str, DesiredSet] = {}
    events = Events()
    woken: list[str] = []
    manager = NetworkingController(
        groups=groups,
        bindings=bindings,
        nodes=nodes,
        cluster_name=name,
        extra_tags={},
        events=events,
        wake_binding=woken.append,
        requeue_period=1.0,
        concurrency=1,
        backoff_base=0.005,
        backoff_max=1.0,
        pass_timeout=pass_timeout,
    )
    made = Cluster(name, manager, bindings, nodes, desired, events, woken)
    if node is not None:
        made.add_node("n1", node)
        made.node_id = node
    return made


async def opened(adapter: Adapter, node: str, source: str) -> set[tuple[int, int]]:
    """The port ranges ``node``'s group opens to ``source``."""
    return ports(await inbound(adapter, node), source)


@pytest.fixture
def a(adapter: Adapter, seed: tuple[str, str, str]) -> Cluster:
    """Cluster a's networking controller, its node n1 the seed's instance."""
    return cluster(adapter, "a", node=seed[2])


def from_group(group: str, *ports: int | None) -> list[dict[str, Any]]:
    listed = [{"protocol": "TCP", "port": p} if p is not None else {} for p in ports]
    return [{"from": [{"securityGroup": {"groupID": group}}], "ports": listed}]


async def make_group(adapter: Adapter, name: str, tags: dict[str, str] | None = None) -> str:
    made = await adapter.ec2.create_security_group(
        GroupName=name, Description=name, VpcId=adapter.network.vpc_id
    )
    gid: str = made["GroupId"]
    if tags:
        await adapter.ec2.create_tags(
            Resources=[gid], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )
    return gid


async def make_instance(adapter: Adapter, *groups: str) -> tuple[str, str, str]:
    made = await adapter.ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        SubnetId=adapter.network.subnets[0].subnet_id,
        SecurityGroupIds=list(groups),
    )
    inst = made["Instances"][0]
    eni = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
    return inst["InstanceId"], inst["PrivateIpAddress"], eni


@dataclass(frozen=True)
class Seen:
    protocol: str
    from_port: int
    to_port: int
    source: str
    description: str
    clusters: frozenset[str]


async def inbound(adapter: Adapter, group: str) -> list[Seen]:
    """The group's inbound rules as EC2 holds them (descriptions from DescribeSecurityGroups)."""
    groups = await adapter.ec2.describe_security_groups(GroupIds=[group])
    described: dict[tuple[str, int, int, str], str] = {}
    for perm in groups["SecurityGroups"][0]["IpPermissions"]:
        key = (perm["IpProtocol"], perm.get("FromPort", 0), perm.get("ToPort", 65535))
        for pair in perm.get("UserIdGroupPairs", []):
            described[(*key, pair["GroupId"])] = pair.get("Description", "")
        for block in perm.get("IpRanges", []):
            described[(*key, block["CidrIp"])] = block.get("Description", "")
    rules = await adapter.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group]}]
    )
    out = []
    for r in rules["SecurityGroupRules"]:
        if r["IsEgress"]:
            continue
        source = r.get("CidrIpv4") or r.get("ReferencedGroupInfo", {}).get("GroupId", "")
        key = (r["IpProtocol"], r["FromPort"], r["ToPort"], source)
        tags = {t["Key"] for t in r.get("Tags", [])}
        clusters = frozenset(t.rsplit("/", 1)[1] for t in tags if t.startswith("elbv2.k8s.aws/"))
        out.append(Seen(*key, described.get(key, ""), clusters))
    return out


async def grant_by_hand(
    adapter: Adapter, group: str, ports: Iterable[int], **source: list[dict[str, str]]
) -> None:
    """Rules someone else made: one TCP rule per port into ``group`` from ``source``."""
    await adapter.ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": p, "ToPort": p, **source} for p in ports],
    )


def ports(rules: list[Seen], source: str) -> set[tuple[int, int]]:
    return {(r.from_port, r.to_port) for r in rules if r.source == source}


@pytest.fixture
async def seed(adapter: Adapter) -> tuple[str, str, str]:
    """A load balancer group, a node group and one instance in it: (lb, node group, instance)."""
    lb = await make_group(adapter, "lb")
    node = await make_group(adapter, "nodes")
    iid, _ip, _eni = await make_instance(adapter, node)
    return lb, node, iid


async def test_instance_rule_lands_on_the_node_primary_group_marked_for_its_cluster(
    adapter: Adapter, seed: tuple[str, str, str], a: Cluster
) -> None:
    lb, node, iid = seed
    entry = a.put("tgb", from_group(lb, 32197), [(iid, 32197, "n1")])
    granted = metric("lbc_security_group_rules_granted_total")
    await a.reconcile(entry)
    rules = await inbound(adapter, node)
    assert [(r.source, r.from_port, r.description, r.clusters) for r in rules] == [
        (lb, 32197, SHARED_DESCRIPTION, frozenset({"a"}))
    ]
    assert metric("lbc_security_group_rules_granted_total") == granted + 1
    assert a.state(entry).ready
    assert a.events.seen == []


async def test_two_clusters_sharing_a_node_group_never_revoke_each_others_rules(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, node, iid = seed
    iid_b, _, _ = await make_instance(adapter, node)
    a, b = cluster(adapter, "a"), cluster(adapter, "b")
    a.add_node("n1", iid)
    b.add_node("m1", iid_b)
    ea = a.put("tgb-a", from_group(lb, 32197, 30001), [(iid, 32197, "n1")])
    eb = b.put("tgb-b", from_group(lb, 32197, 30002), [(iid_b, 32197, "m1")])
    await a.reconcile(ea)
    await b.reconcile(eb)
    rules = {(r.from_port, r.clusters) for r in await inbound(adapter, node)}
    assert rules == {(32197, frozenset("ab")), (30001, frozenset("a")), (30002, frozenset("b"))}

    # a deletes its binding: the shared rule stays (b still wants it), a's own goes.
    revoked = metric("lbc_security_group_rules_revoked_total")
    await a.reconcile(a.put("tgb-a", from_group(lb, 32197, 30001), [], deleting=True))
    rules = {(r.from_port, r.clusters) for r in await inbound(adapter, node)}
    assert rules == {(32197, frozenset("b")), (30002, frozenset("b"))}
    assert metric("lbc_security_group_rules_revoked_total") == revoked + 1

    # b churns its own binding (a new port, one dropped): nothing of a's is involved any more,
    # and a rule a still wanted would have survived b's revokes because of a's tag.
    await b.reconcile(b.put("tgb-b", from_group(lb, 32197, 30003), [(iid_b, 32197, "m1")]))
    assert {r.from_port for r in await inbound(adapter, node)} == {32197, 30003}


async def test_nonexistent_source_group_fails_only_its_own_binding(
    adapter: Adapter, seed: tuple[str, str, str], a: Cluster
) -> None:
    lb, node, _ = seed
    bad = a.bind("bad", MISSING_GROUP, 1000)
    good = a.bind("good", lb, 2000)
    await a.reconcile_all(bad, good)
    assert await opened(adapter, node, lb) == {(2000, 2000)}
    bad_state, good_state = a.state(bad), a.state(good)
    assert not bad_state.ready
    assert MISSING_GROUP in bad_state.message
    assert good_state.ready
    assert [(n, t, r) for n, t, r, _ in a.events.seen] == [
        ("bad", "Warning", "FailedNetworkReconcile")
    ]
    # Only the failing binding's status is stale (nothing was written: a ready outcome is
    # taken as written); the group's retry is the controller's own (its key, not the binding's).
    assert set(a.woken) == {"echoserver/bad"}
    assert a.manager.retry_after(bad.key) is None


async def test_empty_ports_open_all_tcp_and_normalised_cidrs_are_not_granted_again(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, node, iid = seed
    a = cluster(adapter, "a", node=iid, ttl=0.001)  # every pass reads EC2 again
    ingress = [
        {"from": [{"securityGroup": {"groupID": lb}}], "ports": []},
        {"from": [{"ipBlock": {"cidr": "10.1.2.3/16"}}], "ports": [{"port": 8443}]},
    ]
    entry = a.put("tgb", ingress, [(iid, 80, "n1")])
    await a.reconcile(entry)
    rules = await inbound(adapter, node)
    assert ports(rules, lb) == {(0, 65535)}
    assert ports(rules, "10.1.0.0/16") == {(8443, 8443)}
    granted = metric("lbc_security_group_rules_granted_total")
    for _ in range(3):
        await a.reconcile(entry)
    assert metric("lbc_security_group_rules_granted_total") == granted
    assert len(await inbound(adapter, node)) == 2


async def test_restart_revokes_a_rule_no_binding_wants_before_any_binding_is_reconciled_twice(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, node, iid = seed
    before = cluster(adapter, "a", node=iid)
    x = before.bind("x", lb, 30001)
    y = before.bind("y", lb, 30002)
    await before.reconcile_all(x, y)
    assert await opened(adapter, node, lb) == {(30001, 30001), (30002, 30002)}

    # A new process; x's networking changed while it was down. Only y is reconciled so far:
    # x's wishes are not known, but its spec says what it could want (30003), so x's old rule
    # is revocable at once; x's own first pass brings its new rule.
    after = cluster(adapter, "a", node=iid)
    x = after.bind("x", lb, 30003)
    y = after.bind("y", lb, 30002)
    await after.reconcile(y)
    assert await opened(adapter, node, lb) == {(30002, 30002)}
    await after.reconcile(x)
    assert await opened(adapter, node, lb) == {(30002, 30002), (30003, 30003)}


async def test_binding_of_unknown_wishes_keeps_its_rules_while_others_are_cleaned(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, node, iid = seed
    before = cluster(adapter, "a", node=iid)
    for name, port in (("x", 30001), ("gone", 30009)):
        await before.reconcile(before.put(name, from_group(lb, port), [(iid, 80, "n1")]))

    after = cluster(adapter, "a", node=iid)
    # x's node is not known to EC2 any more: its wishes cannot be computed.
    after.add_node("lost", "i-0ffffffffffffffff")
    x = after.put("x", from_group(lb, 30001), [("i-0ffffffffffffffff", 80, "lost")])
    y = after.bind("y", lb, 30002)
    await after.reconcile_all(y, x)
    assert await opened(adapter, node, lb) == {(30001, 30001), (30002, 30002)}
    assert not after.state(x).ready
    assert "i-0ffffffffffffffff" in after.state(x).message


async def test_reference_rule_is_adopted_then_revoked_when_no_longer_wanted(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, node, iid = seed
    await grant_by_hand(
        adapter,
        node,
        (32197, 31000),
        UserIdGroupPairs=[{"GroupId": lb, "Description": SHARED_DESCRIPTION}],
    )
    a = cluster(adapter, "a", node=iid)
    entry = a.bind("tgb", lb, 32197)
    await a.reconcile(entry)
    rules = {(r.from_port, r.clusters) for r in await inbound(adapter, node)}
    # Adopted, not duplicated; the legacy rule nobody here wants is left to its maker.
    assert rules == {(32197, frozenset("a")), (31000, frozenset())}
    await a.reconcile(a.put("tgb", from_group(lb, 32197), [], deleting=True))
    assert {(r.from_port, r.clusters) for r in await inbound(adapter, node)} == {
        (31000, frozenset())
    }


async def test_pod_rules_land_on_the_group_of_the_eni_holding_the_pod_address(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, node, _ = seed
    pods_group = await make_group(adapter, "pods", {"kubernetes.io/cluster/a": "owned"})
    iid, _ip, _eni = await make_instance(adapter, node)
    # A secondary ENI (as the VPC CNI attaches) with two groups; the cluster tag picks one.
    made = await adapter.ec2.create_network_interface(
        SubnetId=adapter.network.subnets[0].subnet_id,
        Groups=[pods_group, lb],
        PrivateIpAddresses=[
            {"PrivateIpAddress": "10.0.8.9", "Primary": True},
            {"PrivateIpAddress": "10.0.8.10", "Primary": False},
        ],
    )
    await adapter.ec2.attach_network_interface(
        NetworkInterfaceId=made["NetworkInterface"]["NetworkInterfaceId"],
        InstanceId=iid,
        DeviceIndex=1,
    )
    a = cluster(adapter, "a", node=iid)
    entry = a.put("tgb", from_group(lb, 8080), [("10.0.8.10", 8080, "n1")], pods={"10.0.8.10": "p"})
    await a.reconcile(entry)
    assert ports(await inbound(adapter, pods_group), lb) == {(8080, 8080)}
    assert await inbound(adapter, node) == []
    assert a.state(entry).ready


async def make_branch_eni(adapter: Adapter, group: str, address: str) -> str:
    """A branch ENI as the VPC resource controller makes one for a pod: unattached, own group."""
    made = await adapter.ec2.create_network_interface(
        SubnetId=adapter.network.subnets[0].subnet_id, Groups=[group], PrivateIpAddress=address
    )
    eni: str = made["NetworkInterface"]["NetworkInterfaceId"]
    return eni


async def node_and_branch(
    adapter: Adapter, node: str, address: str
) -> tuple[str, str, str, Cluster]:
    """An instance in ``node`` and a branch ENI at ``address`` in a pod group of its own, with
    cluster a on that instance: (the node's address, the pod group, the branch ENI, a)."""
    iid, node_ip, _eni = await make_instance(adapter, node)
    pod_group = await make_group(adapter, "pod-sg")
    eni = await make_branch_eni(adapter, pod_group, address)
    return node_ip, pod_group, eni, cluster(adapter, "a", node=iid)


async def test_pod_on_a_branch_eni_gets_the_rule_on_its_own_group_not_the_nodes(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, node, _ = seed
    node_ip, pod_group, eni, a = await node_and_branch(adapter, node, "10.0.8.21")
    calls = metric_sum("lbc_aws_api_calls_total", operation="DescribeNetworkInterfaces")
    # Same binding: one pod on a branch ENI, one host-network pod on the node's own address.
    entry = a.put(
        "tgb",
        from_group(lb, 8080),
        [("10.0.8.21", 8080, "n1"), (node_ip, 9090, "n1")],
        pods={"10.0.8.21": "branch-pod", node_ip: "host-pod"},
        branch={"10.0.8.21": eni},
    )
    await a.reconcile(entry)
    assert ports(await inbound(adapter, pod_group), lb) == {(8080, 8080)}
    assert await opened(adapter, node, lb) == {(8080, 8080)}
    assert a.state(entry).ready
    # The host-network pod goes: the node group's rule goes with it, the branch group keeps its.
    entry = a.put(
        "tgb",
        from_group(lb, 8080),
        [("10.0.8.21", 8080, "n1")],
        pods={"10.0.8.21": "branch-pod"},
        branch={"10.0.8.21": eni},
    )
    await a.reconcile(entry)
    assert ports(await inbound(adapter, pod_group), lb) == {(8080, 8080)}
    assert await opened(adapter, node, lb) == set()
    # Branch ENIs are cached like instances: two passes, one describe.
    after = metric_sum("lbc_aws_api_calls_total", operation="DescribeNetworkInterfaces")
    assert after == calls + 1


async def test_unknown_branch_eni_is_reported_and_never_replaced_by_the_node_eni(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, node, _ = seed
    node_ip, pod_group, known, a = await node_and_branch(adapter, node, "10.0.8.22")
    # The pod's address is the node's: a fallback to the node ENI would find it.
    entry = a.put(
        "tgb",
        from_group(lb, 8080),
        [(node_ip, 8080, "n1"), ("10.0.8.22", 8080, "n1")],
        pods={node_ip: "gone-eni-pod", "10.0.8.22": "ok-pod"},
        branch={node_ip: "eni-0123456789abcdef0", "10.0.8.22": known},
    )
    await a.reconcile(entry)
    state = a.state(entry)
    assert not state.ready
    assert "eni-0123456789abcdef0 not found" in state.message
    assert await inbound(adapter, node) == []
    # The one unknown id does not hide the known ENI of the same describe call.
    assert ports(await inbound(adapter, pod_group), lb) == {(8080, 8080)}


async def test_named_port_resolves_from_each_pods_container_ports(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, node, _ = seed
    pod_group = await make_group(adapter, "pod-sg")
    eni = await make_branch_eni(adapter, pod_group, "10.0.8.23")
    a = cluster(adapter, "a")
    ingress = [{"from": [{"securityGroup": {"groupID": lb}}], "ports": [{"port": "http"}]}]

    def on_branch(named: tuple[tuple[str, int, str], ...]) -> BindingEntry:
        """The binding of pod p on the branch ENI, its container ports being ``named``."""
        return a.put(
            "tgb",
            ingress,
            [("10.0.8.23", 8080, "n1")],
            pods={"10.0.8.23": "p"},
            branch={"10.0.8.23": eni},
            named=named,
        )

    entry = on_branch((("metrics", 9100, "TCP"), ("http", 8080, "TCP")))
    await a.reconcile(entry)
    assert ports(await inbound(adapter, pod_group), lb) == {(8080, 8080)}
    assert a.state(entry).ready
    # A rollout renames the port away: reported, and the rule is protected, not revoked.
    entry = on_branch((("web", 8081, "TCP"),))
    await a.reconcile(entry)
    state = a.state(entry)
    assert not state.ready
    assert "no container port named 'http'" in state.message
    assert ports(await inbound(adapter, pod_group), lb) == {(8080, 8080)}
    # The port comes back under its name with a new number: the rule follows it.
    entry = on_branch((("http", 8081, "TCP"),))
    await a.reconcile(entry)
    assert ports(await inbound(adapter, pod_group), lb) == {(8081, 8081)}
    assert a.state(entry).ready
    assert await inbound(adapter, node) == []


async def test_rule_limit_is_reported_with_the_group_and_its_count(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, node, iid = seed
    await grant_by_hand(adapter, node, range(1, 56), IpRanges=[{"CidrIp": "10.9.0.0/16"}])
    a = cluster(adapter, "a", node=iid)
    entry = a.put("tgb", from_group(lb, *range(40000, 40008)), [(iid, 80, "n1")])
    await a.reconcile(entry)
    state = a.state(entry)
    assert not state.ready
    assert state.reason == LIMIT
    assert node in state.message
    # The count is what EC2 holds when the refusal is reported (moto may have added part of
    # the batch before refusing; EC2 adds none).
    assert f"holds {len(await inbound(adapter, node))} inbound rules" in state.message
    assert a.events.seen[0][:3] == ("tgb", "Warning", "FailedNetworkReconcile")


async def test_removing_networking_revokes_and_bindings_without_it_cost_no_call_after_the_sweep(
    adapter: Adapter, seed: tuple[str, str, str], a: Cluster
) -> None:
    lb, node, _ = seed
    await a.reconcile(a.bind("tgb", lb, 30001))
    assert await opened(adapter, node, lb) == {(30001, 30001)}

    # The same binding without networking: its wish goes, and its rule with it.
    plain = binding_entry(
        {
            "metadata": {"name": "tgb", "namespace": "echoserver", "uid": "uid-tgb"},
            "spec": {
                "serviceRef": {"name": "echoserver", "port": 80},
                "targetGroupARN": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/1",
                "targetType": "instance",
            },
        }
    )
    a.bindings.put(plain.key, plain)
    assert await a.reconcile(plain) is False
    assert await inbound(adapter, node) == []
    assert a.manager.condition(plain.key) is None

    calls = metric_sum("lbc_aws_api_calls_total", service="ec2")
    for _ in range(3):
        await a.reconcile(plain)
    assert metric_sum("lbc_aws_api_calls_total", service="ec2") == calls


async def test_networking_without_a_cluster_name_is_reported_and_touches_nothing(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, node, iid = seed
    a = cluster(adapter, "", node=iid)
    entry = a.bind("tgb", lb, 30001)
    assert await a.reconcile(entry) is True
    assert "LBC_CLUSTER_NAME" in a.state(entry).message
    assert a.manager.retry_after(entry.key) == 1.0
    assert await inbound(adapter, node) == []


async def test_binding_turned_invalid_keeps_its_rules(
    adapter: Adapter, seed: tuple[str, str, str], a: Cluster
) -> None:
    lb, node, _ = seed
    await a.reconcile(a.bind("x", lb, 30001))
    broken = binding_entry(
        {"metadata": {"name": "x", "namespace": "echoserver"}, "spec": {"networking": {}}}
    )
    assert broken.binding is None
    a.bindings.put(broken.key, broken)
    await a.reconcile(a.bind("y", lb, 30002))
    assert await opened(adapter, node, lb) == {(30001, 30001), (30002, 30002)}
    # x deleted: the binding reconciler forgets it, and its rule goes.
    a.bindings.remove(broken.key)
    a.manager.forget(broken.key)
    await a.reconcile(a.bind("y", lb, 30002))
    assert await opened(adapter, node, lb) == {(30002, 30002)}


async def test_slow_ec2_fails_the_pass_in_time_and_the_next_pass_converges(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, node, iid = seed
    a = cluster(adapter, "a", node=iid, pass_timeout=0.5)
    entry = a.bind("tgb", lb, 30001)
    adapter.lab.control.delay("DescribeSecurityGroups", latency_ms=3000)
    mark = adapter.lab.control.last_seq()
    assert await a.reconcile(entry) is True
    # The pass gave up at its deadline: the lab, 3 s late, has answered none of its calls yet.
    assert adapter.lab.control.calls("DescribeSecurityGroups", since=mark) == []
    assert "did not finish within 0.5s" in a.state(entry).message
    assert a.woken == [entry.key]

    adapter.lab.control.clear_faults()
    await a.reconcile(entry)
    assert a.state(entry).ready
    assert await opened(adapter, node, lb) == {(30001, 30001)}


async def test_restart_finds_and_cleans_an_untagged_group_no_binding_uses_any_more(
    adapter: Adapter, seed: tuple[str, str, str]
) -> None:
    lb, old_group, old_iid = seed
    before = cluster(adapter, "a")
    before.add_node("old", old_iid)
    await before.reconcile(before.put("x", from_group(lb, 30001), [(old_iid, 80, "old")]))
    foreign = cluster(adapter, "b")
    foreign.add_node("old", old_iid)
    await foreign.reconcile(foreign.put("z", from_group(lb, 30009), [(old_iid, 80, "old")]))
    assert ports(await inbound(adapter, old_group), lb) == {(30001, 30001), (30009, 30009)}

    # After a restart x is gone (deleted while lbc was down) and the only binding left uses
    # another group: the old group carries no cluster tag, yet this cluster's rule is found.
    new_group = await make_group(adapter, "new-nodes")
    new_iid, _, _ = await make_instance(adapter, new_group)
    after = cluster(adapter, "a")
    after.add_node("new", new_iid)
    await after.reconcile(after.put("y", from_group(lb, 30002), [(new_iid, 80, "new")]))
    assert ports(await inbound(adapter, old_group), lb) == {(30009, 30009)}
    assert ports(await inbound(adapter, new_group), lb) == {(30002, 30002)}
