"""Target identity and health: the vocabulary shared by the core and the AWS adapter.

A target is identified by ``(id, port)`` as ELBv2 keys it: ``id`` is a pod IP (ip targets) or an
EC2 instance id (instance targets). Its identity string ``<id>:<port>`` is the ledger's entry
format (LBC-compatible; IPv6 addresses contain colons, so parsing splits at the last one).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """One ELBv2 target: ``id`` (IP or instance id) and ``port``."""

    id: str
    port: int

    @property
    def identity(self) -> str:
        return f"{self.id}:{self.port}"

    def __str__(self) -> str:
        return self.identity

    @classmethod
    def parse(cls, identity: str) -> Target:
        """Inverse of :attr:`identity`; ``ValueError`` names the malformed entry."""
        tid, sep, port = identity.rpartition(":")
        if not sep or not tid or not port.isdigit() or not 0 < int(port) <= 65535:
            raise ValueError(f"malformed target {identity!r}: expected <id>:<port>")
        if any(c.isspace() for c in tid) or "," in tid:
            raise ValueError(f"malformed target {identity!r}: the id holds a space or comma")
        return cls(tid, int(port))


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
