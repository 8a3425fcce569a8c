"""Subnet resolution for a load balancer, as LBC's subnet resolver does it, on subnet facts.

The deployer describes every subnet of the cluster VPC once (``SubnetFacts``, with ``public``
filled from the route tables when the reachability fallback may be needed); everything else is
decided here, so the rules are testable without EC2:

- *discovery*: subnets carrying the scheme's role tag (``kubernetes.io/role/elb`` for
  internet-facing, ``kubernetes.io/role/internal-elb`` for internal) with value ``""`` or
  ``"1"``; none found and the reachability gate on ⇒ every subnet whose reachability matches the
  scheme (public = a route to an ``igw-`` gateway);
- *eligibility*: with the cluster-tag check on, a subnet tagged ``kubernetes.io/cluster*`` but
  not ``kubernetes.io/cluster/<this>`` is dropped; fewer than 8 free addresses ⇒ dropped;
- *one per AZ*: prefer the subnet tagged for this cluster, then the lowest id; sorted by id;
- *validation*: one locale (availability zone, local zone, wavelength zone, outpost); an ALB in
  regular zones needs two subnets unless ``ALBSingleSubnet`` is on; an NLB needs one.

Explicit subnets (annotation: ``subnet-…`` ids, anything else a ``Name`` tag, a name repeated
takes the next subnet with that name in id order) are only validated: one per AZ, one locale,
minimal count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lbc.core.stack.failures import BuildFailure
from lbc.core.stack.inputs import StackConfig, SubnetFacts, SubnetSelectorView
from lbc.core.stack.model import LoadBalancerType, Scheme

ROLE_INTERNET_FACING = "kubernetes.io/role/elb"
ROLE_INTERNAL = "kubernetes.io/role/internal-elb"
CLUSTER_TAG_PREFIX = "kubernetes.io/cluster"
MIN_FREE_IPS = 8

_LOCALE_AZ = "availability-zone"
_LOCALES = frozenset({"availability-zone", "local-zone", "wavelength-zone"})


class SubnetError(BuildFailure):
    """No acceptable subnet set; the message is LBC's."""


@dataclass(frozen=True, slots=True)
class SubnetRules:
    """Cluster facts and gates subnet resolution depends on."""

    cluster_name: str
    cluster_tag_check: bool = True
    discover_by_reachability: bool = True
    alb_single_subnet: bool = False

    @classmethod
    def of(cls, config: StackConfig) -> SubnetRules:
        return cls(
            cluster_name=config.cluster_name,
            cluster_tag_check=config.subnets_cluster_tag_check,
            discover_by_reachability=config.subnet_discovery_by_reachability,
            alb_single_subnet=config.alb_single_subnet,
        )


def _tags(subnet: SubnetFacts) -> dict[str, str]:
    return dict(subnet.tags)


def _this_cluster_tag(rules: SubnetRules) -> str:
    return f"{CLUSTER_TAG_PREFIX}/{rules.cluster_name}"


def _eligible_cluster_tag(subnet: SubnetFacts, rules: SubnetRules) -> bool:
    if not rules.cluster_tag_check:
        return True
    keys = _tags(subnet)
    if _this_cluster_tag(rules) in keys:
        return True
    return not any(k.startswith(CLUSTER_TAG_PREFIX) for k in keys)


def _locale(subnet: SubnetFacts) -> str:
    if subnet.outpost_arn:
        return "outpost"
    if subnet.zone_type not in _LOCALES:
        raise SubnetError(f"unknown zone type for subnet {subnet.subnet_id}: {subnet.zone_type}")
    return subnet.zone_type


def _validate_locale_and_count(
    subnets: Sequence[SubnetFacts], lb_type: LoadBalancerType, rules: SubnetRules
) -> None:
    locales = sorted({_locale(s) for s in subnets})
    if len(locales) > 1:
        raise SubnetError(f"subnets in multiple locales: [{' '.join(locales)}]")
    minimal = 1
    if lb_type is LoadBalancerType.APPLICATION and locales == [_LOCALE_AZ]:
        minimal = 1 if rules.alb_single_subnet else 2
    if len(subnets) < minimal:
        raise SubnetError(
            f"subnets count less than minimal required count: {len(subnets)} < {minimal}"
        )


def _one_per_az(subnets: Iterable[SubnetFacts], rules: SubnetRules) -> list[SubnetFacts]:
    this = _this_cluster_tag(rules)
    by_az: dict[str, list[SubnetFacts]] = {}
    for subnet in subnets:
        by_az.setdefault(subnet.availability_zone, []).append(subnet)
    chosen = [
        min(group, key=lambda s: (this not in _tags(s), s.subnet_id)) for group in by_az.values()
    ]
    return sorted(chosen, key=lambda s: s.subnet_id)


