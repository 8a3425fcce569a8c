"""The pure rules of spec.networking: permissions, endpoint groups, ownership and the diff."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st
from lbc.core.binding import IngressRule, Networking, NetworkingPeer, NetworkingPort
from lbc.core.networking import (
    ALL_PORTS,
    LIMIT,
    OK,
    SHARED_DESCRIPTION,
    Eni,
    ExistingRule,
    Failure,
    Guard,
    NamedPort,
    NetworkingError,
    Permission,
    Wishes,
    aggregate,
    check_cluster_name,
    clusters_of,
    description_labels,
    diff,
    endpoint_group,
    eni_for_ip,
    expand,
    guards_of,
    normalise_cidr,
    outcome,
    primary_eni,
    resolve_named,
)
from lbc.core.objects import PodView

LB = "sg-0aaaaaaaaaaaaaaaa"
NODE = "sg-0bbbbbbbbbbbbbbbb"


def net(*ports: NetworkingPort, peers: tuple[NetworkingPeer, ...] | None = None) -> Networking:
    return Networking((IngressRule(peers or (NetworkingPeer(security_group=LB),), ports),))


def perm(port: int, source: str = LB, protocol: str = "tcp") -> Permission:
    return Permission(protocol, port, port, source)


def rule(p: Permission, *clusters: str, description: str = SHARED_DESCRIPTION) -> ExistingRule:
    return ExistingRule(
        f"sgr-{hash((p, clusters, description)) & 0xFFFFFF:06x}",
        p,
        description,
        frozenset(clusters),
    )


# -- expansion -------------------------------------------------------------------------------------


def test_empty_ports_list_opens_all_tcp_ports() -> None:
    got = expand(net(), pod_targets=False)
    assert got.permissions == {Permission("tcp", *ALL_PORTS, LB)}
    assert got.errors == ()


def test_omitted_port_opens_every_port_of_its_protocol() -> None:
    got = expand(net(NetworkingPort("UDP", None)), pod_targets=False)
    assert got.permissions == {Permission("udp", 0, 65535, LB)}


def test_numeric_port_is_one_rule_per_protocol() -> None:
    got = expand(net(NetworkingPort("TCP", 32197), NetworkingPort("UDP", 32197)), pod_targets=False)
    assert got.permissions == {perm(32197), perm(32197, protocol="udp")}


def test_cidr_with_host_bits_is_normalised() -> None:
    peers = (NetworkingPeer(cidr="10.1.2.3/16"), NetworkingPeer(cidr="2001:db8::1/64"))
    got = expand(net(NetworkingPort("TCP", 80), peers=peers), pod_targets=True)
    assert got.permissions == {perm(80, "10.1.0.0/16"), perm(80, "2001:db8::/64")}
    assert normalise_cidr(" 192.168.7.9/24") == "192.168.7.0/24"


def test_malformed_cidr_fails_only_that_peer() -> None:
    peers = (NetworkingPeer(cidr="10.0.0.300/8"), NetworkingPeer(cidr="10.9.0.0/16"))
    got = expand(net(NetworkingPort("TCP", 80), peers=peers), pod_targets=True)
    assert got.permissions == {perm(80, "10.9.0.0/16")}
    assert len(got.errors) == 1
    assert "10.0.0.300/8" in got.errors[0]
    with pytest.raises(NetworkingError):
        normalise_cidr("10.0.0.1")


def pod(*named: tuple[str, int, str], name: str = "web-1") -> PodView:
    return PodView("shop", name, "uid", "10.0.8.5", "n1", 0, (), True, named_ports=named)


def test_named_port_is_left_to_each_pod_for_ip_targets() -> None:
    got = expand(net(NetworkingPort("TCP", "http"), NetworkingPort("TCP", 9090)), pod_targets=True)
    assert got.permissions == {perm(9090)}
    assert got.named == {NamedPort("tcp", "http", LB)}
    assert not got.unresolved
    assert not got.errors


def test_named_port_with_instance_targets_is_reported_and_guarded_never_guessed() -> None:
    got = expand(net(NetworkingPort("TCP", "http")), pod_targets=False)
    assert not got.permissions
    assert not got.named
    assert got.unresolved == {Guard("tcp", LB, None)}
    assert "ip targets" in got.errors[0]


def test_named_port_resolves_to_the_pods_own_container_port() -> None:
    named = expand(
        net(NetworkingPort("UDP", "dns"), NetworkingPort("TCP", "http")), pod_targets=True
    ).named
    perms, errors = resolve_named(named, pod(("http", 8080, "TCP"), ("dns", 53, "UDP")), "t")
    assert perms == {perm(8080), perm(53, protocol="udp")}
    assert errors == ()
    # Another pod of the same binding (mid-rollout) declares another number: its own.
    perms, _ = resolve_named(named, pod(("http", 8081, "TCP"), ("dns", 53, "UDP")), "t")
    assert perm(8081) in perms
    assert perm(8080) not in perms


def test_named_port_a_pod_does_not_declare_is_an_error_not_a_guess() -> None:
    named = frozenset({NamedPort("tcp", "http", LB)})
    perms, errors = resolve_named(named, pod(("metrics", 9100, "TCP"), name="web-9"), "10.0.8.5:0")
    assert perms == frozenset()
    assert len(errors) == 1
    assert "shop/web-9" in errors[0]
    assert "'http'" in errors[0]
    assert any(g.covers(perm(8080)) for g in guards_of(net(NetworkingPort("TCP", "http"))))


def test_guards_cover_exactly_what_the_spec_could_ask_for() -> None:
    guards = guards_of(net(NetworkingPort("TCP", 32197)))
    assert any(g.covers(perm(32197)) for g in guards)
    assert not any(g.covers(perm(32198)) for g in guards)
    assert not any(g.covers(perm(32197, "sg-0ccccccccccccccc0")) for g in guards)
    assert any(g.covers(Permission("tcp", 0, 65535, LB)) for g in guards_of(net()))


# -- ENIs and groups -------------------------------------------------------------------------------


def test_pod_ip_matches_an_address_or_a_delegated_prefix() -> None:
    a = Eni("eni-a", (NODE,), ("10.0.0.4", "10.0.8.5"), (), 0)
    b = Eni("eni-b", ("sg-0ccccccccccccccc0",), ("10.0.0.9",), ("10.0.9.0/28",), 1)
    assert eni_for_ip([a, b], "10.0.8.5") == a
    assert eni_for_ip([a, b], "10.0.9.14") == b
    assert eni_for_ip([a, b], "10.0.9.16") is None
    assert eni_for_ip([a, b], "not-an-ip") is None
    assert primary_eni([b, a]) == a


def test_single_group_is_the_endpoint_group_without_tag_check() -> None:
    assert endpoint_group(Eni("eni-a", (NODE,)), {}, "a", {"team": "x"}) == NODE


def test_cluster_tag_and_extra_tags_pick_among_several_groups() -> None:
    eks = "sg-0eeeeeeeeeeeeeeee"
    tags = {
        NODE: {"kubernetes.io/cluster/a": "owned", "role": "node"},
        eks: {"kubernetes.io/cluster/a": "owned"},
        LB: {},
    }
    eni = Eni("eni-a", (NODE, eks, LB))
    with pytest.raises(NetworkingError, match="exactly one"):
        endpoint_group(eni, tags, "a", {})
    assert endpoint_group(eni, tags, "a", {"role": "node"}) == NODE
    with pytest.raises(NetworkingError):
        endpoint_group(eni, tags, "b", {})


def test_cluster_name_is_required_and_fits_a_tag_key() -> None:
    assert check_cluster_name("prod-1") == "prod-1"
    with pytest.raises(NetworkingError):
        check_cluster_name(None)
    with pytest.raises(NetworkingError):
        check_cluster_name("x" * 120)


def test_labels_and_cluster_tags_parse() -> None:
    assert description_labels("elbv2.k8s.aws/targetGroupBinding=shared") == {
        "elbv2.k8s.aws/targetGroupBinding": "shared"
    }
    assert description_labels("made by hand") == {}
    assert clusters_of({"elbv2.k8s.aws/cluster/a": "wanted", "Name": "x"}) == {"a"}


# -- diff ------------------------------------------------------------------------------------------


def test_missing_permission_is_granted_and_present_one_is_left() -> None:
    changes = diff(NODE, frozenset({perm(80), perm(81)}), [rule(perm(80), "a")], "a")
    assert changes.grant == (perm(81),)
    assert not (changes.adopt)
    assert not (changes.release)
    assert not (changes.revoke)


def test_rule_another_cluster_also_wants_is_released_not_revoked() -> None:
    shared = rule(perm(32197), "a", "b")
    changes = diff(NODE, frozenset(), [shared], "a")
    assert changes.release == (shared,)
    assert changes.revoke == ()


def test_other_clusters_rules_are_never_touched() -> None:
    theirs = rule(perm(32197), "b")
    changes = diff(NODE, frozenset(), [theirs], "a")
    assert changes.empty


def test_rule_wanted_by_another_cluster_is_shared_by_tagging_it() -> None:
    theirs = rule(perm(32197), "b")
    changes = diff(NODE, frozenset({perm(32197)}), [theirs], "a")
    assert changes.grant == ()
    assert changes.adopt == (theirs,)


def test_legacy_rule_is_adopted_when_wanted_and_left_when_not() -> None:
    legacy = rule(perm(32197))
    assert diff(NODE, frozenset({perm(32197)}), [legacy], "a").adopt == (legacy,)
    assert diff(NODE, frozenset(), [legacy], "a").empty


def test_hand_made_rule_satisfies_a_wish_and_is_never_revoked() -> None:
    manual = rule(perm(32197), description="ops ticket 42")
    assert diff(NODE, frozenset({perm(32197)}), [manual], "a").empty
    assert diff(NODE, frozenset(), [manual], "a").empty


def test_rule_only_this_cluster_wanted_is_revoked() -> None:
    mine = rule(perm(30000), "a")
    assert diff(NODE, frozenset(), [mine], "a").revoke == (mine,)


def test_guard_of_an_unknown_binding_keeps_its_rules() -> None:
    mine = rule(perm(30000), "a")
    other = rule(perm(30001), "a")
    changes = diff(
        NODE, frozenset(), [mine, other], "a", frozenset({Guard("tcp", LB, (30000, 30000))})
    )
    assert changes.revoke == (other,)


def test_aggregate_unions_groups_and_keeps_guards_of_incomplete_bindings() -> None:
    g = Guard("tcp", LB, None)
    agg = aggregate(
        [
            Wishes({NODE: frozenset({perm(1)})}),
            Wishes(
                {NODE: frozenset({perm(2)}), "sg-2": frozenset()},
                complete=False,
                guards=frozenset({g}),
            ),
            Wishes({}, complete=True, guards=frozenset({Guard("udp", LB, None)})),
        ]
    )
    assert agg.per_group == {NODE: {perm(1), perm(2)}, "sg-2": frozenset()}
    assert agg.guards == {g}


sources = st.sampled_from([LB, "sg-0ccccccccccccccc0", "10.0.0.0/16"])
perms = st.builds(perm, st.integers(30000, 30004), sources)
owners = st.frozensets(st.sampled_from(["a", "b", "c"]), max_size=3)
descriptions = st.sampled_from([SHARED_DESCRIPTION, "manual", ""])
rules = st.builds(
    lambda p, c, d, i: ExistingRule(f"sgr-{i}", p, d, c), perms, owners, descriptions, st.integers()
)


@given(st.frozensets(perms), st.lists(rules, max_size=8), st.frozensets(perms, max_size=2))
def test_diff_never_lets_go_of_a_wanted_guarded_or_foreign_rule(
    wanted: frozenset[Permission], existing: list[ExistingRule], guarded: frozenset[Permission]
) -> None:
    guards = frozenset(Guard(p.protocol, p.source, (p.from_port, p.to_port)) for p in guarded)
    changes = diff(NODE, wanted, existing, "a", guards)
    present = {r.permission for r in existing}
    assert not set(changes.grant) & present, "EC2 refuses a duplicate of an existing rule"
    assert set(changes.grant) | present >= wanted, "every wish is met or granted"
    for r in (*changes.release, *changes.revoke):
        assert "a" in r.clusters
        assert r.permission not in wanted
        assert r.permission not in guarded
    for r in changes.revoke:
        assert r.clusters == {"a"}, "a rule another cluster wants is released, never revoked"
    for r in changes.adopt:
        assert r.managed
        assert "a" not in r.clusters
        assert r.permission in wanted


def test_failure_is_pinned_only_on_bindings_that_asked_for_it() -> None:
    bad, good = perm(1000, "sg-0ddddddddddddddd0"), perm(2000)
    failures = [Failure(NODE, bad, "SecurityGroupNotFound", "sg-0ddddddddddddddd0 is missing")]
    asked = Wishes({NODE: frozenset({bad})})
    other = Wishes({NODE: frozenset({good})})
    elsewhere = Wishes({"sg-2": frozenset({bad})})
    assert not outcome(asked, failures).ready
    assert "missing" in outcome(asked, failures).message
    assert outcome(other, failures) == OK
    assert outcome(elsewhere, failures) == OK
    whole = [Failure(NODE, None, "AwsError", "group unreadable")]
    assert outcome(other, whole).message == "group unreadable"


def test_rule_limit_wins_the_reason_and_own_errors_are_reported() -> None:
    failures = [
        Failure(NODE, perm(1), LIMIT, "sg full"),
        Failure(NODE, perm(2), "AwsError", "boom"),
    ]
    state = outcome(Wishes({NODE: frozenset({perm(1), perm(2)})}, errors=("bad cidr",)), failures)
    assert state.reason == LIMIT
    assert state.message == "bad cidr; sg full; boom"


def test_peer_with_neither_field_fails_the_bindings_networking_but_not_its_other_peers() -> None:
    # LBC: "either ipBlock or securityGroup should be specified" fails the computation; lbc
    # reports it and keeps the binding's other permissions (and guards) as they are.
    net = Networking(
        (
            IngressRule(
                (
                    NetworkingPeer(at="spec.networking.ingress[0].from[0]"),
                    NetworkingPeer(cidr="10.9.0.0/16"),
                ),
                (NetworkingPort("TCP", 80),),
            ),
        )
    )
    out = expand(net, pod_targets=True)
    assert out.permissions == {Permission("tcp", 80, 80, "10.9.0.0/16")}
    assert out.errors == (
        "spec.networking.ingress[0].from[0] has neither ipBlock nor securityGroup",
    )
