"""A thin async Kubernetes client: raw JSON in and out, errors classified, every call bounded.

Why not the generated API classes: they deserialise every response into large model graphs
(slow, memory-hungry) and send patches with whatever content type their first "consumes" entry
says. lbc needs dicts it can project into slim views, and patches whose meaning is explicit. So
this module uses kubernetes_asyncio only for what it does well: configuration (kubeconfig,
in-cluster, TLS, bearer-token refresh) and its pooled aiohttp session. Bodies are encoded and
decoded with orjson.

Sending through that session reaches into the REST client's attributes (``rest_client``,
``pool_manager``, ``proxy``, ``proxy_headers``, ``server_hostname``), which are not a public
API. ``pyproject.toml`` therefore bounds kubernetes-asyncio to the major versions these were
checked against (``<37``); raising the bound means re-checking them (the client and informer
tests against the lab exercise every one).

Invariants:

- Every call has a deadline (``timeout``, default ``DEFAULT_TIMEOUT``); a watch has a connect
  deadline, a server-side ``timeoutSeconds`` and a client-side total and read timeout.
- Every failure leaves as an ``lbc.core.errors`` class: 404 ``NotFoundError``; 409
  ``ConflictError`` (``AlreadyExistsError`` when the name is taken); 410 ``ExpiredError``;
  400/422 ``InvalidError`` (terminal, with the server's causes); 401/403, 429, 5xx, timeouts and
  dropped connections ``TransientError``; any other 4xx ``TerminalError``.
- Every patch names its content type (``PatchType``); there is no default.
- Requests are counted in ``rest_client_requests_total{code,method,host}`` and timed in
  ``rest_client_request_duration_seconds{verb,host}`` (client-go's names).
"""

from __future__ import annotations

import enum
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, Final, Generic, NamedTuple, Required, TypedDict, TypeVar, Unpack
from urllib.parse import quote, urlsplit

import aiohttp
import anyio
import orjson
from kubernetes_asyncio.client import ApiClient

from lbc.core.errors import (
    ConflictError,
    LbcError,
    NotFoundError,
    TerminalError,
    TransientError,
)
from lbc.observe.metrics import counter, histogram

DEFAULT_TIMEOUT: Final = 30.0
"""Seconds a single non-watch request may take, connection and body included."""

WATCH_READ_MARGIN: Final = 30.0
"""Seconds the client waits past the server's ``timeoutSeconds`` before abandoning a stream."""

#: ``Accept`` for metadata-only lists and watches: the server sends ``PartialObjectMetadata``
#: (``metadata`` only, no ``data``/``spec``), as client-go's metadata informers ask.
METADATA_ONLY: Final = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_ONLY_WATCH: Final = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

MAX_EVENT_BYTES: Final = 16 << 20
"""Largest watch event line accepted (etcd refuses objects over 1.5 MiB; lists are bigger)."""

JSON = "application/json"

REQUESTS = counter(
    "rest_client_requests_total",
    "Kubernetes API requests by HTTP status code, method and host.",
    ["code", "method", "host"],
)
LATENCY = histogram(
    "rest_client_request_duration_seconds",
    "Kubernetes API request latency (to response headers for watches) by verb and host.",
    ["verb", "host"],
    buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
)


class AlreadyExistsError(ConflictError):
    """A create found the name taken (HTTP 409, Status reason ``AlreadyExists``)."""

    reason = "AlreadyExists"


class ExpiredError(TransientError):
    """The requested resourceVersion is too old (HTTP 410 or a watch ERROR with code 410).

    Informers answer it with a relist; anything else treats it as transient.
    """

    reason = "Expired"


class InvalidError(TerminalError):
    """The server refused the request's content (HTTP 400/422); resending it cannot help."""

    reason = "Invalid"

    def __init__(self, message: str, *, reason: str | None = None, causes: Sequence[str] = ()):
        super().__init__(message, reason=reason)
        self.causes: tuple[str, ...] = tuple(causes)


