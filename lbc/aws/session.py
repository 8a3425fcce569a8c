"""The aiobotocore clients of the daemon (ELBv2, EC2, STS), built once from the settings.

Why one place: every client must share the same retry policy (botocore's ``standard`` or
``adaptive`` mode with ``LBC_AWS_MAX_ATTEMPTS``), the same per-attempt deadlines (connect and
read timeouts, so a silent endpoint costs seconds, not the OS's minutes), the lab's endpoint
override, and the metrics hook that counts every attempt and throttle answer. Clients hold
connection pools, so they live as long as the process: :func:`open_clients` is an async context
manager owned by the application's lifecycle.

Bindings that name a role (``spec.iamRoleArnToAssume``) get clients of their own from
:class:`RoleClients`: one ELBv2 and one EC2 client per (role, external id, region), opened on
first use with the role's refreshable credentials (:mod:`lbc.aws.roles`) and the same policy as
the process's own clients, and closed with them. A client is never shared between two roles, nor
between one role's different external ids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final

from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioCredentialResolver
from aiobotocore.session import AioSession, get_session
from botocore.credentials import CredentialProvider

from lbc.aws.keyedlock import KeyedLock
from lbc.aws.metrics import AttemptObserver
from lbc.aws.roles import Role, RoleCredentials

if TYPE_CHECKING:
    from aiobotocore.credentials import AioDeferredRefreshableCredentials
    from types_aiobotocore_ec2 import EC2Client
    from types_aiobotocore_elbv2 import ElasticLoadBalancingv2Client

    from lbc.settings import Settings

USER_AGENT: Final = "lbc"
CONNECT_TIMEOUT: Final = 5.0
READ_TIMEOUT: Final = 20.0


@dataclass(frozen=True, slots=True)
class AwsClients:
    """Open ELBv2, EC2 and STS clients; valid only inside :func:`open_clients`."""

    elbv2: ElasticLoadBalancingv2Client
    ec2: EC2Client
    sts: Any  # types-aiobotocore's STS stubs are not installed; only assume_role is used
    session: AioSession


def client_config(settings: Settings, *, max_pool_connections: int = 32) -> AioConfig:
    """botocore configuration shared by both clients (retries, deadlines, pool size)."""
    return AioConfig(
        retries={"mode": settings.aws_retry_mode, "total_max_attempts": settings.aws_max_attempts},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        max_pool_connections=max_pool_connections,
        user_agent_extra=USER_AGENT,
    )


def _client_kwargs(settings: Settings, region: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"config": client_config(settings)}
    region = region or settings.aws_region
    if region is not None:
        kwargs["region_name"] = region
    if settings.aws_endpoint_url is not None:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    return kwargs


async def _open(
    stack: AsyncExitStack, session: AioSession, service: str, kwargs: dict[str, Any]
) -> Any:
    opener: Any = session  # the stubs type create_client per literal service name
    client = await stack.enter_async_context(opener.create_client(service, **kwargs))
    client.meta.events.register("response-received", AttemptObserver(service))
    return client


@asynccontextmanager
async def open_clients(
    settings: Settings, *, session: AioSession | None = None
) -> AsyncIterator[AwsClients]:
    """ELBv2, EC2 and STS clients for the settings' region and endpoint, closed on exit."""
    aio_session = session if session is not None else get_session()
    kwargs = _client_kwargs(settings, None)
    async with AsyncExitStack() as stack:
        elbv2 = await _open(stack, aio_session, "elbv2", kwargs)
        ec2 = await _open(stack, aio_session, "ec2", kwargs)
        sts = await _open(stack, aio_session, "sts", kwargs)
        yield AwsClients(elbv2=elbv2, ec2=ec2, sts=sts, session=aio_session)


class _RoleProvider(CredentialProvider):
    """A credential provider that always answers with one role's credentials."""

    METHOD = "sts-assume-role"
    CANONICAL_NAME = "lbc-assume-role"

    def __init__(self, credentials: AioDeferredRefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    async def load(self) -> AioDeferredRefreshableCredentials:
        return self._credentials


@final
class RoleClients:
    """ELBv2 and EC2 clients per (role, region); open on first use, closed with ``stack``.

    Each role gets its own botocore session whose only credential provider is the role's
    refreshable credentials, so a client of one role can never sign with another's. The sessions
    share the base session's data loader (service models are read once per process).
    """

    def __init__(
        self,
        settings: Settings,
        credentials: RoleCredentials,
        stack: AsyncExitStack,
        base: AioSession,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._stack = stack
        self._base = base
        self._sessions: dict[Role, AioSession] = {}
        self._clients: dict[tuple[str, Role, str], Any] = {}
        self._opening: KeyedLock[tuple[str, Role, str]] = KeyedLock()

    def _session(self, role: Role) -> AioSession:
        found = self._sessions.get(role)
        if found is None:
            found = AioSession()
            found.register_component("data_loader", self._base.get_component("data_loader"))
            resolver = AioCredentialResolver([_RoleProvider(self._credentials.credentials(role))])
            found.register_component("credential_provider", resolver)
            self._sessions[role] = found
        return found

    async def client(self, service: str, role: Role, region: str) -> Any:
        """The open ``service`` client of ``role`` in ``region`` (empty: the settings' region)."""
        key = (service, role, region)
        found = self._clients.get(key)
        if found is not None:
            return found
        async with self._opening.hold(key):
            found = self._clients.get(key)
            if found is None:
                kwargs = _client_kwargs(self._settings, region or None)
                found = await _open(self._stack, self._session(role), service, kwargs)
                self._clients[key] = found
            return found

    async def elbv2(self, role: Role, region: str) -> ElasticLoadBalancingv2Client:
        client: ElasticLoadBalancingv2Client = await self.client("elbv2", role, region)
        return client

    async def ec2(self, role: Role, region: str) -> EC2Client:
        client: EC2Client = await self.client("ec2", role, region)
        return client
