"""The lab keeps up with lbc's scale: 1,000 targets in lbc's batches, described in one call.

What the calls cost in time is a benchmark's figure (``tests/perf/bench_elb.py``), not a test's.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbc_lab.elb_control import LabControlError
from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import Network, create_target_group

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_1000_targets_register_in_five_batches_and_describe_in_one_call(
    elb_lab: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "thousand")
    targets = [{"Id": net.ip(n), "Port": 8080} for n in range(1000)]
    for i in range(0, len(targets), 200):  # lbc's batch size
        await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=targets[i : i + 200])
    answer = await elbv2.describe_target_health(TargetGroupArn=tg.arn)
    assert len(answer["TargetHealthDescriptions"]) == 1000
    assert elb_lab.control.count("RegisterTargets", outcome="ok") == 5
    described = elb_lab.control.calls("DescribeTargetHealth")
    assert [(c.outcome, c.result_count) for c in described] == [("ok", 1000)]


async def test_seeded_target_groups_answer_like_groups_made_through_the_api(
    elb_lab: ElbLab, elbv2: Any, net: Network
) -> None:
    since = elb_lab.control.last_seq()
    arns = elb_lab.control.create_target_groups(
        net.vpc_id,
        [("seeded-a", [(net.ip(0), 8080), (net.ip(1), 8080)]), ("seeded-b", [])],
        port=8080,
    )
    made = await elbv2.describe_target_groups(TargetGroupArns=arns)
    assert [g["TargetGroupName"] for g in made["TargetGroups"]] == ["seeded-a", "seeded-b"]
    assert {g["VpcId"] for g in made["TargetGroups"]} == {net.vpc_id}
    health = await elbv2.describe_target_health(TargetGroupArn=arns[0])
    assert {d["Target"]["Id"] for d in health["TargetHealthDescriptions"]} == set(net.ips(2))
    # Set-up, not traffic: the call log holds only the two describes above.
    assert [c.operation for c in elb_lab.control.calls(since=since)] == [
        "DescribeTargetGroups",
        "DescribeTargetHealth",
    ]


async def test_seeding_refuses_what_register_targets_refuses(elb_lab: ElbLab, net: Network) -> None:
    # Outside the VPC's subnets without AvailabilityZone "all": ELBv2's ValidationError.
    with pytest.raises(LabControlError, match="ValidationError"):
        elb_lab.control.create_target_groups(net.vpc_id, [("outside", [("192.168.0.9", 80)])])
