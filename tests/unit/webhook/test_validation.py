from __future__ import annotations

from typing import Any

import pytest
from lbc.webhook.review import AdmissionRequest, Verdict
from lbc.webhook.validation import BindingValidator

from tests.unit.webhook.fakes import (
    INSTANCE_ARN,
    IP_ARN,
    ROLE,
    SHARED_ARN,
    SHARED_VPC,
    V6_ARN,
    VPC,
    Cluster,
    FakeGroups,
    tgb,
)

OTHER_VPC = "vpc-11111111"


def _request(obj: dict[str, Any], old: dict[str, Any] | None = None) -> AdmissionRequest:
    meta = obj["metadata"]
    return AdmissionRequest(
        "u", "UPDATE" if old else "CREATE", "elbv2.k8s.aws", "v1beta1", "targetgroupbindings",
        "", meta["namespace"], meta["name"], obj, old, False,
    )  # fmt: skip


async def _check(
    obj: dict[str, Any], old: dict[str, Any] | None = None, cluster: Cluster | None = None
) -> Verdict:
    validator = BindingValidator((cluster or Cluster()).caches, FakeGroups())
    return await validator.validate(_request(obj, old))


def _ip(name: str = "web", **spec: Any) -> dict[str, Any]:
    fields = {"targetGroupARN": IP_ARN, "targetType": "ip", **spec}
    return tgb(name, **fields)


def _denied(verdict: Verdict, field: str) -> None:
    assert not verdict.allowed
    assert verdict.message.startswith(f"{field}:"), verdict.message


async def test_a_complete_binding_is_allowed() -> None:
    verdict = await _check(_ip(ipAddressType="ipv4", vpcID=VPC, targetGroupProtocol="HTTP"))
    assert verdict.allowed, verdict.message


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"targetGroupARN": None, "targetGroupName": None}, "spec.targetGroupARN"),
        ({"targetGroupARN": None, "targetGroupName": "nope"}, "spec.targetGroupName"),
        ({"targetType": None}, "spec.targetType"),
        ({"targetType": "lambda"}, "spec.targetType"),
        ({"targetType": "instance"}, "spec.targetType"),
        ({"nodeSelector": {"matchLabels": {"a": "b"}}}, "spec.nodeSelector"),
        ({"ipAddressType": "ipv6"}, "spec.ipAddressType"),
        ({"vpcID": OTHER_VPC}, "spec.vpcID"),
        ({"vpcID": "vpc-xyz"}, "spec.vpcID"),
        ({"targetGroupProtocol": "TCP"}, "spec.targetGroupProtocol"),
        ({"serviceRef": {"name": "web"}}, "spec.serviceRef.port"),
    ],
)
async def test_each_invalid_create_is_denied_naming_the_field(
    spec: dict[str, Any], field: str
) -> None:
    obj = _ip()
    for key, value in spec.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    _denied(await _check(obj), field)


async def test_an_assumed_role_is_refused_with_instance_targets() -> None:
    obj = tgb("w", targetGroupARN=INSTANCE_ARN, targetType="instance", iamRoleArnToAssume="r")
    _denied(await _check(obj), "spec.iamRoleArnToAssume")


async def test_quic_needs_ip_targets() -> None:
    obj = tgb("w", targetGroupARN=INSTANCE_ARN, targetType="instance", targetGroupProtocol="QUIC")
    verdict = await _check(obj)
    # The instance group's protocol (TCP) is checked first: either way the field is named.
    _denied(verdict, "spec.targetGroupProtocol")


async def test_an_ipv6_group_needs_its_address_type_spelled_out() -> None:
    _denied(await _check(_ip(targetGroupARN=V6_ARN)), "spec.ipAddressType")
    assert (await _check(_ip(targetGroupARN=V6_ARN, ipAddressType="ipv6"))).allowed


@pytest.mark.parametrize(
    ("old_spec", "new_spec", "field"),
    [
        ({}, {"targetGroupARN": INSTANCE_ARN}, "spec.targetGroupARN"),
        ({}, {"targetType": "instance"}, "spec.targetType"),
        ({"ipAddressType": "ipv4"}, {"ipAddressType": "ipv6"}, "spec.ipAddressType"),
        ({"ipAddressType": "ipv4"}, {"ipAddressType": None}, "spec.ipAddressType"),
        ({}, {"ipAddressType": "ipv6"}, "spec.ipAddressType"),
        ({"vpcID": VPC}, {"vpcID": OTHER_VPC}, "spec.vpcID"),
        ({"vpcID": VPC}, {"vpcID": None}, "spec.vpcID"),
        ({}, {"vpcID": OTHER_VPC}, "spec.vpcID"),
        ({}, {"nodeSelector": {"matchLabels": {"a": "b"}}}, "spec.nodeSelector"),
    ],
)
async def test_each_forbidden_update_is_denied_naming_the_field(
    old_spec: dict[str, Any], new_spec: dict[str, Any], field: str
) -> None:
    old = _ip(**old_spec)
    new = _ip(**old_spec)
    for key, value in new_spec.items():
        if value is None:
            new["spec"].pop(key, None)
        else:
            new["spec"][key] = value
    _denied(await _check(new, old), field)


@pytest.mark.parametrize(
    ("old_spec", "new_spec"),
    [
        ({}, {"ipAddressType": "ipv4"}),
        ({}, {"vpcID": VPC}),
        ({}, {"serviceRef": {"name": "other", "port": "http"}}),
        ({"multiClusterTargetGroup": False}, {"multiClusterTargetGroup": True}),
        ({}, {"targetGroupName": "renamed"}),
    ],
)
async def test_mutable_fields_and_allowed_fills_pass_on_update(
    old_spec: dict[str, Any], new_spec: dict[str, Any]
) -> None:
    old = _ip(**old_spec)
    new = _ip(**{**old_spec, **new_spec})
    verdict = await _check(new, old)
    assert verdict.allowed, verdict.message


