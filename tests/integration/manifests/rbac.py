"""Kubernetes RBAC evaluation of the rendered manifests, as a lab API server authorizer.

The lab API server asks an ``Authorizer`` about every resource request (it allows everything by
default). :class:`RbacAuthorizer` answers the way the real RBAC authorizer does for the rules
lbc ships: a request is allowed when some rule of a role bound to the requesting user matches
its verb, API group, resource (``pods/status`` for a subresource) and, when the rule lists
``resourceNames``, its object name. A RoleBinding grants only inside its own namespace; a
ClusterRoleBinding grants everywhere. Only the subjects lbc uses are understood
(ServiceAccount and User); the lab's administrator is always allowed, so tests can set up
fixtures without granting the controller anything.

Every decision is recorded, so a test can show both halves of "exactly what the daemon uses":
no request was denied, and which granted rules were never exercised.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from lbc.lab.apiserver.authz import ADMIN_USER, RequestAttributes

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
        resource = _resource_of(attrs)
        return (
            ("*" in self.verbs or attrs.verb in self.verbs)
            and ("*" in self.api_groups or attrs.group in self.api_groups)
            and ("*" in self.resources or resource in self.resources)
            and (not self.resource_names or attrs.name in self.resource_names)
        )


@dataclass(frozen=True, slots=True)
class Grant:
    """The rules one binding gives one user, in one namespace (``None``: everywhere)."""

    user: str
    namespace: str | None
    role: str
    rules: tuple[Rule, ...]


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
                raise ValueError(f"subject kind {subject['kind']} is not understood here")
            result.append(Grant(user, scope, f"{ref['kind']}/{ref['name']}", rules))
    return result


@dataclass
class RbacAuthorizer:
    """An ``Authorizer`` for the lab API server enforcing ``grants``, recording each decision."""

    grants: list[Grant]
    decisions: list[tuple[RequestAttributes, bool]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def matching(self, attrs: RequestAttributes) -> list[tuple[Grant, Rule]]:
        return [
            (grant, rule)
            for grant in self.grants
            if grant.user == attrs.user
            and (grant.namespace is None or grant.namespace == attrs.namespace)
            for rule in grant.rules
            if rule.matches(attrs)
        ]

    def __call__(self, attrs: RequestAttributes) -> bool:
        if attrs.user == ADMIN_USER:
            return True
        allowed = bool(self.matching(attrs))
        with self._lock:
            self.decisions.append((attrs, allowed))
        return allowed

    def denied(self) -> list[RequestAttributes]:
        return [attrs for attrs, allowed in self.decisions if not allowed]

    def unused(self) -> set[tuple[str, str, str]]:
        """(role, resource, verb) granted but never exercised by an allowed request."""
        used = {
            (grant.role, _resource_of(attrs), attrs.verb)
            for attrs, allowed in self.decisions
            if allowed
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


def _resource_of(attrs: RequestAttributes) -> str:
    return attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
