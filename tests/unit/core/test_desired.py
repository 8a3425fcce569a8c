"""Desired targets, one test per rule of SPEC §2 (ip and instance)."""

from __future__ import annotations

import pytest
from lbc.core.checkpoint import endpoints_hash, sha256_b64url
from lbc.core.desired import Resolution, desired, desired_instance, desired_ip, instance_id
from lbc.core.objects import FALSE, UNKNOWN, Taint
from lbc.core.targets import Target

from .factories import (
    binding,
    endpoint,
    endpoint_slice,
    lookup,
    node,
    pod,
    service,
    targets,
)

NODES = {
    "node-a": node("node-a"),
    "node-u": node("node-u", ready=UNKNOWN),
    "node-f": node("node-f", ready=FALSE),
}


SERVICE = service()


def _ip(eps, pods, *, svc=SERVICE, nodes=NODES, **binding_kwargs):
    return desired_ip(binding(**binding_kwargs), svc, eps, lookup(pods), nodes)


# --- ip: backend ---


def test_missing_service_is_backend_not_found() -> None:
    result = _ip([], [], svc=None)
    assert result.resolution is Resolution.BACKEND_NOT_FOUND
    assert result.diagnostics[0].reason == "BackendNotFound"
    assert result.diagnostics[0].warning
    assert not result.targets


def test_service_without_the_numbered_port_is_backend_not_found() -> None:
    assert _ip([], [], port=81).resolution is Resolution.BACKEND_NOT_FOUND


def test_service_without_the_named_port_is_backend_not_found() -> None:
    result = _ip([], [], port="grpc")
    assert result.resolution is Resolution.BACKEND_NOT_FOUND
    assert "'grpc'" in result.diagnostics[0].message


def test_service_port_resolves_by_name() -> None:
    p = pod("p1", "10.0.0.1")
    result = _ip([endpoint_slice([endpoint(p)])], [p], port="http")
    assert result.keys == targets("10.0.0.1:8080")


def test_no_slices_is_an_authoritative_empty_set() -> None:
    result = _ip([], [])
    assert result.resolution is Resolution.RESOLVED
    assert result.keys == frozenset()


# --- ip: slices and ports ---


def test_slice_port_number_is_the_target_port() -> None:
    p = pod("p1", "10.0.0.1")
    result = _ip([endpoint_slice([endpoint(p)], port=9090)], [p])
    assert result.keys == targets("10.0.0.1:9090")


def test_slice_ports_named_otherwise_are_ignored() -> None:
    p = pod("p1", "10.0.0.1")
    result = _ip([endpoint_slice([endpoint(p)], port_name="metrics")], [p])
    assert result.keys == frozenset()


def test_unnamed_service_port_matches_unnamed_slice_port() -> None:
    p = pod("p1", "10.0.0.1")
    result = _ip([endpoint_slice([endpoint(p)], port_name="")], [p], svc=service(port_name=""))
    assert result.keys == targets("10.0.0.1:8080")


def test_slices_of_other_services_are_ignored() -> None:
    p = pod("p1", "10.0.0.1")
    assert _ip([endpoint_slice([endpoint(p)], service_name="db")], [p]).keys == frozenset()


def test_ipv4_binding_ignores_ipv6_slices_and_ipv6_binding_picks_them() -> None:
    p4 = pod("p1", "10.0.0.1")
    p6 = pod("p2", "2600:1f14::5")
    slices = [
        endpoint_slice([endpoint(p4)], name="v4"),
        endpoint_slice([endpoint(p6)], name="v6", address_type="IPv6"),
    ]
    assert _ip(slices, [p4, p6]).keys == targets("10.0.0.1:8080")
    assert _ip(slices, [p4, p6], ipAddressType="ipv6").keys == targets("2600:1f14::5:8080")


def test_same_endpoint_in_two_slices_is_one_target() -> None:
    p = pod("p1", "10.0.0.1")
    slices = [endpoint_slice([endpoint(p)], name="s1"), endpoint_slice([endpoint(p)], name="s2")]
    assert len(_ip(slices, [p]).targets) == 1


# --- ip: which endpoints count ---


