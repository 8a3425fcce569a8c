"""Verdicts of ``lbc inspect target-group``: who owns each target of a shared group."""

from __future__ import annotations

from lbc.core.desired import DesiredSet, Resolution
from lbc.core.ledger import ABSENT, LedgerPresent, LedgerState, LedgerUnreadable
from lbc.core.targets import HealthState, Target, TargetHealth
from lbc.inspect.ownership import (
    BindingFacts,
    BindingRef,
    ClusterFacts,
    Mode,
    Verdict,
    assess,
)

from tests.unit.core.factories import NS, binding, desired_of, health, t, targets

DRAINING = health(HealthState.DRAINING, "Target.DeregistrationInProgress")


def facts(
    cluster: str,
    desired: DesiredSet,
    ledger: LedgerState,
    *,
    name: str = "web",
    multi_cluster: bool = True,
) -> BindingFacts:
    return BindingFacts(
        BindingRef(cluster, NS, name),
        binding(name, multi_cluster=multi_cluster),
        desired,
        ledger,
        f"aws-lbc-targets-{name}",
    )


def cluster(name: str, *bindings: BindingFacts) -> ClusterFacts:
    return ClusterFacts(name, f"context {name}", tuple(bindings))


def group(*identities: str, state: TargetHealth | None = None) -> dict[Target, TargetHealth]:
    return {t(i): state or health() for i in identities}


def verdicts(result: object) -> dict[str, str]:
    return {r.target.identity: r.verdict.value for r in result.rows}  # type: ignore[attr-defined]


A1, A2, B1, HAND = "10.0.8.1:8080", "10.0.8.2:8080", "10.0.12.1:8080", "10.0.40.5:8080"


def two_clusters() -> list[ClusterFacts]:
    return [
        cluster("a", facts("a", desired_of(A1, A2), LedgerPresent(targets(A1, A2)))),
        cluster("b", facts("b", desired_of(B1), LedgerPresent(targets(B1)))),
    ]


def test_each_clusters_targets_are_owned_by_its_binding_and_a_hand_registered_one_is_orphan() -> (
    None
):
    result = assess(group(A1, A2, B1, HAND), two_clusters())
    assert verdicts(result) == {A1: "owned", A2: "owned", B1: "owned", HAND: "orphan"}
    owners = {r.target.identity: [str(o) for o in r.owners] for r in result.rows}
    assert owners[A1] == ["a:shop/web"]
    assert owners[B1] == ["b:shop/web"]
    assert owners[HAND] == []
    assert not result.healthy()
    assert result.healthy(allow_orphans=True)
    assert result.counts[Verdict.OWNED] == 3
    assert result.counts[Verdict.ORPHAN] == 1


def test_a_ledger_claiming_another_clusters_target_makes_it_double_claimed() -> None:
    clusters = two_clusters()
    clusters[0] = cluster("a", facts("a", desired_of(A1, A2), LedgerPresent(targets(A1, A2, B1))))
    result = assess(group(A1, A2, B1), clusters)
    assert verdicts(result)[B1] == "double-claimed"
    row = next(r for r in result.rows if r.target == t(B1))
    assert [str(r) for r in row.claimed_by] == ["a:shop/web", "b:shop/web"]
    assert not result.healthy(allow_orphans=True)


def test_a_desired_target_not_registered_or_draining_is_missing() -> None:
    observed = group(A1) | {t(A2): DRAINING}
    clusters = [
        cluster("a", facts("a", desired_of(A1, A2, "10.0.8.3:8080"), LedgerPresent(targets(A1))))
    ]
    result = assess(observed, clusters)
    assert verdicts(result) == {A1: "owned", A2: "missing", "10.0.8.3:8080": "missing"}
    row = next(r for r in result.rows if r.target == t(A2))
    assert [str(r) for r in row.owners] == ["a:shop/web"]
    assert "draining" in row.note


def test_a_ledger_entry_neither_registered_nor_desired_is_stale() -> None:
    clusters = [cluster("a", facts("a", desired_of(A1), LedgerPresent(targets(A1, A2))))]
    result = assess(group(A1), clusters)
    assert verdicts(result) == {A1: "owned", A2: "stale"}
    assert not result.healthy()


def test_a_draining_target_nobody_desires_is_on_its_way_out_and_fine() -> None:
    clusters = [cluster("a", facts("a", desired_of(A1), LedgerPresent(targets(A1))))]
    result = assess(group(A1) | {t(A2): DRAINING}, clusters)
    assert verdicts(result) == {A1: "owned", A2: "draining"}
    assert result.healthy()


def test_an_owned_target_its_binding_no_longer_desires_says_it_will_be_deregistered() -> None:
    clusters = [cluster("a", facts("a", desired_of(A1), LedgerPresent(targets(A1, A2))))]
    result = assess(group(A1, A2), clusters)
    row = next(r for r in result.rows if r.target == t(A2))
    assert row.verdict is Verdict.OWNED
    assert "deregisters it" in row.note


