"""OpenAPI v3 documents, as much of them as kubectl reads.

What kubectl (1.32) needs, measured with ``kubectl -v=8``:

- ``apply``/``create``/``replace`` validate by asking the server to (``fieldValidation=Strict``)
  only if the group-version's document has a PATCH operation for the kind that declares a
  ``fieldValidation`` query parameter; otherwise they try client-side validation against
  ``/openapi/v2`` and fail when it is missing. Custom kinds are checked against the Namespace
  PATCH operation of ``api/v1``.
- client-side ``apply`` computes a strategic merge patch only when the PATCH operation accepts
  ``application/strategic-merge-patch+json``; custom resources do not (as on a real server), so
  kubectl sends a JSON merge patch for them.

Each document therefore lists, for every resource, its collection and item paths with
``x-kubernetes-group-version-kind`` and ``x-kubernetes-action`` on the operations, the real
query parameters, and the object schema in ``components.schemas`` (the CRD's openAPIV3Schema
for custom resources; an open object for built-ins). ``/openapi/v2`` is not served (404).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from aiohttp import web

from lbc_lab.apiserver.resources import Registry, ResourceType

Obj = dict[str, Any]

_PATCH_CONTENT = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)


def _param(name: str) -> Obj:
    return {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}


def _schema_name(rtype: ResourceType) -> str:
    group = ".".join(reversed(rtype.group.split("."))) if rtype.group else "io.k8s.api.core"
    return f"{group}.{rtype.version}.{rtype.kind}"


def _op(rtype: ResourceType, action: str, params: tuple[str, ...], ref: str) -> Obj:
    op: Obj = {
        "operationId": f"{action}{rtype.kind}",
        "parameters": [_param(p) for p in params],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}}
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rtype.group,
            "version": rtype.version,
            "kind": rtype.kind,
        },
    }
    if action in ("put", "post", "patch"):
        types = ("application/json",) if action != "patch" else _PATCH_CONTENT
        op["requestBody"] = {"content": {t: {"schema": {"$ref": ref}} for t in types}}
    return op


def _paths(rtype: ResourceType) -> dict[str, Obj]:
    prefix = f"/apis/{rtype.group}/{rtype.version}" if rtype.group else "/api/v1"
    scope = "/namespaces/{namespace}" if rtype.namespaced else ""
    collection = f"{prefix}{scope}/{rtype.plural}"
    ref = f"#/components/schemas/{_schema_name(rtype)}"
    writes = ("dryRun", "fieldManager", "fieldValidation", "pretty")
    reads = (
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "resourceVersion",
        "watch",
        "allowWatchBookmarks",
        "timeoutSeconds",
        "sendInitialEvents",
    )
    item_ops = {
        "get": _op(rtype, "get", ("pretty",), ref),
        "put": _op(rtype, "put", writes, ref),
        "patch": _op(rtype, "patch", (*writes, "force"), ref),
        "delete": _op(rtype, "delete", ("dryRun", "gracePeriodSeconds", "propagationPolicy"), ref),
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
    }
    out: dict[str, Obj] = {
        collection: {
            "get": _op(rtype, "list", reads, ref),
            "post": _op(rtype, "post", writes, ref),
            "delete": _op(rtype, "deletecollection", reads, ref),
        },
        collection + "/{name}": item_ops,
    }
    for sub in sorted(rtype.subresources):
        out[f"{collection}/{{name}}/{sub}"] = {
            "get": _op(rtype, "get", ("pretty",), ref),
            "put": _op(rtype, "put", writes, ref),
            "patch": _op(rtype, "patch", (*writes, "force"), ref),
        }
    return out


def _object_schema(rtype: ResourceType) -> Obj:
    base: Obj = dict(rtype.schema) if rtype.schema else {"type": "object"}
    if not rtype.schema:
        base["x-kubernetes-preserve-unknown-fields"] = True
    base["x-kubernetes-group-version-kind"] = [
        {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
    ]
    return base


def group_version_document(registry: Registry, group: str, version: str) -> Obj | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    paths: dict[str, Obj] = {}
    schemas: dict[str, Obj] = {}
    for rtype in types:
        paths.update(_paths(rtype))
        schemas[_schema_name(rtype)] = _object_schema(rtype)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-lbc-lab"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def root_document(registry: Registry) -> Obj:
    paths: dict[str, Obj] = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            doc = group_version_document(registry, group, version)
            digest = hashlib.sha256(orjson.dumps(doc)).hexdigest()[:32].upper()
            key = _key(group, version)
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def add_routes(app: web.Application, registry: Registry) -> None:
    async def root(request: web.Request) -> web.Response:
        return web.Response(
            body=orjson.dumps(root_document(registry)), content_type="application/json"
        )

    async def group_version(request: web.Request) -> web.Response:
        parts = request.match_info["path"].strip("/").split("/")
        doc = None
        if len(parts) == 2 and parts[0] == "api":
            doc = group_version_document(registry, "", parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            doc = group_version_document(registry, parts[1], parts[2])
        if doc is None:
            raise web.HTTPNotFound(text="404 page not found")
        return web.Response(body=orjson.dumps(doc), content_type="application/json")

    app.router.add_get("/openapi/v3", root)
    app.router.add_get("/openapi/v3/{path:.*}", group_version)
