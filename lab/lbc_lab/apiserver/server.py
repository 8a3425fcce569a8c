"""The lab API server's lifecycle: bind a free port on 127.0.0.1, serve, write a kubeconfig,
stop cleanly (open watch streams are ended first so shutdown never waits on them).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from aiohttp import web

from lbc_lab.apiserver import discovery, openapi
from lbc_lab.apiserver.authz import ADMIN_TOKEN, ADMIN_USER, Authorizer, allow_all
from lbc_lab.apiserver.faults import Faults
from lbc_lab.apiserver.labroutes import add_lab_routes
from lbc_lab.apiserver.objects import Objects, WriteOptions
from lbc_lab.apiserver.rbac import RbacAuthorizer
from lbc_lab.apiserver.resources import Registry, ResourceType
from lbc_lab.apiserver.routes import ResourceRoutes, json_response
from lbc_lab.apiserver.store import Obj, Store

T = TypeVar("T")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def kubeconfig_document(url: str, token: str = ADMIN_TOKEN, user: str = ADMIN_USER) -> Obj:
    """A kubeconfig both kubectl and kubernetes_asyncio accept (plain HTTP, bearer token)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lbc-lab", "cluster": {"server": url}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": "lbc-lab",
                "context": {"cluster": "lbc-lab", "user": user, "namespace": "default"},
            }
        ],
        "current-context": "lbc-lab",
        "preferences": {},
    }


