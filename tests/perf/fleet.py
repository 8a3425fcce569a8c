"""A fleet of bindings written straight into the lab store, converged or not.

:class:`Fleet` builds Services with their pods and one EndpointSlice each, target groups in the
lab ELB and TargetGroupBindings (one or more per Service). Converged means what a daemon would
have left behind: targets registered, ledgers written, finalizers present, valid checkpoints.
The benchmark then plays the kubelet and the EndpointSlice controller (:meth:`Fleet.add_pod`,
:meth:`Fleet.write_slice`).

Set-up never goes through the wire: Kubernetes objects are written into the in-process API
server's store, target groups are made and their targets registered by the lab ELB's bulk
control call (the backend's own checks, no HTTP per group), so 10,000 bindings build in
seconds rather than minutes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lbc.control.writes import CHECKPOINT
from lbc.core.binding import FINALIZER
from lbc.core.desired import desired
from lbc.core.ledger import DATA_KEY, configmap_name, encode
from lbc.core.plan import checkpoint_for
from lbc.core.targets import Target
from lbc.kube.ledger import BINDING_LABEL, MANAGED_BY
from lbc.kube.views import (
    binding_view,
    endpoint_slice_view,
    node_view,
    pod_view,
    service_view,
)

from lbc_lab.elb_scenario import Network, create_network
from lbc_lab.processes import LabProcess
from tests.objects import service
from tests.perf.benchlab import (
    BenchLab,
    by_operation,
    elb_calls,
    eventually,
    last_call_seq,
    log_time,
    pid_of,
    rss_bytes,
    total,
    writes,
)

NAMESPACE = "bench"
NODES = 10
POD_PORT = 8080
# Pod addresses: counted up from here through four /18 subnets of each /16 VPC (65,000 addresses
# a VPC; IP targets must lie in a subnet of the group's VPC). Subnet boundaries are skipped;
# a fleet larger than one VPC gets more VPCs (10.1.0.0/16, ...), its groups in their pods' VPC.
_BASE_IP = int(ipaddress.ip_address("10.0.0.0"))
_FIRST_POD_IP = _BASE_IP + 16
_VPC_SIZE = 65536
_SEED_BATCH = 500  # target groups per control call of the lab ELB (each call well under 10 s)


def pod_object(
    name: str, app: str, ip: str, *, ready: bool = True, nodes: int = NODES
) -> dict[str, Any]:
    """A running pod as a kubelet reports it (owner, conditions, container status)."""
    status = "True" if ready else "False"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app": app, "pod-template-hash": "7d9f8c6b5"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-7d9f8c6b5",
                    "uid": f"00000000-0000-4000-8000-{abs(hash(app)) % 10**12:012d}",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "nodeName": f"node-{hash(name) % nodes}",
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/app:1.2.3",
                    "ports": [{"containerPort": POD_PORT, "protocol": "TCP"}],
                }
            ],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "hostIP": "10.0.0.10",
            "conditions": [
                {"type": t, "status": s, "lastTransitionTime": "2026-11-24T10:00:00Z"}
                for t, s in (
                    ("Initialized", "True"),
                    ("Ready", status),
                    ("ContainersReady", status),
                    ("PodScheduled", "True"),
                )
            ],
            "containerStatuses": [
                {"name": "app", "ready": ready, "restartCount": 0, "started": ready}
            ],
        },
    }


@dataclass(slots=True)
class App:
    """One binding and what it binds: its Service, the Service's pods (name -> ip, shared by
    every binding of the Service) and its single EndpointSlice."""

    index: int
    name: str
    arn: str
    pods: dict[str, str]
    service: str = ""

    def __post_init__(self) -> None:
        self.service = self.service or self.name

    @property
    def binding(self) -> str:
        return self.name

    def targets(self) -> set[str]:
        return {f"{ip}:{POD_PORT}" for ip in self.pods.values()}


class Fleet:
    """``bindings`` Services of ``pods`` pods each, bound to target groups, written into the
    lab store directly; optionally already converged (targets registered, ledgers and valid
    checkpoints written, finalizers present) so a starting daemon finds nothing to do.

    Checkpoints are computed with the daemon's own functions (``lbc.kube.views`` projections,
    ``lbc.core.desired``, ``lbc.core.plan.checkpoint_for``), so they match exactly when the
    daemon's inputs are what was written.
    """

    def __init__(self, lab: BenchLab, *, nodes: int = NODES) -> None:
        self.lab = lab
        self.nodes = nodes
        self.apps: list[App] = []
        self._next_ip = _FIRST_POD_IP
        self._serial = 0
        self._networks: list[Network] = [lab.net]

    def new_ip(self) -> str:
        """A fresh pod address (in a subnet of the VPC for the first 65,000; beyond that
        any address, for benchmarks that register nothing)."""
        while self._next_ip % 16384 < 16 or self._next_ip % 16384 == 16383:
            self._next_ip += 1  # AWS reserves a subnet's first four addresses and its last
        ip = str(ipaddress.ip_address(self._next_ip))
        self._next_ip += 1
        return ip

    @property
    def serial(self) -> int:
        return self._serial

    def new_pod_name(self, app: str) -> str:
        self._serial += 1
        return f"{app}-7d9f8c6b5-{self._serial:06x}"

    async def build(
        self, bindings: int, pods: int, *, converged: bool = True, per_service: int = 1
    ) -> None:
        """``bindings`` bindings over ``bindings / per_service`` Services of ``pods`` pods each
        (``per_service`` bindings share a Service, its pods and its slice: one Service behind
        two load balancers), each bound to a target group of its own."""
        api = self.lab.api
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        first = len(self.apps)
        for s in range(-(-bindings // per_service)):
            service = f"svc-{s:04d}"
            self._fit(pods)
            members = {}
            for _ in range(pods):
                members[self.new_pod_name(service)] = self.new_ip()
            for k in range(min(per_service, bindings - (len(self.apps) - first))):
                name = service if per_service == 1 else f"{service}-{k}"
                self.apps.append(App(len(self.apps), name, "", members, service))
        apps = self.apps[first:]
        # The lab ELB makes the groups in its own process while this one loads the store.
        seeding = await self._seed(apps, converged=converged)
        with api.bulk():
            for n in range(self.nodes):
                api.create(node_object(f"node-{n}"))
            last = ""
            for app in apps:
                if app.service == last:
                    continue
                last = app.service
                for pod, ip in app.pods.items():
                    api.create(pod_object(pod, app.service, ip, nodes=self.nodes))
                api.create(service_object(app.service))
                api.create(self.slice_object(app))
        for app, arn in zip(apps, await seeding, strict=True):
            app.arn = arn
        with api.bulk():
            views: dict[str, Any] = {}
            for app in apps:
                api.create(self.binding_object(app, converged=converged, views=views))
                if converged:
                    api.create(ledger_object(app))

    def _fit(self, count: int) -> None:
        """Start the next ``count`` addresses in a fresh VPC when they would straddle two."""
        vpc = (self._next_ip - _BASE_IP) // _VPC_SIZE
        # new_ip skips 17 addresses at each /18 boundary: 64 more is enough for any count
        if (self._next_ip + count + 64 - _BASE_IP) // _VPC_SIZE != vpc:
            self._next_ip = _BASE_IP + (vpc + 1) * _VPC_SIZE

    async def _network_of(self, ip: str) -> Network:
        index = (int(ipaddress.ip_address(ip)) - _BASE_IP) // _VPC_SIZE
        while len(self._networks) <= index:
            cidr = f"10.{len(self._networks)}.0.0/16"
            self._networks.append(
                await create_network(
                    self.lab.ec2, cidr=cidr, zones=("a", "b", "c", "d"), subnet_prefix=18
                )
            )
        return self._networks[index]

    async def _seed(self, apps: list[App], *, converged: bool) -> asyncio.Future[list[str]]:
        """One group per binding, in its pods' VPC, with its targets registered when converged:
        a bulk control call per batch (no CreateTargetGroup and RegisterTargets per group),
        made from a thread already running when this returns. Its result: the ARNs in order."""
        batches: list[tuple[str, list[tuple[str, list[tuple[str, int]]]]]] = []
        for app in apps:
            vpc_id = (await self._network_of(next(iter(app.pods.values())))).vpc_id
            if not batches or batches[-1][0] != vpc_id or len(batches[-1][1]) == _SEED_BATCH:
                batches.append((vpc_id, []))
            targets = [(ip, POD_PORT) for ip in app.pods.values()] if converged else []
            batches[-1][1].append((f"bench-{app.index:04d}", targets))
        control = self.lab.control

        def seed() -> list[str]:
            return [
                arn
                for vpc_id, groups in batches
                for arn in control.create_target_groups(vpc_id, groups)
            ]

        return asyncio.get_running_loop().run_in_executor(None, seed)

    def slice_object(self, app: App) -> dict[str, Any]:
        """The app's one EndpointSlice as the EndpointSlice controller writes it."""
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{app.service}-abcde",
                "namespace": NAMESPACE,
                "labels": {
                    "kubernetes.io/service-name": app.service,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                },
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": POD_PORT, "protocol": "TCP"}],
            "endpoints": [
                {
                    "addresses": [ip],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "nodeName": f"node-{hash(pod) % self.nodes}",
                    "targetRef": {"kind": "Pod", "namespace": NAMESPACE, "name": pod},
                }
                for pod, ip in sorted(app.pods.items())
            ],
        }

    def write_slice(self, app: App) -> None:
        """Replace the app's slice in the store with one made from ``app.pods`` (a watch event)."""
        api = self.lab.api
        rtype = api.type_of("discovery.k8s.io/v1", "EndpointSlice")
        name = f"{app.service}-abcde"
        current = api.store.get(rtype.storage, NAMESPACE, name)
        obj = self.slice_object(app)
        if current is not None:
            obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        api.objects.update(rtype, NAMESPACE, name, obj)

    def binding_object(
        self, app: App, *, converged: bool, views: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "apiVersion": "elbv2.k8s.aws/v1beta1",
            "kind": "TargetGroupBinding",
            "metadata": {"name": app.binding, "namespace": NAMESPACE},
            "spec": {
                "targetGroupARN": app.arn,
                "targetType": "ip",
                "multiClusterTargetGroup": True,
                "serviceRef": {"name": app.service, "port": 80},
            },
        }
        if converged:
            obj["metadata"]["finalizers"] = [FINALIZER]
            obj["metadata"]["annotations"] = {
                CHECKPOINT: self.checkpoint(app, obj, {} if views is None else views)
            }
        return obj

    def checkpoint(
        self, app: App, binding: Mapping[str, Any], views: dict[str, Any] | None = None
    ) -> str:
        """The checkpoint a successful reconcile of ``binding`` writes for the stored inputs.

        ``views`` keeps the projected pods and nodes between calls (bindings of one Service
        share them), read from the stored objects as the daemon's informers would see them."""
        api = self.lab.api
        views = {} if views is None else views
        if "nodes" not in views:
            views["nodes"] = {
                f"node-{n}": node_view(api.get("v1", "Node", f"node-{n}") or {})
                for n in range(self.nodes)
            }
        pods = views.setdefault("pods", {})
        for name in app.pods:
            if (NAMESPACE, name) not in pods:
                pods[(NAMESPACE, name)] = pod_view(api.get("v1", "Pod", name, NAMESPACE) or {})
        view = binding_view(binding)
        if views.get("service") != app.service:  # bindings of one Service come in a row
            views["service"] = app.service
            views["inputs"] = (
                service_view(api.get("v1", "Service", app.service, NAMESPACE) or {}),
                [endpoint_slice_view(self.slice_object(app))],
            )
        wanted = desired(
            view,
            *views["inputs"],
            lambda ns, name: pods.get((ns, name)),
            views["nodes"],
        )
        if len(wanted.targets) != len(app.pods):
            raise AssertionError(f"{app.name}: desired {len(wanted.targets)} of {len(app.pods)}")
        return checkpoint_for(view, wanted)

    def add_pod(self, app: App, *, ready: bool = True) -> str:
        """A new pod of ``app`` in the store (its slice is not touched)."""
        name = self.new_pod_name(app.service)
        app.pods[name] = self.new_ip()
        self.lab.api.create(
            pod_object(name, app.service, app.pods[name], ready=ready, nodes=self.nodes)
        )
        return name

    def remove_pod(self, app: App, name: str) -> None:
        """Delete a pod from the store and from ``app`` (its slice is not touched)."""
        del app.pods[name]
        rtype = self.lab.api.type_of("v1", "Pod")
        self.lab.api.objects.delete(rtype, NAMESPACE, name)

    async def active_targets(self, app: App) -> set[str]:
        """The group's targets AWS does not report as draining."""
        found = await self.lab.elbv2.describe_target_health(TargetGroupArn=app.arn)
        return {
            f"{d['Target']['Id']}:{d['Target']['Port']}"
            for d in found["TargetHealthDescriptions"]
            if d.get("TargetHealth", {}).get("State") != "draining"
        }