def _choose(
    candidates: Sequence[SubnetFacts], lb_type: LoadBalancerType, rules: SubnetRules
) -> tuple[str, ...]:
    tagged_other = [s for s in candidates if not _eligible_cluster_tag(s, rules)]
    rest = [s for s in candidates if _eligible_cluster_tag(s, rules)]
    few_ips = [s for s in rest if s.available_ips < MIN_FREE_IPS]
    eligible = [s for s in rest if s.available_ips >= MIN_FREE_IPS]
    chosen = _one_per_az(eligible, rules)
    if not chosen:
        raise SubnetError(
            f"unable to resolve at least one subnet. Evaluated {len(candidates)} subnets: "
            f"{len(tagged_other)} are tagged for other clusters, and {len(few_ips)} have "
            "insufficient available IP addresses"
        )
    _validate_locale_and_count(chosen, lb_type, rules)
    return tuple(s.subnet_id for s in chosen)


def discover(
    subnets: Sequence[SubnetFacts], scheme: Scheme, lb_type: LoadBalancerType, rules: SubnetRules
) -> tuple[str, ...]:
    """Auto-discovered subnet ids for a new load balancer (LBC's ``ResolveViaDiscovery``).

    Errors carry LBC's "couldn't auto-discover subnets" prefix, as its builders add it.
    """
    role = ROLE_INTERNET_FACING if scheme is Scheme.INTERNET_FACING else ROLE_INTERNAL
    candidates = [s for s in subnets if _tags(s).get(role) in {"", "1"}]
    if not candidates and rules.discover_by_reachability:
        want_public = scheme is Scheme.INTERNET_FACING
        candidates = [s for s in subnets if bool(s.public) == want_public]
    try:
        return _choose(candidates, lb_type, rules)
    except SubnetError as err:
        raise SubnetError(f"couldn't auto-discover subnets: {err}") from err


def _name(subnet: SubnetFacts) -> str:
    return _tags(subnet).get("Name", "")


def resolve_names_or_ids(
    subnets: Sequence[SubnetFacts],
    names_or_ids: Sequence[str],
    lb_type: LoadBalancerType,
    rules: SubnetRules,
) -> tuple[str, ...]:
    """Explicit subnets (``subnets`` annotation): ids or Name tags, validated, in given order."""
    by_id = {s.subnet_id: s for s in subnets}
    ids = [x for x in names_or_ids if x.startswith("subnet-")]
    missing_ids = [x for x in ids if x not in by_id]
    if missing_ids:
        found = [x for x in ids if x in by_id]
        raise SubnetError(
            "failed to list subnets by names or IDs: couldn't find all subnets, "
            f"want: [{' '.join(ids)}], found: [{' '.join(found)}]"
        )
    wanted_names = [x for x in names_or_ids if not x.startswith("subnet-")]
    by_name: dict[str, list[SubnetFacts]] = {}
    for subnet in sorted(subnets, key=lambda s: s.subnet_id):
        if _name(subnet) in wanted_names:
            by_name.setdefault(_name(subnet), []).append(subnet)
    missing_names = sorted({n for n in wanted_names if n not in by_name})
    if missing_names:
        raise SubnetError(
            "failed to list subnets by names or IDs: couldn't find all subnets, missing names: "
            f"[{' '.join(missing_names)}]"
        )
    resolved: list[SubnetFacts] = []
    used: dict[str, int] = {}
    for item in names_or_ids:
        if item.startswith("subnet-"):
            resolved.append(by_id[item])
            continue
        index = used.get(item, 0)
        if index >= len(by_name[item]):
            raise SubnetError(
                f'subnet with Name tag "{item}" requested {index + 1} times but only '
                f"{len(by_name[item])} subnet(s) found with that name"
            )
        resolved.append(by_name[item][index])
        used[item] = index + 1
    _validate_specified(resolved, lb_type, rules)
    return tuple(s.subnet_id for s in resolved)


def resolve_selector(
    subnets: Sequence[SubnetFacts],
    selector: SubnetSelectorView,
    lb_type: LoadBalancerType,
    rules: SubnetRules,
) -> tuple[str, ...]:
    """IngressClassParams ``subnets``: ids are validated as given; tags select, then choose."""
    if selector.ids:
        by_id = {s.subnet_id: s for s in subnets}
        found = [by_id[x] for x in selector.ids if x in by_id]
        if len(found) != len(selector.ids):
            raise SubnetError(
                "failed to list subnets by IDs: couldn't find all subnets, want: "
                f"[{' '.join(selector.ids)}], found: [{' '.join(s.subnet_id for s in found)}]"
            )
        _validate_specified(found, lb_type, rules)
        return tuple(s.subnet_id for s in found)

    def matches(subnet: SubnetFacts) -> bool:
        tags = _tags(subnet)
        return all(
            key in tags and (not values or tags[key] in values) for key, values in selector.tags
        )

    return _choose([s for s in subnets if matches(s)], lb_type, rules)


def _validate_specified(
    subnets: Sequence[SubnetFacts], lb_type: LoadBalancerType, rules: SubnetRules
) -> None:
    if not subnets:
        raise SubnetError("unable to resolve at least one subnet")
    by_az: dict[str, list[str]] = {}
    for subnet in subnets:
        by_az.setdefault(subnet.availability_zone, []).append(subnet.subnet_id)
    for az, ids in by_az.items():
        if len(ids) > 1:
            raise SubnetError(f"multiple subnets in same Availability Zone {az}: [{' '.join(ids)}]")
    _validate_locale_and_count(subnets, lb_type, rules)
