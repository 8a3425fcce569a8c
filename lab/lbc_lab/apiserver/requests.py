"""Parsing a resource request: URL path to (resource type, namespace, name, subresource), the
Kubernetes verb, and the request body in whatever encoding the client chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from aiohttp import web

from lbc_lab.apiserver import protobuf
from lbc_lab.apiserver.resources import Registry, ResourceType
from lbc_lab.apiserver.status import ApiError, bad_request

PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
TRUE = frozenset({"true", "1", "True", "TRUE"})


def not_served() -> ApiError:
    return ApiError(404, "the server could not find the requested resource")


@dataclass(frozen=True, slots=True)
class Target:
    """What a resource request is about."""

    rtype: ResourceType
    namespace: str | None
    name: str
    subresource: str
    #: The legacy ``/watch/`` path prefix was used.
    watch_path: bool

    def verb(self, method: str, query_watch: bool) -> str:
        if method == "GET":
            if self.name:
                return "watch" if (query_watch or self.watch_path) else "get"
            return "watch" if (query_watch or self.watch_path) else "list"
        if method == "POST":
            return "create"
        if method == "PUT":
            return "update"
        if method == "PATCH":
            return "patch"
        if method == "DELETE":
            return "delete" if self.name else "deletecollection"
        raise ApiError(405, "the server does not allow this method on the requested resource")


def parse_path(registry: Registry, path: str) -> tuple[str, str, Target | None]:
    """(group, version, target); target is None for the group-version discovery document."""
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "api" and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts and parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise not_served()
    if not rest:
        return group, version, None
    watch_path = rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        candidate = registry.lookup(group, version, rest[2])
        if candidate is not None and candidate.namespaced:
            namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise not_served()
    rtype = registry.lookup(group, version, rest[0])
    if rtype is None:
        raise not_served()
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if namespace is not None and not rtype.namespaced:
        raise not_served()
    if rtype.namespaced and name and namespace is None:
        raise not_served()
    return group, version, Target(rtype, namespace, name, sub, watch_path)


async def read_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    ctype = request.content_type
    if ctype == protobuf.MEDIA_TYPE:
        return protobuf.decode(raw)
    if ctype.endswith("yaml"):
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise bad_request(f"error decoding YAML: {exc}") from exc
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json, application/yaml ({exc})"
        ) from exc


def patch_type(request: web.Request, rtype: ResourceType) -> str:
    kind = PATCH_TYPES.get(request.content_type)
    if kind is None or (kind == "strategic" and rtype.custom):
        accepted = [t for t, k in PATCH_TYPES.items() if not (k == "strategic" and rtype.custom)]
        raise ApiError(
            415,
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(accepted)}",
        )
    return kind


def query_flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "") in TRUE


def query_int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise bad_request(f"invalid {name}: {raw!r}") from exc


def resource_version_param(request: web.Request) -> int | None:
    """``resourceVersion`` as a watch start point: None for unset or "0" (start from state)."""
    raw = request.query.get("resourceVersion", "")
    if raw in ("", "0"):
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise bad_request(f'invalid resourceVersion: "{raw}"') from exc


def wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def wants_partial_metadata(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "as=PartialObjectMetadata" in accept and not wants_table(request)
