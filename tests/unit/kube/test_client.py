"""The raw-JSON client against a scripted HTTP server: content types, error classes, deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
from aiohttp import web
from kubernetes_asyncio.client import ApiClient, Configuration
from lbc.core.errors import ConflictError, NotFoundError, TerminalError, TransientError
from lbc.kube.client import (
    CONFIG_MAPS,
    NODES,
    PODS,
    TARGET_GROUP_BINDINGS,
    AlreadyExistsError,
    ExpiredError,
    InvalidError,
    KubeClient,
    PatchType,
    api_error,
)
from lbc.observe.metrics import REGISTRY

Handler = Callable[[web.Request], Any]


@dataclass
class Scripted:
    """An HTTP server whose single route answers with whatever the test scripted."""

    handler: Handler | None = None
    seen: list[tuple[str, str, str, Any, bytes]] = field(default_factory=list)


@pytest.fixture
async def server() -> AsyncIterator[tuple[Scripted, KubeClient]]:
    script = Scripted()

    async def route(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        script.seen.append(
            (
                request.method,
                request.path,
                request.query_string,
                request.headers.copy(),
                body,
            )
        )
        assert script.handler is not None
        result = script.handler(request)
        if asyncio.iscoroutine(result):
            result = await result
        assert isinstance(result, web.StreamResponse)
        return result

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", route)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    config = Configuration(host=f"http://127.0.0.1:{port}")
    config.api_key["BearerToken"] = "Bearer t0ken"
    api = ApiClient(configuration=config)
    try:
        yield script, KubeClient(api, timeout=2.0)
    finally:
        await api.close()
        await runner.cleanup()


def status(code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None):
    doc: dict[str, Any] = {"kind": "Status", "status": "Failure", "reason": reason}
    doc["message"] = message
    doc["code"] = code
    if causes:
        doc["details"] = {"causes": causes}
    return web.Response(status=code, body=orjson.dumps(doc), content_type="application/json")


def ok(doc: dict[str, Any]) -> web.Response:
    return web.Response(body=orjson.dumps(doc), content_type="application/json")


async def test_every_patch_flavour_sends_its_own_content_type(server):
    script, client = server
    script.handler = lambda _r: ok({"kind": "ConfigMap"})
    for flavour in PatchType:
        await client.patch(
            CONFIG_MAPS, "ledger", {"data": {"targets": ""}}, "ns", patch_type=flavour
        )
    assert [s[3]["Content-Type"] for s in script.seen] == [f.value for f in PatchType]
    assert all(s[0] == "PATCH" for s in script.seen)
    assert orjson.loads(script.seen[0][4]) == {"data": {"targets": ""}}


async def test_status_patch_targets_the_status_subresource_with_merge_patch(server):
    script, client = server
    script.handler = lambda _r: ok({})
    await client.patch_status(TARGET_GROUP_BINDINGS, "tgb", {"status": {"x": 1}}, "ns")
    method, path, _q, headers, _b = script.seen[0]
    assert (method, path) == (
        "PATCH",
        "/apis/elbv2.k8s.aws/v1beta1/namespaces/ns/targetgroupbindings/tgb/status",
    )
    assert headers["Content-Type"] == "application/merge-patch+json"


async def test_requests_carry_the_bearer_token_and_list_parameters(server):
    script, client = server
    script.handler = lambda _r: ok({"items": [], "metadata": {"resourceVersion": "7"}})
    page = await client.list(
        PODS, label_selector="app=web,tier in (a,b)", limit=50, resource_version="0"
    )
    assert page["metadata"]["resourceVersion"] == "7"
    _m, path, query, headers, _b = script.seen[0]
    assert path == "/api/v1/pods"
    assert headers["authorization"] == "Bearer t0ken"
    assert parse_qs(query) == {
        "labelSelector": ["app=web,tier in (a,b)"],
        "limit": ["50"],
        "resourceVersion": ["0"],
    }


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (404, "NotFound", NotFoundError),
        (409, "Conflict", ConflictError),
        (409, "AlreadyExists", AlreadyExistsError),
        (410, "Expired", ExpiredError),
        (422, "Invalid", InvalidError),
        (400, "BadRequest", InvalidError),
        (403, "Forbidden", TransientError),
        (429, "TooManyRequests", TransientError),
        (500, "InternalError", TransientError),
        (503, "ServiceUnavailable", TransientError),
        (405, "MethodNotAllowed", TerminalError),
    ],
)
async def test_api_failures_become_lbc_error_classes(server, code, reason, expected):
    script, client = server
    script.handler = lambda _r: status(code, reason, "nope")
    with pytest.raises(expected) as caught:
        await client.get(CONFIG_MAPS, "x", "ns")
    assert "nope" in str(caught.value)


def test_conflict_is_not_already_exists_and_invalid_is_terminal():
    conflict = api_error(409, orjson.dumps({"reason": "Conflict"}), "PUT x")
    assert type(conflict) is ConflictError
    assert issubclass(AlreadyExistsError, ConflictError)
    assert issubclass(InvalidError, TerminalError)
    assert issubclass(ExpiredError, TransientError)


async def test_invalid_error_carries_the_servers_causes(server):
    script, client = server
    script.handler = lambda _r: status(
        422,
        "Invalid",
        "TargetGroupBinding is invalid",
        [{"field": "spec.targetType", "message": "Unsupported value"}],
    )
    with pytest.raises(InvalidError) as caught:
        await client.create(TARGET_GROUP_BINDINGS, {"metadata": {"name": "b", "namespace": "n"}})
    assert caught.value.causes == ("spec.targetType: Unsupported value",)
    assert caught.value.reason == "Invalid"


async def test_a_slow_server_is_a_transient_timeout_not_a_hang(server):
    script, client = server

    answered = asyncio.Event()

    async def slow(_r: web.Request) -> web.Response:
        await asyncio.sleep(1)
        answered.set()
        return ok({})

    script.handler = slow
    with pytest.raises(TransientError) as caught:
        await client.get(NODES, "n1", timeout=0.2)
    assert caught.value.reason == "Timeout"
    assert not answered.is_set(), "the client waited for the slow answer"


async def test_a_refused_connection_is_transient():
    config = Configuration(host="http://127.0.0.1:9")
    api = ApiClient(configuration=config)
    try:
        with pytest.raises(TransientError) as caught:
            await KubeClient(api, timeout=2).get(NODES, "n1")
        assert caught.value.reason == "ConnectionError"
    finally:
        await api.close()


async def test_delete_sends_preconditions(server):
    script, client = server
    script.handler = lambda _r: ok({"kind": "Status", "status": "Success"})
    await client.delete(CONFIG_MAPS, "ledger", "ns", uid="u-1", resource_version="9")
    body = orjson.loads(script.seen[0][4])
    assert body["preconditions"] == {"uid": "u-1", "resourceVersion": "9"}


async def test_replace_refuses_an_object_without_a_name(server):
    _script, client = server
    with pytest.raises(ValueError, match=r"metadata\.name"):
        await client.replace(CONFIG_MAPS, {"metadata": {"namespace": "ns"}})


def watch_stream(lines: list[bytes]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "application/json"
        await response.prepare(request)
        for line in lines:
            await response.write(line)
        return response

    return handler


async def test_watch_yields_events_including_bookmarks_then_ends(server):
    script, client = server
    pod = {"metadata": {"name": "p", "namespace": "n", "resourceVersion": "5"}}
    script.handler = watch_stream(
        [
            orjson.dumps({"type": "ADDED", "object": pod}) + b"\n",
            b"\n",
            orjson.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}})
            + b"\n",
        ]
    )
    async with aclosing(client.watch(PODS, "n", resource_version="4", timeout_seconds=300)) as s:
        events = [e async for e in s]
    assert [e.type for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1].object["metadata"]["resourceVersion"] == "9"
    query = script.seen[0][2]
    assert parse_qs(query) == {
        "watch": ["true"],
        "allowWatchBookmarks": ["true"],
        "timeoutSeconds": ["300"],
        "resourceVersion": ["4"],
    }


async def drain(client: KubeClient) -> None:
    async with aclosing(client.watch(PODS, resource_version="1", timeout_seconds=300)) as stream:
        async for _ in stream:
            pass


async def test_watch_events_split_across_chunks_and_a_last_line_without_newline(server):
    script, client = server
    first = orjson.dumps({"type": "ADDED", "object": {"metadata": {"name": "a"}}})
    last = orjson.dumps({"type": "DELETED", "object": {"metadata": {"name": "a"}}})
    script.handler = watch_stream([first[:10], first[10:] + b"\n" + last[:5], last[5:]])
    async with aclosing(client.watch(PODS, resource_version="1", timeout_seconds=300)) as s:
        events = [e async for e in s]
    assert [e.type for e in events] == ["ADDED", "DELETED"]


async def test_watch_lines_keep_their_bytes_across_any_chunking_and_blank_lines_are_dropped(
    server,
):
    script, client = server
    added = orjson.dumps({"type": "ADDED", "object": {"metadata": {"name": "a"}}})
    modified = orjson.dumps({"type": "MODIFIED", "object": {"metadata": {"name": "b"}}})
    deleted = orjson.dumps({"type": "DELETED", "object": {"metadata": {"name": "c"}}})
    stream = b" " + added + b"\r\n\r\n \t\n" + modified + b"\n\n" + deleted + b"\n"
    # Cut everywhere: inside events, at their newlines, and a chunk with no newline at all.
    cuts = [3, 40, 41, len(added) + 2, len(added) + 5, len(stream) - len(deleted) - 1]
    script.handler = watch_stream(
        [stream[a:b] for a, b in zip([0, *cuts], [*cuts, None], strict=True)]
    )
    async with aclosing(client.watch(PODS, resource_version="1", timeout_seconds=300)) as s:
        events = [(e.type, e.object["metadata"]["name"]) async for e in s]
    assert events == [("ADDED", "a"), ("MODIFIED", "b"), ("DELETED", "c")]


async def test_watch_error_event_410_raises_expired(server):
    script, client = server
    gone = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    script.handler = watch_stream([orjson.dumps({"type": "ERROR", "object": gone}) + b"\n"])
    with pytest.raises(ExpiredError):
        await drain(client)


async def test_watch_http_410_raises_expired(server):
    script, client = server
    script.handler = lambda _r: status(410, "Expired", "too old")
    with pytest.raises(ExpiredError):
        await drain(client)


async def test_watch_batches_hold_the_events_of_one_chunk_in_order_without_blank_lines(server):
    script, client = server
    lines = [
        orjson.dumps({"type": kind, "object": {"metadata": {"name": name}}})
        for kind, name in (("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "b"))
    ]
    # One write: the client reads it as one chunk (the server ends it with a blank line and a
    # whitespace-only one, which carry no event).
    script.handler = watch_stream([b"\n".join(lines) + b"\n\n \n"])
    batches = client.watch_batches(PODS, resource_version="1", timeout_seconds=300)
    async with aclosing(batches) as stream:
        got = [[(e.type, e.object["metadata"]["name"]) for e in batch] async for batch in stream]
    assert [event for batch in got for event in batch] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
    ]
    assert all(got)


async def test_watch_batch_decodes_lazily_so_an_error_event_raises_where_it_stands(server):
    script, client = server
    added = orjson.dumps({"type": "ADDED", "object": {"metadata": {"name": "a"}}})
    gone = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    error = orjson.dumps({"type": "ERROR", "object": gone})
    script.handler = watch_stream([added + b"\n" + error + b"\n"])
    seen: list[str] = []

    async def consume() -> None:
        batches = client.watch_batches(PODS, resource_version="1", timeout_seconds=300)
        async with aclosing(batches) as stream:
            async for batch in stream:
                seen.extend(event.type for event in batch)

    with pytest.raises(ExpiredError):
        await consume()
    assert seen == ["ADDED"]


@pytest.mark.parametrize(
    "line",
    [b"[1, 2]", b'{"type": "ADDED", "object": [1]}', b'{"type": 7, "object": {}}', b"{oops"],
)
async def test_a_malformed_watch_line_breaks_the_stream_as_transient(server, line):
    script, client = server
    script.handler = watch_stream([line + b"\n"])
    with pytest.raises(TransientError) as caught:
        await drain(client)
    assert caught.value.reason == "WatchBroken"


def sample(name: str, labels: dict[str, str]) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0


async def test_requests_are_counted_by_code_method_and_host(server):
    script, client = server
    script.handler = lambda _r: status(404, "NotFound", "no")
    labels = {"code": "404", "method": "GET", "host": client.host}
    before = sample("rest_client_requests_total", labels)
    timed_before = sample(
        "rest_client_request_duration_seconds_count", {"verb": "GET", "host": client.host}
    )
    with pytest.raises(NotFoundError):
        await client.get(CONFIG_MAPS, "x", "ns")
    assert sample("rest_client_requests_total", labels) == before + 1
    assert (
        sample("rest_client_request_duration_seconds_count", {"verb": "GET", "host": client.host})
        == timed_before + 1
    )


def test_namespaced_paths_need_a_namespace_for_named_objects():
    assert PODS.path() == "/api/v1/pods"
    assert PODS.path("ns", "p", "status") == "/api/v1/namespaces/ns/pods/p/status"
    assert NODES.path(None, "n1") == "/api/v1/nodes/n1"
    with pytest.raises(ValueError, match="namespaced"):
        PODS.path(None, "p")
