"""VPC address ranges from ec2:DescribeVpcs, cached with a bounded age.

ELBv2 requires ``AvailabilityZone="all"`` for an ip target whose address lies outside the
target group's VPC (peered VPCs, on-premises ranges); inside the VPC the zone must be left out.
Deciding needs the VPC's CIDR blocks, IPv4 and IPv6. They change rarely (a secondary CIDR
added by hand), so one DescribeVpcs per VPC per ``ttl`` is enough (a ``cachetools.TTLCache``
timed by the injected clock, at most ``CACHE_SIZE`` VPCs), and concurrent registrations into one
VPC share a single lookup.

A VPC that EC2 cannot see (``InvalidVpcID.NotFound``: a cross-account group in a peered VPC) has
no known ranges, so every address counts as outside it and gets ``all``, as the reference does.

A target group reached through an assumed role (``spec.iamRoleArnToAssume``) has its VPC looked
up with that role's EC2 client, in the group's region; ranges are remembered per (role, region,
VPC), as the reference remembers them per (role, VPC).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from cachetools import TTLCache

from lbc.aws.calls import AwsCalls
from lbc.aws.keyedlock import KeyedLock
from lbc.aws.roles import Role
from lbc.core.errors import AccessError, NotFoundError

if TYPE_CHECKING:
    from lbc.aws.session import RoleClients

if TYPE_CHECKING:
    from types_aiobotocore_ec2 import EC2Client

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_VPC_TTL = 300.0
CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class VpcRanges:
    """The address blocks associated with one VPC (empty when the VPC is not visible)."""

    vpc_id: str
    networks: tuple[Network, ...]

    def contains(self, address: str) -> bool:
        """Whether ``address`` (an IPv4 or IPv6 literal) lies in one of the VPC's blocks."""
        ip = ipaddress.ip_address(address)
        return any(ip.version == net.version and ip in net for net in self.networks)


@final
class VpcDirectory:
    """``await ranges(vpc_id)``: the VPC's CIDR blocks, at most ``ttl`` seconds old."""

    def __init__(
        self,
        ec2: EC2Client,
        calls: AwsCalls,
        *,
        ttl: float = DEFAULT_VPC_TTL,
        clock: Callable[[], float] = time.monotonic,
        roles: RoleClients | None = None,
    ) -> None:
        self._ec2 = ec2
        self._calls = calls
        self._roles = roles
        self._cache: TTLCache[tuple[Role | None, str, str], VpcRanges] = TTLCache(
            CACHE_SIZE, ttl, timer=clock
        )
        self._locks: KeyedLock[tuple[Role | None, str, str]] = KeyedLock()

    async def ranges(self, vpc_id: str, *, role: Role | None = None, region: str = "") -> VpcRanges:
        """The VPC's blocks as ``role`` sees them (None: lbc's own credentials)."""
        key = (role, region if role is not None else "", vpc_id)
        async with self._locks.hold(key):
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            ec2, calls = self._ec2, self._calls
            if role is not None:
                if self._roles is None:
                    raise AccessError(
                        f"cannot assume {role}: this process has no STS client",
                        reason="AssumeRoleFailed",
                    )
                ec2, calls = await self._roles.ec2(role, region), calls.for_account(role.account)
            try:
                response = await calls.call(
                    "ec2", "DescribeVpcs", ec2.describe_vpcs, VpcIds=[vpc_id]
                )
            except NotFoundError:
                found = VpcRanges(vpc_id, ())
            else:
                found = VpcRanges(vpc_id, _networks(response.get("Vpcs", [])))
            self._cache[key] = found
            return found


def _networks(vpcs: list[Any]) -> tuple[Network, ...]:
    blocks: list[Network] = []
    for vpc in vpcs:
        cidrs = [
            assoc["CidrBlock"]
            for assoc in vpc.get("CidrBlockAssociationSet", [])
            if _associated(assoc.get("CidrBlockState"))
        ] or ([vpc["CidrBlock"]] if vpc.get("CidrBlock") else [])
        cidrs += [
            assoc["Ipv6CidrBlock"]
            for assoc in vpc.get("Ipv6CidrBlockAssociationSet", [])
            if _associated(assoc.get("Ipv6CidrBlockState"))
        ]
        blocks.extend(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)
    return tuple(dict.fromkeys(blocks))


def _associated(state: Mapping[str, Any] | None) -> bool:
    # A block being associated already routes (and one being disassociated still does).
    return state is None or state.get("State") in {"associated", "associating", "disassociating"}
