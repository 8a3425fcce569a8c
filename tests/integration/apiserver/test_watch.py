"""Watch semantics through kubernetes_asyncio and raw HTTP: resume, 410, bookmarks, selectors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from lbc_lab.apiserver import LabApiServer

HEADERS = {"Authorization": "Bearer lbc-lab-admin"}


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


async def raw_watch(
    api: LabApiServer,
    params: dict[str, str],
    *,
    until: int,
    path: str = "/api/v1/namespaces/default/configmaps",
    deadline: float = 5.0,
) -> list[dict[str, Any]]:
    """Read watch events from the raw stream until ``until`` arrived or the stream ended."""
    events: list[dict[str, Any]] = []
    timeout = aiohttp.ClientTimeout(total=deadline)
    async with (
        aiohttp.ClientSession(timeout=timeout, headers=HEADERS) as session,
        session.get(api.url + path, params=params) as response,
    ):
        assert response.status == 200
        async for line in response.content:
            if line.strip():
                events.append(orjson.loads(line))
            if len(events) >= until:
                break
    return events


class Seen:
    """Watch events collected so far; ``wait_for`` wakes on each new one (no polling)."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._grew = asyncio.Condition()

    async def add(self, event: Any) -> None:
        async with self._grew:
            self.events.append(event)
            self._grew.notify_all()

    async def wait_for(self, count: int, deadline: float = 5.0) -> None:
        async with asyncio.timeout(deadline), self._grew:
            await self._grew.wait_for(lambda: len(summary(self.events)) >= count)


@asynccontextmanager
async def events_of(api_client: client.ApiClient, **kwargs: Any) -> AsyncIterator[Seen]:
    """Collect kubernetes_asyncio watch events on configmaps in a background task."""
    core = client.CoreV1Api(api_client)
    seen = Seen()

    async def consume() -> None:
        async with watch.Watch().stream(
            core.list_namespaced_config_map, "default", **kwargs
        ) as stream:
            async for event in stream:
                await seen.add(event)

    task = asyncio.create_task(consume())
    try:
        yield seen
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def drain(api_client: client.ApiClient, **kwargs: Any) -> None:
    core = client.CoreV1Api(api_client)
    async with watch.Watch().stream(core.list_namespaced_config_map, "default", **kwargs) as s:
        async for _ in s:
            pass


