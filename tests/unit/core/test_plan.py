"""plan(), one table test per rule of SPEC §3 and §6, named after the behaviour it protects."""

from __future__ import annotations

from dataclasses import replace

import pytest
from lbc.core.desired import DesiredSet, Diagnostic, Resolution
from lbc.core.gates import BINDING_DELETED_MESSAGE
from lbc.core.ledger import ABSENT, LedgerPresent, LedgerUnreadable
from lbc.core.objects import FALSE, TRUE, PodCondition, gate_type
from lbc.core.plan import Lifecycle, checkpoint_for, plan
from lbc.core.targets import HealthState, Target, TargetHealth

from .factories import binding, desired_of, gated_pod, observed, targets

MC = {"multi_cluster": True}


def ledger(*identities: str) -> LedgerPresent:
    return LedgerPresent(targets(*identities), "11")


# --- normal mode ---


def test_normal_mode_deregisters_every_undesired_non_draining_target() -> None:
    p = plan(
        binding(),
        desired_of("10.0.0.1:80"),
        observed(["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]),
        ABSENT,
    )
    assert p.deregistered == targets("10.0.0.2:80", "10.0.0.3:80")
    assert p.registered == frozenset()
    assert p.ledger_write_ahead is None
    assert p.ledger_settle is None


def test_normal_mode_registers_desired_targets_missing_from_the_group() -> None:
    p = plan(binding(), desired_of("10.0.0.1:80", "10.0.0.2:80"), observed(["10.0.0.1:80"]), ABSENT)
    assert p.registered == targets("10.0.0.2:80")
    assert p.deregistered == frozenset()


def test_draining_targets_are_never_deregistered() -> None:
    p = plan(binding(), desired_of(), observed(draining=["10.0.0.9:80"]), ABSENT)
    assert p.deregistered == frozenset()


def test_desired_target_that_is_draining_is_registered_again() -> None:
    p = plan(binding(), desired_of("10.0.0.9:80"), observed(draining=["10.0.0.9:80"]), ABSENT)
    assert p.registered == targets("10.0.0.9:80")


def test_a_plan_names_every_target_at_once_and_leaves_batching_to_the_aws_adapter() -> None:
    ids = [f"10.0.{i // 250}.{i % 250}:80" for i in range(450)]
    p = plan(binding(), desired_of(*ids), observed(), ABSENT)
    assert p.registered == targets(*ids)


def test_nothing_to_do_is_an_empty_plan() -> None:
    b = binding()
    d = desired_of("10.0.0.1:80")
    b = binding(checkpoint=checkpoint_for(b, d))
    p = plan(b, d, observed(["10.0.0.1:80"]), ABSENT)
    assert not p.mutates
    assert p.status is not None
    assert p.status.ready.status == TRUE
    assert p.events == ()


# --- checkpoint ---


def test_checkpoint_is_reset_before_mutating_and_set_after_success() -> None:
    p = plan(binding(checkpoint="old/old"), desired_of("10.0.0.1:80"), observed(), ABSENT)
    assert p.checkpoint_reset
    assert p.checkpoint is not None
    assert p.checkpoint.count("/") == 1


def test_no_checkpoint_reset_when_nothing_is_mutated_in_aws() -> None:
    p = plan(
        binding(checkpoint="old/old"), desired_of("10.0.0.1:80"), observed(["10.0.0.1:80"]), ABSENT
    )
    assert not p.checkpoint_reset
    assert p.checkpoint == checkpoint_for(binding(), desired_of("10.0.0.1:80"))


def test_checkpoint_is_not_written_while_a_readiness_gate_is_pending() -> None:
    pod = gated_pod("p1", "10.0.0.1")
    d = desired_of("10.0.0.1:80", pods={"10.0.0.1:80": pod})
    p = plan(binding(), d, observed(), ABSENT)
    assert p.checkpoint is None
    assert p.requeue_after == 15.0


# --- MultiCluster ---


def test_foreign_targets_are_never_deregistered_in_multicluster_mode() -> None:
    p = plan(
        binding(**MC),
        desired_of("10.0.0.1:80"),
        observed(["10.0.0.1:80", "10.1.0.1:80", "10.1.0.2:80"]),
        ledger("10.0.0.1:80"),
    )
    assert p.deregistered == frozenset()
    assert p.summary.untouched == 2
    assert p.status is not None
    assert p.status.ready.status == TRUE


def test_multicluster_deregisters_undesired_targets_recorded_in_its_ledger() -> None:
    p = plan(
        binding(**MC),
        desired_of("10.0.0.1:80"),
        observed(["10.0.0.1:80", "10.0.0.2:80", "10.1.0.1:80"]),
        ledger("10.0.0.1:80", "10.0.0.2:80"),
    )
    assert p.deregistered == targets("10.0.0.2:80")
    assert p.ledger_write_ahead is None
    assert p.ledger_settle == targets("10.0.0.1:80")


def test_ledger_is_written_ahead_with_every_target_about_to_be_registered() -> None:
    p = plan(
        binding(**MC),
        desired_of("10.0.0.1:80", "10.0.0.3:80"),
        observed(["10.0.0.1:80", "10.0.0.2:80"]),
        ledger("10.0.0.1:80", "10.0.0.2:80"),
    )
    assert p.registered == targets("10.0.0.3:80")
    # The entry being deregistered stays until its deregistration succeeded.
    assert p.ledger_write_ahead == targets("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")
    assert p.ledger_settle == targets("10.0.0.1:80", "10.0.0.3:80")


def test_ledger_drops_entries_no_longer_in_the_group_only_after_the_pass() -> None:
    p = plan(
        binding(**MC),
        desired_of("10.0.0.1:80"),
        observed(["10.0.0.1:80"]),
        ledger("10.0.0.1:80", "10.0.0.7:80"),
    )
    assert p.deregistered == frozenset()
    assert p.ledger_write_ahead is None
    assert p.ledger_settle == targets("10.0.0.1:80")


def test_first_population_deregisters_nothing_and_creates_the_ledger_from_desired() -> None:
    p = plan(
        binding(**MC),
        desired_of("10.0.0.1:80", "10.0.0.2:80"),
        observed(["10.0.0.1:80", "10.1.0.1:80"]),
        ABSENT,
    )
    assert p.deregistered == frozenset()
    assert p.ledger_write_ahead == targets("10.0.0.1:80", "10.0.0.2:80")
    assert p.registered == targets("10.0.0.2:80")
    assert p.ledger_name == "aws-lbc-targets-web"
    (event,) = [e for e in p.events if e.reason == "LedgerCreated"]
    assert "1 other target(s)" in event.message


def test_first_population_with_nothing_to_register_still_creates_the_ledger() -> None:
    p = plan(binding(**MC), desired_of("10.0.0.1:80"), observed(["10.0.0.1:80"]), ABSENT)
    assert p.ledger_write_ahead == targets("10.0.0.1:80")


def test_existing_empty_ledger_is_not_first_population() -> None:
    p = plan(
        binding(**MC), desired_of(), observed(["10.1.0.1:80"]), LedgerPresent(frozenset(), "3")
    )
    assert p.deregistered == frozenset()
    assert p.ledger_write_ahead is None
    assert not [e for e in p.events if e.reason == "LedgerCreated"]


def test_corrupt_ledger_freezes_registration_and_deregistration() -> None:
    p = plan(
        binding(**MC),
        desired_of("10.0.0.1:80", "10.0.0.5:80"),
        observed(["10.0.0.1:80", "10.0.0.2:80"]),
        LedgerUnreadable("ledger entry #2 'x' is malformed", "4"),
    )
    assert p.deregistered == frozenset()
    assert p.registered == frozenset()
    assert p.ledger_write_ahead is None
    assert p.ledger_settle is None
    assert not p.delete_ledger
    assert p.failure is not None
    assert p.failure.reason == "LedgerCorrupt"
    assert not p.failure.transient
    assert p.status is not None
    assert p.status.ready.status == FALSE
    assert p.status.ready.reason == "LedgerCorrupt"
    assert "'x'" in p.status.ready.message
    assert any(e.type == "Warning" and e.reason == "LedgerCorrupt" for e in p.events)
    assert p.checkpoint is None


def test_corrupt_ledger_still_lets_registered_targets_gates_progress() -> None:
    pod = gated_pod("p1", "10.0.0.1")
    d = desired_of("10.0.0.1:80", pods={"10.0.0.1:80": pod})
    p = plan(binding(**MC), d, observed(["10.0.0.1:80"]), LedgerUnreadable("bad", "4"))
    assert [c.condition.status for c in p.pod_conditions] == [TRUE]


def test_turning_multicluster_on_adopts_desired_targets_and_leaves_the_rest() -> None:
    # The binding ran in normal mode: the group holds its targets plus one stale target.
    p = plan(
        binding(**MC), desired_of("10.0.0.1:80"), observed(["10.0.0.1:80", "10.0.0.9:80"]), ABSENT
    )
    assert p.ledger_write_ahead == targets("10.0.0.1:80")
    assert p.deregistered == frozenset()
    assert p.summary.untouched == 1


def test_turning_multicluster_off_with_a_ledger_is_refused_and_stays_guarded() -> None:
    p = plan(
        binding(),
        desired_of("10.0.0.1:80", "10.0.0.3:80"),
        observed(["10.0.0.1:80", "10.0.0.2:80", "10.1.0.1:80"]),
        ledger("10.0.0.1:80", "10.0.0.2:80"),
    )
    assert p.deregistered == targets("10.0.0.2:80")
    assert p.registered == targets("10.0.0.3:80")
    assert p.ledger_write_ahead == targets("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")
    assert p.failure is not None
    assert p.failure.reason == "MultiClusterDisableRefused"
    assert p.status is not None
    assert p.status.ready.reason == "MultiClusterDisableRefused"
    assert "aws-lbc-targets-web" in p.status.ready.message
    assert p.checkpoint is None


def test_turning_multicluster_off_after_the_ledger_was_deleted_takes_the_whole_group() -> None:
    p = plan(binding(), desired_of("10.0.0.1:80"), observed(["10.0.0.1:80", "10.1.0.1:80"]), ABSENT)
    assert p.deregistered == targets("10.1.0.1:80")
    assert p.failure is None


def test_multicluster_binding_with_too_long_a_name_changes_nothing() -> None:
    p = plan(binding("n" * 238, **MC), desired_of("10.0.0.1:80"), observed(["10.0.0.2:80"]), ABSENT)
    assert p.registered == frozenset()
    assert p.deregistered == frozenset()
    assert p.ledger_write_ahead is None
    assert p.failure is not None
    assert p.failure.reason == "LedgerNameTooLong"


# --- deletion ---


def test_deletion_in_normal_mode_deregisters_every_target_of_the_group() -> None:
    p = plan(
        binding(deleting=True),
        desired_of("10.0.0.1:80"),
        observed(["10.0.0.1:80", "10.1.0.1:80"], ["10.0.0.5:80"]),
        ABSENT,
    )
    assert p.lifecycle is Lifecycle.DELETING
    assert p.deregistered == targets("10.0.0.1:80", "10.1.0.1:80")
    assert p.registered == frozenset()
    assert p.remove_finalizer
    assert not p.delete_ledger
    assert p.status is None


def test_foreign_targets_survive_binding_deletion() -> None:
    p = plan(
        binding(deleting=True, **MC),
        desired_of("10.0.0.1:80"),
        observed(["10.0.0.1:80", "10.0.0.2:80", "10.1.0.1:80"]),
        ledger("10.0.0.1:80", "10.0.0.2:80", "10.0.0.8:80"),
    )
    assert p.deregistered == targets("10.0.0.1:80", "10.0.0.2:80")
    assert p.delete_ledger
    assert p.ledger_settle is None
    assert p.remove_finalizer


def test_deletion_without_a_ledger_deregisters_only_current_endpoints() -> None:
    p = plan(
        binding(deleting=True, **MC),
        desired_of("10.0.0.1:80"),
        observed(["10.0.0.1:80", "10.1.0.1:80"]),
        ABSENT,
    )
    assert p.deregistered == targets("10.0.0.1:80")
    assert not p.delete_ledger
    assert p.remove_finalizer


def test_corrupt_ledger_blocks_deletion_without_deregistering() -> None:
    p = plan(
        binding(deleting=True, **MC),
        desired_of("10.0.0.1:80"),
        observed(["10.0.0.1:80"]),
        LedgerUnreadable("bad", "4"),
    )
    assert p.deregistered == frozenset()
    assert not p.remove_finalizer
    assert not p.delete_ledger
    assert p.failure is not None
    assert p.failure.reason == "LedgerCorrupt"


def test_missing_target_group_does_not_block_deletion() -> None:
    p = plan(binding(deleting=True, **MC), desired_of("10.0.0.1:80"), None, ledger("10.0.0.1:80"))
    assert p.deregistered == frozenset()
    assert p.delete_ledger
    assert p.remove_finalizer
    assert p.failure is None


def test_deletion_releases_readiness_gates_of_pods_not_yet_true() -> None:
    waiting = gated_pod("p1", "10.0.0.1")
    done = gated_pod("p2", "10.0.0.2", conditions=[PodCondition(gate_type("web"), TRUE)])
    other = gated_pod("p3", "10.0.0.3", binding_name="api")
    p = plan(
        binding(deleting=True), desired_of(), observed(), ABSENT, gated_pods=[waiting, done, other]
    )
    (change,) = p.pod_conditions
    assert (change.name, change.uid) == ("p1", "uid-p1")
    assert change.condition == PodCondition(gate_type("web"), TRUE, "", BINDING_DELETED_MESSAGE)


def test_deleting_binding_without_our_finalizer_keeps_finalizers_alone() -> None:
    p = plan(binding(deleting=True, finalizers=()), desired_of(), observed(), ABSENT)
    assert not p.remove_finalizer


def test_deletion_does_not_report_the_missing_backend_again() -> None:
    gone = DesiredSet(
        Resolution.BACKEND_NOT_FOUND, diagnostics=(Diagnostic("BackendNotFound", "x", True),)
    )
    p = plan(binding(deleting=True), gone, observed(["10.0.0.1:80"]), ABSENT)
    assert p.deregistered == targets("10.0.0.1:80")
    assert not [e for e in p.events if e.reason == "BackendNotFound"]


# --- backend not found ---

GONE = DesiredSet(
    Resolution.BACKEND_NOT_FOUND,
    diagnostics=(Diagnostic("BackendNotFound", "service shop/web not found", True),),
)


def test_backend_not_found_cleans_up_like_deletion_but_keeps_the_binding() -> None:
    p = plan(binding(checkpoint="a/b"), GONE, observed(["10.0.0.1:80", "10.1.0.1:80"]), ABSENT)
    assert p.lifecycle is Lifecycle.BACKEND_GONE
    assert p.deregistered == targets("10.0.0.1:80", "10.1.0.1:80")
    assert not p.remove_finalizer
    assert p.checkpoint_reset
    assert p.checkpoint is None
    assert p.status is not None
    assert p.status.ready.reason == "BackendNotFound"
    assert any(e.type == "Warning" and e.reason == "BackendNotFound" for e in p.events)


def test_backend_not_found_in_multicluster_empties_but_keeps_the_ledger() -> None:
    p = plan(binding(**MC), GONE, observed(["10.0.0.1:80", "10.1.0.1:80"]), ledger("10.0.0.1:80"))
    assert p.deregistered == targets("10.0.0.1:80")
    assert p.ledger_settle == frozenset()
    assert not p.delete_ledger


def test_backend_not_found_releases_readiness_gates() -> None:
    p = plan(binding(), GONE, observed(), ABSENT, gated_pods=[gated_pod("p1", "10.0.0.1")])
    assert [c.condition.status for c in p.pod_conditions] == [TRUE]


# --- other failures ---


def test_unresolvable_desired_set_changes_nothing() -> None:
    bad = DesiredSet(
        Resolution.INVALID, diagnostics=(Diagnostic("UnsupportedServiceType", "no", True),)
    )
    p = plan(binding(target_type="instance"), bad, observed(["i-01:31000"]), ABSENT)
    assert not p.mutates
    assert p.failure is not None
    assert p.failure.reason == "UnsupportedServiceType"
    assert p.status is not None
    assert p.status.ready.status == FALSE


def test_missing_target_group_while_live_changes_nothing_and_retries() -> None:
    p = plan(binding(**MC), desired_of("10.0.0.1:80"), None, ledger())
    assert not p.mutates
    assert p.failure is not None
    assert p.failure.transient
    assert p.failure.reason == "TargetGroupNotFound"


# --- readiness gates ---


def _gate_plan(health: TargetHealth | None, conditions=()) -> tuple:
    pod = gated_pod("p1", "10.0.0.1", conditions=conditions)
    d = desired_of("10.0.0.1:80", pods={"10.0.0.1:80": pod})
    obs = {} if health is None else {Target("10.0.0.1", 80): health}
    p = plan(binding(), d, obs, ABSENT)
    return p, [c.condition for c in p.pod_conditions]


def test_gate_of_newly_registered_target_reports_registration_in_progress() -> None:
    p, conds = _gate_plan(None)
    assert conds == [
        PodCondition(
            gate_type("web"),
            FALSE,
            "Elb.RegistrationInProgress",
            "Target registration is in progress",
        )
    ]
    assert p.requeue_after == 15.0


def test_gate_turns_true_when_target_is_healthy() -> None:
    p, conds = _gate_plan(TargetHealth(HealthState.HEALTHY))
    assert conds == [PodCondition(gate_type("web"), TRUE, "", "")]
    assert p.requeue_after is None


def test_gate_reports_elb_reason_and_description_when_unhealthy() -> None:
    h = TargetHealth(HealthState.UNHEALTHY, "Target.FailedHealthChecks", "Health checks failed")
    p, conds = _gate_plan(h)
    assert conds == [
        PodCondition(gate_type("web"), FALSE, "Target.FailedHealthChecks", "Health checks failed")
    ]
    assert p.requeue_after == 15.0


def test_unchanged_gate_condition_is_not_patched_again() -> None:
    h = TargetHealth(HealthState.UNHEALTHY, "Target.FailedHealthChecks", "Health checks failed")
    current = PodCondition(
        gate_type("web"), FALSE, "Target.FailedHealthChecks", "Health checks failed"
    )
    p, conds = _gate_plan(h, conditions=[current])
    assert conds == []
    assert p.requeue_after == 15.0


def test_pods_without_the_gate_are_never_patched() -> None:
    from .factories import pod as plain_pod

    p1 = plain_pod("p1", "10.0.0.1")
    d = desired_of("10.0.0.1:80", pods={"10.0.0.1:80": p1})
    p = plan(binding(), d, observed(), ABSENT)
    assert p.pod_conditions == ()
    assert p.requeue_after is None


# --- status ---


def test_status_counts_desired_registered_and_healthy() -> None:
    obs = observed(["10.0.0.1:80"])
    obs[Target("10.0.0.2", 80)] = TargetHealth(HealthState.INITIAL)
    p = plan(binding(), desired_of("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"), obs, ABSENT)
    assert p.status is not None
    assert (p.status.desired, p.status.registered, p.status.healthy) == (3, 3, 1)
    assert p.status.ready.reason == "TargetsSynced"
    assert {e.reason for e in p.events} == {"TargetsRegistered"}


@pytest.mark.parametrize("mc", [False, True])
def test_registered_and_deregistered_sets_never_overlap(mc: bool) -> None:
    p = plan(
        binding(multi_cluster=mc),
        desired_of("10.0.0.1:80", "10.0.0.2:80"),
        observed(["10.0.0.2:80", "10.0.0.3:80"], ["10.0.0.1:80"]),
        ledger("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"),
    )
    assert not (p.registered & p.deregistered)


@pytest.mark.parametrize("mc", [False, True])
def test_target_of_a_pod_missing_from_the_cache_is_never_deregistered(mc: bool) -> None:
    d = replace(desired_of("10.0.0.1:80"), uncertain=targets("10.0.0.2:80"))
    p = plan(
        binding(multi_cluster=mc),
        d,
        observed(["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]),
        ledger("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80") if mc else ABSENT,
    )
    assert p.deregistered == targets("10.0.0.3:80")
    if mc:
        assert p.ledger_settle == targets("10.0.0.1:80", "10.0.0.2:80")


# --- ledgers LBC wrote ---


def test_lbc_port_zero_ledger_entry_is_never_deregistered_and_leaves_the_ledger() -> None:
    # LBC wrote i-0abc:0 while the Service had no nodePort; the Service has one now.
    p = plan(
        binding(target_type="instance", **MC),
        desired_of("i-0abc:31234"),
        observed(["i-0abc:31234"]),
        ledger("i-0abc:0", "i-0abc:31234"),
    )
    assert p.failure is None
    assert p.deregistered == frozenset()
    assert p.ledger_settle == targets("i-0abc:31234")


def test_lbc_quic_ledger_entries_guard_deregistration_by_full_identity() -> None:
    # A QUIC group: the ledger holds ip:port:serverId, as LBC writes it. The pod behind the
    # first entry is gone; its target is deregistered. The foreign target shares ip:port with
    # nothing of ours and is left alone.
    ours_gone = "10.0.0.1:443:0x00000000000000aa"
    ours_kept = "10.0.0.2:443:0x00000000000000bb"
    foreign = "10.9.0.1:443:0x00000000000000cc"
    p = plan(
        binding(targetGroupProtocol="QUIC", **MC),
        desired_of(ours_kept),
        observed([ours_gone, ours_kept, foreign]),
        ledger(ours_gone, ours_kept),
    )
    assert p.failure is None
    assert p.deregistered == targets(ours_gone)
    assert p.ledger_settle == targets(ours_kept)


def test_spec_notes_become_warning_events() -> None:
    peer = {"ipBlock": {"cidr": "10.0.0.0/8"}, "securityGroup": {"groupID": "sg-1"}}
    b = binding(networking={"ingress": [{"from": [peer], "ports": []}]})
    p = plan(b, desired_of("10.0.0.1:80"), observed(["10.0.0.1:80"]), ABSENT)
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "NetworkingPeerAmbiguous")]
    assert p.failure is None


# --- LBC's --max-targets-per-target-group ---


def test_registrations_are_trimmed_to_the_target_limit_counting_every_listed_target() -> None:
    # LBC: new + listed (draining and foreign included) > max => register max - listed, the
    # first by identity.
    p = plan(
        binding(),
        desired_of("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"),
        observed(["10.0.0.1:80"], draining=["10.0.0.9:80"]),
        ABSENT,
        max_targets=4,
    )
    assert p.registered == targets("10.0.0.2:80", "10.0.0.3:80")
    assert p.failure is not None
    assert p.failure.reason == "MaxTargetsReached"
    assert p.checkpoint is None
    assert p.status is not None
    assert p.status.registered == 3


def test_a_group_already_over_the_limit_gets_no_registration_and_no_crash() -> None:
    # LBC computes a negative count here and panics; lbc registers nothing and says why.
    p = plan(
        binding(),
        desired_of("10.0.0.1:80", "10.0.0.2:80"),
        observed(["10.0.0.1:80", "10.0.0.8:80", "10.0.0.9:80"]),
        ABSENT,
        max_targets=2,
    )
    assert p.registered == frozenset()
    assert p.deregistered == targets("10.0.0.8:80", "10.0.0.9:80")
    assert p.failure is not None
    assert p.failure.reason == "MaxTargetsReached"


def test_no_limit_by_default_and_within_the_limit() -> None:
    d = desired_of("10.0.0.1:80", "10.0.0.2:80")
    assert plan(binding(), d, observed(), ABSENT).registered == d.keys
    within = plan(binding(), d, observed(), ABSENT, max_targets=2)
    assert within.registered == d.keys
    assert within.failure is None
