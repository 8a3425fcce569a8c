"""The event recorder: duplicates bump a count, a hot loop is rate-limited, failures stay quiet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from lbc.core.errors import NotFoundError, TransientError
from lbc.kube.client import KubeClient, PatchType, Resource
from lbc.kube.events import EventRecorder, ObjectRef


class FakeEvents:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.patches: list[tuple[str, dict[str, Any], PatchType]] = []
        self.fail_with: Exception | None = None
        self.expired = False

    async def create(self, resource: Resource, obj: dict[str, Any], namespace: str, **_kw: Any):
        if self.fail_with:
            raise self.fail_with
        self.created.append(obj)
        return obj

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: dict[str, Any],
        namespace: str,
        *,
        patch_type: PatchType,
        **_kw: Any,
    ):
        if self.fail_with:
            raise self.fail_with
        if self.expired:
            raise NotFoundError(name)
        self.patches.append((name, patch, patch_type))
        return {}


class Clocks:
    def __init__(self) -> None:
        self.mono = 0.0
        self.wall = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)

    def now(self) -> float:  # the recorder's Clock (it never sleeps)
        return self.mono

    async def sleep_until(self, deadline: float) -> None:
        raise AssertionError("the event recorder never sleeps")


TGB = ObjectRef("elbv2.k8s.aws/v1beta1", "TargetGroupBinding", "shop", "web", "uid-1")


def recorder(fake: FakeEvents, clocks: Clocks, **kw: Any) -> EventRecorder:
    return EventRecorder(
        cast(KubeClient, fake),
        component="lbc-east",
        host="pod-a",
        clock=clocks,
        wall=lambda: clocks.wall,
        **kw,
    )


async def test_first_event_is_created_on_the_involved_object():
    fake, clocks = FakeEvents(), Clocks()
    await recorder(fake, clocks).warning(TGB, "FailedReconcile", "target group not found")
    [event] = fake.created
    assert event["metadata"]["namespace"] == "shop"
    assert event["metadata"]["name"].startswith("web.")
    assert event["involvedObject"] == {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "name": "web",
        "namespace": "shop",
        "uid": "uid-1",
    }
    assert (event["type"], event["reason"], event["count"]) == ("Warning", "FailedReconcile", 1)
    assert event["source"] == {"component": "lbc-east", "host": "pod-a"}
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2026-11-24T12:00:00.000000Z"


async def test_a_repeated_event_bumps_count_and_last_timestamp_instead_of_duplicating():
    fake, clocks = FakeEvents(), Clocks()
    rec = recorder(fake, clocks)
    await rec.warning(TGB, "FailedReconcile", "boom")
    clocks.advance(30)
    await rec.warning(TGB, "FailedReconcile", "boom")
    await rec.warning(TGB, "FailedReconcile", "boom")
    assert len(fake.created) == 1
    name = fake.created[0]["metadata"]["name"]
    assert [(n, p["count"]) for n, p, _t in fake.patches] == [(name, 2), (name, 3)]
    assert fake.patches[0][1]["lastTimestamp"] == "2026-11-24T12:00:30.000000Z"
    assert all(t is PatchType.MERGE for _n, _p, t in fake.patches)


async def test_a_different_message_is_a_new_event():
    fake, clocks = FakeEvents(), Clocks()
    rec = recorder(fake, clocks)
    await rec.warning(TGB, "FailedReconcile", "boom")
    await rec.warning(TGB, "FailedReconcile", "bang")
    await rec.normal(TGB, "FailedReconcile", "boom")
    assert len(fake.created) == 3
    assert fake.patches == []


async def test_an_expired_event_is_recreated():
    fake, clocks = FakeEvents(), Clocks()
    rec = recorder(fake, clocks)
    await rec.warning(TGB, "FailedReconcile", "boom")
    fake.expired = True
    await rec.warning(TGB, "FailedReconcile", "boom")
    assert len(fake.created) == 2


async def test_a_hot_loop_is_cut_after_the_burst_and_refills_slowly():
    fake, clocks = FakeEvents(), Clocks()
    rec = recorder(fake, clocks, burst=25, refill_seconds=300)
    for i in range(40):
        await rec.warning(TGB, "FailedReconcile", f"attempt {i}")
    assert len(fake.created) == 25
    other = ObjectRef("v1", "Service", "shop", "web", "uid-2")
    await rec.normal(other, "Synced", "ok")
    assert len(fake.created) == 26
    clocks.advance(299)
    await rec.warning(TGB, "FailedReconcile", "still failing")
    assert len(fake.created) == 26
    clocks.advance(1)
    await rec.warning(TGB, "FailedReconcile", "still failing")
    assert len(fake.created) == 27


async def test_a_repeating_warning_never_uses_up_the_budget_of_new_events():
    fake, clocks = FakeEvents(), Clocks()
    rec = recorder(fake, clocks, burst=25, refill_seconds=300)
    for _ in range(240):  # an hour of a Warning repeated every 15 s
        await rec.warning(TGB, "LedgerCorrupt", "ledger aws-lbc-targets-web is unreadable")
        clocks.advance(15)
    assert len(fake.created) == 1
    assert fake.patches[-1][1]["count"] == 240
    await rec.normal(TGB, "LedgerCreated", "ledger aws-lbc-targets-web created")
    await rec.normal(TGB, "TargetsRegistered", "registered 3 target(s)")
    assert [e["reason"] for e in fake.created] == [
        "LedgerCorrupt",
        "LedgerCreated",
        "TargetsRegistered",
    ]


async def test_a_failed_write_never_reaches_the_caller():
    fake, clocks = FakeEvents(), Clocks()
    fake.fail_with = TransientError("apiserver down")
    await recorder(fake, clocks).warning(TGB, "FailedReconcile", "boom")
    assert fake.created == []


async def test_long_messages_are_cut():
    fake, clocks = FakeEvents(), Clocks()
    await recorder(fake, clocks).warning(TGB, "FailedReconcile", "x" * 5000)
    assert len(fake.created[0]["message"]) == 1024


def test_object_ref_from_a_raw_object():
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "n", "uid": "u"},
    }
    assert ObjectRef.of(obj) == ObjectRef("v1", "Service", "n", "s", "u")
