"""The aiobotocore clients of the daemon (ELBv2 and EC2), built once from the settings.

Why one place: every client must share the same retry policy (botocore's ``standard`` or
``adaptive`` mode with ``LBC_AWS_MAX_ATTEMPTS``), the same per-attempt deadlines (connect and
read timeouts, so a silent endpoint costs seconds, not the OS's minutes), the lab's endpoint
override, and the metrics hook that counts every attempt and throttle answer. Clients hold
connection pools, so they live as long as the process: :func:`open_clients` is an async context
manager owned by the application's lifecycle.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from lbc.aws.metrics import AttemptObserver

if TYPE_CHECKING:
    from types_aiobotocore_ec2 import EC2Client
    from types_aiobotocore_elbv2 import ElasticLoadBalancingv2Client

    from lbc.settings import Settings

USER_AGENT: Final = "lbc"
CONNECT_TIMEOUT: Final = 5.0
READ_TIMEOUT: Final = 20.0


@dataclass(frozen=True, slots=True)
class AwsClients:
    """Open ELBv2 and EC2 clients; valid only inside :func:`open_clients`."""

    elbv2: ElasticLoadBalancingv2Client
    ec2: EC2Client


def client_config(settings: Settings, *, max_pool_connections: int = 32) -> AioConfig:
    """botocore configuration shared by both clients (retries, deadlines, pool size)."""
    return AioConfig(
        retries={"mode": settings.aws_retry_mode, "total_max_attempts": settings.aws_max_attempts},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        max_pool_connections=max_pool_connections,
        user_agent_extra=USER_AGENT,
    )


@asynccontextmanager
async def open_clients(
    settings: Settings, *, session: AioSession | None = None
) -> AsyncIterator[AwsClients]:
    """ELBv2 and EC2 clients for the settings' region and endpoint, closed on exit."""
    aio_session = session if session is not None else get_session()
    config = client_config(settings)
    kwargs: dict[str, Any] = {"config": config}
    if settings.aws_region is not None:
        kwargs["region_name"] = settings.aws_region
    if settings.aws_endpoint_url is not None:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    async with AsyncExitStack() as stack:
        elbv2 = await stack.enter_async_context(aio_session.create_client("elbv2", **kwargs))
        ec2 = await stack.enter_async_context(aio_session.create_client("ec2", **kwargs))
        elbv2.meta.events.register("response-received", AttemptObserver("elbv2"))
        ec2.meta.events.register("response-received", AttemptObserver("ec2"))
        yield AwsClients(elbv2=elbv2, ec2=ec2)
