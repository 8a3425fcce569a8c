"""Security-group rules of ``spec.networking`` (SPEC §9), decided without any I/O.

What this module decides, and why each rule exists:

**Desired permissions.** Each ingress rule, peer and port of a binding becomes one
:class:`Permission` (protocol, port range, one source) on the *endpoint security group* of each
target's ENI. ``ports: []`` means all TCP ports and an omitted ``port`` all ports of the
protocol (the reference drops the first case through a shadowing bug, #4907). CIDRs are
normalised (``10.1.2.3/16`` → ``10.1.0.0/16``) because EC2 stores the canonical form: a rule
compared in the form it was written would never match what EC2 reports and would be granted
again on every pass. Permissions are never merged into port ranges (the reference's
"restricted" mode opens every port between two NodePorts); one rule per distinct permission.
A named port (ip targets only) resolves per pod from its container ports, and the number
goes to the group of that pod's ENI.

**Endpoint group of an ENI.** The ENI of an ip target is the pod's branch ENI when it has one
(security groups for pods), else the node ENI holding its address or a prefix containing it;
of an instance target, the node's primary ENI. One group: that one. Several: the single group tagged
``kubernetes.io/cluster/<cluster>`` that also carries every extra tag of the settings; anything
else is an error for the bindings concerned (never a guess).

**Labelling, and why it keeps two clusters apart.** A rule lbc creates carries

- the description ``elbv2.k8s.aws/targetGroupBinding=shared``, the reference's label, so a
  rollback to the reference controller adopts lbc's rules as its own, and
- a *tag on the security-group rule* ``elbv2.k8s.aws/cluster/<cluster>`` per cluster that
  wants the rule.

EC2 keeps one rule per (protocol, ports, source), whatever the description: when two clusters
share a node security group and want the same permission (the seed's two bindings do: same
load balancer group, same NodePort) there is exactly one rule, and a per-cluster description
could name only one of them. Tags have one key per cluster, added and removed independently
(``CreateTags``/``DeleteTags`` change one key, no read-modify-write), so the rule records every
cluster that wants it. A cluster that stops wanting a rule removes its own tag, and revokes the
rule only when no other cluster's tag remains. Rules carrying only other clusters' tags are
never touched.

Two limits, stated: a cluster revokes on a fresh read of the rule's tags, so another cluster
tagging the rule in the instant between that read and the revoke loses it until its cached
view expires (``LBC_NETWORKING_CACHE_TTL``) and a pass grants it again (EC2 offers no
conditional revoke); and a *reference* controller still running in
another cluster on the same group sees lbc's rules as its own (they carry its label) and may
revoke them, as it does to its peers today.

**Migration from the reference.** A rule with the reference's description and no cluster tag
(*legacy*) was made by a reference controller, in this cluster or another. When this cluster
wants its permission, lbc *adopts* it by adding its tag (no second rule, no gap); from then on it
is revoked like any lbc rule when no tagged cluster wants it. A legacy rule this cluster does
not want is left alone: nothing says which cluster made it, and revoking another cluster's rule
is the reference bug (#2501) this design exists to fix. The trade-off: legacy rules nobody wants
any more at migration time stay until an operator removes them. Rules without the label (made
by hand) are never revoked; when one already grants a wanted permission it counts as satisfied.

**When revokes are allowed.** A binding whose wishes cannot be computed (an ENI lookup failed,
a named port some pod does not declare) still has a known spec: its sources, protocols and
ports. Its :class:`Guard`\\ s protect every rule matching them on every group, so revokes
elsewhere go on (the reference blocks every revoke in the cluster until each binding has been
computed once, #4896, and after a restart that takes until the checkpoint cache expires).

Invariants: lbc grants before it revokes; it revokes only rules tagged with its own cluster and
no other; it never revokes a permission any binding of its cluster wants or may want.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lbc.core.binding import IngressRule, Networking
from lbc.core.errors import TerminalError
from lbc.core.objects import PodView

SHARED_LABEL_KEY = "elbv2.k8s.aws/targetGroupBinding"
SHARED_DESCRIPTION = f"{SHARED_LABEL_KEY}=shared"
#: Tag key prefix on a security-group rule: one key per cluster that wants the rule.
RULE_CLUSTER_TAG_PREFIX = "elbv2.k8s.aws/cluster/"
RULE_CLUSTER_TAG_VALUE = "wanted"
#: Tag key prefix of endpoint security groups (the Kubernetes cloud-provider convention).
GROUP_CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
ALL_PORTS = (0, 65535)
FAILED = "FailedNetworkReconcile"
LIMIT = "RulesPerSecurityGroupLimitExceeded"
_MAX_MESSAGE = 2000
#: EC2 tag keys are at most 128 characters.
_MAX_TAG_KEY = 128


class NetworkingError(TerminalError):
    """A binding's networking cannot be computed as written (bad CIDR, ambiguous group...)."""

    reason = "FailedNetworkReconcile"


