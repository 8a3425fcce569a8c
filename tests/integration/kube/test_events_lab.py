"""The event recorder against the lab API server: one Event per distinct message, counted."""

from __future__ import annotations

from lbc.kube.client import EVENTS, KubeClient
from lbc.kube.events import EventRecorder, ObjectRef


async def test_repeated_warnings_become_one_event_with_a_count(kube: KubeClient) -> None:
    recorder = EventRecorder(kube, component="lbc", host="pod-a")
    ref = ObjectRef("elbv2.k8s.aws/v1beta1", "TargetGroupBinding", "default", "web", "uid-1")
    for _ in range(3):
        await recorder.warning(ref, "BackendNotFound", "service default/web not found")
    await recorder.normal(ref, "SuccessfullyReconciled", "reconciled")
    events = (await kube.list(EVENTS, "default"))["items"]
    by_reason = {e["reason"]: e for e in events}
    assert sorted(by_reason) == ["BackendNotFound", "SuccessfullyReconciled"]
    warning = by_reason["BackendNotFound"]
    assert warning["count"] == 3
    assert warning["type"] == "Warning"
    assert warning["involvedObject"]["name"] == "web"
    assert warning["source"]["component"] == "lbc"
    assert warning["lastTimestamp"] >= warning["firstTimestamp"]


async def test_an_event_on_a_missing_namespace_fails_quietly(kube: KubeClient) -> None:
    recorder = EventRecorder(kube)
    ref = ObjectRef("v1", "Service", "no-such-namespace", "web")
    await recorder.warning(ref, "BackendNotFound", "gone")
    assert (await kube.list(EVENTS))["items"] == []
