"""The MultiCluster ownership ledger: codec of the ``aws-lbc-targets-<binding>`` ConfigMap.

The ledger records which targets of a shared target group this binding (this cluster) may have
registered; in MultiCluster mode only those are ever deregistered (SPEC §3). Format, kept
byte-compatible with LBC: ConfigMap ``aws-lbc-targets-<binding name>`` in the binding's
namespace, key ``targets``, the target identities joined by ``,``, no spaces, ``""`` for the
empty set.

Encoding is sorted by identity string, so equal sets give equal bytes and the shell can skip
writes whose bytes did not change. Decoding accepts anything LBC writes (any order,
duplicates, the empty string) and is strict about the rest: one malformed entry makes the whole
ledger :class:`LedgerCorruptError` (a ``TerminalError`` naming the entry), and ``plan()`` then
deregisters nothing at all. A half-understood ledger must never be acted upon: the entries lbc
could not read may be exactly the targets it would otherwise leave behind or wrongly remove.

Whitespace: LBC never writes any. lbc tolerates whitespace around each entry and around the
whole value (a hand edit, or a YAML block scalar's trailing newline) because stripping it
cannot change which target an entry names; an empty entry (``a:1,,b:2`` or a trailing comma)
is corrupt, since it is not something either controller writes.

Entries LBC writes that look odd but are not corrupt, and are read as targets:

- ``<ip>:<port>:<serverId>`` in QUIC and TCP_QUIC target groups (the QUIC server id is part of
  the target's identity, see ``core.targets``);
- ``<instance id>:0`` for an instance binding whose Service had no nodePort yet: LBC records
  the target before trying to register it. Port 0 was never registerable, so the target is in
  no group: nothing is deregistered for it, and the next ledger write drops it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lbc.core.errors import TerminalError
from lbc.core.targets import Target

PREFIX = "aws-lbc-targets-"
DATA_KEY = "targets"
MAX_NAME = 253


class LedgerCorruptError(TerminalError):
    """The ledger cannot be read; nothing may be deregistered until an operator fixes it."""

    reason = "LedgerCorrupt"


class LedgerNameTooLongError(TerminalError):
    """The binding's name is too long for its ledger's ConfigMap name (253 characters)."""

    reason = "LedgerNameTooLong"


def configmap_name(binding_name: str) -> str:
    """``aws-lbc-targets-<binding name>``; a name over 253 characters is a terminal error.

    LBC would try to create the invalid ConfigMap on every reconcile and fail forever; lbc
    reports it once as a condition instead of looping.
    """
    name = PREFIX + binding_name
    if len(name) > MAX_NAME:
        raise LedgerNameTooLongError(
            f"ledger ConfigMap name {PREFIX}<binding name> would be {len(name)} characters "
            f"(limit {MAX_NAME}); rename the binding to at most {MAX_NAME - len(PREFIX)} characters"
        )
    return name


def encode(targets: Iterable[Target]) -> str:
    """The ``targets`` value: identities sorted as strings, joined with ``,``."""
    return ",".join(sorted({t.identity for t in targets}))


def decode(text: str) -> frozenset[Target]:
    """Parse a ``targets`` value; :class:`LedgerCorruptError` names the first bad entry."""
    if not text.strip():
        return frozenset()
    out: set[Target] = set()
    for position, raw in enumerate(text.split(",")):
        entry = raw.strip()
        if not entry:
            raise LedgerCorruptError(f"ledger entry #{position + 1} is empty in {text[:200]!r}")
        try:
            out.add(Target.parse(entry))
        except ValueError as exc:
            raise LedgerCorruptError(
                f"ledger entry #{position + 1} {entry!r} is malformed: {exc}"
            ) from None
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class LedgerAbsent:
    """No ledger ConfigMap exists (first population in MultiCluster mode)."""


@dataclass(frozen=True, slots=True)
class LedgerPresent:
    """A readable ledger; ``resource_version`` guards the next write (optimistic concurrency)."""

    targets: frozenset[Target]
    resource_version: str = ""


@dataclass(frozen=True, slots=True)
class LedgerUnreadable:
    """A ledger that exists but cannot be decoded; ``message`` says which entry and why."""

    message: str
    resource_version: str = ""

    @property
    def error(self) -> LedgerCorruptError:
        return LedgerCorruptError(self.message)


LedgerState = LedgerAbsent | LedgerPresent | LedgerUnreadable

ABSENT = LedgerAbsent()


def ledger_state(data: Mapping[str, str] | None, resource_version: str = "") -> LedgerState:
    """The state of a ledger from its ConfigMap's ``data`` (``None``: the ConfigMap is absent).

    A ConfigMap without the ``targets`` key is unreadable, not empty: LBC always writes the key,
    so its absence means something else wrote this object and its meaning is unknown.
    """
    if data is None:
        return ABSENT
    text = data.get(DATA_KEY)
    if text is None:
        return LedgerUnreadable(f"ledger ConfigMap has no {DATA_KEY!r} key", resource_version)
    try:
        return LedgerPresent(decode(text), resource_version)
    except LedgerCorruptError as exc:
        return LedgerUnreadable(exc.message, resource_version)
