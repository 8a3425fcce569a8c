"""The reconciler's executor against the lab API server, with a recording target group.

These pin what the pure plan cannot: that the shell carries the plan out in its order. The fake
target group checks, at the moment ``RegisterTargets`` is called, that every target it is asked
to register is already in the ledger stored in the API server (the crash-safety invariant).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from lbc.clock import VirtualClock
from lbc.control.bindings import BindingReconciler
from lbc.control.entry import BindingEntry, binding_entry
from lbc.control.triggers import BINDING_INDEXERS
from lbc.core.errors import NotFoundError, TargetGroupNotFoundError, TerminalError, TransientError
from lbc.core.objects import EndpointSliceView, NodeView, PodView, ServiceView
from lbc.core.targets import HealthState, Target, TargetHealth
from lbc.kube.client import (
    CONFIG_MAPS,
    ENDPOINT_SLICES,
    PODS,
    SERVICES,
    TARGET_GROUP_BINDINGS,
    KubeClient,
    PatchType,
)
from lbc.kube.events import EventType, ObjectRef
from lbc.kube.informer import Store
from lbc.kube.ledger import Ledgers
from lbc.kube.views import endpoint_slice_view, pod_view, service_view

from lbc_lab.apiserver.server import LabApiServer
from lbc_lab.workloads import LabCluster

NS = "shop"
ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
CRD = Path(__file__).resolve().parents[3] / "manifests" / "crds" / "targetgroupbindings.yaml"
FOREIGN = Target("10.9.9.9", 8080)


class RecordingGroup:
    """An in-memory target group that records calls and checks the ledger before registering."""

    def __init__(self, kube: KubeClient, fail_register: bool = False) -> None:
        self.kube = kube
        self.targets: dict[Target, TargetHealth] = {FOREIGN: TargetHealth(HealthState.HEALTHY)}
        self.calls: list[str] = []
        self.forgotten: list[str] = []
        self.fail_register = fail_register

    async def describe(self, arn: str, *, fresh: bool = False) -> Mapping[Target, TargetHealth]:
        self.calls.append("describe fresh" if fresh else "describe")
        return dict(self.targets)

    async def register(self, arn: str, targets: Sequence[Target], **_hints: Any) -> None:
        ledger = await self.kube.get(CONFIG_MAPS, "aws-lbc-targets-web", NS)
        recorded = set(ledger["data"]["targets"].split(","))
        missing = {t.identity for t in targets} - recorded
        assert not missing, f"registering {missing} before the ledger holds them"
        self.calls.append("register")
        if self.fail_register:
            raise TransientError("Rate exceeded", reason="Throttled")
        for t in targets:
            self.targets[t] = TargetHealth(HealthState.INITIAL, "Elb.RegistrationInProgress")

    async def deregister(self, arn: str, targets: Sequence[Target]) -> None:
        self.calls.append("deregister")
        for t in targets:
            self.targets[t] = TargetHealth(HealthState.DRAINING)

    def forget(self, arn: str) -> None:
        self.forgotten.append(arn)

    async def describe_target_group_by_name(self, name: str) -> Any:
        self.calls.append(f"describe name {name}")
        if name != "web":
            raise TargetGroupNotFoundError(f"no target group named {name!r}")
        return SimpleNamespace(arn=ARN)


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.messages: list[str] = []

    async def emit(self, ref: ObjectRef, type_: EventType, reason: str, message: str) -> None:
        self.seen.append((type_, reason))
        self.messages.append(message)


class Harness:
    def __init__(self, api: LabApiServer, kube: KubeClient, group: RecordingGroup) -> None:
        self.api = api
        self.kube = kube
        self.group = group
        self.events = Events()
        self.clock = VirtualClock()  # the drift schedule's; nothing here sleeps on it
        self.bindings: Store[BindingEntry] = Store(BINDING_INDEXERS)
        self.services: Store[ServiceView] = Store()
        self.slices: Store[EndpointSliceView] = Store(
            {"service": lambda v: (f"{v.namespace}/{v.service_name}",)}
        )
        self.pods: Store[PodView] = Store({"gate": lambda v: ()})
        self.nodes: Store[NodeView] = Store()
        self.reconciler = BindingReconciler(
            kube=kube,
            target_groups=group,
            ledgers=Ledgers(kube),
            events=self.events,
            bindings=self.bindings,
            services=self.services,
            slices=self.slices,
            pods=self.pods,
            nodes=self.nodes,
            requeue_period=1.0,
            drift_verify_period=300.0,
            clock=self.clock,
        )

    async def refresh(self) -> None:
        """What the informers would hold: the API server's objects, projected."""
        stores: list[tuple[Any, Any, Any]] = [
            (self.services, SERVICES, service_view),
            (self.slices, ENDPOINT_SLICES, endpoint_slice_view),
            (self.pods, PODS, pod_view),
        ]
        for store, resource, project in stores:
            for key in store.keys():  # noqa: SIM118 - Store is not iterable
                store.remove(key)
            listed = await self.kube.list(resource, NS)
            for obj in listed["items"]:
                store.put(f"{NS}/{obj['metadata']['name']}", project(obj))
        for key in self.bindings.keys():  # noqa: SIM118 - Store is not iterable
            self.bindings.remove(key)
        obj = await self.kube.get(TARGET_GROUP_BINDINGS, "web", NS)
        entry = binding_entry(obj)
        self.bindings.put(entry.key, entry)

    async def reconcile(self) -> Any:
        await self.refresh()
        return await self.reconciler.reconcile(f"{NS}/web")


