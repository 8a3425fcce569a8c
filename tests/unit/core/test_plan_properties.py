"""Property tests of plan(): the safety invariants, checked against a model target group.

Targets come from small pools so that hypothesis often makes sets overlap: this cluster's pool
(``10.0.0.x``), another cluster's (``10.1.0.x``) and targets added by hand (``10.2.0.x``). In
MultiCluster mode only this cluster's pool can ever be in its ledger or desired set; that is the
ownership the ledger encodes, and the invariants check that lbc never strays outside it.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, strategies as st
from lbc.core.binding import Binding
from lbc.core.desired import DesiredSet, DesiredTarget, Resolution
from lbc.core.ledger import ABSENT, LedgerPresent, LedgerState, LedgerUnreadable
from lbc.core.plan import plan
from lbc.core.targets import HealthState, Target, TargetHealth

from .factories import binding
from .model import Cluster, TargetGroup, execute, run_step, steps

OURS = tuple(Target(f"10.0.0.{i}", 80) for i in range(1, 13))
THEIRS = tuple(Target(f"10.1.0.{i}", 80) for i in range(1, 13))
MANUAL = tuple(Target(f"10.2.0.{i}", 80) for i in range(1, 6))

NORMAL = binding()
MULTI = binding(multi_cluster=True)


def desired_set(targets: frozenset[Target]) -> DesiredSet:
    return DesiredSet(
        Resolution.RESOLVED,
        {t: DesiredTarget(t, 1_700_000_000_000 + int(t.id.rsplit(".", 1)[1])) for t in targets},
    )


GONE = DesiredSet(Resolution.BACKEND_NOT_FOUND)


def subsets(pool: tuple[Target, ...]) -> st.SearchStrategy[frozenset[Target]]:
    """Any subset of ``pool``, drawn as one bit mask: a single draw rather than one per member
    (drawing the sets was most of these tests' time), shrinking towards the empty set."""
    return st.integers(0, 2 ** len(pool) - 1).map(
        lambda mask: frozenset(t for i, t in enumerate(pool) if mask >> i & 1)
    )


@st.composite
def worlds(
    draw: st.DrawFn, *, multi_cluster: bool
) -> tuple[Cluster, TargetGroup, frozenset[Target]]:
    """A consistent starting point: a group, a ledger covering what we registered, a desired set.

    Our registered targets are always in our ledger when one exists (that is what crash safety
    promises of any earlier pass). Without a ledger, our targets in the group are leftovers of
    normal mode (MultiCluster just turned on): they are not "may be registered by a ledgered
    pass" and are left out of the bookkeeping.
    """
    ours = draw(subsets(OURS))
    ours_draining = draw(subsets(OURS)) - ours
    others = draw(subsets(THEIRS + MANUAL))
    others_draining = draw(subsets(THEIRS + MANUAL)) - others
    group = TargetGroup(
        dict.fromkeys(ours | others, HealthState.HEALTHY)
        | dict.fromkeys(ours_draining | others_draining, HealthState.DRAINING)
    )
    has_ledger = multi_cluster and draw(st.booleans())
    ledger = (ours | draw(subsets(OURS))) if has_ledger else None
    b = MULTI if multi_cluster else NORMAL
    cluster = Cluster("A", b, ledger, set(ours) if has_ledger else set())
    return cluster, group, draw(subsets(OURS))


def ledgers() -> st.SearchStrategy[LedgerState]:
    return st.one_of(
        st.just(ABSENT),
        subsets(OURS).map(lambda s: LedgerPresent(s, "1")),
        st.just(LedgerUnreadable("entry #1 is malformed", "1")),
    )


def observations() -> st.SearchStrategy[dict[Target, TargetHealth]]:
    return st.dictionaries(
        st.sampled_from(OURS + THEIRS + MANUAL),
        st.sampled_from(list(HealthState)).map(TargetHealth),
        max_size=20,
    )


def bindings() -> st.SearchStrategy[Binding]:
    return st.builds(
        lambda mc, deleting: binding(multi_cluster=mc, deleting=deleting),
        st.booleans(),
        st.booleans(),
    )


# 1. MultiCluster: never deregister a target that is not in the ledger. This holds for a binding
#    whose flag was turned off while its ledger exists too (the refused flip).


@given(
    st.booleans(),
    st.booleans(),
    subsets(OURS),
    observations(),
    ledgers(),
    st.booleans(),
)
def test_multicluster_never_deregisters_a_target_outside_its_ledger(  # noqa: PLR0917 - hypothesis passes drawn values positionally
    multi_cluster: bool,
    deleting: bool,
    want: frozenset[Target],
    obs: dict[Target, TargetHealth],
    ledger: LedgerState,
    backend_gone: bool,
) -> None:
    b = binding(multi_cluster=multi_cluster, deleting=deleting)
    p = plan(b, GONE if backend_gone else desired_set(want), obs, ledger)
    if isinstance(ledger, LedgerPresent):
        assert p.deregistered <= ledger.targets
    elif isinstance(ledger, LedgerUnreadable):
        assert p.deregistered == frozenset()
        assert p.registered == frozenset()
    elif not multi_cluster:
        return  # normal mode without a ledger owns the whole group
    elif deleting:
        # No ledger at deletion: only the binding's own current endpoints.
        assert p.deregistered <= want
    else:
        assert p.deregistered == frozenset()
    assert not (p.deregistered & frozenset(THEIRS + MANUAL))


# 2. A target is never both registered and deregistered in one plan.


@given(
    bindings(),
    subsets(OURS + THEIRS),
    subsets(OURS + THEIRS),
    observations(),
    ledgers(),
    st.booleans(),
)
def test_no_target_is_both_registered_and_deregistered(  # noqa: PLR0917 - hypothesis passes drawn values positionally
    b: Binding,
    want: frozenset[Target],
    uncertain: frozenset[Target],
    obs: dict[Target, TargetHealth],
    ledger: LedgerState,
    backend_gone: bool,
) -> None:
    desired = replace(desired_set(want), uncertain=uncertain - want)
    p = plan(b, GONE if backend_gone else desired, obs, ledger)
    assert not (p.registered & p.deregistered)
    # Nothing draining is ever deregistered again.
    draining = {t for t, h in obs.items() if h.draining}
    assert not (p.deregistered & draining)
    if not (b.deleting or backend_gone):
        # A target whose pod is not known yet is never deregistered by a live binding.
        assert not (p.deregistered & uncertain)


# 3. Applying the plan leaves the group ⊇ desired; normal mode holds nothing else active.


@given(st.booleans().flatmap(lambda mc: worlds(multi_cluster=mc)))
def test_applied_plan_leaves_desired_registered_and_nothing_undesired_in_normal_mode(
    world: tuple[Cluster, TargetGroup, frozenset[Target]],
) -> None:
    cluster, group, want = world
    before_active = group.active()
    ledger_before = cluster.ledger
    assert execute(cluster.plan(desired_set(want), group), cluster, group)
    assert want <= group.active()
    if cluster.binding.spec.multi_cluster:
        assert group.active() - want == before_active - want - (ledger_before or frozenset())
        assert cluster.ledger == want
    else:
        assert group.active() == want


# 4. Crash safety after any prefix of the plan's steps, and convergence afterwards.


def crashed(
    world: tuple[Cluster, TargetGroup, frozenset[Target]], crash_after: int, partial: int | None
) -> tuple[Cluster, TargetGroup]:
    """``world`` after a pass towards its desired set that stopped after ``crash_after`` steps
    (``partial``: the step that half succeeded); execute() checks crash safety at every step."""
    cluster, group, want = world
    execute(
        cluster.plan(desired_set(want), group),
        cluster,
        group,
        stop_after=crash_after,
        partial=partial,
    )
    return cluster, group


@given(worlds(multi_cluster=True), st.integers(0, 12), st.none() | st.integers(0, 3), subsets(OURS))
def test_every_target_that_may_be_registered_is_in_the_persisted_ledger_at_every_step(
    world: tuple[Cluster, TargetGroup, frozenset[Target]],
    crash_after: int,
    partial: int | None,
    later_want: frozenset[Target],
) -> None:
    theirs_before = world[1].active() & frozenset(THEIRS + MANUAL)
    cluster, group = crashed(world, crash_after, partial)
    # The next pass starts from fresh observations (pods may have changed meanwhile).
    final = None
    for _ in range(3):
        final = cluster.plan(desired_set(later_want), group)
        execute(final, cluster, group)
    assert final is not None
    assert not cluster.plan(desired_set(later_want), group).mutates
    assert later_want <= group.active()
    # Nothing lbc registered leaks, whatever the crash or failure was.
    assert cluster.registered & group.active() <= later_want
    assert theirs_before <= group.active()


@given(
    worlds(multi_cluster=False), st.integers(0, 12), st.none() | st.integers(0, 3), subsets(OURS)
)
def test_normal_mode_converges_after_a_crash_or_partial_failure(
    world: tuple[Cluster, TargetGroup, frozenset[Target]],
    crash_after: int,
    partial: int | None,
    later_want: frozenset[Target],
) -> None:
    cluster, group = crashed(world, crash_after, partial)
    for _ in range(2):
        execute(cluster.plan(desired_set(later_want), group), cluster, group)
    assert not cluster.plan(desired_set(later_want), group).mutates
    assert group.active() == later_want


# 5. Idempotence.


@given(st.booleans().flatmap(lambda mc: worlds(multi_cluster=mc)), st.booleans())
def test_planning_again_after_applying_a_plan_changes_nothing(
    world: tuple[Cluster, TargetGroup, frozenset[Target]], drain_between: bool
) -> None:
    cluster, group, want = world
    assert execute(cluster.plan(desired_set(want), group), cluster, group)
    if drain_between:
        group.drain()
    again = cluster.plan(desired_set(want), group)
    assert not again.mutates, again


# Deletion and backend loss take exactly the binding's own targets out.


@given(worlds(multi_cluster=True), st.booleans(), st.integers(0, 8))
def test_multicluster_cleanup_removes_only_ledgered_targets_and_converges(
    world: tuple[Cluster, TargetGroup, frozenset[Target]], deleting: bool, crash_after: int
) -> None:
    cluster, group, want = world
    cluster.binding = replace(cluster.binding, deleting=deleting)
    ledger_before = cluster.ledger
    theirs_before = group.active() & frozenset(THEIRS + MANUAL)
    desired = desired_set(want) if deleting else GONE
    execute(cluster.plan(desired, group), cluster, group, stop_after=crash_after)
    for _ in range(3):
        if deleting and cluster.finalizer_removed:
            break
        execute(cluster.plan(desired, group), cluster, group)
    assert theirs_before <= group.active()
    if ledger_before is not None:
        assert not (group.active() & ledger_before)
    else:
        assert not (group.active() & want) or not deleting
    if deleting:
        assert cluster.finalizer_removed
        assert cluster.ledger is None


# 6. Two clusters sharing one target group.

CLUSTERS = ("A", "B")
POOLS = {"A": OURS, "B": THEIRS}

actions = st.lists(
    st.one_of(
        st.tuples(st.just("plan"), st.sampled_from(CLUSTERS)),
        st.tuples(st.just("step"), st.sampled_from(CLUSTERS)),
        st.tuples(st.just("step"), st.sampled_from(CLUSTERS)),
        st.tuples(st.just("step"), st.sampled_from(CLUSTERS)),
        st.tuples(st.just("fail"), st.sampled_from(CLUSTERS), st.integers(0, 3)),
        st.tuples(st.just("crash"), st.sampled_from(CLUSTERS)),
        st.tuples(st.just("churn"), st.sampled_from(CLUSTERS), st.integers(0, 2**12 - 1)),
        st.tuples(st.just("drain")),
    ),
    max_size=60,
)


@given(subsets(OURS), subsets(THEIRS), subsets(MANUAL), actions)
def test_two_clusters_sharing_a_group_never_deregister_each_other_and_converge(
    want_a: frozenset[Target],
    want_b: frozenset[Target],
    manual: frozenset[Target],
    program: list[tuple],
) -> None:
    group = TargetGroup(dict.fromkeys(manual, HealthState.HEALTHY))
    clusters = {name: Cluster(name, binding(multi_cluster=True)) for name in CLUSTERS}
    want = {"A": want_a, "B": want_b}
    pending: dict[str, list] = {"A": [], "B": []}
    for action in program:
        kind, who = action[0], action[1] if len(action) > 1 else ""
        if kind == "plan" and not pending[who]:
            p = clusters[who].plan(desired_set(want[who]), group)
            pending[who] = steps(p, clusters[who], group)
        elif kind == "step" and pending[who]:
            run_step(pending[who].pop(0), clusters[who], group)
        elif kind == "fail" and pending[who]:
            run_step(pending[who].pop(0), clusters[who], group, effective=action[2])
            pending[who] = []
        elif kind == "crash":
            pending[who] = []
        elif kind == "churn":
            mask = action[2]
            want[who] = frozenset(t for i, t in enumerate(POOLS[who]) if mask >> i & 1)
        elif kind == "drain":
            group.drain()
        for name, target in group.deregistrations:
            assert target in POOLS[name], f"{name} deregistered {target}, not its own"
    for _ in range(3):
        for name in CLUSTERS:
            execute(clusters[name].plan(desired_set(want[name]), group), clusters[name], group)
    for name in CLUSTERS:
        assert not clusters[name].plan(desired_set(want[name]), group).mutates
    assert group.active() == want["A"] | want["B"] | manual
    for name, target in group.deregistrations:
        assert target in POOLS[name]
