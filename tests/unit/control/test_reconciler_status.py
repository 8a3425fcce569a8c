"""What the binding's status says after the operator acts on it (runbook fixes, spec edits).

The binding controller runs on memory I/O in virtual time (``tests.unit.control.memcluster``).
"""

from __future__ import annotations

from lbc.core.errors import TargetGroupNotFoundError
from lbc.kube.client import CONFIG_MAPS, TARGET_GROUP_BINDINGS

from tests.unit.control.memcluster import (
    ARN,
    NS,
    MemoryGroup,
    MemoryKube,
    binding_object,
    controller,
    workload,
)


def _converged(kube: MemoryKube) -> None:
    workload(kube)
    kube.put(TARGET_GROUP_BINDINGS, binding_object())


async def test_turning_multicluster_back_on_clears_the_refusal_at_once() -> None:
    async with controller(prepare=_converged) as c:
        await c.run_for(60.0)  # registered, healthy, checkpointed: settled
        assert (c.ready() or {}).get("reason") == "TargetsSynced"
        assert c.reconciler.own_checkpoint(f"{NS}/web")
        assert c.kube.object(CONFIG_MAPS, "aws-lbc-targets-web", NS)

        c.edit_spec(multiClusterTargetGroup=False)
        await c.run_for(2.0)
        refused = c.ready()
        assert refused is not None
        assert (refused["status"], refused["reason"]) == ("False", "MultiClusterDisableRefused")

        c.edit_spec(multiClusterTargetGroup=True)  # the runbook's other way out
        await c.run_for(2.0)  # far less than a drift period
        ready = c.ready()
        status = c.binding()["status"]
        generation = c.binding()["metadata"]["generation"]
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("True", "TargetsSynced")
    assert status["observedGeneration"] == generation
    assert ready["observedGeneration"] == generation


async def test_a_ledger_edited_by_hand_alone_is_noticed_at_once() -> None:
    async with controller(prepare=_converged) as c:
        await c.run_for(60.0)  # registered, healthy, checkpointed: settled
        assert (c.ready() or {}).get("reason") == "TargetsSynced"
        assert c.reconciler.own_checkpoint(f"{NS}/web")
        ledger = c.kube.object(CONFIG_MAPS, "aws-lbc-targets-web", NS)
        ledger["data"]["targets"] += ",not a target"
        c.apply(CONFIG_MAPS, ledger)  # nothing else changes: no endpoint, no spec
        await c.run_for(2.0)
        corrupt = c.ready()
        assert corrupt is not None
        assert (corrupt["status"], corrupt["reason"]) == ("False", "LedgerCorrupt")
        assert ("Warning", "LedgerCorrupt") in {(t, r) for t, r, _m in c.events.seen}

        repaired = c.kube.object(CONFIG_MAPS, "aws-lbc-targets-web", NS)
        repaired["data"]["targets"] = repaired["data"]["targets"].removesuffix(",not a target")
        c.apply(CONFIG_MAPS, repaired)
        await c.run_for(2.0)
        ready = c.ready()
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("True", "TargetsSynced")


async def test_a_restart_does_not_take_existing_ledgers_for_edits() -> None:
    async with controller(prepare=_converged) as c:
        await c.run_for(60.0)
        assert c.reconciler.own_checkpoint(f"{NS}/web")
        stored = {plural: list(kind.objects.items()) for plural, kind in c.kube.kinds.items()}

    def restore(kube: MemoryKube) -> None:  # what the new process's informers list
        for plural, objects in stored.items():
            for key, obj in objects:
                kube.kinds[plural].deliver(key, obj)

    async with controller(prepare=restore) as again:
        await again.run_for(5.0)
        assert again.passes.get(f"{NS}/web", 0) >= 1
        assert again.group.calls == [], "a restart with unchanged inputs called AWS"


MALFORMED = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web"


async def test_a_malformed_arn_is_reported_as_such_without_any_aws_call() -> None:
    def prepare(kube: MemoryKube) -> None:
        workload(kube)
        kube.put(TARGET_GROUP_BINDINGS, binding_object(targetGroupARN=MALFORMED))

    async with controller(prepare=prepare) as c:
        await c.run_for(5.0)
        ready = c.ready()
        assert ready is not None
        assert (ready["status"], ready["reason"]) == ("False", "InvalidTargetGroupArn")
        assert MALFORMED in ready["message"]
        assert ("Warning", "InvalidTargetGroupArn") in {(t, r) for t, r, _m in c.events.seen}
        assert c.group.calls == []

        obj = c.binding()
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        c.apply(TARGET_GROUP_BINDINGS, obj)  # deleting it is never blocked
        await c.run_for(5.0)
        assert f"{NS}/web" not in c.kube.kind(TARGET_GROUP_BINDINGS).objects
        assert c.group.calls == []


async def test_an_arn_elbv2_rejects_shows_elbv2s_reason_and_message() -> None:
    group = MemoryGroup()
    group.fail["describe"] = TargetGroupNotFoundError(
        "DescribeTargetHealth: ValidationError: 'arn:aws:...' is not a valid target group ARN",
        reason="InvalidTargetGroupArn",
    )
    async with controller(group=group, prepare=_converged) as c:
        await c.run_for(5.0)
        ready = c.ready()
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "InvalidTargetGroupArn")
    assert "is not a valid target group ARN" in ready["message"]


async def test_a_deleted_binding_takes_its_groups_cached_health_with_it() -> None:
    async with controller(prepare=_converged) as c:
        await c.run_for(60.0)
        assert c.group.forgotten == []
        obj = c.binding()
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        c.apply(TARGET_GROUP_BINDINGS, obj)
        await c.run_for(5.0)
        assert f"{NS}/web" not in c.kube.kind(TARGET_GROUP_BINDINGS).objects
    assert c.group.forgotten == [ARN]
