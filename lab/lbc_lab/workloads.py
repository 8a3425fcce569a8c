"""A lab cluster's workload controllers: nodes, pods, Services and EndpointSlices.

The lab API server stores objects; nothing in it schedules pods, runs a kubelet or maintains
EndpointSlices. ``LabCluster`` plays those parts, through the API server's HTTP interface only (so
it works against a server in another process), and writes the objects the way a real cluster's
controllers would:

- a pod is created, then its status is written through the ``status`` subresource (a real API
  server resets status on create): phase Running, pod IP from the cluster's pod CIDR, host IP,
  and the conditions ``PodScheduled``, ``Initialized``, ``ContainersReady`` and ``Ready``;
- ``Ready`` follows the kubelet's rule: containers ready AND every readiness-gate condition True.
  :meth:`LabCluster.kubelet_pass` re-evaluates it after something (lbc) patched a gate condition;
- EndpointSlices follow the EndpointSlice controller: label ``kubernetes.io/service-name``, at most
  100 endpoints per slice, ports named after the Service port with the resolved target port,
  endpoint conditions ready/serving/terminating, ``targetRef`` to the pod and its ``nodeName``.

The cluster keeps its own model of what it created (apps, pods, services) so it can recompute
slices without listing; it is the single writer of those objects in tests and the demo.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

SLICE_CAPACITY = 100
QUIC_ENABLED_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-quic-enabled-containers"
#: Holds an evicted pod of an unreachable node until its kubelet (the lab) confirms.
KUBELET_FINALIZER = "lab.lbc/kubelet"
_JSON = "application/json"
_MERGE = "application/merge-patch+json"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LabApiError(Exception):
    """The lab API server refused a workload write (status and body in the message)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status


@dataclass(slots=True)
class _Pod:
    namespace: str
    name: str
    app: str
    ip: str
    node: str
    container_port: int
    port_name: str | None
    gates: tuple[str, ...]
    containers_ready: bool = True
    terminating: bool = False
    uid: str = ""
    ready: bool = False
    #: Its node stopped reporting: the node lifecycle controller holds the pod not Ready.
    unreachable: bool = False
    #: QUIC server id in ELBv2's form (``0x`` + 16 hex), ``""`` for pods of non-QUIC apps.
    server_id: str = ""


@dataclass(slots=True)
class _Service:
    namespace: str
    name: str
    selector: dict[str, str]
    ports: list[dict[str, Any]]


@dataclass(slots=True)
class _App:
    namespace: str
    name: str
    container_port: int
    port_name: str | None
    gates: tuple[str, ...]
    pods: list[str] = field(default_factory=list)
    #: Pods get a QUIC server id each, as LBC's QUIC injector gives them (env + annotation).
    quic: bool = False


