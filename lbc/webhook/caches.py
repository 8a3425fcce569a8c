"""What the webhooks read of the cluster: the controller's informer caches, through indexes.

The webhooks run on every replica (the API server load-balances admission across the
Service's endpoints) and answer within the configuration's ``timeoutSeconds``, so they never
list anything from the API server: the informers that feed the reconciler are warm on standbys
too, and two indexes are added to the binding store for the webhooks:

- ``webhook-arn``: bindings by ``spec.targetGroupARN`` (the duplicate-ARN rule looks at the
  bindings sharing one ARN, never at every binding of the cluster);
- ``webhook-namespace``: bindings by namespace (the pod readiness-gate injector).

A cache may lag the API server by one watch event: two bindings on one ARN created within
milliseconds of each other can both pass. kube-apiserver gives no stronger guarantee for
cache-based admission either; the reconciler's ledger-guarded deregistration is what keeps a
MultiCluster group safe regardless.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol, final

from lbc.aws.elbv2 import TargetGroupInfo
from lbc.aws.roles import Role
from lbc.control.entry import BindingEntry
from lbc.core.binding import Binding, TargetType
from lbc.core.objects import ServiceView
from lbc.kube.informer import Store

ARN_INDEX: Final = "webhook-arn"
NAMESPACE_INDEX: Final = "webhook-namespace"


class GroupLookup(Protocol):
    """The ELBv2 reads the webhooks need (``lbc.aws.elbv2.TargetGroups`` satisfies it)."""

    async def describe_target_group(self, arn: str) -> TargetGroupInfo: ...

    async def describe_target_group_by_name(self, name: str) -> TargetGroupInfo: ...

    def as_role(self, role: Role | None) -> GroupLookup:
        """The same reads made with ``role``'s credentials (a binding naming a role)."""
        ...


def arn_index(entry: BindingEntry) -> Iterable[str]:
    if entry.binding is None or not entry.binding.spec.target_group_arn:
        return ()
    return (entry.binding.spec.target_group_arn,)


def namespace_index(entry: BindingEntry) -> Iterable[str]:
    return (entry.namespace,)


@final
class ClusterCaches:
    """Read-only questions about bindings and Services, answered from informer stores."""

    def __init__(self, bindings: Store[BindingEntry], services: Store[ServiceView]) -> None:
        self._bindings = bindings
        self._services = services
        for name, fn in ((ARN_INDEX, arn_index), (NAMESPACE_INDEX, namespace_index)):
            bindings.add_indexer(name, fn)

    def bindings_with_arn(self, arn: str) -> list[BindingEntry]:
        return self._bindings.by_index(ARN_INDEX, arn)

    def ip_bindings_in(self, namespace: str) -> list[Binding]:
        """Parsed, not deleting, ``ip`` bindings of ``namespace``, sorted by name."""
        found = [
            e.binding
            for e in self._bindings.by_index(NAMESPACE_INDEX, namespace)
            if e.binding is not None
            and not e.deleting
            and e.binding.spec.target_type is TargetType.IP
        ]
        return sorted(found, key=lambda b: b.name)

    def service(self, namespace: str, name: str) -> ServiceView | None:
        return self._services.get(f"{namespace}/{name}")
