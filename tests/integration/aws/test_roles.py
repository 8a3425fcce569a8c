"""A target group of another account, reached only through the role a binding names.

The lab answers every request in the account whose keys signed it, and refuses AssumeRole unless
the role's trust policy allows the caller with the right external id, as STS does. lbc runs as a
user of account A (111111111111); the group and the role live in account B (222222222222).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from aiobotocore.session import AioSession
from lbc.aws.adapter import AwsAdapter, open_aws
from lbc.aws.roles import Role
from lbc.core.errors import AccessError, TargetGroupNotFoundError
from lbc.core.targets import Target

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import BoundTargetGroup, Network, create_network, create_target_group
from tests.integration.aws.conftest import lab_settings

A, B = "111111111111", "222222222222"
EXTERNAL_ID = "cluster-a-shared"


def trust(principal: str, external_id: str | None) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "sts:AssumeRole",
    }
    if external_id is not None:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@dataclass
class CrossAccount:
    lab: ElbLab
    aws: AwsAdapter
    group: BoundTargetGroup
    network: Network
    role: Role

    def calls(self, operation: str, since: int, account: str | None = None) -> list[Any]:
        return self.lab.control.calls(operation, since=since, account=account)


@pytest.fixture
async def cross(elb_lab: ElbLab) -> AsyncIterator[CrossAccount]:
    a_user = elb_lab.account_keys(A)
    async with AsyncExitStack() as stack:
        ec2 = await stack.enter_async_context(elb_lab.client("ec2", account=B))
        elbv2 = await stack.enter_async_context(elb_lab.client("elbv2", account=B))
        iam = await stack.enter_async_context(elb_lab.client("iam", account=B))
        network = await create_network(ec2)
        group = await create_target_group(elbv2, network, "shared", target_type="ip")
        made = await iam.create_role(
            RoleName="lbc-shared", AssumeRolePolicyDocument=trust(a_user["arn"], EXTERNAL_ID)
        )
        session = AioSession()
        session.set_credentials(a_user["access_key_id"], a_user["secret_access_key"])
        aws = await stack.enter_async_context(
            open_aws(lab_settings(elb_lab, cluster_name="a"), session=session, call_timeout=30)
        )
        yield CrossAccount(elb_lab, aws, group, network, Role(made["Role"]["Arn"], EXTERNAL_ID))


async def test_lbcs_own_identity_does_not_see_the_other_accounts_group(
    cross: CrossAccount,
) -> None:
    with pytest.raises(TargetGroupNotFoundError):
        await cross.aws.target_groups.describe(cross.group.arn)


async def test_through_the_role_targets_are_registered_in_the_groups_account(
    cross: CrossAccount,
) -> None:
    mark = cross.lab.control.last_seq()
    port = cross.aws.target_groups.as_role(cross.role)
    targets = [Target(cross.network.ip(n), 8080) for n in range(3)]
    await port.register(cross.group.arn, targets)
    seen = await port.describe(cross.group.arn, fresh=True)
    assert set(seen) == set(targets)
    registered = cross.calls("RegisterTargets", mark)
    assert [(r.account, r.outcome) for r in registered] == [(B, "ok")]
    # One AssumeRole, signed by account A, for every call of the role.
    assumed = cross.calls("AssumeRole", mark)
    assert [(r.account, r.outcome) for r in assumed] == [(A, "ok")]
    assert cross.aws.target_groups.as_role(Role(cross.role.arn, EXTERNAL_ID)) is port
    # The role's view of the group is its own: lbc's identity still does not see the group.
    with pytest.raises(TargetGroupNotFoundError):
        await cross.aws.target_groups.describe(cross.group.arn)


async def test_a_wrong_external_id_is_an_assume_role_failure_and_changes_nothing(
    cross: CrossAccount,
) -> None:
    good = cross.aws.target_groups.as_role(cross.role)
    foreign = Target(cross.network.ip(9), 8080)
    await good.register(cross.group.arn, [foreign])
    mark = cross.lab.control.last_seq()
    wrong = cross.aws.target_groups.as_role(Role(cross.role.arn, "guessed"))
    with pytest.raises(AccessError) as caught:
        await wrong.deregister(cross.group.arn, [foreign])
    assert caught.value.reason == "AssumeRoleFailed"
    assert "not authorized to perform: sts:AssumeRole" in caught.value.message
    assert cross.calls("DeregisterTargets", mark) == []
    assert foreign in await good.describe(cross.group.arn, fresh=True)


async def test_a_role_that_does_not_trust_lbc_cannot_be_assumed(cross: CrossAccount) -> None:
    other = Role(f"arn:aws:iam::{B}:role/not-there", EXTERNAL_ID)
    with pytest.raises(AccessError) as caught:
        await cross.aws.target_groups.as_role(other).describe(cross.group.arn)
    assert caught.value.reason == "AssumeRoleFailed"


async def test_ip_targets_zones_are_decided_from_the_groups_vpc_seen_through_the_role(
    cross: CrossAccount,
) -> None:
    mark = cross.lab.control.last_seq()
    port = cross.aws.target_groups.as_role(cross.role)
    outside = Target("172.16.0.9", 8080)
    await port.register(cross.group.arn, [outside])
    vpcs = cross.calls("DescribeVpcs", mark)
    assert [(r.account, r.outcome) for r in vpcs] == [(B, "ok")]
    seen = await port.describe(cross.group.arn, fresh=True)
    assert seen[outside].availability_zone == "all"


async def test_a_role_lacking_a_permission_is_access_denied(cross: CrossAccount) -> None:
    cross.lab.control.fail(
        "RegisterTargets", status=403, code="AccessDenied", account=B, message="not allowed"
    )
    port = cross.aws.target_groups.as_role(cross.role)
    with pytest.raises(AccessError) as caught:
        await port.register(cross.group.arn, [Target(cross.network.ip(1), 8080)])
    assert caught.value.reason == "AccessDenied"
