"""Who owns each target of a shared target group: the verdicts of ``lbc inspect target-group``.

Pure: the inputs are what the gatherer read (the group's targets with health, and for every
cluster the bindings on this group with their desired sets and ledgers); nothing here awaits or
reads a clock. The answer is one :class:`Row` per target and a verdict for it.

What "claims" means. A binding claims a target when its daemon would deregister that target
once the binding no longer desires it, which is exactly the ownership rule of ``core.plan``:

- guarded (``multiClusterTargetGroup``, or any binding with a ledger): the targets of its ledger;
- guarded without a ledger yet (first population): nothing (that pass deregisters nothing);
- normal mode (no ledger): every non-draining target of the group, since it owns the group;
- an unreadable ledger, a binding that does not parse, an unreachable cluster: unknown.

Verdicts, first match wins:

1. ``double-claimed``: claimed by two or more bindings (each of them would deregister it);
2. ``missing``: desired by a binding but not registered, or draining;
3. ``owned``: registered and claimed by exactly one binding;
4. ``orphan``: registered and claimed by none (by hand, another tool, or leaked). When some
   source could not be read, such a target may belong to it: ``unknown`` instead;
5. ``draining``: being deregistered, claimed by at most one binding and desired by none: on its
   way out, and ignored by lbc on both sides of the diff (SPEC §4);
6. ``stale``: in a ledger, but neither registered nor desired.

Only ``owned`` and ``draining`` are healthy findings (``orphan`` too when allowed); anything
else, and any source that could not be read, makes the inspection fail (exit status 1).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbc.core.binding import Binding
from lbc.core.desired import DesiredSet, Resolution
from lbc.core.ledger import LedgerAbsent, LedgerPresent, LedgerState, LedgerUnreadable
from lbc.core.targets import Target, TargetHealth


class Verdict(enum.StrEnum):
    OWNED = "owned"
    ORPHAN = "orphan"
    DOUBLE_CLAIMED = "double-claimed"
    MISSING = "missing"
    STALE = "stale"
    DRAINING = "draining"
    UNKNOWN = "unknown"


#: Summary order (the JSON ``summary`` object and the table's last line use it).
VERDICTS: tuple[Verdict, ...] = tuple(Verdict)
BENIGN = frozenset({Verdict.OWNED, Verdict.DRAINING})


@dataclass(frozen=True, slots=True, order=True)
class BindingRef:
    """A binding in a named cluster; ``str()`` is ``cluster:namespace/name``."""

    cluster: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.cluster}:{self.namespace}/{self.name}"


class Mode(enum.StrEnum):
    """How a binding's daemon decides what it may deregister (``core.plan``'s ownership)."""

    MULTI_CLUSTER = "multicluster"
    NORMAL = "normal"
    #: ``multiClusterTargetGroup`` is false but a ledger exists: lbc keeps guarding (refused
    #: disable, ``MultiClusterDisableRefused``).
    LEDGER_GUARDED = "ledger-guarded"


def mode_of(binding: Binding, ledger: LedgerState) -> Mode:
    """``core.plan``'s guard: MultiCluster by flag, or by the mere presence of a ledger."""
    if binding.spec.multi_cluster:
        return Mode.MULTI_CLUSTER
    return Mode.NORMAL if isinstance(ledger, LedgerAbsent) else Mode.LEDGER_GUARDED


@dataclass(frozen=True, slots=True)
class BindingFacts:
    """One binding on the inspected group, with what its daemon decides from."""

    ref: BindingRef
    binding: Binding
    desired: DesiredSet
    ledger: LedgerState
    ledger_name: str | None = None

    @property
    def mode(self) -> Mode:
        return mode_of(self.binding, self.ledger)

    def claims(self, active: frozenset[Target]) -> frozenset[Target] | None:
        """The targets this binding would deregister when undesired; ``None``: unknown."""
        if isinstance(self.ledger, LedgerUnreadable):
            return None
        if isinstance(self.ledger, LedgerPresent):
            return self.ledger.targets
        if self.binding.spec.multi_cluster:
            return frozenset()
        return active


