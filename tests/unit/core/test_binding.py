"""Parsing TargetGroupBindings: every field lbc uses, and errors that name the bad field."""

from __future__ import annotations

from typing import Any

import pytest
from lbc.core.binding import (
    BindingSpec,
    InvalidBindingError,
    IPAddressType,
    LabelSelector,
    NetworkingPeer,
    NetworkingPort,
    Operator,
    Requirement,
    TargetType,
    parse_binding,
    parse_selector,
    target_group_arn_problem,
)
from lbc.core.checkpoint import spec_hash
from lbc.core.errors import TerminalError

from .factories import ARN, binding_obj


def test_v1beta1_binding_parses_every_field() -> None:
    obj = binding_obj(
        "web",
        target_type="instance",
        multi_cluster=True,
        port="http",
        checkpoint="a/b",
        ipAddressType="ipv6",
        vpcID="vpc-0a7ef5bd8943067a8",
        targetGroupProtocol="TCP",
        targetGroupName="tg-web",
        nodeSelector={"matchLabels": {"pool": "web"}},
        networking={
            "ingress": [
                {
                    "from": [
                        {"ipBlock": {"cidr": "10.0.0.0/8"}},
                        {"securityGroup": {"groupID": "sg-1"}},
                    ],
                    "ports": [{"port": 8080}, {"protocol": "UDP", "port": "dns"}],
                }
            ]
        },
    )
    obj["status"] = {"observedGeneration": 1}
    b = parse_binding(obj)
    assert (b.namespace, b.name, b.uid, b.generation, b.resource_version) == (
        "shop",
        "web",
        "uid-web",
        1,
        "7",
    )
    assert b.has_finalizer
    assert not b.deleting
    assert b.checkpoint == "a/b"
    assert b.observed_generation == 1
    s = b.spec
    assert s.target_group_arn == ARN
    assert s.target_group_name == "tg-web"
    assert s.multi_cluster
    assert s.target_type is TargetType.INSTANCE
    assert s.service_name == "web"
    assert s.service_port == "http"
    assert s.ip_address_type is IPAddressType.IPV6
    assert s.protocol == "TCP"
    assert s.vpc_id == "vpc-0a7ef5bd8943067a8"
    assert s.node_selector == LabelSelector((("pool", "web"),))
    assert s.networking is not None
    rule = s.networking.ingress[0]
    assert rule.peers == (NetworkingPeer(cidr="10.0.0.0/8"), NetworkingPeer(security_group="sg-1"))
    assert rule.ports == (NetworkingPort("TCP", 8080), NetworkingPort("UDP", "dns"))
    assert b.spec_hash == spec_hash(obj["spec"])


def test_v1alpha1_binding_without_the_newer_fields_parses() -> None:
    obj = {
        "apiVersion": "elbv2.k8s.aws/v1alpha1",
        "metadata": {"name": "old", "namespace": "ns", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "targetGroupARN": ARN,
            "targetType": "ip",
            "serviceRef": {"name": "s", "port": 80},
        },
    }
    b = parse_binding(obj)
    assert b.deleting
    assert not b.has_finalizer
    assert b.spec.node_selector is None
    assert b.spec.ip_address_type is None
    assert not b.spec.multi_cluster
    assert b.checkpoint is None


def _spec(**changes: Any) -> dict[str, Any]:
    obj = binding_obj()
    obj["spec"].update(changes)
    return obj


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"metadata": {"name": "x"}}, "spec"),
        (_spec(serviceRef=None), "spec.serviceRef"),
        (_spec(serviceRef={"port": 80}), "spec.serviceRef.name"),
        (_spec(serviceRef={"name": "", "port": 80}), "spec.serviceRef.name"),
        (_spec(serviceRef={"name": "web"}), "spec.serviceRef.port"),
        (_spec(serviceRef={"name": "web", "port": 0}), "spec.serviceRef.port"),
        (_spec(serviceRef={"name": "web", "port": 70000}), "spec.serviceRef.port"),
        (_spec(serviceRef={"name": "web", "port": True}), "spec.serviceRef.port"),
        (_spec(serviceRef={"name": "web", "port": 8.5}), "spec.serviceRef.port"),
        (_spec(targetGroupARN=None), "spec.targetGroupARN"),
        (_spec(targetGroupARN=5), "spec.targetGroupARN"),
        (_spec(targetType="lambda"), "spec.targetType"),
        (_spec(ipAddressType="dual"), "spec.ipAddressType"),
        (_spec(multiClusterTargetGroup="true"), "spec.multiClusterTargetGroup"),
        (_spec(vpcID="vpc-123"), "spec.vpcID"),
        (_spec(targetGroupProtocol="SCTP"), "spec.targetGroupProtocol"),
        (_spec(nodeSelector={"matchLabels": {"a": 1}}), "spec.nodeSelector.matchLabels.a"),
        (
            _spec(nodeSelector={"matchExpressions": [{"key": "a", "operator": "Near"}]}),
            "spec.nodeSelector.matchExpressions[0].operator",
        ),
        (
            _spec(nodeSelector={"matchExpressions": [{"key": "a", "operator": "In"}]}),
            "spec.nodeSelector.matchExpressions[0].values",
        ),
        (
            _spec(
                nodeSelector={
                    "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
                }
            ),
            "spec.nodeSelector.matchExpressions[0].values",
        ),
        (
            _spec(networking={"ingress": [{"from": ["sg-1"], "ports": []}]}),
            "spec.networking.ingress[0].from[0]",
        ),
        (
            _spec(networking={"ingress": [{"from": [], "ports": [{"protocol": "ICMP"}]}]}),
            "spec.networking.ingress[0].ports[0].protocol",
        ),
    ],
)
def test_malformed_binding_is_a_terminal_error_naming_the_field(
    obj: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidBindingError) as info:
        parse_binding(obj)
    assert info.value.field == field
    assert field in str(info.value)
    assert isinstance(info.value, TerminalError)
    assert info.value.reason == "InvalidBinding"


