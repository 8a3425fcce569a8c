"""Watch-driven workload controllers for a lab cluster: Deployments, the kubelet, EndpointSlices.

The lab API server only stores objects. :class:`WorkloadControllers` plays the parts of a real
cluster's control plane that lbc depends on, against a lab API server in another process and
through its HTTP interface only, so whatever a user applies with kubectl gets what a cluster
would give it:

- Deployments get pods (scheduled on Ready nodes, fewest pods first), and a status kubectl's
  ``rollout status`` and ``wait`` understand; a pod of an older template is replaced;
- pods get the kubelet's status: Running, an IP of the cluster's pod CIDR, the node's IP as host
  IP, ``Ready`` folded from the readiness gates (re-evaluated when lbc patches a gate);
- pods bound to a node that no longer exists, or owned by a Deployment that no longer exists,
  are deleted (the pod and garbage collectors);
- Services with a selector get EndpointSlices; slices of removed Services are deleted.

Rules (what to write) live in :mod:`lbc_lab.controller_rules`; this module decides when. Each
watched kind (nodes, pods, Services, Deployments) only marks the cluster dirty; one pass then
lists everything and converges it (level-triggered, as controllers are). A pass writes only what
differs, so a converged cluster stays quiet: the watch events of a pass's own writes lead to one
more pass that writes nothing. Failed passes are retried with a capped backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from lbc.backoff import Backoff, BackoffPolicy

from lbc_lab import controller_rules as rules
from lbc_lab.apiserver.authz import ADMIN_TOKEN

Obj = dict[str, Any]
_LOG = logging.getLogger("lbc_lab.controllers")
_MERGE = "application/merge-patch+json"
_STRATEGIC = "application/strategic-merge-patch+json"

WATCHED = {
    "nodes": "/api/v1/nodes",
    "pods": "/api/v1/pods",
    "services": "/api/v1/services",
    "deployments": "/apis/apps/v1/deployments",
}
SLICES = "/apis/discovery.k8s.io/v1/endpointslices"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ControllerApiError(Exception):
    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:300].decode(errors='replace')}")
        self.status = status


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _ns(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace", ""))


def _node_ready(node: Mapping[str, Any]) -> bool:
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    conds = (node.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _node_ip(node: Mapping[str, Any]) -> str:
    for address in (node.get("status") or {}).get("addresses") or ():
        if address.get("type") == "InternalIP":
            return str(address.get("address", ""))
    return ""


class WorkloadControllers:
    """The workload controllers of one lab cluster; run them with ``async with``.

    ``passes`` and ``writes`` count what the controllers did (tests assert a converged cluster
    stays quiet); ``converged`` is set after a pass that wrote nothing.
    """

    def __init__(
        self,
        base_url: str,
        *,
        name: str = "lab",
        pod_cidr: str = "10.0.128.0/17",
        token: str = ADMIN_TOKEN,
        backoff_max: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.pod_net = ipaddress.ip_network(pod_cidr)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._backoff_max = backoff_max
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dirty = asyncio.Event()
        self.converged = asyncio.Event()
        self.passes = 0
        self.writes = 0
        self.last_error: str | None = None

    async def __aenter__(self) -> WorkloadControllers:
        self._session = aiohttp.ClientSession(
            headers=self._headers, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
        )
        for kind, path in WATCHED.items():
            self._tasks.append(asyncio.create_task(self._watch(path), name=f"watch-{kind}"))
        self._tasks.append(asyncio.create_task(self._run(), name=f"controllers-{self.name}"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def poke(self) -> None:
        """Ask for a pass (a watch event, or a caller who changed something)."""
        self.converged.clear()
        self._dirty.set()

    # -- HTTP ---------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        ok: Sequence[int] = (200, 201),
    ) -> Any:
        if self._session is None:
            raise RuntimeError("WorkloadControllers used outside its `async with` block")
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else {}
        timeout = aiohttp.ClientTimeout(total=30)
        async with self._session.request(
            method, self.base_url + path, data=data, headers=headers, timeout=timeout
        ) as resp:
            text = await resp.read()
            if resp.status not in ok:
                raise ControllerApiError(method, path, resp.status, text)
            if method != "GET":
                self.writes += 1
            return orjson.loads(text) if text else None

    async def _list(self, path: str) -> list[Obj]:
        listed = await self._call("GET", path)
        items: list[Obj] = listed.get("items") or []
        return items

    # -- watches ------------------------------------------------------------------------------

    async def _watch(self, path: str) -> None:
        """Mark the cluster dirty on every change of one kind; re-list after any break."""
        backoff = Backoff(BackoffPolicy(0.1, self._backoff_max))
        while True:
            try:
                listed = await self._call("GET", path)
                version = listed["metadata"]["resourceVersion"]
                self.poke()
                await self._stream(path, version)
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError, ControllerApiError) as exc:
                _LOG.debug("watch %s broke: %s", path, exc)
                await asyncio.sleep(backoff.delay(asyncio.get_running_loop().time()))

    async def _stream(self, path: str, version: str) -> None:
        if self._session is None:
            raise RuntimeError("WorkloadControllers used outside its `async with` block")
        params = {
            "watch": "true",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "600",
        }
        async with self._session.get(self.base_url + path, params=params) as resp:
            if resp.status != 200:
                raise ControllerApiError("WATCH", path, resp.status, await resp.read())
            async for line in resp.content:
                if not line.strip():
                    continue
                event = orjson.loads(line)
                kind = event.get("type")
                if kind == "ERROR":
                    return  # e.g. 410 Gone: re-list
                if kind != "BOOKMARK":
                    self.poke()

    # -- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = Backoff(BackoffPolicy(0.1, self._backoff_max))
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                wrote = await self.sync()
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError, ControllerApiError) as exc:
                self.last_error = str(exc)
                _LOG.warning("lab cluster %s: controller pass failed: %s", self.name, exc)
                await asyncio.sleep(backoff.delay(asyncio.get_running_loop().time()))
                self._dirty.set()
                continue
            backoff.reset()
            self.last_error = None
            if not wrote and not self._dirty.is_set():
                self.converged.set()

    async def sync(self) -> bool:
        """One pass over the whole cluster; True when it wrote anything."""
        self.passes += 1
        before = self.writes
        nodes = {_name(n): n for n in await self._list(WATCHED["nodes"])}
        deployments = await self._list(WATCHED["deployments"])
        pods = {(_ns(p), _name(p)): p for p in await self._list(WATCHED["pods"])}
        await self._collect_garbage(pods, nodes, deployments)
        for deployment in deployments:
            await self._scale(deployment, pods, nodes)
        await self._kubelet(pods, nodes)
        for deployment in deployments:
            await self._deployment_status(deployment, pods.values())
        await self._endpoint_slices(await self._list(WATCHED["services"]), pods.values())
        return self.writes != before

    # -- garbage collection, Deployments --------------------------------------------------------

    async def _delete_pod(self, pods: dict[tuple[str, str], Obj], key: tuple[str, str]) -> None:
        namespace, name = key
        await self._call(
            "DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", ok=(200, 202, 404)
        )
        pods.pop(key, None)

    async def _collect_garbage(
        self, pods: dict[tuple[str, str], Obj], nodes: Mapping[str, Obj], deployments: list[Obj]
    ) -> None:
        live = {(d.get("metadata") or {}).get("uid") for d in deployments}
        for key, pod in list(pods.items()):
            node = (pod.get("spec") or {}).get("nodeName")
            orphaned = any(uid not in live for uid in rules.owner_uids(pod, "Deployment"))
            if (node and node not in nodes) or orphaned:
                await self._delete_pod(pods, key)

    def _pick_node(self, pods: Mapping[tuple[str, str], Obj], nodes: Mapping[str, Obj]) -> str:
        ready = sorted(n for n, obj in nodes.items() if _node_ready(obj))
        if not ready:
            return ""
        load = dict.fromkeys(ready, 0)
        for pod in pods.values():
            node = (pod.get("spec") or {}).get("nodeName")
            if node in load:
                load[node] += 1
        return min(ready, key=lambda n: (load[n], n))

    async def _scale(
        self, deployment: Obj, pods: dict[tuple[str, str], Obj], nodes: Mapping[str, Obj]
    ) -> None:
        selector = rules.deployment_selector(deployment)
        if selector is None:
            return
        namespace, name = _ns(deployment), _name(deployment)
        template = (deployment.get("spec") or {}).get("template") or {}
        current = rules.template_hash(template)
        owned = sorted(
            (
                (key, pod)
                for key, pod in pods.items()
                if rules.owned_by(pod, deployment) and not rules.is_terminating(pod)
            ),
            key=lambda kv: kv[0],
        )
        for key, pod in owned:
            if rules.labels_of(pod).get(rules.TEMPLATE_HASH_LABEL) != current:
                await self._delete_pod(pods, key)
        owned = [(k, p) for k, p in owned if k in pods]
        want = rules.wanted_replicas(deployment)
        for key, _pod in owned[want:]:
            await self._delete_pod(pods, key)
        for _ in range(want - len(owned)):
            node = self._pick_node(pods, nodes)
            if not node:
                return  # nothing schedulable: the pods wait for a Ready node
            pod_name = f"{name}-{current}-{secrets.token_hex(3)[:5]}"
            body = rules.pod_from_template(deployment, pod_name, node)
            if not selector.matches(rules.labels_of(body)):
                return  # a template its own selector does not select: a real API server rejects
            created = await self._call("POST", f"/api/v1/namespaces/{namespace}/pods", body)
            pods[(namespace, pod_name)] = created

    async def _deployment_status(self, deployment: Obj, pods: Any) -> None:
        owned = [p for p in pods if rules.owned_by(p, deployment) and not rules.is_terminating(p)]
        wanted = rules.deployment_status(deployment, owned)
        if not rules.status_differs(deployment.get("status") or {}, wanted):
            return
        path = f"/apis/apps/v1/namespaces/{_ns(deployment)}/deployments/{_name(deployment)}/status"
        await self._call("PATCH", path, {"status": wanted}, content_type=_MERGE, ok=(200, 404))

    # -- the kubelet ----------------------------------------------------------------------------

    def _pod_ip(self, used: set[str]) -> str:
        for host in self.pod_net.hosts():
            address = str(host)
            if address not in used:
                used.add(address)
                return address
        raise RuntimeError(f"lab cluster {self.name}: pod CIDR {self.pod_net} is exhausted")

    async def _kubelet(self, pods: dict[tuple[str, str], Obj], nodes: Mapping[str, Obj]) -> None:
        used = {str((p.get("status") or {}).get("podIP")) for p in pods.values()}
        for key in sorted(pods):
            pod = pods[key]
            if rules.is_terminating(pod):
                continue
            namespace, name = key
            node = (pod.get("spec") or {}).get("nodeName")
            if not node:
                node = self._pick_node(pods, nodes)
                if not node:
                    continue
                pod = await self._call(
                    "PATCH",
                    f"/api/v1/namespaces/{namespace}/pods/{name}",
                    {"spec": {"nodeName": node}},
                    content_type=_MERGE,
                )
                pods[key] = pod
            if node not in nodes:
                continue
            ip = (pod.get("status") or {}).get("podIP") or self._pod_ip(used)
            patch = rules.kubelet_status(pod, ip, _node_ip(nodes[node]), _now())
            if patch is None:
                continue
            updated = await self._call(
                "PATCH",
                f"/api/v1/namespaces/{namespace}/pods/{name}/status",
                {"status": patch},
                content_type=_STRATEGIC,
                ok=(200, 404),
            )
            if updated and updated.get("kind") == "Pod":
                pods[key] = updated

    # -- EndpointSlices -------------------------------------------------------------------------

    async def _endpoint_slices(self, services: list[Obj], pods: Any) -> None:
        pod_list = list(pods)
        selector = f"{rules.MANAGED_BY_LABEL}={rules.MANAGED_BY}"
        existing = {
            (_ns(s), _name(s)): s for s in await self._list(f"{SLICES}?labelSelector={selector}")
        }
        wanted: dict[tuple[str, str], Obj] = {}
        for service in services:
            for piece in rules.endpoint_slices(service, pod_list):
                wanted[(_ns(piece), _name(piece))] = piece
        for key, piece in sorted(wanted.items()):
            namespace, name = key
            base = f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
            old = existing.get(key)
            if old is None:
                await self._call("POST", base, piece)
            elif rules.slice_differs(old, piece):
                piece["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
                await self._call("PUT", f"{base}/{name}", piece)
        for key in sorted(set(existing) - set(wanted)):
            namespace, name = key
            await self._call(
                "DELETE",
                f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{name}",
                ok=(200, 202, 404),
            )
