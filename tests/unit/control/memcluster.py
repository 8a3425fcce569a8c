"""The binding controller's real parts on an in-memory cluster and target group, in virtual time.

The reconciler, the triggers, the work queue and the worker pool are the daemon's own; what is
fake is only the I/O: :class:`MemoryKube` answers the few API calls the reconciler makes and
feeds every change back to the stores and the triggers as an informer would, and
:class:`MemoryGroup` is a target group that counts its calls and fails on request. Time moves
only when a test advances the :class:`~lbc.clock.VirtualClock`, so an hour of a binding's
life takes well under a second.
"""

from __future__ import annotations

import copy
import itertools
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
from lbc.clock import VirtualClock
from lbc.control.bindings import POD_GATE_INDEX, SLICE_SERVICE_INDEX, BindingReconciler
from lbc.control.controller import ledger_version, pod_gate_index, slice_service_index
from lbc.control.entry import BindingEntry, binding_entry
from lbc.control.schedule import FLEET_BUSY
from lbc.control.triggers import BINDING_INDEXERS, Triggers
from lbc.control.worker import Result, Workers
from lbc.control.workqueue import ItemExponentialBackoff, WorkQueue
from lbc.core.errors import ConflictError, LbcError, NotFoundError
from lbc.core.targets import HealthState, Target, TargetHealth
from lbc.kube.client import (
    CONFIG_MAPS,
    ENDPOINT_SLICES,
    NODES,
    PODS,
    SERVICES,
    TARGET_GROUP_BINDINGS,
    AlreadyExistsError,
    Resource,
)
from lbc.kube.events import EventType, ObjectRef
from lbc.kube.informer import EventHandlers, Store
from lbc.kube.ledger import Ledgers
from lbc.kube.views import endpoint_slice_view, node_view, pod_view, service_view

from tests.objects import target_group_binding
from tests.stepping import running

NS = "shop"
ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
_names = itertools.count()


def merge(into: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """RFC 7386 JSON merge patch, in place."""
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


@dataclass
class Kind:
    """One resource's objects and the informer-like store the controller reads them through."""

    project: Callable[[dict[str, Any]], Any]
    store: Store[Any]
    handlers: list[EventHandlers[Any]] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)

    def deliver(self, key: str, obj: dict[str, Any] | None) -> None:
        old = self.store.get(key)
        if obj is None:
            self.objects.pop(key, None)
            if old is not None:
                self.store.remove(key)
                for h in self.handlers:
                    h.on_delete(key, old)
            return
        self.objects[key] = obj
        new = self.project(copy.deepcopy(obj))
        if old is not None and old == new:
            return
        self.store.put(key, new)
        for h in self.handlers:
            if old is None:
                h.on_add(key, new)
            else:
                h.on_update(key, old, new)