@dataclass(frozen=True, slots=True, order=True)
class Permission:
    """One inbound permission: ``protocol`` ``tcp``/``udp``, a port range and a single source.

    ``source`` is a canonical CIDR (IPv4 or IPv6) or a security-group id (``sg-…``). Two
    permissions are the same rule for EC2 exactly when these four fields are equal.
    """

    protocol: str
    from_port: int
    to_port: int
    source: str

    @property
    def from_group(self) -> bool:
        return self.source.startswith("sg-")

    @property
    def ipv6(self) -> bool:
        return not self.from_group and ":" in self.source

    def __str__(self) -> str:
        ports = "all" if (self.from_port, self.to_port) == ALL_PORTS else str(self.from_port)
        if self.from_port != self.to_port and (self.from_port, self.to_port) != ALL_PORTS:
            ports = f"{self.from_port}-{self.to_port}"
        return f"{self.protocol}/{ports} from {self.source}"


@dataclass(frozen=True, slots=True)
class Guard:
    """Permissions a binding of unknown wishes may want: a source and protocol, some ports.

    ``ports`` ``None`` covers every port range (a named port not yet resolved).
    """

    protocol: str
    source: str
    ports: tuple[int, int] | None

    def covers(self, permission: Permission) -> bool:
        return (
            permission.protocol == self.protocol
            and permission.source == self.source
            and (self.ports is None or (permission.from_port, permission.to_port) == self.ports)
        )


@dataclass(frozen=True, slots=True)
class ExistingRule:
    """One inbound rule as EC2 reports it, reduced to a single source.

    ``clusters`` are the clusters named by the rule's ``elbv2.k8s.aws/cluster/*`` tags.
    """

    rule_id: str
    permission: Permission
    description: str = ""
    clusters: frozenset[str] = frozenset()

    @property
    def labelled(self) -> bool:
        """Whether the description carries the reference's managed label."""
        return description_labels(self.description).get(SHARED_LABEL_KEY) == "shared"

    @property
    def managed(self) -> bool:
        return self.labelled or bool(self.clusters)


@dataclass(frozen=True, slots=True)
class Eni:
    """An ENI as far as endpoint-group choice needs it."""

    eni_id: str
    groups: tuple[str, ...]
    private_ips: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    device_index: int | None = None


@dataclass(frozen=True, slots=True)
class Wishes:
    """What one binding wants: permissions per endpoint group, and whether that is all of it.

    An incomplete binding (``complete`` false) protects its :class:`Guard`\\ s everywhere;
    ``errors`` say why it is incomplete, for its condition and event.
    """

    per_group: Mapping[str, frozenset[Permission]] = field(default_factory=dict)
    complete: bool = True
    guards: frozenset[Guard] = frozenset()
    errors: tuple[str, ...] = ()


NOTHING = Wishes()


@dataclass(frozen=True, slots=True)
class GroupChanges:
    """What one security group needs, in the order it must happen.

    ``grant`` new rules (tagged with this cluster), ``adopt`` existing labelled rules by adding
    this cluster's tag, then ``release`` (remove this cluster's tag; another cluster still
    wants the rule) and ``revoke`` (this cluster was the last to want it).
    """

    group_id: str
    grant: tuple[Permission, ...] = ()
    adopt: tuple[ExistingRule, ...] = ()
    release: tuple[ExistingRule, ...] = ()
    revoke: tuple[ExistingRule, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.grant or self.adopt or self.release or self.revoke)

    @property
    def letting_go(self) -> bool:
        return bool(self.release or self.revoke)


