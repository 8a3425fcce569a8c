"""Clients of assumed roles: one per (role, external id, region), never shared across roles.

No request is sent: the clients are only opened, and their signing credentials compared.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.session import AioSession
from lbc.aws.calls import AwsCalls
from lbc.aws.ratelimit import RateLimits
from lbc.aws.roles import Role, RoleCredentials
from lbc.aws.session import RoleClients
from lbc.settings import load_settings

ROLE = Role("arn:aws:iam::222222222222:role/lbc-shared", "ext-1")


async def _never(**_: Any) -> Any:
    raise AssertionError("no credentials are fetched to open a client")


def _signing_credentials(client: Any) -> Any:
    return client._request_signer._credentials  # botocore keeps them on the signer


async def test_each_role_and_external_id_gets_its_own_client_signed_with_its_credentials() -> None:
    settings = load_settings(aws_region="us-east-1", aws_endpoint_url="http://127.0.0.1:9")
    credentials = RoleCredentials(_never, AwsCalls(RateLimits.per_second(10, 10)))
    async with AsyncExitStack() as stack:
        clients = RoleClients(settings, credentials, stack, AioSession())
        first = await clients.elbv2(ROLE, "eu-west-1")
        assert await clients.elbv2(Role(ROLE.arn, ROLE.external_id), "eu-west-1") is first
        other_id = await clients.elbv2(Role(ROLE.arn, "ext-2"), "eu-west-1")
        other_region = await clients.elbv2(ROLE, "us-west-2")
        ec2 = await clients.ec2(ROLE, "eu-west-1")
        assert len({id(first), id(other_id), id(other_region), id(ec2)}) == 4
        assert first.meta.region_name == "eu-west-1"
        assert other_region.meta.region_name == "us-west-2"
        assert _signing_credentials(first) is credentials.credentials(ROLE)
        assert _signing_credentials(ec2) is credentials.credentials(ROLE)
        assert _signing_credentials(other_id) is credentials.credentials(Role(ROLE.arn, "ext-2"))
        assert _signing_credentials(other_id) is not _signing_credentials(first)


async def test_an_empty_region_means_the_settings_region() -> None:
    settings = load_settings(aws_region="ap-south-1", aws_endpoint_url="http://127.0.0.1:9")
    credentials = RoleCredentials(_never, AwsCalls(RateLimits.per_second(10, 10)))
    async with AsyncExitStack() as stack:
        client = await RoleClients(settings, credentials, stack, AioSession()).elbv2(ROLE, "")
        assert client.meta.region_name == "ap-south-1"
