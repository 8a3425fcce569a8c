"""Shared pieces for the lab ELB tests: clients and a network on a freshly reset lab.

Async test modules here declare ``pytestmark = pytest.mark.asyncio(loop_scope="session")``:
they share the session's clients, which live on the session's event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_process import LabElbProcess
from lbc_lab.elb_scenario import Network, create_network


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _session_clients(elb_lab_server: LabElbProcess) -> AsyncIterator[tuple[Any, Any]]:
    # Building an aiobotocore client costs ~0.1 s (EC2 alone has 600 operations to bind), more
    # than most tests here; the tests run on the session loop so they can share one pair.
    lab = ElbLab(elb_lab_server.endpoint_url)
    async with lab.client("ec2") as ec2, lab.client("elbv2", max_attempts=1) as elbv2:
        yield ec2, elbv2


@pytest.fixture
def ec2(elb_lab: ElbLab, _session_clients: tuple[Any, Any]) -> Any:
    """An EC2 client on the reset lab (tests using it run on the session loop)."""
    return _session_clients[0]


@pytest.fixture
def elbv2(elb_lab: ElbLab, _session_clients: tuple[Any, Any]) -> Any:
    """An ELBv2 client on the reset lab that never retries (faults surface as errors)."""
    return _session_clients[1]


@pytest_asyncio.fixture(loop_scope="session")
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