@pytest.fixture
async def setup(lab_apiserver: LabApiServer, kube_api_client: Any) -> tuple[LabCluster, KubeClient]:
    lab_apiserver.create(yaml.safe_load(CRD.read_text()))
    kube = KubeClient(kube_api_client)
    cluster = LabCluster(lab_apiserver.url, pod_cidr="10.0.8.0/22")
    await cluster.__aenter__()
    await cluster.ensure_namespace(NS)
    await cluster.add_node("n1", instance_id="i-0123456789abcdef0")
    await cluster.apply_service(
        NS, "web", ports=[{"name": "http", "port": 80, "targetPort": 8080}], selector={"app": "web"}
    )
    await cluster.deploy(NS, "web", 3)
    binding = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "targetGroupARN": ARN,
            "targetType": "ip",
            "multiClusterTargetGroup": True,
            "serviceRef": {"name": "web", "port": 80},
        },
    }
    await kube.create(TARGET_GROUP_BINDINGS, binding, NS)
    yield cluster, kube
    await cluster.__aexit__(None, None, None)


def _pod_targets(cluster: LabCluster) -> set[Target]:
    return {Target(cluster.pod_ip(NS, p), 8080) for p in cluster.pod_names(NS, "web")}


async def test_ledger_holds_every_target_before_it_is_registered(
    lab_apiserver: LabApiServer, setup: tuple[LabCluster, KubeClient]
) -> None:
    cluster, kube = setup
    # The first pass is the first population: ledger created, then registration.
    h = await reconciled(Harness(lab_apiserver, kube, RecordingGroup(kube)))
    # The first pass in a process lists the group afresh: it is the drift verification too.
    assert h.group.calls == ["describe fresh", "register"]
    await cluster.scale(NS, "web", 5)
    await h.reconcile()
    assert set(h.group.targets) - {FOREIGN} >= _pod_targets(cluster)
    ledger = await kube.get(CONFIG_MAPS, "aws-lbc-targets-web", NS)
    assert set(ledger["data"]["targets"].split(",")) == {t.identity for t in _pod_targets(cluster)}
    obj = await kube.get(TARGET_GROUP_BINDINGS, "web", NS)
    assert obj["metadata"]["finalizers"] == ["elbv2.k8s.aws/resources"]
    assert obj["metadata"]["annotations"]["elbv2.k8s.aws/checkpoint"]
    assert h.group.targets[FOREIGN].state is HealthState.HEALTHY


