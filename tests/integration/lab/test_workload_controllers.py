"""The lab's workload controllers turn what a user applies into what a cluster would show.

Each test runs :class:`WorkloadControllers` against an in-process lab API server and changes the
cluster only through the API (as kubectl would), then waits for the state a real cluster's
controllers would reach: pods Running and Ready with IPs on Ready nodes, EndpointSlices,
Deployment status, pods rescheduled when their node goes.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest_asyncio

from lbc_lab.apiserver.authz import ADMIN_TOKEN
from lbc_lab.apiserver.server import LabApiServer
from lbc_lab.controllers import WorkloadControllers

POD_CIDR = "10.0.8.0/22"
GATE = "target-health.elbv2.k8s.aws/k8s-echoserv-echoserv-cc0122e143"


class Api:
    """Just enough of a REST client to act as kubectl does."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def call(
        self, method: str, path: str, body: Any = None, *, ctype: str = "application/json"
    ) -> Any:
        data = orjson.dumps(body) if body is not None else None
        async with self.session.request(
            method, self.url + path, data=data, headers={"Content-Type": ctype}
        ) as resp:
            text = await resp.read()
            assert resp.status < 300, f"{method} {path}: {resp.status} {text[:300]!r}"
            return orjson.loads(text) if text else None

    async def items(self, path: str) -> list[dict[str, Any]]:
        listed = await self.call("GET", path)
        items: list[dict[str, Any]] = listed["items"]
        return items

    async def pods(self) -> list[dict[str, Any]]:
        return await self.items("/api/v1/namespaces/echo/pods")

    async def slices(self) -> list[dict[str, Any]]:
        return await self.items("/apis/discovery.k8s.io/v1/namespaces/echo/endpointslices")


@pytest_asyncio.fixture
async def api(lab_apiserver: LabApiServer) -> AsyncIterator[Api]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        yield Api(lab_apiserver.url, session)


@pytest_asyncio.fixture
async def controllers(lab_apiserver: LabApiServer) -> AsyncIterator[WorkloadControllers]:
    async with WorkloadControllers(lab_apiserver.url, name="t", pod_cidr=POD_CIDR) as ctl:
        yield ctl


def node(name: str, ip: str, *, ready: str = "True") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {"providerID": f"aws:///us-east-1a/i-{name}"},
        "status": {
            "conditions": [{"type": "Ready", "status": ready}],
            "addresses": [{"type": "InternalIP", "address": ip}],
        },
    }


def deployment(replicas: int, *, gates: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "echo",
                "image": "echoserver:2.5",
                "ports": [{"name": "http", "containerPort": 8080}],
            }
        ]
    }
    if gates:
        spec["readinessGates"] = [{"conditionType": g} for g in gates]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "echo", "namespace": "echo"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "echo"}},
            "template": {"metadata": {"labels": {"app": "echo"}}, "spec": spec},
        },
    }


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "echo", "namespace": "echo"},
    "spec": {
        "type": "NodePort",
        "selector": {"app": "echo"},
        "ports": [{"name": "web", "port": 80, "targetPort": "http", "nodePort": 32197}],
    },
}


def ready(pod: dict[str, Any]) -> bool:
    conds = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)


@pytest_asyncio.fixture
async def cluster(lab_apiserver: LabApiServer, api: Api) -> LabApiServer:
    lab_apiserver.create(node("n1", "10.0.0.11"))
    lab_apiserver.create(node("n2", "10.0.0.12"))
    lab_apiserver.create(node("n3", "10.0.0.13", ready="False"))
    await api.call(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "echo"}},
    )
    return lab_apiserver


