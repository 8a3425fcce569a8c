"""Shared pieces for the lab ELB tests: clients and a network on a freshly reset lab."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from lbc.lab.elb_fixtures import ElbLab
from lbc.lab.elb_scenario import Network, create_network


@pytest.fixture
async def ec2(elb_lab: ElbLab) -> AsyncIterator[Any]:
    async with elb_lab.client("ec2") as client:
        yield client


@pytest.fixture
async def elbv2(elb_lab: ElbLab) -> AsyncIterator[Any]:
    async with elb_lab.client("elbv2", max_attempts=1) as client:
        yield client


@pytest.fixture
async def net(ec2: Any) -> Network:
    return await create_network(ec2)


@pytest.fixture
def paused(elb_lab: ElbLab) -> ElbLab:
    """The lab with its clock paused: health moves only when the test advances it."""
    elb_lab.control.set_clock(paused=True)
    return elb_lab


async def health(elbv2: Any, arn: str, **kwargs: Any) -> dict[tuple[str, int], dict[str, Any]]:
    """DescribeTargetHealth as {(id, port): description}."""
    answer = await elbv2.describe_target_health(TargetGroupArn=arn, **kwargs)
    return {(d["Target"]["Id"], d["Target"]["Port"]): d for d in answer["TargetHealthDescriptions"]}


async def states(elbv2: Any, arn: str) -> dict[tuple[str, int], tuple[str, str]]:
    """{(id, port): (state, reason)} of every target in the group."""
    return {
        key: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason", ""))
        for key, d in (await health(elbv2, arn)).items()
    }