class PatchType(enum.Enum):
    """Patch flavours and their exact ``Content-Type``; custom resources accept no strategic."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"


@dataclass(frozen=True, slots=True)
class Resource:
    """A REST resource: ``group`` is ``""`` for the core API (``/api/v1``)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The URL path; ``namespace=None`` on a namespaced resource means all namespaces."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        elif self.namespaced and name is not None:
            raise ValueError(f"{self.plural}/{name} is namespaced: a namespace is required")
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base


PODS = Resource("", "v1", "pods", "Pod")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
SERVICES = Resource("", "v1", "services", "Service")
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
EVENTS = Resource("", "v1", "events", "Event")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
TARGET_GROUP_BINDINGS = Resource(
    "elbv2.k8s.aws", "v1beta1", "targetgroupbindings", "TargetGroupBinding"
)
INGRESSES = Resource("networking.k8s.io", "v1", "ingresses", "Ingress")
INGRESS_CLASSES = Resource(
    "networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced=False
)
INGRESS_CLASS_PARAMS = Resource(
    "elbv2.k8s.aws", "v1beta1", "ingressclassparams", "IngressClassParams", namespaced=False
)


class WatchEvent(NamedTuple):
    """One watch event: ``type`` ADDED, MODIFIED, DELETED or BOOKMARK; ``object`` the raw dict.

    A named tuple rather than a frozen dataclass: one is built per event of every watch, and
    a tuple costs a fraction of a frozen dataclass's ``__init__``.
    """

    type: str
    object: dict[str, Any]


class WatchOptions(TypedDict, total=False):
    """The options of one watch request, spelled once for :meth:`KubeClient.watch` and its
    batched forms (:meth:`KubeClient.watch_decoded` documents them)."""

    resource_version: Required[str]
    timeout_seconds: Required[int]
    label_selector: str | None
    field_selector: str | None
    allow_bookmarks: bool
    connect_timeout: float | None
    read_timeout: float | None
    metadata_only: bool


V = TypeVar("V")
E = TypeVar("E")


class DecodedEvent(NamedTuple, Generic[V]):
    """One watch event decoded straight into its view (see :mod:`lbc.kube.podwatch`).

    ``key`` and ``view`` are ``""`` and ``None`` for a ``BOOKMARK``; ``resource_version`` is
    the object's, ``""`` when it has none.
    """

    type: str
    key: str
    view: V | None
    resource_version: str


def micro_time(moment: datetime) -> str:
    """Kubernetes ``MicroTime``: RFC 3339 UTC with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_new_tuple = tuple.__new__


def _watch_event(line: bytes, what: str) -> WatchEvent:
    """One watch line decoded; runs for every event, so the usual event takes the short path."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise TransientError(f"{what}: undecodable event", reason="WatchBroken") from exc
    if type(event) is not dict:
        raise TransientError(f"{what}: malformed event", reason="WatchBroken")
    kind = event.get("type")
    obj = event.get("object")
    if type(obj) is dict and type(kind) is str and kind != "ERROR":
        # ``WatchEvent(kind, obj)`` goes through the named tuple's Python-level ``__new__``.
        return _new_tuple(WatchEvent, (kind, obj))
    if kind == "ERROR":
        status = obj.get("code", 500) if isinstance(obj, dict) else 500
        raise api_error(int(status), orjson.dumps(obj), what)
    raise TransientError(f"{what}: malformed event", reason="WatchBroken")