# -- labels and tags -------------------------------------------------------------------------------


def description_labels(description: str) -> dict[str, str]:
    """``k=v`` tokens of a rule description, separated by commas (the reference's syntax)."""
    labels: dict[str, str] = {}
    for token in description.split(","):
        key, sep, value = token.strip().partition("=")
        if sep and key and " " not in key and " " not in value:
            labels[key] = value
    return labels


def cluster_tag_key(cluster: str) -> str:
    return RULE_CLUSTER_TAG_PREFIX + cluster


def clusters_of(tags: Mapping[str, str]) -> frozenset[str]:
    return frozenset(
        key[len(RULE_CLUSTER_TAG_PREFIX) :]
        for key in tags
        if key.startswith(RULE_CLUSTER_TAG_PREFIX) and len(key) > len(RULE_CLUSTER_TAG_PREFIX)
    )


def check_cluster_name(cluster: str | None) -> str:
    """The cluster name networking marks its rules with; raises when there is none usable."""
    if not cluster:
        raise NetworkingError(
            "spec.networking needs LBC_CLUSTER_NAME: rules are marked with the cluster that "
            "wants them, so that clusters sharing a security group never revoke each other's"
        )
    if len(cluster_tag_key(cluster)) > _MAX_TAG_KEY:
        raise NetworkingError(f"LBC_CLUSTER_NAME {cluster!r} is too long for a rule tag key")
    return cluster


# -- desired permissions ---------------------------------------------------------------------------


def normalise_cidr(cidr: str) -> str:
    """The canonical form EC2 stores; raises :class:`NetworkingError` for a malformed CIDR."""
    if "/" not in cidr:
        raise NetworkingError(f"ipBlock.cidr {cidr!r} has no prefix length")
    try:
        return str(ipaddress.ip_network(cidr.strip(), strict=False))
    except ValueError as exc:
        raise NetworkingError(f"ipBlock.cidr {cidr!r} is not a CIDR: {exc}") from None


@dataclass(frozen=True, slots=True, order=True)
class NamedPort:
    """A permission whose port is a container-port name, resolved per pod (ip targets only)."""

    protocol: str
    name: str
    source: str

    def resolve(self, port: int) -> Permission:
        return Permission(self.protocol, port, port, self.source)


@dataclass(frozen=True, slots=True)
class Expansion:
    """A binding's permissions, the named ports left to resolve per pod, and what failed.

    ``unresolved`` guards stand for the parts that cannot be resolved at all (a named port
    with instance targets).
    """

    permissions: frozenset[Permission]
    unresolved: frozenset[Guard] = frozenset()
    errors: tuple[str, ...] = ()
    named: frozenset[NamedPort] = frozenset()


def expand(networking: Networking, *, pod_targets: bool) -> Expansion:
    """Every (rule, peer, port) of ``networking`` as permissions.

    A named port resolves from the container ports of each target's pod, so it is returned in
    ``named`` for :func:`resolve_named`. Without pods (instance targets) there is nothing to
    resolve it from: it is an error, as in the reference, and guarded (every port of that
    source and protocol is protected) instead of guessed.
    """
    perms: set[Permission] = set()
    named: set[NamedPort] = set()
    unresolved: set[Guard] = set()
    errors: list[str] = []
    for rule in networking.ingress:
        ports = rule.ports or ()
        for source in _sources(rule, errors):
            if not ports:
                perms.add(Permission("tcp", *ALL_PORTS, source))
                continue
            for port in ports:
                proto = port.protocol.lower()
                if port.port is None:
                    perms.add(Permission(proto, *ALL_PORTS, source))
                elif isinstance(port.port, int):
                    perms.add(Permission(proto, port.port, port.port, source))
                elif pod_targets:
                    named.add(NamedPort(proto, port.port, source))
                else:
                    unresolved.add(Guard(proto, source, None))
                    errors.append(
                        f"named port {port.port!r} cannot be resolved: named ports need ip targets"
                    )
    return Expansion(
        frozenset(perms), frozenset(unresolved), tuple(dict.fromkeys(errors)), frozenset(named)
    )