def test_target_group_name_alone_is_enough() -> None:
    obj = _spec(targetGroupARN=None, targetGroupName="tg")
    assert parse_binding(obj).spec.target_group_name == "tg"


@pytest.mark.parametrize(
    ("requirement", "labels", "matches"),
    [
        (Requirement("a", Operator.IN, ("1", "2")), {"a": "2"}, True),
        (Requirement("a", Operator.IN, ("1",)), {"a": "2"}, False),
        (Requirement("a", Operator.IN, ("1",)), {}, False),
        (Requirement("a", Operator.NOT_IN, ("1",)), {"a": "2"}, True),
        (Requirement("a", Operator.NOT_IN, ("1",)), {"a": "1"}, False),
        (Requirement("a", Operator.NOT_IN, ("1",)), {}, True),
        (Requirement("a", Operator.EXISTS), {"a": ""}, True),
        (Requirement("a", Operator.EXISTS), {}, False),
        (Requirement("a", Operator.DOES_NOT_EXIST), {}, True),
        (Requirement("a", Operator.DOES_NOT_EXIST), {"a": "x"}, False),
    ],
)
def test_label_selector_requirement_semantics(
    requirement: Requirement, labels: dict[str, str], matches: bool
) -> None:
    assert requirement.matches(labels) is matches


def test_label_selector_ands_labels_and_expressions() -> None:
    sel = parse_selector(
        {
            "matchLabels": {"pool": "web"},
            "matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}],
        },
        "spec.nodeSelector",
    )
    assert sel.matches({"pool": "web"})
    assert not sel.matches({"pool": "web", "gpu": "yes"})
    assert not sel.matches({"pool": "db"})
    assert LabelSelector().matches({"anything": "x"})


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef",
        "arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:targetgroup/a-b-1/73e2d6bc24d8a067",
        "arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:targetgroup/x/0123456789abcdef",
    ],
)
def test_target_group_arns_of_every_partition_have_the_right_shape(arn: str) -> None:
    assert target_group_arn_problem(arn) is None


@pytest.mark.parametrize(
    "arn",
    [
        "web",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web",
        "arn:aws:elasticloadbalancing:us-east-1:1234:targetgroup/web/0123456789abcdef",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/web/0123456789abcdef",
        " arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef",
    ],
)
def test_a_malformed_target_group_arn_is_named_in_the_problem(arn: str) -> None:
    problem = target_group_arn_problem(arn)
    assert problem is not None
    assert repr(arn) in problem


def _with_peer(peer: dict[str, Any]) -> BindingSpec:
    net = {"ingress": [{"from": [peer], "ports": [{"port": 443}]}]}
    return parse_binding(binding_obj(networking=net)).spec


def test_peer_with_both_fields_uses_the_security_group_as_lbc_does() -> None:
    # LBC (networking computation): securityGroup wins when both are set.
    spec = _with_peer({"ipBlock": {"cidr": "10.0.0.0/8"}, "securityGroup": {"groupID": "sg-1"}})
    assert spec.networking is not None
    assert spec.networking.ingress[0].peers == (NetworkingPeer(security_group="sg-1"),)
    (note,) = spec.notes
    assert note.reason == "NetworkingPeerAmbiguous"
    assert "securityGroup (sg-1)" in note.message
    assert "spec.networking.ingress[0].from[0]" in note.message


def test_peer_with_neither_field_is_accepted_and_noted() -> None:
    spec = _with_peer({})
    assert spec.networking is not None
    assert spec.networking.ingress[0].peers[0].empty
    (note,) = spec.notes
    assert note.reason == "NetworkingPeerEmpty"
    assert "spec.networking.ingress[0].from[0]" in note.message
