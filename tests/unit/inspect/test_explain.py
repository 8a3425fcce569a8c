"""``lbc inspect binding``: the plan shown is core.plan()'s, and the reasons say which rule."""

from __future__ import annotations

from dataclasses import replace

from lbc.core.desired import DesiredSet
from lbc.core.ledger import ABSENT, LedgerPresent, LedgerState, LedgerUnreadable
from lbc.core.plan import checkpoint_for, plan
from lbc.core.targets import Target, TargetHealth
from lbc.inspect.explain import BindingInputs, BindingReport, explain
from lbc.inspect.ownership import Mode

from tests.unit.core.factories import ARN, binding, desired_of, targets
from tests.unit.inspect.test_ownership import A1, A2, B1, group


def inputs(
    *,
    multi_cluster: bool = True,
    desired: DesiredSet | None = None,
    ledger: LedgerState = ABSENT,
    observed: dict[Target, TargetHealth] | None = None,
    checkpoint: str | None = None,
    deleting: bool = False,
) -> BindingInputs:
    b = binding("web", multi_cluster=multi_cluster, checkpoint=checkpoint, deleting=deleting)
    return BindingInputs(
        cluster="a",
        binding=b,
        desired=desired if desired is not None else desired_of(A1),
        ledger=ledger,
        ledger_name="aws-lbc-targets-web",
        arn=ARN,
        group=None,
        observed=observed,
        gated_pods=(),
    )


def test_the_plan_shown_is_exactly_core_plan_for_the_same_inputs() -> None:
    given = inputs(ledger=LedgerPresent(targets(A1, A2)), observed=group(A1, A2, B1))
    report = explain(given)
    assert report.plan == plan(given.binding, given.desired, given.observed, given.ledger)
    assert report.plan.deregistered == targets(A2)
    assert not report.converged
    assert any("1 other target(s) in the group are left alone" in r for r in report.reasons)


def explained_with_checkpoint_for(target: Target) -> BindingReport:
    """The report on a converged binding (A1 desired, ledgered, registered) whose checkpoint
    was written for ``target`` alone."""
    written = checkpoint_for(binding("web", multi_cluster=True), desired_of(target))
    return explain(
        inputs(checkpoint=written, ledger=LedgerPresent(targets(A1)), observed=group(A1))
    )


def test_a_matching_checkpoint_says_a_regular_pass_skips_aws() -> None:
    report = explained_with_checkpoint_for(A1)
    assert report.checkpoint.skips
    assert report.converged
    assert any("regular pass skips AWS" in r for r in report.reasons)


def test_a_stale_checkpoint_says_which_half_changed() -> None:
    report = explained_with_checkpoint_for(A2)
    assert not report.checkpoint.skips
    assert any("the endpoints changed" in r for r in report.reasons)


def test_a_first_multicluster_pass_explains_that_nothing_is_deregistered() -> None:
    report = explain(inputs(observed=group(A1, B1)))
    assert report.plan.deregistered == frozenset()
    assert report.plan.ledger_write_ahead == targets(A1)
    assert any("without a ledger yet" in r for r in report.reasons)


def test_normal_mode_explains_that_the_binding_owns_the_whole_group() -> None:
    report = explain(inputs(multi_cluster=False, observed=group(A1, B1)))
    assert report.mode is Mode.NORMAL
    assert report.plan.deregistered == targets(B1)
    assert any("owns the whole target group" in r for r in report.reasons)


def test_a_corrupt_ledger_is_named_and_nothing_is_planned() -> None:
    broken = LedgerUnreadable("ledger entry #2 'nope' is malformed")
    report = explain(inputs(ledger=broken, observed=group(A1, B1), desired=desired_of(A1, A2)))
    assert report.plan.registered == frozenset()
    assert report.plan.deregistered == frozenset()
    assert report.plan.failure is not None
    assert report.plan.failure.reason == "LedgerCorrupt"
    assert any("aws-lbc-targets-web is unreadable" in r for r in report.reasons)
    assert not report.converged


def test_a_refused_disable_is_explained() -> None:
    report = explain(
        inputs(multi_cluster=False, ledger=LedgerPresent(targets(A1)), observed=group(A1, B1))
    )
    assert report.mode is Mode.LEDGER_GUARDED
    assert report.plan.deregistered == frozenset()
    assert any("delete the ConfigMap" in r for r in report.reasons)


def test_a_deleting_binding_explains_its_cleanup() -> None:
    report = explain(
        inputs(deleting=True, ledger=LedgerPresent(targets(A1)), observed=group(A1, B1))
    )
    assert report.plan.deregistered == targets(A1)
    assert report.plan.delete_ledger
    assert any("being deleted" in r for r in report.reasons)


def test_a_missing_target_group_is_explained() -> None:
    report = explain(inputs(observed=None))
    assert any("not found" in r for r in report.reasons)
    assert report.plan.failure is not None


def test_a_cross_account_binding_says_whose_credentials_read_the_group() -> None:
    role = "arn:aws:iam::444455556666:role/lbc-targets"
    cross = replace(
        inputs(observed=None),
        binding=binding("web", multi_cluster=True, iamRoleArnToAssume=role),
    )
    assert any(role in r and "own credentials" in r for r in explain(cross).reasons)