def test_a_normal_mode_binding_claims_the_whole_group() -> None:
    normal = facts("a", desired_of(A1), ABSENT, multi_cluster=False)
    assert normal.mode is Mode.NORMAL
    result = assess(group(A1, HAND), [cluster("a", normal)])
    assert verdicts(result) == {A1: "owned", HAND: "owned"}
    row = next(r for r in result.rows if r.target == t(HAND))
    assert "normal mode" in row.note


def test_a_normal_mode_binding_beside_a_multicluster_one_double_claims_the_others_targets() -> None:
    clusters = [
        cluster("a", facts("a", desired_of(A1), ABSENT, multi_cluster=False)),
        cluster("b", facts("b", desired_of(B1), LedgerPresent(targets(B1)))),
    ]
    result = assess(group(A1, B1), clusters)
    assert verdicts(result) == {A1: "owned", B1: "double-claimed"}


def test_a_disabled_multicluster_binding_with_a_ledger_keeps_claiming_its_ledger_only() -> None:
    guarded = facts("a", desired_of(A1), LedgerPresent(targets(A1)), multi_cluster=False)
    assert guarded.mode is Mode.LEDGER_GUARDED
    result = assess(group(A1, HAND), [cluster("a", guarded)])
    assert verdicts(result) == {A1: "owned", HAND: "orphan"}


def test_a_new_multicluster_binding_without_a_ledger_claims_nothing_yet() -> None:
    result = assess(group(A1), [cluster("a", facts("a", desired_of(A1), ABSENT))])
    row = result.rows[0]
    assert row.verdict is Verdict.ORPHAN
    assert "ledger does not list it yet" in row.note


def test_an_unreachable_cluster_turns_unattributed_targets_unknown_and_fails() -> None:
    clusters = [
        cluster("a", facts("a", desired_of(A1, A2), LedgerPresent(targets(A1, A2)))),
        ClusterFacts("b", "context b", error="connection refused"),
    ]
    result = assess(group(A1, A2, B1), clusters)
    assert verdicts(result) == {A1: "owned", A2: "owned", B1: "unknown"}
    assert result.unknown_sources == ("cluster b unreachable: connection refused",)
    assert not result.healthy(allow_orphans=True)


def test_an_unreadable_ledger_is_named_and_its_claims_are_unknown() -> None:
    broken = LedgerUnreadable("ledger entry #1 'x' is malformed")
    clusters = [
        cluster("a", facts("a", desired_of(A1), LedgerPresent(targets(A1)))),
        cluster("b", facts("b", desired_of(B1), broken)),
    ]
    result = assess(group(A1, B1), clusters)
    assert verdicts(result) == {A1: "owned", B1: "unknown"}
    assert result.unknown_sources == (
        "b:shop/web: ledger ConfigMap aws-lbc-targets-web is unreadable: "
        "ledger entry #1 'x' is malformed",
    )


def test_an_invalid_binding_naming_the_group_makes_the_inspection_incomplete() -> None:
    clusters = [ClusterFacts("a", "context a", problems=("binding shop/x is invalid",))]
    result = assess(group(A1), clusters)
    assert verdicts(result) == {A1: "unknown"}
    assert not result.healthy(allow_orphans=True)


def test_two_bindings_of_one_cluster_desiring_the_same_target_both_claim_it() -> None:
    clusters = [
        cluster(
            "a",
            facts("a", desired_of(A1), LedgerPresent(targets(A1)), name="web"),
            facts("a", desired_of(A1), LedgerPresent(targets(A1)), name="web-canary"),
        )
    ]
    assert verdicts(assess(group(A1), clusters)) == {A1: "double-claimed"}


def test_rows_are_sorted_and_cover_every_target_known_to_any_source() -> None:
    unresolved = DesiredSet(Resolution.BACKEND_NOT_FOUND)
    clusters = [cluster("a", facts("a", unresolved, LedgerPresent(targets(A2))))]
    result = assess(group(B1, A1), clusters)
    assert [r.target.identity for r in result.rows] == sorted([A1, A2, B1], key=Target.parse)
    assert sum(result.counts.values()) == len(result.rows)


def test_quic_targets_are_told_apart_by_server_id_and_sorted_stably() -> None:
    one, two = Target("10.0.8.1", 443, "0x2a"), Target("10.0.8.1", 443, "0x2b")
    clusters = [
        cluster("a", facts("a", desired_of(one.identity), LedgerPresent(targets(one.identity))))
    ]
    result = assess({two: health(), one: health()}, clusters)
    assert [(r.target.identity, r.verdict.value) for r in result.rows] == [
        ("10.0.8.1:443:0x2a", "owned"),
        ("10.0.8.1:443:0x2b", "orphan"),
    ]


def test_an_lbc_port_0_ledger_entry_is_stale_and_says_why() -> None:
    clusters = [cluster("a", facts("a", desired_of(), LedgerPresent(targets("i-0abc:0"))))]
    [row] = assess({}, clusters).rows
    assert row.verdict is Verdict.STALE
    assert "port 0" in row.note
