"""The call log counts every AWS call exactly: operation, group, targets, outcome, time."""

from __future__ import annotations

import itertools
from dataclasses import asdict
from typing import Any

import botocore.exceptions
import pytest

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_rules import StackRules
from lbc_lab.elb_scenario import Network, create_target_group

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_every_call_is_logged_with_group_target_count_and_outcome(
    elb_lab: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "logged")
    mark = elb_lab.control.last_seq()
    await elbv2.register_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(n), "Port": 80} for n in range(7)]
    )
    await elbv2.deregister_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(n), "Port": 80} for n in range(2)]
    )
    await elbv2.describe_target_health(TargetGroupArn=tg.arn)
    with pytest.raises(botocore.exceptions.ClientError):
        await elbv2.register_targets(TargetGroupArn=tg.arn, Targets=[{"Id": "8.8.8.8"}])
    calls = elb_lab.control.calls(since=mark)
    assert [
        (c.service, c.operation, c.target_group_arn, c.target_count, c.outcome) for c in calls
    ] == [
        ("elbv2", "RegisterTargets", tg.arn, 7, "ok"),
        ("elbv2", "DeregisterTargets", tg.arn, 2, "ok"),
        ("elbv2", "DescribeTargetHealth", tg.arn, 0, "ok"),
        ("elbv2", "RegisterTargets", tg.arn, 1, "ValidationError"),
    ]
    assert calls[2].result_count == 7, "five registered and two draining"
    # Each call is stamped when answered, with its duration: one after the other, their spans
    # (what tests of concurrency compare) follow each other without overlap.
    spans = [(c.time - c.duration_ms / 1000.0, c.time) for c in calls]
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans)), spans
    assert [c.seq for c in calls] == sorted({c.seq for c in calls})


async def test_ec2_calls_are_logged_too(elb_lab: ElbLab, ec2: Any) -> None:
    await ec2.describe_vpcs()
    assert elb_lab.control.count("DescribeVpcs", outcome="ok") == 1
    assert elb_lab.control.calls("DescribeVpcs")[0].service == "ec2"


async def test_clearing_the_log_keeps_sequence_numbers_increasing(
    elb_lab: ElbLab, ec2: Any
) -> None:
    await ec2.describe_vpcs()
    last = elb_lab.control.last_seq()
    elb_lab.control.clear_calls()
    assert elb_lab.control.calls() == []
    await ec2.describe_vpcs()
    assert elb_lab.control.last_seq() > last


async def test_reset_forgets_resources_rules_and_calls(
    elb_lab: ElbLab, elbv2: Any, net: Network
) -> None:
    tg = await create_target_group(elbv2, net, "forgotten")
    elb_lab.control.throttle("DescribeTargetGroups")
    elb_lab.control.set_health("10.0.0.9", "unhealthy")
    elb_lab.control.configure(target_quota=1)
    elb_lab.control.set_fidelity(lb_name_unique=False, tg_in_use_seconds=0)
    elb_lab.control.set_clock(time_factor=0.5, paused=True)
    elb_lab.control.reset()
    status = elb_lab.control.status()
    assert status["settings"] == {
        "target_quota": 1000,
        "registration_seconds": 10.0,
        "stacks": asdict(StackRules()),
    }
    assert status["settings"]["stacks"]["lb_name_unique"] is True
    assert status["clock"]["time_factor"] == 1.0
    assert status["clock"]["paused"] is False
    assert status["faults"]["rules"] == []
    assert elb_lab.control.calls() == []
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        await elbv2.describe_target_groups(TargetGroupArns=[tg.arn])
    assert caught.value.response["Error"]["Code"] == "TargetGroupNotFound"
