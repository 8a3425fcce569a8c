"""The lab answers per account: resources live in the account that made them, STS decides trust.

A test proving that a binding reaches another account's group *only* through a role relies on
this: a group of one account is invisible to another's keys, AssumeRole is refused unless the
role's trust policy names the caller (and the external id matches), and the credentials STS
issues act in the role's account.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import botocore.exceptions
import pytest

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import BoundTargetGroup, Network, create_network, create_target_group

A, B = "111111111111", "222222222222"


class Accounts:
    def __init__(self, lab: ElbLab, stack: AsyncExitStack) -> None:
        self.lab = lab
        self.stack = stack
        self.roles = 0

    async def client(self, service: str, account: str) -> Any:
        return await self.stack.enter_async_context(
            self.lab.client(service, account=account, max_attempts=1)
        )

    async def group(self, account: str, name: str) -> tuple[BoundTargetGroup, Network]:
        net = await create_network(await self.client("ec2", account))
        return await create_target_group(await self.client("elbv2", account), net, name), net

    async def role(self, account: str, trusted: str, external_id: str | None) -> str:
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"AWS": trusted},
            "Action": "sts:AssumeRole",
        }
        if external_id is not None:
            statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
        iam = await self.client("iam", account)
        self.roles += 1
        made = await iam.create_role(
            RoleName=f"role-{self.roles}",
            AssumeRolePolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [statement]}
            ),
        )
        arn: str = made["Role"]["Arn"]
        return arn


@pytest.fixture
async def accounts(elb_lab: ElbLab) -> AsyncIterator[Accounts]:
    async with AsyncExitStack() as stack:
        yield Accounts(elb_lab, stack)


def _code(err: botocore.exceptions.ClientError) -> str:
    return str(err.response["Error"]["Code"])


async def test_a_group_lives_in_the_account_that_made_it(accounts: Accounts) -> None:
    in_b, net = await accounts.group(B, "same-name")
    in_a, _ = await accounts.group(A, "same-name")
    assert f":{B}:" in in_b.arn
    assert f":{A}:" in in_a.arn
    b_elbv2, a_elbv2 = await accounts.client("elbv2", B), await accounts.client("elbv2", A)
    await b_elbv2.register_targets(TargetGroupArn=in_b.arn, Targets=[{"Id": net.ip(1)}])
    for call in (
        a_elbv2.describe_target_health(TargetGroupArn=in_b.arn),
        a_elbv2.register_targets(TargetGroupArn=in_b.arn, Targets=[{"Id": net.ip(2)}]),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            await call
        assert _code(caught.value) == "TargetGroupNotFound"
    seen = await b_elbv2.describe_target_health(TargetGroupArn=in_b.arn)
    assert [d["Target"]["Id"] for d in seen["TargetHealthDescriptions"]] == [net.ip(1)]
    assert (await a_elbv2.describe_target_health(TargetGroupArn=in_a.arn))[
        "TargetHealthDescriptions"
    ] == []


async def test_assume_role_is_granted_only_as_the_trust_policy_says(accounts: Accounts) -> None:
    a_user = accounts.lab.account_keys(A)["arn"]
    sts = await accounts.client("sts", A)
    with_id = await accounts.role(B, a_user, "ext-1")
    other_principal = await accounts.role(B, f"arn:aws:iam::{A}:user/someone-else", None)
    whole_account = await accounts.role(B, A, None)
    refused = [
        (f"arn:aws:iam::{B}:role/missing", None),
        (with_id, None),
        (with_id, "ext-2"),
        (other_principal, None),
    ]
    for role, external_id in refused:
        params = {"RoleArn": role, "RoleSessionName": "test"}
        if external_id is not None:
            params["ExternalId"] = external_id
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            await sts.assume_role(**params)
        assert _code(caught.value) == "AccessDenied", role
        assert "is not authorized to perform: sts:AssumeRole" in str(caught.value)
    for role, external_id in ((with_id, "ext-1"), (whole_account, None)):
        params = {"RoleArn": role, "RoleSessionName": "test"}
        if external_id is not None:
            params["ExternalId"] = external_id
        issued = (await sts.assume_role(**params))["Credentials"]
        assert issued["AccessKeyId"]


async def test_assumed_credentials_act_in_the_roles_account(accounts: Accounts) -> None:
    group, net = await accounts.group(B, "shared")
    a_user = accounts.lab.account_keys(A)["arn"]
    role = await accounts.role(B, a_user, None)
    sts = await accounts.client("sts", A)
    issued = (await sts.assume_role(RoleArn=role, RoleSessionName="test"))["Credentials"]
    lab = accounts.lab
    mark = lab.control.last_seq()
    async with lab.session().create_client(
        "elbv2",
        region_name=lab.region,
        endpoint_url=lab.endpoint_url,
        aws_access_key_id=issued["AccessKeyId"],
        aws_secret_access_key=issued["SecretAccessKey"],
        aws_session_token=issued["SessionToken"],
    ) as assumed:
        await assumed.register_targets(TargetGroupArn=group.arn, Targets=[{"Id": net.ip(3)}])
    logged = lab.control.calls("RegisterTargets", since=mark)
    assert [(r.account, r.outcome) for r in logged] == [(B, "ok")]


async def test_faults_and_buckets_can_hit_one_account_only(accounts: Accounts) -> None:
    in_a, _ = await accounts.group(A, "a")
    in_b, _ = await accounts.group(B, "b")
    accounts.lab.control.throttle("DescribeTargetHealth", account=B)
    a_elbv2, b_elbv2 = await accounts.client("elbv2", A), await accounts.client("elbv2", B)
    await a_elbv2.describe_target_health(TargetGroupArn=in_a.arn)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        await b_elbv2.describe_target_health(TargetGroupArn=in_b.arn)
    assert _code(caught.value) == "Throttling"
