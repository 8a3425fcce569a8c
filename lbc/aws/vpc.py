"""VPC address ranges from ec2:DescribeVpcs, cached with a bounded age.

ELBv2 requires ``AvailabilityZone="all"`` for an ip target whose address lies outside the
target group's VPC (peered VPCs, on-premises ranges); inside the VPC the zone must be left out.
Deciding needs the VPC's CIDR blocks, IPv4 and IPv6. They change rarely (a secondary CIDR
added by hand), so one DescribeVpcs per VPC per ``ttl`` is enough, and concurrent
registrations into one VPC share a single lookup.

A VPC that EC2 cannot see (``InvalidVpcID.NotFound``: a cross-account group in a peered VPC) has
no known ranges, so every address counts as outside it and gets ``all``, as the reference does.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

from lbc.aws.calls import AwsCalls
from lbc.aws.keyedlock import KeyedLock
from lbc.core.errors import NotFoundError

if TYPE_CHECKING:
    from types_aiobotocore_ec2 import EC2Client

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_VPC_TTL = 300.0


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
    ) -> None:
        self._ec2 = ec2
        self._calls = calls
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, VpcRanges]] = {}
        self._locks: KeyedLock[str] = KeyedLock()

    async def ranges(self, vpc_id: str) -> VpcRanges:
        async with self._locks.hold(vpc_id):
            cached = self._cache.get(vpc_id)
            if cached is not None and self._clock() - cached[0] < self._ttl:
                return cached[1]
            try:
                response = await self._calls.call(
                    "ec2", "DescribeVpcs", self._ec2.describe_vpcs, VpcIds=[vpc_id]
                )
            except NotFoundError:
                found = VpcRanges(vpc_id, ())
            else:
                found = VpcRanges(vpc_id, _networks(response.get("Vpcs", [])))
            self._cache[vpc_id] = (self._clock(), found)
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
