"""The rendered RBAC rules as data, and a recorder of the lab API server's decisions.

The lab API server enforces RBAC itself (``lbc_lab.apiserver.rbac``) over the Roles and bindings
stored in it; the tests apply the rendered manifests there and let it answer 403. What the lab
cannot say is *which* shipped rule allowed a request. :class:`RenderedRules` models the rules of
the manifests (same semantics: verbs, API groups, ``plural/subresource`` resources,
``resourceNames``; a RoleBinding grants within its namespace, a ClusterRoleBinding everywhere),
so a test can show both halves of "exactly what the daemon uses": the lab denied nothing, and
every shipped rule allowed at least one request. :class:`Recorder` wraps the lab's authorizer
and keeps every decision; the model is checked against the lab's answers, request by request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from lbc_lab.apiserver.authz import ADMIN_USER, Authorizer, RequestAttributes
from tests.integration.manifests.layout import Obj


@dataclass(frozen=True, slots=True)
class Rule:
    api_groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    resource_names: frozenset[str]

    @classmethod
    def parse(cls, raw: Obj) -> Rule:
        return cls(
            frozenset(raw.get("apiGroups", ())),
            frozenset(raw.get("resources", ())),
            frozenset(raw.get("verbs", ())),
            frozenset(raw.get("resourceNames", ())),
        )

    def matches(self, attrs: RequestAttributes) -> bool:
        return (
            ("*" in self.verbs or attrs.verb in self.verbs)
            and ("*" in self.api_groups or attrs.group in self.api_groups)
            and ("*" in self.resources or resource_of(attrs) in self.resources)
            and (not self.resource_names or attrs.name in self.resource_names)
        )


@dataclass(frozen=True, slots=True)
class Grant:
    """The rules one binding gives one user, in one namespace (``None``: everywhere)."""

    user: str
    namespace: str | None
    role: str
    rules: tuple[Rule, ...]


def resource_of(attrs: RequestAttributes) -> str:
    return attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def grants(objects: list[Obj]) -> list[Grant]:
    """The grants of every (Cluster)RoleBinding in ``objects`` to ServiceAccount/User subjects."""
    roles = {
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): tuple(
            Rule.parse(r) for r in o.get("rules", ())
        )
        for o in objects
        if o["kind"] in {"Role", "ClusterRole"}
    }
    result: list[Grant] = []
    for binding in objects:
        if binding["kind"] not in {"RoleBinding", "ClusterRoleBinding"}:
            continue
        scope = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        ref = binding["roleRef"]
        role_ns = scope if ref["kind"] == "Role" else None
        rules = roles[(ref["kind"], role_ns, ref["name"])]
        for subject in binding.get("subjects", ()):
            if subject["kind"] == "ServiceAccount":
                user = service_account_user(subject["namespace"], subject["name"])
            elif subject["kind"] == "User":
                user = subject["name"]
            else:
                raise ValueError(f"subject kind {subject['kind']} is not modelled here")
            result.append(Grant(user, scope, f"{ref['kind']}/{ref['name']}", rules))
    return result


@dataclass(frozen=True)
class RenderedRules:
    """The shipped grants, evaluated without a server."""

    grants: list[Grant]

    def matching(self, attrs: RequestAttributes) -> list[tuple[Grant, Rule]]:
        return [
            (grant, rule)
            for grant in self.grants
            if grant.user == attrs.user
            and (grant.namespace is None or grant.namespace == attrs.namespace)
            for rule in grant.rules
            if rule.matches(attrs)
        ]

    def allows(self, attrs: RequestAttributes) -> bool:
        return bool(self.matching(attrs))

    def unused(self, allowed: list[RequestAttributes]) -> set[tuple[str, str, str]]:
        """(role, resource, verb) granted but exercised by none of the ``allowed`` requests."""
        used = {
            (grant.role, resource_of(attrs), attrs.verb)
            for attrs in allowed
            for grant, _rule in self.matching(attrs)
        }
        return {
            (grant.role, resource, verb)
            for grant in self.grants
            for rule in grant.rules
            for resource in rule.resources
            for verb in rule.verbs
            if (grant.role, resource, verb) not in used
        }


@dataclass
class Recorder:
    """An ``Authorizer`` that asks ``inner`` and keeps every decision about non-admin users.

    ``inner`` is set once the server exists (the lab's RBAC authorizer reads the server's store).
    """

    inner: Authorizer | None = None
    decisions: list[tuple[RequestAttributes, bool]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, attrs: RequestAttributes) -> bool:
        if self.inner is None:
            raise RuntimeError("the recorder has no authorizer to ask yet")
        allowed = self.inner(attrs)
        if attrs.user != ADMIN_USER:
            with self._lock:
                self.decisions.append((attrs, allowed))
        return allowed

    def denied(self) -> list[RequestAttributes]:
        return [attrs for attrs, allowed in self.decisions if not allowed]

    def allowed(self) -> list[RequestAttributes]:
        return [attrs for attrs, allowed in self.decisions if allowed]