@dataclass(frozen=True, slots=True)
class ClusterFacts:
    """What one cluster told about the group; ``error`` set means it could not be read."""

    name: str
    source: str
    bindings: tuple[BindingFacts, ...] = ()
    error: str | None = None
    #: Objects naming this group that could not be understood (a binding that does not parse):
    #: whatever they claim is unknown.
    problems: tuple[str, ...] = ()

    @property
    def reachable(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Row:
    target: Target
    health: TargetHealth | None
    claimed_by: tuple[BindingRef, ...]
    desired_by: tuple[BindingRef, ...]
    verdict: Verdict
    note: str = ""

    @property
    def owners(self) -> tuple[BindingRef, ...]:
        """Who the row is attributed to: the claimers, else the bindings desiring it."""
        return self.claimed_by or self.desired_by


@dataclass(frozen=True, slots=True)
class Ownership:
    rows: tuple[Row, ...]
    #: Human lines naming every source that could not be read (cluster, ledger, binding).
    unknown_sources: tuple[str, ...] = ()
    counts: Mapping[Verdict, int] = field(default_factory=dict)

    def healthy(self, *, allow_orphans: bool = False) -> bool:
        """Whether nothing but benign verdicts were found and every source was read."""
        allowed = BENIGN | {Verdict.ORPHAN} if allow_orphans else BENIGN
        return not self.unknown_sources and all(r.verdict in allowed for r in self.rows)


def unknown_sources(clusters: Iterable[ClusterFacts]) -> tuple[str, ...]:
    out: list[str] = []
    for cluster in clusters:
        if cluster.error is not None:
            out.append(f"cluster {cluster.name} unreachable: {cluster.error}")
            continue
        out.extend(f"cluster {cluster.name}: {problem}" for problem in cluster.problems)
        out.extend(
            f"{facts.ref}: ledger ConfigMap {facts.ledger_name or '?'} is unreadable: "
            f"{facts.ledger.message}"
            for facts in cluster.bindings
            if isinstance(facts.ledger, LedgerUnreadable)
        )
    return tuple(out)


def _note(
    target: Target,
    verdict: Verdict,
    *,
    health: TargetHealth | None,
    claimers: Sequence[BindingFacts],
    desirers: Sequence[BindingRef],
    uncertain: Sequence[BindingRef],
) -> str:
    if verdict is Verdict.DOUBLE_CLAIMED:
        return (
            "claimed by " + ", ".join(str(f.ref) for f in claimers) + ": each would deregister it"
        )
    if verdict is Verdict.MISSING:
        state = "draining" if health is not None else "not registered"
        return f"desired by {', '.join(map(str, desirers))} but {state}"
    if verdict is Verdict.ORPHAN:
        if desirers:
            return f"desired by {', '.join(map(str, desirers))}; its ledger does not list it yet"
        if uncertain:
            return f"its endpoint's pod is not known yet to {', '.join(map(str, uncertain))}"
        return "registered, and in no ledger of the given clusters"
    if verdict is Verdict.UNKNOWN:
        return "in no readable ledger; a source that could not be read may claim it"
    if verdict is Verdict.STALE:
        where = f"in the ledger of {claimers[0].ref} but neither registered nor desired"
        if not target.registerable:
            return where + " (port 0: recorded by LBC before the Service had a nodePort)"
        return where
    if verdict is Verdict.OWNED:
        owner = claimers[0]
        if owner.mode is Mode.NORMAL:
            if not desirers:
                return f"{owner.ref} is in normal mode and will deregister it (not desired)"
            return f"{owner.ref} is in normal mode and owns the whole group"
        if owner.ref not in desirers and owner.ref not in uncertain:
            if owner.desired.resolution is Resolution.INVALID:
                return f"{owner.ref} cannot resolve its desired targets; nothing changes"
            return f"not desired by {owner.ref}: its next pass deregisters it"
    return ""


def _sort_key(target: Target) -> tuple[str, int, str]:
    # The dataclass's own order, as a key: it sorts 5,000 targets several times faster than
    # the generated comparisons.
    return (target.id, target.port, target.server_id)


def assess(observed: Mapping[Target, TargetHealth], clusters: Sequence[ClusterFacts]) -> Ownership:
    """One row per target registered, claimed or desired, sorted by target.

    Each binding's sets are walked once into per-target lists (the group may hold thousands of
    targets; looking every target up in every set would hash it a dozen times).
    """
    active = frozenset(t for t, h in observed.items() if not h.draining)
    unknown = unknown_sources(clusters)
    facts = sorted((f for c in clusters if c.reachable for f in c.bindings), key=lambda f: f.ref)
    claimers: dict[Target, list[BindingFacts]] = {}
    desirers: dict[Target, list[BindingRef]] = {}
    uncertain: dict[Target, list[BindingRef]] = {}
    for f in facts:
        for target in f.claims(active) or ():
            claimers.setdefault(target, []).append(f)
        for target in f.desired.targets:
            desirers.setdefault(target, []).append(f.ref)
        for target in f.desired.uncertain:
            uncertain.setdefault(target, []).append(f.ref)
    universe = set(observed).union(claimers, desirers)
    rows: list[Row] = []
    none: list[Any] = []
    for target in sorted(universe, key=_sort_key):
        health = observed.get(target)
        registered = target in active
        claiming = claimers.get(target, none)
        desiring = desirers.get(target, none)
        if len(claiming) >= 2:
            verdict = Verdict.DOUBLE_CLAIMED
        elif desiring and not registered:
            verdict = Verdict.MISSING
        elif registered and claiming:
            verdict = Verdict.OWNED
        elif registered:
            verdict = Verdict.UNKNOWN if unknown else Verdict.ORPHAN
        elif health is not None:
            verdict = Verdict.DRAINING
        else:
            verdict = Verdict.STALE
        rows.append(
            Row(
                target=target,
                health=health,
                claimed_by=tuple(f.ref for f in claiming),
                desired_by=tuple(desiring),
                verdict=verdict,
                note=_note(
                    target,
                    verdict,
                    health=health,
                    claimers=claiming,
                    desirers=desiring,
                    uncertain=uncertain.get(target, none),
                ),
            )
        )
    counted = Counter(r.verdict for r in rows)
    return Ownership(tuple(rows), unknown, {v: counted.get(v, 0) for v in VERDICTS})