def _sources(rule: IngressRule, errors: list[str]) -> list[str]:
    """The rule's peers as sources (a group id or a normalised CIDR); faults go to ``errors``."""
    sources: list[str] = []
    for peer in rule.peers:
        if peer.security_group:
            sources.append(peer.security_group.strip())
        elif peer.cidr is not None:
            try:
                sources.append(normalise_cidr(peer.cidr))
            except NetworkingError as exc:
                errors.append(str(exc))
        else:
            # LBC fails the binding's networking here too; the binding's other rules are
            # guarded (never revoked), its targets unaffected.
            errors.append(f"{peer.at or 'a peer'} has neither ipBlock nor securityGroup")
    return sources


def resolve_named(
    named: Iterable[NamedPort], pod: PodView, identity: str
) -> tuple[frozenset[Permission], tuple[str, ...]]:
    """``named`` with the numbers of ``pod``'s container ports; errors name what is missing.

    Container-port names are unique within a pod, so a name resolves to one number per pod;
    pods of one binding may still differ (a rollout changing the port), and each pod's ENI
    group gets the number of its own pod. A name the pod does not declare is an error, never
    a guess: the binding stays incomplete and its guards protect the rules it may want.
    """
    perms: set[Permission] = set()
    errors: list[str] = []
    for want in sorted(named):
        number = pod.container_port(want.name)
        if number is None:
            errors.append(
                f"target {identity}: pod {pod.namespace}/{pod.name} has no container port "
                f"named {want.name!r}"
            )
        else:
            perms.add(want.resolve(number))
    return frozenset(perms), tuple(errors)


def guards_of(networking: Networking) -> frozenset[Guard]:
    """Everything ``networking`` could ask for, on any group (for a binding of unknown wishes)."""
    guards: set[Guard] = set()
    for rule in networking.ingress:
        for source in _sources(rule, []):
            if not rule.ports:
                guards.add(Guard("tcp", source, ALL_PORTS))
            for port in rule.ports:
                proto = port.protocol.lower()
                if port.port is None:
                    guards.add(Guard(proto, source, ALL_PORTS))
                elif isinstance(port.port, int):
                    guards.add(Guard(proto, source, (port.port, port.port)))
                else:
                    guards.add(Guard(proto, source, None))
    return frozenset(guards)


# -- ENIs and endpoint groups ----------------------------------------------------------------------


def eni_for_ip(enis: Iterable[Eni], ip: str) -> Eni | None:
    """The first ENI holding ``ip`` as an address or inside one of its delegated prefixes."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    candidates = list(enis)
    for eni in candidates:
        if ip in eni.private_ips:
            return eni
    for eni in candidates:
        for prefix in eni.prefixes:
            net = ipaddress.ip_network(prefix, strict=False)
            if net.version == address.version and address in net:
                return eni
    return None


def primary_eni(enis: Iterable[Eni]) -> Eni | None:
    return next((eni for eni in enis if eni.device_index == 0), None)


def endpoint_group(
    eni: Eni,
    group_tags: Mapping[str, Mapping[str, str]],
    cluster: str,
    extra_tags: Mapping[str, str],
) -> str:
    """The group of ``eni`` that receives rules; raises :class:`NetworkingError` if ambiguous."""
    if len(eni.groups) == 1:
        return eni.groups[0]
    tag = GROUP_CLUSTER_TAG_PREFIX + cluster
    chosen = [
        gid
        for gid in eni.groups
        if tag in (tags := group_tags.get(gid, {}))
        and all(tags.get(k) == v for k, v in extra_tags.items())
    ]
    if len(chosen) == 1:
        return chosen[0]
    wanted = tag + "".join(f" and {k}={v}" for k, v in sorted(extra_tags.items()))
    raise NetworkingError(
        f"expected exactly one security group tagged {wanted} on ENI {eni.eni_id}, "
        f"found {sorted(chosen)} among {sorted(eni.groups)}"
    )


# -- aggregation and diff --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Aggregate:
    """All bindings' wishes merged: permissions per group, and the guards of incomplete ones."""

    per_group: Mapping[str, frozenset[Permission]]
    guards: frozenset[Guard]


