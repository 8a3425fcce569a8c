"""Informers against the lab API server: no delete is missed across dropped watches and 410s."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from lbc.core.objects import PodView
from lbc.kube.client import CONFIG_MAPS, PODS, KubeClient
from lbc.kube.informer import EventHandlers, Informer
from lbc.kube.podwatch import pod_watch_event
from lbc.kube.views import pod_view
from lbc.observe.metrics import REGISTRY
from tests.integration.kube.conftest import pod

from lbc_lab.apiserver import LabApiServer
from lbc_lab.kube_fixtures import api_client_for
from lbc_lab.scenario import eventually


class Seen:
    """What the handlers were told, in order."""

    def __init__(self) -> None:
        self.added: list[str] = []
        self.updated: list[str] = []
        self.deleted: list[str] = []

    def handlers(self) -> EventHandlers[PodView]:
        return EventHandlers(
            on_add=lambda k, _v: self.added.append(k),
            on_update=lambda k, _o, _n: self.updated.append(k),
            on_delete=lambda k, _v: self.deleted.append(k),
        )


@pytest.fixture
async def start() -> AsyncIterator[Callable[[Informer[Any]], None]]:
    tasks: list[asyncio.Task[None]] = []

    def run(informer: Informer[Any]) -> None:
        tasks.append(asyncio.create_task(informer.run()))

    yield run
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def server_pods(lab: LabApiServer) -> set[str]:
    return {
        f"{o['metadata']['namespace']}/{o['metadata']['name']}"
        for o in lab.store.iter_objects("pods", None)
    }


# The daemon's pod informer decodes watch lines straight into views; the general path is what
# every other informer does. The tests of the watch's semantics run on both.
DECODERS = pytest.mark.parametrize("decode", [None, pod_watch_event], ids=["orjson", "msgspec"])


def pod_informer(kube: KubeClient, **kw: Any) -> tuple[Informer[PodView], Seen]:
    informer = Informer(kube, PODS, pod_view, rng=random.Random(5), **kw)
    seen = Seen()
    informer.add_handlers(seen.handlers())
    return informer, seen


def web_pods(lab: LabApiServer, count: int) -> None:
    for i in range(count):
        lab.create(pod(f"web-{i}", f"10.0.0.{i}"))


async def started_pod_informer(
    kube: KubeClient, start: Callable[[Informer[Any]], None], **kw: Any
) -> tuple[Informer[PodView], Seen]:
    informer, seen = pod_informer(kube, **kw)
    start(informer)
    await asyncio.wait_for(informer.wait_synced(), 5)
    return informer, seen


@DECODERS
async def test_deletes_during_a_dropped_watch_are_delivered_on_rewatch(
    kube: KubeClient,
    lab_apiserver: LabApiServer,
    start: Callable[[Informer[Any]], None],
    decode: Any,
) -> None:
    web_pods(lab_apiserver, 5)
    informer, seen = await started_pod_informer(kube, start, watch_decode=decode)
    # The connection drops; two pods go while the informer is reconnecting.
    lab_apiserver.faults.close_watches()
    await kube.delete(PODS, "web-1", "default")
    await kube.delete(PODS, "web-3", "default")
    await eventually(
        lambda: len(seen.deleted) == 2, timeout=10, what="two deletions", interval=0.01
    )
    assert sorted(seen.deleted) == ["default/web-1", "default/web-3"]
    assert set(informer.store.keys()) == server_pods(lab_apiserver)


@DECODERS
async def test_deletes_hidden_by_a_forced_410_are_synthesised_after_relist(
    kube: KubeClient,
    lab_apiserver: LabApiServer,
    start: Callable[[Informer[Any]], None],
    decode: Any,
) -> None:
    web_pods(lab_apiserver, 6)
    informer, seen = await started_pod_informer(kube, start, watch_decode=decode)
    relists = REGISTRY.get_sample_value(
        "lbc_informer_relists_total", {"resource": "pods", "reason": "expired"}
    )
    # Everything below happens before the informer's task runs again: the stream is gone, the
    # pods change, and the server forgets the history, so the rewatch is answered 410.
    lab_apiserver.faults.close_watches()
    for name in ("web-0", "web-2", "web-5"):
        lab_apiserver.objects.delete(lab_apiserver.type_of("v1", "Pod"), "default", name)
    lab_apiserver.create(pod("web-9", "10.0.0.9"))
    lab_apiserver.faults.expire_history()
    await eventually(
        lambda: len(seen.deleted) == 3, timeout=10, what="three deletions", interval=0.01
    )
    assert sorted(seen.deleted) == ["default/web-0", "default/web-2", "default/web-5"]
    await eventually(
        lambda: "default/web-9" in seen.added, timeout=10, what="web-9 added", interval=0.01
    )
    assert set(informer.store.keys()) == server_pods(lab_apiserver)
    after = REGISTRY.get_sample_value(
        "lbc_informer_relists_total", {"resource": "pods", "reason": "expired"}
    )
    assert (after or 0) == (relists or 0) + 1


@DECODERS
async def test_churn_with_random_drops_and_410s_converges_without_missing_a_delete(
    kube: KubeClient,
    lab_apiserver: LabApiServer,
    start: Callable[[Informer[Any]], None],
    decode: Any,
) -> None:
    rng = random.Random(11)
    informer, seen = await started_pod_informer(kube, start, watch_decode=decode)
    live: set[str] = set()
    deleted: list[str] = []
    for step in range(300):
        name = f"p{rng.randrange(40)}"
        if name in live and rng.random() < 0.5:
            await kube.delete(PODS, name, "default")
            live.discard(name)
            deleted.append(f"default/{name}")
        elif name not in live:
            await kube.create(PODS, pod(name, f"10.1.0.{rng.randrange(250)}"))
            live.add(name)
        if step % 37 == 0:
            lab_apiserver.faults.close_watches()
        if step % 91 == 0:
            lab_apiserver.faults.close_watches()
            lab_apiserver.faults.expire_history()
    await eventually(
        lambda: set(informer.store.keys()) == {f"default/{n}" for n in live},
        timeout=10,
        what="the store to hold exactly the live pods",
        interval=0.01,
    )
    # A pod deleted and re-created while the informer was away may fold into an update; every
    # pod that is gone at the end must have been reported deleted at least once.
    gone = {k for k in deleted if k.removeprefix("default/") not in live}
    assert gone <= set(seen.deleted)


async def test_namespace_scope_and_label_selector_limit_the_cache(
    kube: KubeClient, lab_apiserver: LabApiServer, start: Callable[[Informer[Any]], None]
) -> None:
    lab_apiserver.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    lab_apiserver.create(pod("a", "10.0.0.1", ns="shop"))
    lab_apiserver.create(pod("b", "10.0.0.2", ns="default"))
    other = pod("c", "10.0.0.3", ns="shop")
    other["metadata"]["labels"] = {"app": "db"}
    lab_apiserver.create(other)
    informer, _seen = await started_pod_informer(
        kube, start, namespace="shop", label_selector="app=web"
    )
    assert informer.store.keys() == ["shop/a"]
    await kube.create(PODS, pod("d", "10.0.0.4", ns="shop"))
    await kube.create(PODS, pod("e", "10.0.0.5", ns="default"))
    await eventually(
        lambda: "shop/d" in informer.store, timeout=10, what="shop/d in the store", interval=0.01
    )
    assert sorted(informer.store.keys()) == ["shop/a", "shop/d"]


@asynccontextmanager
async def synced_pod_informer(
    bookmark_interval: float, inactivity_timeout: float, decode: Any = None
) -> AsyncIterator[tuple[LabApiServer, Informer[PodView]]]:
    """A lab bookmarking every ``bookmark_interval`` s and a synced pod informer on it."""
    async with LabApiServer.running(bookmark_interval=bookmark_interval) as lab:
        api = await api_client_for(lab.kubeconfig_path)
        try:
            kube = KubeClient(api, timeout=5)
            informer, _seen = pod_informer(
                kube, inactivity_timeout=inactivity_timeout, watch_decode=decode
            )
            task = asyncio.create_task(informer.run())
            try:
                await asyncio.wait_for(informer.wait_synced(), 5)
                yield lab, informer
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        finally:
            await api.close()


@DECODERS
async def test_bookmarks_keep_a_quiet_watch_alive(decode: Any) -> None:
    async with synced_pod_informer(0.1, inactivity_timeout=0.5, decode=decode) as (lab, informer):
        # Bookmarks every 0.1 s for longer than the watchdog's 0.5 s: one stream.
        await eventually(
            lambda: informer.event_counts["BOOKMARK"] >= 10,
            timeout=10,
            what="ten bookmarks",
            interval=0.01,
        )
        assert lab.faults.requests[("watch", "pods")] == 1
        assert informer.last_event_age() < 0.5


async def test_a_silent_stream_is_reopened_by_the_watchdog() -> None:
    async with synced_pod_informer(60.0, inactivity_timeout=0.3) as (lab, _informer):
        await eventually(
            lambda: lab.faults.requests[("watch", "pods")] >= 3,
            timeout=10,
            what="three watches of pods",
            interval=0.01,
        )
        assert lab.faults.requests[("list", "pods")] == 1


async def test_a_metadata_only_informer_sees_names_and_versions_but_never_a_body(
    kube: KubeClient, lab_apiserver: LabApiServer, start: Callable[[Informer[Any]], None]
) -> None:
    def config_map(name: str, value: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"},
            "data": {"targets": value},
        }

    lab_apiserver.create(config_map("aws-lbc-targets-a", "10.0.0.1:80"))
    seen: list[dict[str, Any]] = []

    def project(obj: dict[str, Any]) -> str:
        seen.append(obj)
        return str(obj["metadata"]["resourceVersion"])

    informer = Informer(kube, CONFIG_MAPS, project, metadata_only=True)
    start(informer)
    await asyncio.wait_for(informer.wait_synced(), 5)
    # Listed, then a watch event for an edit of the data alone: the version moves, no data comes.
    listed = informer.store.get("default/aws-lbc-targets-a")
    updated = config_map("aws-lbc-targets-a", "10.0.0.1:80,10.0.0.2:80")
    updated["metadata"]["resourceVersion"] = listed
    await kube.replace(CONFIG_MAPS, updated, "default")
    await eventually(
        lambda: informer.store.get("default/aws-lbc-targets-a") != listed,
        timeout=10,
        what="the ConfigMap change in the store",
        interval=0.01,
    )
    assert len(seen) >= 2
    assert all(obj["kind"] == "PartialObjectMetadata" for obj in seen)
    assert all("data" not in obj for obj in seen)