def write_kubeconfig(
    path: Path, url: str, token: str = ADMIN_TOKEN, user: str = ADMIN_USER
) -> None:
    """Write atomically: a reader polling for the file never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kubeconfig-")
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(kubeconfig_document(url, token, user), out, sort_keys=False)
    Path(tmp).replace(path)


class LabApiServer:
    """An in-process Kubernetes API server for tests, the demo and benchmarks.

    ``store``/``objects`` give synchronous access for test setup (same event loop only);
    ``faults`` injects failures; ``url`` and ``kubeconfig_path`` are set once started.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        kubeconfig_path: Path | str | None = None,
        history_size: int = 20_000,
        bookmark_interval: float = 1.0,
        authorizer: Authorizer | None = None,
        rbac: bool = False,
        tokens: dict[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._requested_port = port
        self._clock = clock or (lambda: datetime.now(UTC))
        self.store = Store(history_size)
        self.registry = Registry()
        self.objects = Objects(self.store, self.registry, clock=self._clock)
        self.faults = Faults(self.store)
        self.tokens = {ADMIN_TOKEN: ADMIN_USER, **(tokens or {})}
        self._routes = ResourceRoutes(
            self.objects,
            self.faults,
            authorizer=authorizer or (RbacAuthorizer(self.store) if rbac else allow_all),
            tokens=self.tokens,
            bookmark_interval=bookmark_interval,
            clock=self._clock,
        )
        self._kubeconfig_request = Path(kubeconfig_path) if kubeconfig_path else None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.url = ""
        self.kubeconfig_path = Path()
        self._froze = False
        self._create_default_namespaces()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, **kwargs: Any) -> AsyncIterator[LabApiServer]:
        server = cls(**kwargs)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()

    # -- lifecycle ---------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        router = app.router

        async def version(request: web.Request) -> web.Response:
            return json_response(discovery.VERSION)

        async def core(request: web.Request) -> web.Response:
            return json_response(discovery.core_versions(f"127.0.0.1:{self.port}"))

        async def groups(request: web.Request) -> web.Response:
            return json_response(discovery.group_list(self.registry))

        async def group(request: web.Request) -> web.StreamResponse:
            doc = discovery.group(self.registry, request.match_info["group"])
            if doc is None:
                return await self._routes.handle(request)
            return json_response(doc)

        async def healthy(request: web.Request) -> web.Response:
            return web.Response(text="ok")

        # Clients differ on trailing slashes (kubernetes_asyncio asks for "/version/").
        for suffix in ("", "/"):
            router.add_get("/version" + suffix, version)
            router.add_get("/api" + suffix, core)
            router.add_get("/apis" + suffix, groups)
            router.add_get("/apis/{group}" + suffix, group)
        for probe in ("/healthz", "/readyz", "/livez"):
            router.add_get(probe, healthy)
        openapi.add_routes(app, self.registry)
        add_lab_routes(app, self.faults, self.reset, self.token_for)
        router.add_route("*", "/api/{tail:.*}", self._routes.handle)
        router.add_route("*", "/apis/{tail:.*}", self._routes.handle)
        return app

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._requested_port))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._runner = web.AppRunner(
            self._app(), handler_cancellation=True, shutdown_timeout=2.0, access_log=None
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        if self._kubeconfig_request is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="lbc-lab-apiserver-")
            self.kubeconfig_path = Path(self._tmpdir.name) / "kubeconfig"
        else:
            self.kubeconfig_path = self._kubeconfig_request
        write_kubeconfig(self.kubeconfig_path, self.url)

    async def stop(self) -> None:
        self.store.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
        if self._froze:
            gc.unfreeze()
            self._froze = False

    # -- state for tests ---------------------------------------------------------------------

    def _create_default_namespaces(self) -> None:
        ns_type = self.type_of("v1", "Namespace")
        for name in DEFAULT_NAMESPACES:
            self.objects.create(ns_type, "", {"metadata": {"name": name}})

    def token_for(self, user: str) -> str:
        """A bearer token identifying ``user`` (e.g. ``system:serviceaccount:ns:name``)."""
        for token, known in self.tokens.items():
            if known == user:
                return token
        token = f"lbc-lab-token-{len(self.tokens)}"
        self.tokens[token] = user
        return token

    def kubeconfig_for(self, user: str, path: Path | str | None = None) -> Path:
        """A kubeconfig acting as ``user`` (beside the admin one unless ``path`` is given)."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in user)
        target = Path(path) if path else self.kubeconfig_path.with_name(f"kubeconfig-{safe}")
        write_kubeconfig(target, self.url, self.token_for(user), user)
        return target

    def reset(self) -> None:
        """Back to a fresh server: no objects, no CRDs, no faults, default namespaces only."""
        for crd in list(
            self.store.iter_objects("customresourcedefinitions.apiextensions.k8s.io", None)
        ):
            self.registry.unregister_crd(crd["metadata"]["name"])
        self.store.clear()
        self.faults.clear()
        self.faults.requests.clear()
        self._create_default_namespaces()

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Load many objects fast: the cyclic GC is paused while loading, and what was loaded
        is frozen out of later collections until the server stops (100,000 pods otherwise make
        every collection scan millions of dicts, and loading gets several times slower)."""
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            gc.freeze()
            self._froze = True
            if was_enabled:
                gc.enable()

    async def wait_for(
        self,
        condition: Callable[[], Awaitable[T] | T],
        timeout: float = 10.0,
        what: str = "the condition",
    ) -> T:
        """Wait until ``condition()`` is truthy, re-checking after every write to the store.

        ``condition`` may be a plain function or a coroutine function (one that reads through
        the HTTP API, say). No polling: the store's change signal wakes the check. For what the
        store does not see, poll with :func:`lbc_lab.scenario.eventually`.
        """
        try:
            async with asyncio.timeout(timeout) as scope:
                while True:
                    changed = self.store.changed()
                    result = condition()
                    if inspect.isawaitable(result):
                        result = await result
                    if result:
                        return cast(T, result)
                    await changed.wait()
        except TimeoutError:
            if scope.expired():
                raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}") from None
            raise

    def type_of(self, api_version: str, kind: str) -> ResourceType:
        group, _, version = api_version.rpartition("/")
        for rtype in self.registry.in_group_version(group, version):
            if rtype.kind == kind:
                return rtype
        raise KeyError(f"no resource for {api_version} {kind}")

    def create(self, obj: Obj, *, keep_status: bool = True) -> Obj:
        """Create an object directly (test setup); status is kept as given by default."""
        rtype = self.type_of(obj["apiVersion"], obj["kind"])
        namespace = (
            (obj.get("metadata") or {}).get("namespace", "default") if rtype.namespaced else ""
        )
        return self.objects.create(
            rtype, namespace, obj, options=WriteOptions(), keep_status=keep_status
        )

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> Obj | None:
        rtype = self.type_of(api_version, kind)
        return self.store.get(rtype.storage, namespace if rtype.namespaced else "", name)
