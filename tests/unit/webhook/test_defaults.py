from __future__ import annotations

from typing import Any

from lbc.webhook.defaults import mutate_binding
from lbc.webhook.review import AdmissionRequest

from tests.unit.webhook.fakes import (
    INSTANCE_ARN,
    IP_ARN,
    LAMBDA_ARN,
    ROLE,
    SHARED_ARN,
    SHARED_VPC,
    VPC,
    FakeGroups,
    tgb,
)


def _request(obj: dict[str, Any], operation: str = "CREATE") -> AdmissionRequest:
    meta = obj["metadata"]
    return AdmissionRequest(
        "u", operation, "elbv2.k8s.aws", "v1beta1", "targetgroupbindings", "",
        meta["namespace"], meta["name"], obj, None, False,
    )  # fmt: skip


def _fills(verdict: Any) -> dict[str, Any]:
    assert verdict.allowed, verdict.message
    assert all(op["op"] == "add" for op in verdict.patch)
    return {op["path"]: op["value"] for op in verdict.patch}


async def test_a_name_only_binding_gets_its_arn_and_every_inferred_field() -> None:
    verdict = await mutate_binding(_request(tgb("web", targetGroupName="web-ip")), FakeGroups())
    assert _fills(verdict) == {
        "/spec/targetGroupARN": IP_ARN,
        "/spec/targetType": "ip",
        "/spec/ipAddressType": "ipv4",
        "/spec/vpcID": VPC,
        "/spec/targetGroupProtocol": "HTTP",
    }


async def test_fields_the_user_set_are_never_overwritten() -> None:
    obj = tgb("web", targetGroupARN=IP_ARN, targetType="instance", targetGroupProtocol="TCP")
    fills = _fills(await mutate_binding(_request(obj), FakeGroups()))
    assert "/spec/targetType" not in fills
    assert "/spec/targetGroupProtocol" not in fills
    assert "/spec/targetGroupARN" not in fills
    assert fills["/spec/vpcID"] == VPC


async def test_a_group_without_address_type_is_ipv4() -> None:
    fills = _fills(
        await mutate_binding(_request(tgb("w", targetGroupARN=INSTANCE_ARN)), FakeGroups())
    )
    assert fills["/spec/ipAddressType"] == "ipv4"
    assert fills["/spec/targetType"] == "instance"


async def test_an_unknown_name_is_denied_naming_target_group_name() -> None:
    verdict = await mutate_binding(_request(tgb("w", targetGroupName="nope")), FakeGroups())
    assert not verdict.allowed
    assert verdict.code == 400
    assert verdict.message.startswith("spec.targetGroupName:")


async def test_neither_arn_nor_name_is_denied() -> None:
    verdict = await mutate_binding(_request(tgb("w")), FakeGroups())
    assert not verdict.allowed
    assert verdict.message.startswith("spec.targetGroupARN:")


async def test_a_lambda_group_cannot_be_bound() -> None:
    verdict = await mutate_binding(_request(tgb("w", targetGroupARN=LAMBDA_ARN)), FakeGroups())
    assert not verdict.allowed
    assert verdict.message.startswith("spec.targetType:")
    assert "lambda" in verdict.message


async def test_an_aws_outage_is_a_500_asking_to_retry_not_a_user_error() -> None:
    groups = FakeGroups()
    groups.throttled = True
    verdict = await mutate_binding(_request(tgb("w", targetGroupARN=IP_ARN)), groups)
    assert not verdict.allowed
    assert verdict.code == 500
    assert "try again" in verdict.message


async def test_updates_pass_through_untouched() -> None:
    groups = FakeGroups()
    verdict = await mutate_binding(_request(tgb("w", targetGroupName="web-ip"), "UPDATE"), groups)
    assert verdict.allowed
    assert verdict.patch == ()
    assert groups.calls == 0


async def test_a_binding_naming_a_role_is_defaulted_from_the_group_that_role_sees() -> None:
    groups = FakeGroups()
    obj = tgb(
        "web",
        targetGroupARN=SHARED_ARN,
        iamRoleArnToAssume=ROLE.arn,
        assumeRoleExternalId=ROLE.external_id,
    )
    fills = _fills(await mutate_binding(_request(obj), groups))
    assert fills["/spec/targetType"] == "ip"
    assert fills["/spec/vpcID"] == SHARED_VPC
    assert groups.role_calls == [ROLE]
    assert groups.calls == 0  # lbc's own identity was never used for it


async def test_the_same_group_without_its_role_is_not_found() -> None:
    verdict = await mutate_binding(_request(tgb("web", targetGroupARN=SHARED_ARN)), FakeGroups())
    assert not verdict.allowed
    assert "does not exist" in verdict.message


async def test_a_wrong_external_id_is_refused_naming_the_role_field() -> None:
    obj = tgb(
        "web",
        targetGroupARN=SHARED_ARN,
        iamRoleArnToAssume=ROLE.arn,
        assumeRoleExternalId="not-the-one",
    )
    verdict = await mutate_binding(_request(obj), FakeGroups())
    assert not verdict.allowed
    assert verdict.code == 403
    assert verdict.message.startswith("spec.iamRoleArnToAssume: AssumeRoleFailed")
