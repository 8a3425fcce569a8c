"""Generated bindings: written as LBC's deployer writes them, paired by target-group ARN."""

from __future__ import annotations

from typing import Any

from lbc.core.stack.binding_changes import (
    ObservedBinding,
    binding_object,
    binding_spec,
    plan_bindings,
)
from lbc.core.stack.model import (
    BACKEND_SG,
    BindingPeer,
    BindingPort,
    BindingRule,
    IPAddressType,
    Protocol,
    StackId,
    StackKind,
    TargetGroupBinding,
    TargetType,
)

SID = StackId(StackKind.INGRESS, "echoserver", "echoserver")


def desired(name: str = "k8s-echoserv-echoserv-aaaaaaaaaa", **kw: Any) -> TargetGroupBinding:
    values: dict[str, Any] = {
        "name": name,
        "namespace": "echoserver",
        "labels": SID.binding_labels(),
        "target_group_id": "echoserver/echoserver-echoserver:80",
        "target_type": TargetType.INSTANCE,
        "service_name": "echoserver",
        "service_port": 80,
        "networking": (
            BindingRule(
                peers=(BindingPeer(security_group=BACKEND_SG),),
                ports=(BindingPort("TCP", 32197),),
            ),
        ),
        "node_selector": (),
        "ip_address_type": IPAddressType.IPV4,
        "vpc_id": "vpc-1",
        "multi_cluster": True,
        "target_group_protocol": Protocol.HTTP,
    }
    values.update(kw)
    return TargetGroupBinding(**values)


def observed(name: str, arn: str, spec: dict[str, Any], **kw: Any) -> ObservedBinding:
    values: dict[str, Any] = {
        "namespace": "echoserver",
        "name": name,
        "target_group_arn": arn,
        "spec": spec,
        "labels": dict(SID.binding_labels()),
        "annotations": {},
        "uid": f"uid-{name}",
    }
    values.update(kw)
    return ObservedBinding(**values)


def test_spec_is_the_seed_bindings_with_the_backend_group_resolved() -> None:
    spec = binding_spec(desired(), "arn:tg/1", "sg-front", "sg-back")
    assert spec == {
        "targetGroupARN": "arn:tg/1",
        "targetType": "instance",
        "serviceRef": {"name": "echoserver", "port": 80},
        "ipAddressType": "ipv4",
        "vpcID": "vpc-1",
        "targetGroupProtocol": "HTTP",
        "multiClusterTargetGroup": True,
        "networking": {
            "ingress": [
                {
                    "from": [{"securityGroup": {"groupID": "sg-back"}}],
                    "ports": [{"protocol": "TCP", "port": 32197}],
                }
            ]
        },
    }
    obj = binding_object(desired(), spec)
    assert obj["metadata"]["labels"] == {
        "ingress.k8s.aws/stack-name": "echoserver",
        "ingress.k8s.aws/stack-namespace": "echoserver",
    }
    assert "annotations" not in obj["metadata"]
    assert "ownerReferences" not in obj["metadata"]


def test_unchanged_binding_with_checkpoints_is_not_written() -> None:
    spec = binding_spec(desired(), "arn:tg/1", "", "sg-back")
    checkpointed = observed(
        "k8s-echoserv-echoserv-aaaaaaaaaa",
        "arn:tg/1",
        dict(spec),
        annotations={
            "elbv2.k8s.aws/checkpoint": "x/y",
            "elbv2.k8s.aws/checkpoint-timestamp": "1",
        },
    )
    changes = plan_bindings([(desired(), spec)], [checkpointed])
    assert changes.writes == ()
    assert changes.stale == ()
    assert changes.unwanted == ()


def test_changed_binding_gets_spec_labels_and_annotations_replaced() -> None:
    spec = binding_spec(desired(), "arn:tg/1", "", "sg-back")
    edited = observed(
        "hand-named",
        "arn:tg/1",
        {**spec, "multiClusterTargetGroup": False, "extra": 1},
        labels={**dict(SID.binding_labels()), "team": "x"},
        annotations={"elbv2.k8s.aws/checkpoint": "x/y", "note": "hand"},
    )
    (write,) = plan_bindings([(desired(), spec)], [edited]).writes
    patch = write.patch()
    assert patch["spec"]["multiClusterTargetGroup"] is True
    assert patch["spec"]["extra"] is None
    assert patch["metadata"]["labels"]["team"] is None
    # The checkpoint goes too: one full binding pass follows, as after LBC's update.
    assert patch["metadata"]["annotations"] == {"elbv2.k8s.aws/checkpoint": None, "note": None}


def test_stale_binding_holding_the_wanted_name_is_deleted_before_the_create() -> None:
    # The target group was re-created: same computed name, new ARN (LBC #3493).
    spec = binding_spec(desired(), "arn:tg/new", "", "sg-back")
    stale = observed("k8s-echoserv-echoserv-aaaaaaaaaa", "arn:tg/old", {})
    changes = plan_bindings([(desired(), spec)], [stale])
    assert changes.stale == (stale,)
    (write,) = changes.writes
    assert write.existing is None
    assert changes.unwanted == ()


def test_bindings_are_paired_by_arn_never_by_name() -> None:
    spec = binding_spec(desired(), "arn:tg/1", "", "sg-back")
    renamed = observed("any-name", "arn:tg/1", dict(spec))
    other = observed("k8s-other", "arn:tg/2", {})
    changes = plan_bindings([(desired(), spec)], [renamed, other])
    assert changes.writes == ()
    assert changes.unwanted == (other,)