class LabCluster:
    """Workload controllers of one lab cluster, driven through the API server's REST interface."""

    def __init__(
        self,
        base_url: str,
        *,
        name: str = "lab",
        pod_cidr: str = "10.0.128.0/17",
        token: str | None = None,
        zone: str = "us-east-1a",
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.zone = zone
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ips = (str(ip) for ip in ipaddress.ip_network(pod_cidr).hosts())
        self._session: aiohttp.ClientSession | None = None
        self._pods: dict[tuple[str, str], _Pod] = {}
        self._apps: dict[tuple[str, str], _App] = {}
        self._services: dict[tuple[str, str], _Service] = {}
        self._nodes: dict[str, dict[str, Any]] = {}
        self._node_cycle: itertools.cycle[str] | None = None

    async def __aenter__(self) -> LabCluster:
        self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- raw REST -----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = _JSON,
        ok: Sequence[int] = (200, 201),
    ) -> Any:
        """One REST call; raises :class:`LabApiError` unless the status is in ``ok``."""
        if self._session is None:
            raise RuntimeError("LabCluster is used outside its `async with` block")
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self._session.request(
            method, self.base_url + path, data=data, headers=headers
        ) as resp:
            text = await resp.read()
            if resp.status not in ok:
                raise LabApiError(resp.status, text.decode(errors="replace"))
            return orjson.loads(text) if text else None

    async def _create_or_replace(self, path: str, name: str, obj: dict[str, Any]) -> Any:
        try:
            return await self.request("POST", path, obj)
        except LabApiError as err:
            if err.status != 409:
                raise
        current = await self.request("GET", f"{path}/{name}")
        obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        return await self.request("PUT", f"{path}/{name}", obj)

    # -- namespaces and nodes -----------------------------------------------------------------

    async def ensure_namespace(
        self, namespace: str, labels: Mapping[str, str] | None = None
    ) -> None:
        obj = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": dict(labels or {})},
        }
        await self.request("POST", "/api/v1/namespaces", obj, ok=(200, 201, 409))

    async def add_node(
        self,
        name: str,
        *,
        instance_id: str | None,
        ready: str = "True",
        labels: Mapping[str, str] | None = None,
        taints: Iterable[Mapping[str, str]] = (),
        provider_id: str | None = None,
        ip: str | None = None,
    ) -> None:
        """A node as a kubelet registers it; ``provider_id`` overrides the AWS form."""
        pid = provider_id
        if pid is None and instance_id is not None:
            pid = f"aws:///{self.zone}/{instance_id}"
        node_labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "topology.kubernetes.io/zone": self.zone,
            "node.kubernetes.io/instance-type": "m5.large",
            **dict(labels or {}),
        }
        spec: dict[str, Any] = {"taints": [dict(t) for t in taints]}
        if pid is not None:
            spec["providerID"] = pid
        obj = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": node_labels},
            "spec": spec,
        }
        await self._create_or_replace("/api/v1/nodes", name, obj)
        await self._node_status(name, ready, ip or next(self._ips))
        self._nodes[name] = obj
        self._node_cycle = None

    async def _node_status(self, name: str, ready: str, ip: str) -> None:
        status = {
            "conditions": [
                {
                    "type": "Ready",
                    "status": ready,
                    "reason": "KubeletReady" if ready == "True" else "KubeletNotReady",
                    "lastHeartbeatTime": _now(),
                    "lastTransitionTime": _now(),
                }
            ],
            "addresses": [{"type": "InternalIP", "address": ip}],
        }
        await self.request(
            "PATCH", f"/api/v1/nodes/{name}/status", {"status": status}, content_type=_MERGE
        )

    async def set_node_ready(self, name: str, ready: str) -> None:
        node = await self.request("GET", f"/api/v1/nodes/{name}")
        addresses = node.get("status", {}).get("addresses") or [{"address": next(self._ips)}]
        await self._node_status(name, ready, addresses[0]["address"])

    async def patch_node(self, name: str, patch: Mapping[str, Any]) -> None:
        await self.request("PATCH", f"/api/v1/nodes/{name}", dict(patch), content_type=_MERGE)

    async def delete_node(self, name: str) -> None:
        await self.request("DELETE", f"/api/v1/nodes/{name}", ok=(200, 202, 404))
        self._nodes.pop(name, None)
        self._node_cycle = None

    # -- services -----------------------------------------------------------------------------

    async def apply_service(
        self,
        namespace: str,
        name: str,
        *,
        ports: Sequence[Mapping[str, Any]],
        selector: Mapping[str, str],
        type_: str = "ClusterIP",
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        """Create or replace a Service and recompute its EndpointSlices."""
        obj = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "annotations": dict(annotations or {}),
            },
            "spec": {"type": type_, "selector": dict(selector), "ports": [dict(p) for p in ports]},
        }
        await self._create_or_replace(f"/api/v1/namespaces/{namespace}/services", name, obj)
        self._services[(namespace, name)] = _Service(
            namespace, name, dict(selector), [dict(p) for p in ports]
        )
        await self.sync_endpoint_slices(namespace, name)

    async def delete_service(self, namespace: str, name: str) -> None:
        await self.request(
            "DELETE", f"/api/v1/namespaces/{namespace}/services/{name}", ok=(200, 202, 404)
        )
        svc = self._services.pop((namespace, name), None)
        if svc is not None:
            await self._write_slices(svc, [])

    # -- pods ---------------------------------------------------------------------------------

    def _next_node(self) -> str:
        if not self._nodes:
            raise RuntimeError(f"lab cluster {self.name!r} has no nodes to schedule pods on")
        if self._node_cycle is None:
            self._node_cycle = itertools.cycle(sorted(self._nodes))
        return next(self._node_cycle)

    async def deploy(
        self,
        namespace: str,
        app: str,
        replicas: int,
        *,
        container_port: int = 8080,
        port_name: str | None = None,
        readiness_gates: Sequence[str] = (),
        quic: bool = False,
    ) -> list[str]:
        """Create (or resize) a Deployment-like set of pods labelled ``app=<app>``.

        With ``quic``, every pod carries a QUIC server id the way LBC's injector writes it:
        the annotation ``service.beta.kubernetes.io/aws-load-balancer-quic-enabled-containers``
        and, in the container, ``AWS_LBC_QUIC_SERVER_ID`` (8 random bytes, base64).
        """
        key = (namespace, app)
        if key not in self._apps:
            self._apps[key] = _App(
                namespace, app, container_port, port_name, tuple(readiness_gates), quic=quic
            )
        await self.scale(namespace, app, replicas)
        return list(self._apps[key].pods)

    async def scale(self, namespace: str, app: str, replicas: int) -> None:
        spec = self._apps[(namespace, app)]
        while len(spec.pods) < replicas:
            spec.pods.append(await self._create_pod(spec))
        while len(spec.pods) > replicas:
            await self._remove_pod(namespace, spec.pods.pop())
        await self.sync_endpoint_slices(namespace)

    async def rolling_restart(self, namespace: str, app: str, *, surge: int = 1) -> None:
        """Replace every pod of ``app``: ``surge`` new pods at a time, then the old ones go."""
        spec = self._apps[(namespace, app)]
        old = list(spec.pods)
        for start in range(0, len(old), surge):
            batch = old[start : start + surge]
            for _ in batch:
                spec.pods.append(await self._create_pod(spec))
            await self.sync_endpoint_slices(namespace)
            for name in batch:
                spec.pods.remove(name)
                await self._remove_pod(namespace, name)
            await self.sync_endpoint_slices(namespace)

    def pod_names(self, namespace: str, app: str) -> list[str]:
        return list(self._apps[(namespace, app)].pods)

    def pod_ip(self, namespace: str, name: str) -> str:
        return self._pods[(namespace, name)].ip

    def pod_server_id(self, namespace: str, name: str) -> str:
        """The pod's QUIC server id in ELBv2's form (``""`` unless its app is QUIC)."""
        return self._pods[(namespace, name)].server_id

    async def _create_pod(self, app: _App) -> str:
        name = f"{app.name}-{secrets.token_hex(3)}"
        node = self._next_node()
        ip = next(self._ips)
        port: dict[str, Any] = {"containerPort": app.container_port, "protocol": "TCP"}
        if app.port_name:
            port["name"] = app.port_name
        container: dict[str, Any] = {"name": app.name, "image": "echoserver:lab", "ports": [port]}
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": app.namespace,
            "labels": {"app": app.name},
        }
        server_id = ""
        if app.quic:
            raw_id = secrets.token_bytes(8)
            server_id = "0x" + raw_id.hex()
            container["env"] = [
                {"name": "AWS_LBC_QUIC_SERVER_ID", "value": base64.b64encode(raw_id).decode()}
            ]
            metadata["annotations"] = {QUIC_ENABLED_ANNOTATION: app.name}
        obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": {
                "nodeName": node,
                "containers": [container],
                "readinessGates": [{"conditionType": g} for g in app.gates],
            },
        }
        created = await self.request("POST", f"/api/v1/namespaces/{app.namespace}/pods", obj)
        # Admission may have added gates (lbc's readiness-gate webhook): the kubelet folds the
        # stored pod's gates into Ready, not the ones the workload asked for.
        stored_gates = tuple(
            g["conditionType"]
            for g in created.get("spec", {}).get("readinessGates") or ()
            if g.get("conditionType")
        )
        pod = _Pod(
            app.namespace, name, app.name, ip, node, app.container_port, app.port_name, stored_gates
        )
        pod.uid = created["metadata"].get("uid", "")
        pod.server_id = server_id
        self._pods[(app.namespace, name)] = pod
        await self._write_pod_status(pod, gate_status={})
        return name

    async def _remove_pod(self, namespace: str, name: str) -> None:
        self._pods.pop((namespace, name), None)
        await self.request(
            "DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", ok=(200, 202, 404)
        )

    async def delete_pod(self, namespace: str, name: str) -> None:
        """A pod that dies (its app does not replace it until :meth:`scale`)."""
        pod = self._pods.get((namespace, name))
        if pod is not None:
            self._apps[(namespace, pod.app)].pods.remove(name)
        await self._remove_pod(namespace, name)
        await self.sync_endpoint_slices(namespace)

    async def set_containers_ready(self, namespace: str, name: str, ready: bool) -> None:
        pod = self._pods[(namespace, name)]
        pod.containers_ready = ready
        await self._refresh_pod(pod)
        await self.sync_endpoint_slices(namespace)

    # -- network partitions -------------------------------------------------------------------

    def _pods_on(self, node: str) -> list[_Pod]:
        return [p for p in self._pods.values() if p.node == node]

    async def partition_node(self, name: str) -> None:
        """The node stops reporting, as in a network partition: its ``Ready`` turns Unknown and
        the node lifecycle controller marks its pods not Ready. ``ContainersReady`` keeps the
        last value the kubelet reported, as in a real cluster."""
        await self.set_node_ready(name, "Unknown")
        for pod in self._pods_on(name):
            pod.unreachable = True
            await self._refresh_pod(pod)
        for ns in {p.namespace for p in self._pods_on(name)}:
            await self.sync_endpoint_slices(ns)

    async def evict_node_pods(self, name: str) -> list[str]:
        """Taint-based eviction of an unreachable node's pods: each is deleted, but stays with a
        ``deletionTimestamp`` because its kubelet cannot confirm, so its endpoints turn
        terminating. The pods leave their app (a ReplicaSet no longer counts them)."""
        evicted = []
        for pod in self._pods_on(name):
            if pod.terminating:
                continue
            path = f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}"
            await self.request(
                "PATCH",
                path,
                {"metadata": {"finalizers": [KUBELET_FINALIZER]}},
                content_type=_MERGE,
            )
            await self.request("DELETE", path, ok=(200, 202))
            pod.terminating = True
            app = self._apps.get((pod.namespace, pod.app))
            if app is not None and pod.name in app.pods:
                app.pods.remove(pod.name)
            evicted.append(pod.name)
        for ns in {p.namespace for p in self._pods_on(name)}:
            await self.sync_endpoint_slices(ns)
        return evicted

    async def heal_node(self, name: str) -> None:
        """The partition ends: the node reports Ready again and its kubelet completes the
        deletions it missed (the evicted pods go away); the other pods report as before."""
        await self.set_node_ready(name, "True")
        namespaces = {p.namespace for p in self._pods_on(name)}
        for pod in self._pods_on(name):
            if pod.terminating:
                path = f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}"
                await self.request(
                    "PATCH", path, {"metadata": {"finalizers": None}}, content_type=_MERGE
                )
                self._pods.pop((pod.namespace, pod.name), None)
            else:
                pod.unreachable = False
                await self._refresh_pod(pod)
        for ns in namespaces:
            await self.sync_endpoint_slices(ns)

    async def _refresh_pod(self, pod: _Pod) -> bool:
        current = await self.request(
            "GET", f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}", ok=(200, 404)
        )
        if current is None or current.get("kind") == "Status":
            return False
        gates = {
            c["type"]: c.get("status")
            for c in current.get("status", {}).get("conditions", [])
            if c.get("type") in pod.gates
        }
        before = pod.ready
        await self._write_pod_status(pod, gate_status=gates)
        return before != pod.ready

    async def kubelet_pass(self, namespace: str | None = None) -> bool:
        """Re-evaluate every pod's ``Ready`` from its gates (after lbc patched them).

        Returns True when any pod's readiness changed (slices were then recomputed).
        """
        changed = False
        for pod in list(self._pods.values()):
            if (namespace is None or pod.namespace == namespace) and pod.gates:
                changed |= await self._refresh_pod(pod)
        if changed:
            for ns in {p.namespace for p in self._pods.values()}:
                await self.sync_endpoint_slices(ns)
        return changed

    async def _write_pod_status(self, pod: _Pod, gate_status: Mapping[str, Any]) -> None:
        now = _now()
        gates_true = all(gate_status.get(g) == "True" for g in pod.gates)
        pod.ready = pod.containers_ready and gates_true and not pod.unreachable
        cond = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {
                "type": "ContainersReady",
                "status": "True" if pod.containers_ready else "False",
                "lastTransitionTime": now,
            },
            {
                "type": "Ready",
                "status": "True" if pod.ready else "False",
                "lastTransitionTime": now,
            },
        ]
        # Strategic merge by condition type keeps the gate conditions other writers (lbc) own.
        status = {
            "phase": "Running",
            "podIP": pod.ip,
            "podIPs": [{"ip": pod.ip}],
            "hostIP": self._node_ip(pod.node),
            "conditions": cond,
        }
        await self.request(
            "PATCH",
            f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}/status",
            {"status": status},
            content_type="application/strategic-merge-patch+json",
        )

    def _node_ip(self, node: str) -> str:
        del node  # host IPs are not read by lbc; any stable address will do
        return "10.0.0.1"

    # -- EndpointSlices -------------------------------------------------------------------------

    async def sync_endpoint_slices(self, namespace: str, service: str | None = None) -> None:
        """Recompute the slices of one Service, or of every Service of the namespace."""
        for (ns, name), svc in list(self._services.items()):
            if ns == namespace and (service is None or name == service):
                pods = [
                    p
                    for p in self._pods.values()
                    if p.namespace == ns and svc.selector and svc.selector.get("app") == p.app
                ]
                await self._write_slices(svc, pods)

    async def _write_slices(self, svc: _Service, pods: list[_Pod]) -> None:
        pods = sorted(pods, key=lambda p: p.name)
        chunks = [pods[i : i + SLICE_CAPACITY] for i in range(0, len(pods), SLICE_CAPACITY)]
        base = f"/apis/discovery.k8s.io/v1/namespaces/{svc.namespace}/endpointslices"
        wanted = {f"{svc.name}-{i:05d}" for i in range(len(chunks))}
        for i, chunk in enumerate(chunks):
            name = f"{svc.name}-{i:05d}"
            await self._create_or_replace(base, name, self._slice(svc, name, chunk))
        existing = await self.request(
            "GET", f"{base}?labelSelector=kubernetes.io/service-name%3D{svc.name}"
        )
        for item in existing.get("items", []):
            if item["metadata"]["name"] not in wanted:
                await self.request(
                    "DELETE", f"{base}/{item['metadata']['name']}", ok=(200, 202, 404)
                )

    def _slice(self, svc: _Service, name: str, pods: list[_Pod]) -> dict[str, Any]:
        ports = []
        for sp in svc.ports:
            target = sp.get("targetPort", sp.get("port"))
            number = None
            if isinstance(target, int):
                number = target
            else:
                number = next((p.container_port for p in pods if p.port_name == target), None)
            if number is None:
                continue
            ports.append(
                {"name": sp.get("name", ""), "port": number, "protocol": sp.get("protocol", "TCP")}
            )
        endpoints = [
            {
                "addresses": [p.ip],
                "conditions": {
                    "ready": p.ready and not p.terminating,
                    "serving": p.ready,
                    "terminating": p.terminating,
                },
                "nodeName": p.node,
                "zone": self.zone,
                "targetRef": {
                    "kind": "Pod",
                    "namespace": p.namespace,
                    "name": p.name,
                    "uid": p.uid,
                },
            }
            for p in pods
        ]
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": name,
                "namespace": svc.namespace,
                "labels": {
                    "kubernetes.io/service-name": svc.name,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                },
            },
            "addressType": "IPv4",
            "ports": ports,
            "endpoints": endpoints,
        }