def summary(events: list[Any]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"].metadata.name) for e in events if e["type"] != "BOOKMARK"]


async def test_watch_from_a_resource_version_sees_only_later_changes(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    lab_apiserver.create(cm("before"))
    rv = lab_apiserver.store.rv
    lab_apiserver.create(cm("after"))
    async with events_of(kube_api_client, resource_version=str(rv), timeout_seconds=5) as seen:
        await seen.wait_for(1)
        core = client.CoreV1Api(kube_api_client)
        await core.patch_namespaced_config_map("after", "default", {"data": {"k": "v"}})
        await core.delete_namespaced_config_map("before", "default")
        await seen.wait_for(3)
    assert summary(seen.events) == [
        ("ADDED", "after"),
        ("MODIFIED", "after"),
        ("DELETED", "before"),
    ]


@pytest.mark.parametrize("start", [None, "0"])
async def test_watch_without_a_version_starts_with_the_current_state(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient, start: str | None
) -> None:
    lab_apiserver.create(cm("a"))
    lab_apiserver.create(cm("b"))
    kwargs: dict[str, Any] = {"timeout_seconds": 5}
    if start is not None:
        kwargs["resource_version"] = start
    async with events_of(kube_api_client, **kwargs) as seen:
        await seen.wait_for(2)
        lab_apiserver.create(cm("c"))
        await seen.wait_for(3)
    assert summary(seen.events) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]


async def test_watch_older_than_the_history_gets_410_expired_status(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    lab_apiserver.create(cm("a"))
    old = lab_apiserver.store.rv - 1
    lab_apiserver.faults.expire_history()
    events = await raw_watch(
        lab_apiserver,
        {"watch": "true", "resourceVersion": str(old)},
        until=1,
    )
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["kind"] == "Status"
    assert (status["code"], status["reason"], status["status"]) == (410, "Expired", "Failure")
    assert status["message"].startswith(f"too old resource version: {old} (")
    with pytest.raises(ApiException) as info:
        await drain(kube_api_client, resource_version=str(old), timeout_seconds=2)
    assert info.value.status == 410


async def test_bounded_history_expires_old_versions() -> None:
    async with LabApiServer.running(history_size=100) as api:
        start = api.store.rv
        for i in range(400):
            api.create(cm(f"c{i}"))
        events = await raw_watch(
            api,
            {"watch": "1", "resourceVersion": str(start)},
            until=1,
        )
        assert events[0]["object"]["code"] == 410
        recent = api.store.rv - 50
        events = await raw_watch(
            api,
            {"watch": "1", "resourceVersion": str(recent), "timeoutSeconds": "1"},
            until=50,
        )
        assert [e["type"] for e in events] == ["ADDED"] * 50


async def test_bookmarks_arrive_periodically_and_before_the_timeout() -> None:
    async with LabApiServer.running(bookmark_interval=0.2) as api:
        api.create(cm("a"))
        rv = api.store.rv
        # The client's deadline (3 s) outlasts timeoutSeconds (1 s): the server must end it.
        events = await raw_watch(
            api,
            {
                "watch": "true",
                "resourceVersion": str(rv),
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "1",
            },
            until=1000,
            deadline=3.0,
        )
    kinds = [e["type"] for e in events]
    assert set(kinds) == {"BOOKMARK"}
    # One every 0.2 s: the stream lasted most of its second, it did not end early.
    assert len(kinds) >= 3, "bookmarks were not periodic"
    last = events[-1]["object"]
    assert last["kind"] == "ConfigMap"
    assert last["metadata"]["resourceVersion"] == str(rv)


async def test_no_bookmarks_unless_allowed() -> None:
    async with LabApiServer.running(bookmark_interval=0.1) as api:
        events = await raw_watch(
            api,
            {"watch": "true", "resourceVersion": str(api.store.rv), "timeoutSeconds": "1"},
            until=1000,
        )
    assert events == []


@pytest.mark.parametrize("flag", ["true", "1", "True"])
async def test_watch_flag_spellings_all_open_a_stream(
    lab_apiserver: LabApiServer, flag: str
) -> None:
    lab_apiserver.create(cm("a"))
    events = await raw_watch(
        lab_apiserver,
        {"watch": flag, "timeoutSeconds": "1"},
        until=1,
    )
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["metadata"]["name"] == "a"


async def test_an_object_leaving_the_selector_is_seen_as_deleted(
    lab_apiserver: LabApiServer, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    lab_apiserver.create(cm("x", labels={"app": "web"}))
    lab_apiserver.create(cm("other", labels={"app": "db"}))
    rv = str(lab_apiserver.store.rv)
    async with events_of(
        kube_api_client, resource_version=rv, label_selector="app=web", timeout_seconds=5
    ) as seen:
        await core.patch_namespaced_config_map(
            "x", "default", {"metadata": {"labels": {"app": "db"}}}
        )
        await core.patch_namespaced_config_map("other", "default", {"data": {"k": "v"}})
        await core.patch_namespaced_config_map(
            "other", "default", {"metadata": {"labels": {"app": "web"}}}
        )
        await seen.wait_for(2)
    assert summary(seen.events) == [("DELETED", "x"), ("ADDED", "other")]
    assert seen.events[0]["object"].metadata.labels == {"app": "db"}


async def test_field_selector_on_name_filters_watch_events(lab_apiserver: LabApiServer) -> None:
    lab_apiserver.create(cm("a"))
    lab_apiserver.create(cm("b"))
    events = await raw_watch(
        lab_apiserver,
        {"watch": "true", "fieldSelector": "metadata.name=b", "timeoutSeconds": "1"},
        until=100,
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b")]


async def test_watch_only_sees_its_namespace(lab_apiserver: LabApiServer) -> None:
    lab_apiserver.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    start = lab_apiserver.store.rv
    lab_apiserver.create(
        {**cm("elsewhere"), "metadata": {"name": "elsewhere", "namespace": "other"}}
    )
    lab_apiserver.create(cm("here"))
    events = await raw_watch(
        lab_apiserver,
        {"watch": "true", "resourceVersion": str(start), "timeoutSeconds": "1"},
        until=100,
    )
    assert [e["object"]["metadata"]["name"] for e in events] == ["here"]
    every = await raw_watch(
        lab_apiserver,
        {"watch": "true", "resourceVersion": str(start), "timeoutSeconds": "1"},
        until=100,
        path="/api/v1/configmaps",
    )
    assert [e["object"]["metadata"]["name"] for e in every] == ["elsewhere", "here"]


async def test_send_initial_events_ends_with_the_initial_events_end_bookmark(
    lab_apiserver: LabApiServer,
) -> None:
    lab_apiserver.create(cm("a"))
    rv = lab_apiserver.store.rv
    events = await raw_watch(
        lab_apiserver,
        {
            "watch": "true",
            "sendInitialEvents": "true",
            "allowWatchBookmarks": "true",
            "resourceVersionMatch": "NotOlderThan",
            "timeoutSeconds": "1",
        },
        until=2,
    )
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    marker = events[1]["object"]["metadata"]
    assert marker["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert marker["resourceVersion"] == str(rv)
