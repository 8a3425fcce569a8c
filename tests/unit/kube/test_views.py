"""Projections of raw API JSON into the core's views: fields, defaults, and the memory budget."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import orjson
import pytest
from lbc.core.binding import InvalidBindingError, TargetType
from lbc.core.ledger import ABSENT, LedgerPresent, LedgerUnreadable
from lbc.core.objects import FALSE, UNKNOWN, PodCondition, PodView, Taint
from lbc.core.targets import Target
from lbc.kube.views import (
    binding_view,
    endpoint_slice_view,
    ledger_view,
    node_view,
    pod_view,
    service_view,
    timestamp_ms,
)


def raw_pod(i: int = 0, *, gate: str = "target-health.elbv2.k8s.aws/web") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"web-7d9f8c-{i:05d}",
            "namespace": "shop",
            "uid": f"3f1c2a4e-1b2c-4d5e-8f90-{i:012d}",
            "resourceVersion": str(1000 + i),
            "creationTimestamp": "2026-11-24T10:00:00Z",
            "labels": {"app": "web", "pod-template-hash": "7d9f8c"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-24T09:00:00Z"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d9f8c", "uid": "x"}],
        },
        "spec": {
            "nodeName": f"ip-10-0-{i % 50}-1.eu-west-1.compute.internal",
            "containers": [
                {
                    "name": "web",
                    "image": "web:1",
                    "ports": [{"name": "http", "containerPort": 8080}],
                }
            ],
            "readinessGates": [{"conditionType": gate}],
        },
        "status": {
            "phase": "Running",
            "podIP": f"10.0.{i // 250 % 250}.{i % 250}",
            "podIPs": [{"ip": f"10.0.{i // 250 % 250}.{i % 250}"}],
            "hostIP": "10.0.0.1",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "ContainersReady", "status": "True"},
                {"type": "Ready", "status": "False"},
                {
                    "type": gate,
                    "status": "False",
                    "reason": "Elb.RegistrationInProgress",
                    "message": "Target registration is in progress",
                },
            ],
        },
    }


def test_timestamp_is_unix_milliseconds() -> None:
    assert timestamp_ms("1970-01-01T00:00:01Z") == 1000
    assert timestamp_ms("2026-11-24T10:00:00Z") == 1_795_514_400_000
    assert timestamp_ms(None) == 0
    assert timestamp_ms("garbage") == 0


def test_a_pod_without_readiness_gates_keeps_no_uid_a_gated_one_keeps_its_own() -> None:
    # Gated pods are the only ones lbc writes to (with the uid as precondition): any other
    # pod's uid would only cost the cache memory.
    ungated = raw_pod(4)
    ungated["spec"].pop("readinessGates")
    assert pod_view(ungated).uid == ""
    assert pod_view(raw_pod(4)).uid == "3f1c2a4e-1b2c-4d5e-8f90-000000000004"


def test_pod_view_keeps_what_desired_and_gates_read() -> None:
    view = pod_view(raw_pod(3))
    assert (view.namespace, view.name, view.uid) == (
        "shop",
        "web-7d9f8c-00003",
        "3f1c2a4e-1b2c-4d5e-8f90-000000000003",
    )
    assert view.ip == "10.0.0.3"
    assert view.node_name == "ip-10-0-3-1.eu-west-1.compute.internal"
    assert view.created_ms == 1_795_514_400_000
    assert view.readiness_gates == ("target-health.elbv2.k8s.aws/web",)
    assert view.containers_ready
    assert view.gate_conditions == (
        PodCondition(
            "target-health.elbv2.k8s.aws/web",
            FALSE,
            "Elb.RegistrationInProgress",
            "Target registration is in progress",
        ),
    )
    assert not view.deleting
    assert view.named_ports == (("http", 8080, "TCP"),)
    assert view.branch_enis == ()


def test_pod_view_keeps_only_named_container_ports_shared_across_a_workload() -> None:
    raw = raw_pod(1)
    raw["spec"]["containers"] = [
        {"name": "web", "ports": [{"containerPort": 80}, {"name": "http", "containerPort": 8080}]},
        {"name": "dns", "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"}]},
        {"name": "sidecar"},
    ]
    a = pod_view(orjson.loads(orjson.dumps(raw)))
    b = pod_view(orjson.loads(orjson.dumps(raw)))
    assert a.named_ports == (("http", 8080, "TCP"), ("dns", 53, "UDP"))
    assert a.named_ports is b.named_ports
    assert a.container_port("dns") == 53
    assert a.container_port("metrics") is None


@pytest.mark.parametrize(
    "containers",
    [
        "nope",
        [None, {"ports": "x"}, {"ports": [None, {"name": 3, "containerPort": 1}]}],
        [{"ports": [{"name": "http", "containerPort": "8080"}, {"name": "http"}]}],
    ],
)
def test_malformed_container_ports_are_skipped_never_raised(containers: Any) -> None:
    raw = raw_pod()
    raw["spec"]["containers"] = containers
    assert pod_view(raw).named_ports == ()


def test_pod_eni_annotation_names_the_pods_branch_enis() -> None:
    raw = raw_pod()
    raw["metadata"]["annotations"]["vpc.amazonaws.com/pod-eni"] = orjson.dumps(
        [
            {
                "eniId": "eni-0abc",
                "ifAddress": "02:fe:1a:2b:3c:4d",
                "privateIp": "10.0.8.5",
                "vlanId": 1,
                "subnetCidr": "10.0.0.0/20",
            }
        ]
    ).decode()
    assert pod_view(raw).branch_enis == ("eni-0abc",)


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        '{"eniId": "eni-0abc"}',
        '[{"ifAddress": "02:fe"}]',
        '[{"eniId": 7}]',
        '["eni-0abc"]',
        "[]",
        "",
        None,
        42,
    ],
)
def test_malformed_pod_eni_annotation_means_no_branch_eni_never_an_exception(value: Any) -> None:
    raw = raw_pod()
    raw["metadata"]["annotations"]["vpc.amazonaws.com/pod-eni"] = value
    assert pod_view(raw).branch_enis == ()


def test_pod_view_is_the_same_frozen_value_its_constructor_builds() -> None:
    # pod_view builds the tuple positionally (speed); the result must be indistinguishable
    # from the keyword constructor's, field by field.
    view = pod_view(raw_pod(3))
    rebuilt = PodView(**{name: getattr(view, name) for name in PodView._fields})
    assert type(view) is PodView
    assert view == rebuilt
    assert hash(view) == hash(rebuilt)
    assert repr(view) == repr(rebuilt)
    assert view.namespace == "shop"
    assert view.name == "web-7d9f8c-00003"
    assert view.node_name == "ip-10-0-3-1.eu-west-1.compute.internal"
    assert view.uid == "3f1c2a4e-1b2c-4d5e-8f90-000000000003"
    with pytest.raises(AttributeError):
        view.name = "other"  # type: ignore[misc]
    assert view._replace(name="x").name == "x"


def test_pod_view_of_a_pending_pod_has_no_ip_and_is_not_ready() -> None:
    view = pod_view({"metadata": {"name": "p", "namespace": "ns"}, "spec": {}, "status": {}})
    assert view.ip == ""
    assert view.ip == ""
    assert not view.containers_ready
    assert view.readiness_gates == ()


def test_pod_view_falls_back_to_pod_ip_and_sees_deletion() -> None:
    raw = raw_pod()
    del raw["status"]["podIPs"]
    raw["metadata"]["deletionTimestamp"] = "2026-11-24T11:00:00Z"
    view = pod_view(raw)
    assert view.ip == "10.0.0.0"
    assert view.deleting


def test_pod_views_share_interned_namespace_and_node_strings() -> None:
    a = pod_view(orjson.loads(orjson.dumps(raw_pod(1))))
    b = pod_view(orjson.loads(orjson.dumps(raw_pod(51))))
    assert a.namespace is b.namespace
    assert a.node_name is b.node_name


def test_pod_view_stays_under_600_bytes_per_cached_pod() -> None:
    payloads = [orjson.dumps(raw_pod(i)) for i in range(2000)]
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        views = [pod_view(orjson.loads(p)) for p in payloads]
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    per_pod = (used - 8 * len(views)) / len(views)  # minus the list holding them
    assert per_pod < 600, f"{per_pod:.0f} bytes per pod view"


def test_node_view_keeps_labels_provider_id_readiness_and_deletion_taints_only() -> None:
    raw = {
        "metadata": {
            "name": "n1",
            "creationTimestamp": "1970-01-01T00:00:02Z",
            "labels": {"pool": "web", "topology.kubernetes.io/zone": "eu-west-1a"},
        },
        "spec": {
            "providerID": "aws:///eu-west-1a/i-0abc",
            "taints": [
                {"key": "dedicated", "value": "web", "effect": "NoSchedule"},
                {
                    "key": "ToBeDeletedByClusterAutoscaler",
                    "value": "1700000000",
                    "effect": "NoSchedule",
                },
            ],
        },
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "Unknown"},
            ]
        },
    }
    view = node_view(raw)
    assert view.name == "n1"
    assert view.labels == {"pool": "web", "topology.kubernetes.io/zone": "eu-west-1a"}
    assert view.provider_id == "aws:///eu-west-1a/i-0abc"
    assert view.ready == UNKNOWN
    assert view.created_ms == 2000
    assert view.taints == (Taint("ToBeDeletedByClusterAutoscaler", "NoSchedule", "1700000000"),)


def test_node_without_ready_condition_has_empty_readiness() -> None:
    assert node_view({"metadata": {"name": "n"}, "spec": {}, "status": {}}).ready == ""


def test_service_view_ports_and_type() -> None:
    raw = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "web"},
            "ports": [
                {
                    "name": "http",
                    "port": 80,
                    "targetPort": 8080,
                    "nodePort": 31234,
                    "protocol": "TCP",
                },
                {"name": "grpc", "port": 9000, "targetPort": "grpc", "protocol": "TCP"},
            ],
        },
    }
    view = service_view(raw)
    assert view.type == "NodePort"
    assert view.selector == {"app": "web"}
    http = view.find_port(80)
    assert http is not None
    assert (http.name, http.target_port, http.node_port) == ("http", 8080, 31234)
    grpc = view.find_port("grpc")
    assert grpc is not None
    assert (grpc.port, grpc.target_port, grpc.node_port) == (9000, "grpc", None)
    assert view.find_port(81) is None


def test_service_without_type_is_cluster_ip() -> None:
    view = service_view(
        {"metadata": {"name": "s", "namespace": "n"}, "spec": {"ports": [{"port": 80}]}}
    )
    assert view.type == "ClusterIP"
    assert view.ports[0].target_port == 80


def test_endpoint_slice_view_reads_conditions_refs_and_ports() -> None:
    raw = {
        "addressType": "IPv4",
        "metadata": {
            "name": "web-abc",
            "namespace": "shop",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"port": None}],
        "endpoints": [
            {
                "addresses": ["10.0.0.1"],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-1"},
                "nodeName": "n1",
            },
            {
                "addresses": ["10.0.0.2"],
                "conditions": {},
                "targetRef": {"kind": "Pod", "name": "web-2"},
            },
            {"addresses": ["10.0.0.3"], "targetRef": {"kind": "Node", "name": "n3"}},
        ],
    }
    view = endpoint_slice_view(raw)
    assert (view.service_name, view.address_type) == ("web", "IPv4")
    assert [(p.name, p.port) for p in view.ports] == [("http", 8080), ("", None)]
    first, second, third = view.endpoints
    assert (first.ready, first.terminating, first.pod, first.node_name) == (
        True,
        False,
        ("shop", "web-1"),
        "n1",
    )
    assert (second.ready, second.terminating) == (None, None)
    assert second.pod == ("shop", "web-2")  # a targetRef without namespace is the slice's
    assert third.pod is None


def test_binding_view_parses_the_seed_example() -> None:
    raw = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": "my-tgb", "namespace": "echoserver", "uid": "u", "generation": 2},
        "spec": {
            "serviceRef": {"name": "echoserver", "port": 80},
            "multiClusterTargetGroup": True,
            "targetType": "instance",
            "targetGroupARN": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/y",
        },
    }
    view = binding_view(raw)
    assert view.key == "echoserver/my-tgb"
    assert view.spec.target_type is TargetType.INSTANCE
    assert view.spec.multi_cluster
    assert view.generation == 2


def test_binding_view_of_a_malformed_binding_names_the_field() -> None:
    with pytest.raises(InvalidBindingError, match=r"spec\.serviceRef"):
        binding_view({"metadata": {"name": "x"}, "spec": {"targetGroupARN": "a"}})


def test_ledger_view_states() -> None:
    assert ledger_view(None) is ABSENT
    present = ledger_view(
        {"metadata": {"resourceVersion": "42"}, "data": {"targets": "i-0b:1,i-0a:1"}}
    )
    assert present == LedgerPresent(frozenset({Target("i-0a", 1), Target("i-0b", 1)}), "42")
    assert isinstance(ledger_view({"metadata": {}, "data": {"targets": "x"}}), LedgerUnreadable)
    assert isinstance(ledger_view({"metadata": {}}), LedgerUnreadable)


QUIC = "service.beta.kubernetes.io/aws-load-balancer-quic-enabled-containers"


def _quic_pod(annotated: bool = True) -> dict[str, Any]:
    raw = raw_pod(2)
    if annotated:
        raw["metadata"]["annotations"][QUIC] = "web,proxy"
    raw["spec"]["containers"] = [
        {
            "name": "web",
            # base64 of the 8 bytes 1a 2b 3c 4d 5e 6f 7a 8b
            "env": [{"name": "AWS_LBC_QUIC_SERVER_ID", "value": "Gis8TV5veos="}],
            "ports": [{"containerPort": 8443}, {"containerPort": 8444}],
        },
        {"name": "metrics", "ports": [{"containerPort": 9090}]},
    ]
    raw["spec"]["initContainers"] = [
        {
            "name": "proxy",
            "restartPolicy": "Always",
            "env": [{"name": "AWS_LBC_QUIC_SERVER_ID", "value": "AAAAAAAAAAE="}],
            "ports": [{"containerPort": 4433}],
        }
    ]
    return raw


def test_quic_server_ids_come_from_the_env_of_annotated_pods_as_lbc_reads_them() -> None:
    # LBC (pkg/k8s/pod_info.go): with the quic-enabled-containers annotation present, each
    # container's and sidecar's AWS_LBC_QUIC_SERVER_ID (base64) becomes 0x + hex for its ports;
    # a port no container with an id declares gets the first id found.
    view = pod_view(_quic_pod())
    assert view.quic_server_id(8443) == "0x1a2b3c4d5e6f7a8b"
    assert view.quic_server_id(8444) == "0x1a2b3c4d5e6f7a8b"
    assert view.quic_server_id(4433) == "0x0000000000000001"
    assert view.quic_server_id(9090) == "0x1a2b3c4d5e6f7a8b"


def test_pods_without_the_quic_annotation_have_no_server_ids() -> None:
    assert pod_view(_quic_pod(annotated=False)).quic_server_id(8443) == ""
    assert pod_view(raw_pod(3)).quic_server_ids == ()


def test_malformed_quic_server_id_is_no_server_id() -> None:
    raw = _quic_pod()
    raw["spec"]["initContainers"] = []
    raw["spec"]["containers"][0]["env"][0]["value"] = "not base64!"
    assert pod_view(raw).quic_server_id(8443) == ""
