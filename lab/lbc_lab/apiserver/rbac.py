"""Role-based access control over the stored Roles, ClusterRoles and their bindings.

Evaluated per request, from the store (so a test granting a verb sees it take effect at once),
with the real semantics: rules only add permissions (there is no deny); a ClusterRoleBinding
grants its ClusterRole everywhere; a RoleBinding grants its Role, or a ClusterRole, within its
own namespace; subjects are Users, Groups or ServiceAccounts; a rule matches when its verbs,
apiGroups and resources (``plural`` or ``plural/subresource``, ``*`` wildcards) contain the
request's, and ``resourceNames`` (when given) contains the object's name. ``system:masters``
may do everything. Aggregated ClusterRoles and nonResourceURLs are not evaluated (discovery and
OpenAPI documents are open to every caller).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lbc_lab.apiserver.authz import RequestAttributes
from lbc_lab.apiserver.store import Obj, Store

_GROUP = "rbac.authorization.k8s.io"
ROLES = f"roles.{_GROUP}"
CLUSTER_ROLES = f"clusterroles.{_GROUP}"
ROLE_BINDINGS = f"rolebindings.{_GROUP}"
CLUSTER_ROLE_BINDINGS = f"clusterrolebindings.{_GROUP}"


def _subject_matches(subject: dict[str, Any], attrs: RequestAttributes, binding_ns: str) -> bool:
    kind = subject.get("kind")
    name = subject.get("name", "")
    if kind == "User":
        return bool(name == attrs.user)
    if kind == "Group":
        return name in attrs.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_ns
        return attrs.user == f"system:serviceaccount:{namespace}:{name}"
    return False


def _contains(values: Any, wanted: str) -> bool:
    return isinstance(values, list) and ("*" in values or wanted in values)


def rule_allows(rule: dict[str, Any], attrs: RequestAttributes) -> bool:
    if not _contains(rule.get("verbs"), attrs.verb):
        return False
    if not _contains(rule.get("apiGroups"), attrs.group):
        return False
    resources = rule.get("resources")
    if not isinstance(resources, list):
        return False
    if attrs.subresource:
        wanted = f"{attrs.resource}/{attrs.subresource}"
        if not ({wanted, "*", f"*/{attrs.subresource}"} & set(resources)):
            return False
    elif not ({attrs.resource, "*"} & set(resources)):
        return False
    names = rule.get("resourceNames")
    return not names or attrs.name in names


class RbacAuthorizer:
    """An ``Authorizer`` reading RBAC objects from the lab's store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def _rules(self, attrs: RequestAttributes) -> Iterator[dict[str, Any]]:
        for binding in self._store.iter_objects(CLUSTER_ROLE_BINDINGS, None):
            yield from self._granted(binding, attrs, "", cluster=True)
        if attrs.namespace:
            for binding in self._store.iter_objects(ROLE_BINDINGS, attrs.namespace):
                yield from self._granted(binding, attrs, attrs.namespace, cluster=False)

    def _granted(
        self, binding: Obj, attrs: RequestAttributes, namespace: str, *, cluster: bool
    ) -> Iterator[dict[str, Any]]:
        if not any(_subject_matches(s, attrs, namespace) for s in binding.get("subjects") or []):
            return
        ref = binding.get("roleRef") or {}
        if ref.get("kind") == "ClusterRole":
            role = self._store.get(CLUSTER_ROLES, "", ref.get("name", ""))
        elif ref.get("kind") == "Role" and not cluster:
            role = self._store.get(ROLES, namespace, ref.get("name", ""))
        else:
            role = None
        if role is not None:
            yield from role.get("rules") or []

    def __call__(self, attrs: RequestAttributes) -> bool:
        if "system:masters" in attrs.groups:
            return True
        return any(rule_allows(rule, attrs) for rule in self._rules(attrs))
