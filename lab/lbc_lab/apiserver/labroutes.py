"""``/_lab/...``: control of a lab API server running in another process (JSON over HTTP).

- ``POST /_lab/faults/close-watches``: end every open watch stream.
- ``POST /_lab/faults/expire-history``: forget the event history (watches resume with 410).
- ``POST /_lab/faults/fail`` ``{"verb": "list", "resource": "pods", "code": 500, "count": 2,
  "message": "..."}``: fail the next ``count`` matching requests.
- ``POST /_lab/faults/latency`` ``{"seconds": 0.2, "verb": "*", "resource": "*"}``.
- ``DELETE /_lab/faults``: clear failures and latency.
- ``GET /_lab/faults``: the current plan and the request counts by verb and resource.
- ``POST /_lab/reset``: drop every object and CRD, recreate the default namespaces.
- ``POST /_lab/users`` ``{"user": "system:serviceaccount:lbc-system:lbc"}``: a bearer token
  for that user, ``{"token": "..."}`` (for servers started with ``--rbac``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from lbc_lab.apiserver.faults import Faults


async def _json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


def add_lab_routes(
    app: web.Application,
    faults: Faults,
    reset: Callable[[], None],
    token_for: Callable[[str], str],
) -> None:
    def ok() -> web.Response:
        return web.json_response({"ok": True})

    async def close_watches(request: web.Request) -> web.Response:
        faults.close_watches()
        return ok()

    async def expire_history(request: web.Request) -> web.Response:
        faults.expire_history()
        return ok()

    async def fail(request: web.Request) -> web.Response:
        body = await _json(request)
        try:
            faults.fail(
                str(body.get("verb", "*")),
                str(body.get("resource", "*")),
                code=int(body.get("code", 500)),
                count=int(body.get("count", 1)),
                message=str(body.get("message", "")),
            )
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from exc
        return ok()

    async def latency(request: web.Request) -> web.Response:
        body = await _json(request)
        try:
            faults.add_latency(
                float(body["seconds"]), str(body.get("verb", "*")), str(body.get("resource", "*"))
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=f"bad latency rule: {exc}") from exc
        return ok()

    async def clear(request: web.Request) -> web.Response:
        faults.clear()
        return ok()

    async def show(request: web.Request) -> web.Response:
        return web.json_response(faults.snapshot())

    async def do_reset(request: web.Request) -> web.Response:
        reset()
        return ok()

    app.router.add_post("/_lab/faults/close-watches", close_watches)
    app.router.add_post("/_lab/faults/expire-history", expire_history)
    app.router.add_post("/_lab/faults/fail", fail)
    app.router.add_post("/_lab/faults/latency", latency)
    app.router.add_delete("/_lab/faults", clear)
    app.router.add_get("/_lab/faults", show)

    async def user(request: web.Request) -> web.Response:
        body = await _json(request)
        name = body.get("user")
        if not isinstance(name, str) or not name:
            raise web.HTTPBadRequest(text='expected {"user": "<name>"}')
        return web.json_response({"token": token_for(name)})

    app.router.add_post("/_lab/reset", do_reset)
    app.router.add_post("/_lab/users", user)