def node_object(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": "us-east-1a"},
        },
        "spec": {"providerID": f"aws:///us-east-1a/i-{abs(hash(name)) % 10**17:017x}"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}],
        },
    }


def service_object(name: str) -> dict[str, Any]:
    return service(name, namespace=NAMESPACE, target_port=POD_PORT, headless=True)


def ledger_object(app: App) -> dict[str, Any]:
    """The ledger ConfigMap the daemon keeps for a converged multi-cluster binding."""
    targets = [Target(ip, POD_PORT) for ip in app.pods.values()]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(app.binding),
            "namespace": NAMESPACE,
            "labels": {MANAGED_BY: "lbc"},
            "annotations": {BINDING_LABEL: app.binding},
        },
        "data": {DATA_KEY: encode(targets)},
    }


async def change_to_register(lab: BenchLab, fleet: Fleet, app: App) -> float:
    """Seconds from writing ``app``'s slice (with the pods it now has) until the lab received the
    RegisterTargets call for its group (receipt = the lab's log time minus its own handling)."""
    mark = await last_call_seq(lab)
    written = time.time()
    fleet.write_slice(app)

    async def arrived() -> float | None:
        for call in await elb_calls(lab, mark):
            if call["operation"] == "RegisterTargets" and call["target_group_arn"] == app.arn:
                return float(call["time"]) - float(call["duration_ms"]) / 1e3 - written
        return None

    return await eventually(
        arrived, timeout=30, what="RegisterTargets after a change", interval=0.005
    )


