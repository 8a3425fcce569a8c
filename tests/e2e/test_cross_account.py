"""Cross-account target groups end to end: a MultiCluster group of account B shared by a cluster
of account A (through the role its binding names) and a cluster of account B (its own).

The lab answers every call in the account whose keys signed it and refuses AssumeRole unless the
role's trust policy allows the caller with the right external id, so A's daemon can reach the
group only through the role: its own identity does not see the group at all.
"""

from __future__ import annotations

import pytest

from lbc_lab.elb_scenario import BoundTargetGroup
from lbc_lab.scenario import World, eventually
from tests.e2e.conftest import (
    NS,
    POD_CIDR_A,
    POD_CIDR_B,
    Guard,
    active_targets,
    binding,
    echoserver,
    pod_targets,
    ready_condition,
    register_foreign,
    wait_binding_gone,
    wait_refused,
    wait_targets,
)

pytestmark = pytest.mark.timeout(150)

A, B = "111111111111", "222222222222"
EXTERNAL_ID = "cluster-a-shared"


async def role_for_a(
    world: World, group: str, foreign_ips: list[str], **role: str
) -> tuple[BoundTargetGroup, str, set[str]]:
    """Account B's group ``group`` holding targets registered by hand at ``foreign_ips``, and a
    role of B trusting account A's user: (group, role ARN, the hand-registered targets)."""
    a_account = await world.account(A)
    tg = await world.target_group(group, target_type="ip", account=B)
    arn = await world.role(B, "lbc-cluster-a", trusted=a_account.user_arn, **role)
    return tg, arn, await register_foreign(world, tg.arn, foreign_ips)


async def test_a_cluster_of_another_account_shares_the_group_through_its_role(
    world: World,
) -> None:
    tg, role, foreign = await role_for_a(world, "shared", ["10.0.40.5"], external_id=EXTERNAL_ID)
    a = await world.add_cluster("a", nodes=1, pod_cidr=POD_CIDR_A)
    b = await world.add_cluster("b", nodes=1, pod_cidr=POD_CIDR_B)
    await echoserver(a, 2)
    await echoserver(b, 2)
    await a.apply_binding(
        binding("web", tg.arn, iamRoleArnToAssume=role, assumeRoleExternalId=EXTERNAL_ID)
    )
    await b.apply_binding(binding("web", tg.arn))
    assert world.control is not None
    mark = world.control.last_seq()
    await world.start_daemon(a, account=A)
    await world.start_daemon(b, account=B)

    a_targets, b_targets = pod_targets(a), pod_targets(b)
    await wait_targets(world, tg.arn, a_targets | b_targets | foreign, what="both clusters")

    async def ready() -> bool:
        cond = await ready_condition(a, "web")
        return cond is not None and cond["status"] == "True"

    await eventually(ready, timeout=30, what="a's binding Ready")
    # Every change to the group was made in account B; A's daemon got there by assuming the role
    # (signed as A), never by calling ELBv2 of its own account.
    changes = world.control.calls(["RegisterTargets", "DeregisterTargets"], since=mark)
    assert changes
    assert {r.account for r in changes} == {B}
    assumed = world.control.calls("AssumeRole", since=mark)
    assert assumed
    assert {(r.account, r.outcome) for r in assumed} == {(A, "ok")}
    assert world.control.calls("DescribeTargetHealth", since=mark, account=A) == []

    async with Guard(world, tg.arn, b_targets | foreign).watching():
        await a.delete_binding(NS, "web")
        await wait_targets(world, tg.arn, b_targets | foreign, what="a's binding deleted")

    await wait_binding_gone(a, "web", what="a's binding finalized")
    assert await a.get_configmap(NS, "aws-lbc-targets-web") is None


async def test_a_wrong_external_id_is_assume_role_failed_and_changes_nothing(
    world: World,
) -> None:
    tg, role, foreign = await role_for_a(
        world, "guarded", ["10.0.40.5", "10.0.40.6"], external_id=EXTERNAL_ID
    )
    a = await world.add_cluster("a", nodes=1, pod_cidr=POD_CIDR_A)
    await echoserver(a, 2)
    await a.apply_binding(
        binding("web", tg.arn, iamRoleArnToAssume=role, assumeRoleExternalId="guessed")
    )
    control = world.control
    assert control is not None
    mark = control.last_seq()
    async with Guard(world, tg.arn, foreign).watching():
        await world.start_daemon(a, account=A)

        await wait_refused(
            a,
            "web",
            "AssumeRoleFailed",
            timeout=30,
            message="not authorized to perform: sts:AssumeRole",
        )

        # Retried with backoff: more refused AssumeRole calls come, and nothing else does.
        async def retried() -> bool:
            refused = control.calls("AssumeRole", since=mark)
            return len([r for r in refused if r.outcome == "AccessDenied"]) >= 2

        await eventually(retried, timeout=30, what="a retried AssumeRole")
    # The group was read only by the guard (signed as B): lbc made no ELBv2 call at all.
    assert control.calls(["RegisterTargets", "DeregisterTargets"], since=mark) == []
    assert [r for r in control.calls(since=mark, account=A) if r.service == "elbv2"] == []
    assert await active_targets(world, tg.arn) == foreign


async def test_a_role_lacking_a_permission_is_access_denied_until_iam_is_fixed(
    world: World,
) -> None:
    tg, role, foreign = await role_for_a(world, "denied", ["10.0.40.5"])
    a = await world.add_cluster("a", nodes=1, pod_cidr=POD_CIDR_A)
    await echoserver(a, 2)
    await a.apply_binding(binding("web", tg.arn, iamRoleArnToAssume=role))
    control = world.control
    assert control is not None
    # The role may describe the group but not change it (IAM enforcement is the lab's fault
    # injection here: every RegisterTargets of account B is refused as AWS refuses it).
    control.fail(
        "RegisterTargets",
        status=403,
        code="AccessDenied",
        account=B,
        message="User is not authorized to perform: elasticloadbalancing:RegisterTargets",
    )
    async with Guard(world, tg.arn, foreign).watching():
        await world.start_daemon(a, account=A)

        await wait_refused(
            a, "web", "AccessDenied", timeout=30, message="elasticloadbalancing:RegisterTargets"
        )
        assert await active_targets(world, tg.arn) == foreign

        # The permission is granted: the retries (backoff, no Kubernetes event) converge.
        control.clear_faults()
        await wait_targets(world, tg.arn, pod_targets(a) | foreign, what="after the IAM fix")
