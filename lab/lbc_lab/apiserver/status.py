"""API errors as the real API server reports them: ``Status`` bodies with reason and causes.

Clients branch on ``code`` and ``reason`` (kubernetes_asyncio raises ``ApiException`` with the
status; client-go's ``IsConflict``/``IsInvalid`` read ``reason``), and humans read ``message``.
The lab therefore reproduces the real server's wording where it is known, so a test asserting
on an error exercises the same branch it would against a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True, slots=True)
class Cause:
    """One field-level reason of a 422 (``details.causes[]``)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def render(self) -> str:
        """The ``field: message`` line the real server joins into the Status message."""
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True, slots=True)
class Qualified:
    """What an error is about: ``details.{name,group,kind}``."""

    name: str = ""
    group: str = ""
    kind: str = ""


class ApiError(Exception):
    """A request the lab refuses; carries the complete ``Status`` the response will hold."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        about: Qualified | None = None,
        causes: tuple[Cause, ...] = (),
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason or REASONS.get(code, "Unknown")
        self.about = about
        self.causes = causes
        self.retry_after = retry_after

    def status(self) -> dict[str, Any]:
        return status_body(
            self.code,
            str(self),
            self.reason,
            about=self.about,
            causes=self.causes,
            retry_after=self.retry_after,
        )


def status_body(
    code: int,
    message: str,
    reason: str,
    *,
    about: Qualified | None = None,
    causes: tuple[Cause, ...] = (),
    retry_after: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    details: dict[str, Any] = {}
    if about is not None:
        if about.name:
            details["name"] = about.name
        if about.group:
            details["group"] = about.group
        if about.kind:
            details["kind"] = about.kind
    if causes:
        details["causes"] = [
            {"reason": c.reason, "message": c.message, "field": c.field} for c in causes
        ]
    if retry_after is not None:
        details["retryAfterSeconds"] = retry_after
    if details:
        body["details"] = details
    return body


def success_body(about: Qualified, uid: str = "") -> dict[str, Any]:
    """The Status some deletes answer with (deletecollection, or objects already gone)."""
    details: dict[str, Any] = {"name": about.name, "kind": about.kind}
    if about.group:
        details["group"] = about.group
    if uid:
        details["uid"] = uid
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def qualified_resource(plural: str, group: str) -> str:
    """``configmaps`` or ``widgets.example.com``, as messages name resources."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        f'{qualified_resource(plural, group)} "{name}" not found',
        about=Qualified(name, group, plural),
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'{qualified_resource(plural, group)} "{name}" already exists',
        reason="AlreadyExists",
        about=Qualified(name, group, plural),
    )


def conflict(plural: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified_resource(plural, group)} "{name}": {why}',
        about=Qualified(name, group, plural),
    )


STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def invalid(kind: str, group: str, name: str, causes: tuple[Cause, ...]) -> ApiError:
    """422 Invalid: the real message is ``Kind.group "name" is invalid: <causes>``."""
    qualified_kind = f"{kind}.{group}" if group else kind
    rendered = [c.render() for c in causes]
    joined = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    return ApiError(
        422,
        f'{qualified_kind} "{name}" is invalid: {joined}',
        about=Qualified(name, group, kind),
        causes=causes,
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def go_value(value: Any) -> str:
    """A value as the Go validators print it inside ``Invalid value: ...``."""
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return str(value)


@dataclass(slots=True)
class CauseList:
    """Collects causes while validating; raises one 422 at the end if any."""

    items: list[Cause] = field(default_factory=list)

    def add(self, path: str, message: str, reason: str = "FieldValueInvalid") -> None:
        self.items.append(Cause(path, message, reason))

    def required(self, path: str) -> None:
        self.add(path, "Required value", "FieldValueRequired")

    def bad_value(self, path: str, value: Any, detail: str) -> None:
        self.add(path, f"Invalid value: {go_value(value)}: {detail}")

    def raise_if_any(self, kind: str, group: str, name: str) -> None:
        if self.items:
            raise invalid(kind, group, name, tuple(self.items))
