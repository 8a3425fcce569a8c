"""A client for ``/_lab``: control of a lab API server running in another process."""

from __future__ import annotations

from typing import Any

import aiohttp

_TIMEOUT = aiohttp.ClientTimeout(total=10)


class LabApiControl:
    """Async methods mirroring ``Faults`` (and ``reset``) of a remote lab API server."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            session.request(method, f"{self.url}/_lab{path}", json=body) as response,
        ):
            response.raise_for_status()
            return await response.json()

    async def close_watches(self) -> None:
        await self._call("POST", "/faults/close-watches")

    async def expire_history(self) -> None:
        await self._call("POST", "/faults/expire-history")

    async def fail(
        self, verb: str = "*", resource: str = "*", *, code: int = 500, count: int = 1
    ) -> None:
        body = {"verb": verb, "resource": resource, "code": code, "count": count}
        await self._call("POST", "/faults/fail", body)

    async def add_latency(self, seconds: float, verb: str = "*", resource: str = "*") -> None:
        await self._call(
            "POST", "/faults/latency", {"seconds": seconds, "verb": verb, "resource": resource}
        )

    async def clear(self) -> None:
        await self._call("DELETE", "/faults")

    async def snapshot(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/faults")
        return result

    async def token_for(self, user: str) -> str:
        """A bearer token for ``user`` (kubeconfigs for RBAC-enforcing servers)."""
        result = await self._call("POST", "/users", {"user": user})
        return str(result["token"])

    async def reset(self) -> None:
        await self._call("POST", "/reset")
