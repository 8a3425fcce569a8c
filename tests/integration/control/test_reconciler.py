"""The reconciler's executor against the lab API server, with a recording target group.

These pin what the pure plan cannot: that the shell carries the plan out in its order. The fake
target group checks, at the moment ``RegisterTargets`` is called, that every target it is asked
to register is already in the ledger stored in the API server (the crash-safety invariant).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from lbc.control.bindings import BindingReconciler
from lbc.control.entry import BindingEntry, binding_entry
from lbc.control.triggers import BINDING_INDEXERS
from lbc.core.errors import NotFoundError, TransientError
from lbc.core.objects import EndpointSliceView, NodeView, PodView, ServiceView
from lbc.core.targets import HealthState, Target, TargetHealth
from lbc.kube.client import (
    CONFIG_MAPS,
    ENDPOINT_SLICES,
    PODS,
    SERVICES,
    TARGET_GROUP_BINDINGS,
    KubeClient,
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
        self.fail_register = fail_register

    async def describe(self, arn: str, *, fresh: bool = False) -> Mapping[Target, TargetHealth]:
        self.calls.append("describe")
        return dict(self.targets)

    async def register(self, arn: str, targets: Sequence[Target]) -> None:
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

    async def describe_target_group_by_name(self, name: str) -> Any:
        raise AssertionError("not used")


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def emit(self, ref: ObjectRef, type_: EventType, reason: str, message: str) -> None:
        self.seen.append((type_, reason))


class Harness:
    def __init__(self, api: LabApiServer, kube: KubeClient, group: RecordingGroup) -> None:
        self.api = api
        self.kube = kube
        self.group = group
        self.events = Events()
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
    h = Harness(lab_apiserver, kube, RecordingGroup(kube))
    await h.reconcile()  # first population: ledger created, then registration
    assert h.group.calls == ["describe", "register"]
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
    h = Harness(lab_apiserver, kube, RecordingGroup(kube))
    await h.reconcile()
    ours = _pod_targets(cluster)
    await kube.delete(TARGET_GROUP_BINDINGS, "web", NS)
    await h.reconcile()
    assert all(h.group.targets[t].state is HealthState.DRAINING for t in ours)
    assert h.group.targets[FOREIGN].state is HealthState.HEALTHY
    with pytest.raises(NotFoundError):
        await kube.get(CONFIG_MAPS, "aws-lbc-targets-web", NS)
    with pytest.raises(NotFoundError):
        await kube.get(TARGET_GROUP_BINDINGS, "web", NS)