@pytest.mark.parametrize(
    ("ready", "containers_ready", "terminating", "node_name", "counts"),
    [
        pytest.param(True, True, False, "node-a", True, id="ready"),
        pytest.param(None, False, None, "node-f", True, id="ready-unset-counts-as-ready"),
        pytest.param(
            False, True, False, "node-a", True, id="not-ready-but-containers-ready-on-ready-node"
        ),
        pytest.param(False, True, None, "node-a", True, id="terminating-unset-is-not-terminating"),
        pytest.param(False, False, False, "node-a", False, id="not-ready-containers-not-ready"),
        pytest.param(False, True, True, "node-a", False, id="not-ready-terminating-on-ready-node"),
        pytest.param(False, True, False, "node-f", False, id="not-ready-on-not-ready-node"),
        pytest.param(False, True, False, "node-gone", False, id="not-ready-on-unknown-node-object"),
    ],
)
def test_endpoint_qualification(ready, containers_ready, terminating, node_name, counts) -> None:
    p = pod("p1", "10.0.0.1", node=node_name, containers_ready=containers_ready)
    other = pod("p2", "10.0.0.2")
    eps = [endpoint(p, ready=ready, terminating=terminating), endpoint(other)]
    result = _ip([endpoint_slice(eps)], [p, other])
    assert (p.ip in {t.id for t in result.keys}) is counts


def test_fail_open_uses_endpoints_on_unknown_nodes_when_nothing_else_qualifies() -> None:
    u = pod("p1", "10.0.0.1", node="node-u")
    f = pod("p2", "10.0.0.2", node="node-f")
    result = _ip([endpoint_slice([endpoint(u, ready=False), endpoint(f, ready=False)])], [u, f])
    assert result.keys == targets("10.0.0.1:8080")
    assert result.fail_open
    assert [d.reason for d in result.diagnostics] == ["FailOpen"]


def test_partition_keeps_terminating_endpoints_on_unknown_nodes_as_fail_open() -> None:
    # LBC (endpoint_resolver.go): a not-ready endpoint whose containers are ready goes by its
    # node; on an Unknown node it is a fail-open candidate whether terminating or not. This is
    # the state after a partition: nodes Unknown, pods marked not ready, then evicted.
    evicted = [pod(f"p{i}", f"10.0.0.{i}", node="node-u") for i in (1, 2)]
    eps = [endpoint(p, ready=False, terminating=True) for p in evicted]
    result = _ip([endpoint_slice(eps)], evicted)
    assert result.keys == targets("10.0.0.1:8080", "10.0.0.2:8080")
    assert result.fail_open
    assert [d.reason for d in result.diagnostics] == ["FailOpen"]


def test_partition_candidates_need_ready_containers() -> None:
    # LBC skips a not-ready endpoint whose pod's ContainersReady is not True before it looks
    # at the node: such a pod was not serving when the partition began.
    p = pod("p1", "10.0.0.1", node="node-u", containers_ready=False)
    result = _ip([endpoint_slice([endpoint(p, ready=False, terminating=True)])], [p])
    assert result.keys == frozenset()
    assert not result.fail_open


def test_terminating_endpoints_stop_counting_once_their_node_is_back() -> None:
    # The partition heals: the node is Ready again and the evicted pods' endpoints are
    # terminating, which LBC does not count on a Ready node.
    p = pod("p1", "10.0.0.1", node="node-a")
    result = _ip([endpoint_slice([endpoint(p, ready=False, terminating=True)])], [p])
    assert result.keys == frozenset()


def test_fail_open_off_uses_no_endpoint_on_unknown_nodes() -> None:
    # LBC with the EndpointsFailOpen feature gate off: no ready pod means no target at all.
    u = pod("p1", "10.0.0.1", node="node-u")
    result = desired_ip(
        binding(),
        SERVICE,
        [endpoint_slice([endpoint(u, ready=False)])],
        lookup([u]),
        NODES,
        fail_open=False,
    )
    assert result.keys == frozenset()
    assert not result.fail_open
    assert [d.reason for d in result.diagnostics] == ["FailOpenDisabled"]


