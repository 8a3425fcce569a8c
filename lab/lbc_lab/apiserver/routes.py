"""HTTP handlers of the Kubernetes REST API: one entry point per request, dispatched by verb.

Every request passes, in order: path parsing (404 for unknown resources), the authorization
hook, fault injection (counted, delayed, maybe failed), then the object operation. Errors are
``ApiError`` all the way and leave as a ``Status`` body with the matching HTTP code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from lbc_lab.apiserver import admission, discovery, tables
from lbc_lab.apiserver.authz import (
    Authorizer,
    RequestAttributes,
    forbidden,
    groups_of,
    user_of,
)
from lbc_lab.apiserver.faults import Faults
from lbc_lab.apiserver.objects import Objects, WriteOptions
from lbc_lab.apiserver.requests import (
    Target,
    not_served,
    parse_path,
    patch_type,
    query_flag,
    query_int,
    read_body,
    resource_version_param,
    wants_partial_metadata,
    wants_table,
)
from lbc_lab.apiserver.selectors import parse_field_selector, parse_label_selector
from lbc_lab.apiserver.status import ApiError, bad_request
from lbc_lab.apiserver.store import Obj
from lbc_lab.apiserver.watch import WatchSpec, WatchStream

_DEFAULT_WATCH_TIMEOUT = 1800.0


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error_response(error: ApiError) -> web.Response:
    response = json_response(error.status(), error.code)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _warned(response: web.Response, options: WriteOptions) -> web.Response:
    """Add the ``Warning: 299`` headers kubectl prints (e.g. for pruned unknown fields)."""
    for text in dict.fromkeys(options.warnings):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response


class ResourceRoutes:
    """The ``/api/...`` and ``/apis/...`` handlers over one ``Objects`` service."""

    def __init__(
        self,
        objects: Objects,
        faults: Faults,
        *,
        authorizer: Authorizer,
        tokens: dict[str, str],
        bookmark_interval: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.objects = objects
        self.faults = faults
        self.authorizer = authorizer
        self.tokens = tokens
        self.bookmark_interval = bookmark_interval
        self._clock = clock

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except ApiError as error:
            return error_response(error)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        registry = self.objects.registry
        group, version, target = parse_path(registry, request.path)
        if target is None:
            if request.method != "GET":
                raise ApiError(
                    405, "the server does not allow this method on the requested resource"
                )
            doc = discovery.resource_list(registry, group, version)
            if doc is None:
                raise not_served()
            return json_response(doc)
        verb = target.verb(request.method, query_flag(request, "watch"))
        user = user_of(request.headers.get("Authorization", ""), self.tokens)
        attrs = RequestAttributes(
            user,
            verb,
            target.rtype.group,
            target.rtype.plural,
            target.subresource,
            target.namespace or "",
            target.name,
            groups_of(user),
        )
        if not self.authorizer(attrs):
            raise forbidden(attrs)
        delay, failure = self.faults.on_request(verb, target.rtype.plural, target.rtype.group)
        if delay > 0:
            await asyncio.sleep(delay)  # injected latency: the point is to take time
        if failure is not None:
            raise failure
        if verb in admission.OPERATIONS:
            # Registered admission webhooks see the write first (None: none matched).
            admitted = await admission.admitted(
                self.objects, request, target, verb, user=user, groups=groups_of(user)
            )
            if admitted is not None:
                return admitted
        if verb == "watch":
            return await self._watch(request, target)
        if verb == "get":
            return self._get(request, target)
        if verb == "list":
            return self._list(request, target)
        if verb == "delete":
            return await self._delete(request, target)
        if verb == "deletecollection":
            return self._delete_collection(request, target)
        return await self._write(request, target, verb)

    # -- reads -------------------------------------------------------------------------------

    def _present(self, request: web.Request, target: Target, obj: Obj) -> Obj:
        shown = target.rtype.present(obj)
        if wants_table(request):
            return tables.table(
                target.rtype,
                [shown],
                include=request.query.get("includeObject", "Metadata"),
                now=self._clock(),
                metadata={"resourceVersion": shown["metadata"].get("resourceVersion", "")},
            )
        if wants_partial_metadata(request):
            return tables.partial_metadata(shown)
        return shown

    def _get(self, request: web.Request, target: Target) -> web.Response:
        obj = self.objects.get(target.rtype, target.namespace or "", target.name)
        if target.subresource and target.subresource not in target.rtype.subresources:
            raise not_served()
        return json_response(self._present(request, target, obj))

    def _list(self, request: web.Request, target: Target) -> web.Response:
        rtype = target.rtype
        page = self.objects.list(
            rtype,
            target.namespace,
            parse_label_selector(request.query.get("labelSelector")),
            parse_field_selector(request.query.get("fieldSelector"), rtype.field_selectors),
            limit=max(0, query_int(request, "limit", 0)),
            token=request.query.get("continue", ""),
        )
        meta: Obj = {"resourceVersion": str(page.resource_version)}
        if page.continue_token:
            meta["continue"] = page.continue_token
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
        items = [rtype.present(o) for o in page.items]
        if wants_table(request):
            return json_response(
                tables.table(
                    rtype,
                    items,
                    include=request.query.get("includeObject", "Metadata"),
                    now=self._clock(),
                    metadata=meta,
                )
            )
        if wants_partial_metadata(request):
            return json_response(
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                    "items": [tables.partial_metadata(o) for o in items],
                }
            )
        return json_response(
            {
                "kind": rtype.list_kind,
                "apiVersion": rtype.api_version,
                "metadata": meta,
                "items": items,
            }
        )

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        rtype = target.rtype
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"), rtype.field_selectors)
        if target.name:
            fields = parse_field_selector(
                ",".join(
                    filter(
                        None, [request.query.get("fieldSelector"), f"metadata.name={target.name}"]
                    )
                ),
                rtype.field_selectors,
            )
        timeout = float(query_int(request, "timeoutSeconds", 0)) or _DEFAULT_WATCH_TIMEOUT
        spec = WatchSpec(
            rtype=rtype,
            namespace=target.namespace if rtype.namespaced else None,
            labels=labels,
            fields=fields,
            since=resource_version_param(request),
            bookmarks=query_flag(request, "allowWatchBookmarks"),
            timeout=timeout,
            send_initial_events=query_flag(request, "sendInitialEvents"),
            table_include=request.query.get("includeObject", "Metadata")
            if wants_table(request)
            else None,
            metadata_only=wants_partial_metadata(request),
        )
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        stream = WatchStream(self.objects.store, spec, self.bookmark_interval)
        try:
            await stream.run(response.write)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away: its watch is over, nothing to tell anyone
        return response

    # -- writes ------------------------------------------------------------------------------

    def _options(self, request: web.Request) -> WriteOptions:
        dry_run = request.query.get("dryRun", "")
        if dry_run not in ("", "All"):
            raise bad_request(f'Invalid dry run value: "{dry_run}"')
        return WriteOptions(
            dry_run=dry_run == "All",
            field_manager=request.query.get("fieldManager", ""),
            strict=request.query.get("fieldValidation", "") == "Strict",
            force=query_flag(request, "force"),
        )

    async def _write(self, request: web.Request, target: Target, verb: str) -> web.Response:
        rtype = target.rtype
        namespace = target.namespace or ""
        options = self._options(request)
        body = await read_body(request)
        if verb == "create":
            if target.name:
                raise ApiError(
                    405, "the server does not allow this method on the requested resource"
                )
            if rtype.namespaced and target.namespace is None:
                raise not_served()
            created = self.objects.create(rtype, namespace, body, options=options)
            return _warned(json_response(self._present(request, target, created), 201), options)
        if not target.name:
            raise ApiError(405, "the server does not allow this method on the requested resource")
        if verb == "update":
            updated = self.objects.update(
                rtype, namespace, target.name, body, subresource=target.subresource, options=options
            )
            return _warned(json_response(self._present(request, target, updated)), options)
        kind = patch_type(request, rtype)
        existed = self.objects.store.get(rtype.storage, namespace, target.name) is not None
        patched = self.objects.patch(
            rtype,
            namespace,
            target.name,
            patch_type=kind,
            body=body,
            subresource=target.subresource,
            options=options,
        )
        response = json_response(self._present(request, target, patched), 200 if existed else 201)
        return _warned(response, options)

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        rtype = target.rtype
        body = await read_body(request)
        if body is not None and not isinstance(body, dict):
            raise bad_request("DeleteOptions must be an object")
        namespace = target.namespace or ""
        final = self.objects.delete(
            rtype, namespace, target.name, body, dry_run=request.query.get("dryRun") == "All"
        )
        still_there = self.objects.store.get(rtype.storage, namespace, target.name) is not None
        return json_response(self._present(request, target, final), 202 if still_there else 200)

    def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        rtype = target.rtype
        page = self.objects.list(
            rtype,
            target.namespace,
            parse_label_selector(request.query.get("labelSelector")),
            parse_field_selector(request.query.get("fieldSelector"), rtype.field_selectors),
        )
        gone = [
            self.objects.delete(rtype, o["metadata"].get("namespace", ""), o["metadata"]["name"])
            for o in page.items
        ]
        return json_response(
            {
                "kind": rtype.list_kind,
                "apiVersion": rtype.api_version,
                "metadata": {"resourceVersion": str(self.objects.store.rv)},
                "items": [rtype.present(o) for o in gone],
            }
        )
