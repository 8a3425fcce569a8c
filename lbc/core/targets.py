"""Target identity and health: the vocabulary shared by the core and the AWS adapter.

A target is what ELBv2 lists in a target group: ``id`` is a pod IP (ip targets) or an EC2
instance id (instance targets), ``port`` the port it receives traffic on, and, in QUIC and
TCP_QUIC target groups only, ``server_id``: the QUIC server id the load balancer routes
connections by (``0x`` followed by lowercase hex, taken from the pod as LBC takes it).

The identity string is the ledger's entry format and the checkpoint's, byte for byte LBC's:
``<id>:<port>``, or ``<id>:<port>:<server id>`` when the target has a server id. Two targets
are the same target exactly when their identities are equal; the availability zone a target
was registered with is never part of it. Parsing takes the last ``:``-separated field as the
port, or as the server id when it starts with ``0x`` (IPv6 addresses contain colons, but never
an ``x``).

Port ``0`` parses: LBC records ``i-…:0`` in the ledger of an instance binding whose Service had
no nodePort yet. Such a target was never registerable (ELBv2 refuses port 0), so it is never in
a target group; :attr:`Target.registerable` says so.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

_SERVER_ID = re.compile(r"^0x[0-9a-f]+$")


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """One ELBv2 target: ``id`` (IP or instance id), ``port``, and a QUIC ``server_id``.

    ``server_id`` is ``""`` for every target outside QUIC and TCP_QUIC groups.
    """

    id: str
    port: int
    server_id: str = ""

    @property
    def identity(self) -> str:
        """``<id>:<port>`` or ``<id>:<port>:<server id>``: the ledger and checkpoint form."""
        if self.server_id:
            return f"{self.id}:{self.port}:{self.server_id}"
        return f"{self.id}:{self.port}"

    @property
    def registerable(self) -> bool:
        """Whether ELBv2 could hold this target (port 0 appears only in LBC's ledgers)."""
        return self.port > 0

    def __str__(self) -> str:
        return self.identity

    @classmethod
    def parse(cls, identity: str) -> Target:
        """Inverse of :attr:`identity`; ``ValueError`` names the malformed entry."""
        head, sep, last = identity.rpartition(":")
        server_id = ""
        if sep and _SERVER_ID.match(last):
            server_id = last
            head, sep, last = head.rpartition(":")
        tid, port = head, last
        if not sep or not tid or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(
                f"malformed target {identity!r}: expected <id>:<port> or <id>:<port>:<server id>"
            )
        if any(c.isspace() for c in tid) or "," in tid:
            raise ValueError(f"malformed target {identity!r}: the id holds a space or comma")
        return cls(tid, int(port), server_id)


class HealthState(enum.StrEnum):
    """ELBv2 ``TargetHealth.State`` values."""

    INITIAL = "initial"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    UNUSED = "unused"
    DRAINING = "draining"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class TargetHealth:
    """Observed state of one registered target."""

    state: HealthState
    reason: str = ""
    description: str = ""
    availability_zone: str | None = None

    @property
    def draining(self) -> bool:
        return self.state is HealthState.DRAINING

    @property
    def healthy(self) -> bool:
        return self.state is HealthState.HEALTHY
