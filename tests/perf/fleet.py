"""A fleet of bindings written straight into the lab store, converged or not.

:class:`Fleet` builds Services with their pods and one EndpointSlice each, target groups in the
lab ELB and TargetGroupBindings. Converged means what a daemon would have left behind: targets
registered, ledgers written, finalizers present, valid checkpoints. The benchmark then plays the
kubelet and the EndpointSlice controller (:meth:`Fleet.add_pod`, :meth:`Fleet.write_slice`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Mapping
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

from tests.perf.benchlab import BenchLab, elb_calls, eventually, last_call_seq

NAMESPACE = "bench"
NODES = 10
POD_PORT = 8080
# Pod addresses: counted up from here through four /18 subnets (the whole VPC, 65,000 addresses;
# IP targets must lie in a subnet of the group's VPC). Subnet boundaries are skipped.
_FIRST_POD_IP = int(ipaddress.ip_address("10.0.0.16"))


def pod_object(name: str, app: str, ip: str, *, ready: bool = True) -> dict[str, Any]:
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
            "nodeName": f"node-{hash(name) % NODES}",
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
    """One Service, its pods (name -> ip), its single EndpointSlice and its binding."""

    index: int
    name: str
    arn: str
    pods: dict[str, str]

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

    def __init__(self, lab: BenchLab) -> None:
        self.lab = lab
        self.apps: list[App] = []
        self._next_ip = _FIRST_POD_IP
        self._serial = 0

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

    async def build(self, bindings: int, pods: int, *, converged: bool = True) -> None:
        api = self.lab.api
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        arns = await self._target_groups(bindings)
        with api.bulk():
            for n in range(NODES):
                api.create(node_object(f"node-{n}"))
            for i in range(bindings):
                name = f"svc-{i:04d}"
                app = App(i, name, arns[i], {})
                for _ in range(pods):
                    pod = self.new_pod_name(name)
                    app.pods[pod] = self.new_ip()
                    api.create(pod_object(pod, name, app.pods[pod]))
                api.create(service_object(name))
                api.create(self.slice_object(app))
                self.apps.append(app)
            for app in self.apps:
                api.create(self.binding_object(app, converged=converged))
                if converged:
                    api.create(ledger_object(app))
        if converged:
            await self._register_all()

    async def _target_groups(self, count: int) -> list[str]:
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> str:
            async with gate:
                made = await self.lab.elbv2.create_target_group(
                    Name=f"bench-{i:04d}",
                    Protocol="TCP",
                    Port=80,
                    VpcId=self.lab.net.vpc_id,
                    TargetType="ip",
                )
            arn: str = made["TargetGroups"][0]["TargetGroupArn"]
            return arn

        return list(await asyncio.gather(*(one(i) for i in range(count))))

    async def _register_all(self) -> None:
        gate = asyncio.Semaphore(8)

        async def one(app: App) -> None:
            targets = [{"Id": ip, "Port": POD_PORT} for ip in app.pods.values()]
            async with gate:
                for start in range(0, len(targets), 200):
                    await self.lab.elbv2.register_targets(
                        TargetGroupArn=app.arn, Targets=targets[start : start + 200]
                    )

        await asyncio.gather(*(one(app) for app in self.apps))

    def slice_object(self, app: App) -> dict[str, Any]:
        """The app's one EndpointSlice as the EndpointSlice controller writes it."""
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{app.name}-abcde",
                "namespace": NAMESPACE,
                "labels": {
                    "kubernetes.io/service-name": app.name,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                },
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": POD_PORT, "protocol": "TCP"}],
            "endpoints": [
                {
                    "addresses": [ip],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "nodeName": f"node-{hash(pod) % NODES}",
                    "targetRef": {"kind": "Pod", "namespace": NAMESPACE, "name": pod},
                }
                for pod, ip in sorted(app.pods.items())
            ],
        }

    def write_slice(self, app: App) -> None:
        """Replace the app's slice in the store with one made from ``app.pods`` (a watch event)."""
        api = self.lab.api
        rtype = api.type_of("discovery.k8s.io/v1", "EndpointSlice")
        name = f"{app.name}-abcde"
        current = api.store.get(rtype.storage, NAMESPACE, name)
        obj = self.slice_object(app)
        if current is not None:
            obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        api.objects.update(rtype, NAMESPACE, name, obj)

    def binding_object(self, app: App, *, converged: bool) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "apiVersion": "elbv2.k8s.aws/v1beta1",
            "kind": "TargetGroupBinding",
            "metadata": {"name": app.binding, "namespace": NAMESPACE},
            "spec": {
                "targetGroupARN": app.arn,
                "targetType": "ip",
                "multiClusterTargetGroup": True,
                "serviceRef": {"name": app.name, "port": 80},
            },
        }
        if converged:
            obj["metadata"]["finalizers"] = [FINALIZER]
            obj["metadata"]["annotations"] = {CHECKPOINT: self.checkpoint(app, obj)}
        return obj

    def checkpoint(self, app: App, binding: Mapping[str, Any]) -> str:
        """The checkpoint a successful reconcile of ``binding`` writes for the stored inputs."""
        api = self.lab.api
        pods = {
            (NAMESPACE, name): pod_view(api.get("v1", "Pod", name, NAMESPACE) or {})
            for name in app.pods
        }
        nodes = {
            f"node-{n}": node_view(api.get("v1", "Node", f"node-{n}") or {}) for n in range(NODES)
        }
        wanted = desired(
            binding_view(binding),
            service_view(api.get("v1", "Service", app.name, NAMESPACE) or {}),
            [endpoint_slice_view(self.slice_object(app))],
            lambda ns, name: pods.get((ns, name)),
            nodes,
        )
        if len(wanted.targets) != len(app.pods):
            raise AssertionError(f"{app.name}: desired {len(wanted.targets)} of {len(app.pods)}")
        return checkpoint_for(binding_view(binding), wanted)

    def add_pod(self, app: App, *, ready: bool = True) -> str:
        """A new pod of ``app`` in the store (its slice is not touched)."""
        name = self.new_pod_name(app.name)
        app.pods[name] = self.new_ip()
        self.lab.api.create(pod_object(name, app.name, app.pods[name], ready=ready))
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
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": POD_PORT, "protocol": "TCP"}],
        },
    }


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
