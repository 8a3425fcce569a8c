"""The AWS adapter assembled from the settings: what ``lbc.app`` opens once per process.

One rate-limit budget per AWS account, one set of clients per identity (lbc's own, and each
assumed role's) and one cache per process: every binding's work shares them, which is what makes
the limits and the caches mean anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lbc.aws.calls import DEFAULT_CALL_TIMEOUT, AwsCalls
from lbc.aws.elbv2 import DEFAULT_HEALTH_TTL, DEFAULT_MAX_IN_FLIGHT, TargetGroups
from lbc.aws.ratelimit import RateLimits
from lbc.aws.roles import RoleCredentials, session_name
from lbc.aws.session import AwsClients, RoleClients, open_clients
from lbc.aws.vpc import VpcDirectory

if TYPE_CHECKING:
    from aiobotocore.session import AioSession

    from lbc.settings import Settings


@dataclass(frozen=True, slots=True)
class AwsAdapter:
    """The open adapter: the reconciler's port and what it is built on."""

    target_groups: TargetGroups
    vpcs: VpcDirectory
    clients: AwsClients
    calls: AwsCalls
    roles: RoleClients


@asynccontextmanager
async def open_aws(
    settings: Settings,
    *,
    session: AioSession | None = None,
    call_timeout: float = DEFAULT_CALL_TIMEOUT,
    health_ttl: float = DEFAULT_HEALTH_TTL,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
) -> AsyncIterator[AwsAdapter]:
    """Clients, rate limits and caches for the process; the clients close on exit."""

    def limits() -> RateLimits:
        return RateLimits.per_second(
            settings.aws_calls_per_second, settings.aws_describe_calls_per_second
        )

    calls = AwsCalls(limits(), timeout=call_timeout, account_limits=limits)
    async with open_clients(settings, session=session) as clients, AsyncExitStack() as stack:
        credentials = RoleCredentials(
            clients.sts.assume_role, calls, session_name=session_name(settings.cluster_name)
        )
        roles = RoleClients(settings, credentials, stack, clients.session)
        vpcs = VpcDirectory(clients.ec2, calls, roles=roles)
        groups = TargetGroups(
            clients.elbv2,
            calls,
            vpcs,
            health_ttl=health_ttl,
            max_in_flight=max_in_flight,
            roles=roles,
        )
        yield AwsAdapter(groups, vpcs, clients, calls, roles)
