"""Listen ports and inbound CIDRs of an Ingress group, merged per port as LBC merges them.

Each member contributes its ``listen-ports`` (default ``[{"HTTP": 80}]``) and its inbound CIDRs
(IngressClassParams ``inboundCIDRs`` over the ``inbound-cidrs`` annotation). Members sharing a
port must agree on its protocol and, among those that set CIDRs, on the CIDR sets; a port no
member restricts is open to ``0.0.0.0/0`` (``::/0`` too, used only by dual-stack balancers,
which lbc does not build).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass

from lbc.core.stack.annotations import ingress_annotations
from lbc.core.stack.failures import BuildFailure
from lbc.core.stack.ingress_groups import ClassifiedIngress
from lbc.core.stack.ingress_rules import go_list
from lbc.core.stack.model import Protocol

_INT32_MAX = 2**31 - 1
DEFAULT_V4 = "0.0.0.0/0"
DEFAULT_V6 = "::/0"


@dataclass(frozen=True, slots=True)
class PortConfig:
    """One listener's merged settings; ``members`` are the group members using the port."""

    protocol: Protocol
    cidrs_v4: tuple[str, ...]
    cidrs_v6: tuple[str, ...]
    members: tuple[ClassifiedIngress, ...]


def listen_ports(member: ClassifiedIngress) -> dict[int, Protocol]:
    """One member's ``listen-ports`` (JSON list of ``{"HTTP": port}`` objects)."""
    ann = ingress_annotations(dict(member.ingress.annotations))
    raw = ann.string("listen-ports")
    if raw is None:
        return {80: Protocol.HTTP}
    try:
        entries = json.loads(raw)
    except ValueError as err:
        raise BuildFailure(f"failed to parse listen-ports configuration: `{raw}`: {err}") from err
    if entries is None:  # JSON null decodes to an empty list in Go
        entries = []
    if not isinstance(entries, list) or not all(
        isinstance(e, dict)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in e.values())
        for e in entries
    ):
        raise BuildFailure(
            f"failed to parse listen-ports configuration: `{raw}`: expected a list of "
            "protocol-to-port objects"
        )
    if not entries:
        raise BuildFailure(f"empty listen-ports configuration: `{raw}`")
    ports: dict[int, Protocol] = {}
    for entry in entries:
        for protocol, port in entry.items():
            if abs(port) > _INT32_MAX:
                raise BuildFailure(
                    f"failed to parse listen-ports configuration: `{raw}`: {port} overflows int32"
                )
            if not 1 <= port <= 65535:
                raise BuildFailure(f"listen port must be within [1, 65535]: {port}")
            if protocol not in {Protocol.HTTP.value, Protocol.HTTPS.value}:
                raise BuildFailure(f"listen protocol must be within [HTTP, HTTPS]: {protocol}")
            ports[port] = Protocol(protocol)
    return ports


def inbound_cidrs(member: ClassifiedIngress) -> tuple[list[str], list[str]]:
    """One member's explicit inbound CIDRs, split into IPv4 and IPv6 (empty when unset)."""
    from_params = member.params is not None and bool(member.params.inbound_cidrs)
    if member.params is not None and from_params:
        raw = list(member.params.inbound_cidrs)
    else:
        ann = ingress_annotations(dict(member.ingress.annotations))
        raw = list(ann.string_list("inbound-cidrs") or ())
    v4: list[str] = []
    v6: list[str] = []
    for cidr in raw:
        if not _valid_cidr(cidr):
            detail = f"invalid CIDR address: {cidr}"
            if from_params:
                raise BuildFailure(
                    f"invalid CIDR in IngressClassParams InboundCIDR {cidr}: {detail}"
                )
            raise BuildFailure(
                f"invalid inbound-cidrs settings on Ingress: {member.ingress.key}: {detail}"
            )
        (v6 if ":" in cidr else v4).append(cidr)
    return v4, v6


def _valid_cidr(cidr: str) -> bool:
    """Go's ``net.ParseCIDR`` acceptance: an address, a slash and a prefix length."""
    address, slash, length = cidr.partition("/")
    if not slash or not length.isascii() or not length.isdigit():
        return False
    try:
        ipaddress.ip_network(f"{address}/{length}", strict=False)
    except ValueError:
        return False
    return True


def merged_ports(members: Sequence[ClassifiedIngress]) -> dict[int, PortConfig]:
    """Per listen port, the merged configuration of every member using it."""
    per_port: dict[int, list[tuple[ClassifiedIngress, Protocol, list[str], list[str]]]] = {}
    for member in members:
        try:
            ports = listen_ports(member)
            v4, v6 = inbound_cidrs(member)
        except BuildFailure as err:
            raise BuildFailure(f"ingress: {member.ingress.key}: {err}") from err
        for port, protocol in ports.items():
            per_port.setdefault(port, []).append((member, protocol, v4, v6))
    return {port: _merge(port, per_port[port]) for port in sorted(per_port)}


def _merge(
    port: int, configs: list[tuple[ClassifiedIngress, Protocol, list[str], list[str]]]
) -> PortConfig:
    first_member, protocol, _, _ = configs[0]
    cidr_owner: str | None = None
    v4_set: set[str] = set()
    v6_set: set[str] = set()
    for member, member_protocol, v4, v6 in configs:
        key = member.ingress.key
        if member_protocol is not protocol:
            raise BuildFailure(
                f"failed to merge listenPort config for port: {port}: conflicting protocol, "
                f"{first_member.ingress.key}: {protocol.value} | {key}: {member_protocol.value}"
            )
        if not v4 and not v6:
            continue
        if cidr_owner is None:
            cidr_owner, v4_set, v6_set = key, set(v4), set(v6)
        elif set(v4) != v4_set or set(v6) != v6_set:
            raise BuildFailure(
                f"failed to merge listenPort config for port: {port}: conflicting inbound-cidrs, "
                f"{cidr_owner}: {go_list(sorted(v4_set))}, {go_list(sorted(v6_set))} | "
                f"{key}: {go_list(sorted(set(v4)))}, {go_list(sorted(set(v6)))}"
            )
    if cidr_owner is None:
        v4_set, v6_set = {DEFAULT_V4}, {DEFAULT_V6}
    return PortConfig(
        protocol=protocol,
        cidrs_v4=tuple(sorted(v4_set)),
        cidrs_v6=tuple(sorted(v6_set)),
        members=tuple(m for m, _, _, _ in configs),
    )