def aggregate(wishes: Iterable[Wishes]) -> Aggregate:
    per_group: dict[str, set[Permission]] = {}
    guards: set[Guard] = set()
    for wish in wishes:
        for group, perms in wish.per_group.items():
            per_group.setdefault(group, set()).update(perms)
        if not wish.complete:
            guards.update(wish.guards)
    return Aggregate({g: frozenset(p) for g, p in per_group.items()}, frozenset(guards))


def diff(
    group_id: str,
    wanted: frozenset[Permission],
    existing: Sequence[ExistingRule],
    cluster: str,
    guards: frozenset[Guard] = frozenset(),
) -> GroupChanges:
    """What ``group_id`` needs so that this cluster's rules on it are exactly ``wanted``.

    A wanted permission already granted by any rule is not granted again (EC2 would refuse the
    duplicate); a labelled rule without this cluster's tag is adopted. A rule this cluster
    tagged and no longer wants is released when other clusters' tags remain, else revoked,
    unless a guard covers it.
    """
    by_permission: dict[Permission, list[ExistingRule]] = {}
    for rule in existing:
        by_permission.setdefault(rule.permission, []).append(rule)
    grant: list[Permission] = []
    adopt: list[ExistingRule] = []
    for perm in sorted(wanted):
        rules = by_permission.get(perm)
        if not rules:
            grant.append(perm)
        elif not any(cluster in r.clusters for r in rules):
            labelled = [r for r in rules if r.managed]
            if labelled:
                adopt.append(labelled[0])
    release: list[ExistingRule] = []
    revoke: list[ExistingRule] = []
    for rule in existing:
        if cluster not in rule.clusters or rule.permission in wanted:
            continue
        if any(g.covers(rule.permission) for g in guards):
            continue
        if rule.clusters - {cluster}:
            release.append(rule)
        else:
            revoke.append(rule)
    return GroupChanges(group_id, tuple(grant), tuple(adopt), tuple(release), tuple(revoke))


# -- outcome ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """Something a pass could not do on ``group``: one permission, or (``None``) all of it."""

    group: str
    permission: Permission | None
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class NetworkingState:
    """A binding's networking outcome, as its ``NetworkingReady`` condition says it."""

    ready: bool
    reason: str
    message: str


OK = NetworkingState(True, "NetworkingReconciled", "security-group rules are in place")


def outcome(wishes: Wishes, failures: Iterable[Failure]) -> NetworkingState:
    """The binding's state: its own errors, and the failures on what it asked for.

    A failure is pinned on a binding only when it wants the failed permission on that group
    (or anything on a group that failed as a whole): one binding's bad source group does not
    turn every binding sharing the endpoint group red.
    """
    problems = [(FAILED, e) for e in wishes.errors]
    for failure in failures:
        wanted = wishes.per_group.get(failure.group)
        if wanted is not None and (failure.permission is None or failure.permission in wanted):
            problems.append((failure.reason, failure.message))
    if not problems:
        return OK
    reason = LIMIT if any(r == LIMIT for r, _ in problems) else FAILED
    message = "; ".join(dict.fromkeys(m for _, m in problems))
    return NetworkingState(False, reason, message[:_MAX_MESSAGE])


__all__ = [
    "ALL_PORTS",
    "FAILED",
    "LIMIT",
    "NOTHING",
    "OK",
    "SHARED_DESCRIPTION",
    "Aggregate",
    "Eni",
    "ExistingRule",
    "Expansion",
    "Failure",
    "GroupChanges",
    "Guard",
    "NamedPort",
    "NetworkingError",
    "NetworkingState",
    "Permission",
    "Wishes",
    "aggregate",
    "check_cluster_name",
    "cluster_tag_key",
    "clusters_of",
    "description_labels",
    "diff",
    "endpoint_group",
    "eni_for_ip",
    "expand",
    "guards_of",
    "normalise_cidr",
    "outcome",
    "primary_eni",
    "resolve_named",
]
