"""Subnet choice for a load balancer follows LBC's resolver on DescribeSubnets facts."""

from __future__ import annotations

import pytest
from lbc.core.stack.inputs import SubnetFacts, SubnetSelectorView
from lbc.core.stack.model import LoadBalancerType, Scheme
from lbc.core.stack.subnets import (
    SubnetError,
    SubnetRules,
    discover,
    resolve_names_or_ids,
    resolve_selector,
)

RULES = SubnetRules(cluster_name="c1")
ALB = LoadBalancerType.APPLICATION
NLB = LoadBalancerType.NETWORK
PUBLIC = Scheme.INTERNET_FACING


def subnet(sid: str, az: str, *tags: tuple[str, str], ips: int = 251, **kw: object) -> SubnetFacts:
    return SubnetFacts(
        subnet_id=sid, availability_zone=az, available_ips=ips, tags=tuple(sorted(tags)), **kw
    )  # type: ignore[arg-type]


ELB = ("kubernetes.io/role/elb", "1")
INTERNAL = ("kubernetes.io/role/internal-elb", "")


def test_discovery_picks_role_tagged_subnets_one_per_az_sorted_by_id() -> None:
    subnets = [
        subnet("subnet-c", "az-b", ELB),
        subnet("subnet-b", "az-a", ELB),
        subnet("subnet-a", "az-a", ELB),
        subnet("subnet-z", "az-c", INTERNAL),
    ]
    assert discover(subnets, PUBLIC, ALB, RULES) == ("subnet-a", "subnet-c")
    with pytest.raises(SubnetError, match="< 2"):
        discover(subnets, Scheme.INTERNAL, ALB, RULES)
    assert discover(subnets, Scheme.INTERNAL, NLB, RULES) == ("subnet-z",)


def test_a_subnet_tagged_for_this_cluster_wins_its_az() -> None:
    subnets = [
        subnet("subnet-a", "az-a", ELB),
        subnet("subnet-b", "az-a", ELB, ("kubernetes.io/cluster/c1", "shared")),
        subnet("subnet-c", "az-b", ELB),
    ]
    assert discover(subnets, PUBLIC, ALB, RULES) == ("subnet-b", "subnet-c")


def test_subnets_of_other_clusters_and_small_subnets_are_not_eligible() -> None:
    subnets = [
        subnet("subnet-a", "az-a", ELB, ("kubernetes.io/cluster/other", "owned")),
        subnet("subnet-b", "az-b", ELB, ips=7),
    ]
    with pytest.raises(SubnetError) as err:
        discover(subnets, PUBLIC, NLB, RULES)
    assert str(err.value) == (
        "couldn't auto-discover subnets: unable to resolve at least one subnet. Evaluated 2 "
        "subnets: 1 are tagged for other clusters, and 1 have insufficient available IP addresses"
    )
    relaxed = SubnetRules(cluster_name="c1", cluster_tag_check=False)
    assert discover(subnets, PUBLIC, NLB, relaxed) == ("subnet-a",)


def test_without_role_tags_reachability_decides() -> None:
    subnets = [
        subnet("subnet-a", "az-a", public=True),
        subnet("subnet-b", "az-b", public=True),
        subnet("subnet-c", "az-c", public=False),
    ]
    assert discover(subnets, PUBLIC, ALB, RULES) == ("subnet-a", "subnet-b")
    assert discover(subnets, Scheme.INTERNAL, NLB, RULES) == ("subnet-c",)
    off = SubnetRules(cluster_name="c1", discover_by_reachability=False)
    with pytest.raises(SubnetError):
        discover(subnets, PUBLIC, ALB, off)


def test_alb_single_subnet_gate_allows_one_subnet() -> None:
    subnets = [subnet("subnet-a", "az-a", ELB)]
    single = SubnetRules(cluster_name="c1", alb_single_subnet=True)
    assert discover(subnets, PUBLIC, ALB, single) == ("subnet-a",)


def test_mixed_locales_are_refused() -> None:
    subnets = [
        subnet("subnet-a", "az-a", ELB),
        subnet("subnet-b", "lz-1", ELB, zone_type="local-zone"),
    ]
    with pytest.raises(SubnetError, match="multiple locales"):
        discover(subnets, PUBLIC, NLB, RULES)


def test_explicit_subnets_by_id_and_by_name() -> None:
    subnets = [
        subnet("subnet-a", "az-a", ("Name", "pub")),
        subnet("subnet-b", "az-b", ("Name", "pub")),
        subnet("subnet-c", "az-c"),
    ]
    assert resolve_names_or_ids(subnets, ["subnet-c", "pub", "pub"], ALB, RULES) == (
        "subnet-c",
        "subnet-a",
        "subnet-b",
    )
    with pytest.raises(SubnetError, match="requested 3 times but only 2"):
        resolve_names_or_ids(subnets, ["pub", "pub", "pub"], NLB, RULES)
    with pytest.raises(SubnetError, match="missing names"):
        resolve_names_or_ids(subnets, ["nope"], NLB, RULES)
    with pytest.raises(SubnetError, match="couldn't find all subnets"):
        resolve_names_or_ids(subnets, ["subnet-x"], NLB, RULES)


def test_explicit_subnets_must_be_one_per_az() -> None:
    subnets = [subnet("subnet-a", "az-a"), subnet("subnet-b", "az-a")]
    with pytest.raises(SubnetError, match="multiple subnets in same Availability Zone az-a"):
        resolve_names_or_ids(subnets, ["subnet-a", "subnet-b"], NLB, RULES)


def test_params_selector_by_tags_chooses_like_discovery() -> None:
    subnets = [
        subnet("subnet-a", "az-a", ("tier", "web")),
        subnet("subnet-b", "az-b", ("tier", "web")),
        subnet("subnet-c", "az-c", ("tier", "db")),
    ]
    selector = SubnetSelectorView(tags=(("tier", ("web",)),))
    assert resolve_selector(subnets, selector, ALB, RULES) == ("subnet-a", "subnet-b")
    by_ids = SubnetSelectorView(ids=("subnet-c",))
    assert resolve_selector(subnets, by_ids, NLB, RULES) == ("subnet-c",)
