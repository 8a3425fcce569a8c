"""QUIC target groups in the lab: targets carry a QuicServerId, as ELBv2 requires."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from lbc_lab.elb_scenario import Network, create_target_group

pytestmark = pytest.mark.asyncio(loop_scope="session")

SERVER_ID = "0x1a2b3c4d5e6f7a8b"


async def test_quic_target_is_listed_with_its_server_id(elbv2: Any, net: Network) -> None:
    tg = await create_target_group(elbv2, net, "quic-ids", protocol="QUIC", port=443)
    ip = net.ip(0)
    await elbv2.register_targets(
        TargetGroupArn=tg.arn, Targets=[{"Id": ip, "Port": 443, "QuicServerId": SERVER_ID}]
    )
    listed = await elbv2.describe_target_health(TargetGroupArn=tg.arn)
    (target,) = [d["Target"] for d in listed["TargetHealthDescriptions"]]
    assert (target["Id"], target["Port"], target["QuicServerId"]) == (ip, 443, SERVER_ID)
    described = await elbv2.describe_target_groups(TargetGroupArns=[tg.arn])
    assert described["TargetGroups"][0]["Protocol"] == "QUIC"


@pytest.mark.parametrize(
    ("protocol", "entry"),
    [
        pytest.param("QUIC", {}, id="quic-without-server-id"),
        pytest.param("TCP_QUIC", {"QuicServerId": "0xABC"}, id="malformed-server-id"),
        pytest.param("TCP", {"QuicServerId": SERVER_ID}, id="server-id-outside-quic"),
    ],
)
async def test_server_id_rules_are_validated(
    elbv2: Any, net: Network, protocol: str, entry: dict[str, str]
) -> None:
    tg = await create_target_group(
        elbv2, net, f"quic-{protocol.lower().replace('_', '-')}", protocol=protocol
    )
    with pytest.raises(ClientError) as info:
        await elbv2.register_targets(
            TargetGroupArn=tg.arn, Targets=[{"Id": net.ip(1), "Port": 80, **entry}]
        )
    assert info.value.response["Error"]["Code"] == "ValidationError"
