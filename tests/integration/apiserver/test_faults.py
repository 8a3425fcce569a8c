"""Fault injection, in process and over /_lab HTTP for servers in another process."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from lbc_lab.apiserver import LabApiServer


async def test_fail_next_requests_of_a_verb_and_resource(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    lab_apiserver.faults.fail("list", "configmaps", code=503, count=2)
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            await core.list_namespaced_config_map("default")
        assert info.value.status == 503
        assert info.value.headers["Retry-After"] == "1"
    await core.list_namespaced_pod("default")
    await core.list_namespaced_config_map("default")
    assert lab_apiserver.faults.requests[("list", "configmaps")] == 3


async def test_failure_rules_match_group_qualified_resources(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    leases = client.CoordinationV1Api(kube_api_client)
    lab_apiserver.faults.fail("create", "leases.coordination.k8s.io", code=409)
    with pytest.raises(ApiException) as info:
        await leases.create_namespaced_lease("default", {"metadata": {"name": "l"}})
    assert info.value.status == 409
    await leases.create_namespaced_lease("default", {"metadata": {"name": "l"}})


async def test_latency_delays_matching_requests(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    lab_apiserver.faults.add_latency(30, "get", "configmaps")
    lab_apiserver.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}
    )
    await core.list_namespaced_config_map("default", _request_timeout=5)  # not a get
    # A delayed get outlasts any deadline short of its 30 s; cleared, it answers at once.
    with pytest.raises(TimeoutError):
        await core.read_namespaced_config_map("c", "default", _request_timeout=0.5)
    lab_apiserver.faults.clear()
    found = await core.read_namespaced_config_map("c", "default", _request_timeout=5)
    assert found.metadata.name == "c"


async def test_close_watches_ends_every_open_stream(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    ended = asyncio.Event()
    opened = asyncio.Event()
    lab_apiserver.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}
    )

    async def consume() -> None:
        async with watch.Watch().stream(
            core.list_namespaced_config_map, "default", timeout_seconds=60
        ) as stream:
            async for _ in stream:
                opened.set()
        ended.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await opened.wait()
        lab_apiserver.faults.close_watches()
        await ended.wait()
    await task


async def test_lab_http_endpoints_control_faults(lab_apiserver: LabApiServer) -> None:
    base = lab_apiserver.url
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/_lab/faults/fail",
            json={"verb": "get", "resource": "pods", "code": 500, "count": 1},
        ) as r:
            assert r.status == 200
        async with session.get(f"{base}/api/v1/namespaces/default/pods/x") as r:
            assert r.status == 500
            assert (await r.json())["reason"] == "InternalError"
        async with session.get(f"{base}/api/v1/namespaces/default/pods/x") as r:
            assert r.status == 404
        async with session.post(f"{base}/_lab/faults/latency", json={"seconds": 0.01}) as r:
            assert r.status == 200
        async with session.get(f"{base}/_lab/faults") as r:
            plan = await r.json()
        assert plan["latency"] == [{"verb": "*", "resource": "*", "seconds": 0.01}]
        assert {"verb": "get", "resource": "pods", "count": 2} in plan["requests"]
        async with session.delete(f"{base}/_lab/faults") as r:
            assert r.status == 200
        lab_apiserver.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "default"},
            }
        )
        old = lab_apiserver.store.rv - 1
        async with session.post(f"{base}/_lab/faults/expire-history") as r:
            assert r.status == 200
        assert lab_apiserver.store.events_after(old) is None
        async with session.post(f"{base}/_lab/faults/fail", json={"verb": "frobnicate"}) as r:
            assert r.status == 400
        async with session.post(f"{base}/_lab/reset") as r:
            assert r.status == 200
        assert lab_apiserver.get("v1", "ConfigMap", "c", "default") is None