def test_endpoint_listed_in_two_slices_is_hashed_once_per_slice() -> None:
    # LBC appends an endpoint to its list once per slice that lists it and hashes the list, so
    # the checkpoint it left counts the duplicate; matching it avoids a full reconcile.
    p = pod("p1", "10.0.0.1", created_ms=1_234_000)
    q = pod("p2", "10.0.0.2", created_ms=1_235_000)
    slices = [
        endpoint_slice([endpoint(p), endpoint(q)], name="s1"),
        endpoint_slice([endpoint(p)], name="s2"),
    ]
    result = _ip(slices, [p, q])
    assert result.keys == targets("10.0.0.1:8080", "10.0.0.2:8080")
    lbc_hash = sha256_b64url("10.0.0.1:8080:1234000,10.0.0.1:8080:1234000,10.0.0.2:8080:1235000")
    assert result.endpoints_hash() == lbc_hash


def test_fail_open_is_not_used_when_an_endpoint_qualifies() -> None:
    u = pod("p1", "10.0.0.1", node="node-u")
    a = pod("p2", "10.0.0.2")
    result = _ip([endpoint_slice([endpoint(u, ready=False), endpoint(a)])], [u, a])
    assert result.keys == targets("10.0.0.2:8080")
    assert not result.fail_open
    assert not result.diagnostics


def test_endpoint_without_pod_reference_is_skipped() -> None:
    result = _ip([endpoint_slice([endpoint(None, "10.0.0.7")])], [])
    assert result.keys == frozenset()
    assert not result.diagnostics


def test_endpoint_of_unknown_pod_is_skipped_with_a_diagnostic() -> None:
    known = pod("p1", "10.0.0.1")
    ghost = pod("p2", "10.0.0.2")
    result = _ip([endpoint_slice([endpoint(known), endpoint(ghost)])], [known])
    assert result.keys == targets("10.0.0.1:8080")
    (diag,) = result.diagnostics
    assert diag.reason == "EndpointPodUnknown"
    assert not diag.warning
    assert diag.subjects == ("shop/p2",)


def test_desired_ip_target_carries_its_pod_and_creation_time() -> None:
    p = pod("p1", "10.0.0.1", created_ms=1_234_000)
    result = _ip([endpoint_slice([endpoint(p)])], [p])
    (dt,) = result.targets.values()
    assert dt.pod is p
    assert dt.created_ms == 1_234_000
    assert dt.node_name == "node-a"
    assert result.endpoints_hash() == endpoints_hash([("10.0.0.1:8080", 1_234_000)])


# --- instance ---

NODEPORT = service(type="NodePort", node_port=31234)


def _inst(nodes, *, svc=NODEPORT, **binding_kwargs):
    return desired_instance(binding(target_type="instance", **binding_kwargs), svc, nodes)


def test_instance_target_is_instance_id_and_node_port() -> None:
    result = _inst([node("n1", "i-0abc")])
    assert result.keys == targets("i-0abc:31234")
    (dt,) = result.targets.values()
    assert dt.node_name == "n1"
    assert dt.created_ms == 1_600_000_000_000
    assert dt.pod is None


def test_load_balancer_service_is_accepted() -> None:
    result = _inst([node("n1", "i-0abc")], svc=service(type="LoadBalancer", node_port=30001))
    assert result.keys == targets("i-0abc:30001")


@pytest.mark.parametrize("svc_type", ["ClusterIP", "ExternalName"])
def test_instance_binding_on_non_nodeport_service_is_invalid(svc_type: str) -> None:
    result = _inst([node("n1", "i-0abc")], svc=service(type=svc_type))
    assert result.resolution is Resolution.INVALID
    assert result.diagnostics[0].reason == "UnsupportedServiceType"


def test_instance_binding_without_node_port_is_invalid() -> None:
    result = _inst([node("n1", "i-0abc")], svc=service(type="NodePort", node_port=None))
    assert result.resolution is Resolution.INVALID


def test_instance_binding_without_service_is_backend_not_found() -> None:
    assert _inst([], svc=None).resolution is Resolution.BACKEND_NOT_FOUND