async def test_turning_multicluster_off_is_refused_with_what_to_do() -> None:
    old = _ip(multiClusterTargetGroup=True)
    new = _ip(multiClusterTargetGroup=False)
    verdict = await _check(new, old)
    _denied(verdict, "spec.multiClusterTargetGroup")
    assert verdict.code == 403
    assert "apps/aws-lbc-targets-web" in verdict.message
    assert "Keep it true" in verdict.message


async def test_a_second_normal_binding_on_one_arn_is_refused_naming_the_first() -> None:
    cluster = Cluster()
    cluster.add_binding(_ip("first", ipAddressType="ipv4"))
    verdict = await _check(_ip("second"), cluster=cluster)
    _denied(verdict, "spec.targetGroupARN")
    assert "apps/first" in verdict.message
    assert verdict.code == 403


async def test_bindings_may_share_an_arn_only_when_all_are_multicluster() -> None:
    cluster = Cluster()
    cluster.add_binding(_ip("first", multiClusterTargetGroup=True))
    assert (await _check(_ip("second", multiClusterTargetGroup=True), cluster=cluster)).allowed
    _denied(await _check(_ip("second"), cluster=cluster), "spec.targetGroupARN")
    cluster.add_binding(_ip("normal", ns="other"))
    verdict = await _check(_ip("second", multiClusterTargetGroup=True), cluster=cluster)
    _denied(verdict, "spec.targetGroupARN")
    assert "other/normal" in verdict.message


async def test_turning_multicluster_off_beside_a_sharing_binding_is_refused() -> None:
    cluster = Cluster()
    cluster.add_binding(_ip("first", multiClusterTargetGroup=True))
    old = _ip("second", multiClusterTargetGroup=True)
    cluster.add_binding(old)
    verdict = await _check(_ip("second", multiClusterTargetGroup=False), old, cluster)
    _denied(verdict, "spec.multiClusterTargetGroup")


async def test_a_binding_is_not_its_own_duplicate_on_update() -> None:
    cluster = Cluster()
    old = _ip("web")
    cluster.add_binding(old)
    new = _ip("web")
    new["metadata"]["annotations"] = {"elbv2.k8s.aws/checkpoint": "x"}
    assert (await _check(new, old, cluster)).allowed


async def test_a_deleting_binding_can_always_drop_its_finalizer() -> None:
    cluster = Cluster()
    cluster.add_binding(_ip("other"))
    old = _ip("web")
    old["metadata"]["finalizers"] = ["elbv2.k8s.aws/resources"]
    old["metadata"]["deletionTimestamp"] = "2026-11-24T00:00:00Z"
    new = _ip("web")
    new["metadata"]["deletionTimestamp"] = "2026-11-24T00:00:00Z"
    assert (await _check(new, old, cluster)).allowed


async def test_deletes_are_not_checked() -> None:
    validator = BindingValidator(Cluster().caches, FakeGroups())
    request = AdmissionRequest(
        "u", "DELETE", "elbv2.k8s.aws", "v1beta1", "targetgroupbindings", "", "apps", "w",
        None, tgb("w"), False,
    )  # fmt: skip
    assert (await validator.validate(request)).allowed


async def test_metadata_only_updates_of_a_legacy_binding_are_allowed() -> None:
    # Stored before the webhooks existed: no targetType, a name only.
    old = tgb("legacy", targetGroupName="web-ip")
    new = tgb("legacy", targetGroupName="web-ip")
    new["metadata"]["finalizers"] = ["elbv2.k8s.aws/resources"]
    assert (await _check(new, old)).allowed
    new["spec"]["serviceRef"] = {"name": "other", "port": 80}
    _denied(await _check(new, old), "spec.targetType")


async def test_a_binding_naming_a_role_is_checked_against_the_group_that_role_sees() -> None:
    role = {"iamRoleArnToAssume": ROLE.arn, "assumeRoleExternalId": ROLE.external_id}
    assert (await _check(_ip(targetGroupARN=SHARED_ARN, vpcID=SHARED_VPC, **role))).allowed
    mismatch = await _check(_ip(targetGroupARN=SHARED_ARN, vpcID=VPC, **role))
    _denied(mismatch, "spec.vpcID")


async def test_a_role_that_cannot_be_assumed_is_refused_at_admission() -> None:
    verdict = await _check(
        _ip(
            targetGroupARN=SHARED_ARN,
            iamRoleArnToAssume=ROLE.arn,
            assumeRoleExternalId="not-the-one",
        )
    )
    _denied(verdict, "spec.iamRoleArnToAssume")
    assert "AssumeRoleFailed" in verdict.message


@pytest.mark.parametrize(
    ("peer", "warned"),
    [
        pytest.param(
            {"ipBlock": {"cidr": "10.0.0.0/8"}, "securityGroup": {"groupID": "sg-1"}},
            "the securityGroup is used",
            id="both",
        ),
        pytest.param({}, "neither ipBlock nor securityGroup", id="neither"),
    ],
)
async def test_networking_peer_with_both_or_neither_field_is_allowed_with_a_warning(
    peer: dict[str, Any], warned: str
) -> None:
    # LBC's CRD and webhook accept such peers (its validator does not look at networking).
    net = {"ingress": [{"from": [peer], "ports": [{"port": 80}]}]}
    verdict = await _check(_ip(networking=net))
    assert verdict.allowed, verdict.message
    (warning,) = verdict.warnings
    assert "spec.networking.ingress[0].from[0]" in warning
    assert warned in warning