def api_error(status: int, body: bytes, what: str) -> LbcError:
    """The lbc error for an API failure ``status`` with a (possibly non-Status) ``body``."""
    message, api_reason, causes = _status_details(body)
    text = f"{what}: {message or f'HTTP {status}'}"
    if status == 404:
        return NotFoundError(text)
    if status == 409:
        if api_reason == "AlreadyExists":
            return AlreadyExistsError(text)
        return ConflictError(text)
    if status == 410:
        return ExpiredError(text)
    if status in (400, 422):
        return InvalidError(text, reason=api_reason or "Invalid", causes=causes)
    if status in (401, 403):
        # A fixed RBAC binding or a refreshed token produce no watch event; a backoff retry
        # notices the fix, a terminal error would wait for an unrelated change.
        default = "Unauthorized" if status == 401 else "Forbidden"
        return TransientError(text, reason=api_reason or default)
    if status == 429 or status >= 500:
        return TransientError(text, reason=api_reason or f"HTTP{status}")
    return TerminalError(text, reason=api_reason or f"HTTP{status}")


def _status_details(body: bytes) -> tuple[str, str, list[str]]:
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace"), "", []
    if not isinstance(doc, dict):
        return "", "", []
    details = doc.get("details") or {}
    causes = [
        f"{c.get('field', '')}: {c.get('message', '')}".lstrip(": ")
        for c in details.get("causes") or ()
        if isinstance(c, dict)
    ]
    return str(doc.get("message") or ""), str(doc.get("reason") or ""), causes


Query = list[tuple[str, str]]


def _query(**params: str | int | bool | None) -> Query:
    out: Query = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        else:
            out.append((key, str(value)))
    return out


