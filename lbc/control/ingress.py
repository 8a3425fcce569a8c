"""The Ingress-group reconciler: one key per group (a :class:`~lbc.core.stack.model.StackId`).

One pass, in LBC's order (reference §2.6 "Status/finalizer flow"):

1. load the group from the caches (claiming, membership, order: ``core.stack.ingress_groups``);
2. observe the stack's AWS resources by tags and build the desired stack
   (``core.stack.ingress``); a *hands-off* outcome stops here with no write of any kind (no AWS
   call, no finalizer, no binding) and one Warning naming the keys, repeated only when the keys
   change; a build error is a ``FailedBuildModel`` Warning;
3. add the group finalizer to every active member;
4. when the group has no active members left and its target groups still hold targets no ledger
   of this cluster accounts for (other clusters' targets in a MultiCluster group), *retain* the
   stack: delete this cluster's bindings (their targets are deregistered by the binding
   controller), keep the load balancer, listeners, rules and target groups as they are, tagged,
   and say so (``SharedStackRetained``). ``lbc.k8s.aws/delete-shared-stack: "true"`` on a
   deleting member consents to delete anyway;
5. deploy (``lbc.control.stackdeploy``), then patch ``status.loadBalancer`` of every active
   member when it differs, remove the finalizer from inactive members, and report
   ``SuccessfullyReconciled``.

Steps 2 to 5 are the flow the Service reconciler shares (``lbc.control.stack_reconcile``).
Every Kubernetes write goes to objects the group's caches hold; every AWS write goes through
the deployer. A failure raises: the worker retries with backoff, the finalizer stays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lbc.control.stack_reconcile import ObjectKind, StackObject, StackReconcile
from lbc.control.worker import Result
from lbc.core.stack.ingress import IngressInputs, build_ingress_stack
from lbc.core.stack.ingress_groups import IngressCatalog, IngressGroup, load_group
from lbc.core.stack.inputs import IngressView, ServiceView
from lbc.core.stack.model import INGRESS_PREFIX, BuildError, StackId
from lbc.kube.client import INGRESSES
from lbc.kube.events import ObjectRef

# LBC reports every ALB listener's port as TCP in an Ingress's status.
INGRESS_KIND = ObjectKind(
    INGRESSES,
    INGRESS_PREFIX,
    guard="uid",
    gone_ok=False,
    clears_status=False,
    port_protocol=lambda _li: "TCP",
)


def ingress_ref(view: IngressView) -> ObjectRef:
    return ObjectRef("networking.k8s.io/v1", "Ingress", view.namespace, view.name, view.uid)


class IngressReconciler:
    """Reconciles one Ingress group per call (see the module docstring)."""

    def __init__(
        self,
        flow: StackReconcile,
        *,
        ingresses: Any,
        services: Any,
        catalog: Any,
        status_of: Any,
    ) -> None:
        """``flow`` is on :data:`INGRESS_KIND`. ``ingresses``, ``services``, ``catalog`` and
        ``status_of`` read the informers' caches at call time (all Ingress views, all Service
        views, the IngressCatalog, and an Ingress's current ``status.loadBalancer.ingress`` by
        ``ns/name``)."""
        self._flow = flow
        self._ingresses = ingresses
        self._services = services
        self._catalog = catalog
        self._status_of = status_of

    async def reconcile(self, group_id: StackId) -> Result | None:
        ingresses: list[IngressView] = self._ingresses()
        catalog: IngressCatalog = self._catalog()
        config = self._flow.config
        loaded = load_group(group_id, ingresses, catalog, config.ingress_class)
        involved = [ingress_ref(i) for i in ingresses if _involved(i, group_id, loaded)]
        if isinstance(loaded, BuildError):
            await self._flow.fail(involved, loaded)
        observed, subnets, existing = await self._flow.observe(group_id.value)
        outcome = build_ingress_stack(
            IngressInputs(
                group=loaded,
                config=config,
                services=tuple(self._services_of(loaded)),
                subnets=subnets,
                existing=existing,
            )
        )
        built = await self._flow.built(group_id, group_id.value, outcome, involved)
        if built is not None:
            await self._flow.deploy(
                built,
                observed,
                [self._object(m.ingress) for m in loaded.members],
                [self._object(i) for i in loaded.inactive],
            )
        return None

    def _services_of(self, group: IngressGroup) -> Iterable[ServiceView]:
        namespaces = {m.ingress.namespace for m in group.members}
        services: list[ServiceView] = self._services()
        return (s for s in services if s.namespace in namespaces)

    def _object(self, view: IngressView) -> StackObject:
        return StackObject(
            ingress_ref(view), view.finalizers, view.annotations, self._status_of(view.key)
        )


def _involved(ingress: IngressView, group: StackId, loaded: IngressGroup | BuildError) -> bool:
    if isinstance(loaded, IngressGroup):
        keys = {m.ingress.key for m in loaded.members} | {i.key for i in loaded.inactive}
        return ingress.key in keys
    return group.explicit is False and ingress.key == group.value