class MemoryKube:
    """get/create/patch/patch_status/delete of the reconciler, on dicts, with resourceVersions.

    A write fails with ``fail[(verb, plural)]`` when set (an exception instance to raise).
    """

    def __init__(self) -> None:
        self._rv = itertools.count(1)
        self.kinds: dict[str, Kind] = {
            TARGET_GROUP_BINDINGS.plural: Kind(binding_entry, Store(BINDING_INDEXERS)),
            SERVICES.plural: Kind(service_view, Store()),
            ENDPOINT_SLICES.plural: Kind(
                endpoint_slice_view, Store({SLICE_SERVICE_INDEX: slice_service_index})
            ),
            PODS.plural: Kind(pod_view, Store({POD_GATE_INDEX: pod_gate_index})),
            NODES.plural: Kind(node_view, Store()),
            CONFIG_MAPS.plural: Kind(ledger_version, Store()),
        }
        self.fail: dict[tuple[str, str], LbcError] = {}
        self.writes: list[tuple[str, str, str]] = []

    def kind(self, resource: Resource) -> Kind:
        return self.kinds[resource.plural]

    def _key(self, name: str, namespace: str | None) -> str:
        return f"{namespace}/{name}" if namespace else name

    def _check(self, verb: str, resource: Resource) -> None:
        failure = self.fail.get((verb, resource.plural))
        if failure is not None:
            raise failure

    def put(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as a client outside lbc would (no failure injection)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._rv))
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta.setdefault("generation", 1)
        self.kind(resource).deliver(self._key(meta["name"], meta.get("namespace")), obj)
        return obj

    def remove(self, resource: Resource, name: str, namespace: str | None = NS) -> None:
        self.kind(resource).deliver(self._key(name, namespace), None)

    def object(self, resource: Resource, name: str, namespace: str | None = NS) -> dict[str, Any]:
        return self.kind(resource).objects[self._key(name, namespace)]

    async def get(
        self, resource: Resource, name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        found = self.kind(resource).objects.get(self._key(name, namespace))
        if found is None:
            raise NotFoundError(f"{resource.plural} {name} not found")
        return copy.deepcopy(found)

    async def create(
        self, resource: Resource, obj: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        self._check("create", resource)
        name = obj["metadata"]["name"]
        if self._key(name, namespace) in self.kind(resource).objects:
            raise AlreadyExistsError(f"{resource.plural} {name} exists")
        self.writes.append(("create", resource.plural, name))
        return copy.deepcopy(self.put(resource, {**obj, "metadata": dict(obj["metadata"])}))

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
        *,
        patch_type: Any = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        verb = "patch_status" if subresource == "status" else "patch"
        self._check(verb, resource)
        kind = self.kind(resource)
        key = self._key(name, namespace)
        current = kind.objects.get(key)
        if current is None:
            raise NotFoundError(f"{resource.plural} {name} not found")
        patch = copy.deepcopy(dict(patch))
        meta_patch = patch.get("metadata") or {}
        wanted_rv = meta_patch.pop("resourceVersion", None)
        if wanted_rv is not None and wanted_rv != current["metadata"]["resourceVersion"]:
            raise ConflictError(f"{resource.plural} {name} changed")
        meta_patch.pop("uid", None)
        updated = copy.deepcopy(current)
        conditions = (patch.get("status") or {}).get("conditions")
        if resource is PODS and conditions is not None:
            # Strategic merge of pod conditions: by type.
            by_type = {c["type"]: c for c in updated.get("status", {}).get("conditions", [])}
            for cond in conditions:
                by_type[cond["type"]] = {**by_type.get(cond["type"], {}), **cond}
            patch["status"]["conditions"] = list(by_type.values())
        merge(updated, patch)
        if not updated["metadata"].get("finalizers") and updated["metadata"].get(
            "deletionTimestamp"
        ):
            self.writes.append((verb, resource.plural, name))
            kind.deliver(key, None)
            return updated
        self.writes.append((verb, resource.plural, name))
        updated["metadata"]["resourceVersion"] = str(next(self._rv))
        kind.deliver(key, updated)
        return copy.deepcopy(updated)

    async def patch_status(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return await self.patch(*args, subresource="status", **kwargs)

    async def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
    ) -> None:
        await anyio.lowlevel.checkpoint()
        self._check("delete", resource)
        key = self._key(name, namespace)
        current = self.kind(resource).objects.get(key)
        if current is None:
            raise NotFoundError(f"{resource.plural} {name} not found")
        if (
            resource_version is not None
            and resource_version != current["metadata"]["resourceVersion"]
        ):
            raise ConflictError(f"{resource.plural} {name} changed")
        self.writes.append(("delete", resource.plural, name))
        self.kind(resource).deliver(key, None)


class MemoryGroup:
    """A target group: counts every call; ``fail[op]`` raises; ``settles`` turns targets healthy.

    ``settles=False`` keeps registered targets ``initial`` for ever (health checks that never
    complete); ``None`` for ``exists`` makes every call answer that the group is gone.
    """

    def __init__(self, *, settles: bool = True) -> None:
        self.targets: dict[Target, TargetHealth] = {}
        self.calls: list[str] = []
        self.forgotten: list[str] = []
        self.fail: dict[str, LbcError] = {}
        self.settles = settles
        self.arn_by_name: dict[str, str] = {"web": ARN}

    def _call(self, op: str) -> None:
        self.calls.append(op)
        failure = self.fail.get(op)
        if failure is not None:
            raise failure

    async def describe(self, arn: str, *, fresh: bool = False) -> Mapping[Target, TargetHealth]:
        await anyio.lowlevel.checkpoint()
        self._call("describe")
        seen = dict(self.targets)
        if self.settles:
            for target, health in self.targets.items():
                if health.state is HealthState.INITIAL:
                    self.targets[target] = TargetHealth(HealthState.HEALTHY)
        return seen

    async def register(
        self,
        arn: str,
        targets: Sequence[Target],
        *,
        zone_hints: Mapping[Target, str] | None = None,
    ) -> None:
        await anyio.lowlevel.checkpoint()
        self._call("register")
        for t in targets:
            self.targets[t] = TargetHealth(HealthState.INITIAL, "Elb.RegistrationInProgress")

    async def deregister(self, arn: str, targets: Sequence[Target]) -> None:
        await anyio.lowlevel.checkpoint()
        self._call("deregister")
        for t in targets:
            self.targets.pop(t, None)

    def forget(self, arn: str) -> None:
        self.forgotten.append(arn)

    async def describe_target_group_by_name(self, name: str) -> Any:
        await anyio.lowlevel.checkpoint()
        self._call("describe_by_name")
        arn = self.arn_by_name.get(name)
        if arn is None:
            raise NotFoundError(f"target group {name} not found")

        @dataclass(frozen=True)
        class Named:
            arn: str

        return Named(arn)


class MemoryEvents:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    async def emit(self, ref: ObjectRef, type_: EventType, reason: str, message: str) -> None:
        await anyio.lowlevel.checkpoint()
        self.seen.append((type_, reason, message))


def service(name: str = "web", *, port: int = 80, type_: str = "ClusterIP") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "type": type_,
            "ports": [{"name": "http", "port": port, "targetPort": 8080, "protocol": "TCP"}],
            "selector": {"app": name},
        },
    }