@pytest.mark.parametrize(
    "labels",
    [
        {"node-role.kubernetes.io/master": ""},
        {"node.kubernetes.io/exclude-from-external-load-balancers": "true"},
        {"alpha.service-controller.kubernetes.io/exclude-balancer": "true"},
        {"eks.amazonaws.com/compute-type": "fargate"},
    ],
)
def test_default_selector_excludes_node(labels: dict[str, str]) -> None:
    result = _inst([node("n1", "i-01", labels=labels), node("n2", "i-02")])
    assert result.keys == targets("i-02:31234")


def test_non_fargate_compute_type_is_kept() -> None:
    result = _inst([node("n1", "i-01", labels={"eks.amazonaws.com/compute-type": "ec2"})])
    assert result.keys == targets("i-01:31234")


def test_node_selector_is_anded_with_the_default_selector() -> None:
    nodes = [
        node("n1", "i-01", labels={"pool": "web"}),
        node("n2", "i-02", labels={"pool": "db"}),
        node("n3", "i-03", labels={"pool": "web", "node-role.kubernetes.io/master": ""}),
    ]
    result = _inst(nodes, nodeSelector={"matchLabels": {"pool": "web"}})
    assert result.keys == targets("i-01:31234")


@pytest.mark.parametrize(
    ("taint", "excluded"),
    [
        (Taint("ToBeDeletedByClusterAutoscaler", "NoSchedule"), True),
        (Taint("ToBeDeletedByClusterAutoscaler", "PreferNoSchedule"), True),
        (Taint("karpenter.sh/disrupted", "NoSchedule"), True),
        (Taint("karpenter.sh/disrupted", "NoExecute"), False),
        (Taint("dedicated", "NoSchedule"), False),
    ],
)
def test_deletion_taints_exclude_node(taint: Taint, excluded: bool) -> None:
    result = _inst([node("n1", "i-01", taints=[taint]), node("n2", "i-02")])
    assert (targets("i-01:31234") <= result.keys) is not excluded


def test_only_ready_nodes_are_used_when_any_is_ready() -> None:
    nodes = [node("n1", "i-01"), node("n2", "i-02", ready=UNKNOWN), node("n3", "i-03", ready=FALSE)]
    result = _inst(nodes)
    assert result.keys == targets("i-01:31234")
    assert not result.fail_open


def test_instance_fail_open_uses_unknown_nodes_when_none_is_ready() -> None:
    nodes = [node("n2", "i-02", ready=UNKNOWN), node("n3", "i-03", ready=FALSE)]
    result = _inst(nodes)
    assert result.keys == targets("i-02:31234")
    assert result.fail_open
    assert result.diagnostics[-1].reason == "FailOpen"


def test_instance_fail_open_off_uses_no_unknown_node() -> None:
    nodes = [node("n2", "i-02", ready=UNKNOWN), node("n3", "i-03", ready=FALSE)]
    b = binding(target_type="instance")
    result = desired_instance(b, NODEPORT, nodes, fail_open=False)
    assert result.keys == frozenset()
    assert not result.fail_open
    assert result.diagnostics[-1].reason == "FailOpenDisabled"


def test_node_with_bad_provider_id_is_skipped_with_a_warning_not_failing_the_binding() -> None:
    nodes = [
        node("n1", "i-01"),
        node("n2", provider_id="kind://docker/kind/n2"),
        node("n3", provider_id=""),
    ]
    result = _inst(nodes)
    assert result.resolution is Resolution.RESOLVED
    assert result.keys == targets("i-01:31234")
    (diag,) = result.diagnostics
    assert diag.reason == "InvalidProviderID"
    assert diag.warning
    assert diag.subjects == ("n2", "n3")


@pytest.mark.parametrize(
    ("provider_id", "expected"),
    [
        ("aws:///eu-west-1a/i-0abc123def", "i-0abc123def"),
        ("aws:///i-0abc", "i-0abc"),
        ("i-0abc", "i-0abc"),
        ("aws:///eu-west-1a/", None),
        ("aws:///eu-west-1a/mi-0abc", None),
        ("aws:///eu-west-1a/i-", None),
        ("aws:///eu-west-1a/i-0ab:c", None),
        ("", None),
    ],
)
def test_instance_id_from_provider_id(provider_id: str, expected: str | None) -> None:
    assert instance_id(provider_id) == expected


