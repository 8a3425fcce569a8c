"""The AWS adapter wired as the daemon wires it, against the lab's ELBv2/EC2 server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from lbc.aws.adapter import open_aws
from lbc.aws.calls import AwsCalls
from lbc.aws.elbv2 import TargetGroups
from lbc.aws.session import AwsClients
from lbc.aws.vpc import VpcDirectory
from lbc.settings import Settings, load_settings

from lbc_lab.elb_fixtures import ElbLab
from lbc_lab.elb_scenario import Network, create_network


@dataclass
class Adapter:
    """Everything a test needs: the port under test, the raw clients and the lab's controls."""

    groups: TargetGroups
    clients: AwsClients
    calls: AwsCalls
    vpcs: VpcDirectory
    network: Network
    lab: ElbLab
    settings: Settings

    @property
    def elbv2(self) -> Any:
        return self.clients.elbv2

    @property
    def ec2(self) -> Any:
        return self.clients.ec2


def lab_settings(lab: ElbLab, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "aws_endpoint_url": lab.endpoint_url,
        "aws_region": lab.region,
        "aws_retry_mode": "standard",
        "aws_max_attempts": 3,
        "aws_calls_per_second": 200.0,
        "aws_describe_calls_per_second": 500.0,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
async def adapter(elb_lab: ElbLab) -> AsyncIterator[Adapter]:
    settings = lab_settings(elb_lab)
    async with open_aws(settings, call_timeout=30) as aws:
        network = await create_network(aws.clients.ec2)
        yield Adapter(
            aws.target_groups, aws.clients, aws.calls, aws.vpcs, network, elb_lab, settings
        )


def metric(name: str, **labels: str) -> float:
    """Current value of a sample on the process registry (0 when never moved)."""
    from lbc.observe.metrics import REGISTRY

    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def metric_sum(name: str, **labels: str) -> float:
    """Sum of every sample of ``name`` whose labels include ``labels``."""
    from lbc.observe.metrics import REGISTRY

    total = 0.0
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def intervals(records: list[Any]) -> list[tuple[float, float]]:
    """(start, end) wall times of lab call records (the log stamps the end and the duration)."""
    return [(r.time - r.duration_ms / 1000.0, r.time) for r in records]


def overlapping(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]
