"""Which bindings name the inspected group, and how concurrent reads report failures."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from lbc.core.errors import TransientError
from lbc.inspect.gather import concurrently, names_group

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"


def raw(**spec: object) -> dict[str, object]:
    return {"metadata": {"name": "web", "namespace": "shop"}, "spec": spec}


def test_a_binding_names_the_group_by_arn() -> None:
    assert names_group(raw(targetGroupARN=ARN), ARN, "web")
    assert not names_group(raw(targetGroupARN=ARN + "0"), ARN, "web")


def test_a_binding_without_an_arn_names_the_group_by_name() -> None:
    assert names_group(raw(targetGroupName="web"), ARN, "web")
    assert not names_group(raw(targetGroupName="other"), ARN, "web")


def test_an_arn_wins_over_a_matching_name() -> None:
    assert not names_group(raw(targetGroupARN=ARN + "0", targetGroupName="web"), ARN, "web")


def test_a_binding_without_a_spec_names_nothing() -> None:
    assert not names_group({"metadata": {}}, ARN, "web")


async def test_concurrent_reads_raise_the_first_failure_once_all_ended() -> None:
    ended: list[str] = []

    async def slow() -> str:
        await anyio.lowlevel.checkpoint()
        ended.append("slow")
        return "slow"

    async def fails() -> str:
        raise TransientError("cluster b: connection refused")

    with pytest.raises(TransientError, match="cluster b"):
        await concurrently(slow, fails)
    assert ended == ["slow"]
    assert await concurrently(slow, slow) == ["slow", "slow"]