class KubeClient:
    """Generic JSON calls on any resource; one instance per process, shared by all users.

    The client owns no connection of its own: ``api`` (a configured ``ApiClient``) does, and the
    caller closes it.
    """

    def __init__(self, api: ApiClient, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._api = api
        self._rest = api.rest_client
        self._host_url: str = (api.configuration.host or "").rstrip("/")
        self._host = urlsplit(self._host_url).netloc
        self._timeout = timeout

    @property
    def host(self) -> str:
        return self._host

    # ---- reads --------------------------------------------------------------------------------

    async def get(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        path = resource.path(namespace, name, subresource)
        return await self._json("GET", path, timeout=timeout)

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
        timeout: float | None = None,
        metadata_only: bool = False,
    ) -> dict[str, Any]:
        """One page of a list: the raw ``…List`` dict (``items``, ``metadata.continue``).

        ``metadata_only`` asks for ``PartialObjectMetadataList``: items carry ``metadata`` alone.
        """
        query = _query(
            labelSelector=label_selector,
            fieldSelector=field_selector,
            limit=limit,
            resourceVersion=resource_version,
        )
        if continue_token:
            query.append(("continue", continue_token))
        headers = {"Accept": METADATA_ONLY} if metadata_only else None
        return await self._json(
            "GET", resource.path(namespace), query=query, headers=headers, timeout=timeout
        )

    async def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        **options: Unpack[WatchOptions],
    ) -> AsyncGenerator[WatchEvent, None]:
        """Watch events from ``resource_version`` until the server ends the stream.

        Use it with ``contextlib.aclosing`` so the connection is released when the consumer
        stops early. A watch ERROR event is raised as the matching lbc error (410 becomes
        ``ExpiredError``), exactly as an HTTP error status would be. ``read_timeout`` bounds the
        silence between two chunks (default: the whole stream's budget). One event at a time;
        :meth:`watch_batches` is the same stream a received chunk at a time.
        """
        batches = self.watch_batches(resource, namespace, **options)
        async with aclosing(batches) as stream:
            async for events in stream:
                for event in events:
                    yield event

    def watch_batches(
        self,
        resource: Resource,
        namespace: str | None = None,
        **options: Unpack[WatchOptions],
    ) -> AsyncGenerator[Iterator[WatchEvent], None]:
        """:meth:`watch`, one batch per chunk read from the socket: the events of its lines.

        A batch decodes its lines lazily, one as the consumer takes it, and must be consumed
        before the next is asked for. Why batches: resuming an async generator costs about a
        microsecond, as much as projecting a pod; an informer pays it once per chunk (tens of
        events) instead of once per event. Why lazily: a batch decoded at once keeps dozens of
        parsed objects alive together, enough to set off the cyclic garbage collector, which
        then walks the whole cache (measured: 2.7x the parse floor became 7x).
        """
        return self.watch_decoded(resource, namespace, decode=_watch_event, **options)

    async def watch_decoded(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        decode: Callable[[bytes, str], E],
        resource_version: str,
        timeout_seconds: int,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = True,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        metadata_only: bool = False,
    ) -> AsyncGenerator[Iterator[E], None]:
        """:meth:`watch_batches` with each line decoded by ``decode(line, what)``.

        ``decode`` raises the errors :func:`_watch_event` raises for the lines it cannot take
        (an ``ERROR`` event, a malformed line); the informer of pods decodes its lines straight
        into views this way (:func:`lbc.kube.podwatch.pod_watch_event`).
        """
        query = _query(
            watch=True,
            resourceVersion=resource_version,
            timeoutSeconds=timeout_seconds,
            allowWatchBookmarks=allow_bookmarks,
            labelSelector=label_selector,
            fieldSelector=field_selector,
        )
        what = f"watch {resource.plural}"
        budget = timeout_seconds + WATCH_READ_MARGIN
        client_timeout = aiohttp.ClientTimeout(
            total=budget,
            sock_connect=connect_timeout or self._timeout,
            sock_read=read_timeout,
        )
        connect_deadline = connect_timeout or self._timeout
        response = await self._open(
            "GET",
            resource.path(namespace),
            query,
            None,
            {"Accept": METADATA_ONLY_WATCH} if metadata_only else {},
            client_timeout=client_timeout,
            deadline=connect_deadline,
            what=what,
        )
        whats = repeat(what)
        try:
            if response.status != 200:
                body = await self._read_bounded(response, connect_deadline, what)
                raise api_error(response.status, body, what)
            # Read whatever the socket has and split it into lines here: one await per chunk
            # instead of one per event roughly halves the transport's share of the CPU.
            pending = b""
            while True:
                try:
                    chunk = await response.content.readany()
                except (aiohttp.ClientError, OSError) as exc:
                    # ServerTimeoutError (a ClientError) is the read timeout: this stream is
                    # unusable, the caller rewatches.
                    raise TransientError(
                        f"{what}: stream broke: {exc!r}", reason="WatchBroken"
                    ) from exc
                except TimeoutError as exc:
                    raise TransientError(f"{what}: stream timed out", reason="Timeout") from exc
                if not chunk:
                    if pending.strip():
                        yield iter((decode(pending, what),))
                    return
                lines = (pending + chunk).split(b"\n") if pending else chunk.split(b"\n")
                pending = lines.pop()
                if len(pending) > MAX_EVENT_BYTES:
                    raise TransientError(
                        f"{what}: event over {MAX_EVENT_BYTES} bytes", reason="WatchBroken"
                    )
                lines = [line for line in lines if line and not line.isspace()]
                if lines:
                    yield map(decode, lines, whats)
        finally:
            response.release()

    # ---- writes -------------------------------------------------------------------------------

    async def create(
        self,
        resource: Resource,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        ns = namespace if namespace is not None else _namespace_of(obj)
        return await self._json("POST", resource.path(ns), body=obj, timeout=timeout)

    async def replace(
        self,
        resource: Resource,
        obj: Mapping[str, Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """PUT ``obj``; its ``metadata.resourceVersion``, when set, makes a stale write a 409."""
        ns = namespace if namespace is not None else _namespace_of(obj)
        name = obj.get("metadata", {}).get("name")
        if not name:
            raise ValueError("replace needs metadata.name")
        path = resource.path(ns, name, subresource)
        return await self._json("PUT", path, body=obj, timeout=timeout)

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        namespace: str | None = None,
        *,
        patch_type: PatchType,
        subresource: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """PATCH with the content type of ``patch_type`` (required: no silent default)."""
        headers = {"Content-Type": patch_type.value}
        path = resource.path(namespace, name, subresource)
        return await self._json("PATCH", path, body=patch, headers=headers, timeout=timeout)

    async def patch_status(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        namespace: str | None = None,
        *,
        patch_type: PatchType = PatchType.MERGE,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        return await self.patch(
            resource,
            name,
            patch,
            namespace,
            patch_type=patch_type,
            subresource="status",
            timeout=timeout,
        )

    async def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
        propagation_policy: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """DELETE, optionally only if the object still has ``uid`` / ``resource_version``."""
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        preconditions = {
            k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v
        }
        if preconditions:
            body["preconditions"] = preconditions
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        path = resource.path(namespace, name)
        return await self._json("DELETE", path, body=body, timeout=timeout)

    # ---- transport ----------------------------------------------------------------------------

    async def _json(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        deadline = timeout if timeout is not None else self._timeout
        what = f"{method} {path}"
        data = orjson.dumps(body) if body is not None else None
        hdrs = {"Content-Type": JSON} if headers is None else headers
        response = await self._open(
            method,
            path,
            query or [],
            data,
            hdrs,
            client_timeout=aiohttp.ClientTimeout(total=deadline),
            deadline=deadline,
            what=what,
        )
        try:
            raw = await self._read_bounded(response, deadline, what)
        finally:
            response.release()
        if not 200 <= response.status < 300:
            raise api_error(response.status, raw, what)
        try:
            doc = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError as exc:
            raise TransientError(f"{what}: undecodable response", reason="BadResponse") from exc
        if not isinstance(doc, dict):
            raise TransientError(f"{what}: response is not an object", reason="BadResponse")
        return doc

    async def _open(
        self,
        method: str,
        path: str,
        query: Query,
        data: bytes | None,
        headers: dict[str, str],
        *,
        client_timeout: aiohttp.ClientTimeout,
        deadline: float,
        what: str,
    ) -> aiohttp.ClientResponse:
        """Send the request and wait for the response headers within ``deadline`` seconds."""
        hdrs = dict(self._api.default_headers)
        hdrs.setdefault("Accept", JSON)
        hdrs.update(headers)
        started = time.perf_counter()
        code = "<error>"
        try:
            with anyio.fail_after(deadline):
                await self._api.update_params_for_auth(hdrs, [], ["BearerToken"])
                kwargs: dict[str, Any] = {}
                if self._rest.proxy:
                    kwargs["proxy"] = self._rest.proxy
                    if self._rest.proxy_headers:
                        kwargs["proxy_headers"] = self._rest.proxy_headers
                if self._rest.server_hostname:
                    kwargs["server_hostname"] = self._rest.server_hostname
                response = await self._rest.pool_manager.request(
                    method,
                    self._host_url + path,
                    params=query,
                    data=data,
                    headers=hdrs,
                    timeout=client_timeout,
                    **kwargs,
                )
        except TimeoutError as exc:
            raise TransientError(
                f"{what}: no response within {deadline:g}s", reason="Timeout"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise TransientError(f"{what}: {exc!r}", reason="ConnectionError") from exc
        else:
            code = str(response.status)
            return response
        finally:
            LATENCY.labels(method, self._host).observe(time.perf_counter() - started)
            REQUESTS.labels(code, method, self._host).inc()

    @staticmethod
    async def _read_bounded(response: aiohttp.ClientResponse, deadline: float, what: str) -> bytes:
        try:
            with anyio.fail_after(deadline):
                return await response.read()
        except TimeoutError as exc:
            raise TransientError(
                f"{what}: body not read within {deadline:g}s", reason="Timeout"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise TransientError(f"{what}: {exc!r}", reason="ConnectionError") from exc


def _namespace_of(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata")
    if isinstance(meta, Mapping):
        ns = meta.get("namespace")
        return ns if isinstance(ns, str) and ns else None
    return None
