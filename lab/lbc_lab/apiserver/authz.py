"""The authorization hook: who is asking (bearer token) and may they do it.

The lab allows everything by default; ``rbac.RbacAuthorizer`` enforces Role/ClusterRole rules
when a server is started with ``rbac=True``. Users come from bearer tokens (a token-to-user
map); groups follow from the user name as the real authenticators assign them: every known
user is in ``system:authenticated``, service accounts
(``system:serviceaccount:<ns>:<name>``) are also in ``system:serviceaccounts`` and
``system:serviceaccounts:<ns>``, and the lab's admin is in ``system:masters``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lbc_lab.apiserver.status import ApiError, Qualified

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
    groups: tuple[str, ...] = ()


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


def groups_of(user: str) -> tuple[str, ...]:
    if user == "system:anonymous":
        return ("system:unauthenticated",)
    groups = ["system:authenticated"]
    if user == ADMIN_USER:
        groups.append("system:masters")
    parts = user.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        groups += ["system:serviceaccounts", f"system:serviceaccounts:{parts[2]}"]
    return tuple(groups)