def pod(name: str, ip: str, *, gates: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}"},
        "spec": {
            "nodeName": "n1",
            "readinessGates": [{"conditionType": g} for g in gates],
            "containers": [{"name": "app"}],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "ContainersReady", "status": "True"}],
        },
    }


def endpoint_slice(service_name: str, pods: Mapping[str, str]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{service_name}-abc",
            "namespace": NS,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": "n1",
                "targetRef": {"kind": "Pod", "name": name, "namespace": NS},
            }
            for name, ip in pods.items()
        ],
    }


def node(name: str = "n1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {}},
        "spec": {"providerID": "aws:///us-east-1a/i-0123456789abcdef0"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def binding_object(name: str = "web", **spec: Any) -> dict[str, Any]:
    return target_group_binding(name, ARN, namespace=NS, service="web", multi_cluster=True, **spec)


@dataclass
class Controller:
    """The running controller and its world; ``passes[key]`` counts reconciles per key."""

    clock: VirtualClock
    kube: MemoryKube
    group: MemoryGroup
    events: MemoryEvents
    queue: WorkQueue[str]
    workers: Workers[str]
    reconciler: BindingReconciler
    passes: dict[str, int] = field(default_factory=dict)

    def binding(self, name: str = "web") -> dict[str, Any]:
        return self.kube.object(TARGET_GROUP_BINDINGS, name)

    def entry(self, name: str = "web") -> BindingEntry:
        found = self.kube.kind(TARGET_GROUP_BINDINGS).store.get(f"{NS}/{name}")
        assert found is not None
        return found  # type: ignore[no-any-return]

    def ready(self, name: str = "web") -> dict[str, Any] | None:
        for cond in (self.binding(name).get("status") or {}).get("conditions") or []:
            if cond["type"] == "Ready":
                return dict(cond)
        return None

    def apply(self, resource: Resource, obj: dict[str, Any]) -> None:
        """A change made by someone else (a user, another controller)."""
        self.kube.put(resource, obj)

    def edit_spec(self, name: str = "web", **spec: Any) -> None:
        """A user's edit of the binding's spec: the API server bumps its generation."""
        obj = copy.deepcopy(self.binding(name))
        obj["spec"].update(spec)
        obj["metadata"]["generation"] += 1
        self.kube.put(TARGET_GROUP_BINDINGS, obj)

    async def run_for(self, seconds: float, step: float = 1.0) -> None:
        """Let ``seconds`` of virtual time pass, in steps (so woken work runs in between)."""
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            await self.clock.advance(min(step, end - self.clock.now()))


def workload(kube: MemoryKube, replicas: int = 3, *, gates: tuple[str, ...] = ()) -> None:
    """A Service ``web`` with ``replicas`` ready pods on node ``n1``."""
    kube.put(NODES, node())
    kube.put(SERVICES, service())
    pods = {f"web-{i}": f"10.0.8.{10 + i}" for i in range(replicas)}
    for name, ip in pods.items():
        kube.put(PODS, pod(name, ip, gates=gates))
    kube.put(ENDPOINT_SLICES, endpoint_slice("web", pods))


@asynccontextmanager
async def controller(
    *,
    group: MemoryGroup | None = None,
    drift_verify_period: float = 300.0,
    requeue_period: float = 15.0,
    backoff_base: float = 0.005,
    backoff_max: float = 300.0,
    prepare: Callable[[MemoryKube], None] = lambda _kube: None,
    rng: random.Random | None = None,
    settle_busy: int = FLEET_BUSY,
) -> AsyncIterator[Controller]:
    """The binding controller, wired as ``lbc.control.controller`` wires it, on memory I/O.

    ``prepare`` fills the cluster before the workers start (the informers' initial lists).
    """
    clock = VirtualClock()
    kube = MemoryKube()
    group = group or MemoryGroup()
    events = MemoryEvents()
    name = f"budget{next(_names)}"
    queue: WorkQueue[str] = WorkQueue(
        name,
        clock=clock,
        rate_limiter=ItemExponentialBackoff(backoff_base, backoff_max),
    )
    ledgers = Ledgers(kube)  # type: ignore[arg-type]
    stores = {plural: kind.store for plural, kind in kube.kinds.items()}
    reconciler = BindingReconciler(
        kube=kube,  # type: ignore[arg-type]
        target_groups=group,
        ledgers=ledgers,
        events=events,
        bindings=stores[TARGET_GROUP_BINDINGS.plural],
        services=stores[SERVICES.plural],
        slices=stores[ENDPOINT_SLICES.plural],
        pods=stores[PODS.plural],
        nodes=stores[NODES.plural],
        requeue_period=requeue_period,
        drift_verify_period=drift_verify_period,
        clock=clock,
        wall=lambda: datetime.fromtimestamp(clock.now(), UTC),
        ledger_versions=stores[CONFIG_MAPS.plural],
        rng=rng,
        settle_busy=settle_busy,
    )
    triggers = Triggers(
        queue.add,
        stores[TARGET_GROUP_BINDINGS.plural].by_index,
        own_checkpoint=reconciler.own_checkpoint,
        own_ledger_version=ledgers.written_version,
        changed=reconciler.input_changed,
    )
    kube.kind(TARGET_GROUP_BINDINGS).handlers.append(triggers.binding_handlers())
    kube.kind(SERVICES).handlers.append(triggers.service_handlers())
    kube.kind(ENDPOINT_SLICES).handlers.append(triggers.slice_handlers())
    kube.kind(PODS).handlers.append(triggers.pod_handlers())
    kube.kind(NODES).handlers.append(triggers.node_handlers())
    kube.kind(CONFIG_MAPS).handlers.append(triggers.ledger_handlers())
    prepare(kube)
    h: Controller

    async def counting(key: str) -> Result | None:
        h.passes[key] = h.passes.get(key, 0) + 1
        return await reconciler.reconcile(key)

    workers = Workers(name, queue, counting, clock=clock)
    h = Controller(clock, kube, group, events, queue, workers, reconciler)
    async with running(workers, clock):
        yield h