# -- a daemon restarted on the fleet ----------------------------------------------------------


async def restart(
    lab: BenchLab,
    fleet: Fleet,
    name: str,
    *,
    during: Callable[[], Awaitable[float]] | None = None,
    timeout: float = 240,
    env: Mapping[str, str] | None = None,
    interval: float = 0.1,
) -> tuple[LabProcess, dict[str, Any]]:
    """Start a daemon and wait until it reconciled every binding of ``fleet``; what it cost.

    ``during`` runs as soon as the daemon's caches are synced (while it sweeps the bindings);
    its result is returned as ``"during"``. ``seconds`` runs from just before the process was
    started to the first /metrics poll (every ``interval``) that saw every binding reconciled
    and the queue empty; ``synced`` to the daemon's ``caches_synced`` log line, ``sweep`` is
    the rest.
    """
    bindings = len(fleet.apps)
    mark = await last_call_seq(lab)
    before = lab.kube_requests()
    started = time.time()
    daemon = await lab.start_daemon(name, env)
    cpu = (0.0, 0)
    measured = None
    if during is not None:

        async def synced() -> bool:
            lab.check(daemon)
            return '"caches_synced"' in daemon.log_text()

        await eventually(synced, timeout=timeout, what="caches synced", interval=0.02)
        measured = await during()
    samples = await lab.wait_idle(daemon, bindings, timeout=timeout, interval=interval)
    elapsed = time.time() - started
    synced_at = log_time(daemon, "caches_synced") - started
    calls = await elb_calls(lab, mark)
    return daemon, {
        "seconds": elapsed,
        "synced": synced_at,
        "sweep": elapsed - synced_at,
        "cpu": await lab.own_cpu(daemon, cpu),
        "rss": rss_bytes(pid_of(daemon)),
        "calls": by_operation(calls),
        "writes": writes(lab.kube_requests() - before),
        "skips": total(samples, "lbc_reconcile_skips_total"),
        "reconciles": total(samples, "controller_runtime_reconcile_total"),
        "during": measured,
    }


def blank_checkpoints(lab: BenchLab, fleet: Fleet) -> None:
    """Every binding's checkpoint set to ``""`` ("reconcile fully"), straight in the store."""
    rtype = lab.api.type_of("elbv2.k8s.aws/v1beta1", "TargetGroupBinding")
    with lab.api.bulk():
        for app in fleet.apps:
            lab.api.objects.patch(
                rtype,
                NAMESPACE,
                app.binding,
                patch_type="merge",
                body={"metadata": {"annotations": {CHECKPOINT: ""}}},
            )


def checkpointed(lab: BenchLab, fleet: Fleet) -> int:
    """How many of the fleet's bindings carry a checkpoint."""
    count = 0
    for app in fleet.apps:
        obj = lab.api.get("elbv2.k8s.aws/v1beta1", "TargetGroupBinding", app.binding, NAMESPACE)
        if obj and (obj["metadata"].get("annotations") or {}).get(CHECKPOINT):
            count += 1
    return count
