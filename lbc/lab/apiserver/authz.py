"""The authorization hook: who is asking (bearer token) and may they do it.

The lab allows everything by default. A later issue enforces Role/ClusterRole rules; it plugs
in here by supplying an ``Authorizer`` and a token-to-user map, without touching the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lbc.lab.apiserver.status import ApiError, Qualified

ADMIN_TOKEN = "lbc-lab-admin"  # noqa: S105 - a fixed lab credential on 127.0.0.1, not a secret
ADMIN_USER = "lab-admin"


@dataclass(frozen=True, slots=True)
class RequestAttributes:
    """The authorizer's view of a request (Kubernetes' ``authorizer.Attributes``)."""

    user: str
    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str


class Authorizer(Protocol):
    def __call__(self, attrs: RequestAttributes) -> bool: ...


def allow_all(attrs: RequestAttributes) -> bool:
    return True


def forbidden(attrs: RequestAttributes) -> ApiError:
    """403 with the real server's message."""
    resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    subject = f'{attrs.resource} "{attrs.name}"' if attrs.name else attrs.resource
    where = f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    return ApiError(
        403,
        f'{subject} is forbidden: User "{attrs.user}" cannot {attrs.verb} resource '
        f'"{resource}" in API group "{attrs.group}"{where}',
        about=Qualified(attrs.name, attrs.group, attrs.resource),
    )


def user_of(authorization: str, tokens: dict[str, str]) -> str:
    """The user a bearer token identifies; ``system:anonymous`` without a known token."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip() in tokens:
        return tokens[token.strip()]
    return "system:anonymous"
