"""A VPC's ranges are asked of EC2 once per ``ttl``, timed by the injected clock."""

from __future__ import annotations

from typing import Any

from lbc.aws.calls import AwsCalls
from lbc.aws.ratelimit import RateLimits
from lbc.aws.vpc import VpcDirectory


class FakeEc2:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []
        self.cidr = "10.0.0.0/16"

    async def describe_vpcs(self, *, VpcIds: list[str]) -> dict[str, Any]:  # noqa: N803 - AWS's
        self.asked.append(VpcIds)
        return {"Vpcs": [{"VpcId": VpcIds[0], "CidrBlock": self.cidr}]}


async def test_ranges_are_reused_until_the_ttl_passes_then_asked_again() -> None:
    now = [0.0]
    ec2 = FakeEc2()
    ec2_client: Any = ec2
    vpcs = VpcDirectory(
        ec2_client, AwsCalls(RateLimits.per_second(1000, 1000)), ttl=300.0, clock=lambda: now[0]
    )
    assert (await vpcs.ranges("vpc-1")).contains("10.0.1.1")
    ec2.cidr = "192.168.0.0/16"  # a change EC2 would show; the cached ranges hide it for a while
    now[0] = 299.0
    assert (await vpcs.ranges("vpc-1")).contains("10.0.1.1")
    assert len(ec2.asked) == 1
    now[0] = 300.0
    assert (await vpcs.ranges("vpc-1")).contains("192.168.1.1")
    assert len(ec2.asked) == 2
    await vpcs.ranges("vpc-2")
    assert ec2.asked[-1] == ["vpc-2"], "one VPC's cached ranges served another"