async def test_failed_registration_reports_and_keeps_the_write_ahead_ledger(
    lab_apiserver: LabApiServer, setup: tuple[LabCluster, KubeClient]
) -> None:
    cluster, kube = setup
    h = Harness(lab_apiserver, kube, RecordingGroup(kube, fail_register=True))
    with pytest.raises(TransientError):
        await h.reconcile()
    ledger = await kube.get(CONFIG_MAPS, "aws-lbc-targets-web", NS)
    assert set(ledger["data"]["targets"].split(",")) == {t.identity for t in _pod_targets(cluster)}
    status = (await kube.get(TARGET_GROUP_BINDINGS, "web", NS))["status"]
    [ready] = status["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "FailedRegister")
    assert ("Warning", "FailedRegister") in h.events.seen
    assert "elbv2.k8s.aws/checkpoint" not in (
        (await kube.get(TARGET_GROUP_BINDINGS, "web", NS))["metadata"].get("annotations") or {}
    )


async def test_deletion_deregisters_only_ledger_targets_then_releases_the_binding(
    lab_apiserver: LabApiServer, setup: tuple[LabCluster, KubeClient]
) -> None:
    cluster, kube = setup
    h = await reconciled(Harness(lab_apiserver, kube, RecordingGroup(kube)))
    ours = _pod_targets(cluster)
    await kube.delete(TARGET_GROUP_BINDINGS, "web", NS)
    await h.reconcile()
    assert all(h.group.targets[t].state is HealthState.DRAINING for t in ours)
    assert h.group.targets[FOREIGN].state is HealthState.HEALTHY
    with pytest.raises(NotFoundError):
        await kube.get(CONFIG_MAPS, "aws-lbc-targets-web", NS)
    with pytest.raises(NotFoundError):
        await kube.get(TARGET_GROUP_BINDINGS, "web", NS)


def _healthy(group: RecordingGroup) -> None:
    """The group's health checks pass for every registered target."""
    for target, health in group.targets.items():
        if health.state is HealthState.INITIAL:
            group.targets[target] = TargetHealth(HealthState.HEALTHY)


async def reconciled(h: Harness) -> Harness:
    """``h`` after one pass."""
    await h.reconcile()
    return h


async def settled(h: Harness) -> Harness:
    """``h`` after a pass that registers and one that sees the targets healthy."""
    await h.reconcile()
    _healthy(h.group)
    await h.reconcile()
    return h


async def _binding(kube: KubeClient) -> dict[str, Any]:
    found: dict[str, Any] = await kube.get(TARGET_GROUP_BINDINGS, "web", NS)
    return found


async def _edit_spec(kube: KubeClient, **spec: Any) -> None:
    await kube.patch(TARGET_GROUP_BINDINGS, "web", {"spec": spec}, NS, patch_type=PatchType.MERGE)


async def test_a_converged_binding_is_skipped_without_aws_calls_or_writes(
    lab_apiserver: LabApiServer, setup: tuple[LabCluster, KubeClient]
) -> None:
    _cluster, kube = setup
    h = await settled(Harness(lab_apiserver, kube, RecordingGroup(kube)))
    calls, version = list(h.group.calls), (await _binding(kube))["metadata"]["resourceVersion"]
    result = await h.reconcile()
    assert h.group.calls == calls, "a skipped pass called AWS"
    assert (await _binding(kube))["metadata"]["resourceVersion"] == version, "it wrote"
    assert result is not None
    assert 270.0 <= result.requeue_after <= 330.0, "not back by the next drift verification"


async def test_the_drift_verification_describes_fresh_and_puts_back_a_removed_target(
    lab_apiserver: LabApiServer, setup: tuple[LabCluster, KubeClient]
) -> None:
    cluster, kube = setup
    h = await settled(Harness(lab_apiserver, kube, RecordingGroup(kube)))
    victim = sorted(_pod_targets(cluster))[0]
    del h.group.targets[victim]  # out of band
    await h.reconcile()
    assert victim not in h.group.targets, "only the verification may notice"
    await h.clock.advance(330.0)  # past the next deadline (0.9-1.1 periods after the first pass)
    mark = len(h.group.calls)
    await h.reconcile()
    assert h.group.calls[mark:] == ["describe fresh", "register"]
    assert victim in h.group.targets
    await h.reconcile()
    assert h.group.calls[-1] != "describe fresh", "verified twice in a row"


async def test_an_invalid_binding_is_reported_touches_nothing_and_still_deletes(
    lab_apiserver: LabApiServer, setup: tuple[LabCluster, KubeClient]
) -> None:
    _cluster, kube = setup
    # A valid binding first: finalizer, targets, ledger.
    h = await reconciled(Harness(lab_apiserver, kube, RecordingGroup(kube)))
    calls = list(h.group.calls)
    await _edit_spec(kube, nodeSelector={"matchExpressions": [{"key": "zone", "operator": "In"}]})
    with pytest.raises(TerminalError):
        await h.reconcile()
    assert h.group.calls == calls
    [ready] = (await _binding(kube))["status"]["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidBinding")
    assert "needs at least one value" in ready["message"]
    assert ("Warning", "InvalidBinding") in h.events.seen
    await kube.delete(TARGET_GROUP_BINDINGS, "web", NS)
    await h.reconcile()
    assert h.group.calls == calls, "cleanup of an unparseable binding touched AWS"
    assert ("Warning", "CleanupSkipped") in h.events.seen
    with pytest.raises(NotFoundError):
        await kube.get(TARGET_GROUP_BINDINGS, "web", NS)


async def test_a_target_group_name_is_resolved_to_its_arn_on_each_pass_that_reaches_aws(
    lab_apiserver: LabApiServer, setup: tuple[LabCluster, KubeClient]
) -> None:
    cluster, kube = setup
    await _edit_spec(kube, targetGroupARN=None, targetGroupName="web")
    h = await reconciled(Harness(lab_apiserver, kube, RecordingGroup(kube)))
    assert h.group.calls == ["describe name web", "describe fresh", "register"]
    assert set(h.group.targets) - {FOREIGN} == _pod_targets(cluster)
    await _edit_spec(kube, targetGroupName="other")
    with pytest.raises(TransientError):
        await h.reconcile()
    [ready] = (await _binding(kube))["status"]["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "TargetGroupNotFound")
    assert "other" in ready["message"]


async def test_status_counts_targets_and_keeps_its_transition_time_while_ready(
    lab_apiserver: LabApiServer, setup: tuple[LabCluster, KubeClient]
) -> None:
    cluster, kube = setup
    h = await reconciled(Harness(lab_apiserver, kube, RecordingGroup(kube)))
    first = (await _binding(kube))["status"]
    assert first["observedGeneration"] == (await _binding(kube))["metadata"]["generation"]
    [ready] = first["conditions"]
    assert (ready["status"], ready["reason"]) == ("True", "TargetsSynced")
    assert first["targets"] == {"desired": 3, "registered": 3, "healthy": 0}
    for target in _pod_targets(cluster):
        h.group.targets[target] = TargetHealth(HealthState.HEALTHY)
    await h.reconcile()
    later = (await _binding(kube))["status"]
    assert later["targets"] == {"desired": 3, "registered": 3, "healthy": 3}
    [still] = later["conditions"]
    assert still["message"] != ready["message"]
    assert still["lastTransitionTime"] == ready["lastTransitionTime"]