async def test_a_deployment_gets_ready_pods_with_ips_on_ready_nodes(
    cluster: LabApiServer, api: Api, controllers: WorkloadControllers
) -> None:
    await api.call("POST", "/apis/apps/v1/namespaces/echo/deployments", deployment(3))

    async def three_ready() -> list[dict[str, Any]] | None:
        pods = await api.pods()
        return pods if len(pods) == 3 and all(ready(p) for p in pods) else None

    pods = await cluster.wait_for(three_ready, 15.0, "three ready")
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == 3
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network(POD_CIDR) for ip in ips)
    hosts = {"n1": "10.0.0.11", "n2": "10.0.0.12"}
    for pod in pods:
        assert pod["spec"]["nodeName"] in hosts, "a NotReady node got a pod"
        assert pod["status"]["hostIP"] == hosts[pod["spec"]["nodeName"]]
        assert pod["status"]["phase"] == "Running"
        assert pod["metadata"]["labels"]["app"] == "echo"

    async def available() -> bool:
        got = await api.call("GET", "/apis/apps/v1/namespaces/echo/deployments/echo")
        status = got.get("status", {})
        return status.get("availableReplicas") == 3 and status.get("updatedReplicas") == 3

    await cluster.wait_for(available, 15.0, "available")


async def test_a_service_gets_endpoint_slices_with_its_named_port_resolved(
    cluster: LabApiServer, api: Api, controllers: WorkloadControllers
) -> None:
    await api.call("POST", "/apis/apps/v1/namespaces/echo/deployments", deployment(2))
    await api.call("POST", "/api/v1/namespaces/echo/services", SERVICE)

    async def two_ready_endpoints() -> list[dict[str, Any]] | None:
        slices = await api.slices()
        endpoints = [e for s in slices for e in s["endpoints"] or ()]
        ok = len(endpoints) == 2 and all(e["conditions"]["ready"] for e in endpoints)
        return slices if ok else None

    slices = await cluster.wait_for(two_ready_endpoints, 15.0, "two ready endpoints")
    assert len(slices) == 1
    piece = slices[0]
    assert piece["metadata"]["labels"]["kubernetes.io/service-name"] == "echo"
    assert piece["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
    pods = {p["metadata"]["name"]: p for p in await api.pods()}
    for endpoint in piece["endpoints"]:
        pod = pods[endpoint["targetRef"]["name"]]
        assert endpoint["addresses"] == [pod["status"]["podIP"]]
        assert endpoint["nodeName"] == pod["spec"]["nodeName"]

    await api.call("DELETE", "/api/v1/namespaces/echo/services/echo")

    async def no_slices() -> bool:
        return not await api.slices()

    await cluster.wait_for(no_slices, 15.0, "no slices")


async def test_pods_follow_the_replica_count_and_leave_a_deleted_node(
    cluster: LabApiServer, api: Api, controllers: WorkloadControllers
) -> None:
    await api.call("POST", "/apis/apps/v1/namespaces/echo/deployments", deployment(3))

    async def count(n: int) -> list[dict[str, Any]] | None:
        pods = await api.pods()
        return pods if len(pods) == n and all(ready(p) for p in pods) else None

    await cluster.wait_for(lambda: count(3), 15.0, "three pods")
    await api.call(
        "PATCH",
        "/apis/apps/v1/namespaces/echo/deployments/echo",
        {"spec": {"replicas": 1}},
        ctype="application/merge-patch+json",
    )
    [pod] = await cluster.wait_for(lambda: count(1), 15.0, "one pod")
    gone_node = pod["spec"]["nodeName"]
    await api.call("DELETE", f"/api/v1/nodes/{gone_node}")

    async def moved() -> dict[str, Any] | None:
        pods = await count(1)
        if pods and pods[0]["spec"]["nodeName"] != gone_node:
            return pods[0]
        return None

    replacement = await cluster.wait_for(moved, 15.0, "moved")
    assert replacement["metadata"]["name"] != pod["metadata"]["name"]

    await api.call("DELETE", "/apis/apps/v1/namespaces/echo/deployments/echo")

    async def none_left() -> bool:
        return not await api.pods()

    await cluster.wait_for(none_left, 15.0, "none left")


async def test_a_readiness_gate_holds_the_pod_and_its_endpoint_until_its_condition_is_true(
    cluster: LabApiServer, api: Api, controllers: WorkloadControllers
) -> None:
    await api.call(
        "POST", "/apis/apps/v1/namespaces/echo/deployments", deployment(1, gates=(GATE,))
    )
    await api.call("POST", "/api/v1/namespaces/echo/services", SERVICE)

    async def held() -> dict[str, Any] | None:
        pods = await api.pods()
        slices = await api.slices()
        endpoints = [e for s in slices for e in s["endpoints"] or ()]
        if len(pods) == 1 and pods[0]["status"].get("podIP") and len(endpoints) == 1:
            return pods[0]
        return None

    pod = await cluster.wait_for(held, 15.0, "held")
    await asyncio.wait_for(controllers.converged.wait(), 15)
    pod = (await api.pods())[0]
    assert not ready(pod)
    assert [e["conditions"]["ready"] for s in await api.slices() for e in s["endpoints"]] == [False]
    name = pod["metadata"]["name"]
    await api.call(
        "PATCH",
        f"/api/v1/namespaces/echo/pods/{name}/status",
        {"status": {"conditions": [{"type": GATE, "status": "True"}]}},
        ctype="application/strategic-merge-patch+json",
    )

    async def released() -> bool:
        pods = await api.pods()
        endpoints = [e for s in await api.slices() for e in s["endpoints"] or ()]
        return ready(pods[0]) and [e["conditions"]["ready"] for e in endpoints] == [True]

    await cluster.wait_for(released, 15.0, "released")
    conds = {c["type"]: c["status"] for c in (await api.pods())[0]["status"]["conditions"]}
    assert conds[GATE] == "True", "the kubelet overwrote the gate condition lbc owns"


async def test_a_converged_cluster_gets_no_more_writes(
    cluster: LabApiServer, api: Api, controllers: WorkloadControllers
) -> None:
    await api.call("POST", "/apis/apps/v1/namespaces/echo/deployments", deployment(2))
    await api.call("POST", "/api/v1/namespaces/echo/services", SERVICE)

    async def settled() -> bool:
        pods = await api.pods()
        return len(pods) == 2 and all(ready(p) for p in pods) and bool(await api.slices())

    await cluster.wait_for(settled, 15.0, "settled")
    await asyncio.wait_for(controllers.converged.wait(), 15)
    writes = controllers.writes
    assert await controllers.sync() is False
    assert controllers.writes == writes


async def test_a_service_without_pods_keeps_one_empty_slice(
    cluster: LabApiServer, api: Api, controllers: WorkloadControllers
) -> None:
    await api.call("POST", "/apis/apps/v1/namespaces/echo/deployments", deployment(0))
    await api.call("POST", "/api/v1/namespaces/echo/services", SERVICE)

    async def one_slice() -> list[dict[str, Any]] | None:
        slices = await api.slices()
        return slices if slices else None

    [piece] = await cluster.wait_for(one_slice, 15.0, "one slice")
    assert piece["endpoints"] in (None, [])


async def test_a_new_template_replaces_every_pod(
    cluster: LabApiServer, api: Api, controllers: WorkloadControllers
) -> None:
    await api.call("POST", "/apis/apps/v1/namespaces/echo/deployments", deployment(2))

    async def ready_pods(image: str) -> list[dict[str, Any]] | None:
        pods = await api.pods()
        ok = len(pods) == 2 and all(
            ready(p) and p["spec"]["containers"][0]["image"] == image for p in pods
        )
        return pods if ok else None

    before = await cluster.wait_for(
        lambda: ready_pods("echoserver:2.5"), 15.0, "ready pods of echoserver:2.5"
    )
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "echo", "image": "e:2.6"}]}}}}
    await api.call(
        "PATCH",
        "/apis/apps/v1/namespaces/echo/deployments/echo",
        patch,
        ctype="application/strategic-merge-patch+json",
    )
    after = await cluster.wait_for(lambda: ready_pods("e:2.6"), 15.0, "ready pods of e:2.6")
    assert not {p["metadata"]["name"] for p in before} & {p["metadata"]["name"] for p in after}