def test_unset_target_type_cannot_be_resolved() -> None:
    result = desired(binding(target_type=None), NODEPORT, [], lookup([]), {})
    assert result.resolution is Resolution.INVALID
    assert result.diagnostics[0].reason == "TargetTypeUnknown"


def test_dispatch_by_target_type() -> None:
    p = pod("p1", "10.0.0.1")
    nodes = {"node-a": node("node-a", "i-0a")}
    slices = [endpoint_slice([endpoint(p)])]
    ip = desired(binding(), NODEPORT, slices, lookup([p]), nodes)
    inst = desired(binding(target_type="instance"), NODEPORT, slices, lookup([p]), nodes)
    assert ip.keys == targets("10.0.0.1:8080")
    assert inst.keys == targets("i-0a:31234")


def test_targets_of_unknown_pods_are_marked_uncertain_not_undesired() -> None:
    known = pod("p1", "10.0.0.1")
    ghost = pod("p2", "10.0.0.2")
    result = _ip([endpoint_slice([endpoint(known), endpoint(ghost)])], [known])
    assert result.uncertain == targets("10.0.0.2:8080")


# --- QUIC ---


def _quic_pod(name: str, ip: str, server_id: str = "", **kwargs):
    base = pod(name, ip, **kwargs)
    return base._replace(quic_server_ids=((8080, server_id),) if server_id else ())


def test_quic_binding_targets_carry_the_pods_server_id() -> None:
    p = _quic_pod("p1", "10.0.0.1", "0x1a2b3c4d5e6f7a8b", created_ms=1_234_000)
    result = _ip([endpoint_slice([endpoint(p)])], [p], targetGroupProtocol="QUIC")
    assert result.keys == {Target("10.0.0.1", 8080, "0x1a2b3c4d5e6f7a8b")}
    # LBC's checkpoint string for it: ip:port:serverId:creationMillis.
    assert result.endpoints_hash() == sha256_b64url("10.0.0.1:8080:0x1a2b3c4d5e6f7a8b:1234000")


def test_server_ids_are_ignored_outside_quic_groups() -> None:
    p = _quic_pod("p1", "10.0.0.1", "0x1a2b3c4d5e6f7a8b")
    result = _ip([endpoint_slice([endpoint(p)])], [p], targetGroupProtocol="TCP")
    assert result.keys == targets("10.0.0.1:8080")


def test_quic_endpoint_without_server_id_is_not_registered_but_hashed_as_lbc_does() -> None:
    # LBC keeps it in its endpoint list (hash, ledger) and drops it from RegisterTargets.
    with_id = _quic_pod("p1", "10.0.0.1", "0x00000000000000aa", created_ms=1_000)
    without = _quic_pod("p2", "10.0.0.2", created_ms=2_000)
    eps = [endpoint(with_id), endpoint(without)]
    result = _ip([endpoint_slice(eps)], [with_id, without], targetGroupProtocol="TCP_QUIC")
    assert result.keys == {Target("10.0.0.1", 8080, "0x00000000000000aa")}
    (diag,) = result.diagnostics
    assert diag.reason == "QuicServerIdMissing"
    assert diag.subjects == ("10.0.0.2:8080",)
    assert result.endpoints_hash() == sha256_b64url(
        "10.0.0.1:8080:0x00000000000000aa:1000,10.0.0.2:8080:2000"
    )


def test_unknown_pod_in_a_quic_binding_keeps_its_target_whatever_its_server_id() -> None:
    known = _quic_pod("p1", "10.0.0.1", "0x00000000000000aa")
    ghost = _quic_pod("p2", "10.0.0.2", "0x00000000000000bb")
    result = _ip(
        [endpoint_slice([endpoint(known), endpoint(ghost)])], [known], targetGroupProtocol="QUIC"
    )
    assert result.is_uncertain(Target("10.0.0.2", 8080, "0x00000000000000bb"))
    assert not result.is_uncertain(Target("10.0.0.1", 8080, "0x00000000000000aa"))
