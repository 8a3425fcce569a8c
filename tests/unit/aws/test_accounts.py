"""Calls about a target group spend the rate limits of the group's account, whoever calls."""

from __future__ import annotations

from typing import Any

from lbc.aws.calls import AwsCalls
from lbc.aws.elbv2 import TargetGroups
from lbc.aws.ratelimit import RateLimits
from lbc.aws.vpc import VpcDirectory

IN_A = "arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/a/0123456789abcdef"
IN_B = "arn:aws:elasticloadbalancing:eu-west-1:222222222222:targetgroup/b/0123456789abcdef"


class FakeElbv2:
    async def describe_target_health(self, **_: Any) -> dict[str, Any]:
        return {"TargetHealthDescriptions": []}


async def test_each_account_of_the_arns_gets_its_own_rate_limits() -> None:
    made: list[RateLimits] = []

    def limits() -> RateLimits:
        made.append(RateLimits.per_second(1000, 1000))
        return made[-1]

    calls = AwsCalls(RateLimits.per_second(1000, 1000), account_limits=limits)
    elbv2: Any = FakeElbv2()
    groups = TargetGroups(elbv2, calls, VpcDirectory(elbv2, calls))
    for arn in (IN_A, IN_B, IN_A, IN_B):
        await groups.describe(arn, fresh=True)
    assert len(made) == 2
    assert calls.for_account("111111111111") is not calls.for_account("222222222222")
