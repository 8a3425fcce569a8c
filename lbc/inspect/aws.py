"""ELBv2 for the inspector: the daemon's :class:`~lbc.aws.elbv2.TargetGroups`, without EC2.

The daemon's adapter (:func:`lbc.aws.adapter.open_aws`) opens an ELBv2 and an EC2 client. EC2
is only ever asked for VPC ranges when targets are registered, which the inspector never does,
and loading EC2's service model costs about a third of a second, a sixth of the inspector's
time budget. So this opens ELBv2 alone, with the daemon's client configuration (retries,
deadlines, the lab's endpoint), its attempt metrics and its rate limits, and hands
``TargetGroups`` a VPC directory whose EC2 client refuses every call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NoReturn

from aiobotocore.session import get_session

from lbc.aws.calls import AwsCalls
from lbc.aws.elbv2 import TargetGroups
from lbc.aws.metrics import AttemptObserver
from lbc.aws.ratelimit import RateLimits
from lbc.aws.session import client_config
from lbc.aws.vpc import VpcDirectory
from lbc.core.errors import TerminalError
from lbc.settings import Settings


class _NoEc2:
    """Stands in for the EC2 client: any use is a bug of the read-only inspector."""

    def __getattr__(self, name: str) -> NoReturn:
        raise TerminalError(f"the inspector does not call EC2 ({name})", reason="ReadOnly")


@asynccontextmanager
async def open_target_groups(settings: Settings) -> AsyncIterator[TargetGroups]:
    """``TargetGroups`` over one ELBv2 client configured as the daemon's; closed on exit."""
    limits = RateLimits.per_second(
        settings.aws_calls_per_second, settings.aws_describe_calls_per_second
    )
    calls = AwsCalls(limits)
    kwargs: dict[str, Any] = {"config": client_config(settings, max_pool_connections=4)}
    if settings.aws_region is not None:
        kwargs["region_name"] = settings.aws_region
    if settings.aws_endpoint_url is not None:
        kwargs["endpoint_url"] = settings.aws_endpoint_url
    async with get_session().create_client("elbv2", **kwargs) as elbv2:
        elbv2.meta.events.register("response-received", AttemptObserver("elbv2"))
        no_ec2: Any = _NoEc2()
        yield TargetGroups(elbv2, calls, VpcDirectory(no_ec2, calls))
